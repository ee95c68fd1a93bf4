"""Sanity of the interop harness, and the recorded frames against the protocol schema."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from interop.openclaw import (
    OPERATOR_SCOPES, REQUIRE_DEVICE_PAIRING, TIME, GatewayError, OpenClawGateway, Operator,
    protocol_schema_path)
from interop.probe_node import FIXED_PAYLOAD, ProbeNode

pytestmark = pytest.mark.interop
session_loop = pytest.mark.asyncio(loop_scope="session")

DATA = Path(__file__).resolve().parents[1] / "data" / "openclaw"
RECORDINGS = sorted(p for p in DATA.glob("*.json") if p.name != "index.json")
NODE_RECORDINGS = [p for p in RECORDINGS if not p.stem.endswith(".operator")]

# hello-ok fields the 2026.9.6 gateway sends and the 2026.9.1 schema lacks: (object path, key).
KNOWN_HELLO_OK_LAG = {("auth", "method"), ("snapshot.health.eventLoop", "cpuBreakdown")}


async def approve(operator: Operator, node: ProbeNode, timeout: float = 10 * TIME) -> None:
    """Approve ``node``'s command surface (its pending request appears just after connect)."""
    deadline = time.monotonic() + timeout
    while not await operator.approve_pending_nodes(node.device_id):
        assert time.monotonic() < deadline, f"no pending request for {node.device_id}"
        await asyncio.sleep(0.05)
    await node.next_event("node.pair.resolved")


@session_loop
async def test_gateway_is_ready_on_loopback(gateway):
    """Session gateway listens on its own loopback port with its config and log in its root."""
    _, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.close()
    assert gateway.running
    assert json.loads(gateway.config_path.read_text())["gateway"]["port"] == gateway.port
    assert gateway.config_path.is_relative_to(gateway.root)
    assert "[gateway] ready" in gateway.output_text()
    assert gateway.log_messages()[0] == "loading configuration…"


@session_loop
async def test_operator_connects(operator):
    """Operator completes the signed handshake and gets all four scopes on loopback."""
    assert operator.hello["type"] == "hello-ok"
    assert operator.hello["protocol"] == 4
    assert operator.hello["auth"]["role"] == "operator"
    assert set(operator.hello["auth"]["scopes"]) == set(OPERATOR_SCOPES)
    assert isinstance(await operator.list_nodes(), list)
    with pytest.raises(GatewayError) as err:
        await operator.request("node.pair.approve", {})
    assert err.value.code == "INVALID_REQUEST"


@session_loop
async def test_probe_node_invoke_round_trip(gateway, operator):
    """Probe node connects, its commands are approved, and it answers an operator invoke."""
    node = ProbeNode(gateway.url, token=gateway.token, display_name="probe-round-trip")
    hello = await node.connect()
    try:
        assert hello["auth"]["role"] == "node" and hello["auth"]["deviceToken"]
        await approve(operator, node)
        answer = await operator.invoke(node.device_id, "nodetool.list_workflows", {"q": 1},
                                       timeout_ms=5000, idempotency_key="round-trip-1")
        assert answer["ok"] is True
        assert answer["payload"] == FIXED_PAYLOAD
        assert json.loads(answer["payloadJSON"]) == FIXED_PAYLOAD
        request = next(f["frame"]["payload"] for f in node.frames.log
                       if f["frame"].get("event") == "node.invoke.request")
        assert json.loads(request["paramsJSON"]) == {"q": 1}
        assert request["idempotencyKey"] == "round-trip-1"
        assert 0 < request["timeoutMs"] <= 5000
    finally:
        await node.close()


@session_loop
async def test_cli_reaches_the_gateway(gateway, operator):
    """`openclaw devices list --json` talks to this gateway and lists the operator's device."""
    result = await gateway.cli("devices", "list", json_out=True)
    assert operator.device_id in {d["deviceId"] for d in result.json["paired"]}


