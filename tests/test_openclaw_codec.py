"""The OpenClaw codec with no socket: handshake steps, invokes, results, progress, refusals."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nodetool_gateway.identity import DeviceIdentity
from nodetool_gateway.protocols import Answer, Control, HandshakeRejected, Offer, Request
from nodetool_gateway.protocols.openclaw import MAX_CHUNK, OpenClawProtocol, signature_payload

URL = "ws://127.0.0.1:18789"
OFFER = Offer("my-node", ("list_workflows", "run_workflow", "greet"), ("workflow_request",),
              {"user_id": "1"}, True)


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def identity(tmp_path):
    return DeviceIdentity.load_or_create(tmp_path / "openclaw" / "device.json")


def challenge(nonce="n-1", ts=1_764_000_000_000) -> str:
    return json.dumps({"type": "event", "event": "connect.challenge",
                       "payload": {"nonce": nonce, "ts": ts}})


def connect(proto: OpenClawProtocol) -> dict:
    assert proto.begin(OFFER) == []
    (frame,) = proto.on_handshake(challenge())
    return json.loads(frame)


def hello(proto: OpenClawProtocol, req: dict, **policy) -> None:
    policy = {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000,
              **policy}
    proto.on_handshake(json.dumps({"type": "res", "id": req["id"], "ok": True, "payload": {
        "type": "hello-ok", "protocol": 4, "policy": policy,
        "auth": {"role": "node", "scopes": [], "deviceToken": "dev-tok-1", "issuedAtMs": 1}}}))


def refuse(proto: OpenClawProtocol, req: dict, error_code: str, message: str = "no", **details):
    proto.on_handshake(json.dumps({"type": "res", "id": req["id"], "ok": False, "error": {
        "code": error_code, "message": message, "details": details or None}}))


def test_identity_is_kept_private_and_stable(tmp_path, identity):
    """The key is made once with mode 0600; its id is the SHA-256 of the raw public key."""
    import hashlib

    path = tmp_path / "openclaw" / "device.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = DeviceIdentity.load_or_create(path)
    assert again.device_id == identity.device_id and again.public_key == identity.public_key
    assert identity.device_id == hashlib.sha256(b64d(identity.public_key)).hexdigest()
    assert len(b64d(identity.public_key)) == 32 and "=" not in identity.public_key


def test_connect_request_is_signed_v3(identity):
    """The connect request names the node role and offers prefixed commands, signed (v3)."""
    proto = OpenClawProtocol(gateway_url=URL, token="shared", identity=identity, node_name="my-node",
                             version="0.1.0")
    req = connect(proto)
    assert req["type"] == "req" and req["method"] == "connect"
    p = req["params"]
    assert p["minProtocol"] == p["maxProtocol"] == 4
    assert p["client"]["id"] == "node-host" and p["client"]["mode"] == "node"
    assert p["role"] == "node" and p["scopes"] == [] and p["caps"] == ["nodetool"]
    assert p["commands"] == ["nodetool.list_workflows", "nodetool.run_workflow", "nodetool.greet"]
    assert p["auth"] == {"token": "shared"}
    device = p["device"]
    assert device["id"] == identity.device_id and device["nonce"] == "n-1"
    assert device["signedAt"] == 1_764_000_000_000
    signed = signature_payload(device_id=identity.device_id, client_id="node-host",
                               client_mode="node", role="node", scopes=[],
                               signed_at=1_764_000_000_000, token="shared", nonce="n-1",
                               platform=p["client"]["platform"], device_family="")
    assert signed.startswith(f"v3|{identity.device_id}|node-host|node|node||1764000000000|shared|n-1|")
    Ed25519PublicKey.from_public_bytes(b64d(identity.public_key)).verify(
        b64d(device["signature"]), signed.encode())


def test_hello_ok_sets_policy_and_keeps_device_token(identity):
    """hello-ok's maxPayload and tick set the limits; its device token is used next time."""
    proto = OpenClawProtocol(gateway_url=URL, token="shared", identity=identity, node_name="n")
    hello(proto, connect(proto), maxPayload=1000, tickIntervalMs=500)
    assert proto.ready and proto.max_outgoing == 1000 and proto.watchdog_timeout == 1.0
    assert identity.device_token(URL) == "dev-tok-1"
    assert stat.S_IMODE(os.stat(identity.token_path).st_mode) == 0o600
    again = OpenClawProtocol(gateway_url=URL, token="shared", identity=identity, node_name="n")
    req = connect(again)
    assert req["params"]["auth"] == {"deviceToken": "dev-tok-1"}
    assert again.used_device_token
    # A rejected device token is forgotten, and the next attempt uses the shared token at once.
    with pytest.raises(HandshakeRejected) as info:
        refuse(again, req, "INVALID_REQUEST", "unauthorized", code="AUTH_TOKEN_MISMATCH")
    assert not info.value.fatal and info.value.retry_after == 0
    assert identity.device_token(URL) is None
    third = OpenClawProtocol(gateway_url=URL, token="shared", identity=identity, node_name="n")
    assert connect(third)["params"]["auth"] == {"token": "shared"}


