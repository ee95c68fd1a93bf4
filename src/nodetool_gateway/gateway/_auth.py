"""Token checks for the upgrade request, and keeping tokens out of logs."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["secret_bytes", "token_refusal", "redact", "RedactingAdapter"]


def secret_bytes(token: Any) -> bytes | None:
    """Token as bytes; accepts ``str`` or anything with ``get_secret_value()``."""
    if token is None:
        return None
    if hasattr(token, "get_secret_value"):
        token = token.get_secret_value()
    if not isinstance(token, str) or not token:
        raise ValueError("auth_token must be a non-empty string")
    return token.encode()


def token_refusal(
    authorization: str | None,
    path: str,
    expected: bytes,
    *,
    allow_query_token: bool = False,
) -> str | None:
    """Why an upgrade request is refused, or ``None`` when its token matches."""
    offered: str | None = None
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "unsupported Authorization header (expected 'Bearer <token>')"
        offered = value.strip()
    elif allow_query_token:
        values = parse_qs(urlsplit(path).query).get("token")
        if values:
            offered = values[0]
    if offered is None:
        return "missing token"
    if not hmac.compare_digest(offered.encode(), expected):
        return "wrong token"
    return None


_HEADER = re.compile(r"(?im)^([<>]?\s*(?:proxy-)?authorization:\s*).+$")
_SECRETS = re.compile(r"(?i)(bearer\s+|token=)[^\s&'\"]+")


def redact(text: str) -> str:
    """Replace Authorization values, bearer tokens and ``token=`` values with ``**********``."""
    return _SECRETS.sub(r"\1**********", _HEADER.sub(r"\1**********", text))


class RedactingAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Logger for websockets' own messages: redacted, and INFO demoted to DEBUG.

    websockets logs the request line and headers at DEBUG (so the token too) and
    one INFO line per connection open/close, which the gateway logs itself.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level == logging.INFO:
            level = logging.DEBUG
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, redact(text), **kwargs)
