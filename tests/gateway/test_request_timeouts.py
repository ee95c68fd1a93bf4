"""Requests `serve` holds for a node: a time-out for each, and an error the node cannot
tie to a request (NodeTool's client sends one without request_id) failing the only
request in flight there, instead of leaving the operator waiting for nothing."""

from __future__ import annotations

import asyncio

import pytest
from .gateway_fakes import TIMEOUT, FakeNode

from nodetool_gateway.gateway import GatewayError, LocalGateway, OperatorClient

pytestmark = pytest.mark.asyncio


async def test_a_request_past_its_time_out_is_failed_and_cancelled_on_the_node():
    """The operator gets TIMEOUT naming the limit; the node gets a cancel_request."""
    async with LocalGateway(request_timeout=0.3) as gateway:
        node = await FakeNode(gateway.url, "slow", answer=False).start()
        try:
            await gateway.wait_for_node("slow", timeout=TIMEOUT)
            async with OperatorClient.connect(gateway.operator_url) as op:
                with pytest.raises(GatewayError) as caught:
                    await op.call("echo", {"x": 1}, timeout=TIMEOUT)
                assert caught.value.code == "TIMEOUT"
                assert "did not answer within 0.3s" in caught.value.message
                request = await node.next("command_request")
                cancel = await node.next("cancel_request")
                assert cancel["request_id"] == request["request_id"]
                assert gateway.pending_requests == 0
        finally:
            await node.close()


async def test_an_answer_in_time_stops_the_time_out():
    """An answered request's time-out never fires: the node gets no cancel, and no timer
    is left behind for it."""
    async with LocalGateway(request_timeout=0.5) as gateway:
        node = await FakeNode(gateway.url, "quick").start()
        try:
            await gateway.wait_for_node("quick", timeout=TIMEOUT)
            async with OperatorClient.connect(gateway.operator_url) as op:
                assert await op.call("echo", {"x": 2}, timeout=TIMEOUT) is not None
                assert gateway.pending_requests == 0
                assert not [h for h in asyncio.get_running_loop()._scheduled
                            if not h.cancelled() and getattr(h._callback, "__name__", "")
                            == "_expire"]
                await asyncio.sleep(0.8)  # past the time-out: no late TIMEOUT, no cancel
            assert not any('"cancel_request"' in text for text in node.texts), node.texts
        finally:
            await node.close()


async def test_an_error_without_request_id_fails_the_only_request_in_flight():
    """As NodeTool's client answers a request its model rejects."""
    async with LocalGateway() as gateway:
        node = await FakeNode(gateway.url, "strict", answer=False).start()
        try:
            await gateway.wait_for_node("strict", timeout=TIMEOUT)
            async with OperatorClient.connect(gateway.operator_url) as op:
                call = asyncio.create_task(op.call("echo", {"x": 3}, timeout=TIMEOUT))
                await node.next("command_request")
                await node.send({"type": "error", "error": "1 validation error for Response"})
                with pytest.raises(GatewayError) as caught:
                    await call
                assert caught.value.code == "NODE_ERROR"
                assert "1 validation error for Response" in caught.value.message
                assert gateway.pending_requests == 0
        finally:
            await node.close()
