"""Frame helpers shared by the local gateway and its operator client.

Plain dicts and ``json``: these run once per message on the benchmark path.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

__all__ = ["FINAL_TYPES", "OPERATOR_PATH", "now_iso", "error_frame"]

OPERATOR_PATH = "/operator"

# Frames from a node that end the request they answer.
FINAL_TYPES = frozenset({"command_response", "workflow_response", "error"})


def now_iso() -> str:
    """Current UTC time, ISO 8601 with an explicit ``+00:00`` offset."""
    return datetime.now(timezone.utc).isoformat()


def error_frame(
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    details: Any = None,
) -> str:
    """Encode an ``error`` frame."""
    frame: dict[str, Any] = {"type": "error", "code": code, "error": message}
    if request_id is not None:
        frame["request_id"] = request_id
    if details is not None:
        frame["details"] = details
    frame["timestamp"] = now_iso()
    return json.dumps(frame)
