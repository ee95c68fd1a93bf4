"""Language-model calls on /metrics: real runs against a real llama-server, real scrapes.

The node runs Agent workflows in worker processes and inline; each call, its
outcome, its duration and the tokens the server reported reach the node's
``/metrics``, read over HTTP and parsed with prometheus_client's parser.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import TIME, serving
from test_observability import sample, scrape

from llm.llama import MODEL_ALIAS, free_port
from llm.test_llm_nodes import agent_graph, llm_config, run
from nodetool_gateway.config import snapshot_from_config
from nodetool_gateway.observability.observer import MAX_MODELS, ProviderStats

DOWN = {"type": "language_model", "provider": "down", "id": "gone"}
USAGE = re.compile(r": (\d+) input \+ (\d+) output tokens")


def metrics_config(tmp_path, llama, isolation: str = "process", **sections):
    providers = {"llama": {"type": "openai", "base_url": f"{llama.url}/v1"},
                 "down": {"type": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
                          "max_retries": 0}}
    return llm_config(tmp_path, llama, providers=providers, engine={"isolation": isolation},
                      observability={"listen": "127.0.0.1:0"}, **sections)


async def usage_of(op, job_id: str) -> tuple[int, int]:
    """The tokens a job's log reports for its language-model calls, summed."""
    logs = (await op.call("get_job_logs", {"job_id": job_id}))["result"]["logs"]
    found = [USAGE.search(entry["content"]) for entry in logs]
    pairs = [(int(m[1]), int(m[2])) for m in found if m]
    assert pairs, logs
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


@pytest.mark.parametrize("isolation", ["process", "inline"])
async def test_provider_calls_tokens_and_failures_are_counted(tmp_path, llama, isolation):
    """Each call counts by provider, model and outcome, with its duration and reported tokens."""
    async with serving(metrics_config(tmp_path, llama, isolation)) as (op, client):
        before = await scrape(client)
        assert sample(before, "provider_calls_total", provider="llama", model=MODEL_ALIAS,
                      outcome="ok") is None
        tokens_in = tokens_out = 0
        for _ in range(2):
            r = await run(op, agent_graph())
            assert r.ok, r.answer.get("error")
            i, o = await usage_of(op, r.answer["result"]["job_id"])
            tokens_in, tokens_out = tokens_in + i, tokens_out + o
        failed = await run(op, agent_graph(DOWN))
        assert not failed.ok and "is unreachable" in failed.answer["error"]
        after = await scrape(client)

    def calls(provider: str, model: str, outcome: str) -> float | None:
        return sample(after, "provider_calls_total", provider=provider, model=model,
                      outcome=outcome)

    assert calls("llama", MODEL_ALIAS, "ok") == 2.0
    assert calls("down", "gone", "unreachable") == 1.0
    assert calls("down", "gone", "ok") is None
    assert sample(after, "provider_call_duration_seconds_count", provider="llama") == 2.0
    assert sample(after, "provider_call_duration_seconds_bucket", provider="llama",
                  le="+Inf") == 2.0
    assert sample(after, "provider_call_duration_seconds_sum", provider="llama") > 0
    assert sample(after, "provider_call_duration_seconds_count", provider="down") == 1.0
    assert tokens_in > 0 and tokens_out > 0
    assert sample(after, "provider_tokens_total", provider="llama", model=MODEL_ALIAS,
                  direction="input") == tokens_in
    assert sample(after, "provider_tokens_total", provider="llama", model=MODEL_ALIAS,
                  direction="output") == tokens_out
    assert sample(after, "provider_tokens_total", provider="down", model="gone",
                  direction="input") is None


@pytest.mark.parametrize("isolation", ["process", "inline"])
async def test_a_cancelled_call_counts_as_cancelled(tmp_path, llama, isolation):
    """A call cancelled while it streams counts once, as ``cancelled``, by the run's answer."""
    async with serving(metrics_config(tmp_path, llama, isolation)) as (op, client):
        chunks = asyncio.Event()
        g = agent_graph(max_tokens=4000, system="You write very long stories.")
        rid = await op.request({"type": "workflow_request", "graph": g,
                                "params": {"q": "Write a very long story about a dragon."}},
                               on_update=lambda u: u.get("update_type") == "chunk" and chunks.set())
        await asyncio.wait_for(chunks.wait(), 60 * TIME)
        await op.cancel(rid)
        answer = await op.result(rid, timeout=30 * TIME)
        assert answer["status"] == "cancelled"
        after = await scrape(client)
    counted = {labels: value for (name, labels), value in after.items()
               if name == "nodetool_gateway_provider_calls_total"}
    assert counted == {frozenset({"provider": "llama", "model": MODEL_ALIAS,
                                  "outcome": "cancelled"}.items()): 1.0}


async def test_counts_survive_a_reload_that_rebuilds_the_backend(tmp_path, llama):
    """A reload that rebuilds the backend and its workers keeps counting from where it was."""
    async with serving(metrics_config(tmp_path, llama)) as (op, client):
        r = await run(op, agent_graph())
        assert r.ok, r.answer.get("error")
        first = client._get_backend()
        cfg = client.config
        more = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"workers": 3})})
        await client.apply(snapshot_from_config(more))
        r = await run(op, agent_graph())
        assert r.ok, r.answer.get("error")
        assert client._get_backend() is not first
        after = await scrape(client)
    assert sample(after, "provider_calls_total", provider="llama", model=MODEL_ALIAS,
                  outcome="ok") == 2.0
    assert sample(after, "provider_call_duration_seconds_count", provider="llama") == 2.0


def test_model_labels_are_capped():
    """Models past the cap count under ``(other)``; those seen before keep their own label."""
    stats = ProviderStats()
    for n in range(MAX_MODELS + 5):
        stats.record("p", f"m{n}", "ok", 0.01, (3, 4))
    stats.record("p", "m0", "server", 0.02, None)
    assert stats.calls[("p", "(other)", "ok")] == 5
    assert stats.calls[("p", "m0", "server")] == 1
    assert len({model for _, model, _ in stats.calls}) == MAX_MODELS + 1
    assert stats.tokens[("p", "(other)", "output")] == 20
    assert stats.latency["p"].counts[-1] == 0 and sum(stats.latency["p"].counts) == MAX_MODELS + 6
