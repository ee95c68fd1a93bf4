"""Server-style logging: one line per event, text or JSON, secrets scrubbed."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["setup_logging", "RedactingFilter", "printable"]

# Control characters, and the Unicode ones that move text around, shown escaped: text
# from the other side (a gateway's error, a close reason) cannot forge a log line.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160))}
_ESCAPES.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F),
                                              *range(0x2066, 0x206A))})


def printable(text: object, limit: int = 300) -> str:
    """Remote text fit for one log line: control characters escaped, at most ``limit``."""
    out = str(text).translate(_ESCAPES)
    return out if len(out) <= limit else out[:limit] + "..."

_MASK = "**********"
_HANDLER_NAME = "nodetool-gateway"


class RedactingFilter(logging.Filter):
    """Replaces every known secret value in a record's message with ``**********``."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Also the URL-encoded forms, in case a secret travels in a query string.
        forms = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = tuple(sorted(forms, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                if secret in redacted:
                    redacted = redacted.replace(secret, _MASK)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                for secret in self.secrets:
                    record.exc_text = record.exc_text.replace(secret, _MASK)
            if redacted is not message:
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
