"""Running graphs: order, concurrency, streams, sync modes, sinks, params, failure, cancellation, events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nodetool_gateway.engine import (
    EngineLimits,
    GraphEdge,
    RunResult,
    WorkflowError,
    load_workflow,
    run_workflow,
)

from . import nodes as t

REG = t.registry()


async def run(g, **kw) -> tuple[RunResult, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    kw.setdefault("registry", REG)
    result = await run_workflow(g, on_event=events.append, **kw)
    return result, events


def statuses(events, node_id: str) -> list[str]:
    return [e["status"] for e in events if e["type"] == "node_update" and e["node_id"] == node_id]


def index_of(events, node_id: str, status: str) -> int:
    return next(i for i, e in enumerate(events)
                if e["type"] == "node_update" and e["node_id"] == node_id and e["status"] == status)


async def test_runs_nodes_in_dependency_order():
    """Each node runs once, after every node it depends on has completed."""
    g = t.graph({"o": ("nodetool.output.Output", {"name": "sum"}), "add": "Add",
                 "c1": ("Const", {"value": 2}), "c2": ("Const", {"value": 3}),
                 "m": ("test.fn.Mul", {"b": 10})},
                ["add.output -> m.a", "c1.output -> add.a", "c2.output -> add.b", "m.output -> o.value"])
    result, events = await run(g)
    assert result.status == "completed" and result.outputs == {"sum": [50.0]}
    assert result.error is None and result.error_node_id is None
    for node_id in ("c1", "c2", "add", "m"):
        assert statuses(events, node_id) == ["running", "completed"]
    for before, after in [("c1", "add"), ("c2", "add"), ("add", "m"), ("m", "o")]:
        assert index_of(events, before, "completed") < index_of(events, after, "running")


async def test_runs_independent_branches_concurrently():
    """Two 0.2 s branches both start before either finishes: they run at once, not in turn."""
    g = t.graph({"s1": ("SlowAdd", {"a": 1}), "s2": ("SlowAdd", {"a": 2}),
                 "o1": ("nodetool.output.Output", {"name": "one"}), "o2": ("nodetool.output.Output", {"name": "two"})},
                ["s1.output -> o1.value", "s2.output -> o2.value"])
    result, events = await run(g)
    assert result.outputs == {"one": [1.0], "two": [2.0]}
    last_start = max(index_of(events, "s1", "running"), index_of(events, "s2", "running"))
    first_end = min(index_of(events, "s1", "completed"), index_of(events, "s2", "completed"))
    assert last_start < first_end


async def test_collects_a_stream_in_order():
    """A generator's items reach a Collect node, which emits them as one list in order."""
    g = t.graph({"n": ("Count", {"n": 4}), "col": "Collect", "o": ("nodetool.output.Output", {"name": "all"})},
                ["n.output -> col.input_item", "col.output -> o.value"])
    result, events = await run(g)
    assert result.outputs == {"all": [[0, 10, 20, 30]]}
    assert statuses(events, "col") == ["running", "completed"]


async def test_streams_from_a_plain_generator():
    """A synchronous gen_process streams like an async one."""
    g = t.graph({"n": ("SyncCount", {"n": 3}), "col": "Collect",
                 "o": ("nodetool.output.Output", {"name": "all"})},
                ["n.output -> col.input_item", "col.output -> o.value"])
    result, _ = await run(g)
    assert result.outputs == {"all": [[0, 1, 2]]}


async def test_runs_an_on_any_node_once_per_streamed_item():
    """A plain node downstream of a stream runs per item, reusing its other (constant) input."""
    g = t.graph({"n": ("Count", {"n": 3}), "one": ("Const", {"value": 1}), "add": "Add",
                 "o": ("nodetool.output.Output", {"name": "sums"}), "col": "Collect",
                 "o2": ("nodetool.output.Output", {"name": "collected"})},
                ["one.output -> add.b", "n.output -> add.a", "add.output -> o.value",
                 "add.output -> col.input_item", "col.output -> o2.value"])
    result, events = await run(g)
    assert statuses(events, "add") == ["running", "completed"] * 3
    assert result.outputs["sums"] == [1.0, 11.0, 21.0]
    # end-of-stream passes through the per-item node, so Collect finishes
    assert result.outputs["collected"] == [[1.0, 11.0, 21.0]]


