"""The whole pipeline (render, validate, resolve) and the snapshot it yields."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .._redact import Redactor
from ._yaml import Positions
from .code import CodeFile, import_node_modules, record
from .errors import ConfigError
from .models import Config
from .render import render
from .resolve import ResolvedRoute, RouteTable, resolve
from .types import format_duration
from .validate import problems_from, validate

__all__ = [
    "Snapshot",
    "load",
    "snapshot_from_config",
    "default_config",
    "dump_effective",
    "config_schema",
]


@dataclass(frozen=True)
class Snapshot:
    """One immutable, fully resolved configuration; a reload swaps it whole.

    ``files`` are the files it was read from (to watch); ``secrets`` the secret
    values to keep out of logs; ``source`` the config file, or ``None``; ``code``
    the user's modules it imported (handlers, node modules), also watched.
    """

    config: Config
    routes: RouteTable
    files: tuple[Path, ...]
    secrets: frozenset[str]
    source: Path | None
    code: tuple[CodeFile, ...] = ()

    def __repr__(self) -> str:
        return f"Snapshot(source={self.source!r}, files={self.files!r})"


def _token_values(config: Config) -> set[str]:
    keys = [p.api_key for p in (config.providers or {}).values()]
    if config.tools.search is not None:
        keys.append(config.tools.search.api_key)
    found = {k.get_secret_value() for k in keys if k is not None and k.get_secret_value()}
    try:
        token = config.gateway.token()
    except OSError:
        return found
    return found | {token} if token else found


def load(
    path: str | os.PathLike[str],
    *,
    environment: str | None = None,
    sets: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    imports: bool = True,
) -> Snapshot:
    """Render, validate and resolve the config file at ``path``.

    ``imports=False`` leaves the handler modules unimported (see :func:`resolve`):
    the snapshot can be shown, not served. Raises :class:`ConfigError` with every
    problem of the first stage that fails.
    """
    rendered = render(path, environment=environment, sets=sets, environ=environ)
    config = validate(rendered)
    routes = resolve(config, imports=imports)
    code: tuple[CodeFile, ...] = ()
    if imports:
        import_node_modules(config)
        code = record(config, routes, Path(rendered.file).absolute().parent)
    secrets = {v for v in rendered.secrets.values() if v} | _token_values(config)
    return Snapshot(config, routes, rendered.files, frozenset(secrets), rendered.file, code)


def snapshot_from_config(config: Config) -> Snapshot:
    """Resolve a :class:`Config` built in code (no file) into a :class:`Snapshot`."""
    return Snapshot(config, resolve(config), (), frozenset(_token_values(config)), None)


def default_config(**section_overrides: Any) -> Config:
    """The built-in configuration, with whole sections or their keys replaced.

    ``default_config(gateway={"url": "wss://gw.example"})`` keeps every other
    gateway key at its default. Raises :class:`ConfigError`.
    """
    try:
        return Config.model_validate(section_overrides)
    except ValidationError as err:
        raise ConfigError(problems_from(err, Positions("<arguments>"))) from None


def _route_dump(route: ResolvedRoute) -> dict[str, Any]:
    dump = {
        "handler": route.target,
        "timeout": format_duration(route.timeout) if route.timeout is not None else None,
        "concurrency": route.concurrency,
    }
    if not route.blocking:
        dump["blocking"] = False
    return dump


def _redact_data(data: Any, redact: Redactor) -> Any:
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {_redact_data(k, redact): _redact_data(v, redact) for k, v in data.items()}
    if isinstance(data, list):
        return [_redact_data(v, redact) for v in data]
    return data


def dump_effective(snapshot: Snapshot) -> str:
    """YAML of the effective configuration, secrets shown as ``**********``.

    ``routes`` and ``commands`` list the effective table (built-in defaults
    merged with the file); disabled entries appear as ``null``.
    """
    config = snapshot.config
    data = config.model_dump(mode="json")
    for section, table, entries in (
        ("routes", snapshot.routes.messages, config.routes),
        ("commands", snapshot.routes.commands, config.commands),
    ):
        effective: dict[str, Any] = {name: _route_dump(route) for name, route in table.items()}
        effective.update({name: None for name, route in entries.items() if route is None})
        data[section] = effective
    # Redact the values before dumping too: YAML may quote or escape a secret.
    redact = Redactor(snapshot.secrets)
    text = yaml.safe_dump(_redact_data(data, redact), sort_keys=False, allow_unicode=True)
    return redact(text)


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the config file, for editors and linters."""
    schema = Config.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
