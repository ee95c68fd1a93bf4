"""A NodeTool workflow file as plain dataclasses: what the engine reads before it runs.

Loading only checks structure (a list of nodes with ids and types, edges with
ends and handles); whether the types exist and the wiring makes sense is
:func:`~nodetool_gateway.engine.validate.validate_graph`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .validate import ValidationResult

__all__ = [
    "Workflow",
    "Graph",
    "GraphNode",
    "GraphEdge",
    "WorkflowError",
    "load_workflow",
    "load_graph",
]

SYNC_MODES = ("on_any", "zip_all")


class WorkflowError(Exception):
    """A workflow that cannot be run as given: malformed, invalid, or bad params.

    ``result`` holds the full :class:`ValidationResult` when validation failed
    (``None`` for a file that could not even be read). ``kind`` says which:
    ``"malformed"``, ``"invalid"`` or ``"params"``.
    """

    def __init__(self, message: str, *, result: ValidationResult | None = None,
                 kind: str = "malformed"):
        super().__init__(message)
        self.message = message
        self.result = result
        self.kind = kind


@dataclass
class GraphNode:
    """One node: its type name, property values and extra (dynamic) inputs."""

    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    dynamic_properties: dict[str, Any] = field(default_factory=dict)
    dynamic_outputs: dict[str, Any] = field(default_factory=dict)
    sync_mode: str = "on_any"
    parent_id: str | None = None


@dataclass
class GraphEdge:
    """A value path from ``(source, source_handle)`` to ``(target, target_handle)``."""

    id: str | None
    source: str
    source_handle: str
    target: str
    target_handle: str
    edge_type: str = "data"


@dataclass
class Graph:
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The graph in NodeTool's JSON shape."""
        return {
            "nodes": [{"id": n.id, "type": n.type, "data": n.data,
                       "dynamic_properties": n.dynamic_properties,
                       "dynamic_outputs": n.dynamic_outputs, "sync_mode": n.sync_mode,
                       "parent_id": n.parent_id} for n in self.nodes],
            "edges": [{"id": e.id, "source": e.source, "sourceHandle": e.source_handle,
                       "target": e.target, "targetHandle": e.target_handle,
                       "edge_type": e.edge_type} for e in self.edges],
        }


@dataclass
class Workflow:
    """A workflow file: metadata around a graph. ``raw`` is the file as loaded."""

    id: str
    name: str
    description: str
    tags: list[str]
    graph: Graph
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def load_workflow(data: dict | str | bytes | Path) -> Workflow:
    """Read a NodeTool workflow (a dict, JSON text or bytes, or a file path).

    A bare graph (``{"nodes": [...], "edges": [...]}``) is accepted too and gets
    empty metadata. Absent fields get defaults and unknown fields are kept in
    ``raw``; structural problems raise :class:`WorkflowError` naming the
    offending node or edge.
    """
    doc = _as_dict(data)
    if "graph" in doc:
        graph_doc = doc["graph"]
        where = "graph"
    elif "nodes" in doc:
        graph_doc = doc
        where = ""
    else:
        raise WorkflowError("not a NodeTool workflow: it has neither 'graph' nor 'nodes'")
    graph = _load_graph(graph_doc, where)
    tags = doc.get("tags") or []
    if not isinstance(tags, list):
        raise WorkflowError(f"'tags' must be a list, not {type(tags).__name__}")
    return Workflow(
        id=_text(doc.get("id")),
        name=_text(doc.get("name")),
        description=_text(doc.get("description")),
        tags=[str(t) for t in tags],
        graph=graph,
        input_schema=doc.get("input_schema") if isinstance(doc.get("input_schema"), dict) else None,
        output_schema=doc.get("output_schema") if isinstance(doc.get("output_schema"), dict) else None,
        raw=doc,
    )


def load_graph(data: dict) -> Graph:
    """Read a graph dict (``{"nodes": [...], "edges": [...]}``)."""
    return _load_graph(data, "")


