"""Updates never go over the frame limit: an oversize value is sent as a placeholder,
in both protocols, and a gateway that enforces the limit keeps the node."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import GatewayPeer, node_config
from websockets.asyncio.server import serve

from nodetool_gateway import GatewayClient, HandlerContext
from nodetool_gateway.protocols import Request
from nodetool_gateway.protocols._trim import PREVIEW, trim
from nodetool_gateway.protocols.nodetool import NodeToolProtocol
from nodetool_gateway.protocols.openclaw import MAX_CHUNK, OpenClawProtocol

LIMIT = 4096


def nodetool() -> NodeToolProtocol:
    return NodeToolProtocol(token=None, heartbeat_interval=30.0)


def openclaw() -> OpenClawProtocol:
    return OpenClawProtocol(gateway_url="ws://127.0.0.1:18789", token="t", identity=None,
                            node_name="n")


def request(proto) -> Request:
    if isinstance(proto, OpenClawProtocol):
        return Request("command", "run", "inv-1", {}, "node.invoke", {"nodeId": "node-xyz"})
    return Request("command", "run", "r-1", {}, "command_request", acked=True)


def sent(proto, frames: list[str]) -> dict:
    """The update the gateway gets from ``frames`` (OpenClaw's chunks joined into its line)."""
    if isinstance(proto, NodeToolProtocol):
        (frame,) = frames
        return json.loads(frame)
    chunks = [json.loads(f)["params"] for f in frames]
    first = chunks[0]["seq"]
    assert [c["seq"] for c in chunks] == list(range(first, first + len(chunks)))
    (line,) = "".join(c["chunk"] for c in chunks).splitlines()
    return json.loads(line)


BOTH = pytest.mark.parametrize("make", [nodetool, openclaw], ids=["nodetool", "openclaw"])


@BOTH
def test_an_update_within_the_limit_goes_as_it_is(make):
    """A small update is not touched: the same frames as without a limit."""
    proto = make()
    data = {"type": "node_progress", "progress": 1, "text": "é" * 100}
    frames, trimmed = proto.updates_within(request(proto), "job-1", "node_progress", data, LIMIT)
    assert trimmed == 0
    assert sent(proto, frames)["data"] == data
    assert sent(proto, frames) == sent(make(), make().updates(request(proto), "job-1",
                                                              "node_progress", data))


@BOTH
def test_an_oversize_value_becomes_a_placeholder(make):
    """The big value is replaced by {truncated, bytes, preview}; its neighbours survive;
    every frame is within the limit, counted in UTF-8 bytes."""
    proto = make()
    data = {"type": "output_update", "node_id": "n1", "output": "é" * 100_000, "step": 3}
    frames, trimmed = proto.updates_within(request(proto), "job-1", "output_update", data, LIMIT)
    assert all(len(f.encode()) <= LIMIT for f in frames)
    update = sent(proto, frames)
    assert update["job_id"] == "job-1"
    got = update["data"]
    assert {k: got[k] for k in ("type", "node_id", "step")} == {
        "type": "output_update", "node_id": "n1", "step": 3}
    stub = got["output"]
    assert set(stub) == {"truncated", "bytes", "preview"} and stub["truncated"] is True
    assert stub["bytes"] == len(json.dumps("é" * 100_000, ensure_ascii=False).encode())
    assert 0 < len(stub["preview"]) <= PREVIEW and set(stub["preview"]) == {"é"}
    assert trimmed == len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


@BOTH
def test_a_huge_string_update_is_one_placeholder(make):
    """Data that is one big string becomes one placeholder with a 1 KiB preview."""
    proto = make()
    frames, trimmed = proto.updates_within(request(proto), None, "log_update",
                                           "x" * 5_000_000, 1 << 16)
    assert all(len(f.encode()) <= 1 << 16 for f in frames)
    assert sent(proto, frames)["data"] == {"truncated": True, "bytes": 5_000_002,
                                           "preview": "x" * PREVIEW}
    assert trimmed == 5_000_002


def test_openclaw_holds_updates_to_the_gateways_max_payload():
    """The gateway's maxPayload, smaller than the node's limit, is the one updates keep to."""
    proto = openclaw()
    proto.max_outgoing = 2048
    frames, trimmed = proto.updates_within(request(proto), "j", "node_update",
                                           {"v": "😀" * 10_000}, 16 << 20)
    assert trimmed and all(len(f.encode()) <= 2048 for f in frames)
    assert sent(proto, frames)["data"]["v"]["truncated"] is True
    # Without a limit the chunks are the protocol's 16 KiB.
    big = [json.loads(f)["params"]["chunk"] for f in proto.updates(request(proto), "j", "x",
                                                                      {"v": "y" * 40_000})]
    assert max(len(c) for c in big) == MAX_CHUNK


def test_trim_keeps_shape_and_fits():
    """Nested values are trimmed where they are big; a crowd of small ones goes whole."""
    value = {"result": {"image": "A" * 50_000, "meta": {"w": 1, "h": 2}}, "type": "output_update",
             "frames": ["B" * 20_000, "c"]}
    out = trim(value, 5000)
    assert len(json.dumps(out, separators=(",", ":"))) <= 5000
    assert out["type"] == "output_update" and out["result"]["meta"] == {"w": 1, "h": 2}
    assert out["result"]["image"]["truncated"] and out["frames"][0]["truncated"]
    assert out["frames"][1] == "c"
    assert value["result"]["image"] == "A" * 50_000  # the handler's value is not changed
    crowd = list(range(100_000))
    stub = trim(crowd, 3000)
    assert stub["truncated"] is True and stub["preview"].startswith("[0,1,2,")
    assert trim({"a": 1}, 10) == {"a": 1}


# A gateway that enforces the limit, as a real one does: a frame over it ends the connection.


class StrictPeer(GatewayPeer):
    """The loopback gateway peer, refusing (close 1009) any frame over ``max_size``."""

    def __init__(self, max_size: int):
        super().__init__()
        self.max_size = max_size

    async def start(self) -> "StrictPeer":
        self._server = await serve(self._handler, "127.0.0.1", self.port,
                                   process_request=self._process_request, max_size=self.max_size,
                                   compression=None, close_timeout=0.5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self


async def shout(size: int, context: HandlerContext) -> dict:
    """Two progress updates carrying ``size`` characters each, then a small answer."""
    for step in (1, 2):
        await context.send_update("node_progress", {"type": "node_progress", "step": step,
                                                    "text": "é" * size})
    return {"done": True}


@pytest.mark.asyncio
async def test_a_node_streaming_huge_updates_keeps_its_connection(run_node, caplog):
    """Updates over gateway.max_message_size reach a strict gateway trimmed, with one
    warning for the command; the call is answered and the session goes on."""
    caplog.set_level(logging.DEBUG, logger="nodetool.gateway")
    peer = await StrictPeer(LIMIT).start()
    try:
        cfg = node_config(peer.url, gateway={"max_message_size": LIMIT},
                          commands={"shout": f"{__name__}:shout"})
        async with run_node(GatewayClient(config=cfg)):
            conn, _ = await peer.registered()
            rid = await conn.command("shout", {"size": 1_000_000})
            answer = await conn.answer_for(rid)
            updates = [f for f in conn.received if f["type"] == "workflow_update"]
            assert (await conn.call("add", {"a": 2}))["result"] == 2
        assert answer["status"] == "success" and answer["result"] == {"done": True}
        assert [u["data"]["step"] for u in updates] == [1, 2]
        assert all(u["data"]["text"]["truncated"] and u["data"]["text"]["bytes"] == 2_000_002
                   for u in updates)
        assert len(peer.all_connections) == 1
        trimmed = [r for r in caplog.records if "sent with its largest values trimmed" in r.message]
        assert [r.levelname for r in trimmed] == ["WARNING", "DEBUG"]
    finally:
        await peer.stop()
