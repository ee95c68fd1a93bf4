"""Reconnects, the outbox and duplicate request ids, across real gateway restarts."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
import sample_handlers
from conftest import TIME, GatewayPeer, node_config

from nodetool_gateway import GatewayClient

pytestmark = pytest.mark.asyncio


async def test_reconnects_three_times_with_delay_reset(peer, run_node, caplog):
    """After each registration the back-off starts again from retry.initial_delay."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    cfg = node_config(peer.url, retry={"initial_delay": 0.05 * TIME, "multiplier": 10.0,
                                       "max_delay": 30.0, "jitter": 0.0},
                      heartbeat={"interval": 0.02 * TIME, "timeout": 10 * TIME})
    client = GatewayClient(config=cfg)
    async with run_node(client):
        for _ in range(3):
            conn, _ = await peer.registered()
            await conn.ws.close(1012, "restarting")
            await conn.closed.wait()
        conn, _ = await peer.registered(timeout=2 * TIME)
        # Exactly one heartbeat task survives the reconnects: count a window of beats.
        await conn.recv("heartbeat")
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(10):
            await conn.recv("heartbeat")
        elapsed = loop.time() - start
        assert elapsed > 10 * 0.02 * TIME * 0.6
    delays = [float(m) for m in re.findall(r"reconnecting in ([\d.]+)s \(attempt (?:\d+)\)",
                                           caplog.text)]
    attempts = re.findall(r"reconnecting in [\d.]+s \(attempt (\d+)\)", caplog.text)
    assert delays == [pytest.approx(0.05 * TIME, abs=0.01)] * 3
    assert attempts == ["1", "1", "1"]
    assert client.registrations == 4


async def test_backoff_grows_while_the_gateway_stays_down(run_node, caplog):
    """While the gateway is down the delays grow: multiplier times the last, at most
    max_delay, and at most half of what the node has waited since it lost the gateway."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    gw = await GatewayPeer().start()
    port = gw.port
    await gw.stop()
    cfg = node_config(f"ws://127.0.0.1:{port}", retry={
        "initial_delay": 0.04, "multiplier": 2.0, "max_delay": 0.09, "jitter": 0.0,
        "hold_attempts": 2})
    async with run_node(GatewayClient(config=cfg)):
        while caplog.text.count("reconnecting in") < 6:
            await asyncio.sleep(0.01)
    delays = [float(m) for m in re.findall(r"reconnecting in ([\d.]+)s", caplog.text)][:6]
    # Two quick retries at the initial delay; then the doubled step (0.08) is held to half
    # of the 0.08 s waited, then to half of 0.12 s, then max_delay.
    assert delays == pytest.approx([0.04, 0.04, 0.04, 0.06, 0.09, 0.09], abs=0.001)


async def test_outbox_delivers_every_answer_once_after_restart(peer, run_node):
    """Answers made while the gateway is down go out, in order, once, after re-registration."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        rids = [await conn.command("gate", {"key": f"o{i}", "result": i}, request_id=f"o{i}")
                for i in range(5)]
        for i in range(5):
            await sample_handlers.started(f"o{i}").wait()
        await peer.stop()
        await conn.closed.wait()
        # The gateway is down: the answers are made now and must wait in the outbox.
        for i in range(5):
            sample_handlers.gate_for(f"o{i}").set()
        await asyncio.sleep(0.1 * TIME)
        await peer.restart()
        conn2, reg = await peer.registered()
        answers = [await conn2.recv("command_response") for _ in range(5)]
        assert [a["request_id"] for a in answers] == rids
        assert [a["result"]["result"] for a in answers] == [0, 1, 2, 3, 4]
        # The gateway asks again for one it already has: the stored answer, not a second run.
        again = await conn2.call("gate", {"key": "o2", "result": 2}, request_id="o2")
        assert again["result"] == {"key": "o2", "result": 2}
        assert (await conn2.call("add", {"a": 1}))["result"] == 1
    delivered = [f["request_id"] for c in peer.all_connections for f in c.received
                 if f["type"] == "command_response" and f["request_id"].startswith("o")]
    assert sorted(delivered) == sorted(rids + ["o2"])
    assert all(sample_handlers.CALLS[f"o{i}"] == 1 for i in range(5))


async def test_duplicate_request_id_runs_once(peer, run_node):
    """A request id seen while running or after answering is never run twice."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.command("gate", {"key": "d"}, request_id="dup")
        assert (await conn.recv())["message"] == "accepted"
        await sample_handlers.started("d").wait()
        await conn.command("gate", {"key": "d"}, request_id="dup")
        ack = await conn.recv()
        assert ack["type"] == "ack" and ack["message"] == "already running"
        sample_handlers.gate_for("d").set()
        first = await conn.answer_for("dup")
        await conn.command("gate", {"key": "d"}, request_id="dup")
        second = await conn.answer_for("dup")
    assert first["result"] == second["result"] == {"key": "d", "result": None}
    assert sample_handlers.CALLS["d"] == 1
    answers = [f for f in conn.received if f["type"] == "command_response"]
    assert len(answers) == 2


async def test_answer_sent_after_reconnect_when_connection_drops_mid_call(peer, run_node):
    """A call that finishes after the connection dropped is answered on the new connection."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.command("gate", {"key": "m"}, request_id="mid")
        await sample_handlers.started("m").wait()
        await conn.ws.close(1011, "oops")
        conn2, _ = await peer.registered()
        sample_handlers.gate_for("m").set()
        answer = await conn2.answer_for("mid")
    assert answer["status"] == "success"


@pytest.mark.parametrize("interval", [5.0, 0.05])
async def test_silent_gateway_is_a_dead_connection(peer, run_node, caplog, interval):
    """A gateway that stops answering pings for heartbeat.timeout is dropped and rejoined,
    heartbeats flowing into the kernel's buffers or not."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    cfg = node_config(peer.url, heartbeat={"interval": interval * TIME, "timeout": 0.2 * TIME})
    async with run_node(GatewayClient(config=cfg)) as client:
        conn, _ = await peer.registered()
        # The gateway process hangs: it reads nothing more, so no pong comes back.
        conn.ws.transport.pause_reading()
        conn2, _ = await peer.registered(timeout=3 * TIME)
        assert conn2 is not conn
        assert client.registrations == 2
    assert "did not answer pings" in caplog.text
