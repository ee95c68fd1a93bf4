"""Error codes shared by every protocol, and the exceptions handlers raise."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "Busy",
    "Code",
    "HandlerError",
    "InvalidArgs",
    "NotFound",
    "Unavailable",
    "FatalError",
    "GaveUp",
    "Interrupted",
    "AuthRefused",
]


class Code(StrEnum):
    """Machine-readable error codes carried by error answers (``code``)."""

    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    INVALID_ARGS = "INVALID_ARGS"
    NOT_FOUND = "NOT_FOUND"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    TOO_LARGE = "TOO_LARGE"
    BUSY = "BUSY"
    UNAVAILABLE = "UNAVAILABLE"
    HANDLER_ERROR = "HANDLER_ERROR"


class HandlerError(Exception):
    """Raise from a handler to answer with a specific error code.

    Any other exception a handler raises is answered ``HANDLER_ERROR``.
    """

    code: Code = Code.HANDLER_ERROR

    def __init__(self, message: str, *, code: Code | str | None = None, details: Any = None):
        super().__init__(message)
        if code is not None:
            self.code = Code(code)
        self.message = message
        self.details = details


class InvalidArgs(HandlerError):
    code = Code.INVALID_ARGS


class NotFound(HandlerError):
    code = Code.NOT_FOUND


class Unavailable(HandlerError):
    code = Code.UNAVAILABLE


class Busy(HandlerError):
    code = Code.BUSY


class FatalError(Exception):
    """The node cannot go on (bad credentials, retries exhausted): stop and say why."""

    exit_code = 1


class GaveUp(FatalError):
    """retry.max_attempts connection attempts failed."""

    exit_code = 69  # EX_UNAVAILABLE, as `connect` and the README say


class AuthRefused(FatalError):
    """The gateway refused the node's credentials."""

    exit_code = 77  # EX_NOPERM


class Interrupted(FatalError):
    """A second SIGINT/SIGTERM during a drain: running calls were cancelled, not finished."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum  # as a shell reports a process a signal ended
