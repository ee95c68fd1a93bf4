"""NodeTool's value rules: no None down an edge, empty values keep properties, previews, group loops."""

from __future__ import annotations

from typing import Any

from nodetool_gateway.engine import GraphNode, default_registry, run_workflow

from . import nodes as t

REG = default_registry()


async def run(g, **kw) -> tuple[Any, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    result = await run_workflow(g, registry=REG, on_event=events.append, **kw)
    return result, events


def ran(events, node_id: str) -> bool:
    return any(e["type"] == "node_update" and e["node_id"] == node_id and e["status"] == "running"
               for e in events)


async def test_sends_no_none_down_an_edge():
    """A None output reaches no node: the node behind it does not run and no output is made."""
    g = t.graph({"d": ("nodetool.constant.Dict", {"value": {"a": 1}}),
                 "get": ("nodetool.dictionary.GetValue", {"key": "missing", "default": None}),
                 "fmt": ("nodetool.text.FormatText", {"template": "got {{ x }}"}),
                 "out": ("nodetool.output.Output", {"name": "out"})},
                ["d.output -> get.dictionary", "get.output -> fmt.x", "fmt.output -> out.value"])
    result, events = await run(g)
    assert result.status == "completed", result.error
    assert result.outputs == {"out": []}
    assert ran(events, "get") and not ran(events, "fmt")


async def test_keeps_the_property_value_on_an_empty_input():
    """An incoming [] or {} leaves the node's own property value in place."""
    g = t.graph({"empty": ("nodetool.constant.List", {"value": []}),
                 "none": ("nodetool.constant.Dict", {"value": {}}),
                 "len": ("nodetool.list.Length", {"values": [1, 2, 3]}),
                 "get": ("nodetool.dictionary.GetValue", {"dictionary": {"k": "own"}, "key": "k"}),
                 "n": ("nodetool.output.Output", {"name": "n"}),
                 "v": ("nodetool.output.Output", {"name": "v"})},
                ["empty.output -> len.values", "none.output -> get.dictionary",
                 "len.output -> n.value", "get.output -> v.value"])
    result, _ = await run(g)
    assert result.status == "completed", result.error
    assert result.outputs == {"n": [3], "v": ["own"]}


async def test_sends_previews_as_preview_updates_not_outputs():
    """A Preview sends NodeTool's preview_update and adds nothing to the job's outputs."""
    g = t.graph({"s": ("nodetool.constant.String", {"value": "hi"}),
                 "p": ("nodetool.workflows.base_node.Preview", {"name": "peek"}),
                 "o": ("nodetool.output.Output", {"name": "o"})},
                ["s.output -> p.value", "s.output -> o.value"])
    result, events = await run(g)
    assert result.outputs == {"o": ["hi"]}
    assert {"type": "preview_update", "node_id": "p", "value": "hi"} in events
    assert not any(e["type"] == "output_update" and e["node_id"] == "p" for e in events)


async def test_formats_single_brace_names():
    """FormatText fills {NAME} like {{ NAME }}; other single-brace text stays as it is."""
    g = t.graph({"f": ("nodetool.text.FormatText", {"template": "{name} and {{ name }}, {other}"}),
                 "s": ("nodetool.constant.String", {"value": "Ann"}),
                 "o": ("nodetool.output.Output", {"name": "o"})},
                ["s.output -> f.name", "f.output -> o.value"])
    result, _ = await run(g)
    assert result.outputs == {"o": ["Ann and Ann, {other}"]}


def loop_graph(items: Any, group_type: str = "nodetool.workflows.base_node.Group"):
    g = t.graph({"items": ("nodetool.constant.List", {"value": items}),
                 "ten": ("nodetool.constant.Integer", {"value": 10}),
                 "grp": (group_type, {}),
                 "gi": ("nodetool.input.GroupInput", {}),
                 "add": ("nodetool.math.Add", {}),
                 "go": ("nodetool.output.GroupOutput", {}),
                 "out": ("nodetool.output.Output", {"name": "sums"})},
                ["items.output -> grp.input", "gi.output -> add.a", "ten.output -> add.b",
                 "add.output -> go.input", "grp.output -> out.value"])
    for node in g.nodes:
        if node.id in ("gi", "add", "go"):
            node.parent_id = "grp"
    return g


async def test_runs_a_group_once_per_item_in_order():
    """A group with GroupInput/GroupOutput runs its members per item and lists the results in order."""
    result, events = await run(loop_graph([1, 2, 3]))
    assert result.status == "completed", result.error
    assert result.outputs == {"sums": [[11, 12, 13]]}
    assert sum(1 for e in events if e["type"] == "node_update" and e["node_id"] == "add"
               and e["status"] == "completed") == 3
    assert [e["status"] for e in events if e["type"] == "job_update"] == ["running", "completed"]


async def test_runs_the_older_loop_type_and_an_empty_list():
    """Runs nodetool.group.Loop the same way; an empty list gives an empty list."""
    result, _ = await run(loop_graph([5], "nodetool.group.Loop"))
    assert result.outputs == {"sums": [[15]]}
    result, events = await run(loop_graph([]))
    assert result.outputs == {"sums": [[]]} and not ran(events, "add")


async def test_loops_over_a_dictionary_as_key_value_pairs():
    """A dictionary input is looped over as its {key, value} pairs, as older NodeTool did."""
    g = t.graph({"d": ("nodetool.constant.Dict", {"value": {"a": 1, "b": 2}}),
                 "grp": ("nodetool.workflows.base_node.Group", {}),
                 "gi": ("nodetool.input.GroupInput", {}),
                 "key": ("nodetool.dictionary.GetValue", {"key": "key"}),
                 "go": ("nodetool.output.GroupOutput", {}),
                 "out": ("nodetool.output.Output", {"name": "keys"})},
                ["d.output -> grp.input", "gi.output -> key.dictionary", "key.output -> go.input",
                 "grp.output -> out.value"])
    for node in g.nodes:
        if node.id in ("gi", "key", "go"):
            node.parent_id = "grp"
    result, _ = await run(g)
    assert result.outputs == {"keys": [["a", "b"]]}


async def test_fails_the_group_when_a_member_fails():
    """A member's error fails the run at the group node, naming the member."""
    g = loop_graph(["x"])
    result, _ = await run(g)
    assert result.status == "failed" and result.error_node_id == "grp"
    assert "add" in (result.error or "")


async def test_leaves_a_group_without_group_input_an_annotation():
    """A group with no GroupInput inside is a frame: its members run as ordinary nodes."""
    g = t.graph({"s": ("nodetool.constant.String", {"value": "x"}),
                 "grp": ("nodetool.workflows.base_node.Group", {}),
                 "o": ("nodetool.output.Output", {"name": "o"})},
                ["s.output -> o.value"])
    g.nodes.append(GraphNode(id="inner", type="nodetool.constant.String", data={"value": "y"},
                             parent_id="grp"))
    result, _ = await run(g)
    assert result.status == "completed" and result.outputs == {"o": ["x"]}


async def test_values_that_come_before_the_other_inputs_each_get_a_run():
    """Values arriving on one handle before another handle has any are each run, first one
    first, as NodeTool's actor does; none is overwritten by the next."""
    g = t.graph({"nums": ("nodetool.constant.List", {"value": [1, 2, 3]}),
                 "each": ("nodetool.control.ForEach", {}),
                 "all": ("nodetool.control.Collect", {}),
                 "count": ("nodetool.list.Length", {}),
                 "add": ("nodetool.math.Add", {}),
                 "out": ("nodetool.output.Output", {"name": "out"})},
                ["nums.output -> each.input_list", "each.output -> add.a",
                 "each.output -> all.input_item", "all.output -> count.values",
                 "count.output -> add.b", "add.output -> out.value"])
    result, _ = await run(g)
    assert result.status == "completed", result.error
    # count (3) comes only after the stream has ended: every streamed value waited for it.
    assert result.outputs == {"out": [4, 5, 6]}
