"""A gateway that stops reading while the node has answers queued: found within
heartbeat.timeout, the connection dropped and rejoined, and no answer lost."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter

import pytest
from conftest import TIME, node_config

from nodetool_gateway import GatewayClient

pytestmark = pytest.mark.asyncio

CALLS: Counter[str] = Counter()
MB = 1_000_000


async def blob(key: str, size: int) -> dict:
    """An answer of ``size`` bytes that no compression can shrink much."""
    CALLS[key] += 1
    return {"key": key, "blob": (key * (size // len(key) + 1))[:size]}


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def _config(url: str, timeout: float = 1.0):
    return node_config(url, heartbeat={"interval": 0.2 * TIME, "timeout": timeout * TIME},
                       commands={"blob": f"{__name__}:blob"})


async def test_gateway_that_stops_reading_is_dropped_and_answers_redelivered(
        peer, run_node, caplog):
    """A gateway that stops reading under a backlog of answers is dropped within
    heartbeat.timeout; the answers still queued go out after the next registration."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    count = 24
    async with run_node(GatewayClient(config=_config(peer.url))) as client:
        conn, _ = await peer.registered()
        # The gateway hangs: it still writes, it reads nothing more.
        conn.ws.transport.pause_reading()
        loop = asyncio.get_running_loop()
        stalled = loop.time()
        rids = [await conn.command("blob", {"key": f"b{i:02d}", "size": MB}, request_id=f"b{i:02d}")
                for i in range(count)]
        conn2, _ = await peer.registered(timeout=5 * TIME)
        elapsed = loop.time() - stalled
        # The marker's answer comes after everything flushed from the outbox.
        assert (await conn2.call("add", {"a": 1}))["result"] == 1
        flushed = {f["request_id"] for f in conn2.received
                   if f["type"] == "command_response" and f["request_id"] in rids}
        # What went into the kernel's buffers before the stall is asked for again:
        # the gateway gets the stored answer, the handler does not run twice.
        for rid in rids:
            if rid not in flushed:
                answer = await conn2.call("blob", {"key": rid, "size": MB}, request_id=rid)
                assert answer["result"]["key"] == rid and len(answer["result"]["blob"]) == MB
        assert client.registrations == 2
    # The stall starts once the kernel's buffers are full; it is found a timeout later.
    assert 1.0 * TIME < elapsed < 2.0 * TIME, elapsed
    assert len(flushed) >= count // 2, flushed
    assert all(CALLS[rid] == 1 for rid in rids), CALLS
    assert "stopped reading" in caplog.text


async def test_slow_gateway_is_not_dropped(peer, run_node, caplog):
    """A gateway that reads slowly keeps its connection, though the node's sends wait
    far longer than heartbeat.timeout: bytes leaving the node's queue are signs of life.

    The gateway's receive buffer is fixed small, so the backlog stays on the node's
    side where it can be seen leaving. (Left to autotuning, Linux may grow it to take
    the whole backlog; the ping then waits behind it with nothing queued on the node:
    the limit RELIABILITY.md states.)"""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    count = 16
    async with run_node(GatewayClient(config=_config(peer.url, 1.0))) as client:
        conn, _ = await peer.registered()
        transport = conn.ws.transport
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                                      1 << 18)
        transport.pause_reading()
        loop = asyncio.get_running_loop()
        start = loop.time()
        rids = [await conn.command("blob", {"key": f"s{i:02d}", "size": MB}, request_id=f"s{i:02d}")
                for i in range(count)]
        answers = []
        while len(answers) < count:
            # One answer's worth of reading, then a pause shorter than heartbeat.timeout.
            await asyncio.sleep(0.3 * TIME)
            transport.resume_reading()
            answers.append(await conn.recv("command_response"))
            transport.pause_reading()
        transport.resume_reading()
        took = loop.time() - start
        assert client.registrations == 1
    assert took > 4.0 * TIME  # the backlog outlived heartbeat.timeout four times
    assert sorted(a["result"]["key"] for a in answers) == rids
    assert len(peer.all_connections) == 1
    assert "stopped reading" not in caplog.text and "lost the connection" not in caplog.text
