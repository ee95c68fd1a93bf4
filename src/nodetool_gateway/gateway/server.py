"""A local gateway that speaks the NodeTool protocol from the gateway side.

Nodes connect on any path except ``/operator`` and register; operators connect on
``/operator`` and send requests, which the gateway routes to a node and whose
answers it relays back. For development, demos, tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ._auth import RedactingAdapter, secret_bytes, token_refusal
from ._frames import FINAL_TYPES, OPERATOR_PATH, error_frame, now_iso

__all__ = ["DEFAULT_PORT", "LocalGateway", "NodeInfo", "serve_forever"]

DEFAULT_PORT = 8080

log = logging.getLogger("nodetool.gateway.server")
_ws_log = RedactingAdapter(logging.getLogger("nodetool.gateway.server.websockets"), {})


@dataclass(slots=True)
class NodeInfo:
    """What a node registered, and what its heartbeats last said."""

    node_id: str
    connected: bool = True
    status: str = "active"
    in_flight: int = 0
    workflow_execution: bool = False
    commands: list[str] = field(default_factory=list)
    message_types: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    last_heartbeat: str | None = None
    registered_at: str | None = None
    registrations: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The entry ``list_nodes`` answers with."""
        return {
            "node_id": self.node_id,
            "connected": self.connected,
            "status": self.status,
            "in_flight": self.in_flight,
            "workflow_execution": self.workflow_execution,
            "commands": list(self.commands),
            "message_types": list(self.message_types),
            "metadata": dict(self.metadata),
            "last_heartbeat": self.last_heartbeat,
        }


class _Pending:
    """A request in flight: who asked, and which node has it."""

    __slots__ = ("operator", "node_id", "owned")

    def __init__(self, operator: ServerConnection, node_id: str, owned: set[str]) -> None:
        self.operator = operator
        self.node_id = node_id
        self.owned = owned  # the operator's own set of request ids, for cleanup


