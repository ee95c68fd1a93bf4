"""The local gateway against hostile peers: browsers, id thieves, floods, stray answers."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from .gateway_fakes import (
    TIMEOUT,
    TOKEN,
    FakeNode,
    NodeFactory,
    received,
    refused_status,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nodetool_gateway.gateway import GatewayError, LocalGateway, OperatorClient


def warnings(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("nodetool") and needle in r.getMessage()
    ]


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        return json.loads(await ws.recv())


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    async with asyncio.timeout(TIMEOUT):
        await ws.wait_closed()
    return ws.close_code, ws.close_reason


def registration(node_id: str, **extra: Any) -> str:
    frame = {"type": "node_registration", "node_id": node_id, "capabilities": {"commands": ["echo"]}}
    return json.dumps({**frame, **extra})


# Origin


@pytest.mark.asyncio
async def test_browser_origin_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """A handshake with an Origin header gets 403 on both endpoints; one without is accepted."""
    caplog.set_level(logging.WARNING)
    async with LocalGateway() as gw:
        for url in (gw.url, gw.operator_url):
            assert await refused_status(url, {"Origin": "https://evil.example"}) == 403
            assert await refused_status(url, {"Origin": "null"}) == 403
            assert await refused_status(url) is None
    assert len(warnings(caplog, "origin 'https://evil.example' is not allowed")) == 2


@pytest.mark.asyncio
async def test_allowed_origin_is_accepted() -> None:
    """An origin in allow_origins is accepted; a near miss is not."""
    async with LocalGateway(allow_origins=["http://localhost:3000"]) as gw:
        assert await refused_status(gw.operator_url, {"Origin": "http://localhost:3000"}) is None
        assert await refused_status(gw.operator_url, {"Origin": "http://localhost:3001"}) == 403
        assert await refused_status(gw.operator_url, {"Origin": "http://localhost:3000.evil"}) == 403


@pytest.mark.asyncio
async def test_token_is_checked_before_origin() -> None:
    """With a token, a browser without it gets 401; with it and a foreign origin, 403."""
    async with LocalGateway(auth_token=TOKEN) as gw:
        origin = {"Origin": "https://evil.example"}
        assert await refused_status(gw.url, origin) == 401
        assert await refused_status(gw.url, {**origin, "Authorization": f"Bearer {TOKEN}"}) == 403


# Node ids


@pytest.mark.asyncio
async def test_live_node_id_cannot_be_taken_over(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A second registration of a live node id gets NODE_ID_IN_USE and close 1008; the first keeps it."""
    await start_node("node-a")
    async with connect(gateway.url) as thief:
        await thief.send(registration("node-a"))
        error = await recv_json(thief)
        assert await closed(thief) == (1008, "node_id in use")
    assert (error["type"], error["code"]) == ("error", "NODE_ID_IN_USE")
    assert gateway.nodes["node-a"].registrations == 1
    answer = await operator.call("echo", node_id="node-a", timeout=TIMEOUT)
    assert answer["result"]["node"] == "node-a"


@pytest.mark.asyncio
async def test_unresponsive_connection_is_replaced(caplog: pytest.LogCaptureFixture) -> None:
    """A connection that does not answer a ping loses its id to a new registration."""
    caplog.set_level(logging.WARNING)
    async with LocalGateway(takeover_ping_timeout=0.1 * TIMEOUT) as gw:
        old = await FakeNode(gw.url, "node-a", answer=False).start()
        await gw.wait_for_node("node-a", timeout=TIMEOUT)
        async with OperatorClient.connect(gw.operator_url) as op:
            rid = await op.request({"type": "command_request", "command": "slow", "args": {}})
            await old.next("command_request")
            old.ws.transport.pause_reading()  # a dead peer: no pong will come
            new = await FakeNode(gw.url, "node-a").start()
            with pytest.raises(GatewayError) as caught:
                await op.result(rid, timeout=TIMEOUT)
            assert caught.value.code == "NODE_DISCONNECTED"
            info = await gw.wait_for_node("node-a", timeout=TIMEOUT)
            assert info.registrations == 2
            assert (await op.call("echo", timeout=TIMEOUT))["result"]["node"] == "node-a"
        old.ws.transport.abort()
        await new.close()
    assert len(warnings(caplog, "did not answer a ping; replaced by")) == 1


