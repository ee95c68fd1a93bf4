"""Frames and results the JSON codec cannot take: refused with an answer, never a crash.

Run on the codec this process has (orjson with the test extra); test_codecs_both.py
reruns this file with the standard json module, as a plain install has it.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import node_config

from nodetool_gateway import GatewayClient
from nodetool_gateway.protocols import _json

DEPTH = 5000  # past both codecs' limits (orjson 1024 to read, stdlib ~1000)


def _deep_frame(request_id: str) -> str:
    return ('{"type":"command_request","request_id":"' + request_id
            + '","command":"echo","args":{"x":' + "[" * DEPTH + "]" * DEPTH + "}}")


async def test_a_deeply_nested_frame_is_refused_and_the_node_goes_on(peer, run_node):
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send(_deep_frame("deep-1"))
        refused = await conn.answer_for("deep-1")
        assert refused["type"] == "error" and refused["code"] == "INVALID_MESSAGE"
        assert (await conn.call("add", {"a": 2, "b": 3}))["result"] == 5


async def test_a_result_nested_too_deep_is_answered_as_an_error(peer, run_node):
    cfg = node_config(peer.url, commands={"deep": "sample_handlers:deep"})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        answer = await conn.call("deep", {"depth": DEPTH})
        assert answer["status"] == "error" and answer["code"] == "HANDLER_ERROR"
        shallow = await conn.call("deep", {"depth": 3})
        assert shallow["result"] == [[[[]]]]


async def test_nan_and_infinity_are_sent_as_null(peer, run_node):
    cfg = node_config(peer.url, commands={"not_finite": "sample_handlers:not_finite"})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        answer = await conn.call("not_finite")
    assert answer["result"] == {"nan": None, "inf": [None, None], "ok": 1.5}


def test_the_codec_refuses_what_is_not_json():
    if os.environ.get("NODETOOL_GATEWAY_TEST_JSON") == "stdlib":
        assert _json.SPEED is False  # the plain install's codec is the one under test
    with pytest.raises(ValueError):
        _json.loads("[" * DEPTH + "]" * DEPTH)
    with pytest.raises(ValueError):
        _json.loads('{"x": NaN}')
    deep: list = []
    for _ in range(DEPTH):
        deep = [deep]
    with pytest.raises((ValueError, TypeError)):
        _json.dumps(deep)
    assert json.loads(_json.dumps({"v": float("nan")})) == {"v": None}