def _as_dict(data: dict | str | bytes | Path) -> dict:
    if isinstance(data, dict):
        return data
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith(("{", "["))
                                  and Path(data).is_file()):
        path = Path(data)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkflowError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        return _parse(text, f"{path}: ")
    if isinstance(data, (str, bytes, bytearray)):
        return _parse(data, "")
    raise WorkflowError(f"a workflow must be a dict, JSON text or a path, not {type(data).__name__}")


def _parse(text: str | bytes, prefix: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise WorkflowError(f"{prefix}invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise WorkflowError(f"{prefix}a workflow must be a JSON object, not {type(doc).__name__}")
    return doc


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _load_graph(doc: Any, where: str) -> Graph:
    prefix = f"{where}." if where else ""
    if not isinstance(doc, dict):
        raise WorkflowError(f"'{where or 'graph'}' must be an object with 'nodes' and 'edges'")
    raw_nodes = doc.get("nodes")
    raw_edges = doc.get("edges")
    raw_nodes = [] if raw_nodes is None else raw_nodes
    raw_edges = [] if raw_edges is None else raw_edges
    if not isinstance(raw_nodes, list):
        raise WorkflowError(f"'{prefix}nodes' must be a list")
    if not isinstance(raw_edges, list):
        raise WorkflowError(f"'{prefix}edges' must be a list")
    nodes = [_load_node(n, f"{prefix}nodes[{i}]") for i, n in enumerate(raw_nodes)]
    edges = [_load_edge(e, f"{prefix}edges[{i}]") for i, e in enumerate(raw_edges)]
    return Graph(nodes=nodes, edges=edges)


def _ident(value: Any, what: str) -> str:
    # NodeTool ids are strings; hand-written files sometimes use numbers.
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise WorkflowError(f"{what} must be a non-empty string")
    return str(value)


def _mapping(node: dict, key: str, what: str) -> dict:
    value = node.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkflowError(f"{what}: '{key}' must be an object, not {type(value).__name__}")
    return value


def _load_node(node: Any, where: str) -> GraphNode:
    if not isinstance(node, dict):
        raise WorkflowError(f"{where} must be an object")
    node_id = _ident(node.get("id"), f"{where}.id")
    what = f"{where} (node {node_id})"
    node_type = node.get("type")
    if not isinstance(node_type, str) or not node_type:
        raise WorkflowError(f"{what}: 'type' must be a non-empty string")
    sync_mode = node.get("sync_mode") or "on_any"
    if sync_mode not in SYNC_MODES:
        raise WorkflowError(f"{what}: sync_mode must be 'on_any' or 'zip_all', not {sync_mode!r}")
    parent = node.get("parent_id")
    return GraphNode(
        id=node_id,
        type=node_type,
        data=_mapping(node, "data", what),
        dynamic_properties=_mapping(node, "dynamic_properties", what),
        dynamic_outputs=_mapping(node, "dynamic_outputs", what),
        sync_mode=sync_mode,
        parent_id=None if parent in (None, "") else str(parent),
    )


def _load_edge(edge: Any, where: str) -> GraphEdge:
    if not isinstance(edge, dict):
        raise WorkflowError(f"{where} must be an object")
    edge_id = edge.get("id")
    what = f"{where} (edge {edge_id})" if edge_id not in (None, "") else where

    def handle(camel: str, snake: str) -> str:
        value = edge.get(camel, edge.get(snake))
        if not isinstance(value, str) or not value:
            raise WorkflowError(f"{what}: '{camel}' must be a non-empty string")
        return value

    edge_type = edge.get("edge_type") or "data"
    if edge_type not in ("data", "control"):
        raise WorkflowError(f"{what}: edge_type must be 'data' or 'control', not {edge_type!r}")
    return GraphEdge(
        id=None if edge_id in (None, "") else str(edge_id),
        source=_ident(edge.get("source"), f"{what}.source"),
        source_handle=handle("sourceHandle", "source_handle"),
        target=_ident(edge.get("target"), f"{what}.target"),
        target_handle=handle("targetHandle", "target_handle"),
        edge_type=edge_type,
    )
