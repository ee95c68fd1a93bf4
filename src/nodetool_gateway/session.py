"""The node: one ``GatewayClient`` serving a gateway, from start to drain.

It holds the config snapshot and applies a new one on reload, owns the backend
(stores and engine) and the routing table, and wires two parts together:

- the connection (``_connection.py``): socket, handshake, heartbeat, reconnects,
  and the way out for answers;
- the dispatcher (``_dispatch.py``): requests in flight, from route to answer.

A frame goes socket -> ``GatewayConnection.on_frame`` -> ``Dispatcher.on_request``
-> ``Route.call`` (the handler) -> ``Dispatcher._finish`` -> ``GatewayConnection.deliver``.
``GatewayClient`` keeps the seed's public names (``_handlers``, ``websocket``,
``connected``, ``log``, ``_send_registration``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Callable

from . import __version__
from ._connection import GatewayConnection, connection_settings
from ._dispatch import Dispatcher
from .backend import backend_settings
from .config import Config, Snapshot, default_config, snapshot_from_config
from .observability import Observer
from .protocols import Offer, check_protocol
from .router import Router

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["GatewayClient"]


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
        allow_insecure: bool = False,
        config: Config | None = None,
        snapshot: Snapshot | None = None,
    ):
        if snapshot is None:
            if config is None:
                config = _config_from_args(gateway_url, node_id, auth_token, user_id,
                                           heartbeat_interval, allow_insecure)
            snapshot = snapshot_from_config(config)
        check_protocol(snapshot.config.gateway.protocol)
        self.log = logging.getLogger("nodetool.gateway.client")
        # Seed-style handlers for message types, taking the whole message dict.
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._snapshot = snapshot  # the config in force
        self._router: Router | None = None  # built from the snapshot and _handlers
        self._router_handlers: dict[str, Callable] | None = None  # _handlers it was built with
        self._backend: Backend | None = None  # stores and engine, built on first use
        # The backend being built ahead in a thread, and the config it is built from.
        self._building: tuple[Config, concurrent.futures.Future] | None = None
        self._stop_event = asyncio.Event()
        self._connection = GatewayConnection(snapshot.config, offer=self._offer,
                                             status=self._status, log=self.log)
        self._dispatcher = Dispatcher(self._connection, snapshot.config, router=self._current_router,
                                      backend=self._get_backend, log=self.log)
        conn, disp = self._connection, self._dispatcher
        conn.on_request, conn.on_cancel = disp.on_request, disp.cancel
        conn.on_delivered = disp.answers.mark_sent
        conn.on_refused = self._refused
        conn.auth_hint = (f"check gateway.auth in {snapshot.source}" if snapshot.source else
                          "check the token (connect's --auth-token or GATEWAY_AUTH_TOKEN; "
                          "GatewayClient's auth_token)")
        self._fallback: Snapshot | None = None  # the config to go back to if a reload's is refused
        self.on_revert: Callable[[Snapshot], None] | None = None  # told when that happens
        # Metrics, /healthz and /readyz (observability.listen), and systemd's notify socket.
        self.observer = Observer(snapshot.config, conn, disp, backend=lambda: self._backend,
                                 log=self.log)
        conn.observe, disp.observe = self.observer.connection_event, self.observer.answered

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
        return self._dispatcher.in_flight

    @property
    def websocket(self) -> Any:
        """The open socket to the gateway, or None between connections."""
        return self._connection.websocket

    @websocket.setter
    def websocket(self, ws: Any) -> None:
        self._connection.websocket = ws

    @property
    def connected(self) -> bool:
        return self._connection.connected

    @connected.setter
    def connected(self, value: bool) -> None:
        self._connection.connected = value

    @property
    def registrations(self) -> int:
        return self._connection.registrations

    @property
    def _identity(self) -> Any:
        return self._connection.identity

    async def run(self) -> None:
        """Connect, serve and reconnect until :meth:`stop` is called.

        Returns after a clean shutdown; raises :class:`FatalError` (e.g.
        :class:`AuthRefused`) when the node cannot go on.
        """
        await self.observer.start()  # a listen address that is taken fails here, before connecting
        connection = asyncio.create_task(self._connection.run(self._stop_event),
                                         name="gateway-connection")
        stop = asyncio.create_task(self._stop_event.wait())
        prepare = asyncio.create_task(self._prepare_backend(), name="backend-build")
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
            prepare.cancel()
            with suppress(asyncio.CancelledError):
                await prepare
            if not connection.done():
                connection.cancel()
                try:
                    await connection
                except (asyncio.CancelledError, Exception):
                    pass
            self._dispatcher.cancel_all()
            await self.observer.stop()

    def stop(self) -> None:
        """Ask the node to drain and stop (what SIGINT/SIGTERM do)."""
        self._stop_event.set()

    def stop_now(self) -> int:
        """Stop without waiting for running calls (a second SIGINT/SIGTERM).

        Each running call is cancelled and answers ``CANCELLED``; the answers still go
        out while the connection lasts. Returns how many calls were cancelled.
        """
        self._stop_event.set()
        running = self._dispatcher.tasks()
        self._dispatcher.cancel_all()
        return len(running)

    async def wait_registered(self) -> None:
        """Wait until the node is registered and its outbox flushed."""
        await self._connection.registered.wait()

    async def apply(self, snapshot: Snapshot) -> None:
        """Swap in a new config snapshot (a hot reload) in one step.

        Calls already running finish on the route they started with. The gateway
        hears of a change in what the node offers; a change of URL, credentials
        or TLS reconnects cleanly, keeping every answer.
        """
        old = self._snapshot.config
        new_code = snapshot.code != self._snapshot.code
        if (connection_settings(old) != connection_settings(snapshot.config)
                and self._registered_with(old)):
            self._fallback = self._snapshot  # registered: the config to go back to
        old_offer = self._offer()
        # Everything that can fail comes before the swap, so a failure changes nothing.
        check_protocol(snapshot.config.gateway.protocol)
        await self.observer.configure(snapshot.config)  # a new observability.listen rebinds
        self._router = self._dispatcher.router = self._build_router(snapshot)
        self._snapshot = snapshot
        cfg = snapshot.config
        self._connection.configure(cfg)
        self._dispatcher.configure(cfg)
        if self._backend is not None and (backend_settings(old) != backend_settings(cfg)
                                          or (new_code and cfg.nodes.modules)):
            # Calls already running keep the old one; the next call builds a new one.
            retiring, self._backend = self._backend, None
            asyncio.get_running_loop().create_task(retiring.close())
        elif self._backend is not None and self._backend.update_services(cfg):
            self.log.info("language-model providers and tools reloaded: %s",
                          self._backend.services.language_models.describe())
        if connection_settings(old) != connection_settings(cfg):
            self.log.info("gateway connection settings changed: reconnecting to %s",
                          cfg.gateway.public_url)
            await self._connection.reconnect()
        elif self._offer() != old_offer and self._connection.proto is not None:
            offer = self._offer()
            if not await self._connection.reregister():
                # The protocol fixes the command list at connect time.
                self.log.info("the node now offers %d commands: reconnecting so the gateway "
                              "sees them (it may ask for approval again)", len(offer.commands))
                await self._connection.reconnect()
            else:
                self.log.info("re-registered: the node now offers %d commands, %d message types",
                              len(offer.commands), len(offer.message_types))

    async def _refused(self, refused: Exception) -> bool:
        """The gateway refused the node's credentials: go back to the config that last
        registered if a reload changed them since (True), else the refusal is fatal."""
        good, self._fallback = self._fallback, None
        if good is None or self._registered_with(self._snapshot.config):
            return False  # these very settings registered before: the gateway changed its mind
        self.log.error("%s; going back to the config that last registered (gateway %s) "
                       "until the file changes again", refused, good.config.gateway.public_url)
        await self.apply(good)
        if self.on_revert is not None:
            self.on_revert(good)
        return True

    def _registered_with(self, cfg: Config) -> bool:
        last = self._connection.registered_config
        return last is not None and connection_settings(last) == connection_settings(cfg)

    # The seed's API

    async def _send_registration(self) -> None:
        """Send ``node_registration`` with every routed command and message type."""
        await self._connection.reregister()

    # Backend

    async def _prepare_backend(self) -> None:
        """Build the stores and engine once the node first registers, in a thread: the
        first command then costs what later ones do, and the session (heartbeats,
        other frames) goes on meanwhile. A command that comes while it builds waits
        for that build (see :meth:`_get_backend`) rather than making a second one."""
        await self._connection.registered.wait()
        if self._backend is not None:
            return
        config = self._snapshot.config
        building: concurrent.futures.Future = concurrent.futures.Future()
        building.set_running_or_notify_cancel()  # runs to the end: cancel() can't lose it

        def build() -> None:
            from .backend import Backend

            try:
                building.set_result(Backend(config, record_call=self.observer.providers.record))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                building.set_exception(exc)

        self._building = (config, building)
        threading.Thread(target=build, name="backend-build", daemon=True).start()
        try:
            backend = await asyncio.wrap_future(building)
        except asyncio.CancelledError:
            with suppress(Exception):
                backend = await asyncio.wrap_future(building)
                if backend is not self._backend:
                    await backend.close()
            raise
        except Exception:
            self.log.debug("building the backend ahead failed; the first command builds it",
                           exc_info=True)
            return
        finally:
            self._building = None
        if backend is self._backend:
            return  # a command took it while it was being built
        if self._backend is None and self._snapshot.config is config:
            self._backend = backend
            backend.start_watching()
        else:  # a reload changed the config meanwhile
            await backend.close()

    def _get_backend(self) -> Backend:
        """The stores and engine, built on first use from the current config (or the
        one being built ahead, waited for: two at once would contend for the database)."""
        if self._backend is None and self._building is not None:
            config, building = self._building
            if config is self._snapshot.config:
                with suppress(Exception):
                    self._backend = building.result()
                    self._backend.start_watching()
        if self._backend is None:
            from .backend import Backend

            self._backend = Backend(self._snapshot.config,
                                    record_call=self.observer.providers.record)
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

    def _current_router(self) -> Router:
        if self._router is None or self._router_handlers != self._handlers:
            self._router = self._dispatcher.router = self._build_router(self._snapshot)
        return self._router

    def _offer(self) -> Offer:
        commands, types = self._current_router().offer()
        cfg = self._snapshot.config
        metadata = {"user_id": cfg.node.user_id, "version": __version__,
                    "hostname": socket.gethostname(),
                    "max_message_size": cfg.gateway.max_message_size, **cfg.node.metadata}
        return Offer(cfg.node.id, tuple(commands), tuple(types), metadata,
                     "workflow_request" in self._router.messages)

    def _status(self) -> tuple[str, int]:
        """The node's word for the gateway's heartbeat: draining, busy or active."""
        disp = self._dispatcher
        if disp.draining:
            return "draining", disp.in_flight
        if disp.in_flight >= disp.max_concurrency:
            return "busy", disp.in_flight
        return "active", disp.in_flight

    # Shutdown

    async def _drain(self) -> None:
        grace = self._snapshot.config.shutdown.grace
        conn, disp = self._connection, self._dispatcher
        disp.draining = True
        self.observer.draining()
        self.log.info("shutting down: %d calls running, waiting up to %gs", disp.pending, grace)
        if conn.ready:
            await conn.beat()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        await disp.drain(grace)
        # Deliver what is still in the outbox, if a connection comes back in time.
        if conn.backlog and not conn.ready:
            try:
                await asyncio.wait_for(conn.registered.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                pass
        if conn.backlog:
            self.log.warning("%d answers could not be delivered before shutdown", conn.backlog)
        await conn.close(1001, "node shutting down")
        await self._retire_backend()
        self.log.info("stopped")


def _env_default(value: Any, name: str) -> Any:
    return os.environ.get(name) if value is None else value


def _config_from_args(gateway_url, node_id, auth_token, user_id, heartbeat_interval,
                      allow_insecure: bool = False) -> Config:
    gateway: dict[str, Any] = {"allow_insecure": True} if allow_insecure else {}
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