async def test_lines_up_streams_with_zip_all_and_reuses_constants():
    """zip_all pairs the i-th items of two streams and reuses a non-streaming input each time."""
    g = t.graph({"x": ("Count", {"n": 3, "step": 1}), "y": ("Count", {"n": 4, "step": 100}),
                 "k": ("Const", {"value": "k"}), "z": "Triple", "col": "Collect",
                 "o": ("nodetool.output.Output", {"name": "rows"})},
                ["x.output -> z.a", "y.output -> z.b", "k.output -> z.c", "z.output -> col.input_item",
                 "col.output -> o.value"],
                z={"sync_mode": "zip_all"})
    result, _ = await run(g)
    assert result.outputs["rows"] == [[[0, 0, "k"], [1, 100, "k"], [2, 200, "k"]]]


async def test_zips_a_stream_with_its_own_index():
    """zip_all keeps each item with its own index; on_any would mix neighbours."""
    g = t.graph({"e": ("Each", {"input_list": ["a", "b", "c"]}), "z": "Triple", "col": "Collect",
                 "o": ("nodetool.output.Output", {"name": "rows"})},
                ["e.output -> z.a", "e.index -> z.b", "z.output -> col.input_item", "col.output -> o.value"],
                z={"sync_mode": "zip_all"})
    result, _ = await run(g)
    assert result.outputs["rows"] == [[["a", 0, None], ["b", 1, None], ["c", 2, None]]]


async def test_ends_an_empty_stream_without_running_consumers():
    """An empty stream ends downstream: Collect emits [] and per-item nodes never run."""
    g = t.graph({"n": ("Count", {"n": 0}), "col": "Collect", "add": "Add",
                 "o": ("nodetool.output.Output", {"name": "all"}), "o2": ("nodetool.output.Output", {"name": "sums"})},
                ["n.output -> col.input_item", "col.output -> o.value", "n.output -> add.a",
                 "add.output -> o2.value"])
    result, events = await run(g)
    assert result.status == "completed"
    assert result.outputs == {"all": [[]], "sums": []}
    assert statuses(events, "add") == []


async def test_routes_each_output_of_a_multi_output_node():
    """A node returning a TypedDict sends each key down its own handle."""
    g = t.graph({"sd": ("SumDiff", {"a": 5, "b": 3}), "s": ("nodetool.output.Output", {"name": "sum"}),
                 "d": ("nodetool.output.Output", {"name": "diff"})},
                ["sd.sum -> s.value", "sd.diff -> d.value"])
    result, events = await run(g)
    assert result.outputs == {"sum": [8.0], "diff": [2.0]}
    completed = [e for e in events if e.get("node_id") == "sd" and e.get("status") == "completed"]
    assert completed[0]["result"] == {"sum": 8.0, "diff": 2.0}


async def test_fills_dynamic_properties_from_edges_and_data():
    """A dynamic node gets edge values and its dynamic_properties by name; connected data is ignored."""
    g = t.graph({"c": ("Const", {"value": "world"}),
                 "f": ("Format", {"template": "{greeting}, {who}!", "who": "ignored"}),
                 "o": ("nodetool.output.Output", {"name": "text"})},
                ["c.output -> f.who", "f.output -> o.value"],
                f={"dynamic_properties": {"greeting": "Hello", "who": None}})
    result, _ = await run(g)
    assert result.outputs == {"text": ["Hello, world!"]}


async def test_ignores_data_for_connected_properties():
    """A connected property's value in data is ignored in favour of the edge."""
    g = t.graph({"c": ("Const", {"value": 1}), "a": ("Add", {"a": 100, "b": 2}),
                 "o": ("nodetool.output.Output", {"name": "r"})},
                ["c.output -> a.a", "a.output -> o.value"])
    result, _ = await run(g)
    assert result.outputs == {"r": [3.0]}


async def test_maps_params_to_input_nodes():
    """A param replaces its input node's value; inputs without a param keep theirs; types convert."""
    g = t.graph({"i": ("nodetool.input.TextIn", {"name": "text", "value": "default"}),
                 "n": ("nodetool.input.IntIn", {"name": "count", "value": 1}),
                 "o": ("nodetool.output.Output", {"name": "text"}), "o2": ("nodetool.output.Output", {"name": "count"})},
                ["i.output -> o.value", "n.output -> o2.value"])
    result, _ = await run(g, params={"count": "7"})
    assert result.outputs == {"text": ["default"], "count": [7]}
    result, _ = await run(g, params={"text": "given"})
    assert result.outputs == {"text": ["given"], "count": [1]}


