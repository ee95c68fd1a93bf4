"""Types shared by the protocol codecs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import Code
from ._json import dumps
from ._trim import byte_size, over, trim

__all__ = ["Answer", "Control", "HandshakeRejected", "Offer", "Protocol", "ProtocolError",
           "Request", "utc_now"]


_second = [-1, ""]
_recent = [0.0, 0.0, ""]  # [from, until, text]: the last timestamp, reused for 1 ms


def utc_now() -> str:
    """ISO 8601 timestamp with an explicit UTC offset (microseconds, like isoformat).

    Every frame carries one, two per command: frames within the same millisecond
    share one, and the date and time are formatted once a second.
    """
    now = time.time()
    recent = _recent
    if recent[0] <= now < recent[1]:
        return recent[2]
    sec = int(now)
    if sec != _second[0]:
        _second[0] = sec
        _second[1] = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    text = f"{_second[1]}.{int((now - sec) * 1e6):06d}+00:00"
    recent[0], recent[1], recent[2] = now, now + 0.001, text
    return text


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
    # What makes two requests "the same" (request_id, or an idempotency key).
    dedup_key: str | None = None
    # Whether the protocol acknowledges this request before answering it.
    acked: bool = False
    # Sequence number of the next streamed update (protocols that number them).
    seq: int = 0

    def __post_init__(self) -> None:
        if self.dedup_key is None:
            self.dedup_key = self.request_id


@dataclass(slots=True)
class Control:
    """A frame for the session itself, not for a handler (cancel, ack, error)."""

    kind: str  # "cancel", "ack", "error", "heartbeat", "warning", "info", "event"
    request_id: str | None
    raw: dict[str, Any]
    # A line for the log ("warning" and "info" are logged as they say).
    note: str | None = None


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


@dataclass(slots=True, frozen=True)
class Offer:
    """What a node offers a gateway: sent at registration (or connect)."""

    node_id: str
    commands: tuple[str, ...]
    message_types: tuple[str, ...]
    metadata: dict[str, Any]
    workflow_execution: bool


class HandshakeRejected(Exception):
    """The gateway refused the connection's handshake.

    ``fatal`` means retrying cannot help (bad credentials); ``retry_after`` is
    the delay the gateway asked for, in seconds, if it gave one.
    """

    def __init__(self, message: str, *, code: str | None = None, fatal: bool = False,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fatal = fatal
        self.retry_after = retry_after


class Protocol:
    """One connection's worth of a wire protocol, with no socket inside.

    The session owns the socket: it sends what ``begin`` returns, feeds frames
    to ``on_handshake`` until ``ready``, then feeds every frame to ``decode``
    and sends what the encoders return. Subclasses implement one protocol.
    """

    name = "?"
    # Seconds between the node's own heartbeat frames (None: the protocol has none).
    heartbeat_interval: float | None = None
    # Silence after which the connection counts as dead (None: websockets' pings decide).
    watchdog_timeout: float | None = None
    # Largest frame the gateway accepts from the node (None: the config's limit).
    max_outgoing: int | None = None
    ready = False

    def connect_url(self, url: str) -> str:
        return url

    def connect_headers(self) -> dict[str, str] | None:
        return None

    def begin(self, offer: Offer) -> list[str]:
        """Frames to send as soon as the socket is open."""
        raise NotImplementedError

    def on_handshake(self, text: str | bytes) -> list[str]:
        """Take one frame of the handshake; return frames to send. May raise HandshakeRejected."""
        raise NotImplementedError

    def reregistration(self, offer: Offer) -> str | None:
        """A frame telling the gateway of a new offer, or None if that needs a reconnect."""
        return None

    def decode(self, text: str | bytes) -> "Request | Control":
        raise NotImplementedError

    def heartbeat(self, node_id: str, status: str, in_flight: int) -> str | None:
        return None

    def ack(self, request: Request, message: str) -> str | None:
        return None

    def answer(self, request: Request, ans: Answer) -> str:
        raise NotImplementedError

    def answer_within(self, request: Request, ans: Answer, limit: int) -> str:
        """The answer's frame, or a TOO_LARGE / HANDLER_ERROR answer when it cannot go.

        ``limit`` is the node's own frame limit in bytes; a protocol with a smaller
        one (``max_outgoing``) holds its answers to that.
        """
        try:
            frame = self.answer(request, ans)
        except (TypeError, ValueError) as exc:
            frame = self.answer(request, Answer.failure(
                Code.HANDLER_ERROR, f"result is not JSON: {exc}"))
        limit = self.outgoing_limit(limit)
        if over(frame, limit):
            frame = self.answer(request, Answer.failure(
                Code.TOO_LARGE, f"the answer of {byte_size(frame)} bytes is over the "
                                f"{limit} bytes the gateway accepts"))
        return frame

    def updates(self, request: Request, job_id: str | None, update_type: str,
                data: Any) -> list[str]:
        """The frames of one update, whatever its size."""
        return self.update_frames(request, self.update_text(request, job_id, update_type, data),
                                  None)

    def updates_within(self, request: Request, job_id: str | None, update_type: str,
                       data: Any, limit: int) -> tuple[list[str], int]:
        """The frames of one update, trimmed when it is over ``limit`` bytes.

        Returns the frames and, for a trimmed update, the size of its data (else 0).
        A trimmed update keeps its shape: its largest values are replaced by
        ``{"truncated": true, "bytes": N, "preview": "<first 1,024 characters>"}`` (see
        ``_trim.trim``), where an answer over the limit is answered TOO_LARGE.
        """
        limit = self.outgoing_limit(limit)
        text = self.update_text(request, job_id, update_type, data)
        if not over(text, limit):
            return self.update_frames(request, text, limit), 0
        body = dumps(data)  # encoded again, alone, only when it is too big
        size = byte_size(body)
        room = limit - (byte_size(text) - size)
        text = self.update_text(request, job_id, update_type, trim(data, room, body))
        if over(text, limit):
            return [], size  # not even a placeholder fits beside the envelope
        return self.update_frames(request, text, limit), size

    def update_text(self, request: Request, job_id: str | None, update_type: str,
                    data: Any) -> str:
        """One update as text: what the size limit is for."""
        raise NotImplementedError

    def update_frames(self, request: Request, text: str, limit: int | None) -> list[str]:
        """The frames that carry an update's text, each within ``limit`` bytes if given."""
        return [text]

    def outgoing_limit(self, limit: int) -> int:
        """The largest frame to send, given the node's own ``limit``."""
        return limit if self.max_outgoing is None else min(limit, self.max_outgoing)

    def error_frame(self, code: Code | str, message: str, request_id: str | None = None,
                    details: Any = None) -> str | None:
        return None

    def sniff_request_id(self, text: str | bytes) -> str | None:
        return None

    def take_notes(self) -> list[str]:
        """Things worth telling the user once the handshake is done (logged at INFO)."""
        return []
