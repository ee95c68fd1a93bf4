"""Which nodes the engine treats specially: annotations, inputs, sinks, streaming producers."""

from __future__ import annotations

from typing import Any

__all__ = ["ANNOTATION_TYPES", "PREVIEW_TYPE", "is_annotation", "is_input", "is_sink",
           "is_streaming"]

PREVIEW_TYPE = "nodetool.workflows.base_node.Preview"
# UI-only nodes: no ports, never run.
ANNOTATION_TYPES = frozenset({"nodetool.workflows.base_node.Comment",
                              "nodetool.workflows.base_node.Group"})


def is_annotation(node_type: str) -> bool:
    return node_type in ANNOTATION_TYPES


def is_input(node_type: str, cls: Any = None) -> bool:
    """An input node: ``data.name`` is the key callers use in ``params``."""
    return node_type.startswith("nodetool.input.") or (
        cls is not None and cls.node_type.startswith("nodetool.input."))


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
