"""NodeTool's published example workflows that need language-model node types, end to end.

The nine files in ``tests/data/nodetool-examples-ai`` are NodeTool's own, unchanged.
Their outputs depend on the model, so a run passes when every Output node gets a
value of its declared type, streamed chunks arrive before the end, and the job
is recorded completed (the folder's README). Model references left empty are
filled by ``models.default_language_model``; those naming OpenAI models go to
a provider named ``openai`` on the local server (``aliases: {"*": smollm2}``).
The research agents search a SearXNG-compatible engine on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TIME, serving

from llm.conftest import providers_for
from llm.search_engine import SearchEngine
from llm.test_llm_nodes import llm_config, run

EXAMPLES = Path(__file__).parents[1] / "data" / "nodetool-examples-ai"
FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))
EXAMPLE_TIMEOUT = 300 * TIME
RESEARCH = {"Autonomous Research Agent.json", "Wikipedia Agent.json"}
# Output node type -> the Python type its value must have (Output and Preview take any).
DECLARED = {"StringOutput": str, "IntegerOutput": int, "FloatOutput": (int, float),
            "BooleanOutput": bool, "ListOutput": list, "DictionaryOutput": dict}


def sinks(workflow: dict) -> dict[str, str]:
    """Output name (a Preview's node id) -> node type, for every Output and Preview node."""
    found = {}
    for n in workflow["graph"]["nodes"]:
        if n["type"].startswith("nodetool.output."):
            found[n["data"].get("name") or n["id"]] = n["type"].rsplit(".", 1)[-1]
        elif n["type"] == "nodetool.workflows.base_node.Preview":
            found[n["id"]] = "Preview"
    return found


def shown(r) -> dict:
    """The job's outputs ({name: [values]}), and by node id the last value each Preview
    showed, as a one-entry list (previews come as preview_update events, not job outputs)."""
    values = dict(r.outputs)
    for u in r.updates:
        if u["update_type"] == "preview_update":
            values[u["data"]["node_id"]] = [u["data"]["value"]]
    return values


@pytest.fixture(scope="module")
def engine():
    with SearchEngine() as e:
        yield e


@pytest.fixture
async def node(tmp_path, llama, engine):
    # Small budgets keep a 135M model's rambling short; the node caps every call.
    cfg = llm_config(tmp_path, llama, providers=providers_for(llama, max_output_tokens=400),
                     tools={"search": {"provider": "searxng", "base_url": engine.url},
                            "browser": {"allow_private": True}})
    async with serving(cfg) as (op, client):
        yield op


@pytest.mark.parametrize("name", FILES)
async def test_example_runs_end_to_end(node, name):
    """The example runs: every output has a value of its type, chunks came first, job completed."""
    workflow = json.loads((EXAMPLES / name).read_text())
    # A research agent makes up to 7 model calls; a busy 2-core machine needs the time.
    r = await run(node, workflow["graph"], timeout=EXAMPLE_TIMEOUT)
    assert r.ok, r.answer.get("error")
    values = shown(r)
    for output, kind in sinks(workflow).items():
        assert output in values, (output, sorted(values))
        received = values[output]
        assert isinstance(received, list) and received, (output, received)
        for value in received:
            assert value is not None and value != ""
            if kind in DECLARED:
                assert isinstance(value, DECLARED[kind]), (output, value)
    kinds = r.kinds()
    last_output = max(k for k, kind in enumerate(kinds) if kind in ("output_update", "preview_update"))
    assert "chunk" in kinds and kinds.index("chunk") < last_output
    job = await node.call("get_job", {"job_id": r.answer["result"]["job_id"]})
    assert job["result"]["status"] == "completed"


async def test_agent_tools_search_and_fetch_for_real(engine):
    """google_search asks the configured engine; browser fetches the page as text; private
    addresses are refused unless the config allows them."""
    from nodetool_gateway.config import ToolsConfig
    from nodetool_gateway.engine.library._tools import build_tools

    class Services:
        tools = ToolsConfig.model_validate({"search": {"provider": "searxng", "base_url": engine.url},
                                            "browser": {"allow_private": True}})

    logged: list[str] = []
    search, browser = build_tools([{"type": "tool_name", "name": "google_search"}, "browser"],
                                  Services, logged.append)
    found = json.loads(await search.call({"keyword": "fine-tuning LoRA"}))
    assert found["success"] and found["results"][0]["url"] == f"{engine.url}/page/fine-tuning"
    assert engine.queries[-1] == "fine-tuning LoRA"
    page = json.loads(await browser.call({"url": found["results"][0]["url"]}))
    assert page["title"] == "Fine-tuning (deep learning)"
    assert "low-rank matrices" in page["content"] and "x()" not in page["content"]
    assert logged == ["google_search: 'fine-tuning LoRA'", f"browser: {engine.url}/page/fine-tuning"]
    Services.tools = ToolsConfig.model_validate({"search": {"provider": "searxng", "base_url": engine.url}})
    (_, strict) = build_tools(["google_search", "browser"], Services, logged.append)
    refused = json.loads(await strict.call({"url": f"{engine.url}/page/fine-tuning"}))
    assert "private or loopback address" in refused["error"]
    assert json.loads(await strict.call({"url": "file:///etc/passwd"}))["error"].startswith("only http(s)")


@pytest.mark.parametrize("name", sorted(RESEARCH))
async def test_research_agent_without_a_search_engine_fails_validation(tmp_path, llama, name):
    """Without tools.search, a research agent fails validation naming the missing tool provider."""
    workflow = json.loads((EXAMPLES / name).read_text())
    async with serving(llm_config(tmp_path, llama)) as (op, client):
        r = await run(op, workflow["graph"])
    assert not r.ok and r.answer["code"] == "INVALID_ARGS"
    assert "(nodetool.agents.ResearchAgent): tool 'google_search' needs a search engine: set " \
           "tools.search in the node's config" in r.answer["error"]
    assert "chunk" not in r.kinds()