async def test_refuses_unknown_params_before_any_event():
    """An unknown param raises WorkflowError naming the known inputs, and nothing runs."""
    g = t.graph({"i": ("nodetool.input.TextIn", {"name": "text"}), "o": ("nodetool.output.Output", {"name": "r"})},
                ["i.output -> o.value"])
    events: list[dict] = []
    with pytest.raises(WorkflowError) as exc:
        await run_workflow(g, registry=REG, params={"txt": 1}, on_event=events.append)
    assert exc.value.kind == "params"
    assert "unknown param 'txt': the workflow's inputs are text" in str(exc.value)
    assert exc.value.result is not None and not exc.value.result.valid
    assert events == []


async def test_refuses_an_invalid_workflow_before_any_event():
    """An invalid graph raises WorkflowError carrying the validation result."""
    g = t.graph({"4": ("nodetool.list.Nope", {})})
    events: list[dict] = []
    with pytest.raises(WorkflowError, match=r"node 4 \(nodetool.list.Nope\): unknown node type") as exc:
        await run_workflow(g, registry=REG, on_event=events.append)
    assert exc.value.kind == "invalid" and exc.value.result.errors[0].kind == "unknown_type"
    assert events == []


async def test_records_sink_values_through_their_process():
    """Sinks key values by name (else node id), run their process, and list several values;
    a Preview sends a preview_update instead of making an output."""
    g = t.graph({"c": ("Const", {"value": "hi"}), "u": ("nodetool.output.UpperOutput", {"name": "loud"}),
                 "anon": "nodetool.output.Output", "p": ("nodetool.workflows.base_node.Preview", {"name": "peek"}),
                 "n": ("Count", {"n": 3}), "many": ("nodetool.output.StringOutput", {"name": "many"}),
                 "none": "Nothing", "skip": ("nodetool.output.Output", {"name": "skipped"})},
                ["c.output -> u.value", "c.output -> anon.value", "c.output -> p.value",
                 "n.output -> many.value", "none.output -> skip.value"])
    result, events = await run(g)
    assert result.outputs == {"loud": ["HI"], "anon": ["hi"], "many": [0, 10, 20], "skipped": []}
    assert {"type": "preview_update", "node_id": "p", "value": "hi"} in events
    updates = [e for e in events if e["type"] == "output_update"]
    assert {"type": "output_update", "node_id": "u", "node_name": "Upper Out", "output_name": "loud",
            "value": "HI", "output_type": "upper"} in updates
    assert [e["value"] for e in updates if e["output_name"] == "many"] == [0, 10, 20]
    assert next(e for e in updates if e["node_id"] == "many")["output_type"] == "string"


async def test_fails_the_run_when_a_node_raises():
    """A raising node fails the run naming it, cancels the others, and never completes."""
    probe = t.Probe()
    g = t.graph({"f1": ("Fail", {"message": "boom"}), "b": ("Blocker", {"probe": probe}),
                 "c": ("Const", {"value": 1}), "after": "Add", "o": ("nodetool.output.Output", {"name": "r"})},
                ["c.output -> f1.value", "f1.output -> after.a", "after.output -> o.value"])
    result, events = await run(g)
    assert result.status == "failed"
    assert result.error == "Fail (f1): boom" and result.error_node_id == "f1"
    assert probe.cancelled == ["b"]
    assert statuses(events, "f1") == ["running", "error"]
    assert statuses(events, "after") == []
    error = next(e for e in events if e.get("status") == "error")
    assert error == {"type": "node_update", "node_id": "f1", "node_name": "Fail", "node_type": "test.Fail",
                     "status": "error", "error": "boom", "result": None}
    jobs = [e for e in events if e["type"] == "job_update"]
    assert [j["status"] for j in jobs] == ["running", "failed"]
    assert jobs[-1]["error"] == "Fail (f1): boom" and jobs[-1]["duration"] > 0


async def test_fails_on_a_bad_property_value_naming_the_node():
    """A data value the node's model refuses fails the run with the node id and property."""
    g = t.graph({"a": ("Add", {"a": "not a number"}), "o": ("nodetool.output.Output", {"name": "r"})},
                ["a.output -> o.value"])
    result, _ = await run(g)
    assert result.status == "failed" and result.error_node_id == "a"
    assert result.error.startswith("Add (a): invalid value for 'a': Input should be a valid number")