class LocalGateway:
    """A NodeTool-protocol gateway on one port.

    ``async with LocalGateway() as gw:`` starts it on an ephemeral loopback port;
    nodes connect to ``gw.url``, operators to ``gw.operator_url``.

    Requests are remembered by ``request_id`` across node connections: a node that
    reconnects under the same id and delivers answers from its outbox still reaches
    the operator that asked. An operator's pending requests are dropped when it
    disconnects.

    With ``record=True`` every frame received from a node is also put on
    ``received`` as ``(node_id, frame)`` (``node_id`` is ``None`` before a valid
    registration). Leave it off for benchmarks: nothing consumes the queue.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth_token: Any = None,
        allow_query_token: bool = False,
        # Limits
        max_size: int | None = 64 * 2**20,
        # Loopback traffic gains nothing from permessage-deflate; it costs CPU.
        compression: str | None = None,
        # Test hooks
        record: bool = False,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._token = secret_bytes(auth_token)
        self._allow_query_token = allow_query_token
        self._max_size = max_size
        self._compression = compression
        self._record = record

        self.nodes: dict[str, NodeInfo] = {}
        self.received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()
        self._sockets: dict[str, ServerConnection] = {}  # connected node id -> connection
        self._pending: dict[str, _Pending] = {}
        self._changed = asyncio.Event()  # set and replaced on every (dis)connection
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: int = port

    def __repr__(self) -> str:
        auth = "token" if self._token else "open"
        return f"<LocalGateway {self.url} {auth} nodes={sorted(self._sockets)}>"

    @property
    def url(self) -> str:
        """Where nodes connect."""
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}"

    @property
    def operator_url(self) -> str:
        """Where operators connect."""
        return self.url + OPERATOR_PATH

    @property
    def pending_requests(self) -> int:
        """How many requests await their final answer."""
        return len(self._pending)

    async def start(self) -> None:
        """Bind and start accepting connections; ``port`` is then the bound port."""
        if self._server is not None:
            raise RuntimeError("gateway already started")
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._check_token if self._token is not None else None,
            compression=self._compression,
            max_size=self._max_size,
            logger=_ws_log,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection (code 1001) and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> LocalGateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for_node(self, node_id: str | None = None, timeout: float = 10) -> NodeInfo:
        """Wait until ``node_id`` (or any node) is connected and registered."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if node_id is None:
                        if self._sockets:
                            return self.nodes[next(iter(self._sockets))]
                    elif node_id in self._sockets:
                        return self.nodes[node_id]
                    await self._changed.wait()
        except TimeoutError:
            which = f"node {node_id!r}" if node_id else "no node"
            raise TimeoutError(f"{which} registered within {timeout}s") from None

    async def wait_for_disconnect(self, node_id: str, timeout: float = 10) -> NodeInfo:
        """Wait until ``node_id`` has no connection (returns at once if it has none)."""
        try:
            async with asyncio.timeout(timeout):
                while node_id in self._sockets:
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"node {node_id!r} still connected after {timeout}s") from None
        return self.nodes[node_id]

    async def disconnect_node(self, node_id: str, code: int = 1001, reason: str = "") -> None:
        """Close a node's connection from the gateway side (test hook)."""
        ws = self._sockets.get(node_id)
        if ws is None:
            raise LookupError(f"node {node_id!r} is not connected")
        await ws.close(code, reason)
        self._mark_disconnected(node_id, ws)

    # Connections

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        assert self._token is not None
        refusal = token_refusal(
            request.headers.get("Authorization"),
            request.path,
            self._token,
            allow_query_token=self._allow_query_token,
        )
        if refusal is None:
            return None
        log.warning(
            "refused connection from %s to %s: %s",
            _peer(connection),
            urlsplit(request.path).path,
            refusal,
        )
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, f"Unauthorized: {refusal}\n")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        if urlsplit(ws.request.path).path == OPERATOR_PATH:  # type: ignore[union-attr]
            await self._serve_operator(ws)
        else:
            await self._serve_node(ws)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Node side

    async def _serve_node(self, ws: ServerConnection) -> None:
        peer = _peer(ws)
        log.info("node connection from %s", peer)
        node_id: str | None = None
        try:
            node_id = await self._first_frame(ws, peer)
            if node_id is None:
                return
            async for text in ws:
                # The hot path: relay with a direct send, no task per message.
                reply = self._node_frame(ws, node_id, text)
                if reply is not None:
                    await _send_quietly(*reply)
        except ConnectionClosed:
            pass  # closed without a clean close frame; logged below with its code
        finally:
            if node_id is not None:
                self._mark_disconnected(node_id, ws)
            log.info(
                "node %s disconnected (code %s%s)",
                node_id or f"connection from {peer}",
                ws.close_code,
                f", {ws.close_reason}" if ws.close_reason else "",
            )

    async def _first_frame(self, ws: ServerConnection, peer: str) -> str | None:
        try:
            text = await ws.recv()
        except ConnectionClosed:
            return None
        frame = _loads(text)
        problem = _registration_problem(frame)
        if problem is not None:
            log.warning("node connection from %s refused: %s", peer, problem)
            if self._record:
                self.received.put_nowait((None, frame if isinstance(frame, dict) else {}))
            try:
                await ws.send(error_frame("INVALID_MESSAGE", problem))
                await ws.close(1008, "expected node_registration")
            except ConnectionClosed:
                pass
            return None
        assert frame is not None
        node_id: str = frame["node_id"]
        self._register(ws, frame)
        if self._record:
            self.received.put_nowait((node_id, frame))
        return node_id

    def _node_frame(
        self, ws: ServerConnection, node_id: str, text: str | bytes
    ) -> tuple[ServerConnection, str | bytes] | None:
        """Handle one frame from a registered node; return what to send, and where.

        A frame answering a pending request goes, unchanged, to the operator that
        sent the request; a bad frame gets an ``error`` back to the node.
        """
        reply: tuple[ServerConnection, str | bytes] | None = None
        frame = _loads(text)
        if frame is None:
            log.warning("node %s sent a frame that is not a JSON object with a type", node_id)
            return ws, error_frame("INVALID_MESSAGE", _NOT_A_FRAME)
        kind = frame["type"]
        if kind == "heartbeat":
            self._heartbeat(ws, node_id, frame)
        elif kind == "node_registration":
            reply = self._reregister(ws, node_id, frame)
        else:
            request_id = frame.get("request_id")
            entry = self._pending.get(request_id) if isinstance(request_id, str) else None
            if entry is not None:
                if kind in FINAL_TYPES:
                    del self._pending[request_id]
                    entry.owned.discard(request_id)
                reply = entry.operator, text
            elif kind == "error":
                log.warning("node %s reported an error: %s", node_id, frame.get("error"))
            else:
                log.debug("node %s sent %s for no pending request (%s)", node_id, kind, request_id)
        if self._record:
            self.received.put_nowait((node_id, frame))
        return reply

    def _heartbeat(self, ws: ServerConnection, node_id: str, frame: dict[str, Any]) -> None:
        if self._sockets.get(node_id) is not ws:
            return  # from a replaced connection: stale
        info = self.nodes[node_id]
        status = frame.get("status")
        if isinstance(status, str):
            info.status = status
        in_flight = frame.get("in_flight")
        if isinstance(in_flight, int):
            info.in_flight = in_flight
        info.last_heartbeat = now_iso()

    def _reregister(
        self, ws: ServerConnection, node_id: str, frame: dict[str, Any]
    ) -> tuple[ServerConnection, str] | None:
        if self._sockets.get(node_id) is not ws:
            log.debug("node %s re-registered on a replaced connection: ignored", node_id)
            return None
        if frame.get("node_id") != node_id:
            log.warning("node %s tried to re-register as %r", node_id, frame.get("node_id"))
            problem = f"node_id cannot change on a connection (registered as {node_id!r})"
            return ws, error_frame("INVALID_MESSAGE", problem)
        problem = _registration_problem(frame)
        if problem is not None:
            log.warning("node %s sent a bad re-registration: %s", node_id, problem)
            return ws, error_frame("INVALID_MESSAGE", problem)
        self._register(ws, frame)
        return None

    def _register(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        node_id: str = frame["node_id"]
        capabilities = frame.get("capabilities") or {}
        metadata = frame.get("metadata") or {}
        info = self.nodes.get(node_id)
        if info is None:
            info = self.nodes[node_id] = NodeInfo(node_id)
        previous = self._sockets.get(node_id)
        if previous is not ws:
            # A new connection: whatever the old one reported is stale.
            info.status = "active"
            info.in_flight = 0
        info.connected = True
        info.workflow_execution = bool(capabilities.get("workflow_execution", False))
        info.commands = _strings(capabilities.get("commands"))
        info.message_types = _strings(capabilities.get("message_types"))
        info.metadata = metadata if isinstance(metadata, dict) else {}
        info.registered_at = now_iso()
        info.registrations += 1
        self._sockets[node_id] = ws
        if previous is not None and previous is not ws:
            log.info("node %s reconnected: closing its previous connection", node_id)
            self._spawn(previous.close(1000, "replaced"))
        log.info(
            "node %s %s (%d commands, %d message types)",
            node_id,
            "registered" if previous is not ws else "re-registered",
            len(info.commands),
            len(info.message_types),
        )
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _mark_disconnected(self, node_id: str, ws: ServerConnection) -> None:
        if self._sockets.get(node_id) is ws:
            del self._sockets[node_id]
            self.nodes[node_id].connected = False
            self._notify()

    # Operator side

    async def _serve_operator(self, ws: ServerConnection) -> None:
        peer = _peer(ws)
        log.debug("operator connected from %s", peer)
        owned: set[str] = set()
        try:
            async for text in ws:
                await self._operator_frame(ws, owned, text)
        except ConnectionClosed:
            pass
        finally:
            for request_id in owned:
                entry = self._pending.get(request_id)
                if entry is not None and entry.operator is ws:
                    del self._pending[request_id]
            log.debug("operator %s disconnected (code %s)", peer, ws.close_code)

    async def _operator_frame(
        self, ws: ServerConnection, owned: set[str], text: str | bytes
    ) -> None:
        frame = _loads(text)
        if frame is None:
            await _send_quietly(ws, error_frame("INVALID_MESSAGE", _NOT_A_FRAME))
            return
        kind = frame["type"]
        request_id = frame.get("request_id")
        for key in ("request_id", "node_id"):
            if not isinstance(frame.get(key, ""), str):
                await _send_quietly(ws, error_frame("INVALID_MESSAGE", f"{key} must be a string"))
                return
        if kind == "list_nodes":
            nodes = [info.as_dict() for info in self.nodes.values()]
            reply: dict[str, Any] = {"type": "nodes", "nodes": nodes}
            if request_id is not None:
                reply["request_id"] = request_id
            reply["timestamp"] = now_iso()
            await _send_quietly(ws, json.dumps(reply))
            return
        if kind == "cancel_request":
            await self._forward_cancel(ws, frame, text)
            return

        changed = False
        if request_id is None:
            request_id = frame["request_id"] = uuid.uuid4().hex
            changed = True
        if "timestamp" not in frame:
            frame["timestamp"] = now_iso()
            changed = True
        node_id, node_ws, problem = self._pick(frame.get("node_id"))
        if node_ws is None:
            await _send_quietly(ws, error_frame("NO_NODE", problem, request_id=request_id))
            return
        entry = self._pending.get(request_id)
        if entry is None or entry.operator.state is not State.OPEN:
            # A duplicate id keeps its first asker, unless that operator is gone.
            if entry is not None:
                entry.owned.discard(request_id)
            self._pending[request_id] = _Pending(ws, node_id, owned)
            owned.add(request_id)
        try:
            await node_ws.send(json.dumps(frame) if changed else text)
        except ConnectionClosed:
            entry = self._pending.get(request_id)
            if entry is not None and entry.operator is ws:
                del self._pending[request_id]
                owned.discard(request_id)
            log.warning("node %s went away before request %s reached it", node_id, request_id)
            await _send_quietly(
                ws, error_frame("NO_NODE", f"node {node_id!r} disconnected", request_id=request_id)
            )

    async def _forward_cancel(
        self, ws: ServerConnection, frame: dict[str, Any], text: str | bytes
    ) -> None:
        # Errors about a cancel carry no request_id: they must not end the request.
        request_id = frame.get("request_id")
        entry = self._pending.get(request_id) if request_id is not None else None
        if entry is not None:
            node_id, node_ws = entry.node_id, self._sockets.get(entry.node_id)
            problem = f"node {node_id!r} is not connected"
        else:
            node_id, node_ws, problem = self._pick(frame.get("node_id"))
        if node_ws is None:
            details = {"cancel_request_id": request_id}
            await _send_quietly(ws, error_frame("NO_NODE", problem, details=details))
            return
        if "timestamp" not in frame:
            frame["timestamp"] = now_iso()
            text = json.dumps(frame)
        await _send_quietly(node_ws, text)

    def _pick(self, node_id: str | None) -> tuple[str, ServerConnection | None, str]:
        """Where a request goes: ``(node_id, connection, "")``, or ``(..., None, why not)``."""
        if node_id is not None:
            ws = self._sockets.get(node_id)
            if ws is not None:
                return node_id, ws, ""
            if node_id in self.nodes:
                return node_id, None, f"node {node_id!r} is not connected"
            return node_id, None, f"no node {node_id!r} has registered"
        if len(self._sockets) == 1:
            node_id, ws = next(iter(self._sockets.items()))
            return node_id, ws, ""
        if not self._sockets:
            return "", None, "no node is connected"
        names = ", ".join(sorted(self._sockets))
        return "", None, f"{len(self._sockets)} nodes are connected ({names}): give node_id"


_NOT_A_FRAME = "not a JSON object with a string 'type'"


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _loads(text: str | bytes) -> dict[str, Any] | None:
    """A frame as a dict with a string ``type``, or ``None``."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None
    return frame


def _registration_problem(frame: dict[str, Any] | None) -> str | None:
    if frame is None:
        return "first frame must be a node_registration JSON object"
    if frame["type"] != "node_registration":
        return f"first frame must be node_registration, not {frame['type']!r}"
    node_id = frame.get("node_id")
    if not isinstance(node_id, str) or not node_id:
        return "node_registration needs a non-empty string node_id"
    if not isinstance(frame.get("capabilities", {}), dict):
        return "node_registration capabilities must be an object"
    return None


async def _send_quietly(ws: ServerConnection, data: str | bytes) -> None:
    try:
        await ws.send(data)
    except ConnectionClosed:
        pass


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    auth_token: Any = None,
    *,
    allow_query_token: bool = False,
    max_size: int | None = 64 * 2**20,
    compression: str | None = None,
    on_ready: Callable[[LocalGateway], Any] | None = None,
) -> None:
    """Run a :class:`LocalGateway` until cancelled, SIGINT or SIGTERM.

    ``on_ready`` is called with the started gateway (e.g. to print its URL).
    """
    gateway = LocalGateway(
        host,
        port,
        auth_token=auth_token,
        allow_query_token=allow_query_token,
        max_size=max_size,
        compression=compression,
    )
    async with gateway:
        log.info(
            "listening on %s (nodes: any path, operators: %s, %s)",
            gateway.url,
            OPERATOR_PATH,
            "token required" if auth_token is not None else "no token",
        )
        if on_ready is not None:
            on_ready(gateway)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or not supported here
            installed.append(signum)
        try:
            await stop.wait()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            log.info("stopping")
