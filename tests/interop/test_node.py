"""Our node against the real OpenClaw gateway: handshake, approval, invokes, failures, restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from interop.openclaw import (REQUIRE_DEVICE_PAIRING, TIME, GatewayError, OpenClawGateway,
                              protocol_schema_path)
from nodetool_gateway import GatewayClient
from nodetool_gateway.config import default_config
from nodetool_gateway.handlers.builtin import DEFAULT_COMMANDS

pytestmark = [pytest.mark.interop, pytest.mark.asyncio(loop_scope="session")]

ALLOW = tuple(f"nodetool.{name}" for name in [*DEFAULT_COMMANDS, "slow"])
SLOW_HANDLER = "interop.slow_handlers:slow"


def node_cfg(gw: OpenClawGateway, storage: Path, node_id: str, *, token: str | None = None,
             **sections):
    return default_config(
        gateway={"url": gw.url, "protocol": "openclaw", "auth": {"token": token or gw.token},
                 "open_timeout": 20 * TIME},
        node={"id": node_id},
        retry={"initial_delay": 0.2, "max_delay": 1.0, "jitter": 0.1},
        storage={"path": str(storage)}, workflows={"paths": []},
        shutdown={"grace": 2},
        commands={"slow": {"handler": SLOW_HANDLER, "timeout": 60}},
        **sections)


class Node:
    """A GatewayClient running in a task, stopped at the end."""

    def __init__(self, cfg):
        self.client = GatewayClient(config=cfg)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> GatewayClient:
        self.task = asyncio.create_task(self.client.run())
        return self.client

    async def __aexit__(self, *exc) -> None:
        self.client.stop()
        try:
            await asyncio.wait_for(self.task, 15 * TIME)
        except BaseException:
            self.task.cancel()


async def registered(client: GatewayClient, timeout: float = 20 * TIME) -> None:
    await asyncio.wait_for(client.wait_registered(), timeout)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gw(tmp_path_factory):
    """A gateway that allows every nodetool command (and the test's slow one)."""
    gateway = OpenClawGateway(tmp_path_factory.mktemp("openclaw-node"), allow_commands=ALLOW)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def op(gw):
    operator = await gw.operator()
    try:
        yield operator
    finally:
        await operator.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def node(gw, op, tmp_path_factory):
    """Our node, joined and approved (its command surface), for the module."""
    storage = tmp_path_factory.mktemp("node-storage")
    async with Node(node_cfg(gw, storage, "interop-box")) as client:
        await registered(client)
        device_id = client._identity.device_id
        await op.wait_for_node(device_id, connected=True)
        approved = await op.approve_pending_nodes(device_id)
        assert approved, "the node's commands should await approval"
        yield client, device_id, storage


async def test_handshake_and_approval(node, op, gw):
    """The node joins, offers its prefixed commands, and is approved; the gateway lists it."""
    client, device_id, _ = node
    entry = await op.wait_for_node(device_id)
    assert entry["displayName"] == "interop-box" and entry["connected"]
    assert set(entry["commands"]) >= {"nodetool.list_workflows", "nodetool.run_workflow",
                                      "nodetool.get_job", "nodetool.slow"}
    assert "node command surface withheld" not in gw.log_text()


async def test_list_and_run_workflows(node, op):
    """list_workflows and run_workflow with params return the right payload through the gateway."""
    _, device_id, _ = node
    listed = await op.invoke(device_id, "nodetool.list_workflows", {"query": "temperature"})
    assert [w["id"] for w in listed["payload"]["workflows"]] == ["temperature-table"]
    run = await op.invoke(device_id, "nodetool.run_workflow",
                          {"workflow_id": "temperature-table", "params": {"celsius": 30}})
    outputs = json.loads(run["payloadJSON"])["outputs"]
    assert outputs == {"fahrenheit": [86.0], "kelvin": [303.15], "summary": ["30 °C = 86.0 °F = 303.15 K"]}
    job = await op.invoke(device_id, "nodetool.get_job", {"job_id": run["payload"]["job_id"]})
    assert job["payload"]["status"] == "completed"


async def test_handler_error_arrives_with_its_code(node, op):
    """A handler's error reaches the operator with the node's code."""
    _, device_id, _ = node
    with pytest.raises(GatewayError) as missing:
        await op.invoke(device_id, "nodetool.get_workflow", {"workflow_id": "nope"})
    assert missing.value.details["nodeError"]["code"] == "NOT_FOUND"
    assert "no workflow 'nope'" in str(missing.value)
    with pytest.raises(GatewayError) as bad:
        await op.invoke(device_id, "nodetool.run_workflow", {"workflow_id": "word-stats",
                                                             "params": {"nope": 1}})
    assert bad.value.details["nodeError"]["code"] == "INVALID_ARGS"


async def test_operator_timeout_cancels_the_handler(node, op):
    """An operator's timeout sends node.invoke.cancel and the handler is cancelled."""
    import interop.slow_handlers as slow

    _, device_id, _ = node
    slow.reset()
    with pytest.raises(GatewayError) as timed_out:
        await op.invoke(device_id, "nodetool.slow", {"seconds": 30}, timeout_ms=1000)
    assert timed_out.value.details["nodeError"]["code"] == "TIMEOUT"
    await asyncio.wait_for(slow.CANCELLED.wait(), 10 * TIME)


async def test_idempotency_key_runs_once(node, op):
    """Two invokes with one idempotencyKey run the handler once and get the same answer."""
    import interop.slow_handlers as slow

    _, device_id, _ = node
    slow.reset()
    first, second = await asyncio.gather(
        op.invoke(device_id, "nodetool.slow", {"seconds": 0.3}, idempotency_key="same-key"),
        op.invoke(device_id, "nodetool.slow", {"seconds": 0.3}, idempotency_key="same-key"))
    assert first["payload"] == second["payload"]
    third = await op.invoke(device_id, "nodetool.slow", {"seconds": 0.3}, idempotency_key="same-key")
    assert third["payload"] == first["payload"]
    assert slow.RUNS == 1


async def test_frames_validate_against_the_protocol_schema(node):
    """Every kind of frame the node sends validates against @openclaw/gateway-protocol's schema."""
    import jsonschema

    from nodetool_gateway.protocols import Answer, Offer
    from nodetool_gateway.protocols.openclaw import OpenClawProtocol

    client, _, storage = node
    schema = json.loads(protocol_schema_path().read_text())
    defs = schema["definitions"]
    proto = OpenClawProtocol.from_config(client.config, identity=client._identity)
    proto.begin(Offer("n", ("list_workflows",), (), {}, True))
    (connect,) = proto.on_handshake(json.dumps({"type": "event", "event": "connect.challenge",
                                                "payload": {"nonce": "x", "ts": 1}}))
    request = proto.decode(json.dumps({"type": "event", "event": "node.invoke.request", "payload": {
        "id": "i", "nodeId": "n", "command": "nodetool.list_workflows", "paramsJSON": "{}"}}))
    frames = [json.loads(connect),
              json.loads(proto.answer(request, Answer(ok=True, result={"a": 1}))),
              json.loads(proto.answer(request, Answer.failure("NOT_FOUND", "gone"))),
              *[json.loads(f) for f in proto.updates(request, "j", "node_update", {"x": "y" * 40000})],
              json.loads(proto.error_frame("TOO_LARGE", "too big", "i"))]
    params_def = {"connect": "ConnectParams", "node.invoke.result": "NodeInvokeResultParams",
                  "node.invoke.progress": "NodeInvokeProgressParams"}
    for frame in frames:
        assert set(frame) == {"type", "id", "method", "params"} and frame["type"] == "req"
        sub = {**defs[params_def[frame["method"]]], "definitions": defs}
        jsonschema.Draft7Validator(sub).validate(frame["params"])


async def test_node_restart_reuses_device_token(node, gw, op, tmp_path):
    """A second start of the node connects with the device token the gateway issued."""
    client, device_id, storage = node
    tokens = json.loads((storage / "openclaw" / "device-token.json").read_text())["tokens"]
    assert tokens[gw.url]["token"]
    # Another process on the same storage: same identity, the kept device token.
    again = GatewayClient(config=node_cfg(gw, storage, "interop-box",
                                          token="not-the-shared-token"))
    task = asyncio.create_task(again.run())
    try:
        await registered(again)
        assert again._identity.device_id == device_id
        assert again._connection.proto.used_device_token and again._connection.proto.hello["auth"]["method"] == "device-token"
    finally:
        again.stop()
        await asyncio.wait_for(task, 15 * TIME)


async def test_reload_with_new_commands_reconnects(node, gw, op, caplog):
    """A reload that changes the offered commands reconnects and says approval may be needed."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    client, device_id, _ = node
    before = client.registrations
    cfg = client.config
    commands = {**{k: v for k, v in cfg.commands.items()}, "get_asset": None}
    from nodetool_gateway.config import snapshot_from_config

    await client.apply(snapshot_from_config(cfg.model_copy(update={"commands": commands})))
    await registered(client)
    while client.registrations == before:
        await asyncio.sleep(0.05)
    assert "reconnecting so the gateway sees them (it may ask for approval again)" in caplog.text
    await op.approve_pending_nodes(device_id)
    listed = await op.invoke(device_id, "nodetool.list_workflows", {"limit": 1})
    assert listed["payload"]["total"] >= 5


ROOT = Path(__file__).resolve().parents[2]


async def test_wrong_token_exits_nonzero(gw, tmp_path):
    """A wrong shared token stops `nodetool-gateway run` with exit 77 and the reason."""
    cfg = tmp_path / "node.yaml"
    cfg.write_text(f"gateway: {{url: '{gw.url}', protocol: openclaw, auth: {{token: wrong-token}}}}\n"
                   "node: {id: wrong-box}\nstorage: {path: ./s}\nworkflows: {paths: []}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nodetool_gateway", "run", str(cfg), "--no-reload",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ))
    _, err = await asyncio.wait_for(proc.communicate(), 60 * TIME)
    text = err.decode()
    assert proc.returncode == 77, text
    assert "AUTH_TOKEN_MISMATCH" in text and "gateway token is wrong" in text
    assert "wrong-token" not in text and "Traceback" not in text


async def test_device_pairing_required(tmp_path, caplog):
    """A node that must be paired logs the request id and the approve command, then gets in."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    gateway = OpenClawGateway(tmp_path / "gw", allow_commands=ALLOW, config=REQUIRE_DEVICE_PAIRING)
    await gateway.start()
    try:
        async with Node(node_cfg(gateway, tmp_path / "storage", "pairing-box")) as client:
            while "openclaw devices approve" not in caplog.text:
                await asyncio.sleep(0.05)
            line = next(r.getMessage() for r in caplog.records
                        if "openclaw devices approve" in r.getMessage())
            request_id = line.split("openclaw devices approve ")[1].split()[0]
            assert f"(request {request_id})" in line
            await gateway.cli("devices", "approve", request_id)
            await registered(client, 30 * TIME)
            assert client.registrations == 1
    finally:
        await gateway.stop()
