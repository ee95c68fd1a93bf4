"""The session: one node's life on a gateway.

It owns the socket. It connects, registers, heartbeats, reads frames, hands
them to the codec, runs what the router finds, and sends the answers back; it
reconnects with back-off, keeps answers made while disconnected in an outbox,
never runs a ``request_id`` twice, swaps its config on reload, and drains on
shutdown. ``GatewayClient`` is the seed's public name for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import __version__
from .backend import backend_settings
from .config import Config, Snapshot, default_config, snapshot_from_config
from .delivery import AnswerLog, Outbox
from .errors import AuthRefused, Code, FatalError, HandlerError
from .handlers.context import HandlerContext
from .protocols import (Answer, Control, HandshakeRejected, Offer, Protocol, ProtocolError,
                        Request, check_protocol, protocol_for)
from .retry import Backoff
from .router import Route, Router

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["GatewayClient"]

@dataclass(slots=True, eq=False)
class _Call:
    """A request being run, and any repeats of it that wait for the same answer."""

    request: Request
    task: asyncio.Task | None = None
    followers: list[Request] = field(default_factory=list)


def _env_default(value: Any, name: str) -> Any:
    return os.environ.get(name) if value is None else value


class GatewayClient:
    """A node on a gateway: ``await GatewayClient(...).run()`` serves until stopped.

    The constructor's arguments are a shortcut for a config (the rest are the
    embedded defaults); each falls back to its ``GATEWAY_*`` environment variable.
    ``run node.yaml`` builds the same object from a file with ``snapshot=``.

    Subclasses may add handlers for message types, taking the message dict::

        self._handlers["custom_message"] = self._handle_custom_message
    """

    def __init__(
        self,
        gateway_url: str | None = None,
        node_id: str | None = None,
        auth_token: str | None = None,
        user_id: str | None = None,
        heartbeat_interval: float | None = None,
        *,
        config: Config | None = None,
        snapshot: Snapshot | None = None,
    ):
        if snapshot is None:
            if config is None:
                config = _config_from_args(gateway_url, node_id, auth_token, user_id,
                                           heartbeat_interval)
            snapshot = snapshot_from_config(config)
        self.log = logging.getLogger("nodetool.gateway.client")
        self.websocket: ClientConnection | Any | None = None
        self.connected = False
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}

        self._snapshot = snapshot
        self._router: Router | None = None
        self._router_handlers: dict[str, Callable] | None = None
        cfg = snapshot.config
        check_protocol(cfg.gateway.protocol)
        # The protocol object of the current connection (a fresh one per connection).
        self._proto: Protocol | None = None
        self._identity: Any = None
        self._backoff = Backoff.from_config(cfg.retry)
        self._outbox = Outbox(cfg.limits.outbox_max_messages)
        self._answers = AnswerLog(cfg.limits.remember_answers)
        # Running calls by dedup key, and the same calls by request id (for cancel).
        self._running: dict[str, _Call] = {}
        self._by_request_id: dict[str, _Call] = {}
        self._anonymous: set[asyncio.Task] = set()
        self._route_limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._global_limit = asyncio.Semaphore(cfg.limits.max_concurrency)
        self._global_size = cfg.limits.max_concurrency
        # Read on every frame: kept here rather than looked up through the snapshot.
        self._max_message_size = cfg.gateway.max_message_size
        self._max_pending = cfg.limits.max_pending
        self._in_flight = 0
        # Answers go straight out only once registered and the outbox is flushed.
        self._ready = False
        self._draining = False
        self._reconnect = False
        self._served = False
        self._stop_event: asyncio.Event | None = None
        self._registered_event: asyncio.Event | None = None
        self._heartbeat_wakeup: asyncio.Event | None = None
        self.registrations = 0
        self._backend: Backend | None = None
        self._told: set[str] = set()  # notes from the protocol, each logged once

    # Public API

    @property
    def config(self) -> Config:
        return self._snapshot.config

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def node_id(self) -> str:
        return self._snapshot.config.node.id

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self) -> None:
        """Connect, serve and reconnect until :meth:`stop` is called.

        Returns after a clean shutdown; raises :class:`FatalError` (e.g.
        :class:`AuthRefused`) when the node cannot go on.
        """
        self._events()
        assert self._stop_event is not None
        connection = asyncio.create_task(self._connection_loop(), name="gateway-connection")
        stop = asyncio.create_task(self._stop_event.wait())
        try:
            await asyncio.wait({connection, stop}, return_when=asyncio.FIRST_COMPLETED)
            if connection.done():
                connection.result()
                return
            await self._drain()
            # The stop event is set, so the loop ends once the socket has closed.
            await asyncio.wait({connection}, timeout=5)
        finally:
            stop.cancel()
            if not connection.done():
                connection.cancel()
                try:
                    await connection
                except (asyncio.CancelledError, Exception):
                    pass
            for task in [*(c.task for c in self._running.values() if c.task), *self._anonymous]:
                task.cancel()

    def stop(self) -> None:
        """Ask the node to drain and stop (what SIGINT/SIGTERM do)."""
        self._events()
        assert self._stop_event is not None
        self._stop_event.set()

    async def wait_registered(self) -> None:
        """Wait until the node is registered and its outbox flushed."""
        self._events()
        assert self._registered_event is not None
        await self._registered_event.wait()

    async def apply(self, snapshot: Snapshot) -> None:
        """Swap in a new config snapshot (a hot reload) in one step.

        Calls already running finish on the route they started with. The gateway
        hears of a change in what the node offers; a change of URL, credentials
        or TLS reconnects cleanly, keeping every answer.
        """
        old = self._snapshot
        old_offer = self._offer()
        # Everything that can fail comes before the swap, so a failure changes nothing.
        check_protocol(snapshot.config.gateway.protocol)
        new_router = self._build_router(snapshot)
        self._snapshot = snapshot
        self._router = new_router
        cfg = snapshot.config
        self._outbox.max_messages = cfg.limits.outbox_max_messages
        self._max_message_size = cfg.gateway.max_message_size
        self._max_pending = cfg.limits.max_pending
        self._answers.max_entries = cfg.limits.remember_answers
        self._backoff = Backoff.from_config(cfg.retry)
        if cfg.limits.max_concurrency != self._global_size:
            self._global_limit = asyncio.Semaphore(cfg.limits.max_concurrency)
            self._global_size = cfg.limits.max_concurrency
        if cfg.heartbeat.interval != old.config.heartbeat.interval and self._heartbeat_wakeup:
            self._heartbeat_wakeup.set()
        if self._backend is not None and backend_settings(old.config) != backend_settings(cfg):
            # Calls already running keep the old one; the next call builds a new one.
            retiring, self._backend = self._backend, None
            asyncio.get_running_loop().create_task(retiring.close())
        elif self._backend is not None and self._backend.update_services(cfg):
            self.log.info("language-model providers and tools reloaded: %s",
                          self._backend.services.language_models.describe())
        if _connection_settings(old.config) != _connection_settings(cfg):
            self.log.info("gateway connection settings changed: reconnecting to %s",
                          _public_url(cfg))
            await self._request_reconnect()
        elif self._offer() != old_offer:
            offer = self._offer()
            proto = self._proto
            frame = proto.reregistration(offer) if proto is not None else None
            if proto is not None and frame is None:
                # The protocol fixes the command list at connect time.
                self.log.info("the node now offers %d commands: reconnecting so the gateway "
                              "sees them (it may ask for approval again)", len(offer.commands))
                await self._request_reconnect()
            elif frame is not None and self._ready:
                try:
                    await self.websocket.send(frame)
                    self.log.info("re-registered: the node now offers %d commands, %d message types",
                                  len(offer.commands), len(offer.message_types))
                except ConnectionClosed:
                    pass  # the next connection registers with the new offer

    # The seed's API

    async def _send_registration(self) -> None:
        """Send ``node_registration`` with every routed command and message type."""
        proto = self._proto or self._new_protocol()
        frame = proto.reregistration(self._offer())
        if frame is not None:
            await self.websocket.send(frame)

    # Connection

    def _events(self) -> None:
        if self._stop_event is None:
            self._stop_event = asyncio.Event()
            self._registered_event = asyncio.Event()
            self._heartbeat_wakeup = asyncio.Event()

    async def _connection_loop(self) -> None:
        assert self._stop_event is not None
        while True:
            cfg = self._snapshot.config
            self._reconnect = False
            self._served = False
            retry_after: float | None = None
            try:
                await self._connect_once(cfg)
            except HandshakeRejected as exc:
                if exc.fatal:
                    raise AuthRefused(f"the gateway at {_public_url(cfg)} refused the node: "
                                      f"{exc.message}") from None
                self.log.warning("gateway %s: %s", _public_url(cfg), exc.message)
                retry_after = exc.retry_after
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    raise AuthRefused(
                        f"the gateway at {_public_url(cfg)} refused the node's credentials "
                        f"(HTTP {status}): check gateway.auth in the config") from None
                self.log.warning("gateway %s answered HTTP %d", _public_url(cfg), status)
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                if self._served:
                    self.log.warning("lost the connection to gateway %s: %s", _public_url(cfg),
                                     _brief(exc))
                else:
                    self.log.warning("cannot reach gateway %s: %s", _public_url(cfg), _brief(exc))
            if self._stop_event.is_set():
                return
            if self._reconnect:
                continue
            delay = self._backoff.next_delay()
            if delay is not None and retry_after is not None:
                delay = retry_after  # the gateway said when to come back
            if delay is None:
                raise FatalError(
                    f"gave up on gateway {_public_url(cfg)} after {self._backoff.attempts} "
                    "attempts (retry.max_attempts)")
            self.log.info("reconnecting in %.2fs (attempt %d)", delay, self._backoff.attempts)
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
                return
            except TimeoutError:
                pass

    def _new_protocol(self) -> Protocol:
        cfg = self._snapshot.config
        if cfg.gateway.protocol == "openclaw" and self._identity is None:
            from .identity import DeviceIdentity

            self._identity = DeviceIdentity.load_or_create(_identity_path(cfg))
        return protocol_for(cfg, identity=self._identity, version=__version__)

    async def _connect_once(self, cfg: Config) -> None:
        gw = cfg.gateway
        proto = self._new_protocol()
        half = cfg.heartbeat.timeout / 2
        # websockets' own max_size is a hard ceiling; frames between the configured
        # limit and it are answered TOO_LARGE and the session goes on.
        async with connect(
            proto.connect_url(gw.url),
            additional_headers=proto.connect_headers(),
            ssl=_ssl_context(cfg),
            open_timeout=gw.open_timeout,
            ping_interval=half,
            ping_timeout=half,
            # A dead peer won't answer the close handshake either: don't wait long for it.
            close_timeout=min(10.0, half),
            max_size=gw.max_message_size * 4,
            user_agent_header=f"nodetool-gateway/{__version__}",
            compression=None,
        ) as ws:
            await self._serve(ws, proto)

    async def _handshake(self, ws: ClientConnection, proto: Protocol) -> None:
        for frame in proto.begin(self._offer()):
            await ws.send(frame)
        timeout = self._snapshot.config.gateway.open_timeout
        while not proto.ready:
            raw = await asyncio.wait_for(ws.recv(), timeout)
            for frame in proto.on_handshake(raw):
                await ws.send(frame)

    async def _serve(self, ws: ClientConnection, proto: Protocol) -> None:
        assert self._registered_event is not None
        self.websocket = ws
        self.connected = True
        self._proto = proto
        heartbeat: asyncio.Task | None = None
        try:
            await self._handshake(ws, proto)
            self._served = True
            self.registrations += 1
            self._backoff.reset()
            offer = self._offer()
            self.log.info("registered with %s as %s (%d commands, %d message types)",
                          _public_url(self._snapshot.config), self.node_id, len(offer.commands),
                          len(offer.message_types))
            for note in proto.take_notes():
                if note not in self._told:
                    self._told.add(note)
                    self.log.info("%s", note)
            await self._flush_outbox(ws)
            self._registered_event.set()
            if proto.heartbeat_interval is not None:
                heartbeat = asyncio.create_task(self._heartbeat_loop(ws), name="gateway-heartbeat")
            watchdog = proto.watchdog_timeout
            if watchdog is None:
                async for frame in ws:
                    await self._on_frame(frame)
            else:
                await self._receive_with_watchdog(ws, proto)
            who = "node" if self._draining or self._reconnect else "gateway"
            self.log.info("%s closed the connection (code %s%s)", who, ws.close_code,
                          f", {ws.close_reason}" if ws.close_reason else "")
        finally:
            self._ready = False
            self.connected = False
            self.websocket = None
            self._proto = None
            self._registered_event.clear()
            if heartbeat is not None:
                heartbeat.cancel()
                try:
                    await heartbeat
                except (asyncio.CancelledError, ConnectionClosed):
                    pass

    async def _receive_with_watchdog(self, ws: ClientConnection, proto: Protocol) -> None:
        """Read frames; silence longer than the protocol's watchdog means a dead connection."""
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), proto.watchdog_timeout)
            except TimeoutError:
                self.log.warning("no word from gateway %s for %.1fs: closing a dead connection",
                                 _public_url(self._snapshot.config), proto.watchdog_timeout)
                await ws.close(4000, "tick timeout")
                raise ConnectionClosed(None, None) from None
            except ConnectionClosed:
                if ws.close_code in (1000, 1001) or self._draining or self._reconnect:
                    return
                raise
            await self._on_frame(frame)

    async def _request_reconnect(self) -> None:
        self._reconnect = True
        ws = self.websocket
        if ws is not None:
            await ws.close(1000, "node config changed")

    async def _heartbeat_loop(self, ws: ClientConnection) -> None:
        assert self._heartbeat_wakeup is not None
        wakeup = self._heartbeat_wakeup
        while True:
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), self._snapshot.config.heartbeat.interval)
            except TimeoutError:
                pass
            await self._send_heartbeat(ws)

    async def _send_heartbeat(self, ws: ClientConnection) -> None:
        proto = self._proto
        if proto is None:
            return
        if self._draining:
            status = "draining"
        elif self._in_flight >= self._snapshot.config.limits.max_concurrency:
            status = "busy"
        else:
            status = "active"
        frame = proto.heartbeat(self.node_id, status, self._in_flight)
        if frame is not None:
            await ws.send(frame)

    # Sending

    async def _flush_outbox(self, ws: ClientConnection) -> None:
        outbox = self._outbox
        flushed = len(outbox)
        while outbox:
            key, frame = outbox.peek()
            await ws.send(frame)
            outbox.pop()
            if key is not None:
                self._answers.mark_sent(key)
        self._ready = True
        if flushed:
            self.log.info("delivered %d answer(s) kept while disconnected", flushed)

    async def _send_answer(self, key: str | None, frame: str | None) -> None:
        """Send a final answer now, or keep it for the next registration."""
        if frame is None:
            return
        ws = self.websocket
        if self._ready and ws is not None:
            try:
                await ws.send(frame)
                if key is not None:
                    self._answers.mark_sent(key)
                return
            except ConnectionClosed:
                pass
        self._outbox.append(key, frame)

    async def _send_live(self, frame: str | None) -> None:
        """Send a frame that is only worth anything now (acks, updates)."""
        ws = self.websocket
        if frame is not None and self._ready and ws is not None:
            try:
                await ws.send(frame)
            except ConnectionClosed:
                pass

    async def _send_error(self, code: Code | str, message: str, request_id: str | None) -> None:
        proto = self._proto
        frame = proto.error_frame(code, message, request_id) if proto is not None else None
        if frame is None:
            self.log.warning("%s: %s", code, message)
        else:
            await self._send_answer(None, frame)

    # Receiving

    async def _on_frame(self, frame: str | bytes) -> None:
        proto = self._proto
        assert proto is not None
        limit = self._max_message_size
        size = len(frame)
        if size > limit or (size * 4 > limit and isinstance(frame, str)
                            and len(frame.encode()) > limit):
            rid = proto.sniff_request_id(frame)
            self.log.warning("frame of %d bytes is over gateway.max_message_size (%d)", size, limit)
            await self._send_error(
                Code.TOO_LARGE, f"frame of {size} bytes is over the node's limit of {limit} bytes",
                rid)
            return
        try:
            msg = proto.decode(frame)
        except ProtocolError as exc:
            self.log.warning("bad frame from gateway: %s", exc.message)
            await self._send_error(exc.code, exc.message, exc.request_id)
            return
        if isinstance(msg, Control):
            await self._on_control(msg)
        else:
            await self._on_request(msg)

    async def _on_control(self, msg: Control) -> None:
        if msg.kind == "cancel":
            call = self._by_request_id.get(msg.request_id) if msg.request_id else None
            if call is not None and call.task is not None:
                self.log.debug("cancel for %s", msg.request_id)
                call.task.cancel()
        elif msg.kind == "error":
            self.log.warning("gateway reported an error: %s", msg.note or msg.raw.get("error"))
        elif msg.kind == "warning":
            self.log.warning("%s", msg.note)
        elif msg.kind == "info":
            self.log.info("%s", msg.note)
        elif self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("%s from gateway: %s", msg.kind, msg.raw.get("event") or msg.raw.get("type"))

    async def _on_request(self, request: Request) -> None:
        proto = self._proto
        assert proto is not None
        key = request.dedup_key
        if key is not None:
            call = self._running.get(key)
            if call is not None:
                if request.request_id == call.request.request_id:
                    await self._send_live(proto.ack(request, "already running"))
                else:  # the same work under another id: it gets the same answer
                    call.followers.append(request)
                    if request.request_id is not None:
                        self._by_request_id[request.request_id] = call
                return
            previous = self._answers.get(key)
            if previous is not None:
                first_id, answer, frame, sent = previous
                if request.request_id != first_id:
                    await self._deliver(request, answer)
                elif sent:
                    await self._send_answer(key, frame)
                else:
                    await self._send_live(proto.ack(request, "already answered"))
                return
        if self._draining:
            await self._finish(request, Answer.failure(
                Code.UNAVAILABLE, "the node is shutting down and takes no new work"))
            return
        router = self._router or self._build_router(self._snapshot)
        route = router.lookup(request)
        if not isinstance(route, Route):
            code, message = route
            if code == Code.UNKNOWN_TYPE:
                await self._send_error(code, message, request.request_id)
            else:
                await self._finish(request, Answer.failure(code, message))
            return
        if len(self._running) >= self._max_pending:
            await self._finish(request, Answer.failure(
                Code.BUSY, f"the node has {len(self._running)} requests pending "
                           "(limits.max_pending); try again later"))
            return
        await self._send_live(proto.ack(request, "accepted"))
        task = asyncio.create_task(self._execute(request, route))
        if key is not None:
            call = _Call(request, task)
            self._running[key] = call
            if request.request_id is not None:
                self._by_request_id[request.request_id] = call
        else:
            self._anonymous.add(task)
            task.add_done_callback(self._anonymous.discard)

    def _context(self, request: Request, route: Route) -> HandlerContext:
        cfg = self._snapshot.config
        ctx: HandlerContext

        async def send_update(kind: str, data: Any) -> None:
            proto = self._proto
            if proto is not None and self._ready:
                for frame in proto.updates(request, ctx.job_id, kind, data):
                    await self._send_live(frame)

        ctx = HandlerContext(
            request_id=request.request_id, name=request.name, kind=request.kind,
            node_id=cfg.node.id, user_id=cfg.node.user_id, config=cfg, log=route.log,
            send_update=send_update, backend=self._get_backend)
        return ctx

    async def _execute(self, request: Request, route: Route) -> None:
        # Only handlers that take a context (or stream) get one: most calls skip the cost.
        ctx = self._context(request, route) if route.wants_context else None
        answer: Answer
        try:
            kwargs = route.bind(request)
            answer = await self._call(request, route, kwargs, ctx)
        except HandlerError as exc:
            answer = Answer.failure(exc.code, exc.message, exc.details)
        except asyncio.CancelledError:
            answer = Answer.failure(Code.CANCELLED, f"{request.name} was cancelled")
        except Exception as exc:  # a handler's bug is an answer, not a crash
            self.log.warning("handler %s for %s failed: %s: %s", route.target, request.name,
                             type(exc).__name__, exc)
            self.log.debug("handler traceback", exc_info=True)
            answer = Answer.failure(Code.HANDLER_ERROR, f"{type(exc).__name__}: {exc}")
        if answer.job_id is None and ctx is not None:
            answer.job_id = ctx.job_id
        key = request.dedup_key
        call = self._running.pop(key, None) if key is not None else None
        followers = call.followers if call is not None else ()
        if call is not None:
            by_id = self._by_request_id
            by_id.pop(call.request.request_id, None)
            for r in followers:
                by_id.pop(r.request_id, None)
        await self._finish(request, answer)
        for follower in followers:
            await self._deliver(follower, answer)

    async def _call(self, request: Request, route: Route, kwargs: dict[str, Any],
                    ctx: HandlerContext | None) -> Answer:
        route_limit = None
        if route.concurrency:
            key = (route.name, route.concurrency)
            route_limit = self._route_limits.get(key)
            if route_limit is None:
                route_limit = self._route_limits[key] = asyncio.Semaphore(route.concurrency)
            await route_limit.acquire()
        global_limit = self._global_limit
        try:
            await global_limit.acquire()
        except BaseException:
            if route_limit is not None:
                route_limit.release()
            raise
        self._in_flight += 1
        # A timer that cancels the task: cheaper than asyncio.timeout on every call.
        timer = None
        expired = False
        if route.timeout is not None:
            task = asyncio.current_task()

            def expire() -> None:
                nonlocal expired
                expired = True
                task.cancel()

            timer = asyncio.get_running_loop().call_later(route.timeout, expire)
        try:
            result = await route.call(request, kwargs, ctx)
        except asyncio.CancelledError:
            if not expired:
                raise
            task.uncancel()
            return Answer.failure(Code.TIMEOUT, f"{request.name} timed out after {route.timeout:g}s")
        finally:
            if timer is not None:
                timer.cancel()
            self._in_flight -= 1
            global_limit.release()
            if route_limit is not None:
                route_limit.release()
        return Answer(ok=True, result=result)

    def _encode(self, request: Request, answer: Answer) -> str | None:
        """The answer's frame, within the size the gateway accepts."""
        proto = self._proto or self._new_protocol()
        try:
            frame = proto.answer(request, answer)
        except (TypeError, ValueError) as exc:
            frame = proto.answer(request, Answer.failure(
                Code.HANDLER_ERROR, f"result is not JSON: {exc}"))
        limit = self._snapshot.config.gateway.max_message_size
        if proto.max_outgoing is not None:
            limit = min(limit, proto.max_outgoing)
        if len(frame) > limit:
            frame = proto.answer(request, Answer.failure(
                Code.TOO_LARGE, f"the answer of {len(frame)} bytes is over the "
                                f"{limit} bytes the gateway accepts"))
        return frame

    async def _deliver(self, request: Request, answer: Answer) -> None:
        """Answer a repeat of a request (another id, same work) without recording it."""
        await self._send_answer(None, self._encode(request, answer))

    async def _finish(self, request: Request, answer: Answer) -> None:
        key = request.dedup_key
        if request.request_id is None:
            if request.kind == "message" and not answer.ok:
                self.log.warning("%s (%s): %s", request.name, answer.code, answer.error)
            elif not answer.ok:
                await self._send_error(answer.code, answer.error, None)
            return
        frame = self._encode(request, answer)
        if key is not None:
            # The answer itself is kept only where a repeat may come under another id
            # (an idempotency key); a repeat of the same id just gets the frame again.
            self._answers.record(key, request.request_id,
                                 answer if key != request.request_id else None, frame)
        await self._send_answer(key, frame)

    # Backend

    def _get_backend(self) -> Backend:
        """The stores and engine, built on first use from the current config."""
        if self._backend is None:
            from .backend import Backend

            self._backend = Backend(self._snapshot.config)
            self._backend.start_watching()
        return self._backend

    async def _retire_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    # Routing

    def _build_router(self, snapshot: Snapshot) -> Router:
        self._router_handlers = dict(self._handlers)
        return Router.from_table(snapshot.routes, self._handlers)

    def _offer(self) -> Offer:
        if self._router is None or self._router_handlers != self._handlers:
            self._router = self._build_router(self._snapshot)
        commands, types = self._router.offer()
        cfg = self._snapshot.config
        metadata = {"user_id": cfg.node.user_id, "version": __version__,
                    "hostname": socket.gethostname(), **cfg.node.metadata}
        return Offer(cfg.node.id, tuple(commands), tuple(types), metadata,
                     "workflow_request" in self._router.messages)

    # Shutdown

    async def _drain(self) -> None:
        assert self._heartbeat_wakeup is not None
        cfg = self._snapshot.config
        grace = cfg.shutdown.grace
        self._draining = True
        self.log.info("shutting down: %d calls running, waiting up to %gs", len(self._running), grace)
        ws = self.websocket
        if ws is not None and self._ready:
            try:
                await self._send_heartbeat(ws)
            except ConnectionClosed:
                pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        running = [c.task for c in self._running.values() if c.task] + list(self._anonymous)
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                self.log.warning("cancelled %d calls still running after %gs", len(pending), grace)
                await asyncio.wait(pending)
        # Deliver what is still in the outbox, if a connection comes back in time.
        if self._outbox and not self._ready:
            assert self._registered_event is not None
            try:
                await asyncio.wait_for(self._registered_event.wait(),
                                       max(0.0, deadline - loop.time()))
            except TimeoutError:
                pass
        if self._outbox:
            self.log.warning("%d answers could not be delivered before shutdown", len(self._outbox))
        ws = self.websocket
        if ws is not None:
            await ws.close(1001, "node shutting down")
        await self._retire_backend()
        self.log.info("stopped")