async def test_cancels_every_node_when_the_caller_cancels():
    """Cancelling the run stops every node task, sends job_update cancelled and re-raises."""
    probe = t.Probe()
    events: list[dict] = []
    g = t.graph({"b1": ("Blocker", {"probe": probe}), "b2": ("Blocker", {"probe": probe}),
                 "after": "Add"}, ["b1.output -> after.a"])
    task = asyncio.create_task(run_workflow(g, registry=REG, on_event=events.append))
    await asyncio.wait_for(probe.running.wait(), 5)
    while len(probe.started) < 2:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(probe.cancelled) == ["b1", "b2"]
    assert events[-1]["type"] == "job_update" and events[-1]["status"] == "cancelled"
    assert not any(e.get("status") == "completed" and e["type"] == "job_update" for e in events)
    assert statuses(events, "after") == []


async def test_fails_a_run_over_its_time_limit():
    """A run past max_run_time fails with a clear message and its nodes are cancelled."""
    probe = t.Probe()
    g = t.graph({"b": ("Blocker", {"probe": probe})})
    result, events = await run(g, limits=EngineLimits(max_run_time=0.05))
    assert result.status == "failed" and result.error == "run time limit of 0.05s exceeded"
    assert probe.cancelled == ["b"]
    assert events[-1]["status"] == "failed"


async def test_sends_events_in_order_with_nodetool_fields():
    """Events arrive in run order with NodeTool's field names."""
    g = t.graph({"c": ("Const", {"value": 4}), "o": ("nodetool.output.Output", {"name": "r"})},
                ["c.output -> o.value"])
    result, events = await run(g, job_id="job-1", workflow_id="wf-1")
    node = {"node_name": "Const", "node_type": "test.Const", "node_id": "c", "error": None}
    sink = {"node_name": "Out", "node_type": "nodetool.output.Output", "node_id": "o", "error": None}
    assert events[0] == {"type": "job_update", "status": "running", "job_id": "job-1",
                         "workflow_id": "wf-1", "message": None, "error": None, "duration": None}
    assert events[1:6] == [
        {"type": "node_update", "status": "running", "result": None, **node},
        {"type": "node_update", "status": "completed", "result": {"output": 4}, **node},
        {"type": "node_update", "status": "running", "result": None, **sink},
        {"type": "output_update", "node_id": "o", "node_name": "Out", "output_name": "r", "value": 4,
         "output_type": "any"},
        {"type": "node_update", "status": "completed", "result": {"value": 4}, **sink},
    ]
    final = events[6]
    assert final["type"] == "job_update" and final["status"] == "completed"
    assert final["result"] == {"outputs": {"r": [4]}} and final["error"] is None
    assert final["job_id"] == "job-1" and final["duration"] == pytest.approx(result.duration)
    assert len(events) == 7


async def test_sends_logs_and_progress_in_order_to_an_async_listener():
    """context.log and context.progress become log_update and node_progress, before completion."""
    seen: list[dict] = []

    async def listener(event: dict) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    g = t.graph({"ch": ("Chatty", {"steps": 2})})
    result = await run_workflow(g, registry=REG, on_event=listener)
    assert result.status == "completed"
    kinds = [(e["type"], e.get("status")) for e in seen]
    assert kinds == [("job_update", "running"), ("node_update", "running"), ("log_update", None),
                     ("node_progress", None), ("node_progress", None), ("log_update", None),
                     ("node_update", "completed"), ("job_update", "completed")]
    assert seen[2] == {"type": "log_update", "node_id": "ch", "node_name": "Chatty",
                       "content": "starting", "severity": "info"}
    assert seen[4] == {"type": "node_progress", "node_id": "ch", "progress": 2, "total": 2}
    assert seen[5]["severity"] == "warning"


async def test_accepts_logs_from_a_worker_thread():
    """context.log called from a worker thread is delivered on the loop, before completion."""
    g = t.graph({"th": "ThreadLog"})
    _, events = await run(g)
    assert [(e["type"], e.get("content")) for e in events[1:4]] == [
        ("node_update", None), ("log_update", "from a thread"), ("node_update", None)]


async def test_builds_only_the_events_asked_for():
    """The events filter limits which event types are sent."""
    g = t.graph({"ch": "Chatty", "o": ("nodetool.output.Output", {"name": "r"})}, ["ch.output -> o.value"])
    _, events = await run(g, events={"job_update", "output_update"})
    assert [e["type"] for e in events] == ["job_update", "output_update", "job_update"]
    with pytest.raises(ValueError, match="unknown event types"):
        await run(g, events={"everything"})


