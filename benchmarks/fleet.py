"""A hundred nodes on one OpenClaw gateway (issue 13): join, approve, invoke, restart, idle.

Starts a real OpenClaw gateway from the interop harness (``tests/interop/openclaw.py``,
installed on first use) and N separate ``nodetool-gateway run node.yaml`` processes,
each with its own config (node id, storage folder, ``gateway.protocol: openclaw``, the
gateway's URL and token, ``workflows.paths: []``, a no-op command), all started at
once. An operator WebSocket (the harness's ``Operator``) waits for all of them to be
connected, approves each node's command surface (``node.pair.list`` /
``node.pair.approve``, one at a time, as the harness does) and invokes
``nodetool.noop``. Reported:

- start -> all N connected (``node.list``), all approved, all answering an invoke;
  the cost of one approval early and late in the run (how approval scales with N);
- invoke round trip p50/p99, one at a time (round robin) and 16 at a time, against
  a bare probe node (``tests/interop/probe_node.py``, in a process of its own);
- total RSS of the node processes and the CPU all of them use together over 10 s of
  idleness (% of one core); per-node RSS against the probe's, and one node on
  NodeTool's protocol (``nodetool-gateway serve`` + ``run``) measured the same way;
- gateway restart (stop, start the same process config on the same port and state):
  time until all N registered again (each node's own log line) and until all answer an
  invoke, from the stop and from the gateway's "ready"; HTTP 503s the nodes logged (by
  the reason the gateway gave), failed invokes;
- watcher failures ('cannot watch', 'Too many open files') in the node logs.

    .venv/bin/python benchmarks/fleet.py [--n 100] [--calls 200] [--concurrent-calls 800]
        [--idle 10] [--speed] [--keep] [--json]

Every process it starts is stopped at the end, on failure and on Ctrl-C/SIGTERM too
(nodes also get SIGTERM if this process dies: PR_SET_PDEATHSIG). ``--json`` prints
the summary as one JSON object on the last line. ``Fleet`` is also what
``tests/interop/test_fleet.py`` uses.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._harness import child_env, cpu_seconds, percentile, rss_mb
from interop.openclaw import _descendants

__all__ = ["COMMAND", "LOG_PATTERNS", "Fleet", "FleetNode", "connect_operator", "main"]

COMMAND = "nodetool.noop"
ALLOW = (COMMAND, "nodetool.list_workflows", "nodetool.run_workflow")
HANDLER = "benchmarks._handlers:noop"
# Lines counted in the node logs (substring -> key in the summary).
LOG_PATTERNS = {
    "answered HTTP 503": "http_503",
    "cannot reach gateway": "cannot_reach",
    "lost the connection to gateway": "lost_connection",
    "cannot watch": "cannot_watch",
    "Too many open files": "too_many_open_files",
    "the gateway rejected node.invoke.result": "rejected_results",
    "Traceback": "tracebacks",
}
WATCH_KEYS = ("cannot_watch", "too_many_open_files")
# "answered HTTP 503 (Too many unauthenticated sockets); reconnecting in ..." (the reason
# in parentheses when the node logs the response body).
_HTTP_503 = re.compile(r"answered HTTP 503(?: \(([^)]*)\))?")
# "2026-11-28T18:11:42.274Z INFO    nodetool.gateway.client: registered with ws://..."
_REGISTERED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z?\s.*registered with",
                         re.MULTILINE)

# Every node process still running, killed at exit whatever happened.
_LIVE: dict[int, subprocess.Popen] = {}


@atexit.register
def _kill_leftovers() -> None:
    for pid, popen in list(_LIVE.items()):
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        _LIVE.pop(pid, None)


_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    # In the child before exec: SIGTERM if the driver dies (even by SIGKILL). Resolved
    # beforehand, so the child only makes the call (no import, no allocation to speak of).
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: list[str], *, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Start a process of ours: own session (Ctrl-C reaches only the driver, which stops
    it), SIGTERM if the driver dies, killed at exit if still running; output to ``log``
    (appended) or, without one, stdout to a pipe."""
    with open(log, "ab") if log is not None else contextlib.nullcontext() as out:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out if out is not None else subprocess.PIPE,
            stderr=subprocess.STDOUT if out is not None else None, cwd=ROOT, env=env,
            start_new_session=True, preexec_fn=_die_with_parent)  # noqa: PLW1509
    _LIVE[popen.pid] = popen
    return popen


