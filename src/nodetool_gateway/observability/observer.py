"""What the node says about itself: counters, readiness, and systemd's notify socket.

The connection and the dispatcher call in here on their events, and the backend on
each language-model call (its workers' calls too); each call adds to a plain counter,
so the request path stays cheap (about 1 µs per answer), and prometheus_client is
imported only at the first scrape (13-20 ms and 1.6 MB: benchmarks/observability_cost.py).
``metrics.py`` turns the counters into Prometheus metrics at scrape time; ``server.py``
serves them with ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, TypeVar
from urllib.parse import urlsplit

from .._systemd import Notifier
from ..config import Config
from ..errors import FatalError

if TYPE_CHECKING:
    from .._connection import GatewayConnection
    from .._dispatch import Dispatcher
    from ..backend import Backend
    from ..protocols import Answer, Request
    from .server import HealthServer

__all__ = ["BUCKETS", "ListenError", "Observer", "ProviderStats", "Stats", "gateway_origin"]

T = TypeVar("T")

# Request latency buckets, in seconds: from a quick command to an hour-long workflow.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
           300.0, 900.0, 3600.0)
# Route names come from the gateway too (an unknown command is counted): cap the labels.
MAX_ROUTES = 200
# So do model names (workflow files name them): cap the (provider, model) pairs as well.
MAX_MODELS = 100


class ListenError(FatalError):
    """``observability.listen`` names an address the node cannot listen on."""

    exit_code = 78  # EX_CONFIG: the fix is another address in the config


class Latency:
    """One route's latency histogram: counts per bucket (the last one is +Inf), and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def copy(self) -> Latency:
        twin = Latency()
        twin.counts, twin.total = list(self.counts), self.total
        return twin


def _copied(table: dict[Any, Latency]) -> dict[Any, Latency]:
    return {key: histogram.copy() for key, histogram in table.items()}


class Stats:
    """What the node has done since it started, as plain numbers."""

    def __init__(self) -> None:
        self.started = time.time()
        self.connection_attempts = 0
        self.connections_opened = 0
        self.reconnects = 0
        self.registrations = 0
        self.requests: dict[tuple[str, str, str], int] = {}  # (kind, route, code) -> count
        self.latency: dict[tuple[str, str], Latency] = {}  # (kind, route) -> histogram

    def copy(self) -> Stats:
        twin = Stats()
        twin.__dict__.update(self.__dict__)
        twin.requests, twin.latency = dict(self.requests), _copied(self.latency)
        return twin


class ProviderStats:
    """Language-model calls since the node started, as plain numbers.

    The observer keeps it, so a backend rebuilt by a reload adds to the same
    counters. Inline runs record into it directly; the worker pool records what
    its workers report, one message per call.
    """

    __slots__ = ("_models", "calls", "latency", "tokens")

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str, str], int] = {}  # (provider, model, outcome) -> count
        self.latency: dict[str, Latency] = {}  # provider -> histogram
        self.tokens: dict[tuple[str, str, str], int] = {}  # (provider, model, direction) -> count
        self._models: set[tuple[str, str]] = set()

    def copy(self) -> ProviderStats:
        twin = ProviderStats()
        twin.calls, twin.latency, twin.tokens = (dict(self.calls), _copied(self.latency),
                                                 dict(self.tokens))
        return twin

    def record(self, provider: str, model: str, outcome: str, seconds: float,
               usage: tuple[int, int] | None) -> None:
        """One call ended: ``outcome`` is ``ok``, a ProviderError's kind, ``cancelled`` or
        ``error``; ``usage`` is (input, output) tokens when the provider reported them."""
        if (provider, model) not in self._models:
            if len(self._models) >= MAX_MODELS:
                model = "(other)"
            else:
                self._models.add((provider, model))
        calls = self.calls
        key = (provider, model, outcome)
        calls[key] = calls.get(key, 0) + 1
        histogram = self.latency.get(provider)
        if histogram is None:
            histogram = self.latency[provider] = Latency()
        histogram.observe(seconds)
        if usage is not None:
            tokens = self.tokens
            for direction, count in zip(("input", "output"), usage):
                key = (provider, model, direction)
                tokens[key] = tokens.get(key, 0) + count


def _exposition(frozen: Frozen) -> tuple[bytes, str]:
    from .metrics import exposition, registry_for  # prometheus_client: imported at first scrape

    return exposition(registry_for(frozen))


