"""Cases about the node's life: start-up, reconnect after a gateway restart, hot reload."""

from __future__ import annotations

import asyncio
import time

from nodetool_gateway.gateway import LocalGateway

from ._harness import TOKEN, Bench, Load, Proc, Row, median, wait_registered, write_node_config

__all__ = ["startup", "reconnect", "reload"]


async def startup(bench: Bench) -> list[Row]:
    """Wall time from Popen to the gateway holding the registration, node vs bare client."""
    s = bench.sizes
    folder = bench.tmp / "startup"
    folder.mkdir(parents=True, exist_ok=True)
    async with LocalGateway(auth_token=TOKEN) as gw:
        cfg = write_node_config(folder / "node.yaml", gw.url, "node-startup", folder / "storage")

        async def once(proc: Proc) -> float:
            proc.start()
            try:
                registered = await wait_registered(gw, proc)
            finally:
                await proc.stop()
            await gw.wait_for_disconnect(proc.node_id)
            return registered - proc.started

        def run(make):
            return lambda: once(make())

        node = run(lambda: Proc.node(bench, cfg, "node-startup"))
        bare = run(lambda: Proc.bare(bench, gw.url, "bare-startup"))
        await bare()  # once each first, so both start from a warm page cache
        await node()
        bares, nodes = [], []
        for _ in range(s.reps):
            bares.append(await bare())
            nodes.append(await node())
    row = Row("start-up", "process start -> registration received (`run CONFIG`, minimal config)",
              median(nodes), median(bares), "s", "<= 0.2 s", None,
              digits=3)
    row.met = row.node <= 0.2
    row.notes.append(f"runs (s): node {', '.join(f'{v:.3f}' for v in nodes)}; "
                     f"baseline {', '.join(f'{v:.3f}' for v in bares)}")
    return [row]


async def reconnect(bench: Bench) -> list[Row]:
    """The gateway stops and is back 1 s later; time from back-up to each re-registration.

    Node: ``retry: {initial_delay: 1s, jitter: 0.2}`` (multiplier 2, the default).
    Baseline: the bare client retrying every 1 s, fixed. Both are connected to
    the same gateway, so each cycle measures both against one restart.
    """
    s = bench.sizes
    folder = bench.tmp / "reconnect"
    folder.mkdir(parents=True, exist_ok=True)
    gw = LocalGateway(auth_token=TOKEN)
    await gw.start()
    port = gw.port
    cfg = write_node_config(folder / "node.yaml", gw.url, "node-reconnect", folder / "storage",
                            retry={"initial_delay": "1s", "max_delay": "60s", "multiplier": 2.0,
                                   "jitter": 0.2})
    node = Proc.node(bench, cfg, "node-reconnect")
    bare = Proc.bare(bench, gw.url, "bare-reconnect", retry=1.0)
    cycles: dict[str, list[float]] = {"bare": [], "node": []}
    downtime: dict[str, list[float]] = {"bare": [], "node": []}
    try:
        for proc in (bare, node):
            proc.start()
            await wait_registered(gw, proc)
        await asyncio.sleep(1.0)
        for _ in range(s.reconnect_cycles):
            await gw.stop()
            stopped = time.perf_counter()
            await asyncio.sleep(s.reconnect_down)
            gw = LocalGateway(port=port, auth_token=TOKEN)
            await gw.start()
            back = time.perf_counter()
            arrived = await asyncio.gather(*(wait_registered(gw, p, timeout=30) for p in (bare, node)))
            for proc, t in zip((bare, node), arrived):
                cycles[proc.name].append(t - back)
                downtime[proc.name].append(t - stopped)
            await asyncio.sleep(1.0)
    finally:
        await asyncio.gather(node.stop(), bare.stop())
        await gw.stop()
    limit = 1.0 + 0.1
    worst_node, worst_bare = max(cycles["node"]), max(cycles["bare"])
    row = Row("reconnect", f"back-up -> re-registered, worst of {s.reconnect_cycles} cycles "
              f"(gateway down {s.reconnect_down:g} s)", worst_node, worst_bare, "s",
              "<= initial delay + 100 ms (1.1 s), every cycle", worst_node <= limit, digits=3)
    row.ratio = None  # both race the gateway's return: a ratio of two races means nothing
    row.notes.append(
        "cycles (s): node " + ", ".join(f"{v:.3f}" for v in cycles["node"])
        + "; baseline " + ", ".join(f"{v:.3f}" for v in cycles["bare"])
        + f"; median node {median(cycles['node']):.3f} s; downtime (stop -> registered) node "
        + ", ".join(f"{v:.2f}" for v in downtime["node"]))
    return [row]


