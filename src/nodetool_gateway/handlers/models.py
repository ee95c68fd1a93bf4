"""Model commands: models available on this machine."""

from __future__ import annotations

import asyncio
from typing import Any

from ._args import UserId, check_user, ignored
from .context import HandlerContext

__all__ = ["list_models"]


async def list_models(context: HandlerContext, provider: str | None = None,
                      model_type: str | None = None, limit: int = 100,
                      downloaded_only: bool = False, recommended_only: bool = False,
                      user_id: UserId = None) -> list[dict[str, Any]]:
    """Models in the Hugging Face cache, Ollama's list, the config, and what each
    language-model provider reports (marked with its provider's name).

    NodeTool's ``provider="all"`` is every provider; ``downloaded_only`` keeps the
    models present on this machine (``downloaded`` true: the cache, Ollama's, the
    configured files); ``recommended_only`` is ignored (no recommendation list here).
    """
    check_user(context, user_id)
    if recommended_only:
        ignored(context, "recommended_only", recommended_only,
                "this node has no list of recommended models")
    backend = context.backend
    if provider == "all":  # NodeTool's default: every provider
        provider = None
    # Scanning a cache and asking Ollama touch disk and network: off the event loop.
    # downloaded_only filters after the store's limit: ask it for every match then.
    local = asyncio.to_thread(backend.models.list, provider=provider, model_type=model_type,
                              limit=2 ** 31 if downloaded_only else limit)
    found, remote = await asyncio.gather(local, backend.services.language_models.list_models())
    seen = {(m.get("provider"), m.get("id")) for m in found}
    for row in remote:
        if (provider is None or provider in (row["provider"], row["provider_type"])) \
                and (model_type is None or row["type"] == model_type) \
                and (row["provider"], row["id"]) not in seen:
            found.append(row)
    if downloaded_only:
        found = [m for m in found if m.get("downloaded") is True]
    return found[:max(limit, 0)]
