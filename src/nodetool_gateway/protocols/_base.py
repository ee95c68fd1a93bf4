"""Types shared by the protocol codecs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import Code

__all__ = ["Answer", "Control", "ProtocolError", "Request", "utc_now"]


def utc_now() -> str:
    """ISO 8601 timestamp with an explicit UTC offset."""
    return datetime.now(timezone.utc).isoformat()


@dataclass(slots=True)
class Request:
    """Work for a handler: a command, or a message routed by its type."""

    kind: str  # "command" or "message"
    name: str  # command name, or message type
    request_id: str | None
    args: dict[str, Any]
    # The frame type that carried it, so the answer goes back in the same shape.
    frame_type: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(slots=True)
class Control:
    """A frame for the session itself, not for a handler (cancel, ack, error)."""

    kind: str  # "cancel", "ack", "error", "heartbeat"
    request_id: str | None
    raw: dict[str, Any]


@dataclass(slots=True)
class Answer:
    """The outcome of a request: a result, or an error with a code."""

    ok: bool
    result: Any = None
    code: str | None = None
    error: str | None = None
    details: Any = None
    job_id: str | None = None
    cancelled: bool = False

    @classmethod
    def failure(cls, code: Code | str, error: str, details: Any = None) -> "Answer":
        return cls(ok=False, code=str(code), error=error, details=details,
                   cancelled=code == Code.CANCELLED)


class ProtocolError(Exception):
    """A frame the codec cannot turn into a request; answered with an error frame."""

    def __init__(self, code: Code, message: str, request_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
