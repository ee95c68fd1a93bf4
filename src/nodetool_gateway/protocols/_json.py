"""JSON encoding shared by the codecs: compact, UTF-8, and tolerant of common types."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "loads", "SPEED"]

loads = json.loads


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


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)
_encode = _encoder.encode
_encode_str = json.encoder.encode_basestring


def dumps(obj: Any) -> str:
    """Compact JSON; the scalars every frame carries (ids, null) skip the encoder's set-up."""
    kind = type(obj)
    if kind is str:
        return _encode_str(obj)
    if obj is None:
        return "null"
    if kind is bool:
        return "true" if obj else "false"
    if kind is int:
        return int.__repr__(obj)
    return _encode(obj)

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
