"""The connection: one node's socket to its gateway, across reconnects.

It connects (TLS, credentials), runs the protocol's handshake, heartbeats and
watches for a dead peer (silent, or no longer reading what the node writes),
reads frames, decodes them and hands each request and cancel to the dispatcher
in read order. It is also the dispatcher's way out (its ``Replies`` port): live
frames go out only while registered, answers made while down wait in the outbox
for the next registration. Between connections it backs off and retries until
the node stops it. It knows nothing of routes, handlers or the backend.
"""

from __future__ import annotations

import asyncio
import http
import logging
import struct
from typing import Any, Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from . import __version__
from .config import Config
from .delivery import Outbox
from .errors import AuthRefused, Code, GaveUp
from .logs import printable
from .protocols import (Answer, Control, HandshakeRejected, Offer, Protocol, ProtocolError,
                        Request, protocol_for)
from .retry import Backoff, parse_retry_after

__all__ = ["GatewayConnection", "connection_settings"]


class GatewayConnection:
    """The socket side of a node: ``await run(stop)`` connects until ``stop`` is set."""

    def __init__(self, config: Config, *, offer: Callable[[], Offer],
                 status: Callable[[], tuple[str, int]], log: logging.Logger):
        self.config = config  # the node's current config (``configure`` swaps it)
        self.websocket: ClientConnection | Any | None = None  # the open socket, if any
        self.connected = False  # a socket is open (the handshake may still be running)
        self.registrations = 0  # handshakes completed so far
        self.identity: Any = None  # OpenClaw device identity, loaded on first use
        self.registered = asyncio.Event()  # registered and the outbox flushed
        self.proto: Protocol | None = None  # the protocol object of the open socket
        # Where decoded frames go: the dispatcher's entry points (the node wires them).
        self.on_request: Callable[[Request], Awaitable[None]] | None = None
        self.on_cancel: Callable[[str], None] | None = None
        self.on_delivered: Callable[[str], None] = lambda key: None  # an answer went out
        # A refusal of the node's credentials: True when the node went back to a config
        # that worked (a reload pointed it at the wrong gateway), else it is fatal.
        self.on_refused: Callable[[AuthRefused], Awaitable[bool]] | None = None
        self.auth_hint = "check gateway.auth in the config"  # the node sets where to look
        self.registered_config: Config | None = None  # the config of the last registration
        # Connection events, for metrics and systemd (the node's observer sets it).
        self.observe: Callable[..., None] = lambda event, delay=None: None
        self._offer = offer  # what the node offers, asked at every registration
        self._status = status  # (status word, calls in flight) for heartbeats
        self._log = log
        self._backoff = Backoff.from_config(config.retry)
        self._outbox = Outbox(config.limits.outbox_max_messages)
        self._max_message_size = config.gateway.max_message_size  # read on every frame
        self._ready = False  # registered and flushed: answers may go straight out
        self._closing = False  # the node closed the socket on purpose (drain)
        self._reconnect = False  # the node asked for a fresh connection (config change)
        self._served = False  # this attempt got past the handshake
        self._heartbeat_wakeup = asyncio.Event()  # the interval changed: beat now
        self._told: set[str] = set()  # the protocol's notes, each logged once
        self._trimmed: set[str] = set()  # commands whose oversize updates were logged
        self._written = 0  # characters handed to the socket (the write watchdog reads it)
        self._stalled: str | None = None  # why the keepalive dropped the connection

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def backlog(self) -> int:
        """Answers waiting in the outbox."""
        return len(self._outbox)

    def configure(self, cfg: Config) -> None:
        """Take a new config's limits and timings (the node reconnects for the rest)."""
        interval_changed = cfg.heartbeat.interval != self.config.heartbeat.interval
        self.config = cfg
        self._outbox.max_messages = cfg.limits.outbox_max_messages
        self._max_message_size = cfg.gateway.max_message_size
        self._backoff = Backoff.from_config(cfg.retry)
        if interval_changed:
            self._heartbeat_wakeup.set()

    # Life

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve and reconnect until ``stop`` is set; raise :class:`FatalError`."""
        while True:
            cfg = self.config
            self._reconnect = self._served = False
            self._stalled = None
            retry_after: float | None = None
            refused: AuthRefused | None = None
            overloaded = False  # 503/429 (OpenClaw: UNAVAILABLE): a spread wait, same step
            asked_wait: float | None = None  # its Retry-After, in seconds
            status_line: str | None = None  # a refused upgrade, logged with the wait
            try:
                self.observe("attempt")
                await self._connect_once(cfg)
            except HandshakeRejected as exc:
                if exc.fatal:
                    refused = AuthRefused(f"the gateway at {cfg.gateway.public_url} refused the "
                                          f"node: {printable(exc.message)}")
                else:
                    self._log.warning("gateway %s: %s", cfg.gateway.public_url,
                                      printable(exc.message))
                    if exc.code == "UNAVAILABLE":  # overload in the handshake: as a 503
                        overloaded, asked_wait = True, exc.retry_after
                    else:
                        retry_after = exc.retry_after
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    refused = AuthRefused(
                        f"the gateway at {cfg.gateway.public_url} refused the node's credentials "
                        f"(HTTP {status}): {self.auth_hint}")
                else:
                    reason = _reason(exc.response)
                    status_line = f"gateway {cfg.gateway.public_url} answered HTTP {status}" + (
                        f" ({reason})" if reason else "")
                    if status in (429, 503):
                        overloaded = True
                        asked_wait = parse_retry_after(exc.response.headers.get("Retry-After"))
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                if self._stalled is not None:
                    self._log.warning("gateway %s %s; reconnecting", cfg.gateway.public_url,
                                      self._stalled)
                else:
                    what = "lost the connection to" if self._served else "cannot reach"
                    self._log.warning("%s gateway %s: %s", what, cfg.gateway.public_url,
                                      _brief(exc))
            if refused is not None and not (self.on_refused is not None
                                            and await self.on_refused(refused)):
                raise refused
            if stop.is_set():
                return
            if self._reconnect:
                self.observe("reconnecting", 0.0)
                continue
            # Every other wait, the first after a lost connection included, is a random
            # share of its step: a fleet that lost its gateway together comes back spread.
            if overloaded:
                delay = self._backoff.refused_delay(asked_wait)
            else:
                delay = self._backoff.next_delay()
            if delay is None:
                if status_line is not None:
                    self._log.warning("%s", status_line)
                raise GaveUp(
                    f"gave up on gateway {cfg.gateway.public_url} after {self._backoff.attempts} "
                    "attempts (retry.max_attempts)")
            if retry_after is not None:
                delay = retry_after  # the gateway said when to come back
            if status_line is not None:  # one line per refusal: why, and when again
                self._log.warning("%s; reconnecting in %.2fs (attempt %d)", status_line, delay,
                                  self._backoff.attempts)
            else:
                self._log.info("reconnecting in %.2fs (attempt %d)", delay,
                               self._backoff.attempts)
            self.observe("reconnecting", delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass

    async def reconnect(self) -> None:
        """Close the socket so the loop connects again with the current config."""
        self._reconnect = True
        if self.websocket is not None:
            await self.websocket.close(1000, "node config changed")

    async def close(self, code: int = 1001, reason: str = "node shutting down") -> None:
        self._closing = True
        if self.websocket is not None:
            await self.websocket.close(code, reason)

    async def reregister(self) -> bool:
        """Tell the gateway of a new offer; False when that takes a reconnect."""
        proto = self.proto or self.new_protocol()
        frame = proto.reregistration(self._offer())
        if frame is None:
            return False
        if self.websocket is not None:
            try:
                await self._send(self.websocket, frame)
            except ConnectionClosed:
                pass  # the next connection registers with the new offer
        return True

    def new_protocol(self) -> Protocol:
        cfg = self.config
        if cfg.gateway.protocol == "openclaw" and self.identity is None:
            from .identity import DeviceIdentity

            self.identity = DeviceIdentity.for_config(cfg)
        return protocol_for(cfg, identity=self.identity, version=__version__)

    async def _connect_once(self, cfg: Config) -> None:
        gw = cfg.gateway
        proto = self.new_protocol()
        half = cfg.heartbeat.timeout / 2
        # websockets' own max_size is a hard ceiling; frames between the configured
        # limit and it are answered TOO_LARGE and the session goes on.
        async with connect(
            proto.connect_url(gw.url),
            additional_headers=proto.connect_headers(),
            ssl=gw.ssl_context(),
            open_timeout=gw.open_timeout,
            ping_interval=None,  # the keepalive is _watch_peer's
            # A dead peer won't answer the close handshake either: don't wait long for it.
            close_timeout=min(10.0, half),
            max_size=gw.max_message_size * 4,
            user_agent_header=f"nodetool-gateway/{__version__}",
            compression=None,
        ) as ws:
            await self._serve(ws, proto)

    async def _serve(self, ws: ClientConnection, proto: Protocol) -> None:
        self.websocket, self.connected, self.proto = ws, True, proto
        self.observe("opened")
        heartbeat: asyncio.Task | None = None
        # From the first frame on: the handshake and the outbox flush can meet a stalled peer too.
        writes = asyncio.create_task(self._watch_peer(ws), name="gateway-keepalive")
        try:
            await self._handshake(ws, proto)
            self._served = True
            self.registered_config = self.config
            self.registrations += 1
            self._backoff.reset()
            offer = self._offer()
            self._log.info("registered with %s as %s (%d commands, %d message types)",
                           self.config.gateway.public_url, offer.node_id, len(offer.commands),
                           len(offer.message_types))
            for note in proto.take_notes():
                if note not in self._told:
                    self._told.add(note)
                    self._log.info("%s", note)
            await self._flush_outbox(ws)
            self.registered.set()
            self.observe("registered")
            if proto.heartbeat_interval is not None:
                heartbeat = asyncio.create_task(self._heartbeat_loop(), name="gateway-heartbeat")
            await self._receive(ws, proto)
            who = "node" if self._closing or self._reconnect else "gateway"
            self._log.info("%s closed the connection (code %s%s)", who, ws.close_code,
                           f", {printable(ws.close_reason)}" if ws.close_reason else "")
        finally:
            self._ready = self.connected = False
            self.websocket = self.proto = None
            self.registered.clear()
            for task in (heartbeat, writes):
                if task is not None:
                    task.cancel()
                    try:
                        await task
                    except (asyncio.CancelledError, ConnectionClosed):
                        pass

    async def _handshake(self, ws: ClientConnection, proto: Protocol) -> None:
        for frame in proto.begin(self._offer()):
            await self._send(ws, frame)
        timeout = self.config.gateway.open_timeout
        while not proto.ready:
            raw = await asyncio.wait_for(ws.recv(), timeout)
            for frame in proto.on_handshake(raw):
                await self._send(ws, frame)

    # Receiving

    async def _receive(self, ws: ClientConnection, proto: Protocol) -> None:
        """Read frames; with a watchdog, silence longer than it means a dead connection."""
        watchdog = proto.watchdog_timeout
        if watchdog is None:
            async for frame in ws:
                await self.on_frame(frame)
            return
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), watchdog)
            except TimeoutError:
                self._log.warning("no word from gateway %s for %.1fs: closing a dead connection",
                                  self.config.gateway.public_url, watchdog)
                await ws.close(4000, "tick timeout")
                raise ConnectionClosed(None, None) from None
            except ConnectionClosed:
                if ws.close_code in (1000, 1001) or self._closing or self._reconnect:
                    return
                raise
            await self.on_frame(frame)

    async def on_frame(self, frame: str | bytes) -> None:
        """Check, decode and pass on one frame."""
        proto = self.proto
        assert proto is not None
        limit = self._max_message_size
        size = len(frame)
        if size > limit or (size * 4 > limit and isinstance(frame, str)
                            and len(frame.encode()) > limit):
            self._log.warning("frame of %d bytes is over gateway.max_message_size (%d)",
                              size, limit)
            await self.error(Code.TOO_LARGE, f"frame of {size} bytes is over the node's limit "
                                             f"of {limit} bytes", proto.sniff_request_id(frame))
            return
        try:
            msg = proto.decode(frame)
        except ProtocolError as exc:
            self._log.warning("bad frame from gateway: %s", exc.message)
            await self.error(exc.code, exc.message, exc.request_id)
            return
        if type(msg) is Request:
            await self.on_request(msg)
        else:
            self._on_control(msg)

    def _on_control(self, msg: Control) -> None:
        kind = msg.kind
        if kind == "cancel":
            if msg.request_id:
                self.on_cancel(msg.request_id)
        elif kind == "error":
            self._log.warning("gateway reported an error: %s",
                              printable(msg.note or msg.raw.get("error")))
        elif kind == "warning":
            self._log.warning("%s", printable(msg.note))
        elif kind == "info":
            self._log.info("%s", printable(msg.note))
        elif self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("%s from gateway: %s", kind, msg.raw.get("event") or msg.raw.get("type"))

    # Heartbeat

    async def _heartbeat_loop(self) -> None:
        wakeup = self._heartbeat_wakeup
        while True:
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), self.config.heartbeat.interval)
            except TimeoutError:
                pass
            await self.beat()

    async def beat(self) -> None:
        """Send one heartbeat with the node's status, if registered."""
        proto, ws = self.proto, self.websocket
        if proto is None or ws is None:
            return
        status, in_flight = self._status()
        frame = proto.heartbeat(self.config.node.id, status, in_flight)
        if frame is not None:
            try:
                await self._send(ws, frame)
            except ConnectionClosed:
                pass

    # Sending

    async def _send(self, ws: ClientConnection, frame: str) -> None:
        """Send one frame; raise ConnectionClosed unless it was handed to the socket.

        A send waiting for room in a full buffer returns without an error when the
        transport is aborted (websockets resolves its drain waiters): the frame
        never went out, so the state says whether it did.
        """
        self._written += len(frame)
        await ws.send(frame)
        if ws.state is State.CLOSED:
            raise ConnectionClosed(None, None)

    async def _watch_peer(self, ws: ClientConnection) -> None:
        """The keepalive: abort the connection when the gateway shows no sign of life
        for heartbeat.timeout.

        Signs of life: a pong, or queued bytes leaving (what waits in the transport's
        buffer and the kernel's send queue is smaller than it was plus what was
        written since; written is counted in characters, never more than the bytes,
        so a stalled peer never looks alive). A ping goes out every timeout/2 when
        nothing is queued; with a backlog the pong would wait behind it, so a gateway
        that reads slowly but steadily counts as alive, and one that stops reading
        is dropped a timeout later. (websockets' own keepalive times a ping from
        when it is queued, and waits for room in the buffer before even that.)
        """
        timeout = self.config.heartbeat.timeout
        interval = timeout / 2
        queued = _queued_bytes(ws.transport)
        loop = asyncio.get_running_loop()
        alive = last_ping = loop.time()
        pending, written = 0, self._written
        ping: asyncio.Task | None = None  # sends the ping; its result waits for the pong
        try:
            while True:
                await asyncio.sleep(min(timeout / 8, 1.0))
                now = loop.time()
                now_pending, now_written = queued(), self._written
                if pending and now_pending < pending + (now_written - written):
                    alive = now  # bytes that were waiting left: the gateway is reading
                pending, written = now_pending, now_written
                if ping is not None and ping.done():
                    pong = None if ping.cancelled() or ping.exception() else ping.result()
                    if pong is None:
                        ping = None
                    elif pong.done():
                        alive, ping = now, None
                if now - alive >= timeout and (ping is not None or now_pending):
                    what = "stopped reading" if now_pending else "did not answer pings"
                    self._stalled = f"{what} for {now - alive:.1f}s"
                    ws.transport.abort()  # close() would queue its frame behind the stuck ones
                    return
                if ping is None and not now_pending and now - last_ping >= interval:
                    last_ping = now
                    ping = asyncio.create_task(ws.ping())
        finally:
            if ping is not None:
                ping.cancel()

    # The dispatcher's Replies port

    async def _flush_outbox(self, ws: ClientConnection) -> None:
        outbox = self._outbox
        flushed = len(outbox)
        while outbox:
            key, frame = outbox.peek()
            await self._send(ws, frame)
            outbox.pop()
            if key is not None:
                self.on_delivered(key)
        self._ready = True
        if flushed:
            self._log.info("delivered %d answer(s) kept while disconnected", flushed)

    async def deliver(self, key: str | None, frame: str | None) -> None:
        """Send a final answer now, or keep it for the next registration."""
        if frame is None:
            return
        ws = self.websocket
        if self._ready and ws is not None:
            try:
                await self._send(ws, frame)
                if key is not None:
                    self.on_delivered(key)
                return
            except ConnectionClosed:
                pass
        self._outbox.append(key, frame)

    async def live(self, frame: str | None) -> None:
        """Send a frame that is only worth anything now (acks, updates)."""
        ws = self.websocket
        if frame is not None and self._ready and ws is not None:
            try:
                await self._send(ws, frame)
            except ConnectionClosed:
                pass

    async def ack(self, request: Request, message: str) -> None:
        # One per request: sent here rather than through live(), a layer less.
        if self._ready and request.acked:
            frame = self.proto.ack(request, message)
            if frame is not None:
                try:
                    await self._send(self.websocket, frame)
                except ConnectionClosed:
                    pass

    async def update(self, request: Request, job_id: str | None, kind: str, data: Any) -> None:
        proto = self.proto
        if proto is not None and self._ready:
            limit = self._max_message_size
            frames, trimmed = proto.updates_within(request, job_id, kind, data, limit)
            if trimmed:
                self._trim_note(request, kind, trimmed, proto.outgoing_limit(limit))
            for frame in frames:
                await self.live(frame)

    def _trim_note(self, request: Request, kind: str, size: int, limit: int) -> None:
        # Once per command at WARNING: a handler that streams big values does it every time.
        first = request.name not in self._trimmed
        if first:
            self._trimmed.add(request.name)
        self._log.log(logging.WARNING if first else logging.DEBUG,
                      "%s update for %s (%s): %d bytes of data, over the %d-byte frame limit "
                      "(gateway.max_message_size); sent with its largest values trimmed%s",
                      kind, request.name, request.request_id, size, limit,
                      " (further ones are logged at DEBUG)" if first else "")

    async def error(self, code: Code | str, message: str, request_id: str | None) -> None:
        proto = self.proto
        frame = proto.error_frame(code, message, request_id) if proto is not None else None
        if frame is None:
            self._log.warning("%s: %s", code, message)
        else:
            await self.deliver(None, frame)

    def encode(self, request: Request, answer: Answer) -> str:
        """The answer's frame, within the size the gateway accepts."""
        proto = self.proto or self.new_protocol()
        return proto.answer_within(request, answer, self._max_message_size)


