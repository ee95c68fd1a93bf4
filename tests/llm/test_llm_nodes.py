"""Each language-model node type through a real session, against a real llama-server.

A local gateway, a node and an operator run on loopback; the node's providers
point at llama-server (OpenAI and Anthropic APIs), which runs SmolLM2-135M.
Outputs depend on the model, so tests check shapes, streaming order and the
job record, not wording.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TIME, node_config, serving

from llm.conftest import providers_for
from llm.llama import MODEL_ALIAS
from nodetool_gateway.gateway import OperatorClient

CALL_TIMEOUT = 120 * TIME


def llm_config(tmp_path, server, **sections):
    sections.setdefault("providers", providers_for(server))
    sections.setdefault("models", {"default_language_model": f"llama:{MODEL_ALIAS}"})
    return node_config("ws://127.0.0.1:1", storage={"path": str(tmp_path / "storage")}, **sections)


def graph(nodes: list[dict], edges: list[tuple[str, str, str, str]]) -> dict:
    return {"nodes": nodes, "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                                      for s, sh, t, th in edges]}


def out(node_id: str, name: str, kind: str = "Output") -> dict:
    return {"id": node_id, "type": f"nodetool.output.{kind}", "data": {"name": name}}


class Run:
    """One run_workflow call: its answer and every update, in arrival order."""

    def __init__(self, answer: dict, updates: list[dict]):
        self.answer = answer
        self.updates = [u for u in updates if u.get("type") == "workflow_update"]

    @property
    def ok(self) -> bool:
        return self.answer["status"] == "success"

    @property
    def outputs(self) -> dict[str, Any]:
        return self.answer["result"]["outputs"]

    def kinds(self) -> list[str]:
        return [u["update_type"] for u in self.updates]

    def chunks(self) -> list[dict]:
        return [u["data"] for u in self.updates if u["update_type"] == "chunk"]


async def run(op: OperatorClient, g: dict, params: dict | None = None,
              timeout: float = CALL_TIMEOUT) -> Run:
    updates: list[dict] = []
    answer = await op.call("run_workflow", {"graph": g, "params": params or {}},
                           timeout=timeout, on_update=updates.append)
    return Run(answer, updates)


def agent_graph(model: dict | None = None, **data) -> dict:
    data = {"system": "You are terse.", "max_tokens": 40, **data}
    if model is not None:
        data["model"] = model
    return graph([{"id": "q", "type": "nodetool.input.StringInput", "data": {"name": "q", "value": "Say hello."}},
                  {"id": "agent", "type": "nodetool.agents.Agent", "data": data},
                  out("o", "answer", "StringOutput")],
                 [("q", "output", "agent", "prompt"), ("agent", "text", "o", "value")])


@pytest.fixture
async def node(tmp_path, llama):
    async with serving(llm_config(tmp_path, llama)) as (op, client):
        yield op


async def test_agent_streams_chunks_before_the_end_and_logs_usage(node):
    """Agent streams its tokens as chunk updates before the job ends, and logs token usage."""
    r = await run(node, agent_graph())
    assert r.ok, r.answer.get("error")
    [text] = r.outputs["answer"]
    assert isinstance(text, str) and text.strip()
    kinds = r.kinds()
    chunks = [c for c in r.chunks() if c["content"]]
    assert len(chunks) >= 2
    assert "".join(c["content"] for c in chunks) == text
    assert all(c["node_id"] == "agent" and c["type"] == "chunk" for c in chunks)
    # Tokens arrived before the output and before the job finished.
    assert kinds.index("chunk") < kinds.index("output_update") < len(kinds) - 1
    assert r.updates[-1]["data"]["status"] == "completed"
    assert any(c["done"] for c in r.chunks())
    logs = await node.call("get_job_logs", {"job_id": r.answer["result"]["job_id"]})
    usage = [entry["content"] for entry in logs["result"]["logs"] if "output tokens" in entry["content"]]
    assert usage and usage[0].startswith(f"llama:{MODEL_ALIAS}: ") and " input + " in usage[0]


async def test_agent_through_the_anthropic_api(node):
    """Agent works through an anthropic-type provider (llama-server's /v1/messages)."""
    r = await run(node, agent_graph({"type": "language_model", "provider": "claude", "id": MODEL_ALIAS}))
    assert r.ok, r.answer.get("error")
    [answer] = r.outputs["answer"]
    assert answer.strip() and len(r.chunks()) >= 2


async def test_agent_with_history_and_dynamic_outputs(node):
    """Agent takes history, and with declared outputs answers in their JSON shape."""
    g = agent_graph(history=[{"type": "message", "role": "user", "content": "My name is Ada."},
                             {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi Ada."}]}],
                    max_tokens=120)
    g["nodes"][1]["dynamic_outputs"] = {"greeting": {"type": "str"}}
    g["nodes"].append(out("o2", "greeting"))
    g["edges"] += [{"source": "agent", "sourceHandle": "greeting", "target": "o2", "targetHandle": "value"}]
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    [greeting] = r.outputs["greeting"]
    assert isinstance(greeting, str) and greeting


async def test_summarizers(node):
    """nodetool.agents.Summarizer streams text; nodetool.llms.Summarizer answers on output."""
    text = "The cat sat on the mat. It was a sunny day. The cat slept for hours and then ate fish."
    g = graph([{"id": "t", "type": "nodetool.constant.String", "data": {"value": text}},
               {"id": "s", "type": "nodetool.agents.Summarizer", "data": {}},
               {"id": "s2", "type": "nodetool.llms.Summarizer", "data": {"max_tokens": 60}},
               out("o", "summary"), out("o2", "old_summary")],
              [("t", "output", "s", "text"), ("t", "output", "s2", "text"),
               ("s", "text", "o", "value"), ("s2", "output", "o2", "value")])
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    [summary], [old_summary] = r.outputs["summary"], r.outputs["old_summary"]
    assert summary.strip() and old_summary.strip()
    assert {c["node_id"] for c in r.chunks()} == {"s", "s2"}


async def test_classifier_picks_one_of_the_categories(node):
    """Classifier answers with exactly one of its categories."""
    categories = ["positive", "negative", "neutral"]
    g = graph([{"id": "c", "type": "nodetool.agents.Classifier",
                "data": {"text": "I love this, it is wonderful!", "categories": categories}},
               out("o", "label")], [("c", "output", "o", "value")])
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    [label] = r.outputs["label"]
    assert label in categories
    g["nodes"][0]["data"]["categories"] = ["only"]
    r = await run(node, g)
    assert not r.ok and "At least 2 categories are required" in r.answer["error"]


async def test_extractor_returns_declared_fields(node):
    """Extractor returns one value per declared output, of the declared types."""
    g = graph([{"id": "x", "type": "nodetool.agents.Extractor",
                "data": {"text": "Ada Lovelace was born in 1815 in London."},
                "dynamic_outputs": {"name": {"type": "str"}, "year": {"type": "int"}}},
               out("o1", "name"), out("o2", "year")],
              [("x", "name", "o1", "value"), ("x", "year", "o2", "value")])
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    [name], [year] = r.outputs["name"], r.outputs["year"]
    assert isinstance(name, str) and isinstance(year, int)
    del g["nodes"][0]["dynamic_outputs"]
    g["edges"] = []
    bad = await node.call("validate_workflow", {"graph": g})
    assert "declare outputs for the fields you want to extract" in " ".join(bad["result"]["errors"])


async def test_list_generator_streams_items_as_they_are_parsed(node):
    """ListGenerator sends each item downstream as soon as it is complete, before the end."""
    g = graph([{"id": "l", "type": "nodetool.generators.ListGenerator",
                "data": {"prompt": "Name 3 fruits.", "max_tokens": 200}},
               {"id": "up", "type": "nodetool.text.FormatText", "data": {"template": "{{ x }}!"},
                "dynamic_properties": {"x": ""}},
               out("o", "items"), out("i", "indexes")],
              [("l", "item", "up", "x"), ("up", "output", "o", "value"), ("l", "index", "i", "value")])
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    items = r.outputs["items"]
    assert 1 <= len(items) <= 3 and all(isinstance(i, str) and i.endswith("!") for i in items)
    assert r.outputs["indexes"] == list(range(len(items)))
    # The first item was out while the model was still writing.
    kinds = r.kinds()
    first_item = next(k for k, u in enumerate(r.updates)
                      if u["update_type"] == "output_update" and u["data"]["output_name"] == "items")
    assert "chunk" in kinds[first_item:]


async def test_data_generator_yields_rows_of_the_declared_columns(node):
    """DataGenerator yields one record per row, then NodeTool's dataframe of the columns."""
    columns = {"type": "record_type", "columns": [{"name": "name", "data_type": "string", "description": ""},
                                                  {"name": "calories", "data_type": "int", "description": ""}]}
    g = graph([{"id": "d", "type": "nodetool.generators.DataGenerator",
                "data": {"prompt": "Make a table of 3 vegetables.", "columns": columns, "max_tokens": 300}},
               out("r", "records"), out("df", "table")],
              [("d", "record", "r", "value"), ("d", "dataframe", "df", "value")])
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    records = r.outputs["records"]
    assert 1 <= len(records) <= 3
    for rec in records:
        assert set(rec) == {"name", "calories"}
        assert rec["calories"] is None or isinstance(rec["calories"], int)
    [df] = r.outputs["table"]
    assert df["type"] == "dataframe" and [c["name"] for c in df["columns"]] == ["name", "calories"]
    assert df["data"] == [[rec["name"], rec["calories"]] for rec in records]


async def test_structured_output_and_chart_generators(node):
    """StructuredOutputGenerator returns the declared object; ChartGenerator NodeTool's chart config."""
    g = graph([{"id": "s", "type": "nodetool.generators.StructuredOutputGenerator",
                "data": {"instructions": "A city and its population.", "max_tokens": 120},
                "dynamic_outputs": {"city": {"type": "str"}, "population": {"type": "int"}}},
               {"id": "c", "type": "nodetool.generators.ChartGenerator",
                "data": {"prompt": "Bar chart of sales by month.", "max_tokens": 600,
                         "data": {"type": "dataframe", "columns": [{"name": "month", "data_type": "string"},
                                                                   {"name": "sales", "data_type": "int"}],
                                  "data": [["jan", 3], ["feb", 5]]}}},
               out("o1", "city"), out("o2", "population"), out("o3", "chart")],
              [("s", "city", "o1", "value"), ("s", "population", "o2", "value"), ("c", "output", "o3", "value")])
    r = await run(node, g)
    assert r.ok, r.answer.get("error")
    [city], [population] = r.outputs["city"], r.outputs["population"]
    assert isinstance(city, str) and isinstance(population, int)
    [chart] = r.outputs["chart"]
    assert chart["type"] == "chart_config" and chart["data"]["type"] == "chart_data"
    assert isinstance(chart["data"]["series"], list) and isinstance(chart["title"], str)


async def test_claude_agent_needs_the_sdk(node):
    """ClaudeAgent without the Claude Agent SDK is a validation error that names what to install."""
    g = graph([{"id": "c", "type": "anthropic.agents.ClaudeAgent", "data": {"prompt": "hi"}},
               out("o", "text")], [("c", "text", "o", "value")])
    r = await run(node, g)
    assert not r.ok and r.answer["code"] == "INVALID_ARGS"
    assert "node c (anthropic.agents.ClaudeAgent): needs Anthropic's Claude Agent SDK" in r.answer["error"]
    assert "pip install 'nodetool-gateway[claude]'" in r.answer["error"]


async def test_a_model_no_provider_serves_fails_validation(node):
    """A model no configured provider serves is a validation error naming node, model and providers."""
    r = await run(node, agent_graph({"type": "language_model", "provider": "gemini", "id": "gemini-2.5"}))
    assert not r.ok and r.answer["code"] == "INVALID_ARGS"
    error = r.answer["error"]
    assert "node agent (nodetool.agents.Agent)" in error and "'gemini-2.5'" in error
    assert "llama (openai at http://127.0.0.1:" in error and "claude (anthropic" in error
    # The server is asked before the run: a model it does not serve never starts a job.
    r = await run(node, agent_graph({"type": "language_model", "provider": "llama", "id": "no-such-model"}))
    assert not r.ok and "provider 'llama' does not serve model 'no-such-model'" in r.answer["error"]
    assert f"it serves: {MODEL_ALIAS}" in r.answer["error"]
    assert not any(k == "chunk" for k in r.kinds())


async def test_list_models_includes_the_providers_models(node):
    """list_models lists what each provider reports, marked with the provider."""
    rows = (await node.call("list_models", {"provider": "all"}))["result"]
    mine = {(m["provider"], m["id"]) for m in rows if m["type"] == "language_model"}
    assert {("llama", MODEL_ALIAS), ("claude", MODEL_ALIAS), ("openai", MODEL_ALIAS)} <= mine
    only = (await node.call("list_models", {"provider": "claude"}))["result"]
    assert {m["provider"] for m in only} == {"claude"}
