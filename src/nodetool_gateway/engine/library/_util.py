"""Small helpers shared by the library modules (no node types here)."""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["enum_value", "UNSET", "value_matches", "LENGTH_FILTERS", "number_in_range"]

# NodeTool's "not set" default for ``Any`` properties is ``()``.
UNSET: tuple = ()


def enum_value(value: Any) -> Any:
    """The plain value of an enum member (or the value itself): nodes compare these,
    so a property set to ``"and"`` works the same as one set to ``Operation.AND``."""
    return value.value if isinstance(value, Enum) else value


LENGTH_FILTERS = ("length_greater", "length_less", "exact_length")


def value_matches(value: Any, filter_type: str, criteria: str) -> bool:
    """NodeTool's value filters (contains, starts_with, ends_with, equals, type_is,
    length_greater, length_less, exact_length) on one value; ValueError for a
    length criteria that is not a number."""
    if filter_type in LENGTH_FILTERS:
        n = int(criteria)
        if not hasattr(value, "__len__"):
            return False
        return {"length_greater": len(value) > n, "length_less": len(value) < n,
                "exact_length": len(value) == n}[filter_type]
    text = str(value)
    if filter_type == "contains":
        return criteria in text
    if filter_type == "starts_with":
        return text.startswith(criteria)
    if filter_type == "ends_with":
        return text.endswith(criteria)
    if filter_type == "equals":
        return text == criteria
    if filter_type == "type_is":
        return type(value).__name__ == criteria
    return False


def number_in_range(value: Any, low: float, high: float, inclusive: bool) -> bool:
    """Whether ``value`` is a number (not a bool) within [low, high], or strictly inside."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return low <= value <= high if inclusive else low < value < high
