"""Model commands: models available on this machine."""

from __future__ import annotations

import asyncio
from typing import Any

from .context import HandlerContext

__all__ = ["list_models"]


async def list_models(context: HandlerContext, provider: str | None = None,
                      model_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Models in the Hugging Face cache, Ollama's list, the config, and what each
    language-model provider reports (marked with its provider's name)."""
    backend = context.backend
    if provider == "all":  # NodeTool's default: every provider
        provider = None
    # Scanning a cache and asking Ollama touch disk and network: off the event loop.
    local = asyncio.to_thread(backend.models.list, provider=provider, model_type=model_type,
                              limit=limit)
    found, remote = await asyncio.gather(local, backend.services.language_models.list_models())
    seen = {(m.get("provider"), m.get("id")) for m in found}
    for row in remote:
        if (provider is None or provider in (row["provider"], row["provider_type"])) \
                and (model_type is None or row["type"] == model_type) \
                and (row["provider"], row["id"]) not in seen:
            found.append(row)
    return found[:max(limit, 0)]
