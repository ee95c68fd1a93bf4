"""What the cases share: the processes under test, the load generators, sizes, rows.

The driver (this process) runs the local gateway and, for most cases, the load;
the node under test and the bare baseline each run in their own process, so
their CPU time (``/proc/PID/stat``) and memory (``/proc/PID/status``) are theirs
alone. The throughput case moves the load out too (``LoadGroup``: several
``_load.py`` processes), so that the driver is the gateway and nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from websockets.asyncio.client import ClientConnection, connect

from nodetool_gateway.gateway import LocalGateway

__all__ = [
    "BENCH",
    "FULL",
    "QUICK",
    "ROOT",
    "TOKEN",
    "Bench",
    "Load",
    "LoadGroup",
    "Pair",
    "Proc",
    "Row",
    "Sizes",
    "alternate",
    "child_env",
    "cpu_seconds",
    "machine_busy",
    "median",
    "percentile",
    "rss_mb",
    "write_node_config",
]

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
TOKEN = "bench-token"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sizes:
    """How much each case does; ``reps`` runs of baseline and node, alternating."""

    reps: int = 5
    warmup: int = 1_000
    in_flight: int = 64
    command_count: int = 20_000
    throughput_seconds: float = 10.0
    throughput_loads: int = 2  # load processes; in_flight is split between them
    latency_count: int = 2_000
    memory_commands: int = 100_000
    reconnect_cycles: int = 5
    reconnect_down: float = 1.0
    reload_swaps: int = 20
    reload_rate: float = 1_000.0
    engine_chain: int = 10_000
    engine_fan: int = 1_000
    workflow_runs: int = 200
    openclaw_calls: int = 1_000
    obs_routes: int = 100  # distinct routes in /metrics (observability case)
    obs_scrapes: int = 30  # back-to-back scrapes per run
    obs_stall_seconds: float = 1.5  # sequential requests per run, with and without scrapes
    obs_scrape_interval: float = 0.1
    code_reload_rounds: int = 8  # each round edits the config, then each kind of code file
    heavy_functions: int = 2_000  # functions in the generated helper module


FULL = Sizes()
QUICK = Sizes(reps=1, warmup=50, command_count=500, throughput_seconds=1.0, latency_count=100,
              memory_commands=1_000, reconnect_cycles=1, reload_swaps=2, engine_chain=100,
              engine_fan=20, workflow_runs=5, openclaw_calls=10, obs_scrapes=5,
              obs_stall_seconds=0.3, code_reload_rounds=1)


# Figures


@dataclass
class Row:
    """One line of the table: a figure for the node beside its baseline and target."""

    case: str
    figure: str
    node: float | None
    baseline: float | None
    unit: str
    target: str
    met: bool | None  # None: no target to judge (reported only)
    ratio: float | None = None
    digits: int = 1
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ratio is None and self.node is not None and self.baseline:
            self.ratio = self.node / self.baseline

    def value(self, which: str) -> str:
        v = self.node if which == "node" else self.baseline
        if v is None:
            return "-"
        return f"{v:,.{self.digits}f} {self.unit}".rstrip()

    @property
    def verdict(self) -> str:
        return {True: "MET", False: "MISSED", None: "-"}[self.met]


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


async def alternate(reps: int, baseline: Callable[[], Awaitable[Any]],
                    node: Callable[[], Awaitable[Any]]) -> tuple[list[Any], list[Any]]:
    """Run baseline and node in turn (A B A B ...); return both lists of results."""
    a, b = [], []
    for _ in range(reps):
        a.append(await baseline())
        b.append(await node())
    return a, b


# Processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads, live and exited)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes): /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / _CLK_TCK


def rss_mb(pid: int) -> float:
    """Resident set size in MB (10^6 bytes)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


def child_env() -> dict[str, str]:
    """This environment, with the repository on PYTHONPATH and no profiling asked for."""
    env = dict(os.environ)
    # benchmarks._handlers must import in the node, whatever the config's folder.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("NODETOOL_BENCH_PROFILE", None)
    return env


class Proc:
    """One process under test: the node or the bare client, its output in a log file."""

    def __init__(self, name: str, node_id: str, argv: list[str], log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.node_id = node_id
        self.argv = argv
        self.log = log
        self.env = env or child_env()
        self.popen: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    @classmethod
    def node(cls, bench: Bench, config: Path, node_id: str, *extra: str) -> Proc:
        """``python -m nodetool_gateway run CONFIG`` (through the launcher, see _launch.py)."""
        argv = [sys.executable, str(BENCH / "_launch.py"), bench.mode, "-m", "nodetool_gateway",
                "run", str(config), *extra]
        env = child_env()
        if bench.profile_dir is not None:
            env["NODETOOL_BENCH_PROFILE"] = str(bench.profile_dir / f"{node_id}.prof")
        return cls("node", node_id, argv, bench.tmp / f"{node_id}.log", env)

    @classmethod
    def bare(cls, bench: Bench, url: str, node_id: str, retry: float = 1.0) -> Proc:
        argv = [sys.executable, str(BENCH / "_bare_node.py"), "--url", url, "--node-id", node_id,
                "--token", TOKEN, "--retry", str(retry)]
        if bench.mode == "speed":
            argv.append("--speed")
        return cls("bare", node_id, argv, bench.tmp / f"{node_id}.log")

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.started = time.perf_counter()
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, cwd=ROOT, env=self.env)

    def cpu(self) -> float:
        self.check()
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        self.check()
        return rss_mb(self.pid)

    def check(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} {self.node_id} exited with {self.popen.returncode}:\n"
                               f"{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, timeout: float = 10) -> None:
        """SIGTERM (the node drains), then SIGKILL if it is still there."""
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if popen.poll() is None:
            popen.kill()
            await asyncio.to_thread(popen.wait)


