"""Loading NodeTool workflow files: real exports, older files, bare graphs, malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodetool_gateway.engine import Graph, GraphNode, Workflow, WorkflowError, load_graph, load_workflow

EXAMPLES = Path(__file__).parent.parent / "data" / "nodetool-examples"


def example(name: str) -> Path:
    return EXAMPLES / f"{name}.json"


def test_loads_a_current_nodetool_export():
    """A current export loads with its metadata, nodes, edges and schemas."""
    wf = load_workflow(example("Conditional Logic Engine"))
    assert isinstance(wf, Workflow)
    assert wf.name == "Conditional Logic Engine"
    assert wf.id == "" and wf.tags == ["boolean"]  # this export has an empty id
    assert len(wf.graph.nodes) == 13 and len(wf.graph.edges) == 22
    fmt = next(n for n in wf.graph.nodes if n.id == "2")
    assert fmt.type == "nodetool.text.FormatText"
    assert "gt_100" in fmt.dynamic_properties
    assert fmt.sync_mode == "on_any"
    edge = wf.graph.edges[0]
    assert (edge.source, edge.source_handle, edge.target, edge.target_handle) == ("3", "output", "2", "value")
    assert edge.edge_type == "data"
    assert wf.input_schema["properties"]["value"]["type"] == "integer"
    assert wf.raw["package_name"]


def test_loads_an_older_file_without_sync_mode_or_schemas():
    """An older file lacking sync_mode, dynamic_outputs and schemas gets defaults."""
    wf = load_workflow(example("Filter JSON Data"))
    assert wf.input_schema is None and wf.output_schema is None
    assert all(n.sync_mode == "on_any" and n.dynamic_outputs == {} for n in wf.graph.nodes)
    assert [n.type for n in wf.graph.nodes][:3] == [
        "nodetool.workflows.base_node.Comment", "nodetool.input.StringInput", "nodetool.json.ParseList"]
    assert wf.graph.edges[0].id == "e2-3"


def test_loads_every_example_from_text_bytes_and_path():
    """Every example loads the same from a path, JSON text, bytes and a dict."""
    files = sorted(p for p in EXAMPLES.glob("*.json") if p.name != "expected.json")
    assert len(files) >= 3
    for path in files:
        text = path.read_text(encoding="utf-8")
        loaded = [load_workflow(path), load_workflow(text), load_workflow(text.encode()),
                  load_workflow(json.loads(text)), load_workflow(str(path))]
        assert len({(len(w.graph.nodes), len(w.graph.edges), w.id) for w in loaded}) == 1


def test_tolerates_missing_and_extra_fields():
    """Minimal nodes and unknown fields load; absent metadata becomes empty."""
    wf = load_workflow({"graph": {"nodes": [{"id": 1, "type": "test.Const", "color": "red"}],
                                  "edges": []},
                        "surprise": True})
    assert (wf.id, wf.name, wf.description, wf.tags) == ("", "", "", [])
    assert wf.graph.nodes == [GraphNode(id="1", type="test.Const")]
    assert wf.raw["surprise"] is True


def test_accepts_a_bare_graph():
    """A bare {nodes, edges} graph loads as a workflow with empty metadata."""
    wf = load_workflow({"nodes": [{"id": "a", "type": "x.Y", "data": None}],
                        "edges": [{"source": "a", "source_handle": "output", "target": "a",
                                   "target_handle": "value", "edge_type": "control"}]})
    assert wf.graph.nodes[0].data == {}
    assert wf.graph.edges[0].edge_type == "control"
    assert load_graph({"nodes": [], "edges": []}) == Graph()


@pytest.mark.parametrize("doc, fragment", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ({"name": "x"}, "neither 'graph' nor 'nodes'"),
    ({"graph": {"nodes": {}, "edges": []}}, "'graph.nodes' must be a list"),
    ({"graph": {"nodes": [{"id": "7"}], "edges": []}}, "graph.nodes[0] (node 7): 'type'"),
    ({"graph": {"nodes": [{"type": "a.B"}], "edges": []}}, "graph.nodes[0].id"),
    ({"graph": {"nodes": [{"id": "7", "type": "a.B", "sync_mode": "sometimes"}]}}, "sync_mode"),
    ({"graph": {"nodes": [{"id": "7", "type": "a.B", "data": [1]}]}}, "'data' must be an object"),
    ({"nodes": [], "edges": [{"id": "e1", "source": "a", "target": "b", "sourceHandle": "output"}]},
     "edges[0] (edge e1): 'targetHandle'"),
    ({"nodes": [], "edges": [{"source": "a", "target": "b", "sourceHandle": "o",
                              "targetHandle": "i", "edge_type": "weird"}]}, "edge_type"),
])
def test_rejects_malformed_input_naming_the_place(doc, fragment):
    """Malformed input raises WorkflowError naming the node, edge or field."""
    with pytest.raises(WorkflowError) as exc:
        load_workflow(doc)
    assert fragment in str(exc.value)
    assert exc.value.kind == "malformed" and exc.value.result is None


def test_reports_an_unreadable_path(tmp_path):
    """A path that cannot be read raises WorkflowError naming it."""
    missing = tmp_path / "nope.json"
    with pytest.raises(WorkflowError, match="nope.json"):
        load_workflow(missing)


def test_round_trips_through_to_dict():
    """Graph.to_dict gives NodeTool's shape back."""
    wf = load_workflow(example("Evaluate Expression"))
    again = load_graph(wf.graph.to_dict())
    assert again == wf.graph
