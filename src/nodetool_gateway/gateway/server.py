"""A local gateway that speaks the NodeTool protocol from the gateway side.

Nodes connect on any path except ``/operator`` and register; operators connect on
``/operator`` and send requests, which the gateway routes to a node and whose
answers it relays back. For development, demos, tests and benchmarks.

What it defends against (``nodetool-gateway serve`` may be reachable by anyone on
the machine, and by any web page the user opens):

- a handshake with an ``Origin`` header (every browser sends one) is refused with
  403 unless the origin is allowed; clients that send none are not browsers;
- a ``node_id`` whose connection is alive cannot be registered again: the second
  registration gets ``NODE_ID_IN_USE`` and close 1008. Tokens are per gateway, not
  per node, so liveness is the only claim a connection has to its id: the old
  connection is pinged, and only one that does not answer is replaced;
- answers count only from the connection the request was sent to, and only the
  operator that sent a request can cancel it; an operator that disconnects
  cancels its pending requests on their nodes;
- the operator's ``node_id`` routes a request and is removed before the node
  sees it (a handler would take it for an argument);
- departed nodes are forgotten beyond the newest ``max_departed_nodes``;
- connections are limited in number and, optionally, in messages per second;
- a node that leaves fails its pending requests at once with ``NODE_DISCONNECTED``.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import signal
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
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

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_PORT",
    "DEFAULT_RATE_LIMIT",
    "LocalGateway",
    "NodeInfo",
    "serve_forever",
]

DEFAULT_PORT = 8080
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_RATE_LIMIT = 200.0  # messages per second per connection, for `serve`
# Seconds a forwarded request may wait for its node's final answer; then the operator is
# told TIMEOUT and the node is asked to cancel it.
DEFAULT_REQUEST_TIMEOUT = 3600.0

log = logging.getLogger("nodetool.gateway.server")
_ws_log = RedactingAdapter(logging.getLogger("nodetool.gateway.server.websockets"), {})

# The node sniffs the request id of a frame it cannot parse in its first 64 KiB.
_SNIFF_WINDOW = 65536


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


class _Link:
    """A registered node's connection and the requests routed to it."""

    __slots__ = ("max_message_size", "misrouted", "node_id", "requests", "ws")

    def __init__(self, node_id: str, ws: ServerConnection) -> None:
        self.node_id = node_id
        self.ws = ws
        self.requests: set[str] = set()
        self.max_message_size: int | None = None  # when the node says *(ext)*
        self.misrouted = 0  # answers for requests it was not sent; warned once