def connection_settings(cfg: Config) -> tuple:
    """What a connection is made with: a change means reconnecting."""
    gw = cfg.gateway
    return (gw.url, gw.protocol, gw.token(), gw.auth.query_param, gw.tls.ca_file,
            gw.tls.cert_file, gw.tls.key_file, gw.allow_insecure, gw.max_message_size,
            gw.openclaw, cfg.heartbeat.timeout, cfg.node.id)


def _brief(exc: BaseException) -> str:
    return printable(str(exc) or type(exc).__name__, 200)


def _reason(response: Any) -> str:
    """Why the gateway refused the upgrade: the first line of its body (printable, at
    most 200 characters), else its reason phrase when not the standard one."""
    body = getattr(response, "body", None) or b""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body[:4096]).decode("utf-8", "replace")
    for line in str(body).splitlines():
        if line.strip():
            return printable(line.strip(), 200)
    phrase = (getattr(response, "reason_phrase", "") or "").strip()
    try:
        standard = http.HTTPStatus(response.status_code).phrase
    except ValueError:
        standard = ""
    return printable(phrase, 200) if phrase and phrase != standard else ""


def _queued_bytes(transport: Any) -> Callable[[], int]:
    """Bytes written and not yet taken by the peer: the transport's buffer plus, on
    Linux, the kernel's send queue (sent but unacknowledged included)."""
    buffer_size = transport.get_write_buffer_size
    sock = transport.get_extra_info("socket")
    try:
        import fcntl
        import termios

        fd = sock.fileno()
        fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")
    except (ImportError, AttributeError, OSError):
        return buffer_size

    def queued() -> int:
        try:
            kernel = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            kernel = 0
        return buffer_size() + kernel

    return queued
