"""Shutdown: drain, finish or cancel running calls, deliver, close with 1001."""

from __future__ import annotations

import asyncio

import pytest
import sample_handlers
from conftest import TIME, node_config

from nodetool_gateway import GatewayClient

pytestmark = pytest.mark.asyncio


async def test_shutdown_with_work_in_flight(peer):
    """Stop drains: heartbeat says draining, new work is refused, late calls are CANCELLED."""
    cfg = node_config(peer.url, shutdown={"grace": 0.3 * TIME})
    client = GatewayClient(config=cfg)
    node = asyncio.create_task(client.run())
    conn, _ = await peer.registered()
    await conn.command("gate", {"key": "quick"}, request_id="quick")
    await conn.command("gate", {"key": "slow"}, request_id="slow")
    await sample_handlers.started("quick").wait()
    await sample_handlers.started("slow").wait()

    client.stop()
    hb = await conn.recv("heartbeat")
    assert hb["status"] == "draining" and hb["in_flight"] == 2
    late = await conn.call("add", {"a": 1}, request_id="late")
    assert late["code"] == "UNAVAILABLE" and "shutting down" in late["error"]
    sample_handlers.gate_for("quick").set()
    quick = await conn.answer_for("quick")
    slow = await conn.answer_for("slow")
    await asyncio.wait_for(node, 5 * TIME)

    assert quick["status"] == "success"
    assert slow["status"] == "error" and slow["code"] == "CANCELLED"
    assert sample_handlers.CANCELLED == ["slow"]
    await conn.closed.wait()
    assert conn.ws.close_code == 1001
    assert node.result() is None


async def test_shutdown_when_idle_is_prompt(peer):
    """An idle node stops at once and closes with 1001."""
    client = GatewayClient(config=node_config(peer.url, shutdown={"grace": 30}))
    node = asyncio.create_task(client.run())
    conn, _ = await peer.registered()
    client.stop()
    await asyncio.wait_for(node, 2 * TIME)
    await conn.closed.wait()
    assert conn.ws.close_code == 1001