@pytest.mark.parametrize("code, detail, fatal, text", [
    ("INVALID_REQUEST", "AUTH_TOKEN_MISMATCH", True, "gateway token is wrong"),
    ("INVALID_REQUEST", "AUTH_TOKEN_MISSING", True, "needs a token"),
    ("NOT_PAIRED", "PAIRING_REQUIRED", False, "openclaw devices approve req-9"),
    ("INVALID_REQUEST", "DEVICE_AUTH_SIGNATURE_EXPIRED", False, "DEVICE_AUTH_SIGNATURE_EXPIRED"),
])
def test_refusals(identity, code, detail, fatal, text):
    """Each handshake refusal says what to do; only credential problems are fatal."""
    proto = OpenClawProtocol(gateway_url=URL, token="shared", identity=identity, node_name="n")
    with pytest.raises(HandshakeRejected) as info:
        refuse(proto, connect(proto), code, "refused", code=detail, requestId="req-9")
    assert info.value.fatal is fatal and text in info.value.message
    assert "shared" not in info.value.message


def test_unavailable_waits_as_asked(identity):
    """UNAVAILABLE with retryAfterMs asks for exactly that wait."""
    proto = OpenClawProtocol(gateway_url=URL, token="t", identity=identity, node_name="n")
    req = connect(proto)
    with pytest.raises(HandshakeRejected) as info:
        proto.on_handshake(json.dumps({"type": "res", "id": req["id"], "ok": False, "error": {
            "code": "UNAVAILABLE", "message": "starting", "retryAfterMs": 1500,
            "details": {"reason": "startup-sidecars"}}}))
    assert info.value.retry_after == 1.5 and not info.value.fatal
    assert "startup-sidecars" in info.value.message


def ready(identity) -> OpenClawProtocol:
    proto = OpenClawProtocol(gateway_url=URL, token="t", identity=identity, node_name="n")
    hello(proto, connect(proto))
    return proto


def invoke(command="nodetool.run_workflow", params=None, **extra) -> str:
    return json.dumps({"type": "event", "event": "node.invoke.request", "payload": {
        "id": "inv-1", "nodeId": "node-xyz", "command": command,
        "paramsJSON": json.dumps(params if params is not None else {"workflow_id": "w"}),
        "timeoutMs": 30000, **extra}})


def test_invoke_becomes_a_request(identity):
    """node.invoke.request is a command without its prefix; idempotencyKey is the dedup key."""
    proto = ready(identity)
    req = proto.decode(invoke(idempotencyKey="k-1"))
    assert isinstance(req, Request)
    assert (req.kind, req.name, req.request_id, req.args) == ("command", "run_workflow", "inv-1",
                                                              {"workflow_id": "w"})
    assert req.dedup_key == "idem:k-1" and proto.ack(req, "accepted") is None
    plain = proto.decode(invoke())
    assert plain.dedup_key == "inv-1"
    with pytest.raises(Exception) as bad:
        proto.decode(invoke(params=[1, 2]))
    assert bad.value.code == "INVALID_ARGS" and bad.value.request_id == "inv-1"


