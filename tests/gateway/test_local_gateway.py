"""The local gateway and its operator client, over real sockets on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nodetool_gateway.gateway import GatewayError, LocalGateway, OperatorClient, serve_forever

# Scales every wait, for slow CI machines.
TIMEOUT = 5 * float(os.environ.get("GATEWAY_TEST_TIMEOUT_FACTOR", "1"))
TOKEN = "s3cret-token-value"


class FakeNode:
    """A node on a real socket: registers, records every frame, answers when told to."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        token: str | None = None,
        commands: Sequence[str] = ("echo",),
        answer: bool = True,
        updates: int = 3,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.token = token
        self.commands = list(commands)
        self.answer = answer
        self.updates = updates
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ws: ClientConnection

    async def start(self) -> FakeNode:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.ws = await connect(self.url, additional_headers=headers)
        await self.register()
        self._reader = asyncio.create_task(self._read())
        return self

    async def register(self, commands: Sequence[str] | None = None) -> None:
        if commands is not None:
            self.commands = list(commands)
        await self.send(
            {
                "type": "node_registration",
                "node_id": self.node_id,
                "capabilities": {
                    "workflow_execution": True,
                    "commands": self.commands,
                    "message_types": ["command_request", "workflow_request"],
                },
                "metadata": {"user_id": "1", "version": "0.1.0"},
            }
        )

    async def send(self, frame: dict[str, Any]) -> None:
        frame.setdefault("timestamp", "2026-01-01T00:00:00+00:00")
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str) -> dict[str, Any]:
        """The next received frame of type ``kind``."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.received.get()
                if frame["type"] == kind:
                    return frame

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                self.received.put_nowait(frame)
                if self.answer:
                    await self._answer(frame)
        except ConnectionClosed:
            pass

    async def _answer(self, frame: dict[str, Any]) -> None:
        kind, rid = frame["type"], frame.get("request_id")
        if kind == "command_request":
            await self.send({"type": "ack", "request_id": rid, "message": "received"})
            await self.send(
                {
                    "type": "command_response",
                    "request_id": rid,
                    "status": "success",
                    "result": {"node": self.node_id, "command": frame["command"], "args": frame["args"]},
                }
            )
        elif kind == "workflow_request":
            await self.send({"type": "ack", "request_id": rid, "message": "received"})
            for i in range(self.updates):
                await self.send(
                    {
                        "type": "workflow_update",
                        "request_id": rid,
                        "job_id": "job-1",
                        "update_type": "node_progress",
                        "data": {"progress": i, "total": self.updates},
                    }
                )
            await self.send(
                {
                    "type": "workflow_response",
                    "request_id": rid,
                    "status": "completed",
                    "job_id": "job-1",
                    "result": {"outputs": {"params": frame.get("params")}},
                }
            )
        elif kind not in ("cancel_request", "ack", "error"):
            await self.send(
                {"type": "error", "request_id": rid, "code": "UNKNOWN_TYPE", "error": f"no route for {kind!r}"}
            )


NodeFactory = Callable[..., Awaitable[FakeNode]]


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[LocalGateway]:
    async with LocalGateway(record=True) as gw:
        yield gw


@pytest_asyncio.fixture
async def start_node(gateway: LocalGateway) -> AsyncIterator[NodeFactory]:
    nodes: list[FakeNode] = []

    async def start(node_id: str = "node-a", **kwargs: Any) -> FakeNode:
        node = await FakeNode(gateway.url, node_id, **kwargs).start()
        nodes.append(node)
        await gateway.wait_for_node(node_id, timeout=TIMEOUT)
        return node

    yield start
    for node in nodes:
        await node.close()


@pytest_asyncio.fixture
async def operator(gateway: LocalGateway) -> AsyncIterator[OperatorClient]:
    async with OperatorClient.connect(gateway.operator_url) as op:
        yield op


async def received(gateway: LocalGateway, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` the gateway received from a node."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            _, frame = await gateway.received.get()
            if frame["type"] == kind:
                return frame


async def refused_status(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The HTTP status of a refused upgrade, or None when it is accepted."""
    try:
        async with connect(url, additional_headers=headers or {}):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


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
async def test_reconnect_takes_over_and_late_answer_arrives(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A second connection with the same id replaces the first and delivers its pending answer."""
    old = await start_node("node-a", answer=False)
    updates: list[dict[str, Any]] = []
    rid = await operator.request({"type": "command_request", "command": "slow", "args": {}}, on_update=updates.append)
    await old.next("command_request")

    new = await start_node("node-a", answer=False)
    async with asyncio.timeout(TIMEOUT):
        await old.ws.wait_closed()
    assert (old.ws.close_code, old.ws.close_reason) == (1000, "replaced")
    assert gateway.nodes["node-a"].connected and gateway.nodes["node-a"].registrations == 2

    await new.send({"type": "ack", "request_id": rid, "message": "from outbox"})
    await new.send({"type": "command_response", "request_id": rid, "status": "success", "result": [1, 2]})
    answer = await operator.result(rid, timeout=TIMEOUT)
    assert answer["result"] == [1, 2]
    assert [u["message"] for u in updates] == ["from outbox"]


@pytest.mark.asyncio
async def test_pending_request_survives_node_disconnect(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """A node that drops and comes back later still answers a pending request."""
    first = await start_node("node-a", answer=False)
    rid = await operator.request({"type": "command_request", "command": "slow", "args": {}})
    await first.next("command_request")
    await gateway.disconnect_node("node-a")
    async with asyncio.timeout(TIMEOUT):
        await first.ws.wait_closed()
    assert gateway.pending_requests == 1

    back = await start_node("node-a", answer=False)
    await back.send({"type": "command_response", "request_id": rid, "status": "success", "result": "late"})
    assert (await operator.result(rid, timeout=TIMEOUT))["result"] == "late"
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
