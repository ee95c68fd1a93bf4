"""Node-type commands: the node types this node can run."""

from __future__ import annotations

import re
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
                       n_results: int = 10, input_type: str | None = None,
                       output_type: str | None = None,
                       exclude_namespaces: list[str] | None = None,
                       include_metadata: bool = False) -> list[dict[str, Any]]:
    """Node types matching the query's words, best first.

    NodeTool's filters: ``input_type``/``output_type`` keep types with a property/an
    output of that type (``"str"`` matches ``str``, ``list[str]``, ``str | none``);
    ``exclude_namespaces`` leaves out types under those namespace prefixes;
    ``include_metadata`` adds each type's full ``get_node_info`` description as ``metadata``.
    """
    registry = context.backend.registry
    found = registry.search(query, n_results=len(registry))
    if exclude_namespaces:
        prefixes = [ns.strip(".") for ns in exclude_namespaces if ns.strip(".")]
        found = [c for c in found if not any(
            c.node_namespace == p or c.node_namespace.startswith(p + ".") for p in prefixes)]
    if input_type or output_type:
        described = {c: registry.describe(c) for c in found}
        found = [c for c in found
                 if (not input_type or any(_names_type(p["type"], input_type)
                                           for p in described[c]["properties"]))
                 and (not output_type or any(_names_type(o["type"], output_type)
                                             for o in described[c]["outputs"]))]
    found = found[:max(n_results, 0)]
    if include_metadata:
        return [{**_summary(registry, c), "metadata": registry.describe(c)} for c in found]
    return [_summary(registry, c) for c in found]


def _names_type(type_name: str, wanted: str) -> bool:
    """Whether a described type is, or names, ``wanted`` (case ignored)."""
    wanted = wanted.strip().casefold()
    type_name = type_name.casefold()
    return type_name == wanted or wanted in re.split(r"[^\w]+", type_name)


async def get_node_info(node_type: str, context: HandlerContext) -> dict[str, Any]:
    """A node type's properties and outputs, and whether it is deprecated (and why)."""
    registry = context.backend.registry
    cls = registry.get(node_type)
    if cls is None:
        raise NotFound(f"no node type {node_type!r}; search_nodes finds types by words")
    return registry.describe(cls)