def _family_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (the node's workers, if any)."""
    total = 0.0
    for p in {pid} | _descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            total += cpu_seconds(p)
    return total


def _family_rss(pid: int) -> float:
    total = 0.0
    for p in {pid} | _descendants(pid):
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            total += rss_mb(p)
    return total


def _ms(values: list[float], q: float) -> float | None:
    return percentile(values, q) * 1000 if values else None


@dataclass
class FleetNode:
    """One ``nodetool-gateway run node.yaml`` process and its folder."""

    name: str
    folder: Path
    argv: list[str]
    env: dict[str, str]
    popen: subprocess.Popen | None = None
    device_id: str | None = None

    @property
    def config(self) -> Path:
        return self.folder / "node.yaml"

    @property
    def log(self) -> Path:
        return self.folder / "node.log"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        self.popen = spawn([*self.argv, str(self.config)], env=self.env, log=self.log)

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def log_text(self, offset: int = 0) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@dataclass
class Joined:
    """When each node was first seen connected, approved and answering (s from start)."""

    connected: dict[str, float] = field(default_factory=dict)
    approved: dict[str, float] = field(default_factory=dict)
    answering: dict[str, float] = field(default_factory=dict)
    approve_seconds: list[float] = field(default_factory=list)  # each node.pair.approve, in order
    pending_list_seconds: list[tuple[int, float]] = field(default_factory=list)  # (pending, s)
    failures: Counter = field(default_factory=Counter)


class Fleet:
    """N node processes on one OpenClaw gateway, each with its own config and storage.

    ``start()`` spawns them all at once; ``join(op)`` waits until every one is
    connected, approves each pending command surface, and invokes ``COMMAND`` on
    each until it answers; ``stop()`` SIGTERMs them all (SIGKILL after ``grace``).
    """

    def __init__(self, root: Path, url: str, token: str, n: int, *, prefix: str = "fleet",
                 launcher: list[str] | None = None, log_level: str = "INFO",
                 protocol: str = "openclaw", reload: bool = True,
                 extra: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        self.url = url
        self.token = token
        self.protocol = protocol
        env = child_env()
        # The nodes read their token from the config; keep the driver's out of their env.
        env.pop("NODETOOL_GATEWAY_TOKEN", None)
        base = launcher or [sys.executable, "-m", "nodetool_gateway"]
        argv = [*base, "run", *([] if reload else ["--no-reload"])]
        self.nodes = [FleetNode(f"{prefix}-{i:03d}", self.root / f"{prefix}-{i:03d}", argv, env)
                      for i in range(n)]
        self.log_level = log_level
        self.extra = extra or {}
        self.started_at: float | None = None
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            node.config.write_text(yaml.safe_dump(self.node_config(node), sort_keys=False))

    def node_config(self, node: FleetNode) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "gateway": {"url": self.url, "protocol": self.protocol,
                        "auth": {"token": self.token}},
            "node": {"id": node.name},
            "storage": {"path": str(node.folder / "storage")},
            "workflows": {"paths": []},
            "logging": {"level": self.log_level},
            "shutdown": {"grace": "2s"},
            "commands": {"noop": HANDLER},
        }
        cfg.update(self.extra)
        return cfg

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def names(self) -> set[str]:
        return {n.name for n in self.nodes}

    def by_device(self) -> dict[str, FleetNode]:
        return {n.device_id: n for n in self.nodes if n.device_id}

    def start(self) -> float:
        """Spawn every node now; the start time (monotonic)."""
        self.started_at = time.monotonic()
        for node in self.nodes:
            node.start()
        return self.started_at

    def check(self) -> None:
        """Raise, with the end of its log, if a node has exited."""
        for node in self.nodes:
            code = node.exited()
            if code is not None:
                raise RuntimeError(f"node {node.name} exited with {code}:\n{node.tail()}")

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every node (they drain), SIGKILL whatever is left after ``grace``."""
        live = [n for n in self.nodes if n.popen is not None and n.popen.poll() is None]
        for node in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(n.popen.poll() is None for n in live) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for node in self.nodes:
            if node.popen is None:
                continue
            if node.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.pid, signal.SIGKILL)
                await asyncio.to_thread(node.popen.wait)
            else:
                # A worker the node left behind shares its process group.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(node.pid, signal.SIGKILL)
            _LIVE.pop(node.pid, None)

    # Joining

    async def _map_ids(self, op) -> list[dict[str, Any]]:
        """``node.list``; fills in each node's device id (matched by display name)."""
        entries = await op.list_nodes()
        names = {n.name: n for n in self.nodes}
        for entry in entries:
            node = names.get(entry.get("displayName"))
            if node is not None and node.device_id is None:
                node.device_id = entry.get("nodeId")
        return entries

    async def join(self, op, *, timeout: float = 300.0, in_flight: int = 16,
                   poll: float = 0.2) -> Joined:
        """Wait for every node to connect, approve them all, invoke each until it answers.

        Approval waits for the whole fleet to be connected, then approves the pending
        requests one at a time (as an operator would, and so each approval is timed on
        a machine no longer busy starting nodes).
        """
        assert self.started_at is not None, "start() first"
        t0, out = self.started_at, Joined()
        deadline = time.monotonic() + timeout
        while len(out.connected) < len(self.nodes):
            self.check()
            entries = await self._map_ids(op)
            now = time.monotonic() - t0
            ours = self.by_device()
            for entry in entries:
                node = ours.get(entry.get("nodeId"))
                if node is not None and entry.get("connected"):
                    out.connected.setdefault(node.name, now)
            if time.monotonic() > deadline:
                raise TimeoutError(self._stuck("connected", out.connected, out.connected))
            if len(out.connected) < len(self.nodes):
                await asyncio.sleep(poll)
        ours = self.by_device()
        while len(out.approved) < len(self.nodes):
            self.check()
            began = time.monotonic()
            pending = await op.pending_nodes()
            out.pending_list_seconds.append((len(pending), time.monotonic() - began))
            for req in pending:
                node = ours.get(req.get("nodeId"))
                if node is None:
                    continue
                began = time.monotonic()
                await op.request("node.pair.approve", {"requestId": req["requestId"]})
                out.approve_seconds.append(time.monotonic() - began)
                out.approved.setdefault(node.name, time.monotonic() - t0)
            if time.monotonic() > deadline:
                raise TimeoutError(self._stuck("approved", out.approved, out.connected))
            if len(out.approved) < len(self.nodes):
                await asyncio.sleep(poll)
        await self.until_answering(op, out.answering, t0=t0, deadline=deadline,
                                   failures=out.failures, in_flight=in_flight)
        return out

    async def until_answering(self, op, answering: dict[str, float], *, t0: float,
                              deadline: float, failures: Counter | None = None,
                              connected: dict[str, float] | None = None,
                              in_flight: int = 16, poll: float = 0.2) -> None:
        """Invoke ``COMMAND`` on each node not yet in ``answering`` until every one answers.

        Only nodes ``node.list`` shows connected are invoked (a disconnected one would
        only fail); ``connected`` (if given) records when each was first seen connected.
        """
        failures = failures if failures is not None else Counter()
        gate = asyncio.Semaphore(in_flight)

        async def try_one(node: FleetNode) -> None:
            async with gate:
                try:
                    await op.invoke(node.device_id, COMMAND, {}, timeout_ms=5000, timeout=15)
                except Exception as exc:  # noqa: BLE001 - counted, tried again
                    failures[getattr(exc, "code", None) or type(exc).__name__] += 1
                else:
                    answering.setdefault(node.name, time.monotonic() - t0)

        while len(answering) < len(self.nodes):
            self.check()
            entries = await self._map_ids(op)
            now = time.monotonic() - t0
            live = {e.get("nodeId") for e in entries if e.get("connected")}
            todo = []
            for node in self.nodes:
                if node.device_id in live:
                    if connected is not None:
                        connected.setdefault(node.name, now)
                    if node.name not in answering:
                        todo.append(node)
            await asyncio.gather(*(try_one(n) for n in todo))
            if len(answering) >= len(self.nodes):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(self._stuck("answering", answering, connected or {}))
            await asyncio.sleep(poll)

    def _stuck(self, what: str, done: dict[str, float], connected: dict[str, float]) -> str:
        missing = sorted(self.names - set(done))
        sample = self.nodes[[n.name for n in self.nodes].index(missing[0])] if missing else None
        return (f"{len(missing)} of {len(self.nodes)} nodes not {what} "
                f"({len(connected)} seen connected): {missing[:10]}"
                + (f"\nlog of {sample.name}:\n{sample.tail()}" if sample else ""))

    # Reading the processes

    def rss_mb(self) -> list[float]:
        return [_family_rss(n.pid) for n in self.nodes]

    def cpu(self) -> float:
        return sum(_family_cpu(n.pid) for n in self.nodes)

    def log_offsets(self) -> list[int]:
        return [n.log_size() for n in self.nodes]

    def count_logs(self, offsets: list[int] | None = None) -> dict[str, Any]:
        """Lines matching each of ``LOG_PATTERNS`` in the node logs (after ``offsets``)."""
        totals: Counter = Counter()
        nodes_with: Counter = Counter()
        reasons: Counter = Counter()
        for i, node in enumerate(self.nodes):
            text = node.log_text(offsets[i] if offsets else 0)
            for pattern, key in LOG_PATTERNS.items():
                hits = text.count(pattern)
                totals[key] += hits
                nodes_with[key] += bool(hits)
            reasons.update(m.group(1) or "(no reason logged)" for m in _HTTP_503.finditer(text))
        return {"lines": {k: totals[k] for k in LOG_PATTERNS.values()},
                "nodes": {k: nodes_with[k] for k in LOG_PATTERNS.values()},
                "http_503_reasons": dict(reasons.most_common())}

    def registered_at(self, offsets: list[int] | None = None) -> dict[str, float]:
        """When each node next logged "registered with" (after ``offsets``): epoch seconds.

        The node's own clock, so independent of when an operator could look.
        """
        from datetime import UTC, datetime

        found = {}
        for i, node in enumerate(self.nodes):
            m = _REGISTERED.search(node.log_text(offsets[i] if offsets else 0))
            if m:
                stamp = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
                found[node.name] = stamp.timestamp()
        return found

    def sample_lines(self, pattern: str, limit: int = 3) -> list[str]:
        found = []
        for node in self.nodes:
            for line in node.log_text().splitlines():
                if pattern in line:
                    found.append(f"{node.name}: {line.strip()}")
                    break
            if len(found) >= limit:
                break
        return found


async def connect_operator(gw, timeout: float = 60.0) -> tuple[Any, Counter]:
    """``gw.operator()``, tried again while the gateway refuses the upgrade (HTTP 503:
    a fleet reconnecting fills its budget of unauthenticated sockets per IP) or is not
    listening yet; the operator and the refusals it met."""
    from websockets.exceptions import InvalidStatus

    refused: Counter = Counter()
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await gw.operator(), refused
        except InvalidStatus as exc:
            refused[f"HTTP {exc.response.status_code}"] += 1
            if exc.response.status_code != 503 or time.monotonic() > deadline:
                raise
        except (OSError, TimeoutError) as exc:
            refused[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


# The bare probe node, in a process of its own


_PROBE_SCRIPT = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from interop.probe_node import ProbeNode

async def main():
    probe = ProbeNode(sys.argv[2], token=sys.argv[3], commands=[sys.argv[4]],
                      display_name=sys.argv[5])
    await probe.connect()
    print(probe.device_id, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class Probe:
    """``tests/interop/probe_node.py`` answering ``COMMAND`` at once: the baseline."""

    def __init__(self, url: str, token: str, name: str = "fleet-probe") -> None:
        self.argv = [sys.executable, "-c", _PROBE_SCRIPT, str(ROOT / "tests"), url, token,
                     COMMAND, name]
        self.popen: subprocess.Popen | None = None
        self.device_id: str | None = None

    async def start(self, timeout: float = 30) -> str:
        self.popen = spawn(self.argv, env=child_env())
        line = await asyncio.wait_for(asyncio.to_thread(self.popen.stdout.readline), timeout)
        if not line:
            raise RuntimeError(f"probe node exited with {self.popen.wait()}")
        self.device_id = line.decode().strip()
        return self.device_id

    async def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.popen.wait), 5)
            except TimeoutError:
                self.popen.kill()
                await asyncio.to_thread(self.popen.wait)
        _LIVE.pop(self.popen.pid, None)


# Invoke latency


async def sequential(op, ids: list[str], calls: int) -> tuple[list[float], Counter]:
    """Invokes one at a time, round-robin over ``ids``."""
    times, failed, _ = await concurrent(op, ids, calls, 1)
    return times, failed


async def concurrent(op, ids: list[str], calls: int, in_flight: int
                     ) -> tuple[list[float], Counter, float]:
    times, failed = [], Counter()
    counter = iter(range(calls))

    async def worker() -> None:
        for i in counter:
            start = time.perf_counter()
            try:
                await op.invoke(ids[i % len(ids)], COMMAND, {}, timeout_ms=10_000)
            except Exception as exc:  # noqa: BLE001
                failed[getattr(exc, "code", None) or type(exc).__name__] += 1
                continue
            times.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return times, failed, time.perf_counter() - began


# One node on NodeTool's protocol, for its idle RSS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def nodetool_protocol_node(root: Path, launcher: list[str], calls: int, settle: float
                                 ) -> dict[str, float]:
    """``nodetool-gateway serve`` + one ``run`` node on it: RSS after ``calls`` no-ops."""
    from nodetool_gateway.gateway import OperatorClient

    root.mkdir(parents=True, exist_ok=True)
    port, token = _free_port(), "fleet-nodetool-token"
    env = {**child_env(), "NODETOOL_GATEWAY_TOKEN": token}
    serve = spawn([sys.executable, "-m", "nodetool_gateway", "serve", "--port", str(port),
                   "--log-level", "warning"], env=env, log=root / "serve.log")
    fleet = Fleet(root / "nodes", f"ws://127.0.0.1:{port}", token, 1, prefix="nodetool",
                  launcher=launcher, log_level="WARNING", protocol="nodetool")
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if serve.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nodetool-gateway serve did not listen: "
                                   f"{(root / 'serve.log').read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        fleet.start()
        node = fleet.nodes[0]
        async with OperatorClient.connect(f"ws://127.0.0.1:{port}", token) as op:
            while not any(n.get("node_id") == node.name for n in await op.list_nodes()):
                fleet.check()
                if time.monotonic() > deadline + 30:
                    raise RuntimeError(f"NodeTool-protocol node never registered:\n{node.tail()}")
                await asyncio.sleep(0.05)
            registered = time.monotonic() - fleet.started_at
            failed = 0
            for _ in range(calls):
                answer = await op.call("noop", {}, node_id=node.name, timeout=10)
                failed += answer.get("status") != "success"
            await asyncio.sleep(settle)
            return {"rss_mb": _family_rss(node.pid), "registered_s": registered,
                    "failed": failed}
    finally:
        with _cleaning_up():
            await fleet.stop()
            if serve.poll() is None:
                serve.terminate()
                try:
                    await asyncio.wait_for(asyncio.to_thread(serve.wait), 10)
                except TimeoutError:
                    serve.kill()
                    await asyncio.to_thread(serve.wait)
            _LIVE.pop(serve.pid, None)