def test_result_and_error_frames(identity):
    """Results go back as node.invoke.result with payloadJSON, errors with code and message."""
    proto = ready(identity)
    req = proto.decode(invoke())
    ok = json.loads(proto.answer(req, Answer(ok=True, result=[1, {"a": "é"}])))
    assert ok["type"] == "req" and ok["method"] == "node.invoke.result"
    assert ok["params"] == {"id": "inv-1", "nodeId": "node-xyz", "ok": True,
                            "payloadJSON": '[1,{"a":"é"}]'}
    err = json.loads(proto.answer(req, Answer.failure("NOT_FOUND", "no workflow w")))
    assert err["params"]["ok"] is False
    assert err["params"]["error"] == {"code": "NOT_FOUND", "message": "no workflow w"}
    # The gateway's answer to a result is matched back to the invoke.
    rejected = proto.decode(json.dumps({"type": "res", "id": err["id"], "ok": False,
                                        "error": {"code": "UNAVAILABLE",
                                                  "message": "node pairing changed"}}))
    assert isinstance(rejected, Control) and rejected.kind == "warning"
    assert "inv-1" in rejected.note
    late = proto.decode(json.dumps({"type": "res", "id": ok["id"], "ok": True,
                                    "payload": {"ok": True, "ignored": True}}))
    assert late.kind == "info" and "late result" in late.note
    progress = json.loads(proto.updates(req, None, "node_update", {})[0])
    quiet = proto.decode(json.dumps({"type": "res", "id": progress["id"], "ok": True,
                                     "payload": {"ok": True, "ignored": True}}))
    assert quiet.kind == "ack"


def test_progress_chunks_stay_under_16_kib(identity):
    """Updates stream as JSON lines in node.invoke.progress chunks of at most 16 KiB, in order."""
    proto = ready(identity)
    req = proto.decode(invoke())
    small = [json.loads(f) for f in proto.updates(req, "job-1", "node_update", {"n": 1})]
    big = [json.loads(f) for f in proto.updates(req, "job-1", "output_update", {"v": "😀x" * 20000})]
    frames = small + big
    assert [f["params"]["seq"] for f in frames] == list(range(len(frames)))
    assert len(big) > 1
    for f in frames:
        chunk = f["params"]["chunk"]
        assert len(chunk.encode("utf-16-le")) // 2 <= MAX_CHUNK
        assert f["method"] == "node.invoke.progress" and f["params"]["invokeId"] == "inv-1"
    lines = "".join(f["params"]["chunk"] for f in frames).splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["node_update", "output_update"]
    assert json.loads(lines[1])["data"]["v"] == "😀x" * 20000


def test_cancel_tick_and_shutdown(identity):
    """Cancel events cancel by invoke id; ticks keep the watchdog fed; shutdown is logged."""
    proto = ready(identity)
    cancel = proto.decode(json.dumps({"type": "event", "event": "node.invoke.cancel",
                                      "payload": {"invokeId": "inv-1", "nodeId": "x"}}))
    assert (cancel.kind, cancel.request_id) == ("cancel", "inv-1")
    assert proto.decode(json.dumps({"type": "event", "event": "tick", "payload": {"ts": 1}})).kind == "heartbeat"
    shutdown = proto.decode(json.dumps({"type": "event", "event": "shutdown", "payload": {}}))
    assert shutdown.kind == "info" and "reconnect" in shutdown.note
    assert proto.reregistration(OFFER) is None and proto.heartbeat("n", "active", 0) is None
    assert proto.sniff_request_id(invoke()) == "inv-1"
