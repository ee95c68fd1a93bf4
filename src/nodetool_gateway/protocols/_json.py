"""JSON encoding shared by the codecs: compact, UTF-8, and tolerant of common types."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "loads", "SPEED"]


def _default(obj: Any) -> Any:
    # Handlers may return models, dataclasses, dates or paths; answer them as JSON.
    model_dump = getattr(obj, "model_dump", None)
    if model_dump is not None:
        return model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# NaN and Infinity are not JSON: refused when read, sent as null (as orjson does).
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default,
                            allow_nan=False)
_encode = _encoder.encode
_encode_str = json.encoder.encode_basestring
_decode = json.JSONDecoder(parse_constant=_refuse_constant).decode


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN and infinity made None (the rare retry after a refusal)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def loads(text: str | bytes) -> Any:
    """Parse one frame; too deep a nesting is a ValueError like any other bad JSON."""
    if not isinstance(text, str):  # a binary frame: as json.loads reads bytes
        text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
    try:
        return _decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def dumps(obj: Any) -> str:
    """Compact JSON; the scalars every frame carries (ids, null) skip the encoder's set-up.

    Raises ValueError for a value nested too deeply to encode.
    """
    kind = type(obj)
    if kind is str:
        return _encode_str(obj)
    if obj is None:
        return "null"
    if kind is bool:
        return "true" if obj else "false"
    if kind is int:
        return int.__repr__(obj)
    try:
        return _encode(obj)
    except RecursionError:
        raise ValueError("nested too deeply to encode") from None
    except ValueError:  # a NaN or an infinity somewhere
        try:
            return _encode(_finite(obj))
        except RecursionError:
            raise ValueError("nested too deeply to encode") from None


try:  # the `speed` extra: orjson encodes and decodes several times faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - the default install
    _orjson = None

if _orjson is not None:
    _OPTIONS = _orjson.OPT_NON_STR_KEYS

    def dumps(obj: Any) -> str:  # type: ignore[misc]  # noqa: F811 - orjson replaces the stdlib one
        return _orjson.dumps(obj, default=_default, option=_OPTIONS).decode()

    loads = _orjson.loads


SPEED = _orjson is not None
