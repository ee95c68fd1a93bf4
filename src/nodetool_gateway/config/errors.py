"""Problems found in a config file, and the exception that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Problem", "ConfigError"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, at a 1-based line and column.

    ``path`` is the dotted key path (``gateway.url``, ``workflows.paths.0``), or
    a stage in parentheses (``(template)``, ``(yaml)``) when no key applies.
    """

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


class ConfigError(Exception):
    """A config file could not be rendered, validated or resolved.

    ``problems`` lists everything found, not just the first; ``str()`` gives one
    problem per line, ready to print.
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
