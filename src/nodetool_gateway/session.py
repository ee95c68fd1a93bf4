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
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import __version__
from .backend import backend_settings
from .config import Config, Snapshot, default_config, snapshot_from_config
from .delivery import AnswerLog, Outbox
from .errors import AuthRefused, Code, FatalError, HandlerError
from .handlers.context import HandlerContext
from .protocols import Answer, Control, ProtocolError, Request, codec_for
from .retry import Backoff
from .router import Route, Router

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["GatewayClient"]

_UNSET: Any = object()


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
        self._codec = codec_for(cfg.gateway.protocol)
        self._backoff = Backoff.from_config(cfg.retry)
        self._outbox = Outbox(cfg.limits.outbox_max_messages)
        self._answers = AnswerLog(cfg.limits.remember_answers)
        self._running: dict[str, asyncio.Task] = {}
        self._anonymous: set[asyncio.Task] = set()
        self._route_limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._global_limit = asyncio.Semaphore(cfg.limits.max_concurrency)
        self._global_size = cfg.limits.max_concurrency
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
            for task in [*self._running.values(), *self._anonymous]:
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
        codec = codec_for(snapshot.config.gateway.protocol)
        new_router = self._build_router(snapshot)
        self._snapshot = snapshot
        self._router = new_router
        cfg = snapshot.config
        self._outbox.max_messages = cfg.limits.outbox_max_messages
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
        if _connection_settings(old.config) != _connection_settings(cfg):
            self.log.info("gateway connection settings changed: reconnecting to %s",
                          _public_url(cfg))
            self._codec = codec
            await self._request_reconnect()
        elif self._offer() != old_offer or _identity(old.config) != _identity(cfg):
            if self._ready:
                try:
                    await self._send_registration()
                    self.log.info("re-registered: the node now offers %d commands, %d message types",
                                  *map(len, self._offer()[:2]))
                except ConnectionClosed:
                    pass  # the next connection registers with the new offer

    # The seed's API

    async def _send_registration(self) -> None:
        """Send ``node_registration`` with every routed command and message type."""
        commands, message_types, workflow_execution = self._offer()
        cfg = self._snapshot.config
        metadata = {
            "user_id": cfg.node.user_id,
            "version": __version__,
            "hostname": socket.gethostname(),
            **cfg.node.metadata,
        }
        frame = self._codec.registration(cfg.node.id, commands, message_types, metadata,
                                         workflow_execution)
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
            try:
                await self._connect_once(cfg)
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

    async def _connect_once(self, cfg: Config) -> None:
        gw = cfg.gateway
        token = gw.token()
        headers = {"Authorization": f"Bearer {token}"} if token else None
        half = cfg.heartbeat.timeout / 2
        # websockets' own max_size is a hard ceiling; frames between the configured
        # limit and it are answered TOO_LARGE and the session goes on.
        async with connect(
            _connect_url(cfg, token),
            additional_headers=headers,
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
            await self._serve(ws)

    async def _serve(self, ws: ClientConnection) -> None:
        assert self._registered_event is not None
        self.websocket = ws
        self.connected = True
        self._served = True
        heartbeat: asyncio.Task | None = None
        try:
            await self._send_registration()
            self.registrations += 1
            self._backoff.reset()
            commands, types, _ = self._offer()
            self.log.info("registered with %s as %s (%d commands, %d message types)",
                          _public_url(self._snapshot.config), self.node_id, len(commands), len(types))
            await self._flush_outbox(ws)
            self._registered_event.set()
            heartbeat = asyncio.create_task(self._heartbeat_loop(ws), name="gateway-heartbeat")
            async for frame in ws:
                await self._on_frame(frame)
            who = "node" if self._draining or self._reconnect else "gateway"
            self.log.info("%s closed the connection (code %s%s)", who, ws.close_code,
                          f", {ws.close_reason}" if ws.close_reason else "")
        finally:
            self._ready = False
            self.connected = False
            self.websocket = None
            self._registered_event.clear()
            if heartbeat is not None:
                heartbeat.cancel()
                try:
                    await heartbeat
                except (asyncio.CancelledError, ConnectionClosed):
                    pass

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
        if self._draining:
            status = "draining"
        elif self._in_flight >= self._snapshot.config.limits.max_concurrency:
            status = "busy"
        else:
            status = "active"
        await ws.send(self._codec.heartbeat(self.node_id, status, self._in_flight))

    # Sending

    async def _flush_outbox(self, ws: ClientConnection) -> None:
        outbox = self._outbox
        flushed = len(outbox)
        while outbox:
            request_id, frame = outbox.peek()
            await ws.send(frame)
            outbox.pop()
            if request_id is not None:
                self._answers.mark_sent(request_id)
        self._ready = True
        if flushed:
            self.log.info("delivered %d answer(s) kept while disconnected", flushed)

    async def _send_answer(self, request_id: str | None, frame: str) -> None:
        """Send a final answer now, or keep it for the next registration."""
        ws = self.websocket
        if self._ready and ws is not None:
            try:
                await ws.send(frame)
                if request_id is not None:
                    self._answers.mark_sent(request_id)
                return
            except ConnectionClosed:
                pass
        self._outbox.append(request_id, frame)

    async def _send_live(self, frame: str) -> None:
        """Send a frame that is only worth anything now (acks, updates)."""
        ws = self.websocket
        if self._ready and ws is not None:
            try:
                await ws.send(frame)
            except ConnectionClosed:
                pass

    # Receiving

    async def _on_frame(self, frame: str | bytes) -> None:
        limit = self._snapshot.config.gateway.max_message_size
        size = len(frame)
        if size > limit or (size * 4 > limit and isinstance(frame, str)
                            and len(frame.encode()) > limit):
            rid = self._codec.sniff_request_id(frame)
            self.log.warning("frame of %d bytes is over gateway.max_message_size (%d)", size, limit)
            await self._send_answer(rid, self._codec.error_frame(
                Code.TOO_LARGE, f"frame of {size} bytes is over the node's limit of {limit} bytes",
                rid))
            return
        try:
            msg = self._codec.decode(frame)
        except ProtocolError as exc:
            self.log.warning("bad frame from gateway: %s", exc.message)
            await self._send_answer(exc.request_id, self._codec.error_frame(
                exc.code, exc.message, exc.request_id))
            return
        if isinstance(msg, Control):
            await self._on_control(msg)
        else:
            await self._on_request(msg)

    async def _on_control(self, msg: Control) -> None:
        if msg.kind == "cancel":
            task = self._running.get(msg.request_id) if msg.request_id else None
            if task is not None:
                self.log.debug("cancel_request for %s", msg.request_id)
                task.cancel()
        elif msg.kind == "error":
            self.log.warning("gateway reported an error: %s", msg.raw.get("error"))
        else:
            self.log.debug("%s from gateway", msg.kind)

    async def _on_request(self, request: Request) -> None:
        rid = request.request_id
        acked = request.frame_type in ("command_request", "workflow_request")
        if rid is not None:
            if rid in self._running:
                if acked:
                    await self._send_live(self._codec.ack(rid, "already running"))
                return
            previous = self._answers.get(rid)
            if previous is not None:
                frame, sent = previous
                if sent:
                    await self._send_answer(rid, frame)
                elif acked:
                    await self._send_live(self._codec.ack(rid, "already answered"))
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
                await self._send_answer(rid, self._codec.error_frame(code, message, rid))
            else:
                await self._finish(request, Answer.failure(code, message))
            return
        if len(self._running) >= self._snapshot.config.limits.max_pending:
            await self._finish(request, Answer.failure(
                Code.BUSY, f"the node has {len(self._running)} requests pending "
                           "(limits.max_pending); try again later"))
            return
        if acked:
            await self._send_live(self._codec.ack(rid, "accepted"))
        task = asyncio.create_task(self._execute(request, route))
        if rid is not None:
            self._running[rid] = task
        else:
            self._anonymous.add(task)
            task.add_done_callback(self._anonymous.discard)

    async def _execute(self, request: Request, route: Route) -> None:
        cfg = self._snapshot.config
        ctx = HandlerContext(
            request_id=request.request_id, name=request.name, kind=request.kind,
            node_id=cfg.node.id, user_id=cfg.node.user_id, config=cfg,
            log=logging.getLogger(f"nodetool.gateway.handler.{request.name}"),
            send_update=lambda kind, data: self._send_live(
                self._codec.update(request, ctx.job_id, kind, data)),
            backend=self._get_backend,
        )
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
        if answer.job_id is None:
            answer.job_id = ctx.job_id
        if request.request_id is not None:
            self._running.pop(request.request_id, None)
        await self._finish(request, answer)

    async def _call(self, request: Request, route: Route, kwargs: dict[str, Any],
                    ctx: HandlerContext) -> Answer:
        limits = [self._global_limit]
        if route.concurrency:
            key = (route.name, route.concurrency)
            sem = self._route_limits.get(key)
            if sem is None:
                sem = self._route_limits[key] = asyncio.Semaphore(route.concurrency)
            limits.append(sem)
        for sem in limits:
            await sem.acquire()
        self._in_flight += 1
        try:
            if route.timeout is None:
                result = await route.call(request, kwargs, ctx)
            else:
                try:
                    async with asyncio.timeout(route.timeout) as cm:
                        result = await route.call(request, kwargs, ctx)
                except TimeoutError:
                    if not cm.expired():
                        raise
                    return Answer.failure(
                        Code.TIMEOUT, f"{request.name} timed out after {route.timeout:g}s")
        finally:
            self._in_flight -= 1
            for sem in limits:
                sem.release()
        return Answer(ok=True, result=result)

    async def _finish(self, request: Request, answer: Answer) -> None:
        rid = request.request_id
        if rid is None:
            if request.kind == "message" and not answer.ok:
                self.log.warning("%s (%s): %s", request.name, answer.code, answer.error)
            elif not answer.ok:
                await self._send_answer(None, self._codec.error_frame(answer.code, answer.error))
            return
        try:
            frame = self._codec.answer(request, answer)
        except (TypeError, ValueError) as exc:
            frame = self._codec.answer(request, Answer.failure(
                Code.HANDLER_ERROR, f"result is not JSON: {exc}"))
        limit = self._snapshot.config.gateway.max_message_size
        if len(frame) > limit:
            frame = self._codec.answer(request, Answer.failure(
                Code.TOO_LARGE, f"the answer of {len(frame)} bytes is over "
                                f"gateway.max_message_size ({limit} bytes)"))
        self._answers.record(rid, frame, sent=False)
        await self._send_answer(rid, frame)

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

    def _offer(self) -> tuple[list[str], list[str], bool]:
        if self._router is None or self._router_handlers != self._handlers:
            self._router = self._build_router(self._snapshot)
        commands, types = self._router.offer()
        return commands, types, "workflow_request" in self._router.messages

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
        running = list(self._running.values()) + list(self._anonymous)
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
            cfg.heartbeat.timeout, cfg.node.id)


def _identity(cfg: Config) -> tuple:
    return (cfg.node.user_id, cfg.node.metadata)


def _public_url(cfg: Config) -> str:
    """The gateway URL as configured: safe to log (the token never goes in it)."""
    return cfg.gateway.url


def _connect_url(cfg: Config, token: str | None) -> str:
    param = cfg.gateway.auth.query_param
    if not (param and token):
        return cfg.gateway.url
    parts = urlsplit(cfg.gateway.url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(param, token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


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