async def test_summarizes_large_node_results_in_events():
    """A node_update result over 2 KB of JSON is summarized; the output itself is whole."""
    g = t.graph({"b": ("Big", {"n": 5000}), "o": ("nodetool.output.Output", {"name": "r"})},
                ["b.output -> o.value"])
    result, events = await run(g)
    assert [len(value) for value in result.outputs["r"]] == [5000]
    done = events[index_of(events, "b", "completed")]
    assert done["result"] == {"output": "<list of 5000 items, truncated>"}


async def test_keeps_running_when_the_listener_raises():
    """A listener that raises does not break the run."""
    def broken(event: dict) -> None:
        raise RuntimeError("listener bug")

    g = t.graph({"c": ("Const", {"value": 1}), "o": ("nodetool.output.Output", {"name": "r"})},
                ["c.output -> o.value"])
    result = await run_workflow(g, registry=REG, on_event=broken)
    assert result.status == "completed" and result.outputs == {"r": [1]}


async def test_ignores_control_edges_and_comments_when_running():
    """Control edges and Comment nodes do not affect a run."""
    g = t.graph({"c": ("Const", {"value": 1}), "o": ("nodetool.output.Output", {"name": "r"}),
                 "note": ("nodetool.workflows.base_node.Comment", {"comment": "hello"})},
                ["c.output -> o.value"])
    g.edges.append(GraphEdge(id="k", source="o", source_handle="__control__", target="c",
                             target_handle="__control__", edge_type="control"))
    result, _ = await run(g)
    assert result.outputs == {"r": [1]}


async def test_runs_a_workflow_given_as_a_dict_or_a_loaded_file():
    """run_workflow takes a workflow dict, a Workflow and a Graph alike."""
    doc = {"id": "wf-9", "name": "tiny", "graph": {
        "nodes": [{"id": "c", "type": "test.Const", "data": {"value": 2}},
                  {"id": "o", "type": "nodetool.output.Output", "data": {"name": "r"}}],
        "edges": [{"id": "e", "source": "c", "sourceHandle": "output", "target": "o",
                   "targetHandle": "value"}]}}
    for workflow in (doc, load_workflow(doc), load_workflow(doc).graph):
        result, events = await run(workflow)
        assert result.outputs == {"r": [2]}
    assert events[0]["workflow_id"] is None  # a bare Graph carries no id
    _, events = await run(doc)
    assert events[0]["workflow_id"] == "wf-9"


def chain(n: int) -> dict:
    nodes = [{"id": "n0", "type": "test.Const", "data": {"value": 0}}]
    nodes += [{"id": f"n{i}", "type": "test.Add", "data": {"b": 1}} for i in range(1, n)]
    nodes.append({"id": "out", "type": "nodetool.output.Output", "data": {"name": "r"}})
    edges = [{"source": f"n{i - 1}", "sourceHandle": "output", "target": f"n{i}", "targetHandle": "a"}
             for i in range(1, n)]
    edges.append({"source": f"n{n - 1}", "sourceHandle": "output", "target": "out", "targetHandle": "value"})
    return {"nodes": nodes, "edges": edges}


async def test_runs_a_ten_thousand_node_chain():
    """A 10,000-node chain runs to the right answer (its speed: benchmarks/engine_overhead.py)."""
    result, events = await run(chain(10_000))
    assert result.status == "completed" and result.outputs == {"r": [9999.0]}
    assert len(events) == 2 * 10_000 + 3 + 2


async def test_runs_a_thousand_wide_fan_out_and_in():
    """One node feeding 1,000 nodes that all feed one Collect gives 1,000 results."""
    n = 1000
    nodes = {"c": ("Const", {"value": 1}), "col": "Collect", "o": ("nodetool.output.Output", {"name": "all"})}
    edges = ["col.output -> o.value"]
    for i in range(n):
        nodes[f"a{i}"] = ("Add", {"b": i})
        edges += [f"c.output -> a{i}.a", f"a{i}.output -> col.input_item"]
    result, _ = await run(t.graph(nodes, edges))
    assert result.status == "completed"
    assert [sorted(value) for value in result.outputs["all"]] == [[1.0 + i for i in range(n)]]


async def test_refuses_a_graph_over_max_nodes():
    """A graph with more nodes than max_nodes is refused before running."""
    with pytest.raises(WorkflowError, match="the graph has 101 nodes; the limit is 100") as exc:
        await run(chain(100), limits=EngineLimits(max_nodes=100))
    assert exc.value.result.errors[0].kind == "too_large"
