"""Collection commands: vector collections (ChromaDB)."""

from __future__ import annotations

from typing import Any

from ._backend import unavailable

__all__ = ["list_collections", "get_collection"]


async def list_collections(limit: int = 100) -> Any:
    raise unavailable("list_collections")


async def get_collection(name: str) -> Any:
    raise unavailable("get_collection")
