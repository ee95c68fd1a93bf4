"""Which nodes the engine treats specially: annotations, inputs, sinks, streaming producers."""

from __future__ import annotations

from typing import Any

__all__ = ["ANNOTATION_TYPES", "GROUP_INPUT", "GROUP_OUTPUT", "GROUP_TYPES", "PREVIEW_TYPE",
           "group_members", "is_annotation", "is_input", "is_sink", "is_streaming",
           "loop_groups"]

PREVIEW_TYPE = "nodetool.workflows.base_node.Preview"
GROUP_TYPES = frozenset({"nodetool.workflows.base_node.Group",
                         "nodetool.workflows.base_node.GroupNode", "nodetool.group.Loop"})
GROUP_INPUT = "nodetool.input.GroupInput"
GROUP_OUTPUT = "nodetool.output.GroupOutput"
# UI-only nodes: no ports, never run. A group holding a GroupInput is a loop instead
# (see loop_groups).
ANNOTATION_TYPES = frozenset({"nodetool.workflows.base_node.Comment"}) | GROUP_TYPES


def is_annotation(node_type: str) -> bool:
    return node_type in ANNOTATION_TYPES


def is_input(node_type: str, cls: Any = None) -> bool:
    """An input node: ``data.name`` is the key callers use in ``params``."""
    if node_type == GROUP_INPUT:
        return False
    return node_type.startswith("nodetool.input.") or (
        cls is not None and cls.node_type.startswith("nodetool.input.")
        and cls.node_type != GROUP_INPUT)


def is_sink(node_type: str, cls: Any = None) -> bool:
    """An output node: what arrives on its ``value`` input is a workflow output."""
    if node_type.startswith("nodetool.output.") or node_type == PREVIEW_TYPE:
        return True
    if cls is None:
        return False
    return cls.node_type.startswith("nodetool.output.") or cls.node_type == PREVIEW_TYPE


def is_streaming(cls: Any) -> bool:
    """Whether a node type may emit many values per run (ForEach, generators).

    ``gen_process`` nodes stream. A ``run`` node consumes streams and is taken
    to emit once (Collect) unless it sets ``streaming_output = True``.
    """
    return bool(getattr(cls, "streaming_output", False))


def loop_groups(nodes: Any) -> set[str]:
    """Ids of the group nodes that are loops: those with a GroupInput among their children."""
    groups = {n.id for n in nodes if n.type in GROUP_TYPES}
    return {n.parent_id for n in nodes if n.type == GROUP_INPUT and n.parent_id in groups}


def group_members(nodes: Any, loops: set[str]) -> dict[str, str]:
    """Node id -> the outermost loop group it sits in (through ``parent_id``), for every
    node inside one; a loop's subgraph is every node inside it, nested groups and all."""
    parents = {n.id: n.parent_id for n in nodes}
    members: dict[str, str] = {}
    for n in nodes:
        outer = None
        seen: set[str] = set()
        parent = n.parent_id
        while parent is not None and parent not in seen:
            seen.add(parent)
            if parent in loops:
                outer = parent
            parent = parents.get(parent)
        if outer is not None:
            members[n.id] = outer
    return members
