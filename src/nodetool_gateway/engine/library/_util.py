"""Small helpers shared by the library modules (no node types here)."""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["enum_value", "UNSET"]

# NodeTool's "not set" default for ``Any`` properties is ``()``.
UNSET: tuple = ()


def enum_value(value: Any) -> Any:
    """The plain value of an enum member (or the value itself): nodes compare these,
    so a property set to ``"and"`` works the same as one set to ``Operation.AND``."""
    return value.value if isinstance(value, Enum) else value
