"""Health and metrics over real HTTP on loopback: a real gateway, a real node, real scrapes."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sample_handlers
from conftest import TIME, node_config
from prometheus_client.parser import text_string_to_metric_families

from nodetool_gateway import GatewayClient
from nodetool_gateway.config import (
    ConfigError,
    config_schema,
    default_config,
    snapshot_from_config,
)
from nodetool_gateway.gateway import LocalGateway, OperatorClient
from nodetool_gateway.observability import ListenError

EXE = [sys.executable, "-m", "nodetool_gateway"]
ROOT = Path(__file__).resolve().parent.parent

GRAPH = {"nodes": [
    {"id": "a", "type": "nodetool.constant.Integer", "data": {"value": 6}},
    {"id": "d", "type": "lib.math.Divide", "data": {"b": 3}},
    {"id": "o", "type": "nodetool.output.Output", "data": {"name": "q"}}],
    "edges": [{"source": "a", "sourceHandle": "output", "target": "d", "targetHandle": "a"},
              {"source": "d", "sourceHandle": "output", "target": "o", "targetHandle": "value"}]}


def _get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10 * TIME) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


async def get(client: GatewayClient, path: str) -> tuple[int, str]:
    host, port = client.observer.listening
    return await asyncio.to_thread(_get, f"http://{host}:{port}{path}")


async def scrape(client: GatewayClient) -> dict[tuple[str, frozenset], float]:
    """The node's /metrics, parsed: (sample name, labels) -> value."""
    code, body = await get(client, "/metrics")
    assert code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def sample(metrics: dict, name: str, **labels: str) -> float | None:
    return metrics.get(("nodetool_gateway_" + name, frozenset(labels.items())))


async def until(condition, timeout: float = 10 * TIME) -> None:
    """Wait until ``await condition()`` is true."""
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def observed(url: str, listen: str = "127.0.0.1:0", **sections):
    return node_config(url, observability={"listen": listen}, **sections)


async def test_metrics_count_real_calls():
    """Counters, the latency histogram and jobs by state move with real calls."""
    async with LocalGateway() as gw:
        client = GatewayClient(config=observed(gw.url, engine={"isolation": "inline"}))
        task = asyncio.create_task(client.run())
        try:
            await asyncio.wait_for(client.wait_registered(), 10 * TIME)
            before = await scrape(client)
            assert sample(before, "registered") == 1.0
            assert sample(before, "registrations_total") == 1.0
            assert sample(before, "connection_attempts_total") >= 1.0
            assert sample(before, "connections_opened_total") == 1.0
            assert sample(before, "requests_total", kind="command", route="add", code="ok") is None
            async with OperatorClient.connect(gw.operator_url) as op:
                assert (await op.call("add", {"a": 2, "b": 3}))["result"] == 5
                assert (await op.call("add", {"a": 1, "b": 1}))["result"] == 2
                boom = await op.call("boom", {})
                assert boom["status"] == "error"
                unknown = await op.call("no_such_command", {})
                assert unknown["code"] == "UNKNOWN_COMMAND"
                run = await op.call("run_workflow", {"graph": GRAPH}, timeout=30 * TIME)
                assert run["result"]["outputs"] == {"q": [2.0]}
            after = await scrape(client)
        finally:
            client.stop()
            await asyncio.wait_for(task, 10 * TIME)
    assert sample(after, "requests_total", kind="command", route="add", code="ok") == 2.0
    assert sample(after, "requests_total", kind="command", route="boom", code="HANDLER_ERROR") == 1.0
    assert sample(after, "requests_total", kind="command", route="(unknown)",
                  code="UNKNOWN_COMMAND") == 1.0
    assert sample(after, "request_duration_seconds_count", kind="command", route="add") == 2.0
    assert sample(after, "request_duration_seconds_bucket", kind="command", route="add",
                  le="+Inf") == 2.0
    assert sample(after, "request_duration_seconds_sum", kind="command", route="add") > 0
    assert sample(after, "jobs", state="completed") == 1.0
    assert sample(after, "requests_in_flight") == 0.0
    assert sample(after, "outbox_messages") == 0.0
    info = [labels for (name, labels) in after if name == "nodetool_gateway_node_info"]
    assert dict(info[0])["node_id"] == "test-node" and dict(info[0])["gateway"] == gw.url
    assert any(name == "process_resident_memory_bytes" for name, _ in after)