# The run


def _log(msg: str) -> None:
    print(f"[fleet {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _spread(values: dict[str, float]) -> float | None:
    return max(values.values()) if values else None


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from interop.openclaw import OpenClawGateway

    launcher = [sys.executable, str(ROOT / "benchmarks" / "_launch.py"),
                "speed" if args.speed else "default", "-m", "nodetool_gateway"]
    n = args.n
    s: dict[str, Any] = {"n": n, "mode": "speed" if args.speed else "default",
                         "inotify_max_user_instances": _read_int(
                             "/proc/sys/fs/inotify/max_user_instances")}

    _log("one node on NodeTool's protocol (nodetool-gateway serve), for its idle RSS")
    s["nodetool_node"] = await nodetool_protocol_node(tmp / "nodetool", launcher,
                                                      calls=args.solo_calls, settle=args.settle)

    gw = OpenClawGateway(tmp / "gw", allow_commands=ALLOW)
    fleet = Fleet(tmp / "nodes", "ws://127.0.0.1:0", "", 0)  # replaced once the port is known
    probe: Probe | None = None
    op = None
    try:
        _log("starting the OpenClaw gateway")
        await gw.start()
        s["gateway_start_s"] = gw.started_in
        fleet = Fleet(tmp / "nodes", gw.url, gw.token, n, launcher=launcher)
        op, _ = await connect_operator(gw)

        _log(f"starting {n} nodes")
        fleet.start()
        joined = await fleet.join(op, timeout=args.join_timeout)
        ap = joined.approve_seconds
        tenth = max(1, len(ap) // 10)
        lists = [sec for pending, sec in joined.pending_list_seconds if pending]
        s["join"] = {
            "all_connected_s": _spread(joined.connected),
            "all_approved_s": _spread(joined.approved),
            "all_answering_s": _spread(joined.answering),
            "first_connected_s": min(joined.connected.values()),
            "approve_p50_ms": _ms(ap, 0.5), "approve_max_ms": _ms(ap, 1.0),
            "approve_total_s": sum(ap),
            "approve_first_tenth_ms": statistics.mean(ap[:tenth]) * 1000,
            "approve_last_tenth_ms": statistics.mean(ap[-tenth:]) * 1000,
            "pair_list_max_ms": max(lists) * 1000 if lists else None,
            "pair_list_max_pending": max((p for p, _ in joined.pending_list_seconds), default=0),
            "failed_invokes": dict(joined.failures),
        }
        _log(f"all {n} answering after {s['join']['all_answering_s']:.1f} s")

        _log("bare probe node (baseline)")
        probe = Probe(gw.url, gw.token)
        await probe.start()
        await op.wait_for_node(probe.device_id)
        await op.approve_pending_nodes(probe.device_id)
        ids = [node.device_id for node in fleet.nodes]
        await sequential(op, [probe.device_id], 20)  # warm up both paths
        await sequential(op, ids, min(len(ids), 20))

        _log(f"invokes: {args.calls} one at a time, {args.concurrent_calls} "
             f"{args.in_flight} at a time (A B x {args.repeat})")
        seq = {"bare": [], "fleet": []}
        conc = {"bare": [], "fleet": []}
        rates = {"bare": [], "fleet": []}
        failed: Counter = Counter()
        for _ in range(args.repeat):
            for side, targets in (("bare", [probe.device_id]), ("fleet", ids)):
                times, f1 = await sequential(op, targets, args.calls)
                seq[side] += times
                times, f2, secs = await concurrent(op, targets, args.concurrent_calls,
                                                   args.in_flight)
                conc[side] += times
                rates[side].append(len(times) / secs)
                if side == "fleet":
                    failed += f1 + f2
        s["invoke"] = {side: {"seq_p50_ms": _ms(seq[side], 0.5), "seq_p99_ms": _ms(seq[side], 0.99),
                              "conc_p50_ms": _ms(conc[side], 0.5),
                              "conc_p99_ms": _ms(conc[side], 0.99),
                              "conc_per_s": statistics.median(rates[side])}
                       for side in seq}
        s["invoke"]["failed"] = dict(failed)

        _log(f"idle: {args.settle:g} s settle, then {args.idle:g} s of CPU")
        await asyncio.sleep(args.settle)
        gw_pids = gw.processes()
        cpu0, gcpu0, pcpu0 = fleet.cpu(), _cpus(gw_pids), _family_cpu(probe.popen.pid)
        began = time.monotonic()
        await asyncio.sleep(args.idle)
        wall = time.monotonic() - began
        cpu1, gcpu1, pcpu1 = fleet.cpu(), _cpus(gw_pids), _family_cpu(probe.popen.pid)
        rss = fleet.rss_mb()
        s["idle"] = {"nodes_cpu_pct": (cpu1 - cpu0) / wall * 100,
                     "per_node_cpu_pct": (cpu1 - cpu0) / wall * 100 / n,
                     "probe_cpu_pct": (pcpu1 - pcpu0) / wall * 100,
                     "gateway_cpu_pct": (gcpu1 - gcpu0) / wall * 100,
                     "seconds": wall,
                     "rss_total_mb": sum(rss), "rss_median_mb": statistics.median(rss),
                     "rss_max_mb": max(rss), "probe_rss_mb": _family_rss(probe.popen.pid),
                     "gateway_rss_mb": sum(_family_rss(p) for p in gw_pids)}
        await probe.stop()
        probe = None

        _log("restarting the gateway (same port, same state)")
        before = fleet.count_logs()
        offsets = fleet.log_offsets()
        await op.close()
        op = None
        t0, t0_wall = time.monotonic(), time.time()
        await gw.stop()
        stopped = time.monotonic() - t0
        await gw.start()
        ready = time.monotonic() - t0
        op, op_refused = await connect_operator(gw, args.restart_timeout)
        op_connected = time.monotonic() - t0
        connected: dict[str, float] = {}
        answering: dict[str, float] = {}
        failures: Counter = Counter()
        timed_out = False
        try:
            await fleet.until_answering(op, answering, t0=t0, connected=connected,
                                        deadline=time.monotonic() + args.restart_timeout,
                                        failures=failures, in_flight=args.in_flight)
        except TimeoutError as exc:
            timed_out = True
            _log(f"restart: {exc}")
        await asyncio.sleep(1)  # let the last log lines land
        after = fleet.count_logs(offsets)
        registered = {k: v - t0_wall for k, v in fleet.registered_at(offsets).items()}
        all_registered = _spread(registered) if len(registered) == n else None
        all_back = _spread(answering) if not timed_out else None
        s["restart"] = {"stop_s": stopped, "ready_s": ready,
                        "operator_connected_s": op_connected,
                        "operator_refused": dict(op_refused),
                        "all_connected_s": _spread(connected) if len(connected) == n else None,
                        "all_registered_s": all_registered,
                        "all_registered_after_ready_s": (all_registered - ready
                                                         if all_registered else None),
                        "registered_after_ready_s": sorted(round(v - ready, 2)
                                                           for v in registered.values()),
                        "all_answering_s": all_back,
                        "all_answering_after_ready_s": all_back - ready if all_back else None,
                        "answering": len(answering), "timed_out": timed_out,
                        "failed_invokes": dict(failures),
                        "logs": after,
                        "answering_after_ready_s": sorted(round(v - ready, 2)
                                                          for v in answering.values())}
        s["logs_before_restart"] = before
        s["logs_total"] = fleet.count_logs()
        s["samples"] = {key: fleet.sample_lines(p) for p, key in LOG_PATTERNS.items()
                        if s["logs_total"]["lines"][key]}
    finally:
        with _cleaning_up():
            if op is not None:
                with contextlib.suppress(Exception):
                    await op.close()
            if probe is not None:
                await probe.stop()
            _log("stopping the nodes and the gateway")
            await fleet.stop()
            await gw.stop()
    return s


def _cpus(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            total += cpu_seconds(pid)
    return total


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return None


# The table


def _f(v: Any, digits: int = 1, unit: str = "") -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}{(' ' + unit) if unit else ''}"


def report(s: dict[str, Any]) -> None:
    n = s["n"]
    j, inv, idle, r = s["join"], s["invoke"], s["idle"], s["restart"]
    rows: list[tuple[str, str, str, str, str]] = []

    def row(figure: str, fleet: Any, base: Any = None, unit: str = "", digits: int = 1,
            target: str = "") -> None:
        ratio = f"{fleet / base:.2f}x" if isinstance(fleet, (int, float)) and base else "-"
        rows.append((figure, _f(fleet, digits, unit), _f(base, digits, unit), ratio, target))

    row(f"start -> all {n} connected", j["all_connected_s"], unit="s")
    row(f"start -> all {n} approved", j["all_approved_s"], unit="s")
    row(f"start -> all {n} answering", j["all_answering_s"], unit="s")
    row(f"approving all {n}, one at a time", j["approve_total_s"], unit="s", digits=2)
    row("node.pair.approve, p50", j["approve_p50_ms"], unit="ms")
    row("approve: last tenth / first tenth", j["approve_last_tenth_ms"],
        j["approve_first_tenth_ms"], unit="ms")
    for label, key in (("invoke one at a time, p50", "seq_p50_ms"),
                       ("invoke one at a time, p99", "seq_p99_ms"),
                       ("invoke 16 at a time, p50", "conc_p50_ms"),
                       ("invoke 16 at a time, p99", "conc_p99_ms"),
                       ("invokes/s, 16 at a time", "conc_per_s")):
        row(label, inv["fleet"][key], inv["bare"][key], unit="" if "per_s" in key else "ms",
            digits=0 if "per_s" in key else 2)
    row(f"RSS of all {n} nodes", idle["rss_total_mb"], unit="MB", digits=0)
    row("RSS per node (median) vs probe", idle["rss_median_mb"], idle["probe_rss_mb"], unit="MB")
    row("RSS per node: OpenClaw vs NodeTool protocol", idle["rss_median_mb"],
        s["nodetool_node"]["rss_mb"], unit="MB")
    row(f"idle CPU of all {n} nodes, % of a core", idle["nodes_cpu_pct"], unit="%", digits=2,
        target="< 5 %")
    row("idle CPU per node vs probe, % of a core", idle["per_node_cpu_pct"],
        idle["probe_cpu_pct"] or None, unit="%", digits=3)
    row("gateway restart: stop, then ready", r["ready_s"], unit="s")
    row(f"restart -> all {n} registered again (node logs), from stop", r["all_registered_s"],
        unit="s")
    row("  the same, from gateway ready", r["all_registered_after_ready_s"], unit="s",
        target="<= 15 s")
    row(f"restart -> all {n} answering an invoke, from stop", r["all_answering_s"], unit="s")
    row("  the same, from gateway ready", r["all_answering_after_ready_s"], unit="s",
        target="<= 15 s")
    row("HTTP 503s the nodes logged joining (start)", s["logs_before_restart"]["lines"]["http_503"],
        digits=0)
    row("HTTP 503s the nodes logged after restart", r["logs"]["lines"]["http_503"], digits=0)
    row("failed invokes while waiting (after restart)", sum(r["failed_invokes"].values()),
        digits=0)
    row("failed invokes in the latency runs", sum(inv["failed"].values()), digits=0)
    row("results the gateway rejected (node logs)",
        s["logs_total"]["lines"]["rejected_results"], digits=0)
    watch = sum(s["logs_total"]["lines"][k] for k in WATCH_KEYS)
    row("watcher failures in node logs", watch, digits=0, target="0")

    print(f"{n} nodes on one OpenClaw gateway ({s['mode']} install; baseline: bare probe "
          "node where given)")
    widths = [max(len(x[i]) for x in rows + [("figure", "fleet", "baseline", "ratio", "target")])
              for i in range(5)]
    header = ("figure", "fleet", "baseline", "ratio", "target")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for x in rows:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(x, widths))))
    print(f"approve max {j['approve_max_ms']:.1f} ms; approvals {j['approve_total_s']:.2f} s in "
          f"all; node.pair.list up to {_f(j['pair_list_max_ms'])} ms with "
          f"{j['pair_list_max_pending']} pending")
    print(f"gateway: idle CPU {idle['gateway_cpu_pct']:.2f} % of a core, RSS "
          f"{idle['gateway_rss_mb']:.0f} MB; NodeTool-protocol node registered in "
          f"{s['nodetool_node']['registered_s']:.2f} s")
    print(f"restart: stop {r['stop_s']:.1f} s, ready {r['ready_s']:.1f} s, all connected "
          f"{_f(r['all_connected_s'])} s, {r['answering']}/{n} answering; failed invokes "
          f"{r['failed_invokes'] or 0}; node log lines after restart {r['logs']['lines']}")
    for phase, logs in (("start", s["logs_before_restart"]), ("restart", r["logs"])):
        if logs["http_503_reasons"]:
            print(f"HTTP 503 at {phase} ({logs['nodes']['http_503']} nodes): "
                  + "; ".join(f"{k}: {v}" for k, v in logs["http_503_reasons"].items()))
    if r["operator_refused"]:
        print(f"restart: the operator's own connect was refused {r['operator_refused']}")
    for what, key in (("registered again", "registered_after_ready_s"),
                      ("answering again", "answering_after_ready_s")):
        if r[key]:
            ts = r[key]
            print(f"restart: {what} after ready, s: min {ts[0]}, p50 {ts[len(ts) // 2]}, "
                  f"p90 {ts[int(len(ts) * 0.9)]}, max {ts[-1]}")
    print(f"restart: operator connected {r['operator_connected_s'] - r['ready_s']:.1f} s after "
          "ready (an invoke cannot be seen answered before that)")
    print(f"node log lines, whole run: {s['logs_total']['lines']}; "
          f"inotify max_user_instances {s['inotify_max_user_instances']}")
    for key, lines in s.get("samples", {}).items():
        for line in lines[:2]:
            print(f"  e.g. {key}: {line[:220]}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="node processes (default 100)")
    parser.add_argument("--calls", type=int, default=200, help="one-at-a-time invokes per run")
    parser.add_argument("--concurrent-calls", type=int, default=800,
                        help="invokes per run with --in-flight at a time")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2, help="A B runs of bare and fleet")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument("--settle", type=float, default=2.0, help="quiet seconds before idle/RSS")
    parser.add_argument("--solo-calls", type=int, default=20,
                        help="no-ops sent to the NodeTool-protocol node before its RSS")
    parser.add_argument("--join-timeout", type=float, default=600.0)
    parser.add_argument("--restart-timeout", type=float, default=300.0)
    parser.add_argument("--speed", action="store_true", help="nodes with uvloop + orjson")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    parser.add_argument("--json", action="store_true", help="also print the summary as JSON")
    return parser.parse_args(argv)


_cleaning = False  # in a cleanup: a signal does not cancel it


@contextlib.contextmanager
def _cleaning_up():
    global _cleaning
    was, _cleaning = _cleaning, True
    try:
        yield
    finally:
        _cleaning = was


def _stop_on_signals(task: asyncio.Task) -> None:
    """SIGTERM and SIGINT cancel ``task`` until it is cleaning up.

    Cancelled again every 0.5 s: on Python 3.11 ``asyncio.wait_for`` (the harness
    awaits every reply with it) swallows a cancel that arrives as its reply does.
    """
    loop = asyncio.get_running_loop()

    def cancel() -> None:
        if not _cleaning and not task.done():
            task.cancel()
            loop.call_later(0.5, cancel)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, cancel)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    _stop_on_signals(asyncio.current_task())
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        return await run(args, tmp)
    finally:
        if args.keep:
            _log(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        summary = asyncio.run(_main(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        _log("interrupted; the processes it started are stopped")
        return 130
    report(summary)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
