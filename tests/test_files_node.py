"""File and asset node types through a real node: a local gateway, a node whose runs go to
worker processes, and an operator on loopback. What a run saves is listed by the node's
own list_assets and read back by get_asset (the worker writes the same SQLite file)."""

from __future__ import annotations

import base64
import datetime
import json
import re

import pytest
from conftest import TIME, node_config, serving


def _graph(*nodes: dict, edges: list[tuple[str, str, str, str]]) -> dict:
    return {"nodes": list(nodes),
            "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                      for s, sh, t, th in edges]}


# As NodeTool's 20 search examples use SaveJSON: an agent's text goes to `data`, and the
# name carries %Y%m%d-%H%M%S. The agent's text is a workflow input here (every one of
# those examples needs a model and a search API).
EXAMPLE_LIKE = _graph(
    {"id": "claude-agent", "type": "nodetool.input.StringInput",
     "data": {"name": "text", "value": "Top privacy tools: Signal, Tor."}},
    {"id": "save-analysis", "type": "nodetool.dictionary.SaveJSON",
     "data": {"name": "duckduckgo-analysis-%Y%m%d-%H%M%S.json"}},
    {"id": "report", "type": "nodetool.constant.Dict",
     "data": {"value": {"tools": ["Signal", "Tor"], "count": 2}}},
    {"id": "save-report", "type": "nodetool.dictionary.SaveJSON",
     "data": {"name": "report.json", "folder": "reports"}},
    {"id": "save-text", "type": "nodetool.text.SaveText",
     "data": {"text": "guide", "name": "travel-guide-%Y%m%d.html"}},
    {"id": "ref", "type": "nodetool.output.Output", "data": {"name": "ref"}},
    edges=[("claude-agent", "output", "save-analysis", "data"),
           ("report", "output", "save-report", "data"),
           ("save-report", "output", "ref", "value")])


@pytest.fixture
async def node(tmp_path):
    allowed = tmp_path / "exports"
    allowed.mkdir()
    cfg = node_config("ws://127.0.0.1:1", files={"allow": [str(allowed)]})
    assert cfg.engine.isolation == "process"
    async with serving(cfg) as (op, client):
        yield op, client, allowed


async def call(op, command: str, **args) -> dict:
    answer = await op.call(command, args, timeout=30 * TIME)
    assert answer["status"] == "success", answer
    return answer["result"]


async def test_saved_assets_show_in_list_assets(node):
    """A run in a worker saves JSON and text; list_assets and get_asset on the node see them."""
    op, client, _ = node
    assert client._get_backend().pool is not None  # runs go to worker processes
    today = datetime.datetime.now().strftime("%Y%m%d")
    result = await call(op, "run_workflow", graph=EXAMPLE_LIKE)
    [ref] = result["outputs"]["ref"]
    assert ref["type"] == "json" and ref["uri"] == f"asset://{ref['asset_id']}.json"

    top = await call(op, "list_assets")
    names = {a["name"]: a for a in top["assets"]}
    assert {"reports"} <= set(names) and names["reports"]["content_type"] == "folder"
    analysis = [n for n in names if n.startswith("duckduckgo-analysis-")]
    assert len(analysis) == 1
    assert re.fullmatch(r"duckduckgo-analysis-\d{8}-\d{6}\.json", analysis[0])
    assert analysis[0][20:28] in (today, datetime.datetime.now().strftime("%Y%m%d"))
    assert any(re.fullmatch(r"travel-guide-\d{8}\.html", n) for n in names)
    saved = await call(op, "get_asset", asset_id=names[analysis[0]]["id"])
    assert json.loads(base64.b64decode(saved["content"])) == "Top privacy tools: Signal, Tor."

    inside = await call(op, "list_assets", parent_id=names["reports"]["id"])
    assert [a["name"] for a in inside["assets"]] == ["report.json"]
    assert inside["assets"][0]["id"] == ref["asset_id"]
    report = await call(op, "get_asset", asset_id=ref["asset_id"])
    assert report["content_type"] == "application/json"
    assert json.loads(base64.b64decode(report["content"])) == {"tools": ["Signal", "Tor"], "count": 2}
    found = await call(op, "list_assets", content_type="text")
    assert [a["content_type"] for a in found["assets"]] == ["text/html"]


async def test_refusals_and_files_allow_through_the_node(node):
    """A path outside files.allow fails the run naming files.allow; inside it, the file is written."""
    op, _, allowed = node
    bad = _graph({"id": "save", "type": "nodetool.dictionary.SaveJSON",
                  "data": {"data": {"a": 1}, "folder": "../escape", "name": "x.json"}}, edges=[])
    answer = await op.call("run_workflow", {"graph": bad}, timeout=30 * TIME)
    assert answer["status"] == "error" and "files.allow" in answer["error"], answer
    bad["nodes"][0]["data"]["folder"] = "/etc"
    answer = await op.call("run_workflow", {"graph": bad}, timeout=30 * TIME)
    assert answer["status"] == "error" and "files.allow" in answer["error"], answer

    folder = {"id": "folder", "type": "nodetool.input.FolderPathInput",
              "data": {"name": "folder", "value": ""}}
    save = _graph(folder, {"id": "save", "type": "nodetool.dictionary.SaveJSON",
                           "data": {"data": {"a": 1}, "name": "x.json"}},
                  {"id": "out", "type": "nodetool.output.Output", "data": {"name": "ref"}},
                  edges=[("folder", "output", "save", "folder"), ("save", "output", "out", "value")])
    result = await call(op, "run_workflow", graph=save, params={"folder": str(allowed)})
    assert json.loads((allowed / "x.json").read_text()) == {"a": 1}
    [ref] = result["outputs"]["ref"]
    assert ref["uri"] == (allowed / "x.json").as_uri()
    listing = _graph(folder, {"id": "list", "type": "lib.os.ListFiles", "data": {"pattern": "*.json"}},
                     {"id": "collect", "type": "nodetool.control.Collect", "data": {}},
                     {"id": "out", "type": "nodetool.output.Output", "data": {"name": "files"}},
                     edges=[("folder", "output", "list", "folder"),
                            ("list", "file", "collect", "input_item"),
                            ("collect", "output", "out", "value")])
    result = await call(op, "run_workflow", graph=listing, params={"folder": str(allowed)})
    assert result["outputs"]["files"] == [[str(allowed / "x.json")]]
    answer = await op.call("run_workflow", {"graph": listing, "params": {"folder": "/tmp"}},
                           timeout=30 * TIME)
    assert answer["status"] == "error" and "files.allow" in answer["error"], answer


async def test_a_files_allow_folder_that_is_missing_is_warned_about_once_at_start(tmp_path, caplog):
    """A files.allow entry that is not a folder logs one warning naming it when the node starts."""
    from nodetool_gateway.backend import Backend

    there = tmp_path / "exports"
    there.mkdir()
    missing = tmp_path / "not-made-yet"
    cfg = node_config("ws://127.0.0.1:1", storage={"path": str(tmp_path / "s")},
                      files={"allow": [str(there), str(missing)]})
    with caplog.at_level("WARNING", logger="nodetool_gateway"):
        await Backend(cfg).close()
    lines = [r.getMessage() for r in caplog.records if "files.allow" in r.getMessage()]
    assert lines == [f"files.allow: {missing} is not a folder (yet): file node types cannot use "
                     "it until it is made"]
