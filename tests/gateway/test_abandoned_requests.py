"""The gateway's side of abandoned requests and of the operator's routing field."""

from __future__ import annotations

import pytest
from .gateway_fakes import TIMEOUT, NodeFactory

from nodetool_gateway.gateway import LocalGateway, OperatorClient


@pytest.mark.asyncio
async def test_node_id_is_removed_before_the_node_sees_a_request(
    start_node: NodeFactory, operator: OperatorClient
) -> None:
    """node_id routes a request and never reaches the node (a handler took it for an argument)."""
    node = await start_node("node-a", answer=False)
    for frame in (
        {"type": "command_request", "command": "echo", "args": {}, "node_id": "node-a"},
        {"type": "workflow_request", "workflow_id": "wf", "params": {}, "node_id": "node-a"},
        {"type": "custom_message", "text": "hi", "node_id": "node-a"},
    ):
        await operator.request(frame)
        seen = await node.next(frame["type"])
        assert "node_id" not in seen, seen
        assert {k: v for k, v in seen.items() if k not in ("request_id", "timestamp")} == {
            k: v for k, v in frame.items() if k != "node_id"
        }


@pytest.mark.asyncio
async def test_an_operator_that_leaves_cancels_its_pending_requests(
    gateway: LocalGateway, start_node: NodeFactory, operator: OperatorClient
) -> None:
    """An operator connection that closes with requests pending cancels each on its node."""
    a = await start_node("node-a", answer=False)
    b = await start_node("node-b", answer=False)
    async with OperatorClient.connect(gateway.operator_url) as leaving:
        on_a = await leaving.request({"type": "command_request", "command": "echo", "node_id": "node-a"})
        on_b = await leaving.request({"type": "workflow_request", "workflow_id": "wf", "node_id": "node-b"})
        await a.next("command_request")
        await b.next("workflow_request")
        # Another operator's request is not touched.
        kept = await operator.request({"type": "command_request", "command": "echo", "node_id": "node-a"})
        await a.next("command_request")
    assert (await a.next("cancel_request"))["request_id"] == on_a
    assert (await b.next("cancel_request"))["request_id"] == on_b
    assert gateway.pending_requests == 1
    await a.send({"type": "command_response", "request_id": kept, "status": "success", "result": 1})
    assert (await operator.result(kept, timeout=TIMEOUT))["result"] == 1


@pytest.mark.asyncio
async def test_a_cancel_reaches_the_node_without_routing_fields(
    start_node: NodeFactory, operator: OperatorClient
) -> None:
    """The node gets a cancel_request with the request id only, not the operator's node_id."""
    node = await start_node("node-a", answer=False)
    rid = await operator.request({"type": "command_request", "command": "echo", "node_id": "node-a"})
    await node.next("command_request")
    await operator.cancel(rid, node_id="node-a")
    cancel = await node.next("cancel_request")
    assert sorted(cancel) == ["request_id", "timestamp", "type"]
    assert cancel["request_id"] == rid


@pytest.mark.asyncio
async def test_a_timeout_sends_a_cancel(start_node: NodeFactory, operator: OperatorClient) -> None:
    """OperatorClient's timeout cancels the request on the node before raising."""
    node = await start_node("node-a", answer=False)
    with pytest.raises(TimeoutError, match="cancelled on the node"):
        await operator.call("echo", timeout=0.05)
    request = await node.next("command_request")
    assert (await node.next("cancel_request"))["request_id"] == request["request_id"]