def write_node_config(path: Path, url: str, node_id: str, storage: Path, *,
                      commands: dict[str, Any] | None = None, **sections: Any) -> Path:
    """A minimal node.yaml: the gateway, the node id, the no-op command, quiet logs."""
    cfg: dict[str, Any] = {
        "gateway": {"url": url, "auth": {"token": TOKEN}},
        "node": {"id": node_id},
        "storage": {"path": str(storage)},
        "workflows": {"paths": []},
        "logging": {"level": "WARNING"},
        "shutdown": {"grace": "2s"},
        "commands": commands if commands is not None else {
            "noop": "benchmarks._handlers:noop",
            # The same no-op as a plain def: on the loop (blocking: false), and in a thread.
            "noop_sync": {"handler": "benchmarks._handlers:noop_sync", "blocking": False},
            "noop_thread": "benchmarks._handlers:noop_sync",
        },
    }
    cfg.update(sections)
    text = yaml.safe_dump(cfg, sort_keys=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a reload must never see half a file
    return path


# Load


_FINAL = frozenset({"command_response", "workflow_response", "error"})
_ACK = '{"type":"ack"'


@dataclass
class Burst:
    done: int
    failed: int
    seconds: float


class Load:
    """A raw operator connection to the local gateway.

    Cheaper than ``OperatorClient`` so that the driver's core stays ahead of the
    node: request frames are formatted strings carrying their own ``timestamp``
    (so the gateway forwards them unchanged), and acks are recognised by their
    first bytes and skipped without parsing.
    """

    _ids = itertools.count(1)

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.updates = 0  # workflow_update frames seen
        self._stamp = datetime.now(timezone.utc).isoformat()

    @classmethod
    async def connect(cls, gw: LocalGateway) -> Load:
        ws = await connect(gw.operator_url, additional_headers={"Authorization": f"Bearer {TOKEN}"},
                           compression=None, max_size=None)
        return cls(ws)

    async def close(self) -> None:
        await self.ws.close()

    def frame(self, node_id: str, command: str = "noop", args: str = "{}") -> tuple[str, str]:
        rid = f"b{next(self._ids)}"
        return rid, (f'{{"type":"command_request","request_id":"{rid}","command":"{command}",'
                     f'"args":{args},"node_id":"{node_id}","timestamp":"{self._stamp}"}}')

    async def final(self) -> dict[str, Any]:
        """The next final frame (acks and updates are skipped; updates counted)."""
        recv = self.ws.recv
        while True:
            text = await recv()
            if text.startswith(_ACK):
                continue
            frame = json.loads(text)
            kind = frame.get("type")
            if kind in _FINAL:
                return frame
            if kind == "workflow_update":
                self.updates += 1

    async def burst(self, node_id: str, *, count: int | None = None, seconds: float | None = None,
                    in_flight: int = 64, command: str = "noop") -> Burst:
        """``count`` commands, or as many as fit in ``seconds``, ``in_flight`` at a time."""
        send, frame = self.ws.send, self.frame
        limit = count if count is not None else sys.maxsize
        sent = done = failed = 0
        start = time.perf_counter()
        deadline = start + seconds if seconds is not None else float("inf")
        while sent < min(in_flight, limit):
            await send(frame(node_id, command)[1])
            sent += 1
        while done < sent:
            answer = await self.final()
            done += 1
            if answer.get("status") not in ("success", "completed"):
                failed += 1
            if sent < limit and (seconds is None or time.perf_counter() < deadline):
                await send(frame(node_id, command)[1])
                sent += 1
        return Burst(done, failed, time.perf_counter() - start)

    async def sequential(self, node_id: str, count: int, *, command: str = "noop",
                         args: str = "{}") -> tuple[list[float], int]:
        """Round trips of ``count`` commands one after another; and how many failed."""
        send, frame, clock = self.ws.send, self.frame, time.perf_counter
        times: list[float] = []
        failed = 0
        for _ in range(count):
            text = frame(node_id, command, args)[1]
            start = clock()
            await send(text)
            answer = await self.final()
            times.append(clock() - start)
            if answer.get("status") not in ("success", "completed"):
                failed += 1
        return times, failed


class LoadGroup:
    """Several load processes (``_load.py``), each with its own operator connection.

    Used by the throughput case so that neither the load nor its CPU sits in the
    driver: the driver runs the gateway, each load process keeps its share of the
    commands in flight. They are started once and given one burst at a time over
    stdin; ``pids`` lets the caller read their CPU time.
    """

    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @classmethod
    async def start(cls, bench: Bench, gw: LocalGateway, count: int) -> LoadGroup:
        procs: list[asyncio.subprocess.Process] = []
        try:
            for i in range(count):
                with open(bench.tmp / f"load{i}.log", "ab") as err:
                    procs.append(await asyncio.create_subprocess_exec(
                        sys.executable, str(BENCH / "_load.py"), "--url", gw.operator_url,
                        "--token", TOKEN, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=err, cwd=ROOT, env=child_env()))
            group = cls(procs)
            for i, proc in enumerate(procs):
                line = await group._line(i, timeout=30)
                if line != "ready":
                    raise RuntimeError(f"load process {i} said {line!r} instead of ready")
            return group
        except BaseException:
            await cls(procs).close()
            raise

    async def _line(self, i: int, timeout: float | None = None) -> str:
        proc = self.procs[i]
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            await proc.wait()
            raise RuntimeError(f"load process {i} exited with {proc.returncode} (see load{i}.log)")
        return line.decode().strip()

    async def burst(self, node_id: str, *, in_flight: int, seconds: float | None = None,
                    count: int | None = None) -> list[Burst]:
        """One burst in every load process at once, ``in_flight`` each; their results."""
        ask = json.dumps({"node_id": node_id, "in_flight": in_flight, "seconds": seconds,
                          "count": count}).encode() + b"\n"
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(ask)
        await asyncio.gather(*(p.stdin.drain() for p in self.procs if p.stdin is not None))
        lines = await asyncio.gather(*(self._line(i) for i in range(len(self.procs))))
        return [Burst(**json.loads(line)) for line in lines]

    async def close(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# The run


class Bench:
    """One benchmark run: its mode, sizes, scratch folder, and the shared node pair."""

    def __init__(self, mode: str, sizes: Sizes, tmp: Path, *, log: Callable[[str], None],
                 profile_dir: Path | None = None) -> None:
        self.mode = mode
        self.sizes = sizes
        self.tmp = tmp
        self.log = log
        self.profile_dir = profile_dir
        self._pair: Pair | None = None

    async def pair(self) -> Pair:
        """The node and the baseline on one gateway, started on first use and kept."""
        if self._pair is None:
            self._pair = await Pair.start(self, "wire")
        return self._pair

    async def close(self) -> None:
        if self._pair is not None:
            await self._pair.close()
            self._pair = None


class Pair:
    """The node under test and the bare baseline, both registered on one local gateway."""

    def __init__(self, gw: LocalGateway, node: Proc, bare: Proc, load: Load) -> None:
        self.gw = gw
        self.node = node
        self.bare = bare
        self.load = load
        self.warmed = False

    @classmethod
    async def start(cls, bench: Bench, tag: str, **config: Any) -> Pair:
        gw = LocalGateway(auth_token=TOKEN)
        await gw.start()
        folder = bench.tmp / tag
        folder.mkdir(parents=True, exist_ok=True)
        node_id, bare_id = f"node-{tag}", f"bare-{tag}"
        cfg = write_node_config(folder / "node.yaml", gw.url, node_id, folder / "storage", **config)
        node, bare = Proc.node(bench, cfg, node_id), Proc.bare(bench, gw.url, bare_id)
        try:
            for proc in (bare, node):
                proc.start()
            for proc in (bare, node):
                await wait_registered(gw, proc)
            load = await Load.connect(gw)
        except BaseException:
            await asyncio.gather(node.stop(), bare.stop())
            await gw.stop()
            raise
        return cls(gw, node, bare, load)

    async def warm(self, count: int) -> None:
        """Run some commands through both first (imports, caches), once."""
        if not self.warmed:
            for proc in (self.bare, self.node):
                await self.load.burst(proc.node_id, count=count)
            self.warmed = True

    async def close(self) -> None:
        await self.load.close()
        await asyncio.gather(self.node.stop(), self.bare.stop())
        await self.gw.stop()


async def wait_registered(gw: LocalGateway, proc: Proc, timeout: float = 30) -> float:
    """Wait for the process's registration; return when it arrived (perf_counter)."""
    waiter = asyncio.ensure_future(gw.wait_for_node(proc.node_id, timeout=timeout))
    while not waiter.done():
        await asyncio.wait({waiter}, timeout=0.2)
        if not waiter.done() and proc.popen is not None and proc.popen.poll() is not None:
            waiter.cancel()
            proc.check()
    await waiter
    return time.perf_counter()
