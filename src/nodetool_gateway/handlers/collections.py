"""Collection commands: vector collections (ChromaDB)."""

from __future__ import annotations

import asyncio
import importlib.util
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


def _chromadb_installed() -> bool:
    # find_spec, not an import: importing ChromaDB takes about a second.
    return importlib.util.find_spec("chromadb") is not None


# Without ChromaDB the node does not advertise these; called anyway, they answer
# UNAVAILABLE naming the extra to install.
list_collections.offered_if = _chromadb_installed  # type: ignore[attr-defined]
get_collection.offered_if = _chromadb_installed  # type: ignore[attr-defined]


async def _call(context: HandlerContext, method: str, *args: Any, **kwargs: Any) -> Any:
    from ..stores import StoreUnavailable

    try:
        return await asyncio.to_thread(getattr(context.backend.collections, method), *args, **kwargs)
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from None
