"""The local gateway and its operator client, over real sockets on loopback."""

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
from websockets.asyncio.client import connect

from nodetool_gateway.gateway import (
    GatewayError,
    LocalGateway,
    OperatorClient,
    serve_forever,
)


@pytest.mark.asyncio
async def test_registration_is_recorded(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """Gateway records a node's capabilities and metadata when it registers."""
    await start_node("node-a", commands=["echo", "list_workflows"])
    info = gateway.nodes["node-a"]
    assert info.connected
    assert info.commands == ["echo", "list_workflows"]
    assert info.message_types == ["command_request", "workflow_request"]
    assert info.workflow_execution is True
    assert info.metadata == {"user_id": "1", "version": "0.1.0"}
    assert info.status == "active"


@pytest.mark.asyncio
async def test_heartbeat_status_is_recorded(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """Gateway records a heartbeat's status, in_flight and time."""
    node = await start_node()
    assert gateway.nodes["node-a"].last_heartbeat is None
    await node.send({"type": "heartbeat", "node_id": "node-a", "status": "busy", "in_flight": 3})
    await received(gateway, "heartbeat")
    info = gateway.nodes["node-a"]
    assert (info.status, info.in_flight) == ("busy", 3)
    assert info.last_heartbeat is not None and info.last_heartbeat.endswith("+00:00")


@pytest.mark.asyncio
async def test_reregistration_updates_capabilities(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """A second registration on the same socket updates the node's commands."""
    node = await start_node(commands=["echo"])
    await received(gateway, "node_registration")
    await node.register(commands=["echo", "reloaded"])
    await received(gateway, "node_registration")
    assert gateway.nodes["node-a"].commands == ["echo", "reloaded"]
    assert gateway.nodes["node-a"].registrations == 2
    assert node.ws.close_code is None


@pytest.mark.asyncio
async def test_command_is_relayed_with_ack(start_node: NodeFactory, operator: OperatorClient) -> None:
    """Operator gets the node's ack as an update, then its command_response."""
    node = await start_node()
    updates: list[dict[str, Any]] = []
    answer = await operator.call("echo", {"x": 1}, timeout=TIMEOUT, on_update=updates.append)
    assert answer["type"] == "command_response"
    assert answer["result"] == {"node": "node-a", "command": "echo", "args": {"x": 1}}
    assert [u["type"] for u in updates] == ["ack"]
    request = await node.next("command_request")
    assert request["request_id"] == answer["request_id"] == updates[0]["request_id"]
    assert request["timestamp"].endswith("+00:00")


@pytest.mark.asyncio
async def test_workflow_updates_arrive_in_order(start_node: NodeFactory, operator: OperatorClient) -> None:
    """Operator gets the ack and every workflow_update in order, then the workflow_response."""
    await start_node(updates=20)
    updates: list[dict[str, Any]] = []
    answer = await operator.run_workflow(
        workflow_id="wf-1", params={"n": 2}, timeout=TIMEOUT, on_update=updates.append
    )
    assert answer["type"] == "workflow_response"
    assert answer["status"] == "completed"
    assert answer["result"] == {"outputs": {"params": {"n": 2}}}
    assert [u["type"] for u in updates] == ["ack"] + ["workflow_update"] * 20
    assert [u["data"]["progress"] for u in updates[1:]] == list(range(20))


@pytest.mark.asyncio
async def test_concurrent_calls_are_all_answered(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """Two hundred calls in flight over one operator socket each get their own answer."""
    await start_node()
    answers = await asyncio.gather(*(operator.call("echo", {"i": i}, timeout=TIMEOUT) for i in range(200)))
    assert [a["result"]["args"]["i"] for a in answers] == list(range(200))
    assert len({a["request_id"] for a in answers}) == 200
    assert gateway.pending_requests == 0


@pytest.mark.asyncio
async def test_no_node_connected(operator: OperatorClient) -> None:
    """A request with no node connected fails with NO_NODE."""
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", timeout=TIMEOUT)
    assert caught.value.code == "NO_NODE"
    assert caught.value.frame["request_id"]


@pytest.mark.asyncio
async def test_two_nodes_need_node_id(start_node: NodeFactory, operator: OperatorClient) -> None:
    """With two nodes a request without node_id fails with NO_NODE naming both."""
    await start_node("node-a")
    await start_node("node-b")
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", timeout=TIMEOUT)
    assert caught.value.code == "NO_NODE"
    assert "node-a" in caught.value.message and "node-b" in caught.value.message


@pytest.mark.asyncio
async def test_routing_by_node_id(start_node: NodeFactory, operator: OperatorClient) -> None:
    """A request with node_id reaches that node and no other."""
    node_a = await start_node("node-a")
    node_b = await start_node("node-b")
    answer_b = await operator.call("echo", node_id="node-b", timeout=TIMEOUT)
    answer_a = await operator.call("echo", node_id="node-a", timeout=TIMEOUT)
    assert answer_b["result"]["node"] == "node-b"
    assert answer_a["result"]["node"] == "node-a"
    assert (await node_a.next("command_request"))["request_id"] == answer_a["request_id"]
    assert (await node_b.next("command_request"))["request_id"] == answer_b["request_id"]


@pytest.mark.asyncio
async def test_known_disconnected_node(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A request for a registered node that has disconnected fails with NO_NODE."""
    await start_node("node-a")
    await gateway.disconnect_node("node-a")
    assert gateway.nodes["node-a"].connected is False
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", node_id="node-a", timeout=TIMEOUT)
    assert caught.value.code == "NO_NODE"
    assert "not connected" in caught.value.message


@pytest.mark.asyncio
async def test_node_closing_is_recorded(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A node that closes its socket is marked disconnected and gets no more requests."""
    node = await start_node("node-a")
    await node.close()
    info = await gateway.wait_for_disconnect("node-a", timeout=TIMEOUT)
    assert info.connected is False
    with pytest.raises(GatewayError) as caught:
        await operator.call("echo", timeout=TIMEOUT)
    assert caught.value.code == "NO_NODE"


@pytest.mark.asyncio
async def test_reconnect_after_close_registers_again(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A node id registers again once its previous connection has closed."""
    old = await start_node("node-a")
    await old.close()
    await gateway.wait_for_disconnect("node-a", timeout=TIMEOUT)
    await start_node("node-a")
    assert gateway.nodes["node-a"].connected and gateway.nodes["node-a"].registrations == 2
    assert (await operator.call("echo", timeout=TIMEOUT))["status"] == "success"


@pytest.mark.asyncio
async def test_pending_request_fails_when_node_disconnects(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A node that drops fails its pending requests at once with NODE_DISCONNECTED."""
    first = await start_node("node-a", answer=False)
    rid = await operator.request({"type": "command_request", "command": "slow", "args": {}})
    await first.next("command_request")
    await gateway.disconnect_node("node-a")
    with pytest.raises(GatewayError) as caught:
        await operator.result(rid, timeout=TIMEOUT)
    assert caught.value.code == "NODE_DISCONNECTED"
    assert "node-a" in caught.value.message and "1001" in caught.value.message
    assert gateway.pending_requests == 0

    back = await start_node("node-a", answer=False)
    await back.send({"type": "command_response", "request_id": rid, "status": "success", "result": "late"})
    await received(gateway, "command_response")
    assert gateway.pending_requests == 0


@pytest.mark.asyncio
async def test_pending_request_fails_when_node_closes(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A node that closes its own socket fails every request it holds, for every operator."""
    node = await start_node("node-a", answer=False)
    async with OperatorClient.connect(gateway.operator_url) as other:
        mine = await operator.request({"type": "workflow_request", "workflow_id": "wf", "params": {}})
        theirs = await other.request({"type": "command_request", "command": "slow", "args": {}})
        await node.next("workflow_request")
        await node.next("command_request")
        await node.close()
        for op, rid in ((operator, mine), (other, theirs)):
            with pytest.raises(GatewayError) as caught:
                await op.result(rid, timeout=TIMEOUT)
            assert caught.value.code == "NODE_DISCONNECTED"
    assert gateway.pending_requests == 0


@pytest.mark.asyncio
async def test_node_error_frame_ends_request(start_node: NodeFactory, operator: OperatorClient) -> None:
    """A custom message type is forwarded and the node's error frame raises GatewayError."""
    node = await start_node()
    with pytest.raises(GatewayError) as caught:
        await operator.send({"type": "custom_thing", "payload": 1}, timeout=TIMEOUT)
    assert caught.value.code == "UNKNOWN_TYPE"
    assert (await node.next("custom_thing"))["payload"] == 1


@pytest.mark.asyncio
async def test_cancel_request_is_forwarded(start_node: NodeFactory, operator: OperatorClient) -> None:
    """cancel_request reaches the node running the request, whose final answer still arrives."""
    node = await start_node(answer=False)
    rid = await operator.request({"type": "workflow_request", "workflow_id": "wf", "params": {}})
    await node.next("workflow_request")
    await operator.cancel(rid)
    assert (await node.next("cancel_request"))["request_id"] == rid
    await node.send({"type": "workflow_response", "request_id": rid, "status": "cancelled", "result": None})
    assert (await operator.result(rid, timeout=TIMEOUT))["status"] == "cancelled"


@pytest.mark.asyncio
async def test_duplicate_request_is_forwarded_once_pending(
    gateway: LocalGateway, start_node: NodeFactory
) -> None:
    """A repeated request_id is forwarded again but answered once."""
    node = await start_node(answer=False)
    async with connect(gateway.operator_url) as raw:
        frame = json.dumps({"type": "command_request", "request_id": "dup-1", "command": "echo", "args": {}})
        await raw.send(frame)
        await raw.send(frame)
        assert (await node.next("command_request"))["request_id"] == "dup-1"
        assert (await node.next("command_request"))["request_id"] == "dup-1"
        assert gateway.pending_requests == 1
        await node.send({"type": "command_response", "request_id": "dup-1", "status": "success", "result": 1})
        async with asyncio.timeout(TIMEOUT):
            answer = json.loads(await raw.recv())
        assert (answer["type"], answer["request_id"]) == ("command_response", "dup-1")
        assert gateway.pending_requests == 0


@pytest.mark.asyncio
async def test_operator_disconnect_releases_its_requests(gateway: LocalGateway, start_node: NodeFactory) -> None:
    """A request id left by a departed operator is answered to the next operator that sends it."""
    node = await start_node(answer=False)
    frame = {"type": "command_request", "request_id": "r-1", "command": "echo", "args": {}}
    async with OperatorClient.connect(gateway.operator_url) as first:
        await first.request(frame)
        await node.next("command_request")
    async with OperatorClient.connect(gateway.operator_url) as second:
        await second.request(frame)
        await node.next("command_request")
        await node.send({"type": "command_response", "request_id": "r-1", "status": "success", "result": 2})
        assert (await second.result("r-1", timeout=TIMEOUT))["result"] == 2
    assert gateway.pending_requests == 0


@pytest.mark.asyncio
async def test_list_nodes(gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient) -> None:
    """list_nodes reports every node seen, connected or not, with its capabilities."""
    node = await start_node("node-a", commands=["echo"])
    await start_node("node-b", commands=["ping", "pong"])
    await node.send({"type": "heartbeat", "node_id": "node-a", "status": "draining", "in_flight": 1})
    await received(gateway, "heartbeat")
    await gateway.disconnect_node("node-b")
    nodes = {n["node_id"]: n for n in await operator.list_nodes(timeout=TIMEOUT)}
    assert set(nodes) == {"node-a", "node-b"}
    assert nodes["node-a"]["connected"] is True
    assert (nodes["node-a"]["status"], nodes["node-a"]["in_flight"]) == ("draining", 1)
    assert nodes["node-a"]["last_heartbeat"] is not None
    assert nodes["node-b"]["connected"] is False
    assert nodes["node-b"]["commands"] == ["ping", "pong"]
    assert nodes["node-b"]["metadata"] == {"user_id": "1", "version": "0.1.0"}


@pytest.mark.asyncio
async def test_bad_first_frame_closes_1008(gateway: LocalGateway) -> None:
    """A node whose first frame is not node_registration gets an error and close 1008."""
    async with connect(gateway.url) as ws:
        await ws.send(json.dumps({"type": "heartbeat", "node_id": "x", "status": "active"}))
        async with asyncio.timeout(TIMEOUT):
            error = json.loads(await ws.recv())
            await ws.wait_closed()
    assert (error["type"], error["code"]) == ("error", "INVALID_MESSAGE")
    assert ws.close_code == 1008
    assert gateway.nodes == {}


@pytest.mark.asyncio
async def test_invalid_node_frame_keeps_session(start_node: NodeFactory, operator: OperatorClient) -> None:
    """A node frame that is not JSON gets INVALID_MESSAGE and the node keeps serving."""
    node = await start_node()
    await node.ws.send("{not json")
    assert (await node.next("error"))["code"] == "INVALID_MESSAGE"
    assert (await operator.call("echo", timeout=TIMEOUT))["status"] == "success"


@pytest.mark.asyncio
async def test_invalid_operator_frame_keeps_session(gateway: LocalGateway) -> None:
    """An operator frame that is not JSON gets INVALID_MESSAGE and the socket stays usable."""
    async with connect(gateway.operator_url) as raw:
        await raw.send("not json")
        async with asyncio.timeout(TIMEOUT):
            error = json.loads(await raw.recv())
            await raw.send(json.dumps({"type": "list_nodes", "request_id": "l-1"}))
            nodes = json.loads(await raw.recv())
    assert error["code"] == "INVALID_MESSAGE"
    assert (nodes["type"], nodes["request_id"], nodes["nodes"]) == ("nodes", "l-1", [])


@pytest.mark.asyncio
async def test_token_auth(caplog: pytest.LogCaptureFixture) -> None:
    """A token-protected gateway answers 401 without the right bearer token, on both endpoints."""
    caplog.set_level(logging.DEBUG)
    async with LocalGateway(auth_token=TOKEN) as gw:
        for url in (gw.url, gw.url + "/ws", gw.operator_url):
            assert await refused_status(url) == 401
            assert await refused_status(url, {"Authorization": "Bearer wrong"}) == 401
            assert await refused_status(url, {"Authorization": f"Basic {TOKEN}"}) == 401
        node = await FakeNode(gw.url, "node-a", token=TOKEN).start()
        await gw.wait_for_node("node-a", timeout=TIMEOUT)
        async with OperatorClient.connect(gw.url, auth_token=TOKEN) as op:
            assert (await op.call("echo", timeout=TIMEOUT))["status"] == "success"
        await node.close()
    ours = [r for r in caplog.records if r.name.startswith("nodetool")]
    assert any("wrong token" in r.getMessage() for r in ours)
    assert not any(TOKEN in r.getMessage() for r in ours)


@pytest.mark.asyncio
async def test_query_token_only_when_allowed(caplog: pytest.LogCaptureFixture) -> None:
    """A ?token= query is accepted only by a gateway started with allow_query_token."""
    caplog.set_level(logging.DEBUG)
    async with LocalGateway(auth_token=TOKEN) as strict:
        assert await refused_status(f"{strict.url}/?token={TOKEN}") == 401
    async with LocalGateway(auth_token=TOKEN, allow_query_token=True) as lenient:
        assert await refused_status(f"{lenient.url}/?token=wrong") == 401
        assert await refused_status(f"{lenient.url}/?token={TOKEN}") is None
        assert await refused_status(f"{lenient.operator_url}?token={TOKEN}") is None
    ours = [r for r in caplog.records if r.name.startswith("nodetool")]
    assert any("token=**********" in r.getMessage() for r in ours)
    assert not any(TOKEN in r.getMessage() for r in ours)


@pytest.mark.asyncio
async def test_no_info_log_per_message(
    caplog: pytest.LogCaptureFixture, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """The server logs node connection events at INFO, and nothing per message."""
    caplog.set_level(logging.INFO, logger="nodetool")
    await start_node("node-a")
    for i in range(20):
        await operator.call("echo", {"i": i}, timeout=TIMEOUT)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("node-a registered (1 commands" in line for line in lines)
    assert len(lines) <= 3


@pytest.mark.asyncio
async def test_serve_forever_runs_until_cancelled() -> None:
    """serve_forever serves nodes until its task is cancelled, then closes them."""
    ready: asyncio.Queue[LocalGateway] = asyncio.Queue()
    task = asyncio.create_task(serve_forever("127.0.0.1", 0, on_ready=ready.put_nowait))
    async with asyncio.timeout(TIMEOUT):
        gw = await ready.get()
        node = await FakeNode(gw.url, "node-a").start()
        await gw.wait_for_node("node-a", timeout=TIMEOUT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await node.ws.wait_closed()
    assert node.ws.close_code == 1001
    await node.close()