@dataclass(frozen=True)
class Frozen:
    """The numbers of one scrape, copied on the event loop; the text is written off it."""

    config: Config
    stats: Stats
    live: dict[str, float]
    reloads: tuple[int, int] | None
    providers: ProviderStats
    jobs: dict[str, int]


class Observer:
    """One node's view of itself, for ``/metrics``, ``/readyz`` and systemd."""

    def __init__(self, config: Config, connection: GatewayConnection, dispatcher: Dispatcher, *,
                 backend: Callable[[], Backend | None], log: logging.Logger):
        self.config = config
        self.stats = Stats()
        self.providers = ProviderStats()  # fed by the backend (see Backend's record_call)
        self.jobs: dict[str, int] = {}  # jobs by status, as of the last scrape
        self.notifier = Notifier()
        # (succeeded, failed) reloads, when a config watcher is followed (see follow_reloads).
        self.reloads: Callable[[], tuple[int, int]] | None = None
        self._connection = connection
        self._dispatcher = dispatcher
        self._backend = backend
        self._log = log
        self._state = "starting"  # what the connection is doing, in one line
        self._attempt = 0  # connection attempts since the last registration
        self._routes: set[str] = set()
        self._server: HealthServer | None = None
        self._executor: Any = None  # for the job store's query
        self._watchdog: asyncio.Task | None = None
        self._started = False  # between start() and stop()
        self._announced = False  # READY=1 sent
        self._reloading = 0  # reloads under way (READY=1 when the last one ends)

    # Life

    async def start(self) -> None:
        """Listen on ``observability.listen`` (raise :class:`ListenError` if it cannot) and
        start systemd's watchdog when it asks for one."""
        self.stats.started = time.time()
        await self._listen(self.config)
        self._started = True
        interval = self.notifier.watchdog_interval
        if interval is not None and self._watchdog is None:
            self._watchdog = asyncio.create_task(self._keep_watchdog(interval),
                                                 name="systemd-watchdog")

    async def stop(self) -> None:
        self._started = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await self._close_server()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self.notifier.close()

    async def configure(self, cfg: Config) -> None:
        """Take a new config; a new ``observability.listen`` moves the listener.

        Called before the node swaps its config: if the new address cannot be
        listened on, this raises and the reload fails (the old listener stays).
        """
        if self._started and cfg.observability.listen != self.config.observability.listen:
            await self._listen(cfg, previous=self.config)
        self.config = cfg

    def follow_reloads(self, watcher: Any) -> None:
        """Count the reloads of a :class:`~nodetool_gateway.reload.ConfigWatcher`."""
        self.reloads = lambda: (watcher.succeeded, watcher.failed)

    @contextlib.contextmanager
    def reloading(self) -> Iterator[None]:
        """Tell systemd a reload is under way (RELOADING=1), then READY=1 once it is over."""
        # Only between READY=1 and STOPPING=1: systemd reads READY=1 as "started".
        told = self._announced and not self._dispatcher.draining
        self._reloading += 1
        if self._reloading == 1 and told:
            self.notifier.reloading()
        try:
            yield
        finally:
            self._reloading -= 1
            if self._reloading == 0 and told and not self._dispatcher.draining:
                self.notifier.status(self._state, "READY=1")

    async def during_reload(self, reload: Awaitable[T]) -> T:
        """Await ``reload`` inside :meth:`reloading`."""
        with self.reloading():
            return await reload

    @property
    def listening(self) -> tuple[str, int] | None:
        """The address the health and metrics listener is bound to, if any."""
        return self._server.address if self._server is not None else None

    # Events (the connection's and the dispatcher's hooks)

    def connection_event(self, event: str, delay: float | None = None) -> None:
        """``attempt``, ``opened``, ``registered`` or ``reconnecting`` (in ``delay`` seconds)."""
        stats, gateway = self.stats, gateway_origin(self.config.gateway.url)
        if event == "attempt":
            stats.connection_attempts += 1
            self._attempt += 1
            self._state = f"connecting to {gateway}" + (
                f" (attempt {self._attempt})" if self._attempt > 1 else "")
        elif event == "opened":
            stats.connections_opened += 1
            self._state = f"connected to {gateway}, registering"
        elif event == "registered":
            stats.registrations += 1
            self._attempt = 0
            self._state = f"registered with {gateway} as {self.config.node.id}"
            if not self._announced:
                self._announced = True
                self.notifier.status(self._state, "READY=1")
                return
        elif event == "reconnecting":
            stats.reconnects += 1
            self._state = f"reconnecting to {gateway} in {delay or 0:.1f}s"
        self.notifier.status(self._state)

    def answered(self, request: Request, answer: Answer, started: float | None) -> None:
        """Count an answer; ``started`` (``time.perf_counter()``) for a call that ran."""
        code = "ok" if answer.ok else str(answer.code or "error")
        route = request.name
        if code in ("UNKNOWN_COMMAND", "UNKNOWN_TYPE"):
            route = "(unknown)"
        elif route not in self._routes:
            if len(self._routes) >= MAX_ROUTES:
                route = "(other)"
            else:
                self._routes.add(route)
        requests = self.stats.requests
        key = (request.kind, route, code)
        requests[key] = requests.get(key, 0) + 1
        if started is not None:
            latency = self.stats.latency
            histogram = latency.get(key[:2])
            if histogram is None:
                histogram = latency[key[:2]] = Latency()
            histogram.observe(time.perf_counter() - started)

    def draining(self) -> None:
        self._state = "draining: the node is shutting down"
        self.notifier.status(f"draining: {self._dispatcher.pending} calls running", "STOPPING=1")

    # What the endpoints read

    def readiness(self) -> tuple[bool, str]:
        """Ready while registered and not draining; the reason in one line either way."""
        if self._dispatcher.draining:
            return False, "draining: the node is shutting down"
        if self._connection.ready:
            return True, self._state
        if self._state.startswith("registered"):
            return False, f"the connection to {gateway_origin(self.config.gateway.url)} closed"
        return False, self._state

    def live(self) -> dict[str, float]:
        """Gauges read at scrape time."""
        conn, disp = self._connection, self._dispatcher
        return {"connected": float(conn.connected), "registered": float(conn.ready),
                "draining": float(disp.draining), "requests_in_flight": disp.in_flight,
                "requests_pending": disp.pending, "outbox_messages": conn.backlog}

    async def metrics(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        await self._count_jobs()
        frozen = Frozen(self.config, self.stats.copy(), self.live(),
                        self.reloads() if self.reloads is not None else None,
                        self.providers.copy(), dict(self.jobs))
        # Writing the text takes ~0.2 ms per route: on the metrics thread, not the loop
        # (a scrape of 100 routes held every request up for 20 ms).
        return await asyncio.get_running_loop().run_in_executor(
            self._metrics_thread(), _exposition, frozen)

    # Internals

    def _metrics_thread(self) -> Any:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(1, thread_name_prefix="nodetool-metrics")
        return self._executor

    async def _count_jobs(self) -> None:
        backend = self._backend()
        if backend is None:  # not built yet: no job has run in this process
            return
        # SQLite off the event loop, on a thread of its own: a scrape never waits
        # behind handlers in the default executor, nor holds up the node.
        loop = asyncio.get_running_loop()
        try:
            self.jobs = await asyncio.wait_for(
                loop.run_in_executor(self._metrics_thread(), backend.jobs.counts), 5)
        except Exception as exc:  # a closed or locked database: keep the last counts
            self._log.debug("metrics: could not count jobs: %s", exc)

    async def _listen(self, cfg: Config, previous: Config | None = None) -> None:
        from .server import HealthServer

        address = cfg.observability.address
        await self._close_server()
        if address is None:
            return
        server = HealthServer(self)
        try:
            await server.start(*address)
        except OSError as exc:
            # asyncio's strerror repeats the address; the errno's own text says it shorter.
            reason = (os.strerror(exc.errno).lower() if exc.errno and exc.errno > 0
                      else exc.strerror or str(exc))  # a host that does not resolve
            if previous is not None and previous.observability.address is not None:
                with contextlib.suppress(OSError):
                    await self._listen(previous)
            raise ListenError(
                f"observability.listen: cannot listen on {cfg.observability.listen} ({reason}); "
                "choose another address or port, or stop what listens there") from None
        self._server = server
        host, port = server.address
        shown = f"[{host}]" if ":" in host else host
        self._log.info("health and metrics on http://%s:%d (/healthz, /readyz, /metrics)",
                       shown, port)

    async def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.close()

    async def _keep_watchdog(self, interval: float) -> None:
        # A timer on the node's own loop: it stops when the loop stalls, which is what
        # the watchdog is for, and it keeps going while the node reconnects.
        while True:
            self.notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def gateway_origin(url: str) -> str:
    """``scheme://host:port`` of a gateway URL: no user, password, path or query, so no
    secret placed in the URL reaches systemd's status line or an HTTP answer."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
