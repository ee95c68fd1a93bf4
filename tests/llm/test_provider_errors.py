"""Provider failures provoked for real, cancel at the provider, and providers reloaded.

Each failure is a clear error naming the node and the provider, the job is
recorded failed, and the session answers the next call.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr
from conftest import TIME, serving

from llm.llama import MODEL_ALIAS, LlamaServer, free_port
from llm.test_llm_nodes import agent_graph, llm_config, run
from nodetool_gateway.config import snapshot_from_config


class RateLimiter:
    """An HTTP proxy on loopback in front of llama-server that answers the first ``refuse``
    chat requests 429 with ``Retry-After``, and forwards the rest."""

    def __init__(self, upstream: str, refuse: int, retry_after: float):
        self.requests: list[float] = []
        limiter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _forward(self, body: bytes | None) -> None:
                req = urllib.request.Request(upstream + self.path, data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    data = r.read()
                    self.send_response(r.status)
                    self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                limiter.requests.append(time.monotonic())
                if len(limiter.requests) <= refuse:
                    data = b'{"error": {"message": "slow down", "type": "rate_limit"}}'
                    self.send_response(429)
                    self.send_header("Retry-After", f"{retry_after:g}")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self._forward(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def provider(url: str, **extra) -> dict:
    return {"p": {"type": "openai", "base_url": url, "max_retries": 0, **extra}}


async def assert_failed_and_session_goes_on(op, r, *phrases: str) -> None:
    assert not r.ok
    error = r.answer["error"]
    assert "Agent (agent):" in error, error
    for phrase in phrases:
        assert phrase in error, error
    job = await op.call("get_job", {"job_id": r.answer["details"]["job_id"]})
    assert job["result"]["status"] == "failed"
    assert (await op.call("list_workflows", {}))["status"] == "success"


async def test_wrong_key_is_refused_and_a_rotated_key_is_used_by_the_next_call(tmp_path):
    """401 names node and provider; a key rotated by reload is used by the next call."""
    server = LlamaServer(api_key="right-key").start()
    try:
        cfg = llm_config(tmp_path, server, providers=provider(f"{server.url}/v1", api_key="wrong-key"),
                         models={"default_language_model": f"p:{MODEL_ALIAS}"})
        async with serving(cfg) as (op, client):
            r = await run(op, agent_graph())
            await assert_failed_and_session_goes_on(
                op, r, "provider 'p' refused the API key (HTTP 401)", "check providers.p.api_key")
            assert "wrong-key" not in r.answer["error"]
            rotated = client.config.model_copy(update={"providers": {"p": cfg.providers["p"].model_copy(
                update={"api_key": SecretStr("right-key")})}})
            await client.apply(snapshot_from_config(rotated))
            r = await run(op, agent_graph())
            assert r.ok, r.answer.get("error")
    finally:
        server.stop()


async def test_unreachable_provider(tmp_path, llama):
    """A provider nobody listens for is reported unreachable, with its address."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    cfg = llm_config(tmp_path, llama, providers=provider(url), models={"default_language_model": "p:m"})
    async with serving(cfg) as (op, client):
        r = await run(op, agent_graph())
        await assert_failed_and_session_goes_on(op, r, f"provider 'p' is unreachable at {url}")


async def test_prompt_longer_than_the_context(tmp_path):
    """A prompt past the model's context is a clear error, not a crash."""
    server = LlamaServer(ctx=256, slots=1).start()
    try:
        cfg = llm_config(tmp_path, server, providers=provider(f"{server.url}/v1"),
                         models={"default_language_model": f"p:{MODEL_ALIAS}"})
        async with serving(cfg) as (op, client):
            r = await run(op, agent_graph(), {"q": "word " * 600})
            await assert_failed_and_session_goes_on(
                op, r, f"model '{MODEL_ALIAS}' on provider 'p': the prompt is longer than the model's context")
    finally:
        server.stop()


async def test_rate_limit_is_retried_after_the_providers_retry_after(tmp_path, llama):
    """429 with Retry-After is retried after that wait; when retries run out, it is an error."""
    limiter = RateLimiter(llama.url, refuse=1, retry_after=0.5)
    try:
        cfg = llm_config(tmp_path, llama, providers=provider(f"{limiter.url}/v1", max_retries=2),
                         models={"default_language_model": f"p:{MODEL_ALIAS}"})
        async with serving(cfg) as (op, client):
            r = await run(op, agent_graph())
            assert r.ok, r.answer.get("error")
            first, second = limiter.requests[:2]
            assert second - first >= 0.5
    finally:
        limiter.close()
    limiter = RateLimiter(llama.url, refuse=100, retry_after=0.1)
    try:
        cfg = llm_config(tmp_path, llama, providers=provider(f"{limiter.url}/v1", max_retries=1),
                         models={"default_language_model": f"p:{MODEL_ALIAS}"})
        async with serving(cfg) as (op, client):
            r = await run(op, agent_graph())
            await assert_failed_and_session_goes_on(
                op, r, "provider 'p' is rate limiting (HTTP 429) and retries ran out: slow down")
            assert len(limiter.requests) == 2
    finally:
        limiter.close()


async def test_cancel_stops_generation_at_the_provider(tmp_path, llama):
    """cancel_request ends the run and the server stops generating (its slot goes idle)."""
    async with serving(llm_config(tmp_path, llama)) as (op, client):
        chunks = asyncio.Event()

        def seen(update: dict) -> None:
            if update.get("update_type") == "chunk":
                chunks.set()

        g = agent_graph(max_tokens=4000, system="You write very long stories.")
        rid = await op.request({"type": "workflow_request", "graph": g,
                                "params": {"q": "Write a very long story about a dragon."}}, on_update=seen)
        await asyncio.wait_for(chunks.wait(), 60 * TIME)
        assert any(s["is_processing"] for s in llama.slots_state())
        await op.cancel(rid)
        answer = await op.result(rid, timeout=30 * TIME)
        assert answer["status"] == "cancelled"
        deadline = time.monotonic() + 5 * TIME
        while any(s["is_processing"] for s in llama.slots_state()):
            assert time.monotonic() < deadline, "the server kept generating after cancel"
            await asyncio.sleep(0.05)
        jobs = (await op.call("list_jobs", {"status": "cancelled"}))["result"]["jobs"]
        assert len(jobs) == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_reload_keeps_the_running_call_on_its_client(tmp_path, llama, kind):
    """A reload that changes providers leaves a running call on the client it started with."""
    server = LlamaServer().start()
    try:
        url = f"{server.url}/v1" if kind == "openai" else server.url
        cfg = llm_config(tmp_path, llama, providers={"p": {"type": kind, "base_url": url}},
                         models={"default_language_model": f"p:{MODEL_ALIAS}"})
        async with serving(cfg) as (op, client):
            chunks = asyncio.Event()
            rid = await op.request({"type": "workflow_request", "graph": agent_graph(max_tokens=60),
                                    "params": {}},
                                   on_update=lambda u: u.get("update_type") == "chunk" and chunks.set())
            await asyncio.wait_for(chunks.wait(), 60 * TIME)
            moved = client.config.model_copy(update={"providers": {"p": cfg.providers["p"].model_copy(
                update={"base_url": f"http://127.0.0.1:{free_port()}/v1"})}})
            await client.apply(snapshot_from_config(moved))
            answer = await op.result(rid, timeout=60 * TIME)
            assert answer["status"] == "completed", answer
            r = await run(op, agent_graph())
            assert not r.ok and "is unreachable" in r.answer["error"]
    finally:
        server.stop()
