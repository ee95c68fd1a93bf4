"""Validate rendered YAML against the config models, reporting FILE:LINE:COL: key."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from . import _yaml
from .errors import ConfigError, Problem
from .models import Config
from .render import MARKER_PREFIX, Rendered, redact

__all__ = ["validate", "problems_from"]


def problems_from(
    err: ValidationError, positions: _yaml.Positions, secrets: Iterable[str] = ()
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, placed with ``positions``.

    The path is pydantic's location joined with dots; the message is pydantic's,
    without the input value, which may be a secret.
    """
    secrets = list(secrets)
    problems = []
    for error in err.errors(include_url=False, include_input=False, include_context=False):
        loc = error["loc"]
        line, col = positions.line_col(loc)
        path = ".".join(str(part) for part in loc) or "(root)"
        problems.append(Problem(positions.file, line, col, path, redact(error["msg"], secrets)))
    # File order reads better than model field order; sorted() keeps ties stable.
    return sorted(problems, key=lambda p: (p.line, p.col))


def validate(rendered: Rendered) -> Config:
    """Parse rendered YAML and validate it as a :class:`Config`.

    Secret markers are replaced by their values inside every string first.
    Relative paths are anchored at the config file's folder. Raises
    :class:`ConfigError` listing every problem, each at the line and column of
    its key (a missing key at its parent; the root at 1:1).
    """
    file = str(rendered.file)
    markers = rendered.secrets

    def put_back(text: str) -> str:
        if MARKER_PREFIX in text:
            for marker, value in markers.items():
                text = text.replace(marker, value)
        return text

    data, positions = _yaml.parse(rendered.text, file, transform=put_back)
    if data is None:
        data = {}
    try:
        config = Config.model_validate(data, context={"base_dir": rendered.file.absolute().parent})
    except ValidationError as err:
        raise ConfigError(problems_from(err, positions, markers.values())) from None
    # Private, and left out of equality: resolve() uses it to place route problems.
    config._origin = positions
    return config
