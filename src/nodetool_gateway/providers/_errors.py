"""The official SDKs' exceptions, as :class:`ProviderError` a user can act on.

The ``openai`` and ``anthropic`` SDKs share their exception names, so one
function maps both.
"""

from __future__ import annotations

import re
from types import ModuleType

from ._base import ProviderError

__all__ = ["from_sdk"]

_CONTEXT = re.compile(r"context (length|size|window)|too many tokens|maximum context|prompt is too long|"
                      r"exceeds the available context|context_length_exceeded", re.I)


def from_sdk(exc: BaseException, sdk: ModuleType, provider: str, model: str | None,
             where: str) -> ProviderError | None:
    """``exc`` as a ProviderError, or ``None`` when it did not come from the SDK."""
    named = f"model {model!r} on provider {provider!r}" if model else f"provider {provider!r}"
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(f"{named} did not answer in time ({where})",
                             provider=provider, kind="timeout")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderError(f"provider {provider!r} is unreachable at {where}: {_first_line(cause)}",
                             provider=provider, kind="unreachable")
    if not isinstance(exc, sdk.APIStatusError):
        return None
    status = exc.status_code
    detail = _detail(exc)
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        return ProviderError(f"provider {provider!r} refused the API key (HTTP {status}): {detail}; "
                             f"check providers.{provider}.api_key", provider=provider, kind="auth",
                             status=status)
    if isinstance(exc, sdk.RateLimitError):
        return ProviderError(f"provider {provider!r} is rate limiting (HTTP 429) and retries ran out: "
                             f"{detail}", provider=provider, kind="rate_limited", status=status)
    if isinstance(exc, sdk.NotFoundError):
        return ProviderError(f"{named}: not found (HTTP 404): {detail}", provider=provider,
                             kind="model_not_found", status=status)
    if status in (400, 413, 422) and _CONTEXT.search(detail):
        return ProviderError(f"{named}: the prompt is longer than the model's context: {detail}",
                             provider=provider, kind="context_length", status=status)
    if 400 <= status < 500:
        return ProviderError(f"{named} refused the request (HTTP {status}): {detail}",
                             provider=provider, kind="bad_request", status=status)
    return ProviderError(f"{named} failed (HTTP {status}): {detail}", provider=provider,
                         kind="server", status=status)


def _detail(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return _first_line(err["message"])
        if isinstance(err, str):
            return _first_line(err)
    return _first_line(getattr(exc, "message", None) or exc)


def _first_line(value: object) -> str:
    text = str(value).strip().splitlines()
    line = text[0] if text else type(value).__name__
    return line if len(line) <= 300 else line[:297] + "..."
