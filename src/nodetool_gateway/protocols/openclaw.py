"""The OpenClaw Gateway protocol, seen from a node (role ``node``, protocol 4).

Handshake: the gateway sends ``connect.challenge``; the node answers with a
``connect`` request signed by its device key; ``hello-ok`` carries the policy
(``maxPayload``, ``tickIntervalMs``) and a device token for later connects.
Work arrives as ``node.invoke.request`` events and goes back as
``node.invoke.result`` requests; updates stream as ``node.invoke.progress``
chunks. See ``docs/protocol-openclaw.md``. No socket here: the session sends
what these methods return.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections import OrderedDict
from typing import Any

from ..errors import Code
from ._base import (Answer, Control, HandshakeRejected, Offer, Protocol, ProtocolError, Request)
from ._json import dumps, loads
from ._trim import byte_size

__all__ = ["OpenClawProtocol", "PROTOCOL_VERSION", "CLIENT_ID", "signature_payload",
           "MAX_CHUNK"]

PROTOCOL_VERSION = 4
CLIENT_ID = "node-host"
CLIENT_MODE = "node"
ROLE = "node"
# node.invoke.progress chunks are at most 16 KiB (JavaScript string length).
MAX_CHUNK = 16384
# Requests the node sent and may hear back about (method, invoke id), bounded.
_REMEMBER_REQUESTS = 4096
_INVOKE_ID = re.compile(r'"payload"\s*:\s*\{[^{}]*?"id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')

# details.code values that no retry can fix.
_FATAL = {
    "AUTH_TOKEN_MISMATCH": "the gateway token is wrong: check gateway.auth.token",
    "AUTH_TOKEN_MISSING": "the gateway needs a token: set gateway.auth.token",
    "PROTOCOL_MISMATCH": "the gateway speaks another protocol version",
}


def signature_payload(*, device_id: str, client_id: str, client_mode: str, role: str,
                      scopes: list[str], signed_at: int, token: str, nonce: str,
                      platform: str, device_family: str) -> str:
    """The v3 string a device signs to connect."""
    return "|".join(["v3", device_id, client_id, client_mode, role, ",".join(scopes),
                     str(signed_at), token, nonce, platform.strip().lower(),
                     device_family.strip().lower()])


def _bmp(text: str) -> bool:
    # No character outside the Basic Multilingual Plane (the test runs at C speed).
    return text.isascii() or max(text) <= "\uffff"


def _js_length(text: str) -> int:
    # JavaScript counts UTF-16 code units: characters outside the BMP count twice.
    if _bmp(text):
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _chunks(text: str, limit: int = MAX_CHUNK) -> list[str]:
    if _bmp(text):
        return [text[i:i + limit] for i in range(0, len(text), limit)] or [text]
    if _js_length(text) <= limit:
        return [text]
    out, start, size = [], 0, 0
    for i, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > limit:
            out.append(text[start:i])
            start, size = i, 0
        size += width
    out.append(text[start:])
    return out


class OpenClawProtocol(Protocol):
    """One connection to an OpenClaw gateway as a node."""

    name = "openclaw"
    heartbeat_interval = None  # liveness is the gateway's tick events and WebSocket pings

    def __init__(self, *, gateway_url: str, token: str | None, identity, node_name: str,
                 command_prefix: str = "nodetool.", caps: list[str] | tuple[str, ...] = ("nodetool",),
                 display_name: str | None = None, version: str = "0", platform: str | None = None,
                 device_family: str | None = None):
        self.gateway_url = gateway_url
        self.token = token
        self.identity = identity
        self.node_name = node_name
        self.prefix = command_prefix
        self.caps = list(caps)
        self.display_name = display_name or node_name
        self.version = version
        self.platform = platform or ("linux" if sys.platform.startswith("linux") else sys.platform)
        self.device_family = device_family
        self.hello: dict[str, Any] | None = None
        self.node_id: str | None = None  # the gateway's id for this node
        self.used_device_token = False
        self._connect_id: str | None = None
        self._offer: Offer | None = None
        self._notes: list[str] = []
        self._sent: OrderedDict[str, tuple[str, str | None]] = OrderedDict()

    @classmethod
    def from_config(cls, config, *, identity, version: str = "0") -> "OpenClawProtocol":
        gw = config.gateway
        oc = gw.openclaw
        return cls(gateway_url=gw.url, token=gw.token(), identity=identity,
                   node_name=config.node.id, command_prefix=oc.command_prefix, caps=oc.caps,
                   display_name=oc.display_name, version=version)

    # Handshake

    def begin(self, offer: Offer) -> list[str]:
        self._offer = offer
        return []  # the gateway speaks first: connect.challenge

    def offered_commands(self, offer: Offer) -> list[str]:
        return [f"{self.prefix}{name}" for name in offer.commands]

    def _connect_frame(self, nonce: str, ts: int) -> str:
        assert self._offer is not None
        identity = self.identity
        device_token = identity.device_token(self.gateway_url) if identity else None
        # A device token issued earlier works alone; else the shared token.
        if device_token:
            auth: dict[str, str] = {"deviceToken": device_token}
            signed_token = device_token
        elif self.token:
            auth = {"token": self.token}
            signed_token = self.token
        else:
            auth, signed_token = {}, ""
        self.used_device_token = bool(device_token)
        client: dict[str, Any] = {"id": CLIENT_ID, "version": self.version,
                                  "platform": self.platform, "mode": CLIENT_MODE,
                                  "displayName": self.display_name,
                                  "instanceId": self.node_name}
        if self.device_family:
            client["deviceFamily"] = self.device_family
        params: dict[str, Any] = {
            "minProtocol": PROTOCOL_VERSION,
            "maxProtocol": PROTOCOL_VERSION,
            "client": client,
            "role": ROLE,
            "scopes": [],
            "caps": self.caps,
            "commands": self.offered_commands(self._offer),
            "permissions": {},
            "auth": auth,
        }
        if identity is not None:
            payload = signature_payload(
                device_id=identity.device_id, client_id=CLIENT_ID, client_mode=CLIENT_MODE,
                role=ROLE, scopes=[], signed_at=ts, token=signed_token, nonce=nonce,
                platform=self.platform, device_family=self.device_family or "")
            params["device"] = {"id": identity.device_id, "publicKey": identity.public_key,
                                "signature": identity.sign(payload), "signedAt": ts,
                                "nonce": nonce}
        self._connect_id = uuid.uuid4().hex
        return dumps({"type": "req", "id": self._connect_id, "method": "connect",
                      "params": params})

    def on_handshake(self, text: str | bytes) -> list[str]:
        try:
            msg = loads(text)
        except ValueError:
            return []
        if not isinstance(msg, dict):
            return []
        if msg.get("type") == "event" and msg.get("event") == "connect.challenge":
            payload = msg.get("payload") or {}
            return [self._connect_frame(str(payload.get("nonce", "")), int(payload.get("ts", 0)))]
        if msg.get("type") == "res" and msg.get("id") == self._connect_id:
            if msg.get("ok"):
                self._hello(msg.get("payload") or {})
                return []
            self._refused(msg.get("error") or {})
        return []

    def _hello(self, hello: dict[str, Any]) -> None:
        self.hello = hello
        policy = hello.get("policy") or {}
        if isinstance(policy.get("maxPayload"), int):
            self.max_outgoing = policy["maxPayload"]
        tick = policy.get("tickIntervalMs")
        if isinstance(tick, (int, float)) and tick > 0:
            self.watchdog_timeout = 2 * tick / 1000
        auth = hello.get("auth") or {}
        device_token = auth.get("deviceToken")
        if device_token and self.identity is not None:
            self.identity.store_device_token(self.gateway_url, device_token,
                                             issuedAtMs=auth.get("issuedAtMs"))
        self.node_id = hello.get("nodeId") or (self.identity.device_id if self.identity else None)
        self.ready = True
        # The gateway says nothing to a node whose commands await approval; say it once.
        if self.identity is not None and \
                self.identity.approved_commands(self.gateway_url) != self._commands_digest():
            self._notes.append(
                "if this node's commands are not approved on the gateway yet, approve them on "
                "the gateway host: `openclaw nodes pending`, then `openclaw nodes approve "
                "<requestId>` (commands outside gateway.nodes.commands.allow are withheld)")

    def _commands_digest(self) -> str:
        import hashlib

        commands = self.offered_commands(self._offer) if self._offer else []
        return hashlib.sha256("\n".join(sorted(commands)).encode()).hexdigest()

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    def _refused(self, error: dict[str, Any]) -> None:
        code = error.get("code") or "ERROR"
        message = error.get("message") or code
        details = error.get("details") or {}
        detail = details.get("code") if isinstance(details, dict) else None
        retry_ms = error.get("retryAfterMs") or (details.get("retryAfterMs")
                                                 if isinstance(details, dict) else None)
        if self.used_device_token and detail in ("AUTH_TOKEN_MISMATCH", "AUTH_DEVICE_TOKEN_MISMATCH",
                                                 "DEVICE_TOKEN_MISMATCH", "AUTH_TOKEN_MISSING") \
                or (self.used_device_token and "device token" in message.lower()):
            # The kept device token was revoked or belongs to another gateway: forget it.
            self.identity.store_device_token(self.gateway_url, None)
            raise HandshakeRejected(
                f"the gateway refused the kept device token ({detail or code}); "
                "trying again with the shared token", code=detail or code, retry_after=0.0)
        if detail in _FATAL:
            raise HandshakeRejected(f"{_FATAL[detail]} ({detail}: {message})", code=detail,
                                    fatal=True)
        if code == "NOT_PAIRED" or detail == "PAIRING_REQUIRED":
            request_id = (details.get("requestId") if isinstance(details, dict) else None) \
                or error.get("requestId")
            how = (f"approve it on the gateway host with: openclaw devices approve {request_id}"
                   if request_id else "approve it on the gateway host with: openclaw devices list, "
                   "then openclaw devices approve <requestId>")
            raise HandshakeRejected(
                f"this device ({self.identity.device_id[:16] if self.identity else '?'}…) is not "
                f"paired yet (request {request_id or 'pending'}); {how}",
                code=detail or code)
        if code == "UNAVAILABLE":
            retry = retry_ms / 1000 if isinstance(retry_ms, (int, float)) else None
            reason = details.get("reason") if isinstance(details, dict) else None
            raise HandshakeRejected(
                f"gateway unavailable ({reason or message}); retrying"
                + (f" in {retry:g}s as it asked" if retry is not None else ""),
                code=code, retry_after=retry)
        raise HandshakeRejected(f"connect refused: {code}"
                                + (f"/{detail}" if detail else "") + f": {message}", code=detail or code)

    # Frames after the handshake

    def decode(self, text: str | bytes) -> Request | Control:
        try:
            msg = loads(text)
        except ValueError as exc:
            raise ProtocolError(Code.INVALID_MESSAGE, f"frame is not valid JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise ProtocolError(Code.INVALID_MESSAGE, "frame must be a JSON object")
        kind = msg.get("type")
        if kind == "event":
            return self._event(msg.get("event"), msg.get("payload") or {}, msg)
        if kind == "res":
            return self._response(msg)
        return Control("event", None, msg)

    def _event(self, name: Any, payload: dict[str, Any], msg: dict[str, Any]) -> Request | Control:
        if name == "node.invoke.request":
            invoke_id = payload.get("id")
            if not isinstance(invoke_id, str) or not invoke_id:
                raise ProtocolError(Code.INVALID_MESSAGE, "node.invoke.request has no id")
            command = payload.get("command") or ""
            name_ = command[len(self.prefix):] if command.startswith(self.prefix) else command
            raw_params = payload.get("paramsJSON")
            try:
                args = loads(raw_params) if raw_params else {}
            except ValueError as exc:
                raise ProtocolError(Code.INVALID_ARGS, f"paramsJSON is not JSON: {exc}",
                                    invoke_id) from None
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise ProtocolError(Code.INVALID_ARGS, "params must be a JSON object", invoke_id)
            if payload.get("nodeId"):
                self.node_id = payload["nodeId"]
            key = payload.get("idempotencyKey")
            return Request("command", name_, invoke_id, args, "node.invoke", payload,
                           dedup_key=f"idem:{key}" if key else invoke_id)
        if name == "node.invoke.cancel":
            return Control("cancel", payload.get("invokeId") or payload.get("id"), msg)
        if name == "tick":
            return Control("heartbeat", None, msg)
        if name == "shutdown":
            return Control("info", None, msg, note="the gateway is shutting down; "
                           "the node will reconnect when it is back")
        if name == "node.pair.resolved":
            decision = payload.get("decision")
            if decision == "approved" and self.identity is not None:
                self.identity.store_approved_commands(self.gateway_url, self._commands_digest())
            return Control("info", None, msg,
                           note=f"the gateway's operator {decision or 'resolved'} this node's commands")
        if name == "node.pair.requested":
            rid = payload.get("requestId")
            return Control("info", None, msg, note=(
                "the gateway is waiting for approval of this node's commands: on the gateway "
                f"host run `openclaw nodes approve {rid}`" if rid else
                "the gateway is waiting for approval of this node's commands: on the gateway "
                "host run `openclaw nodes pending`, then `openclaw nodes approve <requestId>`"))
        return Control("event", None, msg)

    def _response(self, msg: dict[str, Any]) -> Control:
        sent = self._sent.pop(msg.get("id"), None)
        method, invoke_id = sent if sent else ("?", None)
        if method == "node.invoke.progress":
            # Progress nobody follows is "ignored"; a lost chunk is not worth a log line.
            return Control("ack", invoke_id, msg)
        if msg.get("ok"):
            payload = msg.get("payload") or {}
            if isinstance(payload, dict) and payload.get("ignored"):
                return Control("info", invoke_id, msg, note=(
                    f"the gateway ignored the late result of invoke {invoke_id} "
                    "(the operator had given up on it)"))
            return Control("ack", invoke_id, msg)
        error = msg.get("error") or {}
        return Control("warning", invoke_id, msg, note=(
            f"the gateway rejected {method} for invoke {invoke_id}: "
            f"{error.get('code')}: {error.get('message')}; the operator will not get it"))

    # Encoders

    def _request(self, method: str, params: dict[str, Any], invoke_id: str | None) -> str:
        rid = uuid.uuid4().hex
        self._sent[rid] = (method, invoke_id)
        if len(self._sent) > _REMEMBER_REQUESTS:
            self._sent.popitem(last=False)
        return dumps({"type": "req", "id": rid, "method": method, "params": params})

    def _node_id(self, request: Request | None = None) -> str:
        if request is not None and request.raw.get("nodeId"):
            return request.raw["nodeId"]
        return self.node_id or (self.identity.device_id if self.identity else self.node_name)

    def answer(self, request: Request, ans: Answer) -> str:
        params: dict[str, Any] = {"id": request.request_id, "nodeId": self._node_id(request),
                                  "ok": ans.ok}
        if ans.ok:
            params["payloadJSON"] = dumps(ans.result)
        else:
            params["error"] = {"code": str(ans.code or Code.HANDLER_ERROR),
                               "message": ans.error or str(ans.code)}
        return self._request("node.invoke.result", params, request.request_id)

    def update_text(self, request: Request, job_id: str | None, update_type: str,
                    data: Any) -> str:
        # One JSON line, streamed in chunks: the limit is for the whole line.
        return dumps({"type": update_type, "job_id": job_id, "data": data}) + "\n"

    def update_frames(self, request: Request, text: str, limit: int | None) -> list[str]:
        node_id = self._node_id(request)
        units = MAX_CHUNK
        if limit is not None:
            # A chunk's character takes at most 3 bytes in its frame (UTF-8, or an escape
            # of the line's own quotes and backslashes), so chunks this short always fit.
            envelope = byte_size(dumps({
                "type": "req", "id": "0" * 32, "method": "node.invoke.progress",
                "params": {"invokeId": request.request_id, "nodeId": node_id,
                           "seq": request.seq + len(text), "chunk": ""}}))
            units = max(1, min(MAX_CHUNK, (limit - envelope) // 3))
        frames = []
        for chunk in _chunks(text, units):
            frames.append(self._request("node.invoke.progress", {
                "invokeId": request.request_id, "nodeId": node_id,
                "seq": request.seq, "chunk": chunk}, request.request_id))
            request.seq += 1
        return frames

    def error_frame(self, code: Code | str, message: str, request_id: str | None = None,
                    details: Any = None) -> str | None:
        if request_id is None:
            return None  # nothing to answer: the session logs it
        return self._request("node.invoke.result", {
            "id": request_id, "nodeId": self._node_id(), "ok": False,
            "error": {"code": str(code), "message": message or str(code)}}, request_id)

    def sniff_request_id(self, text: str | bytes) -> str | None:
        if isinstance(text, bytes):
            text = text[:65536].decode("utf-8", "replace")
        if "node.invoke.request" not in text[:65536]:
            return None
        match = _INVOKE_ID.search(text, 0, 65536)
        return match.group(1) if match else None
