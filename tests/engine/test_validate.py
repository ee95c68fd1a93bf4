"""Validation: every kind of problem, each naming its node; warnings; limits; params."""

from __future__ import annotations

from nodetool_gateway.engine import (
    EngineLimits,
    Graph,
    GraphEdge,
    GraphNode,
    load_workflow,
    validate_graph,
)

from . import nodes as t
from .test_graph import example

REG = t.registry()


def check(g: Graph, **kw):
    return validate_graph(g, REG, **kw)


def kinds(result) -> list[str]:
    return [i.kind for i in result.errors]


def test_accepts_a_well_formed_graph():
    """A valid graph has no errors and a summary of its size."""
    g = t.graph({"c": ("Const", {"value": 1}), "a": "Add", "o": ("nodetool.output.Output", {"name": "r"})},
                ["c.output -> a.a", "a.output -> o.value"])
    result = check(g)
    assert result.valid and result.errors == [] and result.warnings == []
    assert result.as_dict() == {"valid": True, "errors": [], "warnings": [],
                                "summary": {"total_nodes": 3, "total_edges": 2}}


def test_reports_unknown_node_types_by_node():
    """An unknown type is an error naming the node id and type, never a crash."""
    g = t.graph({"4": ("nodetool.list.Nope", {}), "5": ("Const", {})}, ["4.output -> 5.value"])
    result = check(g)
    assert not result.valid
    assert result.as_dict()["errors"] == ["node 4 (nodetool.list.Nope): unknown node type"]
    assert result.errors[0].node_id == "4" and kinds(result) == ["unknown_type"]


def test_reports_dangling_edges():
    """Edges whose source or target does not exist are errors naming the edge and node."""
    g = t.graph({"a": "Add"}, ["ghost.output -> a.a", "a.output -> nowhere.value"])
    result = check(g)
    assert kinds(result) == ["dangling_edge", "dangling_edge"]
    first, second = (i.message for i in result.errors)
    assert first == "node a (test.Add): edge e0 refers to source node 'ghost', which does not exist"
    assert "node a (test.Add): edge e1 refers to target node 'nowhere'" in second
    assert {i.node_id for i in result.errors} == {"a"}


def test_reports_unknown_handles_on_both_ends():
    """A source output or target input the types lack is an error naming the node and handle."""
    g = t.graph({"c": "Const", "a": "Add"}, ["c.result -> a.a", "c.output -> a.z"])
    result = check(g)
    assert kinds(result) == ["unknown_handle", "unknown_handle"]
    assert result.errors[0].message.startswith("node c (test.Const): has no output 'result'")
    assert result.errors[1].message.startswith("node a (test.Add): has no input 'z' (inputs: a, b)")


def test_accepts_any_handle_where_a_node_is_dynamic_or_its_outputs_unknown():
    """Dynamic targets take any input; dynamic_outputs and unknown outputs take any source handle."""
    class Opaque(t.Const):
        node_type = "test.Opaque"
    Opaque.output_types = {}
    reg = t.registry()
    reg.register(Opaque)
    g = t.graph({"c": "Const", "o": "Opaque", "f": ("Format", {"template": "{who}"})},
                ["c.output -> f.who", "o.whatever -> f.x", "c.extra -> f.y"],
                c={"dynamic_outputs": {"extra": {"type": "str"}}})
    assert validate_graph(g, reg).valid


def test_reports_cycles_with_their_node_ids():
    """A cycle is an error listing the nodes in it (and only those)."""
    g = t.graph({"s": "Const", "a": "Add", "b": "Add", "c": "Add", "z": "Add"},
                ["s.output -> a.a", "a.output -> b.a", "b.output -> c.a", "c.output -> a.b",
                 "c.output -> z.a", "z.output -> z.b"])
    result = check(g)
    assert kinds(result) == ["cycle", "cycle"]
    assert result.errors[0].message == "node a (test.Add): is in a cycle through nodes a, b, c"
    assert result.errors[1].message == "node z (test.Add): is in a cycle through nodes z"


def test_reports_required_inputs_without_value_or_edge():
    """A required input with neither a data value nor an edge is an error; either one satisfies it."""
    g = t.graph({"n1": "Need", "n2": ("Need", {"x": 3}), "n3": "Need", "c": "Const"},
                ["c.output -> n3.x"])
    result = check(g)
    assert kinds(result) == ["missing_input"]
    assert result.errors[0].message == "node n1 (test.Need): required input 'x' has neither a value nor an edge"


