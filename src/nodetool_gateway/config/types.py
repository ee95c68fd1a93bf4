"""Durations and byte sizes as people write them in config files."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = [
    "Duration",
    "PositiveDuration",
    "ByteSize",
    "parse_duration",
    "parse_size",
    "format_duration",
    "format_size",
]

_UNIT_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|s|m|h|d)\s*")
_PLAIN_NUMBER = re.compile(rf"\s*{_NUMBER}\s*")
DURATION_PATTERN = rf"^\s*(({_NUMBER})\s*(ms|s|m|h|d)\s*)+$|^\s*{_NUMBER}\s*$"

_SIZE_UNITS = {
    "B": 1,
    "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
}  # fmt: skip
_SIZE = re.compile(rf"\s*({_NUMBER})\s*({'|'.join(_SIZE_UNITS)})?\s*")
SIZE_PATTERN = rf"^\s*{_NUMBER}\s*({'|'.join(_SIZE_UNITS)})?\s*$"


def _number(v: Any) -> Decimal | None:
    # bool is an int subclass, but "timeout: true" is a mistake, not 1 second.
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"expected a non-negative finite number, got {v!r}")
    return Decimal(str(v)) if isinstance(v, float) else Decimal(v)


def parse_duration(v: Any) -> float:
    """Return a duration in seconds.

    Accepts a non-negative number of seconds, or a string such as ``"250ms"``,
    ``"30s"``, ``"5m"``, ``"1h"``, ``"2d"``, ``"1h30m"`` or ``"1.5"``.
    Raises :class:`ValueError` for anything else, negative values included.
    """
    n = _number(v)
    if n is not None:
        return float(n)
    if not isinstance(v, str):
        raise ValueError(f"expected a duration, got {type(v).__name__}")
    if _PLAIN_NUMBER.fullmatch(v):
        return float(v)
    total, pos = Decimal(0), 0
    for m in _DURATION_PART.finditer(v):
        if m.start() != pos:
            break
        total += Decimal(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(v):
        raise ValueError(f"invalid duration {v!r}: use e.g. 250ms, 30s, 5m, 1h or 1h30m")
    return float(total)


def parse_size(v: Any) -> int:
    """Return a size in bytes.

    Accepts a non-negative integer, or a string such as ``"16MiB"``, ``"512KiB"``,
    ``"1GiB"``, ``"10MB"``, ``"100kB"`` or ``"123B"`` (binary units are powers of
    1024, decimal ones powers of 1000). Raises :class:`ValueError` otherwise.
    """
    n = _number(v)
    if n is None:
        if not isinstance(v, str) or not (m := _SIZE.fullmatch(v)):
            raise ValueError(f"invalid size {v!r}: use e.g. 16MiB, 512KiB, 10MB or 123B")
        try:
            n = Decimal(m.group(1)) * _SIZE_UNITS[m.group(2) or "B"]
        except InvalidOperation:  # pragma: no cover - the regex admits only digits
            raise ValueError(f"invalid size {v!r}") from None
    if n != n.to_integral_value():
        raise ValueError(f"size {v!r} is not a whole number of bytes")
    return int(n)


def format_duration(seconds: float) -> str:
    """Write seconds the way a config file would: ``"1h30m"``, ``"250ms"``."""
    if seconds == int(seconds):
        rest, parts = int(seconds), []
        for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
            if rest >= size:
                parts.append(f"{rest // size}{unit}")
                rest %= size
        return "".join(parts) or "0s"
    ms = Decimal(str(seconds)) * 1000
    if ms == ms.to_integral_value():
        return f"{int(ms)}ms"
    return f"{seconds:.9f}".rstrip("0") + "s"


def format_size(n: int) -> str:
    """Write bytes the way a config file would: ``"16MiB"``, ``"10MB"``."""
    for unit in ("TiB", "GiB", "MiB", "KiB", "TB", "GB", "MB", "kB"):
        size = _SIZE_UNITS[unit]
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def _validate_duration(v: Any, *, positive: bool) -> float:
    try:
        seconds = parse_duration(v)
    except ValueError:
        # The message leaves the input out: it may come from a secret.
        raise PydanticCustomError(
            "duration",
            "Input should be a duration such as 250ms, 30s, 5m or 1h30m, "
            "or a non-negative number of seconds",
        ) from None
    if positive and seconds <= 0:
        raise PydanticCustomError("duration_positive", "Duration should be greater than 0")
    return seconds


def _validate_size(v: Any) -> int:
    try:
        return parse_size(v)
    except ValueError:
        raise PydanticCustomError(
            "byte_size",
            "Input should be a size such as 16MiB, 512KiB, 10MB or 123B, or a number of bytes",
        ) from None


def _duration_schema(minimum: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "pattern": DURATION_PATTERN},
            {"type": "number", minimum: 0},
        ],
        "description": "A duration: 250ms, 30s, 5m, 1h, 1h30m, or a number of seconds.",
    }


Duration = Annotated[
    float,
    BeforeValidator(lambda v: _validate_duration(v, positive=False)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(_duration_schema("minimum")),
]
"""Seconds as a float; written ``30s``, ``5m``, ``1h30m``, ``250ms`` or a number."""

PositiveDuration = Annotated[
    float,
    BeforeValidator(lambda v: _validate_duration(v, positive=True)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(_duration_schema("exclusiveMinimum")),
]
"""A :data:`Duration` that must be greater than zero."""

ByteSize = Annotated[
    int,
    BeforeValidator(_validate_size),
    PlainSerializer(format_size, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": SIZE_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "A size: 16MiB, 512KiB, 1GiB, 10MB, 100kB, 123B, or a number of bytes.",
        }
    ),
]
"""Bytes as an int; written ``16MiB``, ``512KiB``, ``10MB`` or a number."""