@pytest.mark.asyncio
async def test_reregistration_cannot_change_node_id(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """A registered connection cannot re-register under another node's id."""
    await start_node("node-a")
    b = await start_node("node-b")
    await b.register()
    b.node_id = "node-a"
    await b.register()
    assert (await b.next("error"))["code"] == "INVALID_MESSAGE"
    assert gateway.nodes["node-a"].registrations == 1


# Answers and cancels


@pytest.mark.asyncio
async def test_answers_only_from_the_node_asked(
    caplog: pytest.LogCaptureFixture,
    gateway: LocalGateway,
    start_node: NodeFactory,
    operator: OperatorClient,
) -> None:
    """Frames for a request sent to node A arriving from node B are dropped with one WARNING."""
    caplog.set_level(logging.DEBUG, logger="nodetool")
    a = await start_node("node-a", answer=False)
    b = await start_node("node-b", answer=False)
    updates: list[dict[str, Any]] = []
    rid = await operator.request(
        {"type": "command_request", "command": "echo", "args": {}, "node_id": "node-a"},
        on_update=updates.append,
    )
    await a.next("command_request")
    for frame in (
        {"type": "ack", "request_id": rid, "message": "forged"},
        {"type": "command_response", "request_id": rid, "status": "success", "result": "forged"},
        {"type": "error", "request_id": rid, "code": "HANDLER_ERROR", "error": "forged"},
    ):
        await b.send(frame)
        sender, _ = await received(gateway, frame["type"])
        assert sender == "node-b"
    await a.send({"type": "command_response", "request_id": rid, "status": "success", "result": "real"})
    assert (await operator.result(rid, timeout=TIMEOUT))["result"] == "real"
    assert updates == []
    assert len(warnings(caplog, f"node node-b answered request {rid}, which went to node node-a")) == 1
    assert not warnings(caplog, "forged")


@pytest.mark.asyncio
async def test_only_the_sender_can_cancel(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """Another operator's cancel_request gets NOT_FOUND and never reaches the node."""
    node = await start_node(answer=False)
    async with OperatorClient.connect(gateway.operator_url) as owner, connect(gateway.operator_url) as other:
        rid = await owner.request({"type": "workflow_request", "workflow_id": "wf", "params": {}})
        assert (await node.received.get())["type"] == "workflow_request"
        await other.send(json.dumps({"type": "cancel_request", "request_id": rid}))
        error = await recv_json(other)
        assert (error["code"], error["details"]) == ("NOT_FOUND", {"cancel_request_id": rid})
        assert "request_id" not in error
        await other.send(json.dumps({"type": "cancel_request", "request_id": "no-such"}))
        assert (await recv_json(other))["code"] == "NOT_FOUND"

        await owner.cancel(rid)
        async with asyncio.timeout(TIMEOUT):
            cancel = await node.received.get()  # the very next frame: the other's never came
        assert (cancel["type"], cancel["request_id"]) == ("cancel_request", rid)
        await node.send({"type": "workflow_response", "request_id": rid, "status": "cancelled"})
        assert (await owner.result(rid, timeout=TIMEOUT))["status"] == "cancelled"


@pytest.mark.asyncio
async def test_request_id_of_another_operator_is_refused(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """A request reusing a request_id pending for another operator is refused, not forwarded."""
    node = await start_node(answer=False)
    frame = {"type": "command_request", "request_id": "r-1", "command": "echo", "args": {}}
    async with OperatorClient.connect(gateway.operator_url) as first, OperatorClient.connect(
        gateway.operator_url
    ) as second:
        await first.request(frame)
        await node.next("command_request")
        with pytest.raises(GatewayError) as caught:
            await second.send(frame, timeout=TIMEOUT)
        assert caught.value.code == "INVALID_MESSAGE" and "already pending" in caught.value.message
        await node.send({"type": "command_response", "request_id": "r-1", "status": "success", "result": 1})
        assert (await first.result("r-1", timeout=TIMEOUT))["result"] == 1
    assert node.received.empty()


# Registry


@pytest.mark.asyncio
async def test_registry_forgets_departed_nodes() -> None:
    """Only the newest max_departed_nodes departed nodes are remembered; list_nodes stays small."""
    async with LocalGateway(max_departed_nodes=3) as gw:
        live = await FakeNode(gw.url, "live").start()
        await gw.wait_for_node("live", timeout=TIMEOUT)
        for i in range(20):
            node = await FakeNode(gw.url, f"throwaway-{i}").start()
            await gw.wait_for_node(node.node_id, timeout=TIMEOUT)
            await node.close()
            await gw.wait_for_disconnect(node.node_id, timeout=TIMEOUT)
        assert set(gw.nodes) == {"live", "throwaway-17", "throwaway-18", "throwaway-19"}
        async with OperatorClient.connect(gw.operator_url) as op:
            listed = {n["node_id"]: n["connected"] for n in await op.list_nodes(timeout=TIMEOUT)}
            assert listed == {"live": True, "throwaway-17": False, "throwaway-18": False, "throwaway-19": False}
            with pytest.raises(GatewayError) as caught:
                await op.call("echo", node_id="throwaway-0", timeout=TIMEOUT)
            assert caught.value.code == "NO_NODE"
        back = await FakeNode(gw.url, "throwaway-17").start()  # back: no longer departed
        await gw.wait_for_node("throwaway-17", timeout=TIMEOUT)
        for i in range(20, 23):
            node = await FakeNode(gw.url, f"throwaway-{i}").start()
            await gw.wait_for_node(node.node_id, timeout=TIMEOUT)
            await node.close()
            await gw.wait_for_disconnect(node.node_id, timeout=TIMEOUT)
        assert set(gw.nodes) == {"live", "throwaway-17", "throwaway-20", "throwaway-21", "throwaway-22"}
        await back.close()
        await live.close()


@pytest.mark.asyncio
async def test_oversize_registration_is_refused() -> None:
    """A registration over max_registration_size gets TOO_LARGE and close 1008, and is not kept."""
    async with LocalGateway(max_registration_size=1000) as gw:
        async with connect(gw.url) as ws:
            await ws.send(registration("big", metadata={"pad": "x" * 2000}))
            assert (await recv_json(ws))["code"] == "TOO_LARGE"
            assert (await closed(ws))[0] == 1008
        assert gw.nodes == {}


@pytest.mark.asyncio
async def test_silent_connection_must_register_in_time() -> None:
    """A node connection that sends nothing is closed with 1008 after registration_timeout."""
    async with LocalGateway(registration_timeout=0.05 * TIMEOUT) as gw:
        async with connect(gw.url) as ws:
            assert (await recv_json(ws))["code"] == "INVALID_MESSAGE"
            assert await closed(ws) == (1008, "registration timeout")
        assert gw.nodes == {}


# Limits


@pytest.mark.asyncio
async def test_connection_limit(caplog: pytest.LogCaptureFixture) -> None:
    """Connections over max_connections get HTTP 503, logged once; a freed slot is usable again."""
    caplog.set_level(logging.INFO, logger="nodetool")
    async with LocalGateway(max_connections=2) as gw:
        first = await FakeNode(gw.url, "node-a").start()
        async with connect(gw.operator_url):
            assert gw.open_connections == 2
            assert await refused_status(gw.url) == 503
            assert await refused_status(gw.operator_url) == 503
            await first.close()
            await gw.wait_for_disconnect("node-a", timeout=TIMEOUT)
            assert await refused_status(gw.url) is None
    assert len(warnings(caplog, "refusing connections: 2 open (max_connections 2)")) == 1


@pytest.mark.asyncio
async def test_operator_over_rate_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    """An operator over the rate limit gets RATE_LIMITED and close 1008, logged once."""
    caplog.set_level(logging.WARNING)
    async with LocalGateway(rate_limit=1, rate_burst=5) as gw, connect(gw.operator_url) as ws:
        for i in range(5):  # the burst
            await ws.send(json.dumps({"type": "list_nodes", "request_id": str(i)}))
            assert (await recv_json(ws))["type"] == "nodes"
        for i in range(50):
            try:
                await ws.send(json.dumps({"type": "list_nodes", "request_id": f"x{i}"}))
            except ConnectionClosed:
                break
        assert (await recv_json(ws))["code"] == "RATE_LIMITED"
        assert await closed(ws) == (1008, "rate limit exceeded")
    assert len(warnings(caplog, "over 1 messages/s (burst 5): closing with 1008")) == 1


@pytest.mark.asyncio
async def test_node_over_rate_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    """A node over the rate limit is closed with 1008 and shows as disconnected."""
    caplog.set_level(logging.WARNING)
    async with LocalGateway(rate_limit=1, rate_burst=3) as gw:
        node = await FakeNode(gw.url, "node-a").start()
        await gw.wait_for_node("node-a", timeout=TIMEOUT)
        try:
            for _ in range(50):
                await node.send({"type": "heartbeat", "node_id": "node-a", "status": "active"})
        except ConnectionClosed:
            pass
        assert (await node.next("error"))["code"] == "RATE_LIMITED"
        assert await closed(node.ws) == (1008, "rate limit exceeded")
        await gw.wait_for_disconnect("node-a", timeout=TIMEOUT)
        await node.close()
    assert len(warnings(caplog, "node node-a: over 1 messages/s")) == 1


# Oversize requests


@pytest.mark.asyncio
async def test_request_over_the_nodes_stated_limit(start_node: NodeFactory, operator: OperatorClient) -> None:
    """A request over the max_message_size a node registered fails with TOO_LARGE, unsent."""
    node = await start_node(capabilities={"max_message_size": 1000})
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", {"blob": "é" * 600}, timeout=TIMEOUT)
    assert caught.value.code == "TOO_LARGE" and "over node 'node-a''s limit of 1000" in caught.value.message
    assert (await operator.call("echo", {"blob": "ok"}, timeout=TIMEOUT))["status"] == "success"
    assert [f["args"] for f in [json.loads(t) for t in node.texts]] == [{"blob": "ok"}]


@pytest.mark.asyncio
async def test_a_limit_stated_in_the_registration_metadata_counts_too(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """NodeTool's client has no capabilities field for it: metadata.max_message_size works."""
    node = await start_node("node-a")
    await node.send({"type": "node_registration", "node_id": "node-a",
                     "capabilities": {"commands": ["echo"]},
                     "metadata": {"user_id": "1", "max_message_size": 1000}})
    for _ in range(100):  # the re-registration is applied when the gateway reads it
        if gateway.nodes["node-a"].metadata.get("max_message_size") == 1000:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", {"blob": "é" * 600}, timeout=TIMEOUT)
    assert caught.value.code == "TOO_LARGE" and "limit of 1000" in caught.value.message


@pytest.mark.asyncio
async def test_request_the_node_cannot_take_fails_at_once(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A node that closes (1009) on a frame too large for it fails the request with NODE_DISCONNECTED."""
    await start_node("node-a", max_size=1000)
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", {"blob": "x" * 5000}, timeout=TIMEOUT)
    assert caught.value.code == "NODE_DISCONNECTED" and "1009" in caught.value.message
    assert gateway.pending_requests == 0


@pytest.mark.asyncio
async def test_large_request_carries_its_id_first(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """A large request reaches the node with request_id near the start, where a node can sniff it."""
    node = await start_node(answer=False)
    async with connect(gateway.operator_url, max_size=None) as raw:
        body = {"type": "command_request", "command": "echo", "args": {"blob": "x" * 100_000}}
        await raw.send(json.dumps({**body, "request_id": "big-1"}))
        await node.next("command_request")
    assert '"request_id": "big-1"' in node.texts[-1][:100]