async def test_readyz_follows_the_registration(peer):
    """/readyz is 503 before registration and after the gateway goes, 200 while registered."""
    await peer.stop()
    client = GatewayClient(config=observed(peer.url))
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: _is(client, "/healthz", 200))
        await until(lambda: _is(client, "/readyz", 503, "connecting to"))
        await peer.restart()
        await peer.registered()
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        assert await get(client, "/readyz") == (200, f"registered with {peer.url} as test-node\n")
        await peer.stop()
        await until(lambda: _is(client, "/readyz", 503))
        assert (await get(client, "/healthz"))[0] == 200
        metrics = await scrape(client)
        assert sample(metrics, "registered") == 0.0
        assert sample(metrics, "reconnects_total") >= 1.0
        await peer.restart()
        await peer.registered()
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        assert (await get(client, "/readyz"))[0] == 200
        assert sample(await scrape(client), "registrations_total") == 2.0
    finally:
        client.stop()
        await asyncio.wait_for(task, 10 * TIME)


async def _is(client: GatewayClient, path: str, code: int, text: str = "") -> bool:
    if client.observer.listening is None:  # not started yet
        return False
    got, body = await get(client, path)
    return got == code and text in body


async def test_readyz_is_503_while_draining(peer):
    """/readyz answers 503 "draining" once the node starts to drain."""
    cfg = observed(peer.url, shutdown={"grace": 10 * TIME})
    client = GatewayClient(config=cfg)
    task = asyncio.create_task(client.run())
    try:
        conn, _ = await peer.registered()
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        await conn.command("gate", {"key": "drain"})  # runs until the gate opens
        await asyncio.wait_for(sample_handlers.started("drain").wait(), 10 * TIME)
        client.stop()
        await until(lambda: _is(client, "/readyz", 503, "draining"))
        metrics = await scrape(client)
        assert sample(metrics, "draining") == 1.0 and sample(metrics, "requests_in_flight") == 1.0
        sample_handlers.gate_for("drain").set()
    finally:
        client.stop()
        await asyncio.wait_for(task, 10 * TIME)
    assert client.observer.listening is None


async def test_nodes_in_one_process_keep_their_own_metrics():
    """Two nodes in one process count on registries of their own."""
    async with LocalGateway() as gw:
        a = GatewayClient(config=observed(gw.url, node={"id": "a"}))
        b = GatewayClient(config=observed(gw.url, node={"id": "b"}))
        tasks = [asyncio.create_task(c.run()) for c in (a, b)]
        try:
            for c in (a, b):
                await asyncio.wait_for(c.wait_registered(), 10 * TIME)
            async with OperatorClient.connect(gw.operator_url) as op:
                await op.call("echo", {"x": 1}, node_id="a")
            ma, mb = await scrape(a), await scrape(b)
        finally:
            for c in (a, b):
                c.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 10 * TIME)
    assert sample(ma, "requests_total", kind="command", route="echo", code="ok") == 1.0
    assert sample(mb, "requests_total", kind="command", route="echo", code="ok") is None


