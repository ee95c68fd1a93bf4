"""Collection commands: vector collections (ChromaDB)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import NotFound, Unavailable
from .context import HandlerContext

__all__ = ["list_collections", "get_collection"]


async def list_collections(context: HandlerContext, limit: int = 100) -> dict[str, Any]:
    """Collections in the node's ChromaDB store."""
    return await _call(context, "list", limit=limit)


async def get_collection(name: str, context: HandlerContext) -> dict[str, Any]:
    """One collection: its metadata and item count."""
    found = await _call(context, "get", name)
    if found is None:
        raise NotFound(f"no collection {name!r}; list_collections shows what this node has")
    return found


async def _call(context: HandlerContext, method: str, *args: Any, **kwargs: Any) -> Any:
    from ..stores import StoreUnavailable

    try:
        return await asyncio.to_thread(getattr(context.backend.collections, method), *args, **kwargs)
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from None