class _Pending:
    """A request in flight: who asked, and which node connection has it."""

    __slots__ = ("link", "operator", "owned", "timer")

    def __init__(self, operator: ServerConnection, owned: set[str], link: _Link) -> None:
        self.operator = operator
        self.owned = owned  # the operator's own set of request ids, for cleanup
        self.link = link
        self.timer: asyncio.TimerHandle | None = None  # the request time-out

    def release(self) -> None:
        """The request is over (answered, failed, cancelled): stop its time-out."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _Bucket:
    """Token bucket: ``rate`` messages a second on average, ``burst`` at once."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class LocalGateway:
    """A NodeTool-protocol gateway on one port.

    ``async with LocalGateway() as gw:`` starts it on an ephemeral loopback port;
    nodes connect to ``gw.url``, operators to ``gw.operator_url``.

    ``auth_token=None`` accepts anyone who can reach the port: fine embedded in
    tests and demos on loopback; ``nodetool-gateway serve`` insists on a token
    unless told ``--insecure-no-auth``. Browsers are refused (403) unless their
    ``Origin`` is in ``allow_origins``.

    A request is failed with ``NODE_DISCONNECTED`` as soon as the connection it
    was sent on goes away; an answer a node delivers later, after reconnecting,
    is dropped. An operator's pending requests are cancelled on their nodes
    (``cancel_request``) when it disconnects: nobody is left to read the answers.

    Limits: at most ``max_connections`` open connections (more get HTTP 503);
    with ``rate_limit``, a connection that sends more than ``rate_limit``
    messages a second on average (``rate_burst`` at once, default twice the
    rate) gets a ``RATE_LIMITED`` error and close 1008; a node must register
    within ``registration_timeout`` seconds, in a frame of at most
    ``max_registration_size`` bytes; ``list_nodes`` shows live nodes and the
    ``max_departed_nodes`` that left most recently. The rate limit is off by
    default here, for tests and benchmarks that relay thousands of messages a
    second on one connection; :func:`serve_forever` and ``serve`` default to
    ``DEFAULT_RATE_LIMIT``.

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
        allow_origins: Iterable[str] = (),
        # Limits
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_size: int | None = 64 * 2**20,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        max_registration_size: int = 2**20,
        registration_timeout: float = 10.0,
        max_departed_nodes: int = 100,
        # Seconds a connected node has to answer a ping when its id registers again.
        takeover_ping_timeout: float = 2.0,
        # Loopback traffic gains nothing from permessage-deflate; it costs CPU.
        compression: str | None = None,
        # Test hooks
        record: bool = False,
    ) -> None:
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive (None for no limit)")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be at least 1 (None for no limit)")
        self.host = host
        self._requested_port = port
        self._token = secret_bytes(auth_token)
        self._allow_query_token = allow_query_token
        self._request_timeout = request_timeout
        self._expiring: set[asyncio.Task] = set()
        self._allow_origins = tuple(allow_origins)
        self._max_size = max_size
        self._max_connections = max_connections
        self._rate = rate_limit
        self._burst = max(1.0, rate_burst if rate_burst is not None else 2 * (rate_limit or 0))
        self._max_registration = max_registration_size
        self._registration_timeout = registration_timeout
        self._max_departed = max_departed_nodes
        self._takeover_timeout = takeover_ping_timeout
        self._compression = compression
        self._record = record

        self.nodes: dict[str, NodeInfo] = {}
        self.received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()
        self._links: dict[str, _Link] = {}  # connected node id -> its connection
        self._departed: OrderedDict[str, None] = OrderedDict()  # oldest first
        self._pending: dict[str, _Pending] = {}
        self._open = 0  # connections past the handshake
        self._full = False  # the connection limit was hit and not yet left
        self._changed = asyncio.Event()  # set and replaced on every (dis)connection
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: int = port

    def __repr__(self) -> str:
        auth = "token" if self._token else "open"
        return f"<LocalGateway {self.url} {auth} nodes={sorted(self._links)}>"

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

    @property
    def open_connections(self) -> int:
        """Node and operator connections past the handshake."""
        return self._open

    async def start(self) -> None:
        """Bind and start accepting connections; ``port`` is then the bound port."""
        if self._server is not None:
            raise RuntimeError("gateway already started")
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            # None: no Origin header, i.e. not a browser.
            origins=[None, *self._allow_origins],
            process_request=self._check_request,
            process_response=self._log_refused_origin,
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
        for entry in self._pending.values():
            entry.release()
        for task in list(self._expiring):
            task.cancel()

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
                        if self._links:
                            return self.nodes[next(iter(self._links))]
                    elif node_id in self._links:
                        return self.nodes[node_id]
                    await self._changed.wait()
        except TimeoutError:
            which = f"node {node_id!r}" if node_id else "no node"
            raise TimeoutError(f"{which} registered within {timeout}s") from None

    async def wait_for_disconnect(self, node_id: str, timeout: float = 10) -> NodeInfo:
        """Wait until ``node_id`` has no connection (returns at once if it has none)."""
        info = self.nodes.get(node_id)
        try:
            async with asyncio.timeout(timeout):
                while node_id in self._links:
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"node {node_id!r} still connected after {timeout}s") from None
        if info is None:
            raise LookupError(f"no node {node_id!r} has registered")
        return info

    async def disconnect_node(self, node_id: str, code: int = 1001, reason: str = "") -> None:
        """Close a node's connection from the gateway side (test hook)."""
        link = self._links.get(node_id)
        if link is None:
            raise LookupError(f"node {node_id!r} is not connected")
        await link.ws.close(code, reason)
        await self._node_left(link)

    # Connections

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse an upgrade over the connection limit (503) or without the token (401)."""
        path = urlsplit(request.path).path
        if self._max_connections is not None and self._open >= self._max_connections:
            if not self._full:  # once per episode, not once per refused connection
                self._full = True
                log.warning(
                    "refusing connections: %d open (max_connections %d), first refused from %s",
                    self._open,
                    self._max_connections,
                    _peer(connection),
                )
            response = connection.respond(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections, try again later\n"
            )
            response.headers["Retry-After"] = "5"
            return response
        if self._token is None:
            return None
        refusal = token_refusal(
            request.headers.get("Authorization"),
            request.path,
            self._token,
            allow_query_token=self._allow_query_token,
        )
        if refusal is None:
            return None
        log.warning("refused connection from %s to %s: %s", _peer(connection), path, refusal)
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, f"Unauthorized: {refusal}\n")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def _log_refused_origin(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        # websockets checks Origin after process_request; a 403 can only be that check.
        if response.status_code == http.HTTPStatus.FORBIDDEN:
            origin = request.headers.get("Origin", "")[:200]
            log.warning(
                "refused connection from %s: origin %r is not allowed (see allow_origins)",
                _peer(connection),
                origin,
            )

    async def _handle(self, ws: ServerConnection) -> None:
        self._open += 1
        try:
            if urlsplit(ws.request.path).path == OPERATOR_PATH:  # type: ignore[union-attr]
                await self._serve_operator(ws)
            else:
                await self._serve_node(ws)
        finally:
            self._open -= 1
            if self._full and self._max_connections and self._open < self._max_connections:
                self._full = False
                log.info("accepting connections again (%d open)", self._open)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _bucket(self) -> _Bucket | None:
        return _Bucket(self._rate, self._burst) if self._rate is not None else None

    async def _over_rate(self, ws: ServerConnection, who: str) -> None:
        # The connection is closed, so this is logged once per connection.
        log.warning(
            "%s: over %g messages/s (burst %g): closing with 1008", who, self._rate, self._burst
        )
        problem = f"over the rate limit of {self._rate:g} messages/s (burst {self._burst:g})"
        await _refuse(ws, "RATE_LIMITED", problem, "rate limit exceeded")

    # Node side

    async def _serve_node(self, ws: ServerConnection) -> None:
        peer = _peer(ws)
        log.info("node connection from %s", peer)
        bucket = self._bucket()
        link: _Link | None = None
        try:
            link = await self._first_frame(ws, peer, bucket)
            if link is None:
                return
            who = f"node {link.node_id}"
            async for text in ws:
                if bucket is not None and not bucket.take():
                    await self._over_rate(ws, who)
                    break
                # The hot path: relay with a direct send, no task per message.
                reply = self._node_frame(link, text)
                if reply is not None:
                    await _send_quietly(*reply)
        except ConnectionClosed:
            pass  # closed without a clean close frame; logged below with its code
        finally:
            if link is not None:
                await self._node_left(link)
            log.info(
                "node %s disconnected (code %s%s)",
                link.node_id if link is not None else f"connection from {peer}",
                ws.close_code,
                f", {ws.close_reason}" if ws.close_reason else "",
            )

    async def _first_frame(
        self, ws: ServerConnection, peer: str, bucket: _Bucket | None
    ) -> _Link | None:
        try:
            async with asyncio.timeout(self._registration_timeout):
                text = await ws.recv()
        except TimeoutError:
            log.warning(
                "node connection from %s refused: no registration within %gs",
                peer,
                self._registration_timeout,
            )
            problem = "no node_registration in time"
            await _refuse(ws, "INVALID_MESSAGE", problem, "registration timeout")
            return None
        except ConnectionClosed:
            return None
        if bucket is not None:
            bucket.take()
        if len(text) > self._max_registration:
            problem = (
                f"node_registration of {len(text)} bytes is over the gateway's limit "
                f"of {self._max_registration} bytes"
            )
            log.warning("node connection from %s refused: %s", peer, problem)
            await _refuse(ws, "TOO_LARGE", problem, "registration too large")
            return None
        frame = _loads(text)
        problem = _registration_problem(frame)
        if problem is not None:
            log.warning("node connection from %s refused: %s", peer, problem)
            if self._record:
                self.received.put_nowait((None, frame if isinstance(frame, dict) else {}))
            await _refuse(ws, "INVALID_MESSAGE", problem, "expected node_registration")
            return None
        assert frame is not None
        node_id: str = frame["node_id"]
        if not await self._claim(node_id, peer):
            problem = (
                f"node {node_id!r} is connected on another live connection; "
                "its id can be registered again once that connection has closed"
            )
            await _refuse(ws, "NODE_ID_IN_USE", problem, "node_id in use")
            return None
        link = _Link(node_id, ws)
        self._register(link, frame)
        if self._record:
            self.received.put_nowait((node_id, frame))
        return link

    async def _claim(self, node_id: str, peer: str) -> bool:
        """Whether ``node_id`` is free, after replacing a connection that does not answer.

        True only when checked after the last ``await``, so that the caller
        registers before any other connection can claim the id.
        """
        while True:
            link = self._links.get(node_id)
            if link is None:
                return True
            if await _answers_ping(link.ws, self._takeover_timeout):
                log.warning(
                    "node connection from %s refused: node %s is connected from %s and alive",
                    peer,
                    node_id,
                    _peer(link.ws),
                )
                return False
            if self._links.get(node_id) is link:
                log.warning(
                    "node %s: connection from %s did not answer a ping; replaced by %s",
                    node_id,
                    _peer(link.ws),
                    peer,
                )
                self._spawn(link.ws.close(1001, "replaced"))
                await self._node_left(link)

    def _node_frame(
        self, link: _Link, text: str | bytes
    ) -> tuple[ServerConnection, str | bytes] | None:
        """Handle one frame from a registered node; return what to send, and where.

        A frame answering a request sent on this connection goes, unchanged, to
        the operator that sent the request; a bad frame gets an ``error`` back to
        the node.
        """
        reply: tuple[ServerConnection, str | bytes] | None = None
        node_id = link.node_id
        frame = _loads(text)
        if frame is None:
            log.warning("node %s sent a frame that is not a JSON object with a type", node_id)
            return link.ws, error_frame("INVALID_MESSAGE", _NOT_A_FRAME)
        kind = frame["type"]
        if kind == "heartbeat":
            self._heartbeat(link, frame)
        elif kind == "node_registration":
            reply = self._reregister(link, frame, len(text))
        else:
            request_id = frame.get("request_id")
            entry = self._pending.get(request_id) if isinstance(request_id, str) else None
            if entry is not None and entry.link is link:
                if kind in FINAL_TYPES:
                    del self._pending[request_id]
                    entry.release()
                    entry.owned.discard(request_id)
                    link.requests.discard(request_id)
                reply = entry.operator, text
            elif entry is not None:
                link.misrouted += 1
                if link.misrouted == 1:
                    log.warning(
                        "node %s answered request %s, which went to node %s: dropped "
                        "(further such frames from this connection are dropped at DEBUG)",
                        node_id,
                        request_id,
                        entry.link.node_id,
                    )
                else:
                    log.debug("node %s: dropped %s for another node's request", node_id, kind)
            elif kind == "error" and len(link.requests) == 1:
                # NodeTool's client answers a request its model rejects with an error that
                # has no request_id: with one request in flight there, it is that one's.
                (only,) = link.requests
                entry = self._pending.pop(only)
                entry.release()
                entry.owned.discard(only)
                link.requests.discard(only)
                log.warning("node %s reported an error without its request id; failing its "
                            "only request %s: %s", node_id, only, frame.get("error"))
                problem = f"node {node_id!r} answered with an error: {frame.get('error')}"
                reply = entry.operator, error_frame(
                    str(frame.get("code") or "NODE_ERROR"), problem, request_id=only)
            elif kind == "error":
                log.warning("node %s reported an error: %s", node_id, frame.get("error"))
            else:
                log.debug("node %s sent %s for no pending request (%s)", node_id, kind, request_id)
        if self._record:
            self.received.put_nowait((node_id, frame))
        return reply

    def _heartbeat(self, link: _Link, frame: dict[str, Any]) -> None:
        if self._links.get(link.node_id) is not link:
            return  # from a replaced connection: stale
        info = self.nodes[link.node_id]
        status = frame.get("status")
        if isinstance(status, str):
            info.status = status
        in_flight = frame.get("in_flight")
        if isinstance(in_flight, int):
            info.in_flight = in_flight
        info.last_heartbeat = now_iso()

    def _reregister(
        self, link: _Link, frame: dict[str, Any], size: int
    ) -> tuple[ServerConnection, str] | None:
        node_id = link.node_id
        if self._links.get(node_id) is not link:
            log.debug("node %s re-registered on a replaced connection: ignored", node_id)
            return None
        if frame.get("node_id") != node_id:
            log.warning("node %s tried to re-register as %r", node_id, frame.get("node_id"))
            problem = f"node_id cannot change on a connection (registered as {node_id!r})"
            return link.ws, error_frame("INVALID_MESSAGE", problem)
        if size > self._max_registration:
            problem = (
                f"node_registration of {size} bytes is over the gateway's limit "
                f"of {self._max_registration} bytes"
            )
            log.warning("node %s sent a bad re-registration: %s", node_id, problem)
            return link.ws, error_frame("TOO_LARGE", problem)
        problem = _registration_problem(frame)
        if problem is not None:
            log.warning("node %s sent a bad re-registration: %s", node_id, problem)
            return link.ws, error_frame("INVALID_MESSAGE", problem)
        self._register(link, frame)
        return None

    def _register(self, link: _Link, frame: dict[str, Any]) -> None:
        node_id = link.node_id
        capabilities = frame.get("capabilities") or {}
        metadata = frame.get("metadata") or {}
        info = self.nodes.get(node_id)
        if info is None:
            info = self.nodes[node_id] = NodeInfo(node_id)
        self._departed.pop(node_id, None)
        first = self._links.get(node_id) is not link
        if first:
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
        # Where a node states its frame limit: capabilities, or (ours) registration metadata.
        limit = capabilities.get("max_message_size", info.metadata.get("max_message_size"))
        link.max_message_size = limit if type(limit) is int and limit > 0 else None
        self._links[node_id] = link
        log.info(
            "node %s %s (%d commands, %d message types)",
            node_id,
            "registered" if first else "re-registered",
            len(info.commands),
            len(info.message_types),
        )
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _node_left(self, link: _Link) -> None:
        """Forget ``link`` and fail every request still waiting on it."""
        node_id = link.node_id
        if self._links.get(node_id) is link:
            del self._links[node_id]
            self.nodes[node_id].connected = False
            self._departed[node_id] = None
            while len(self._departed) > self._max_departed:
                gone, _ = self._departed.popitem(last=False)
                self.nodes.pop(gone, None)
            self._notify()
        failed, link.requests = link.requests, set()
        if not failed:
            return
        ws = link.ws
        how = f"code {ws.close_code}" + (f", {ws.close_reason}" if ws.close_reason else "")
        if ws.close_code is None:
            how = "not answering"
        problem = f"node {node_id!r} disconnected ({how}) before answering"
        log.warning("node %s left with %d pending request(s): failed", node_id, len(failed))
        for request_id in failed:
            entry = self._pending.pop(request_id, None)
            if entry is None:
                continue
            entry.release()
            entry.owned.discard(request_id)
            await _send_quietly(
                entry.operator, error_frame("NODE_DISCONNECTED", problem, request_id=request_id)
            )

    # Operator side

    async def _serve_operator(self, ws: ServerConnection) -> None:
        peer = _peer(ws)
        log.info("operator connection from %s", peer)
        bucket = self._bucket()
        owned: set[str] = set()
        try:
            async for text in ws:
                if bucket is not None and not bucket.take():
                    await self._over_rate(ws, f"operator {peer}")
                    break
                await self._operator_frame(ws, owned, text)
        except ConnectionClosed:
            pass
        finally:
            abandoned: list[tuple[str, _Link]] = []
            for request_id in owned:
                entry = self._pending.get(request_id)
                if entry is not None and entry.operator is ws:
                    del self._pending[request_id]
                    entry.release()
                    entry.link.requests.discard(request_id)
                    abandoned.append((request_id, entry.link))
            log.info(
                "operator %s disconnected (code %s%s)",
                peer,
                ws.close_code,
                f", {len(abandoned)} request(s) unanswered: cancelled on the node"
                if abandoned
                else "",
            )
            # Nobody is left to read the answers: stop the work they were for.
            for request_id, link in abandoned:
                await _send_quietly(link.ws, _cancel_frame(request_id))

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
            await self._forward_cancel(ws, frame)
            return

        changed = False
        if request_id is None:
            request_id = frame["request_id"] = uuid.uuid4().hex
            changed = True
        if "timestamp" not in frame:
            frame["timestamp"] = now_iso()
            changed = True
        node_id, link, problem = self._pick(frame.get("node_id"))
        if link is None:
            await _send_quietly(ws, error_frame("NO_NODE", problem, request_id=request_id))
            return
        if "node_id" in frame:
            # The operator's routing field: a handler would take it for an argument.
            del frame["node_id"]
            changed = True
        entry = self._pending.get(request_id)
        if entry is not None and (entry.operator is not ws or entry.link is not link):
            # Answers go to the first asker on the first node: a second one would wait forever.
            problem = f"request_id {request_id!r} is already pending; use a new one"
            await _send_quietly(ws, error_frame("INVALID_MESSAGE", problem, request_id=request_id))
            return
        if len(text) > _SNIFF_WINDOW:
            # Keep request_id near the start, where a node that cannot parse the
            # frame (too large for it) finds it and answers with it.
            frame = {"type": kind, "request_id": request_id, **frame}
            changed = True
        data = json.dumps(frame) if changed else text
        if link.max_message_size is not None and _over(data, link.max_message_size):
            problem = (
                f"request of {_size(data)} bytes is over node {node_id!r}'s limit "
                f"of {link.max_message_size} bytes"
            )
            await _send_quietly(ws, error_frame("TOO_LARGE", problem, request_id=request_id))
            return
        if entry is None:
            entry = self._pending[request_id] = _Pending(ws, owned, link)
            owned.add(request_id)
            link.requests.add(request_id)
            if self._request_timeout is not None:
                entry.timer = asyncio.get_running_loop().call_later(
                    self._request_timeout, self._expire, request_id, entry)
        try:
            await link.ws.send(data)
        except ConnectionClosed:
            if self._pending.get(request_id) is entry:  # else _node_left already failed it
                del self._pending[request_id]
                entry.release()
                owned.discard(request_id)
                link.requests.discard(request_id)
                log.warning("node %s went away before request %s reached it", node_id, request_id)
                problem = f"node {node_id!r} disconnected before the request reached it"
                await _send_quietly(
                    ws, error_frame("NODE_DISCONNECTED", problem, request_id=request_id)
                )

    def _expire(self, request_id: str, entry: _Pending) -> None:
        """A request's time-out: tell its operator, and ask its node to cancel it."""
        if self._pending.get(request_id) is not entry:
            return
        del self._pending[request_id]
        entry.timer = None
        entry.owned.discard(request_id)
        entry.link.requests.discard(request_id)
        node_id = entry.link.node_id
        log.warning("node %s did not answer request %s within %gs: cancelled", node_id,
                    request_id, self._request_timeout)
        problem = (f"node {node_id!r} did not answer within {self._request_timeout:g}s "
                   "(the gateway's request time-out); the request was cancelled on the node")

        async def tell() -> None:
            await _send_quietly(entry.operator,
                                error_frame("TIMEOUT", problem, request_id=request_id))
            await _send_quietly(entry.link.ws, _cancel_frame(request_id))

        task = asyncio.get_running_loop().create_task(tell())
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _forward_cancel(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        # Errors about a cancel carry no request_id: they must not end the request.
        request_id = frame.get("request_id")
        details = {"cancel_request_id": request_id}
        entry = self._pending.get(request_id) if request_id is not None else None
        if entry is None or entry.operator is not ws:
            if entry is not None:
                log.warning(
                    "operator %s tried to cancel request %s of another operator: refused",
                    _peer(ws),
                    request_id,
                )
            # The same answer either way: no probing for other operators' request ids.
            problem = f"no request {request_id!r} of this connection is pending"
            await _send_quietly(ws, error_frame("NOT_FOUND", problem, details=details))
            return
        # Rebuilt, not relayed: the node gets the request id, not the operator's routing fields.
        await _send_quietly(entry.link.ws, _cancel_frame(request_id))

    def _pick(self, node_id: str | None) -> tuple[str, _Link | None, str]:
        """Where a request goes: ``(node_id, link, "")``, or ``(..., None, why not)``."""
        if node_id is not None:
            link = self._links.get(node_id)
            if link is not None:
                return node_id, link, ""
            if node_id in self.nodes:
                return node_id, None, f"node {node_id!r} is not connected"
            return node_id, None, f"no node {node_id!r} is connected"
        if len(self._links) == 1:
            node_id, link = next(iter(self._links.items()))
            return node_id, link, ""
        if not self._links:
            return "", None, "no node is connected"
        names = ", ".join(sorted(self._links))
        return "", None, f"{len(self._links)} nodes are connected ({names}): give node_id"


_NOT_A_FRAME = "not a JSON object with a string 'type'"


def _cancel_frame(request_id: str) -> str:
    return json.dumps({"type": "cancel_request", "request_id": request_id, "timestamp": now_iso()})


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


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


def _over(data: str | bytes, limit: int) -> bool:
    # A str is at most 4 bytes a character: encode only when it might be over.
    if len(data) > limit:
        return True
    return isinstance(data, str) and len(data) * 4 > limit and _size(data) > limit


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


async def _answers_ping(ws: ServerConnection, timeout: float) -> bool:
    if ws.state is not State.OPEN:
        return False
    try:
        async with asyncio.timeout(timeout):
            pong = await ws.ping()
            await pong
    except (TimeoutError, ConnectionClosed):
        return False
    return True


async def _refuse(ws: ServerConnection, code: str, problem: str, reason: str) -> None:
    """Send an error frame and close with 1008 (policy violation).

    Frames the peer sent meanwhile are read and dropped: its close frame is
    behind them, and reading stops while they sit unread.
    """
    try:
        await ws.send(error_frame(code, problem))
    except ConnectionClosed:
        return
    closing = asyncio.ensure_future(ws.close(1008, reason))
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass
    await closing


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
    allow_origins: Iterable[str] = (),
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    max_size: int | None = 64 * 2**20,
    max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
    rate_limit: float | None = DEFAULT_RATE_LIMIT,
    rate_burst: float | None = None,
    compression: str | None = None,
    on_ready: Callable[[LocalGateway], Any] | None = None,
) -> None:
    """Run a :class:`LocalGateway` until cancelled, SIGINT or SIGTERM.

    The limits default to those of ``nodetool-gateway serve``. ``on_ready`` is
    called with the started gateway (e.g. to print its URL).
    """
    gateway = LocalGateway(
        host,
        port,
        auth_token=auth_token,
        allow_query_token=allow_query_token,
        allow_origins=allow_origins,
        request_timeout=request_timeout,
        max_size=max_size,
        max_connections=max_connections,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        compression=compression,
    )
    async with gateway:
        log.info(
            "listening on %s (nodes: any path, operators: %s, %s)",
            gateway.url,
            OPERATOR_PATH,
            "token required" if auth_token is not None else "no token",
        )
        if auth_token is None:
            log.warning("no token: any process that can reach %s can drive the nodes", gateway.url)
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