def _config_from_args(gateway_url, node_id, auth_token, user_id, heartbeat_interval) -> Config:
    gateway: dict[str, Any] = {}
    node: dict[str, Any] = {}
    url = _env_default(gateway_url, "GATEWAY_URL")
    if url:
        gateway["url"] = url
    token = _env_default(auth_token, "GATEWAY_AUTH_TOKEN")
    if token:
        gateway["auth"] = {"token": token}
    nid = _env_default(node_id, "GATEWAY_NODE_ID")
    if nid:
        node["id"] = nid
    uid = _env_default(user_id, "GATEWAY_USER_ID")
    if uid:
        node["user_id"] = str(uid)
    overrides: dict[str, Any] = {"gateway": gateway, "node": node}
    if heartbeat_interval is not None:
        overrides["heartbeat"] = {"interval": heartbeat_interval,
                                  "timeout": max(60.0, 2 * float(heartbeat_interval))}
    return default_config(**overrides)


def _connection_settings(cfg: Config) -> tuple:
    gw = cfg.gateway
    return (gw.url, gw.protocol, gw.token(), gw.auth.query_param, gw.tls.ca_file,
            gw.tls.cert_file, gw.tls.key_file, gw.allow_insecure, gw.max_message_size,
            gw.openclaw, cfg.heartbeat.timeout, cfg.node.id)


def _identity_path(cfg: Config):
    from pathlib import Path

    path = cfg.gateway.openclaw.identity_path
    return Path(path) if path else Path(cfg.storage.path).expanduser() / "openclaw" / "device.json"


def _public_url(cfg: Config) -> str:
    """The gateway URL as configured: safe to log (the token never goes in it)."""
    return cfg.gateway.url


def _ssl_context(cfg: Config) -> ssl.SSLContext | None:
    if not cfg.gateway.url.startswith("wss://"):
        return None
    tls = cfg.gateway.tls
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    return ctx


def _brief(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."