async def test_a_taken_port_is_a_startup_error(peer):
    """A listen address already in use stops the node before it connects, naming the key."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        client = GatewayClient(config=observed(peer.url, listen=f"127.0.0.1:{port}"))
        with pytest.raises(ListenError) as caught:
            await asyncio.wait_for(client.run(), 10 * TIME)
    assert caught.value.exit_code == 78
    assert f"observability.listen: cannot listen on 127.0.0.1:{port}" in str(caught.value)
    assert peer.attempts == 0


async def test_a_reload_moves_the_listener(peer):
    """A reload with a new listen address rebinds; a taken one fails the reload and keeps the old."""
    client = GatewayClient(config=observed(peer.url))
    task = asyncio.create_task(client.run())
    try:
        await peer.registered()
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        old = client.observer.listening
        port = free_port()
        moved = observed(peer.url, listen=f"127.0.0.1:{port}")
        await client.apply(snapshot_from_config(moved))
        assert client.observer.listening == ("127.0.0.1", port)
        assert (await get(client, "/readyz"))[0] == 200
        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(_get, f"http://127.0.0.1:{old[1]}/healthz")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = observed(peer.url, listen=f"127.0.0.1:{taken.getsockname()[1]}")
            with pytest.raises(ListenError):
                await client.apply(snapshot_from_config(busy))
        assert client.config == moved and client.observer.listening == ("127.0.0.1", port)
        assert (await get(client, "/healthz"))[0] == 200
        await client.apply(snapshot_from_config(node_config(peer.url)))
        assert client.observer.listening is None
    finally:
        client.stop()
        await asyncio.wait_for(task, 10 * TIME)


async def test_http_answers_only_what_it_serves(peer):
    """Unknown paths are 404, other methods 405, garbage 400; HEAD has no body."""
    client = GatewayClient(config=observed(peer.url))
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        assert (await get(client, "/nope"))[0] == 404
        host, port = client.observer.listening

        async def raw(request: bytes) -> bytes:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10 * TIME)
            writer.close()
            return answer

        assert (await raw(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(
            b"HTTP/1.1 405 ")
        assert (await raw(b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        head = await raw(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    finally:
        client.stop()
        await asyncio.wait_for(task, 10 * TIME)


async def _status(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *EXE, "status", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT, env={**os.environ, "http_proxy": "http://127.0.0.1:9", "NO_PROXY": ""})
    out, err = await asyncio.wait_for(proc.communicate(), 60 * TIME)
    return proc.returncode, out.decode(), err.decode()


async def test_status_command_reads_the_node(tmp_path, peer):
    """status prints a summary and exits 0 when ready, 1 when not, 69 when nothing answers."""
    port = free_port()
    config = tmp_path / "node.yaml"
    config.write_text(f"observability: {{listen: '127.0.0.1:{port}'}}\n")
    client = GatewayClient(config=observed(peer.url, listen=f"127.0.0.1:{port}"))
    task = asyncio.create_task(client.run())
    try:
        conn, _ = await peer.registered()
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        assert (await conn.call("add", {"a": 1, "b": 2}))["result"] == 3
        code, out, err = await _status(str(config))
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == f"ready: registered with {peer.url} as test-node"
        assert any(line.split()[:2] == ["requests", "1"] for line in lines), out
        assert any("gateway" in line and peer.url in line for line in lines), out
        assert any(line.split()[0] == "uptime" for line in lines), out
        await peer.stop()
        await until(lambda: _is(client, "/readyz", 503))
        code, out, _ = await _status("--url", f"http://127.0.0.1:{port}")
        assert code == 1 and out.startswith("not ready: "), out
    finally:
        client.stop()
        await asyncio.wait_for(task, 10 * TIME)
    code, out, err = await _status("--url", f"http://127.0.0.1:{port}")
    assert code == 69 and "cannot reach the node" in err, err
    (tmp_path / "plain.yaml").write_text("node: {id: x}\n")
    code, _, err = await _status(str(tmp_path / "plain.yaml"))
    assert code == 78 and "observability.listen" in err


def test_listen_is_validated_and_in_the_schema():
    """observability.listen takes HOST:PORT; anything else names the key; the schema has it."""
    assert default_config().observability.listen is None
    assert default_config(observability={"listen": "[::1]:9464"}).observability.address == ("::1", 9464)
    for bad in ("9464", 9464, "127.0.0.1", "127.0.0.1:99999", "[nope]:1", "http://x:1"):
        with pytest.raises(ConfigError) as caught:
            default_config(observability={"listen": bad})
        assert [p.path for p in caught.value.problems] == ["observability.listen"], bad
        assert "HOST:PORT" in str(caught.value.problems[0]) or "IPv6" in str(caught.value.problems[0])
    with pytest.raises(ConfigError):
        default_config(observability={"port": 1})
    assert "listen" in config_schema()["$defs"]["ObservabilityConfig"]["properties"]