def test_reports_clearly_incompatible_types_only():
    """str -> int and list[str] -> list[int] are mismatches; Any, unions and int -> float are fine."""
    bad = t.graph({"s": "Text", "n": "Need", "l": "Numbers", "i": "Ints"},
                  ["s.output -> n.x", "l.output -> i.values"])
    result = check(bad)
    assert kinds(result) == ["type_mismatch", "type_mismatch"]
    assert result.errors[0].message == (
        "node n (test.Need): input 'x' takes int but edge e0 brings str from output 'output' of node s")
    assert "takes list[int] but edge e1 brings list[str]" in result.errors[1].message
    fine = t.graph({"n": ("Need", {"x": 1}), "a": "Add", "c": "Const", "t": "Text", "i": "Ints",
                    "b": "Big"},
                   ["n.output -> a.a", "c.output -> a.b", "n.output -> i.maybe", "t.output -> c.value",
                    "b.output -> i.values"])
    assert check(fine).valid


def test_warns_about_control_edges_and_annotations():
    """Control edges are accepted with a warning; Comment and Group nodes are skipped."""
    g = t.graph({"c": "Const", "a": "Add", "note": ("nodetool.workflows.base_node.Comment", {}),
                 "grp": ("nodetool.workflows.base_node.Group", {})}, [])
    g.edges.append(GraphEdge(id="k", source="c", source_handle="__control__", target="a",
                             target_handle="__control__", edge_type="control"))
    g.edges.append(GraphEdge(id="n", source="note", source_handle="x", target="a", target_handle="a"))
    result = check(g)
    assert result.valid
    assert [i.kind for i in result.warnings] == ["control_edge", "annotation_edge"]
    assert result.warnings[0].message == "node a (test.Add): control edge k from node c is accepted but not acted on"
    assert result.as_dict()["warnings"][1].startswith("node a (test.Add): edge n from node note")


def test_refuses_graphs_over_the_limits():
    """Graphs with more nodes or edges than the limits are refused, cheaply."""
    g = t.graph({f"n{i}": "Const" for i in range(11)}, ["n0.output -> n1.value"] * 3)
    result = check(g, limits=EngineLimits(max_nodes=10, max_edges=2))
    assert kinds(result) == ["too_large", "too_large"]
    assert result.errors[0].message == "the graph has 11 nodes; the limit is 10"
    assert result.errors[1].message == "the graph has 3 edges; the limit is 2"
    assert check(g, limits=EngineLimits(max_nodes=11, max_edges=3)).valid


def test_checks_params_and_input_names():
    """Unknown params name the known inputs; duplicate and missing input names are flagged."""
    g = t.graph({"i1": ("nodetool.input.TextIn", {"name": "text"}),
                 "i2": ("nodetool.input.IntIn", {"name": "count"}),
                 "i3": ("nodetool.input.IntIn", {"name": "count"}),
                 "i4": ("nodetool.input.IntIn", {})})
    result = check(g, params={"text": "x", "colour": "red"})
    assert kinds(result) == ["duplicate_input", "unknown_param"]
    assert result.errors[0].message == "node i3 (nodetool.input.IntIn): input name 'count' is also used by node i2"
    assert result.errors[1].message == "unknown param 'colour': the workflow's inputs are count, text"
    assert result.errors[1].node_id is None
    assert [i.kind for i in result.warnings] == ["unnamed_input"]


def test_checks_the_type_of_each_param():
    """A param its input node's value does not take is an error naming the param and the type."""
    g = t.graph({"i1": ("nodetool.input.TextIn", {"name": "text"}),
                 "i2": ("nodetool.input.IntIn", {"name": "count"})})
    result = check(g, params={"text": 5, "count": "many"})
    assert kinds(result) == ["param_type", "param_type"]
    assert result.errors[0].node_id == "i1"
    assert result.errors[0].message.startswith("param 'text' must be str, not int: ")
    assert result.errors[1].message.startswith("param 'count' must be int, not str: ")
    assert result.describe().startswith("invalid params: param 'text' must be str")
    assert check(g, params={"text": "x", "count": "3"}).valid  # what the run would accept


def test_reports_duplicate_node_ids():
    """Two nodes with one id are an error naming it."""
    g = Graph(nodes=[GraphNode(id="x", type="test.Const"), GraphNode(id="x", type="test.Add")])
    assert check(g).errors[0].message == "node x (test.Add): another node has the same id"


def test_names_unknown_library_types_in_a_real_workflow():
    """A real NodeTool file whose types a registry lacks fails with each type named."""
    wf = load_workflow(example("Filter JSON Data"))
    result = validate_graph(wf.graph, REG)
    assert not result.valid
    messages = result.as_dict()["errors"]
    assert "node 3 (nodetool.json.ParseList): unknown node type" in messages
    assert "node 4 (nodetool.list.FilterDicts): unknown node type" in messages
    assert not any("Comment" in m for m in messages)
    assert result.summary == {"total_nodes": 6, "total_edges": 4}
