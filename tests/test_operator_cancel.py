"""An operator's abandoned request stops on the node; its routing field never reaches a handler.

A real local gateway, a real node (GatewayClient) and OperatorClient, on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import sample_handlers
from conftest import TIME, joined, node_config

from nodetool_gateway.gateway import LocalGateway, OperatorClient

NAP = {
    "nodes": [{"id": "n", "type": "wtest.Nap", "data": {"seconds": 600}},
              {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}}],
    "edges": [{"id": "e", "source": "n", "sourceHandle": "output", "target": "o",
               "targetHandle": "value"}],
}


@contextlib.asynccontextmanager
async def stack(**sections: Any):
    """A recording gateway, a node joined to it, and an operator."""
    async with LocalGateway(record=True) as gw, joined(gw, node_config(gw.url, **sections)) as (op, _):
        yield gw, op


async def final_from_node(gw: LocalGateway, request_id: str) -> dict[str, Any]:
    """The final frame the node sent for ``request_id``, as the gateway received it."""
    async with asyncio.timeout(10 * TIME):
        while True:
            _, frame = await gw.received.get()
            if frame.get("request_id") == request_id and frame["type"] in (
                    "command_response", "workflow_response", "error"):
                return frame


async def test_timeout_cancels_the_call_on_the_node():
    """A call that times out in OperatorClient is cancelled on the node, not left running."""
    async with stack() as (_, op):
        with pytest.raises(TimeoutError, match="cancelled on the node"):
            await op.call("gate", {"key": "t"}, timeout=0.2 * TIME)
        await asyncio.wait_for(sample_handlers.stopped("t").wait(), 10 * TIME)
        assert sample_handlers.CANCELLED == ["t"]


async def test_cancelling_the_awaiting_task_cancels_the_call():
    """Cancelling the task that awaits OperatorClient.call cancels the handler on the node."""
    async with stack() as (gw, op):
        acks: list[dict[str, Any]] = []
        waiting = asyncio.create_task(op.call("gate", {"key": "c"}, on_update=acks.append))
        await asyncio.wait_for(sample_handlers.started("c").wait(), 10 * TIME)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(sample_handlers.stopped("c").wait(), 10 * TIME)
        assert (await final_from_node(gw, acks[0]["request_id"]))["code"] == "CANCELLED"


async def test_an_operator_that_disconnects_cancels_its_requests():
    """serve cancels the pending requests of an operator whose connection closes."""
    async with stack() as (gw, _):
        async with OperatorClient.connect(gw.operator_url) as leaving:
            request_id = await leaving.request(
                {"type": "command_request", "command": "gate", "args": {"key": "gone"}})
            await asyncio.wait_for(sample_handlers.started("gone").wait(), 10 * TIME)
        # The connection closed with the request pending: nobody will read its answer.
        await asyncio.wait_for(sample_handlers.stopped("gone").wait(), 10 * TIME)
        assert (await final_from_node(gw, request_id))["code"] == "CANCELLED"
        assert gw.pending_requests == 0


async def test_cancelled_workflow_is_recorded_cancelled():
    """run_workflow cancelled by its caller stops the run; the node records the job cancelled."""
    async with stack(nodes={"modules": ["worker_nodes"]}, engine={"workers": 1}) as (gw, op):
        running = asyncio.Event()
        runs: list[tuple[str, str]] = []  # (request_id, job_id)

        def on_update(frame: dict[str, Any]) -> None:
            data = frame.get("data") or {}
            if frame.get("update_type") == "job_update" and data.get("status") == "running":
                runs.append((frame["request_id"], frame["job_id"]))
                running.set()

        waiting = asyncio.create_task(op.run_workflow(graph=NAP, on_update=on_update))
        await asyncio.wait_for(running.wait(), 60 * TIME)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        request_id, job_id = runs[0]
        answer = await final_from_node(gw, request_id)
        assert (answer["status"], answer["code"]) == ("cancelled", "CANCELLED")
        job = await op.call("get_job", {"job_id": job_id}, timeout=10 * TIME)
        assert job["result"]["status"] == "cancelled"


async def test_node_id_routes_and_never_reaches_the_handler():
    """node_id chooses the node for a workflow_request, run_workflow and a routed message
    type; the handler never gets it as an argument (it was `node_id: unexpected argument`)."""
    async with stack(routes={"custom_message": "sample_handlers:other"}) as (_, op):
        answer = await op.run_workflow(workflow_id="temperature-table", params={"celsius": 100},
                                       node_id="test-node", timeout=30 * TIME)
        assert answer["status"] == "completed", answer
        assert answer["result"]["outputs"]["fahrenheit"] == [212.0]
        answer = await op.send({"type": "custom_message", "text": "hi", "node_id": "test-node"},
                               timeout=10 * TIME)
        assert (answer["status"], answer["result"]) == ("success", {"other": "hi"})
        answer = await op.call("echo", {"a": 1}, node_id="test-node", timeout=10 * TIME)
        assert answer["result"] == {"a": 1}