@session_loop
async def test_pairing_survives_restart_and_stop_leaves_no_process(tmp_path):
    """Node pairs through the CLI, stays paired across a restart; stop leaves no process."""
    gw = OpenClawGateway(tmp_path / "gw", config=REQUIRE_DEVICE_PAIRING)
    leader, live = 0, set()
    try:
        await gw.start()
        port, first_leader = gw.port, gw.pid
        op = await gw.operator()  # itself refused first, then approved through the CLI
        node = ProbeNode(gw.url, token=gw.token)
        with pytest.raises(GatewayError) as err:
            await node.connect()
        assert (err.value.code, err.value.detail_code) == ("NOT_PAIRED", "PAIRING_REQUIRED")
        assert err.value.details["deviceId"] == node.device_id
        assert node.close_code == 1008

        await gw.cli("devices", "approve", err.value.details["requestId"])
        paired = ProbeNode(gw.url, token=gw.token, identity=node.identity)
        await paired.connect()
        await approve(op, paired)
        await gw.restart()
        await asyncio.wait_for(paired.closed.wait(), 5 * TIME)
        assert paired.close_code == 1012
        assert gw.port == port
        assert not Path(f"/proc/{first_leader}").exists()

        again = ProbeNode(gw.url, device_token=paired.hello["auth"]["deviceToken"],
                          identity=node.identity)
        await again.connect()
        op = await gw.operator()
        answer = await op.invoke(again.device_id, "nodetool.list_workflows", {}, timeout_ms=5000)
        assert answer["payload"] == FIXED_PAYLOAD
        assert await op.pending_nodes() == []
        leader, live = gw.pid, gw.processes()
        assert leader in live and len(live) > 1  # the gateway starts helpers
    finally:
        await gw.stop()
    assert not [pid for pid in live if Path(f"/proc/{pid}").exists()]
    with pytest.raises(ProcessLookupError):
        os.killpg(leader, 0)


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(protocol_schema_path().read_text())


def validator(schema: dict, name: str) -> Draft7Validator:
    return Draft7Validator({**schema["definitions"][name], "definitions": schema["definitions"]})


def definition_name(name: str, suffix: str) -> str:
    """``node.invoke.result`` -> ``NodeInvokeResultParams`` (the schema's naming)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split(".")) + suffix


def frames(path: Path) -> list[dict]:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recorded_frames_are_gateway_frames(path, schema):
    """Every recorded frame, in or out, is a valid req, res or event frame."""
    envelope = Draft7Validator({"oneOf": schema["oneOf"], "definitions": schema["definitions"]})
    entries = frames(path)
    assert entries
    for entry in entries:
        assert entry["direction"] in ("in", "out")
        envelope.validate(entry["frame"])


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recorded_out_frames_match_method_params(path, schema):
    """Every frame we sent is a req whose params match the method's <Method>Params definition."""
    for entry in frames(path):
        if entry["direction"] != "out":
            continue
        frame = entry["frame"]
        assert frame["type"] == "req"
        name = definition_name(frame["method"], "Params")
        assert name in schema["definitions"], f"no schema definition {name} for {frame['method']}"
        validator(schema, name).validate(frame.get("params", {}))


def test_recordings_cover_the_node_methods():
    """The node recordings include every request a node sends."""
    sent = {e["frame"]["method"] for p in NODE_RECORDINGS for e in frames(p)
            if e["direction"] == "out"}
    assert {"connect", "node.invoke.result", "node.invoke.progress", "node.event"} <= sent


def test_recorded_event_payloads_match_schema(schema):
    """Events that have a definition validate: invoke request, tick, shutdown, pairing."""
    checked = set()
    for path in RECORDINGS:
        for entry in frames(path):
            frame = entry["frame"]
            name = definition_name(frame.get("event", "-"), "Event")
            if frame["type"] == "event" and name in schema["definitions"]:
                validator(schema, name).validate(frame.get("payload"))
                checked.add(name)
    assert {"NodeInvokeRequestEvent", "TickEvent", "ShutdownEvent",
            "DevicePairRequestedEvent"} <= checked


def test_hello_ok_differs_from_schema_only_where_known(schema):
    """hello-ok (2026.9.6) breaks the 2026.9.1 HelloOk schema only by known extra fields."""
    hello_ok = validator(schema, "HelloOk")
    seen = 0
    for path in RECORDINGS:
        for entry in frames(path):
            payload = entry["frame"].get("payload")
            if not (isinstance(payload, dict) and payload.get("type") == "hello-ok"):
                continue
            seen += 1
            for error in hello_ok.iter_errors(payload):
                assert error.validator == "additionalProperties", error.message
                where = ".".join(str(p) for p in error.absolute_path)
                extra = set(error.instance) - set(error.schema.get("properties", {}))
                assert {(where, key) for key in extra} <= KNOWN_HELLO_OK_LAG, (where, extra)
    assert seen >= 3
