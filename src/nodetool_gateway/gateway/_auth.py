"""Token checks for the upgrade request, and keeping tokens out of logs."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
    offered: list[str] = []
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "unsupported Authorization header (expected 'Bearer <token>')"
        offered = [value.strip()]
    elif allow_query_token:
        offered = query_tokens(path)
    if not offered:
        return "missing token"
    # Each candidate is compared in full (no early exit that would time the right one).
    matches = [hmac.compare_digest(token.encode(), expected) for token in offered]
    return None if any(matches) else "wrong token"


def query_tokens(path: str) -> list[str]:
    """The token a request path may carry in its query, read the ways clients send it.

    A URL-encoded ``token`` parameter (``?token=a%2Bb``), and, as NodeTool's own
    gateway client sends it, the raw rest of the URL after the last ``token=``: not
    encoded (``?token=a+b&c=d`` is the token ``a+b&c=d``) and appended with a second
    ``?`` to a URL that already has a query (``/?v=2?token=t``).
    """
    found: list[str] = []
    query = urlsplit(path).query
    found += parse_qs(query).get("token", [])[:1]
    at = path.rfind("token=")
    if at != -1 and (at == 0 or path[at - 1] in "?&"):
        raw = path[at + len("token="):]
        found += [raw, unquote(raw)]
    return [t for i, t in enumerate(found) if t and t not in found[:i]]


_HEADER = re.compile(r"(?im)^([<>]?\s*(?:proxy-)?authorization:\s*).+$")
# A token= value runs to the end of the word: NodeTool's client sends it raw, '&' and all.
_SECRETS = re.compile(r"(?i)(bearer\s+|token=)[^\s'\"]+")


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