async def reload(bench: Bench) -> list[Row]:
    """Swap a command's handler by rewriting the config under ~1,000 requests/s.

    Figure: time from the file being replaced (``os.replace`` of a complete
    temp file) to the first answer from the new handler reaching the operator.
    Every request must get a success answer, before, during and after each swap.
    """
    s = bench.sizes
    folder = bench.tmp / "reload"
    folder.mkdir(parents=True, exist_ok=True)

    def config(value: str) -> None:
        write_node_config(folder / "node.yaml", gw.url, "node-reload", folder / "storage",
                          commands={"noop": "benchmarks._handlers:noop",
                                    "which": f"benchmarks._handlers:answer_{value}"})

    gw = LocalGateway(auth_token=TOKEN)
    await gw.start()
    config("a")
    node = Proc.node(bench, folder / "node.yaml", "node-reload")
    load: Load | None = None
    latencies: list[float] = []
    missed = 0
    try:
        node.start()
        await wait_registered(gw, node)
        load = await Load.connect(gw)
        # The file watcher starts beside the session: give it a moment to be in place.
        await asyncio.sleep(1.0)
        state = _Traffic(load, node.node_id, s.reload_rate)
        await state.start()
        await asyncio.sleep(0.5)
        value = "a"
        for _ in range(s.reload_swaps):
            value = "b" if value == "a" else "a"
            waiter = state.expect(value)
            config(value)
            written = time.perf_counter()
            try:
                served = await asyncio.wait_for(waiter, 5.0)
                latencies.append(served - written)
            except TimeoutError:
                missed += 1
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.2)
        await state.stop()
    finally:
        if load is not None:
            await load.close()
        await node.stop()
        await gw.stop()
    failed = state.failed + state.unanswered
    worst = max(latencies) if latencies else float("inf")
    row = Row("reload", f"config written -> first answer from the new route, worst of "
              f"{s.reload_swaps} swaps under {s.reload_rate:,.0f} req/s", worst * 1000, None, "ms",
              "<= 300 ms", worst <= 0.3 and not missed, digits=0)
    row.notes.append("swaps (ms): " + ", ".join(f"{v * 1000:.0f}" for v in latencies)
                     + f"; median {median(latencies) * 1000 if latencies else float('nan'):.0f} ms"
                     + (f"; {missed} swap(s) not seen within 5 s" if missed else ""))
    row_failed = Row("reload", f"failed requests over {s.reload_swaps} reloads "
                     f"({state.sent:,} sent)", failed, None, "", "0", failed == 0, digits=0)
    row_failed.notes.append(f"error answers {state.failed}, unanswered {state.unanswered}, "
                            f"answered 'a'/'b' {state.counts}")
    return [row, row_failed]


class _Traffic:
    """Requests to the ``which`` command at a steady rate, and the answers they get."""

    def __init__(self, load: Load, node_id: str, rate: float) -> None:
        self.load = load
        self.node_id = node_id
        self.interval = 1.0 / rate
        self.sent = 0
        self.answered = 0
        self.failed = 0
        self.counts = {"a": 0, "b": 0}
        self._want: tuple[str, asyncio.Future[float]] | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def unanswered(self) -> int:
        return self.sent - self.answered

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._read())]

    def expect(self, value: str) -> asyncio.Future[float]:
        """A future for when the first answer ``value`` arrives from now on."""
        future = asyncio.get_running_loop().create_future()
        self._want = (value, future)
        return future

    async def stop(self, drain: float = 5.0) -> None:
        self._stop.set()
        await self._tasks[0]
        deadline = time.perf_counter() + drain
        while self.unanswered and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        self._tasks[1].cancel()
        await asyncio.gather(self._tasks[1], return_exceptions=True)

    async def _send(self) -> None:
        send, frame, clock = self.load.ws.send, self.load.frame, time.perf_counter
        due = clock()
        while not self._stop.is_set():
            now = clock()
            while due <= now:
                await send(frame(self.node_id, "which")[1])
                self.sent += 1
                due += self.interval
            await asyncio.sleep(due - clock())

    async def _read(self) -> None:
        while True:
            answer = await self.load.final()
            now = time.perf_counter()
            self.answered += 1
            result = answer.get("result")
            if answer.get("status") != "success" or result not in self.counts:
                self.failed += 1
                continue
            self.counts[result] += 1
            want = self._want
            if want is not None and result == want[0] and not want[1].done():
                want[1].set_result(now)
                self._want = None
