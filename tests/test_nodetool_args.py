"""NodeTool's argument names (nodetool-core's nodetool.tools), sent as NodeTool's client sends them.

Every built-in command takes NodeTool's arguments with NodeTool's defaults; each one
either means what it means in NodeTool or is ignored (a debug line). Real node, real
stores: the fixtures of test_commands.
"""

from __future__ import annotations

import asyncio
import logging

from stores.test_collections import chroma_path  # noqa: F401  (fixture)
from stores.test_models import hf_cache, ollama  # noqa: F401  (fixtures)
from test_commands import node  # noqa: F401  (fixture)

USER = "1"  # the node's node.user_id in node_config

# One call per command, exactly NodeTool's argument names with NodeTool's defaults.
NODETOOL_CALLS = [
    ("list_workflows", {"workflow_type": "user", "query": None, "limit": 100, "user_id": USER}),
    # NodeTool's protocol doc's example.
    ("list_workflows", {"workflow_type": "user", "limit": 10}),
    ("get_workflow", {"workflow_id": "word-stats", "user_id": USER}),
    ("validate_workflow", {"workflow_id": "word-stats", "user_id": USER}),
    ("run_workflow", {"workflow_id": "word-stats", "params": {"text": "a b"}, "user_id": USER}),
    ("start_background_job", {"workflow_id": "word-stats", "params": {"text": "a b"},
                              "execution_strategy": "threaded", "user_id": USER}),
    ("list_jobs", {"workflow_id": None, "limit": 100, "start_key": None, "user_id": USER}),
    ("list_assets", {"source": "user", "parent_id": None, "query": None, "content_type": None,
                     "package_name": None, "limit": 100, "user_id": USER}),
    ("list_nodes", {"namespace": None, "limit": 200}),
    ("get_node_info", {"node_type": "nodetool.text.FormatText"}),
    ("search_nodes", {"query": "format text", "n_results": 10, "input_type": None,
                      "output_type": None, "exclude_namespaces": None,
                      "include_metadata": False}),
    ("list_models", {"provider": "all", "model_type": None, "downloaded_only": False,
                     "recommended_only": False, "limit": 50, "user_id": USER}),
    ("list_collections", {"limit": 50}),
    ("get_collection", {"name": "docs"}),
]


async def test_every_command_takes_nodetools_arguments(node):  # noqa: F811
    """Each command answers success to NodeTool's argument names and default values."""
    for command, args in NODETOOL_CALLS:
        answer = await node.op.call(command, args, timeout=30)
        assert answer["status"] == "success", (command, answer)
    job_id = (await node.ok("list_jobs"))["jobs"][0]["id"]
    asset = node.client._get_backend().assets.add(b"x", name="x.txt")
    for command, args in [("get_job", {"job_id": job_id, "user_id": USER}),
                          ("get_job_logs", {"job_id": job_id, "limit": 200, "user_id": USER}),
                          ("get_asset", {"asset_id": asset["id"], "user_id": USER})]:
        answer = await node.op.call(command, args, timeout=30)
        assert answer["status"] == "success", (command, answer)
    # A number for the user, as some clients send it, is the same user.
    assert (await node.ok("get_job", job_id=job_id, user_id=1))["id"] == job_id


async def test_an_unknown_argument_is_still_invalid(node):  # noqa: F811
    for command, args in [("list_workflows", {"workflow_kind": "user"}),
                          ("list_models", {"providers": "all"}),
                          ("search_nodes", {"query": "x", "include_meta": True})]:
        answer = await node.error(command, **args)
        assert answer["code"] == "INVALID_ARGS" and "unexpected argument" in answer["error"], answer


async def test_another_user_is_refused(node):  # noqa: F811
    """A user_id other than the node's is INVALID_ARGS, the same words on every command."""
    job_id = (await node.ok("run_workflow", workflow_id="word-stats",
                            params={"text": "a"}))["job_id"]
    for command, args in [("list_workflows", {}), ("get_job", {"job_id": job_id}),
                          ("run_workflow", {"workflow_id": "word-stats", "params": {"text": "a"}}),
                          ("list_assets", {}), ("list_models", {})]:
        answer = await node.error(command, **args, user_id="2")
        assert answer["code"] == "INVALID_ARGS", (command, answer)
        assert "this node serves user 1; user_id 2 is not its user" in answer["error"]
    assert len((await node.ok("list_jobs"))["jobs"]) == 1  # the refused run did not start


async def test_workflow_type_filters(node):  # noqa: F811
    """user = the node's workflow folders; example(s) = the bundled ones; not given = both."""
    everything = {w["id"] for w in (await node.ok("list_workflows"))["workflows"]}
    user = {w["id"] for w in (await node.ok("list_workflows", workflow_type="user"))["workflows"]}
    examples = await node.ok("list_workflows", workflow_type="example")
    bundled = {w["id"] for w in examples["workflows"]}
    assert "slow" in user and "word-stats" not in user
    assert "word-stats" in bundled and "slow" not in bundled
    assert user | bundled == everything and not user & bundled
    assert examples["total"] == len(bundled)
    same = await node.ok("list_workflows", workflow_type="examples")
    assert {w["id"] for w in same["workflows"]} == bundled
    bad = await node.error("list_workflows", workflow_type="shared")
    assert bad["code"] == "INVALID_ARGS" and "'user', 'example', 'examples'" in bad["error"]


