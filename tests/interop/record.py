"""Record real OpenClaw gateway frames into tests/data/openclaw/ (a tool, not a test).

    .venv/bin/python tests/interop/record.py [--out tests/data/openclaw] [--no-tick]

Starts real gateways (see ``interop.openclaw``), drives ``ProbeNode`` and
``Operator`` through each case and writes one JSON file per case: a list of
``{"direction": "in"|"out", "frame": {...}}`` as seen by the node (``<case>.json``)
or by the operator (``<case>.operator.json``). Secrets (the gateway token, device
tokens, recovery scopes) are replaced by placeholders. ``index.json`` says what
each file shows, with close codes and CLI output that frames cannot carry.
Takes about a minute (plus up to 30 s waiting for a ``tick``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interop.openclaw import (  # noqa: E402
    OPENCLAW_VERSION, REMOTE_HEADERS, TRUSTED_PROXY, GatewayError, OpenClawGateway)
from interop.probe_node import FIXED_PAYLOAD, ProbeNode  # noqa: E402

WRONG_TOKEN = "not-the-gateway-token"
WRONG_DEVICE_TOKEN = "not-the-device-token"
SECRET_KEYS = {"token", "deviceToken", "recoveryScope", "password", "bootstrapToken"}


class Recorder:
    def __init__(self, out: Path):
        self.out = out
        self.index: dict[str, Any] = {}
        self.secrets: dict[str, str] = {}
        self.paths: dict[str, str] = {}

    def secret(self, value: str | None, placeholder: str) -> None:
        if value:
            self.secrets[value] = placeholder

    def scrub(self, obj: Any, key: str | None = None) -> Any:
        if isinstance(obj, dict):
            return {k: self.scrub(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.scrub(v) for v in obj]
        if isinstance(obj, str):
            if key in SECRET_KEYS:
                return self.secrets.get(obj, f"<{key}>")
            for value, placeholder in self.secrets.items():
                obj = obj.replace(value, placeholder)
            for value, placeholder in self.paths.items():
                obj = obj.replace(value, placeholder)
        return obj

    def save(self, name: str, frames: list[dict[str, Any]], description: str,
             **extra: Any) -> None:
        path = self.out / f"{name}.json"
        path.write_text(json.dumps(self.scrub(frames), indent=2) + "\n")
        self.index[name] = self.scrub({"file": path.name, "description": description, **extra})
        print(f"recorded {path.name}: {len(frames)} frames", flush=True)


def log_of(*clients) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in clients:
        out.extend(c.frames.log)
    return out


def mark(client) -> int:
    return len(client.frames.log)


def since(client, start: int) -> list[dict[str, Any]]:
    return client.frames.log[start:]


def close_info(client) -> dict[str, Any]:
    return {"code": client.close_code, "reason": client.close_reason}


async def refused(node: ProbeNode) -> GatewayError:
    try:
        await node.connect()
    except GatewayError as exc:
        return exc
    raise AssertionError("connect unexpectedly succeeded")


async def record_main(rec: Recorder, root: Path, want_tick: bool) -> None:
    gw = OpenClawGateway(root / "main")
    t0 = time.monotonic()
    await gw.start()
    rec.secret(gw.token, "<gateway-token>")
    rec.index["_gateway"] = {"openclaw": OPENCLAW_VERSION, "cold_start_s": round(gw.started_in, 1)}
    print(f"gateway ready in {gw.started_in:.1f} s", flush=True)
    try:
        op = await gw.operator()
        rec.secret(op.hello["auth"].get("deviceToken"), "<operator-device-token>")
        rec.secret(op.hello["auth"].get("recoveryScope"), "<recovery-scope>")
        rec.save("operator_connect_hello_ok.operator", op.frames.log[:3],
                 "The harness Operator's connect (client cli/cli, role operator, four "
                 "scopes) and its hello-ok: all four scopes granted on loopback.",
                 granted_scopes=op.hello["auth"]["scopes"])

        # Handshake: challenge, connect, hello-ok (device pairing is silent on loopback).
        node = ProbeNode(gw.url, token=gw.token, auto_answer=False)
        await node.connect()
        device_token = node.hello["auth"]["deviceToken"]
        rec.secret(device_token, "<device-token>")
        rec.save("connect_challenge", node.frames.log[:1],
                 "The first frame on every socket: event connect.challenge.")
        rec.save("node_connect_hello_ok", node.frames.log[:3],
                 "Node connect (token auth, v3 device signature) and the full hello-ok "
                 "(policy, features, snapshot, auth.deviceToken). Loopback: the device is "
                 "paired silently, so no NOT_PAIRED first.")

        # Command surface: what the node sees before and after approval.
        start = mark(node)
        op_start = mark(op)
        requested = await op.next_event("node.pair.requested")
        await asyncio.sleep(0.5)
        before_invoke = mark(op)
        try:
            await op.invoke(node.device_id, "nodetool.list_workflows", {}, timeout_ms=3000)
            raise AssertionError("invoke before approval succeeded")
        except GatewayError as exc:
            invoke_before = {"code": exc.code, "message": exc.message, "details": exc.details,
                             "retryable": exc.retryable}
        node_before = since(node, start)
        cli_pending = await gw.cli("nodes", "pending", json_out=True)
        request_id = requested["payload"]["requestId"]
        cli_approve = await gw.cli("nodes", "approve", request_id, json_out=True)
        resolved = await node.next_event("node.pair.resolved")
        rec.save("command_surface_approval", since(node, start),
                 "Node side of the command-surface approval: nothing arrives before "
                 "approval (no node.pair.requested, no invoke); after `openclaw nodes "
                 "approve` the live socket gets node.pair.resolved.",
                 node_frames_before_approval=len([f for f in node_before
                                                  if f["frame"].get("event") not in
                                                  ("health", "presence", "tick")]),
                 node_pair_resolved=resolved["payload"],
                 invoke_before_approval=invoke_before,
                 cli_nodes_pending=cli_pending.json, cli_nodes_approve=cli_approve.json,
                 cli_seconds={"nodes pending": round(cli_pending.seconds, 2),
                              "nodes approve": round(cli_approve.seconds, 2)})
        rec.save("command_surface_approval.operator",
                 [f for f in since(op, op_start)
                  if f["frame"].get("event") not in ("health", "tick")],
                 "Operator side: node.pair.requested when the node connects, then the "
                 "node.invoke refused with UNAVAILABLE/PAIRING_CHANGED before approval.",
                 invoke_before_approval_frames=len(since(op, before_invoke)))

        # Invoke, ok.
        start, op_start = mark(node), mark(op)
        call = asyncio.create_task(op.invoke(node.device_id, "nodetool.run_workflow",
                                             {"workflow": "Word Stats", "inputs": {"text": "a b"}},
                                             timeout_ms=10_000, idempotency_key="idem-ok-1"))
        inv = await node.next_invoke()
        await node.result(inv, payload={"status": "completed", "outputs": {"count": 2}})
        answer = await call
        rec.save("invoke_ok", since(node, start),
                 "node.invoke.request (paramsJSON string, timeoutMs = operator's remaining "
                 "budget, idempotencyKey as the operator sent it), the node's "
                 "node.invoke.result request and the gateway's res {ok:true}.")
        rec.save("invoke_ok.operator", since(op, op_start),
                 "Operator node.invoke and its answer: payload parsed plus payloadJSON.",
                 operator_payload=answer)

        # Invoke with no timeoutMs: the gateway's default.
        start = mark(node)
        call = asyncio.create_task(op.invoke(node.device_id, "nodetool.list_workflows", None,
                                             idempotency_key="idem-default-timeout"))
        call_body = None
        inv = await node.next_invoke()
        await node.result(inv, payload={"workflows": []})
        await call
        for f in op.frames.log[::-1]:
            if f["direction"] == "out" and f["frame"].get("method") == "node.invoke":
                call_body = f["frame"]["params"]
                break
        rec.save("invoke_default_timeout", since(node, start),
                 "An operator node.invoke without timeoutMs: the node sees timeoutMs 30000.",
                 operator_params=call_body)

        # Progress chunks, then the result.
        start, op_start = mark(node), mark(op)
        call = asyncio.create_task(op.invoke(node.device_id, "nodetool.run_workflow",
                                             {"workflow": "Temperature Table"}, timeout_ms=10_000,
                                             idempotency_key="idem-progress-1"))
        inv = await node.next_invoke()
        progress_res = [await node.progress(inv, 0, "step 1/2\n"),
                        await node.progress(inv, 1, "step 2/2\n")]
        await node.result(inv, payload={"status": "completed"})
        answer = await call
        progress_events = [e for e in since(op, op_start) if e["direction"] == "in"
                           and "progress" in json.dumps(e["frame"].get("event", ""))]
        rec.save("invoke_progress", since(node, start),
                 "node.invoke.progress {invokeId,nodeId,seq,chunk} is answered "
                 "{ok:true, ignored:true} for a WebSocket operator: chunks are only "
                 "relayed to in-process plugin callers; the operator gets the final "
                 "result only.",
                 progress_res_payloads=[r.get("payload") for r in progress_res],
                 operator_progress_events=len(progress_events))
        rec.save("invoke_progress.operator", since(op, op_start),
                 "Operator side of a progress invoke: only the final res.",
                 operator_payload=answer)

        # Node error result.
        start, op_start = mark(node), mark(op)
        call = asyncio.create_task(op.invoke(node.device_id, "nodetool.run_workflow",
                                             {"workflow": "missing"}, timeout_ms=10_000,
                                             idempotency_key="idem-error-1"))
        inv = await node.next_invoke()
        await node.result(inv, error={"code": "NOT_FOUND", "message": "no workflow named missing"})
        try:
            await call
            raise AssertionError("error result arrived as ok")
        except GatewayError as exc:
            op_error = exc.frame["error"]
        # The same through the CLI, in --json and in text form.
        cli_task = asyncio.create_task(gw.cli(
            "nodes", "invoke", "--node", node.device_id, "--command", "nodetool.run_workflow",
            "--params", '{"workflow": "missing"}', json_out=True, check=False))
        inv = await node.next_invoke(timeout=30)
        await node.result(inv, error={"code": "NOT_FOUND", "message": "no workflow named missing"})
        cli_err = await cli_task
        cli_task = asyncio.create_task(gw.cli(
            "nodes", "invoke", "--node", node.device_id, "--command", "nodetool.run_workflow",
            "--params", '{"workflow": "missing"}', check=False))
        inv = await node.next_invoke(timeout=30)
        await node.result(inv, error={"code": "NOT_FOUND", "message": "no workflow named missing"})
        cli_err_text = await cli_task
        rec.save("invoke_error", since(node, start),
                 "The node answers ok:false with error {code,message}; the gateway "
                 "acknowledges {ok:true}. (Includes the two CLI invokes' frames.)")
        rec.save("invoke_error.operator", since(op, op_start),
                 "What the operator gets for a node error: res ok:false, code UNAVAILABLE, "
                 "message '<nodeCode>: <nodeMessage>', details.nodeError = the node's error "
                 "object, details.nodeCommandDispatched = true.",
                 operator_error=op_error,
                 cli_json={"returncode": cli_err.returncode, "stdout": cli_err.stdout,
                           "stderr": cli_err.stderr},
                 cli_text={"returncode": cli_err_text.returncode,
                           "stdout": cli_err_text.stdout, "stderr": cli_err_text.stderr})

        # Operator timeout: cancel, then a late result.
        start, op_start = mark(node), mark(op)
        t = time.monotonic()
        call = asyncio.create_task(op.invoke(node.device_id, "nodetool.run_workflow",
                                             {"workflow": "slow"}, timeout_ms=1000,
                                             idempotency_key="idem-timeout-1"))
        inv = await node.next_invoke()
        await node.next_event("node.invoke.cancel", timeout=10)
        cancel_after = time.monotonic() - t
        try:
            await call
            raise AssertionError("timed-out invoke succeeded")
        except GatewayError as exc:
            timeout_error = exc.frame["error"]
        late = await node.result(inv, payload={"status": "completed"})
        rec.save("invoke_cancel", since(node, start),
                 "Operator timeoutMs 1000 and no answer: the node gets node.invoke.cancel "
                 "{invokeId,nodeId} at the deadline; its late node.invoke.result is "
                 "answered {ok:true, ignored:true}.",
                 cancel_after_s=round(cancel_after, 2), late_result_res=late,
                 operator_error=timeout_error)
        rec.save("invoke_cancel.operator", since(op, op_start),
                 "Operator side of a timeout: res ok:false UNAVAILABLE 'TIMEOUT: node invoke "
                 "timed out' with details.nodeError.code TIMEOUT.")

        # A declared command outside gateway.nodes.commands.allow, and an unknown node.
        extra = ProbeNode(gw.url, token=gw.token, display_name="nodetool-probe-extra",
                          commands=["nodetool.list_workflows", "nodetool.not_allowed"])
        await extra.connect()
        requested = await op.next_event("node.pair.requested")
        await op.approve_pending_nodes(extra.device_id)
        await extra.next_event("node.pair.resolved")
        op_start = mark(op)
        try:
            await op.invoke(extra.device_id, "nodetool.not_allowed", {}, timeout_ms=3000)
            raise AssertionError("withheld command was invoked")
        except GatewayError as exc:
            withheld = exc.frame["error"]
        rec.save("command_not_allowlisted.operator", since(op, op_start),
                 "A node declares a command missing from gateway.nodes.commands.allow: the "
                 "pending request and the approval leave it out silently (the gateway logs "
                 "'node command surface withheld'), and invoking it fails INVALID_REQUEST.",
                 node_pair_requested_commands=requested["payload"]["commands"],
                 operator_error=withheld,
                 gateway_log=[m for m in gw.log_messages() if "withheld" in m][:1])
        await extra.close()
        op_start = mark(op)
        try:
            await op.invoke("0" * 64, "nodetool.list_workflows", {}, timeout_ms=3000)
            raise AssertionError("invoke on an unknown node succeeded")
        except GatewayError as exc:
            unknown = exc.frame["error"]
        rec.save("invoke_unknown_node.operator", since(op, op_start),
                 "node.invoke for a node id the gateway never saw: UNAVAILABLE with "
                 "details.code PAIRING_CHANGED (not a 'not found').", operator_error=unknown)

        # Node-originated event.
        start = mark(node)
        res = await node.request_frame("node.event", {"event": "nodetool.job_update",
                                                      "payloadJSON": json.dumps({"job": "j1"})})
        rec.save("node_event", since(node, start),
                 "A node.event the gateway does not know: answered ok with handled:false.",
                 res=res)

        # Device token alone on a new socket; then wrong device token.
        again = ProbeNode(gw.url, device_token=device_token, identity=node.identity,
                          auto_answer=True)
        await again.connect()
        await asyncio.sleep(1)
        routed = await op.invoke(node.device_id, "nodetool.list_workflows", {}, timeout_ms=3000)
        rec.save("device_token_connect", again.frames.log[:3],
                 "Reconnect with auth {deviceToken} only (the signature carries the device "
                 "token): hello-ok with auth.method 'device-token' and the same deviceToken "
                 "back. The first socket of the same device is not closed, but invokes now "
                 "go to the new one.",
                 same_device_token_returned=again.hello["auth"].get("deviceToken") == device_token,
                 old_socket_closed_after_1s=node.closed.is_set(),
                 invoke_answered_by_new_socket=routed["payload"] == FIXED_PAYLOAD)
        await node.close()
        wrong = ProbeNode(gw.url, device_token=WRONG_DEVICE_TOKEN, identity=node.identity)
        exc = await refused(wrong)
        rec.save("auth_device_token_mismatch", wrong.frames.log,
                 "A wrong auth.deviceToken (for a paired device): INVALID_REQUEST, "
                 "details.code AUTH_DEVICE_TOKEN_MISMATCH, then close 1008.",
                 close=close_info(wrong), detail_code=exc.detail_code)
        both = ProbeNode(gw.url, token=gw.token, device_token=WRONG_DEVICE_TOKEN,
                         identity=node.identity)
        await both.connect()
        rec.save("auth_token_with_wrong_device_token", both.frames.log[:3],
                 "The right shared token plus a wrong deviceToken: accepted, "
                 "hello-ok auth.method 'token' (the shared token wins).",
                 auth_method=both.hello["auth"]["method"])
        await both.close()
        retry = ProbeNode(gw.url, token=WRONG_TOKEN, device_token=device_token,
                          identity=node.identity)
        try:
            await retry.connect()
            retry_outcome = {"accepted": True, "auth_method": retry.hello["auth"]["method"]}
            await retry.close()
        except GatewayError as exc:
            retry_outcome = {"accepted": False, "error": exc.frame["error"],
                             "close": close_info(retry)}
        rec.save("auth_wrong_token_with_device_token", retry.frames.log[:3],
                 "A wrong shared token plus the right deviceToken (the 'retry with device "
                 "token' that AUTH_TOKEN_MISMATCH recommends, sent together).",
                 outcome=retry_outcome)
        wrong_new = ProbeNode(gw.url, device_token=WRONG_DEVICE_TOKEN)
        exc = await refused(wrong_new)
        rec.save("auth_device_token_unknown_device", wrong_new.frames.log,
                 "A device token from a device the gateway never paired: same "
                 "AUTH_DEVICE_TOKEN_MISMATCH.", close=close_info(wrong_new),
                 detail_code=exc.detail_code)

        # Shared-token failures.
        bad = ProbeNode(gw.url, token=WRONG_TOKEN)
        exc = await refused(bad)
        rec.save("auth_token_mismatch", bad.frames.log,
                 "A wrong shared token: INVALID_REQUEST, details.code AUTH_TOKEN_MISMATCH "
                 "(canRetryWithDeviceToken true), close 1008.",
                 close=close_info(bad), detail_code=exc.detail_code)
        missing = ProbeNode(gw.url)
        exc = await refused(missing)
        rec.save("auth_token_missing", missing.frames.log,
                 "No auth at all: INVALID_REQUEST, details.code AUTH_TOKEN_MISSING, close 1008.",
                 close=close_info(missing), detail_code=exc.detail_code)

        # Tick (every 30 s), then shutdown on stop.
        if want_tick:
            tick = await again.next_event("tick", timeout=40)
            rec.save("tick", [{"direction": "in", "frame": tick}],
                     "The liveness tick {ts}, every policy.tickIntervalMs (30000).")
        stop_started = time.monotonic()
        await gw.stop(grace=20)
        stop_s = time.monotonic() - stop_started
        await asyncio.wait_for(again.closed.wait(), 5)
        rec.save("shutdown", [f for f in again.frames.log if f["frame"].get("event") == "shutdown"],
                 "Gateway stop (SIGTERM): event shutdown, then the socket closes.",
                 close=close_info(again), stop_seconds=round(stop_s, 2),
                 total_main_seconds=round(time.monotonic() - t0, 1))
    finally:
        await gw.stop()


async def record_pairing(rec: Recorder, root: Path) -> None:
    # A node behind a reverse proxy: the gateway trusts loopback as a proxy and takes
    # the client address from X-Forwarded-For, so the node is remote and must pair.
    gw = OpenClawGateway(root / "remote", config=TRUSTED_PROXY)
    await gw.start()
    rec.secret(gw.token, "<gateway-token>")
    try:
        op = await gw.operator()
        rec.secret(op.hello["auth"].get("deviceToken"), "<operator-device-token>")
        rec.secret(op.hello["auth"].get("recoveryScope"), "<recovery-scope>")
        op_start = mark(op)
        first = ProbeNode(gw.url, token=gw.token, headers=REMOTE_HEADERS)
        exc = await refused(first)
        listed = await gw.cli("devices", "list", json_out=True)
        approved = await gw.cli("devices", "approve", exc.details["requestId"], json_out=True)
        second = ProbeNode(gw.url, token=gw.token, headers=REMOTE_HEADERS,
                           identity=first.identity)
        await second.connect()
        rec.secret(second.hello["auth"]["deviceToken"], "<device-token>")
        requested = await op.next_event("node.pair.requested")
        rec.save("pairing_required", first.frames.log + second.frames.log[:3],
                 "A node that is not on direct loopback (here: X-Forwarded-For through a "
                 "trusted proxy) is refused NOT_PAIRED / details.code PAIRING_REQUIRED with "
                 "a requestId, close 1008; after `openclaw devices approve <requestId>` "
                 "the next connect gets hello-ok. Two sockets: the refused one, then the "
                 "retry.",
                 close=close_info(first), details=exc.details,
                 cli_devices_list=listed.json, cli_devices_approve=approved.json,
                 node_pair_requested_after_retry=requested["payload"])
        rec.save("pairing_required.operator", since(op, op_start),
                 "Operator side: device.pair.requested/resolved events, then "
                 "node.pair.requested once the approved node reconnects.")
    finally:
        await gw.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "data" / "openclaw")
    parser.add_argument("--no-tick", action="store_true", help="skip the 30 s wait for a tick")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(args.out)
    with tempfile.TemporaryDirectory(prefix="openclaw-record-") as tmp:
        root = Path(tmp)
        rec.paths[str(root)] = "<tmp>"
        for literal in (WRONG_DEVICE_TOKEN, WRONG_TOKEN):  # not secrets: keep them visible
            rec.secrets[literal] = literal
        await record_pairing(rec, root)
        await record_main(rec, root, want_tick=not args.no_tick)
    index = args.out / "index.json"
    if index.exists():  # keep cases this run skipped
        old = json.loads(index.read_text())
        rec.index = {**old, **rec.index}
    index.write_text(json.dumps(dict(sorted(rec.index.items())), indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
