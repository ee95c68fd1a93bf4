"""Checks on a graph before it runs: every problem found, each naming its node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ._kinds import ANNOTATION_TYPES, is_input, loop_groups
from ._types import compatible, type_str
from .graph import Graph, GraphEdge, GraphNode
from .library._unavailable import UNAVAILABLE
from .node import BaseNode
from .registry import NodeRegistry

_BASE_CHECK = BaseNode.check.__func__
_BASE_PREPARE = BaseNode.prepare.__func__

__all__ = ["EngineLimits", "Issue", "ValidationResult", "validate_graph", "prepare_graph",
           "input_names"]


@dataclass
class EngineLimits:
    """Bounds on a workflow: its size (checked by validation) and its run time."""

    max_nodes: int = 20000
    max_edges: int = 100000
    max_run_time: float | None = 3600.0  # seconds; None: no limit


@dataclass
class Issue:
    """One problem. ``message`` is complete and names the node, e.g.
    ``node 4 (nodetool.list.Nope): unknown node type``.

    ``kind`` is one of ``unknown_type``, ``dangling_edge``, ``unknown_handle``,
    ``cycle``, ``missing_input``, ``type_mismatch``, ``control_edge``,
    ``annotation_edge``, ``too_large``, ``duplicate_id``, ``duplicate_input``,
    ``unnamed_input``, ``deprecated`` (a type NodeTool has removed), ``unknown_param``, ``param_type`` (a param the input
    node's ``value`` does not take), ``node_check`` (a node type's own
    check of its data against the run's services: a model no provider serves).
    """

    node_id: str | None
    message: str
    kind: str

    def __str__(self) -> str:
        return self.message


@dataclass
class ValidationResult:
    valid: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """NodeTool's shape: ``{valid, errors: [str], warnings: [str], summary}``."""
        return {"valid": self.valid, "errors": [i.message for i in self.errors],
                "warnings": [i.message for i in self.warnings], "summary": dict(self.summary)}

    @property
    def only_params(self) -> bool:
        """Whether every error is about the params, not the workflow itself."""
        return all(i.kind in _PARAM_KINDS for i in self.errors)

    def describe(self) -> str:
        """The errors in one line (the first five): ``invalid params: ...`` or ``invalid workflow: ...``."""
        shown = "; ".join(i.message for i in self.errors[:5])
        more = len(self.errors) - 5
        if more > 0:
            shown += f"; and {more} more"
        return f"{'invalid params' if self.only_params else 'invalid workflow'}: {shown}"


_PARAM_KINDS = frozenset({"unknown_param", "param_type"})


def _label(node: GraphNode) -> str:
    return f"node {node.id} ({node.type})"


def _edge_name(edge: GraphEdge, index: int) -> str:
    return f"edge {edge.id}" if edge.id else f"edge #{index}"


class _TypeFacts:
    """What validation asks of a node type, worked out once per type and run."""

    __slots__ = ("has_check", "is_input", "props", "required")

    def __init__(self, cls: Any):
        self.props = cls.properties()
        self.required = [name for name, info in self.props.items() if info.is_required()]
        self.has_check = cls.check.__func__ is not _BASE_CHECK
        self.is_input = is_input(cls.node_type)


def input_names(graph: Graph) -> dict[str, GraphNode]:
    """Input nodes by ``data.name`` (the keys ``params`` may use)."""
    found: dict[str, GraphNode] = {}
    for n in graph.nodes:
        if is_input(n.type):
            name = n.data.get("name")
            if isinstance(name, str) and name and name not in found:
                found[name] = n
    return found


def _param_problem(cls: Any, value: Any) -> str | None:
    """Why ``value`` cannot be the ``value`` of an input node of type ``cls`` (None if it can).

    The same check the run makes when it builds the node, made before it starts.
    """
    prop = cls.model_fields.get("value") if cls is not None else None
    if prop is None:
        return None
    try:
        cls.__pydantic_validator__.validate_assignment(cls.model_construct(), "value", value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        detail = errors[0]["msg"] if errors else str(exc)
        return f"must be {type_str(prop.annotation)}, not {type(value).__name__}: {detail}"
    except Exception:  # a validator that needs the other fields: the run will tell
        return None
    return None


def validate_graph(graph: Graph, registry: NodeRegistry, *, params: dict | None = None,
                   limits: EngineLimits | None = None, services: Any = None) -> ValidationResult:
    """Everything wrong with ``graph`` (never raises for a bad graph).

    Errors: unknown node types, edges whose ends don't exist, handles the
    types don't have, cycles, required inputs with neither a value nor an
    edge, edges between clearly incompatible types, graphs over ``limits``,
    duplicate node ids or input names, ``params`` no input node takes, and
    params of a type their input node's ``value`` does not take.
    Warnings: control edges (not acted on), edges to annotation nodes,
    input nodes without a name, deprecated node types. Comment and Group nodes are skipped. Each node
    type's :meth:`~.node.BaseNode.check` sees its data and ``services``.
    """
    limits = limits or EngineLimits()
    errors: list[Issue] = []
    warnings: list[Issue] = []
    summary = {"total_nodes": len(graph.nodes), "total_edges": len(graph.edges)}

    if len(graph.nodes) > limits.max_nodes:
        errors.append(Issue(None, f"the graph has {len(graph.nodes)} nodes; the limit is "
                                  f"{limits.max_nodes}", "too_large"))
    if len(graph.edges) > limits.max_edges:
        errors.append(Issue(None, f"the graph has {len(graph.edges)} edges; the limit is "
                                  f"{limits.max_edges}", "too_large"))
    if errors:
        return ValidationResult(False, errors, warnings, summary)

    nodes: dict[str, GraphNode] = {}
    classes: dict[str, Any] = {}
    loops = loop_groups(graph.nodes)  # groups that run their members per item: real nodes
    facts_cache: dict[Any, _TypeFacts] = {}
    fits_cache: dict[tuple[Any, Any], bool] = {}

    def fits(source: Any, target: Any) -> bool:
        if source is target or source is Any or target is Any:
            return True
        try:
            return fits_cache[source, target]
        except KeyError:
            found = fits_cache[source, target] = compatible(source, target)
            return found
        except TypeError:  # an unhashable annotation
            return compatible(source, target)

    def facts(cls: Any) -> _TypeFacts:
        found = facts_cache.get(cls)
        if found is None:
            found = facts_cache[cls] = _TypeFacts(cls)
        return found

    for n in graph.nodes:
        if n.id in nodes:
            errors.append(Issue(n.id, f"{_label(n)}: another node has the same id", "duplicate_id"))
            continue
        nodes[n.id] = n
        if n.type in ANNOTATION_TYPES and n.id not in loops:
            continue
        cls = registry.get(n.type)
        if cls is None:
            reason = UNAVAILABLE.get(n.type)
            errors.append(Issue(n.id, f"{_label(n)}: unknown node type" if reason is None else
                                f"{_label(n)}: not available in nodetool-gateway: {reason}",
                                "unknown_type"))
        else:
            classes[n.id] = cls
            note = registry.deprecation(cls)
            if note is not None:
                warnings.append(Issue(n.id, f"{_label(n)}: deprecated: {note}", "deprecated"))

    # Edges: ends, handles, types. ``connected`` feeds the required-input check.
    connected: dict[str, set[str]] = {}
    succ: dict[str, list[str]] = {}
    for i, e in enumerate(graph.edges):
        src, dst = nodes.get(e.source), nodes.get(e.target)
        if src is None or dst is None:
            missing = [f"{what} node '{nid}'" for what, nid, n in
                       (("source", e.source, src), ("target", e.target, dst)) if n is None]
            anchor = dst or src
            where = f"{_label(anchor)}: " if anchor is not None else ""
            errors.append(Issue(anchor.id if anchor else None,
                                f"{where}{_edge_name(e, i)} refers to {' and '.join(missing)}, "
                                f"which does not exist", "dangling_edge"))
            continue
        if e.edge_type == "control":
            warnings.append(Issue(dst.id, f"{_label(dst)}: control {_edge_name(e, i)} from node "
                                          f"{src.id} is accepted but not acted on", "control_edge"))
            continue
        if (src.type in ANNOTATION_TYPES and src.id not in loops) or (
                dst.type in ANNOTATION_TYPES and dst.id not in loops):
            warnings.append(Issue(dst.id, f"{_label(dst)}: {_edge_name(e, i)} from node {src.id} "
                                          f"touches an annotation node and is ignored",
                                  "annotation_edge"))
            continue
        s_cls, t_cls = classes.get(src.id), classes.get(dst.id)
        s_type = t_type = None
        ok = True
        if s_cls is not None and s_cls.output_types:
            s_type = s_cls.output_types.get(e.source_handle)
            if s_type is None and e.source_handle not in s_cls.output_types \
                    and e.source_handle not in src.dynamic_outputs:
                errors.append(Issue(src.id, f"{_label(src)}: has no output '{e.source_handle}' "
                                            f"(outputs: {', '.join(s_cls.output_types)}), used by "
                                            f"{_edge_name(e, i)}", "unknown_handle"))
                ok = False
        if t_cls is not None:
            t_props = facts(t_cls).props
            info = t_props.get(e.target_handle)
            if info is not None:
                t_type = info.annotation
            elif not t_cls.is_dynamic:
                inputs = ", ".join(t_props) or "none"
                errors.append(Issue(dst.id, f"{_label(dst)}: has no input '{e.target_handle}' "
                                            f"(inputs: {inputs}), used by {_edge_name(e, i)}",
                                    "unknown_handle"))
                ok = False
        if ok and s_type is not None and t_type is not None and not fits(s_type, t_type):
            errors.append(Issue(dst.id, f"{_label(dst)}: input '{e.target_handle}' takes "
                                        f"{type_str(t_type)} but {_edge_name(e, i)} brings "
                                        f"{type_str(s_type)} from output '{e.source_handle}' of "
                                        f"node {src.id}", "type_mismatch"))
        wired = connected.get(dst.id)
        if wired is None:
            connected[dst.id] = {e.target_handle}
        else:
            wired.add(e.target_handle)
        targets = succ.get(src.id)
        if targets is None:
            succ[src.id] = [dst.id]
        else:
            targets.append(dst.id)

    if _has_cycle(nodes, succ):
        for cycle in _cycles(list(nodes), succ):
            first = nodes[cycle[0]]
            errors.append(Issue(first.id, f"{_label(first)}: is in a cycle through nodes "
                                          f"{', '.join(cycle)}", "cycle"))

    seen_inputs: dict[str, str] = {}
    for node_id, cls in classes.items():
        n = nodes[node_id]
        wired = connected.get(node_id, ())
        given = n.data
        type_facts = facts(cls)
        node_is_input = type_facts.is_input or is_input(n.type)
        for prop in type_facts.required:
            if prop not in wired and prop not in given:
                if prop == "value" and node_is_input and params and n.data.get("name") in params:
                    continue
                errors.append(Issue(n.id, f"{_label(n)}: required input '{prop}' has neither a "
                                          f"value nor an edge", "missing_input"))
        if type_facts.has_check:
            for message in cls.check(n, services):
                errors.append(Issue(n.id, f"{_label(n)}: {message}", "node_check"))
        if node_is_input:
            name = n.data.get("name")
            if not isinstance(name, str) or not name:
                warnings.append(Issue(n.id, f"{_label(n)}: input node has no name, so params "
                                            f"cannot set it", "unnamed_input"))
            elif name in seen_inputs:
                errors.append(Issue(n.id, f"{_label(n)}: input name '{name}' is also used by node "
                                          f"{seen_inputs[name]}", "duplicate_input"))
            else:
                seen_inputs[name] = n.id

    if params:
        known = input_names(graph)
        for key, value in params.items():
            target = known.get(key)
            if target is None:
                names = ", ".join(sorted(known)) if known else "none"
                errors.append(Issue(None, f"unknown param '{key}': the workflow's inputs are {names}",
                                    "unknown_param"))
                continue
            problem = _param_problem(classes.get(target.id), value)
            if problem is not None:
                errors.append(Issue(target.id, f"param '{key}' {problem}", "param_type"))

    return ValidationResult(not errors, errors, warnings, summary)


async def prepare_graph(graph: Graph, registry: NodeRegistry, services: Any = None) -> ValidationResult:
    """Run every node type's asynchronous :meth:`~.node.BaseNode.prepare` check, at once.

    A ``ValueError`` from one becomes an error naming its node. Call after
    :func:`validate_graph` found the graph valid.
    """
    import asyncio

    checks: list[tuple[GraphNode, Any]] = []
    prepares: dict[Any, bool] = {}  # class -> whether it has its own prepare
    for n in graph.nodes:
        cls = registry.get(n.type)
        if cls is None:
            continue
        own = prepares.get(cls)
        if own is None:
            own = prepares[cls] = cls.prepare.__func__ is not _BASE_PREPARE
        if own:
            checks.append((n, cls.prepare(n, services)))
    errors: list[Issue] = []
    if checks:
        outcomes = await asyncio.gather(*(c for _, c in checks), return_exceptions=True)
        for (n, _), outcome in zip(checks, outcomes):
            if isinstance(outcome, ValueError):
                errors.append(Issue(n.id, f"{_label(n)}: {outcome}", "node_check"))
            elif isinstance(outcome, BaseException):
                raise outcome
    return ValidationResult(not errors, errors, [], {"total_nodes": len(graph.nodes),
                                                      "total_edges": len(graph.edges)})


def _has_cycle(ids: Iterable[str], succ: dict[str, list[str]]) -> bool:
    """Whether the graph has a cycle (Kahn's algorithm: some node never becomes ready)."""
    indegree = dict.fromkeys(ids, 0)
    for targets in succ.values():
        for w in targets:
            indegree[w] += 1
    ready = [v for v, d in indegree.items() if d == 0]
    done = 0
    while ready:
        v = ready.pop()
        done += 1
        for w in succ.get(v, ()):
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(w)
    return done < len(indegree)


def _cycles(ids: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan's, iterative), in node order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    order = {nid: k for k, nid in enumerate(ids)}
    counter = 0
    for root in ids:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            children = succ.get(v, ())
            if i < len(children):
                work[-1] = (v, i + 1)
                w = children[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ.get(v, ()):
                    found.append(sorted(comp, key=order.__getitem__))
    found.sort(key=lambda comp: order[comp[0]])
    return found
