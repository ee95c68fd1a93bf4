"""Server-style logging: one line per event, text or JSON, secrets scrubbed."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Iterable

from ._redact import CONTROL_ESCAPES, Redactor

__all__ = ["setup_logging", "RedactingFilter", "printable"]


def printable(text: object, limit: int = 300) -> str:
    """Remote text fit for one log line: control characters escaped, at most ``limit``."""
    out = str(text).translate(CONTROL_ESCAPES)
    return out if len(out) <= limit else out[:limit] + "..."


_HANDLER_NAME = "nodetool-gateway"


class RedactingFilter(logging.Filter):
    """Replaces every known secret value in a record's message with ``**********``.

    Escaped forms too (repr, JSON, URL-encoded...): a secret quoted in an error message
    or travelling in a query string is still masked.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self._redact = Redactor()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        self._redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self._redact
        if redact:
            message = record.getMessage()
            redacted = redact(message)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


class _TextFormatter(logging.Formatter):
    converter = time.gmtime

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s",
                         "%Y-%m-%dT%H:%M:%S")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (),
                  stream=None) -> RedactingFilter:
    """Configure the ``nodetool`` loggers (idempotent: a reload calls it again)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
        if root.level > logging.WARNING or root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    redactor = next(f for f in handler.filters if isinstance(f, RedactingFilter))
    redactor.update(secrets)
    logging.getLogger("nodetool").setLevel(level.upper())
    return redactor
