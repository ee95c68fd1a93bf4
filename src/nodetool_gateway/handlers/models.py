"""Model commands: models available on this machine."""

from __future__ import annotations

import asyncio
from typing import Any

from .context import HandlerContext

__all__ = ["list_models"]


async def list_models(context: HandlerContext, provider: str | None = None,
                      model_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Models in the Hugging Face cache, Ollama's list and the config."""
    store = context.backend.models
    # Scanning a cache and asking Ollama touch disk and network: off the event loop.
    return await asyncio.to_thread(store.list, provider=provider, model_type=model_type,
                                   limit=limit)
