"""Every built-in command through a real session: local gateway, node and operator on loopback.

Real stores in tmp_path: a workflow folder, SQLite jobs and assets, a Hugging Face
cache laid out on disk, an Ollama-compatible HTTP server, a ChromaDB store.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path

import pytest
from conftest import TIME, node_config, serving
from stores.test_collections import chroma_path  # noqa: F401  (fixture)
from stores.test_models import hf_cache, ollama  # noqa: F401  (fixtures)

from nodetool_gateway import GatewayClient
from nodetool_gateway.gateway import OperatorClient

EXAMPLES = Path(__file__).parent / "data" / "nodetool-examples"
FILTER_ID = json.loads((EXAMPLES / "Filter JSON Data.json").read_text())["id"]

SLOW_GRAPH = {
    "nodes": [
        {"id": "n", "type": "nodetool.input.IntegerInput", "data": {"name": "n", "value": 3}},
        {"id": "range", "type": "nodetool.list.ListRange", "data": {"start": 0, "step": 1}},
        {"id": "each", "type": "nodetool.control.ForEach", "data": {}},
        {"id": "wait", "type": "nodetool.code.EvaluateExpression",
         "data": {"expression": "sum(range(200000)) and x", "variables": {}}},
        {"id": "vars", "type": "nodetool.dictionary.MakeDictionary", "data": {},
         "dynamic_properties": {"x": 0}},
        {"id": "collect", "type": "nodetool.control.Collect", "data": {}},
        {"id": "out", "type": "nodetool.output.Output", "data": {"name": "values"}},
    ],
    "edges": [
        {"source": "n", "sourceHandle": "output", "target": "range", "targetHandle": "stop"},
        {"source": "range", "sourceHandle": "output", "target": "each", "targetHandle": "input_list"},
        {"source": "each", "sourceHandle": "output", "target": "vars", "targetHandle": "x"},
        {"source": "vars", "sourceHandle": "output", "target": "wait", "targetHandle": "variables"},
        {"source": "wait", "sourceHandle": "output", "target": "collect", "targetHandle": "input_item"},
        {"source": "collect", "sourceHandle": "output", "target": "out", "targetHandle": "value"},
    ],
}


class Setup:
    def __init__(self, op: OperatorClient, client: GatewayClient, root: Path):
        self.op = op
        self.client = client
        self.root = root

    async def ok(self, command: str, **args):
        answer = await self.op.call(command, args, timeout=30 * TIME)
        assert answer["status"] == "success", answer
        return answer["result"]

    async def error(self, command: str, **args) -> dict:
        answer = await self.op.call(command, args, timeout=30 * TIME)
        assert answer["status"] == "error", answer
        return answer


@pytest.fixture
async def node(tmp_path, hf_cache, ollama, chroma_path):  # noqa: F811
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(EXAMPLES / "Filter JSON Data.json", workflows / "filter.json")
    (workflows / "slow.json").write_text(json.dumps(
        {"id": "slow", "name": "Slow Counter", "description": "counts, slowly", "tags": ["test"],
         "graph": SLOW_GRAPH}))
    (workflows / "broken.json").write_text("{ not json")
    cfg = node_config("ws://127.0.0.1:1", storage={"path": str(tmp_path / "storage")},
                      workflows={"paths": [str(workflows)]},
                      models={"hf_cache": str(hf_cache), "ollama_url": ollama,
                              "list": [{"id": "mine", "name": "My Model", "type": "llm"}]},
                      collections={"path": str(chroma_path)})
    async with serving(cfg) as (op, client):
        yield Setup(op, client, tmp_path)


async def test_list_and_get_workflows(node):
    """list_workflows shows folder and bundled workflows; get_workflow returns graph and schemas."""
    result = await node.ok("list_workflows")
    names = {w["name"] for w in result["workflows"]}
    assert {"Filter JSON Data", "Slow Counter", "Word Stats", "Conditional Logic Engine"} <= names
    assert result["total"] == len(result["workflows"])
    for w in result["workflows"]:
        assert set(w) >= {"id", "name", "description", "tags", "created_at", "updated_at"}
    found = await node.ok("list_workflows", query="slow")
    assert [w["id"] for w in found["workflows"]] == ["slow"]
    assert len((await node.ok("list_workflows", limit=2))["workflows"]) == 2
    wf = await node.ok("get_workflow", workflow_id="word-stats")
    assert wf["graph"]["nodes"] and wf["input_schema"]["properties"]["text"]["type"] == "string"
    assert set(wf["output_schema"]["properties"]) == {"lengths", "count", "longest"}
    missing = await node.error("get_workflow", workflow_id="nope")
    assert missing["code"] == "NOT_FOUND"
    assert (await node.error("get_workflow"))["code"] == "INVALID_ARGS"
    assert (await node.error("list_workflows", limit="many"))["code"] == "INVALID_ARGS"


async def test_run_workflow_streams_and_records_a_job(node):
    """run_workflow streams updates, answers outputs and job id, and the job is recorded."""
    updates = []
    answer = await node.op.call("run_workflow", {"workflow_id": FILTER_ID, "params": {
        "json_string": json.dumps([{"name": "A", "age": 40}, {"name": "B", "age": 3}])}},
        timeout=30 * TIME, on_update=updates.append)
    assert answer["status"] == "success"
    result = answer["result"]
    # The example shows its result in a Preview: a preview_update, not a job output.
    previews = [u["data"]["value"] for u in updates
                if u["type"] == "workflow_update" and u["update_type"] == "preview_update"]
    assert [json.loads(v) for v in previews] == [[{"name": "A", "age": 40}]]
    assert "Filtered JSON" not in result["outputs"]
    kinds = [u["update_type"] for u in updates if u["type"] == "workflow_update"]
    assert kinds[0] == "job_update" and kinds[-1] == "job_update" and "preview_update" in kinds
    assert all(u["job_id"] == result["job_id"] for u in updates if u["type"] == "workflow_update")
    job = await node.ok("get_job", job_id=result["job_id"])
    assert job["status"] == "completed" and job["workflow_id"] == FILTER_ID
    assert job["params"]["json_string"].startswith("[")
    logs = await node.ok("get_job_logs", job_id=result["job_id"])
    assert logs["job_id"] == result["job_id"] and logs["logs"][-1]["content"] == "job completed"
    jobs = (await node.ok("list_jobs", workflow_id=FILTER_ID))["jobs"]
    assert [j["id"] for j in jobs] == [result["job_id"]]
    assert (await node.ok("list_jobs", status="failed"))["jobs"] == []


async def test_run_inline_graph_and_failures(node):
    """An inline graph runs; a failing node is an error naming the node; bad params are INVALID_ARGS."""
    graph = {"nodes": [
        {"id": "a", "type": "nodetool.constant.Integer", "data": {"value": 6}},
        {"id": "d", "type": "lib.math.Divide", "data": {"b": 0}},
        {"id": "o", "type": "nodetool.output.Output", "data": {"name": "q"}}],
        "edges": [{"source": "a", "sourceHandle": "output", "target": "d", "targetHandle": "a"},
                  {"source": "d", "sourceHandle": "output", "target": "o", "targetHandle": "value"}]}
    failed = await node.error("run_workflow", graph=graph)
    assert failed["code"] == "HANDLER_ERROR" and "(d)" in failed["error"]
    assert failed["details"]["node_id"] == "d" and failed["details"]["status"] == "failed"
    job = await node.ok("get_job", job_id=failed["details"]["job_id"])
    assert job["status"] == "failed" and "(d)" in job["error"]
    graph["nodes"][1]["data"]["b"] = 3
    assert (await node.ok("run_workflow", graph=graph))["outputs"] == {"q": [2.0]}
    bad = await node.error("run_workflow", workflow_id="word-stats", params={"words": "x"})
    assert bad["code"] == "INVALID_ARGS" and "text" in bad["error"]
    assert (await node.error("run_workflow", workflow_id="nope"))["code"] == "NOT_FOUND"
    assert (await node.error("run_workflow", workflow_id="word-stats", params=[1]))["code"] == "INVALID_ARGS"


async def test_validate_workflow(node):
    """validate_workflow names every problem with its node id."""
    good = await node.ok("validate_workflow", workflow_id="Conditional Logic Engine")
    assert good["valid"] is True and good["summary"] == {"total_nodes": 13, "total_edges": 22}
    bad = await node.ok("validate_workflow", graph={"nodes": [
        {"id": "x", "type": "nodetool.nope.Thing", "data": {}},
        {"id": "o", "type": "nodetool.output.Output", "data": {"name": "o"}}],
        "edges": [{"source": "ghost", "sourceHandle": "output", "target": "o", "targetHandle": "value"}]})
    assert bad["valid"] is False
    text = " ".join(bad["errors"])
    assert "node x (nodetool.nope.Thing)" in text and "ghost" in text
    assert (await node.error("validate_workflow", workflow_id="nope"))["code"] == "NOT_FOUND"


async def test_background_job_runs_on(node):
    """start_background_job answers at once; the job finishes on its own."""
    started = await node.ok("start_background_job", workflow_id="word-stats",
                            params={"text": "one two"})
    assert started["status"] == "running" and started["workflow_id"] == "word-stats"
    while (job := await node.ok("get_job", job_id=started["job_id"]))["status"] == "running":
        await asyncio.sleep(0.02)
    assert job["status"] == "completed" and job["outputs"]["count"] == [2]
    assert (await node.error("start_background_job", workflow_id="nope"))["code"] == "NOT_FOUND"
    assert (await node.error("get_job", job_id="nope"))["code"] == "NOT_FOUND"
    assert (await node.error("get_job_logs", job_id="nope"))["code"] == "NOT_FOUND"
    assert (await node.error("get_job"))["code"] == "INVALID_ARGS"


async def test_cancel_a_running_workflow(node):
    """cancel_request stops a run: answered CANCELLED and the job says cancelled."""
    updates: list[dict] = []
    started = asyncio.Event()

    def seen(frame: dict) -> None:
        updates.append(frame)
        if frame.get("update_type") == "node_update":
            started.set()

    rid = await node.op.request({"type": "command_request", "command": "run_workflow",
                                 "args": {"workflow_id": "slow", "params": {"n": 100000}}},
                                on_update=seen)
    await asyncio.wait_for(started.wait(), 10 * TIME)
    await node.op.cancel(rid)
    answer = await node.op.result(rid, timeout=10 * TIME)
    assert answer["status"] == "error" and answer["code"] == "CANCELLED"
    job_id = next(u["job_id"] for u in updates if u.get("job_id"))
    job = await node.ok("get_job", job_id=job_id)
    assert job["status"] == "cancelled"


async def test_assets(node):
    """list_assets and get_asset see files added to the store; small content comes inline."""
    store = node.client._get_backend().assets
    folder = store.add_folder("docs")
    note = store.add(b"hello asset", name="note.txt", parent_id=folder["id"])
    store.add(bytes(300 * 1024), name="big.bin")
    top = await node.ok("list_assets")
    assert {a["name"] for a in top["assets"]} == {"docs", "big.bin"} and top["total"] == 2
    inside = await node.ok("list_assets", parent_id=folder["id"])
    assert [a["name"] for a in inside["assets"]] == ["note.txt"]
    assert (await node.ok("list_assets", query="note"))["total"] == 1
    assert (await node.ok("list_assets", content_type="text/plain"))["assets"][0]["id"] == note["id"]
    got = await node.ok("get_asset", asset_id=note["id"])
    assert base64.b64decode(got["content"]) == b"hello asset" and got["size"] == 11
    big = (await node.ok("list_assets", query="big"))["assets"][0]
    assert "content" not in await node.ok("get_asset", asset_id=big["id"])
    assert (await node.error("get_asset", asset_id="nope"))["code"] == "NOT_FOUND"


async def test_node_types(node):
    """list_nodes, search_nodes and get_node_info describe the registry."""
    text = await node.ok("list_nodes", namespace="nodetool.text")
    text_nodes = text["nodes"]
    assert text_nodes and all(n["namespace"] == "nodetool.text" for n in text_nodes)
    assert text["total"] == len(text_nodes)
    assert set(text_nodes[0]) == {"type", "title", "description", "namespace", "deprecated"}
    assert len((await node.ok("list_nodes", limit=5))["nodes"]) == 5
    found = await node.ok("search_nodes", query="format text")
    assert found[0]["type"] == "nodetool.text.FormatText"
    assert len(await node.ok("search_nodes", query=["list"], n_results=3)) == 3
    info = await node.ok("get_node_info", node_type="nodetool.boolean.Compare")
    assert info["node_type"] == "nodetool.boolean.Compare"
    props = {p["name"]: p for p in info["properties"]}
    assert props["comparison"]["default"] == "==" and "a" in props
    assert info["outputs"] == [{"name": "output", "type": "bool"}]
    assert (await node.ok("get_node_info", node_type="nodetool.json.ParseList"))["node_type"] == "lib.json.ParseList"
    assert (await node.error("get_node_info", node_type="x.Y"))["code"] == "NOT_FOUND"
    assert (await node.error("search_nodes"))["code"] == "INVALID_ARGS"


async def test_deprecated_node_types(node):
    """A type NodeTool has removed is marked deprecated, warned about, and still runs."""
    info = await node.ok("get_node_info", node_type="lib.http.GetRequest")
    assert info["deprecated"] is True
    assert info["deprecation"].startswith("removed in NodeTool's TypeScript runtime (nodetool-ai/nodetool@")
    assert info["deprecation"].endswith("; use lib.http.GetText")
    current = await node.ok("get_node_info", node_type="nodetool.text.FormatText")
    assert current["deprecated"] is False and "deprecation" not in current
    listed = {n["type"]: n["deprecated"] for n in
              (await node.ok("list_nodes", namespace="lib.http", limit=500))["nodes"]}
    # NodeTool's newest runtime names (lib-http.ts) are current; every older name is not.
    assert {t for t, deprecated in listed.items() if not deprecated} == {
        f"lib.http.{n}" for n in ("GetText", "GetJSON", "GetBytes", "Post", "Put", "Patch", "Delete")}
    assert listed["lib.http.GetRequest"] is True and len(listed) == 23
    texts = (await node.ok("list_nodes", namespace="nodetool.text", limit=500))["nodes"]
    assert texts and not any(n["deprecated"] for n in texts)
    found = await node.ok("search_nodes", query="GroupInput")
    assert found[0]["type"] == "nodetool.input.GroupInput" and found[0]["deprecated"] is True
    # Still loadable: a workflow using one validates, with a warning (tests/web runs them).
    graph = {"nodes": [
        {"id": "g", "type": "lib.http.GetRequest", "data": {"url": "https://example.com/"}},
        {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}}],
        "edges": [{"source": "g", "sourceHandle": "output", "target": "o", "targetHandle": "value"}]}
    checked = await node.ok("validate_workflow", graph=graph)
    assert checked["valid"] is True and checked["errors"] == []
    assert [w for w in checked["warnings"] if "deprecated" in w] == [
        "node g (lib.http.GetRequest): deprecated: " + info["deprecation"]]


async def test_list_nodes_pages_through_every_type(node):
    """list_nodes answers a total beyond its default page, and offset pages reach every type."""
    first = await node.ok("list_nodes")
    total = first["total"]
    assert total > len(first["nodes"]) == 100
    seen = []
    while len(seen) < total:
        page = await node.ok("list_nodes", offset=len(seen), limit=40)
        assert page["total"] == total and page["nodes"]
        seen += [n["type"] for n in page["nodes"]]
    assert len(seen) == len(set(seen)) == total and seen == sorted(seen)
    assert seen[:100] == [n["type"] for n in first["nodes"]]
    assert (await node.ok("list_nodes", offset=total))["nodes"] == []
    negative = await node.error("list_nodes", offset=-1)
    assert negative["code"] == "INVALID_ARGS" and "offset" in negative["error"]


async def test_list_workflows_and_assets_page_by_offset(node):
    """list_workflows and list_assets take offset as list_nodes does, with the same total."""
    everything = await node.ok("list_workflows")
    rest = await node.ok("list_workflows", offset=2, limit=100)
    assert rest["total"] == everything["total"]
    assert [w["id"] for w in rest["workflows"]] == [w["id"] for w in everything["workflows"]][2:]
    store = node.client._get_backend().assets
    names = [store.add(b"x", name=f"file-{i}.txt")["name"] for i in range(5)]
    page = await node.ok("list_assets", offset=3, limit=1)
    assert page["total"] == 5 and [a["name"] for a in page["assets"]] == names[3:4]


async def test_job_commands_see_only_the_users_jobs(node):
    """list_jobs, get_job and get_job_logs show the node user's jobs; another user's are NOT_FOUND."""
    mine = (await node.ok("run_workflow", workflow_id="word-stats", params={"text": "a b"}))["job_id"]
    jobs = node.client._get_backend().jobs
    jobs.create("theirs", "word-stats", {"text": "secret"}, user_id="someone-else")
    jobs.add_log("theirs", "their log line")
    jobs.finish("theirs", "completed", outputs={"count": 1})
    assert [j["id"] for j in (await node.ok("list_jobs"))["jobs"]] == [mine]
    assert [j["id"] for j in (await node.ok("list_jobs", workflow_id="word-stats"))["jobs"]] == [mine]
    assert (await node.ok("get_job", job_id=mine))["user_id"] == "1"
    assert (await node.error("get_job", job_id="theirs"))["code"] == "NOT_FOUND"
    assert (await node.error("get_job_logs", job_id="theirs"))["code"] == "NOT_FOUND"
    assert jobs.get("theirs")["status"] == "completed"  # kept, only not shown


async def test_background_job_params_are_checked_before_it_starts(node):
    """start_background_job refuses what run_workflow refuses, before answering, and starts nothing."""
    unknown = await node.error("start_background_job", workflow_id="word-stats", params={"words": "x"})
    assert unknown["code"] == "INVALID_ARGS" and "unknown param 'words'" in unknown["error"]
    wrong = await node.error("start_background_job", workflow_id="word-stats", params={"text": 5})
    assert wrong["code"] == "INVALID_ARGS" and "param 'text' must be str" in wrong["error"]
    assert (await node.ok("list_jobs"))["jobs"] == []


async def test_a_param_of_the_wrong_type_is_invalid_args(node):
    """A workflow param of the wrong type is INVALID_ARGS naming the param and its type."""
    wrong = await node.error("run_workflow", workflow_id="word-stats", params={"text": 5})
    assert wrong["code"] == "INVALID_ARGS", wrong
    assert "param 'text' must be str, not int" in wrong["error"]
    checked = await node.ok("run_workflow", workflow_id="word-stats", params={"text": "one two"})
    assert checked["outputs"]["count"] == [2]
    limit = await node.error("list_jobs", limit="ten")
    assert limit["code"] == "INVALID_ARGS" and "limit" in limit["error"] and "integer" in limit["error"]


async def test_models(node):
    """list_models reports the Hugging Face cache, Ollama and the config, with filters."""
    models = await node.ok("list_models")
    by_provider = {}
    for m in models:
        by_provider.setdefault(m["provider"], set()).add(m["id"])
        assert set(m) >= {"id", "name", "repo_id", "type", "provider", "downloaded", "size_on_disk", "path"}
    assert "acme/tiny-llama" in by_provider["huggingface"]
    assert by_provider["ollama"] == {"llama3.2:latest", "all-minilm:latest"}
    assert by_provider["local"] == {"mine"}
    ollama_only = await node.ok("list_models", provider="ollama")
    assert {m["provider"] for m in ollama_only} == {"ollama"}
    assert len(await node.ok("list_models", limit=1)) == 1
    assert (await node.error("list_models", limit="x"))["code"] == "INVALID_ARGS"


async def test_collections(node):
    """list_collections and get_collection read the ChromaDB store."""
    result = await node.ok("list_collections")
    assert result["count"] == 2
    assert {c["name"]: c["count"] for c in result["collections"]} == {"docs": 3, "notes": 1}
    docs = await node.ok("get_collection", name="docs")
    assert docs == {"name": "docs", "metadata": {"topic": "manuals"}, "count": 3}
    assert (await node.error("get_collection", name="nope"))["code"] == "NOT_FOUND"
    assert (await node.error("get_collection"))["code"] == "INVALID_ARGS"


async def test_workflow_folder_is_watched(node):
    """A workflow file added to a watched folder is listed without a restart."""
    backend = node.client._get_backend()
    await asyncio.wait_for(backend.workflows.wait_watching(), 10 * TIME)
    before = backend.workflows.changed
    (node.root / "workflows" / "new.json").write_text(json.dumps(
        {"id": "fresh", "name": "Fresh", "graph": {"nodes": [], "edges": []}}))
    await backend.workflows.wait_changed(before, timeout=10 * TIME)
    ids = {w["id"] for w in (await node.ok("list_workflows"))["workflows"]}
    assert "fresh" in ids


async def test_node_types_from_config_modules(monkeypatch):
    """Node types from examples/my_nodes.py, named in nodes.modules, are listed and run."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent.parent / "examples"))
    cfg = node_config("ws://127.0.0.1:1", nodes={"modules": ["my_nodes"]})
    async with serving(cfg) as (op, _client):
        listed = (await op.call("list_nodes", {"namespace": "my_nodes"}))["result"]["nodes"]
        assert {n["type"] for n in listed} == {"my_nodes.Shout", "my_nodes.Clamp"}
        graph = {"nodes": [
            {"id": "s", "type": "my_nodes.Shout", "data": {"text": "hi", "marks": 2}},
            {"id": "c", "type": "my_nodes.Clamp", "data": {"value": 7, "high": 5}},
            {"id": "o1", "type": "nodetool.output.Output", "data": {"name": "loud"}},
            {"id": "o2", "type": "nodetool.output.Output", "data": {"name": "clamped"}}],
            "edges": [
                {"source": "s", "sourceHandle": "output", "target": "o1", "targetHandle": "value"},
                {"source": "c", "sourceHandle": "output", "target": "o2", "targetHandle": "value"}]}
        answer = await op.call("run_workflow", {"graph": graph})
        assert answer["result"]["outputs"] == {"loud": ["HI!!"], "clamped": [5.0]}
        logs = (await op.call("get_job_logs", {"job_id": answer["result"]["job_id"]}))["result"]
        assert any(line["content"] == "shouting 2 characters" and line["node_id"] == "s"
                   for line in logs["logs"])
