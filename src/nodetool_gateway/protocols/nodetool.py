"""The NodeTool gateway protocol: JSON frames <-> requests, answers and updates.

See ``docs/protocol-nodetool.md``. Pure functions, no socket: the session
sends what these return and feeds them what it receives.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import Code
from ._base import Answer, Control, Offer, Protocol, ProtocolError, Request, utc_now
from ._json import dumps, loads

__all__ = [
    "NAME",
    "NodeToolProtocol",
    "decode",
    "registration",
    "heartbeat",
    "ack",
    "answer",
    "update",
    "error_frame",
    "sniff_request_id",
]

NAME = "nodetool"

# Fields of a routed message that are envelope, not arguments.
_ENVELOPE = frozenset({"type", "timestamp", "request_id"})
_CONTROL = {"cancel_request": "cancel", "ack": "ack", "error": "error", "heartbeat": "heartbeat"}
_REQUEST_ID = re.compile(r'"request_id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


def sniff_request_id(text: str | bytes) -> str | None:
    """Best-effort request id of a frame that cannot be parsed (or is too large to)."""
    if isinstance(text, bytes):
        text = text[:65536].decode("utf-8", "replace")
    match = _REQUEST_ID.search(text, 0, 65536)
    return match.group(1) if match else None


def decode(text: str | bytes) -> Request | Control:
    """Turn one frame into a :class:`Request` or :class:`Control`.

    Raises :class:`ProtocolError` for a frame that must be answered with an error.
    """
    try:
        msg = loads(text)
    except ValueError as exc:
        raise ProtocolError(Code.INVALID_MESSAGE, f"frame is not valid JSON: {exc}",
                            sniff_request_id(text)) from None
    if not isinstance(msg, dict):
        raise ProtocolError(Code.INVALID_MESSAGE,
                            f"frame must be a JSON object, not {type(msg).__name__}")
    request_id = msg.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        request_id = str(request_id)
    mtype = msg.get("type")
    if not isinstance(mtype, str) or not mtype:
        raise ProtocolError(Code.INVALID_MESSAGE, "frame has no 'type'", request_id)

    if mtype == "command_request":
        command = msg.get("command")
        if not isinstance(command, str) or not command:
            raise ProtocolError(Code.INVALID_MESSAGE, "command_request has no 'command'", request_id)
        if request_id is None:
            raise ProtocolError(Code.INVALID_MESSAGE, "command_request has no 'request_id'")
        args = msg.get("args")
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            raise ProtocolError(Code.INVALID_ARGS, "'args' must be a JSON object", request_id)
        return Request("command", command, request_id, args, mtype, msg, acked=True)

    control = _CONTROL.get(mtype)
    if control is not None:
        return Control(control, request_id, msg)

    if mtype == "workflow_request":
        if request_id is None:
            raise ProtocolError(Code.INVALID_MESSAGE, "workflow_request has no 'request_id'")
        args = {k: v for k, v in msg.items() if k not in _ENVELOPE}
        return Request("message", mtype, request_id, args, mtype, msg, acked=True)

    args = {k: v for k, v in msg.items() if k not in _ENVELOPE}
    return Request("message", mtype, request_id, args, mtype, msg)


def registration(node_id: str, commands: list[str], message_types: list[str],
                 metadata: dict[str, Any], workflow_execution: bool) -> str:
    return dumps({
        "type": "node_registration",
        "node_id": node_id,
        "capabilities": {
            "workflow_execution": workflow_execution,
            "commands": commands,
            "message_types": message_types,
        },
        "metadata": metadata,
        "timestamp": utc_now(),
    })


def heartbeat(node_id: str, status: str, in_flight: int) -> str:
    return dumps({"type": "heartbeat", "node_id": node_id, "status": status,
                  "in_flight": in_flight, "timestamp": utc_now()})


def ack(request_id: str, message: str = "received") -> str:
    # The hottest frame there is: written directly, fields in the usual order.
    return (f'{{"type":"ack","request_id":{dumps(request_id)},"message":{dumps(message)},'
            f'"timestamp":"{utc_now()}"}}')


def answer(request: Request, ans: Answer) -> str:
    """The final frame for a request: ``command_response`` or ``workflow_response``."""
    if ans.ok and request.kind == "command":
        # A successful command answer: only the result needs encoding.
        return (f'{{"type":"command_response","request_id":{dumps(request.request_id)},'
                f'"status":"success","result":{dumps(ans.result)},"timestamp":"{utc_now()}"}}')
    if request.frame_type == "workflow_request":
        if ans.ok:
            status = "completed"
        else:
            status = "cancelled" if ans.cancelled else "failed"
        frame: dict[str, Any] = {
            "type": "workflow_response",
            "request_id": request.request_id,
            "status": status,
            "result": ans.result,
            "error": ans.error,
            "job_id": ans.job_id,
        }
    else:
        frame = {
            "type": "command_response",
            "request_id": request.request_id,
            "status": "success" if ans.ok else "error",
            "result": ans.result,
        }
        if request.kind == "message":
            frame["message_type"] = request.name
        if not ans.ok:
            frame["error"] = ans.error
    if not ans.ok:
        frame["code"] = ans.code
        if ans.details is not None:
            frame["details"] = ans.details
    frame["timestamp"] = utc_now()
    return dumps(frame)


def update(request: Request, job_id: str | None, update_type: str, data: Any) -> str:
    return dumps({"type": "workflow_update", "request_id": request.request_id,
                  "job_id": job_id, "update_type": update_type, "data": data,
                  "timestamp": utc_now()})


def error_frame(code: Code | str, message: str, request_id: str | None = None,
                details: Any = None) -> str:
    frame: dict[str, Any] = {"type": "error", "error": message, "details": details,
                             "code": str(code)}
    if request_id is not None:
        frame["request_id"] = request_id
    frame["timestamp"] = utc_now()
    return dumps(frame)


class NodeToolProtocol(Protocol):
    """NodeTool's gateway protocol: register on connect, heartbeat, ack then answer."""

    name = NAME

    def __init__(self, *, token: str | None, heartbeat_interval: float,
                 query_param: str | None = None):
        self._token = token
        self._query_param = query_param
        self.heartbeat_interval = heartbeat_interval

    def connect_url(self, url: str) -> str:
        if not (self._query_param and self._token):
            return url
        # Opt-in only, for gateways that read the token from the URL; encoded properly.
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True) + [(self._query_param, self._token)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def connect_headers(self) -> dict[str, str] | None:
        return {"Authorization": f"Bearer {self._token}"} if self._token else None

    def begin(self, offer: Offer) -> list[str]:
        self.ready = True
        return [self.reregistration(offer)]

    def reregistration(self, offer: Offer) -> str:
        return registration(offer.node_id, list(offer.commands), list(offer.message_types),
                            offer.metadata, offer.workflow_execution)

    decode = staticmethod(decode)
    sniff_request_id = staticmethod(sniff_request_id)

    def heartbeat(self, node_id: str, status: str, in_flight: int) -> str:
        return heartbeat(node_id, status, in_flight)

    def ack(self, request: Request, message: str) -> str | None:
        return ack(request.request_id, message) if request.acked else None

    def answer(self, request: Request, ans: Answer) -> str:
        return answer(request, ans)

    def update_text(self, request: Request, job_id: str | None, update_type: str,
                    data: Any) -> str:
        return update(request, job_id, update_type, data)

    def error_frame(self, code: Code | str, message: str, request_id: str | None = None,
                    details: Any = None) -> str:
        return error_frame(code, message, request_id, details)
