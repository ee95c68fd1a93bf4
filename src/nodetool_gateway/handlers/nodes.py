"""Node-type commands: the node types this node can run."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from ._args import Offset
from .context import HandlerContext

__all__ = ["list_nodes", "search_nodes", "get_node_info"]


def _summary(registry, cls) -> dict[str, Any]:
    return {"type": cls.node_type, "title": cls.node_title,
            "description": cls.node_description, "namespace": cls.node_namespace,
            "deprecated": registry.deprecation(cls) is not None}


async def list_nodes(context: HandlerContext, namespace: str | None = None,
                     limit: int = 100, offset: Offset = 0) -> dict[str, Any]:
    """Node types by type name, optionally under one namespace: one page and how many match."""
    registry = context.backend.registry
    found = registry.list(namespace=namespace)
    return {"nodes": [_summary(registry, c) for c in found[offset:offset + max(limit, 0)]],
            "total": len(found)}


async def search_nodes(query: str | list[str], context: HandlerContext,
                       n_results: int = 10) -> list[dict[str, Any]]:
    """Node types matching the query's words, best first."""
    registry = context.backend.registry
    return [_summary(registry, c) for c in registry.search(query, n_results=n_results)]


async def get_node_info(node_type: str, context: HandlerContext) -> dict[str, Any]:
    """A node type's properties and outputs, and whether it is deprecated (and why)."""
    registry = context.backend.registry
    cls = registry.get(node_type)
    if cls is None:
        raise NotFound(f"no node type {node_type!r}; search_nodes finds types by words")
    return registry.describe(cls)
