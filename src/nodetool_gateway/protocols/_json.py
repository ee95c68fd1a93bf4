"""JSON encoding shared by the codecs: compact, UTF-8, and tolerant of common types."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "loads"]

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
dumps = _encoder.encode