async def test_list_jobs_pages_by_start_key(node):  # noqa: F811
    """start_key: the jobs after that id in list_jobs' order; an unknown id is INVALID_ARGS."""
    for text in ("a", "b", "c", "d"):
        await node.ok("run_workflow", workflow_id="word-stats", params={"text": text})
    order = [j["id"] for j in (await node.ok("list_jobs"))["jobs"]]
    assert len(order) == 4
    seen, key = [], None
    while True:
        page = (await node.ok("list_jobs", limit=3, start_key=key))["jobs"] if key else \
            (await node.ok("list_jobs", limit=3))["jobs"]
        if not page:
            break
        seen += [j["id"] for j in page]
        key = page[-1]["id"]
    assert seen == order
    after = await node.ok("list_jobs", start_key=order[0], workflow_id="word-stats")
    assert [j["id"] for j in after["jobs"]] == order[1:]
    unknown = await node.error("list_jobs", start_key="nope")
    assert unknown["code"] == "INVALID_ARGS" and "start_key" in unknown["error"]


async def test_list_models_provider_all_and_downloaded_only(node):  # noqa: F811
    """provider "all" is every provider; downloaded_only keeps the models present here."""
    everything = await node.ok("list_models")
    assert await node.ok("list_models", provider="all") == everything
    assert {"huggingface", "ollama", "local"} <= {m["provider"] for m in everything}
    store = node.client._get_backend().models
    store.configured.append({"id": "absent", "path": str(node.root / "no-such-model.gguf")})
    listed = {m["id"]: m["downloaded"] for m in await node.ok("list_models", provider="all")}
    assert listed["absent"] is False
    present = await node.ok("list_models", provider="all", downloaded_only=True)
    assert present and all(m["downloaded"] is True for m in present)
    assert "absent" not in {m["id"] for m in present}
    assert {m["id"] for m in present} == {i for i, d in listed.items() if d is True}
    assert len(await node.ok("list_models", downloaded_only=True, limit=1)) == 1
    assert await node.ok("list_models", recommended_only=True) == await node.ok("list_models")


async def test_search_nodes_filters_and_metadata(node):  # noqa: F811
    """include_metadata, exclude_namespaces, input_type and output_type."""
    plain = await node.ok("search_nodes", query="format text")
    assert plain[0]["type"] == "nodetool.text.FormatText" and "metadata" not in plain[0]
    rich = await node.ok("search_nodes", query="format text", include_metadata=True)
    info = await node.ok("get_node_info", node_type="nodetool.text.FormatText")
    assert rich[0]["metadata"] == info
    assert {k: v for k, v in rich[0].items() if k != "metadata"} == plain[0]
    found = await node.ok("search_nodes", query="text", n_results=50)
    assert any(n["namespace"] == "nodetool.text" for n in found)
    kept = await node.ok("search_nodes", query="text", n_results=50,
                         exclude_namespaces=["nodetool.text"])
    assert kept and not any(n["namespace"] == "nodetool.text" for n in kept)
    outs = await node.ok("search_nodes", query="list", n_results=20, output_type="bool",
                         include_metadata=True)
    assert outs and all(any(o["type"] == "bool" for o in n["metadata"]["outputs"]) for n in outs)
    ins = await node.ok("search_nodes", query="list", n_results=20, input_type="str",
                        include_metadata=True)
    assert ins and all(any("str" in p["type"] for p in n["metadata"]["properties"]) for n in ins)


async def test_ignored_arguments_say_so_at_debug(node, caplog):  # noqa: F811
    """execution_strategy, recommended_only and package_name are ignored with a debug line."""
    caplog.set_level(logging.DEBUG)
    started = await node.ok("start_background_job", workflow_id="word-stats",
                            params={"text": "a"}, execution_strategy="subprocess")
    while (await node.ok("get_job", job_id=started["job_id"]))["status"] == "running":
        await asyncio.sleep(0.02)
    await node.ok("list_models", recommended_only=True)
    await node.ok("list_assets", package_name="nodetool-base")
    text = caplog.text
    assert "ignoring execution_strategy='subprocess'" in text
    assert "ignoring recommended_only=True" in text
    assert "ignoring package_name='nodetool-base'" in text


async def test_list_assets_source(node):  # noqa: F811
    """source "user" is the node's assets; "package" is empty here; others INVALID_ARGS."""
    node.client._get_backend().assets.add(b"x", name="mine.txt")
    assert (await node.ok("list_assets", source="user"))["total"] == 1
    assert await node.ok("list_assets", source="package", package_name="x") == \
        {"assets": [], "total": 0}
    assert (await node.error("list_assets", source="shared"))["code"] == "INVALID_ARGS"

