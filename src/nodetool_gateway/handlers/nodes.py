"""Node-type commands: the node types this node can run."""

from __future__ import annotations

from typing import Any

from ._backend import unavailable

__all__ = ["list_nodes", "search_nodes", "get_node_info"]


async def list_nodes(namespace: str | None = None, limit: int = 100) -> Any:
    raise unavailable("list_nodes")


async def search_nodes(query: str | list[str], n_results: int = 10) -> Any:
    raise unavailable("search_nodes")


async def get_node_info(node_type: str) -> Any:
    raise unavailable("get_node_info")
