"""The attack suite, the long run: real processes on 127.0.0.1, hostile input of every class.

    .venv/bin/python -m benchmarks.attacks                    # both installs, writes ATTACKS.md
    .venv/bin/python -m benchmarks.attacks --quick            # smaller floods, prints only
    .venv/bin/python -m benchmarks.attacks --install default --only frames,workflows --no-write

The tests (tests/test_protocol_limits.py, test_workers.py, test_gateway_stall.py,
gateway/test_hardening.py, test_secrets.py, config/, test_reload.py, test_job_records.py)
check each defence once, in process. This runs the same attacks, and more of each class,
against the real thing: ``nodetool-gateway run node.yaml`` as a subprocess (through
``_launch.py``, so once as the default install and once with the speed extra), joined to
a gateway this process plays (a websockets server speaking the NodeTool protocol), and
``nodetool-gateway serve`` as a subprocess for the local gateway's own defences.

While a case runs, a probe sends ``echo`` to the node every 20 ms and records each round
trip, and every heartbeat's arrival is recorded (``heartbeat.interval`` 0.5 s). The
case's *stall* is the longest echo round trip, or the longest heartbeat gap less the
interval, whichever is larger. For a single hostile request (frames, workflows) the
stall must stay under 100 ms for the case to hold; for floods and for cases that drop
the connection on purpose it is shown in parentheses and not judged. The node's RSS
(and its workers', summed) is read from /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
ATTACKS_MD = BENCH / "ATTACKS.md"
LAUNCH = BENCH / "_launch.py"

TOKEN = "attack-token"
INTERVAL = 0.5          # heartbeat.interval of every node under attack
HB_TIMEOUT = 3.0        # heartbeat.timeout
MAX_MESSAGE = 4 << 20   # gateway.max_message_size
MAX_RUN_TIME = 3.0      # engine.max_run_time
STOP_GRACE = 2.0        # the worker pool's grace before a kill (workers/_pool.py)
STALL_TARGET = 0.100
PROBE_PERIOD = 0.020
SAMPLE_PERIOD = 0.020
TAIL = 0.3              # probing goes on this long after a case's last step
CASE_TIMEOUT = 120.0

FINAL = frozenset({"command_response", "workflow_response", "error"})
CLASSES = ("baseline", "frames", "workflows", "gateway", "floods", "config", "secrets",
           "serve", "storage")


@dataclass(frozen=True)
class Sizes:
    burst: int = 5_000          # unknown commands; echo requests
    background: int = 2_000     # start_background_job
    runs: int = 500             # run_workflow at once
    big_frames: int = 40        # 3 MiB frames at once
    registrations: int = 3_000  # throwaway registrations on serve
    list_nodes: int = 100
    connections: int = 270      # past serve's --max-connections (256)


FULL = Sizes()
QUICK = Sizes(burst=500, background=200, runs=50, big_frames=5, registrations=300, list_nodes=10)


# What the node under attack routes, and the node types it loads: written beside node.yaml.

HANDLERS = '''\
"""Handlers of the attack suite's node."""

import asyncio
from typing import Any

RUNS: dict = {}


async def echo(n: int = 0, value: Any = None) -> dict:
    return {"n": n, "value": value}


async def slow(key: str, seconds: float = 0.3) -> dict:
    RUNS[key] = RUNS.get(key, 0) + 1
    await asyncio.sleep(seconds)
    return {"key": key, "runs": RUNS[key]}


async def blob(key: str, size: int) -> dict:
    RUNS[key] = RUNS.get(key, 0) + 1
    return {"key": key, "runs": RUNS[key], "blob": (key * (size // len(key) + 1))[:size]}


async def leak() -> None:
    """A handler whose error message carries the token (logged by the node)."""
    import os
    raise RuntimeError("the token is " + os.environ.get("NODE_TOKEN", ""))


def leak_key() -> None:
    """The same in a thread, as a KeyError: its message is the token's repr."""
    import os
    raise KeyError(os.environ.get("NODE_TOKEN", ""))
'''

NODES = '''\
"""Node types of the attack suite: one that holds its worker's loop, one that waits."""

import asyncio
import time
from typing import Any

from nodetool_gateway.engine import BaseNode

NAMESPACE = "attack"


class Hog(BaseNode):
    """time.sleep inside async code: the worker's loop is held, as by a runaway regex."""

    seconds: float = 1.0

    async def process(self, context: Any) -> str:
        time.sleep(self.seconds)
        return "awake"


class Nap(BaseNode):
    seconds: float = 1.0

    async def process(self, context: Any) -> str:
        await asyncio.sleep(self.seconds)
        return "rested"
'''

# A module named like one the node imports, beside node.yaml: it leaves a marker if it is
# ever imported, then steps aside for the real module (so every such import is seen).
SHADOW = '''\
import importlib, os, sys
open({marker!r} + "-" + __name__, "w").close()
_here = os.path.dirname(os.path.abspath(__file__))
_saved = sys.path[:]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules[__name__]
try:
    _real = importlib.import_module(__name__)
finally:
    sys.path[:] = _saved
sys.modules[__name__] = _real
'''

# Modules a file beside node.yaml must not replace: the standard library's, and the
# node's own dependencies (imported late in worker processes).
STDLIB_NAMES = ("json", "re", "uuid", "sqlite3", "asyncio", "typing", "pickle", "socket", "csv")
DEPENDENCY_NAMES = ("yaml", "jinja2", "re2", "pydantic", "websockets", "watchfiles")

NODE_CONFIG = """\
gateway:
  url: "{url}"
  auth: {{token: "{token}"}}
  max_message_size: 4MiB
node: {{id: {node_id}}}
heartbeat: {{interval: 500ms, timeout: 3s}}
retry: {{initial_delay: 100ms, max_delay: 1s, jitter: 0}}
limits: {{max_concurrency: 32, max_pending: 1000}}
shutdown: {{grace: 2s}}
storage: {{path: "{storage}"}}
workflows: {{paths: ["{workflows}"]}}
engine: {{max_run_time: 3s, workers: 2, max_concurrent_runs: 16, max_background_jobs: 100}}
nodes: {{modules: [attack_nodes]}}
logging: {{level: {level}}}
commands:
  echo: attack_handlers:echo
  slow: attack_handlers:slow
  blob: attack_handlers:blob
"""


def graph(*nodes: dict, edges: list[tuple[str, str, str, str]] | None = None) -> dict:
    """A NodeTool graph: nodes as given, edges as (source, handle, target, handle)."""
    return {"nodes": [{"dynamic_properties": {}, **n} for n in nodes],
            "edges": [{"id": f"e{i}", "source": s, "sourceHandle": sh, "target": t,
                       "targetHandle": th} for i, (s, sh, t, th) in enumerate(edges or [])]}


def single(node_type: str, dynamic: dict | None = None, **data: Any) -> dict:
    """One node of ``node_type`` feeding an output named ``out``."""
    node = {"id": "n", "type": node_type, "data": data}
    if dynamic:
        node["dynamic_properties"] = dynamic
    return graph(node, {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}},
                 edges=[("n", "output", "o", "value")])


NAP_WORKFLOW = {"id": "nap", "name": "nap", "graph": single("attack.Nap", seconds=0.2)}
TRIVIAL = graph({"id": "a", "type": "nodetool.constant.Integer", "data": {"value": 6}},
                {"id": "o", "type": "nodetool.output.Output", "data": {"name": "v"}},
                edges=[("a", "output", "o", "value")])


# /proc


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


class Sampler:
    """VmRSS of a process and of its children, every 20 ms, for its whole life."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int, int]] = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        clock = time.perf_counter
        while True:
            node = rss_kb(self.pid)
            if node == 0:
                return
            kids = sum(rss_kb(c) for c in children(self.pid))
            self.samples.append((clock(), node, kids))
            await asyncio.sleep(SAMPLE_PERIOD)

    def peak(self, t0: float, t1: float) -> tuple[float, float]:
        """Peak RSS of the process and of its children (summed) in MB, between t0 and t1."""
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        if not window:
            return 0.0, 0.0
        return (max(s[1] for s in window) * 1024 / 1e6, max(s[2] for s in window) * 1024 / 1e6)

    def now(self) -> float:
        return rss_kb(self.pid) * 1024 / 1e6

    def stop(self) -> None:
        self.task.cancel()


# Processes


def launch(mode: str, *args: str) -> list[str]:
    """``python -m nodetool_gateway ARGS`` as the default install or with the speed extra."""
    return [sys.executable, str(LAUNCH), mode, "-m", "nodetool_gateway", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A process under attack; its stdout and stderr go to ``log`` (through a pipe when
    its files are size-limited, so that the limit cannot cut its log short)."""

    def __init__(self, argv: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None,
                 fsize: int | None = None) -> None:
        self.argv, self.log, self.cwd = argv, log, cwd
        self.env = env if env is not None else dict(os.environ)
        self.fsize = fsize
        self.popen: subprocess.Popen[bytes] | None = None
        self.sampler: Sampler | None = None
        self._copier: threading.Thread | None = None

    def start(self) -> Proc:
        preexec = None
        if self.fsize is not None:
            limit = self.fsize

            def preexec() -> None:  # the soft limit only, so it can be raised again later
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        if self.fsize is None:
            with open(self.log, "ab") as out:
                self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=subprocess.STDOUT, cwd=self.cwd, env=self.env)
        else:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          cwd=self.cwd, env=self.env, preexec_fn=preexec)
            self._copier = threading.Thread(target=self._copy, daemon=True)
            self._copier.start()
        self.sampler = Sampler(self.popen.pid)
        return self

    def _copy(self) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        with open(self.log, "ab") as out:
            for chunk in iter(lambda: self.popen.stdout.read1(65536), b""):  # type: ignore[union-attr]
                out.write(chunk)
                out.flush()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 8) -> str:
        return " | ".join(self.text().splitlines()[-lines:])

    async def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.returncode

    async def stop(self, timeout: float = 10) -> None:
        """SIGTERM (a node drains), then SIGKILL if it is still there."""
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)
            if await self.wait(timeout) is None:
                self.popen.kill()
                await asyncio.to_thread(self.popen.wait)
        if self.sampler is not None:
            self.sampler.stop()
        if self._copier is not None:
            await asyncio.to_thread(self._copier.join, 5)


# The gateway the node joins: this process


class Link:
    """One node connection as the gateway sees it."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.auth = ws.request.headers.get("Authorization") if ws.request else None
        self.path = ws.request.path if ws.request else ""
        self.heartbeats: list[float] = []
        self.registration: dict | None = None
        self.closed_at: float | None = None
        self.close_code: int | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


class Track:
    """The frames that came back for one request id."""

    __slots__ = ("finals", "acks", "updates", "done", "first_at")

    def __init__(self) -> None:
        self.finals: list[dict] = []
        self.acks = 0
        self.updates = 0
        self.done = asyncio.Event()
        self.first_at = 0.0


class Tally:
    """Answers to a burst whose request ids are ``PREFIX:N``: by code, once per id."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.answered: set[str] = set()
        self.codes: Counter[str] = Counter()
        self.repeats = 0
        self.done = asyncio.Event()

    def add(self, rid: str, frame: dict) -> None:
        if rid in self.answered:
            self.repeats += 1
            return
        self.answered.add(rid)
        code = frame.get("code") or frame.get("status") or frame.get("type")
        self.codes[str(code)] += 1
        if len(self.answered) >= self.expected:
            self.done.set()


class Gateway:
    """A websockets server on 127.0.0.1 playing the NodeTool gateway for the node.

    It records registrations and heartbeats (arrival times), matches answers to the
    requests sent, and runs the echo probe on the newest registered connection.
    """

    _ids = itertools.count(1)

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.refuse_status: int | None = None
        self.links: list[Link] = []
        self.link: Link | None = None
        self.registrations: list[tuple[float, Link, dict]] = []
        self.tracks: dict[str, Track] = {}
        self.tallies: dict[str, Tally] = {}
        self.untracked: Counter[str] = Counter()
        self.errors: list[dict] = []  # error frames without a tracked request id
        self.probe_sent: dict[str, float] = {}
        self.probe_done: list[tuple[float, float]] = []  # (sent, round trip)
        self.probing = True
        self.lag: list[tuple[float, float]] = []  # this process's own loop lag
        self._server: Any = None
        self._tasks: list[asyncio.Task] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> Gateway:
        self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._check,
                                   max_size=None, compression=None, ping_interval=None,
                                   close_timeout=1)
        self.port = self._server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._probe()), loop.create_task(self._ticker())]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for link in self.links:
            if link.open:
                link.ws.transport.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3)

    def _check(self, connection: ServerConnection, request: Any) -> Any:
        if self.refuse_status is not None:
            return connection.respond(self.refuse_status, "refused\n")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(401, "a token is required\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        link = Link(ws)
        self.links.append(link)
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    self.untracked["not json"] += 1
                    continue
                if isinstance(frame, dict):
                    self._on_frame(link, frame)
        except ConnectionClosed:
            pass
        finally:
            link.closed_at = time.perf_counter()
            link.close_code = ws.close_code

    def _on_frame(self, link: Link, frame: dict) -> None:
        now = time.perf_counter()
        kind = frame.get("type")
        if kind == "heartbeat":
            link.heartbeats.append(now)
            return
        if kind == "node_registration":
            link.registration = frame
            self.link = link
            self.registrations.append((now, link, frame))
            return
        rid = frame.get("request_id")
        if kind in FINAL:
            if rid is not None:
                sent = self.probe_sent.pop(rid, None)
                if sent is not None:
                    self.probe_done.append((sent, now - sent))
                    return
                track = self.tracks.get(rid)
                if track is not None:
                    if not track.finals:
                        track.first_at = now
                    track.finals.append(frame)
                    track.done.set()
                    return
                prefix, colon, _ = rid.partition(":")
                tally = self.tallies.get(prefix) if colon else None
                if tally is not None:
                    tally.add(rid, frame)
                    return
            if kind == "error":
                self.errors.append(frame)
            self.untracked[str(kind)] += 1
        elif rid is not None and rid in self.tracks:
            if kind == "ack":
                self.tracks[rid].acks += 1
            elif kind == "workflow_update":
                self.tracks[rid].updates += 1

    # The probe, and this process's own loop

    async def _probe(self) -> None:
        n = 0
        clock = time.perf_counter
        while True:
            await asyncio.sleep(PROBE_PERIOD)
            link = self.link
            if not self.probing or link is None or not link.open:
                continue
            n += 1
            rid = f"p{n}"
            self.probe_sent[rid] = clock()
            try:
                await link.ws.send('{"type":"command_request","request_id":"%s","command":"echo",'
                                   '"args":{"n":%d}}' % (rid, n))
            except ConnectionClosed:
                self.probe_sent.pop(rid, None)

    async def _ticker(self) -> None:
        clock = time.perf_counter
        last = clock()
        while True:
            await asyncio.sleep(0.01)
            now = clock()
            if now - last - 0.01 > 0.005:
                self.lag.append((now, now - last - 0.01))
            last = now

    def stall(self, t0: float, t1: float, now: float) -> tuple[float, float, float, float]:
        """(stall, echo round trip, heartbeat gap less the interval, this process's lag), max
        over the window; a probe still unanswered counts until ``now``."""
        echo = max((rt for sent, rt in self.probe_done if t0 <= sent <= t1), default=0.0)
        for sent in self.probe_sent.values():
            if t0 <= sent <= t1:
                echo = max(echo, now - sent)
        beat = 0.0
        for link in self.links:
            times = link.heartbeats
            for prev, t in zip(times, times[1:]):
                if t0 <= t <= t1:
                    beat = max(beat, t - max(prev, t0 - INTERVAL) - INTERVAL)
            if link.open and times and t0 <= times[-1] + INTERVAL and times[-1] < t1:
                beat = max(beat, t1 - times[-1] - INTERVAL)
        lag = max((v for t, v in self.lag if t0 <= t <= t1), default=0.0)
        return max(echo, beat), echo, beat, lag

    # Sending

    async def ready(self, timeout: float = 10) -> Link:
        """The open, registered connection (waiting for one)."""
        deadline = time.perf_counter() + timeout
        while True:
            link = self.link
            if link is not None and link.open:
                return link
            if time.perf_counter() > deadline:
                raise TimeoutError("no node registered")
            await asyncio.sleep(0.01)

    async def wait_registration(self, after: int, timeout: float) -> float | None:
        """When registration number ``after`` + 1 arrived, or None after ``timeout``."""
        deadline = time.perf_counter() + timeout
        while len(self.registrations) <= after:
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(0.01)
        return self.registrations[after][0]

    async def send(self, data: str | bytes | dict, *, text: bool | None = None,
                   link: Link | None = None) -> None:
        link = link or await self.ready()
        if isinstance(data, dict):
            data = json.dumps(data)
        await link.ws.send(data, text=text)

    def track(self, rid: str) -> Track:
        track = self.tracks[rid] = Track()
        return track

    def tally(self, prefix: str, expected: int) -> Tally:
        tally = self.tallies[prefix] = Tally(expected)
        return tally

    def rid(self, what: str = "c") -> str:
        return f"{what}{next(self._ids)}"

    async def request(self, frame: dict, timeout: float = 10) -> tuple[dict | None, float, Track]:
        """Send a request; its first final frame (None on time-out), seconds, and track."""
        rid = frame.setdefault("request_id", self.rid())
        track = self.track(rid)
        start = time.perf_counter()
        await self.send(frame)
        try:
            await asyncio.wait_for(track.done.wait(), timeout)
        except TimeoutError:
            return None, time.perf_counter() - start, track
        finally:
            self.tracks.pop(rid, None)
        return track.finals[0], track.first_at - start, track

    async def call(self, command: str, args: dict | None = None, *, timeout: float = 10,
                   rid: str | None = None) -> tuple[dict | None, float]:
        frame = {"type": "command_request", "command": command, "args": args or {}}
        if rid is not None:
            frame["request_id"] = rid
        answer, took, _ = await self.request(frame, timeout)
        return answer, took


def code_of(answer: dict | None) -> str:
    if answer is None:
        return "no answer"
    if answer.get("type") == "error" or answer.get("status") == "error":
        return str(answer.get("code") or "error")
    return str(answer.get("status") or answer.get("type"))


def brief(text: Any, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


# Results


@dataclass
class Outcome:
    held: bool
    note: str
    rss: float | None = None        # set by cases measuring another process (serve)
    stall: float | None = None      # set by cases whose stall is measured otherwise


@dataclass
class Result:
    install: str
    klass: str
    case: str
    kind: str   # request: stall judged; flood, link, config: stall shown, not judged; other: none
    held: bool
    stall: float | None
    rss: float | None
    note: str
    echo: float | None = None
    beat: float | None = None
    lag: float | None = None


JUDGED = {"request"}
PROBED = {"request", "flood", "link", "config"}


# The suite


Case = Callable[[], Awaitable[Outcome]]


class Suite:
    """One install's run: the gateway, the main node, and every case in order."""

    def __init__(self, mode: str, sizes: Sizes, tmp: Path, only: set[str] | None,
                 log: Callable[[str], None]) -> None:
        self.mode, self.sizes, self.tmp, self.only, self.say = mode, sizes, tmp / mode, only, log
        self.tmp.mkdir(parents=True)
        self.cwd = self.tmp / "cwd"  # nothing importable here
        self.cwd.mkdir()
        self.results: list[Result] = []
        self.gw: Gateway
        self.node: Proc
        self.folder = self.tmp / "node"
        self.config = self.folder / "node.yaml"
        self.config_text = ""
        self.starts = 0

    # The main node

    def node_folder(self, folder: Path, url: str, node_id: str, *, token: str = TOKEN,
                    level: str = "INFO") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "workflows").mkdir(exist_ok=True)
        (folder / "attack_handlers.py").write_text(HANDLERS)
        (folder / "attack_nodes.py").write_text(NODES)
        (folder / "workflows" / "nap.json").write_text(json.dumps(NAP_WORKFLOW))
        text = NODE_CONFIG.format(url=url, token=token, node_id=node_id,
                                  storage=folder / "storage", workflows=folder / "workflows",
                                  level=level)
        path = folder / "node.yaml"
        replace_file(path, text)
        return path

    async def start_node(self) -> None:
        self.starts += 1
        self.config = self.node_folder(self.folder, self.gw.url, "attack-node")
        self.config_text = self.config.read_text()
        before = len(self.gw.registrations)
        self.node = Proc(launch(self.mode, "run", str(self.config)),
                         self.tmp / f"node-{self.starts}.log", cwd=self.cwd).start()
        if await self.gw.wait_registration(before, 30) is None:
            raise RuntimeError(f"the node did not register: {self.node.tail()}")
        # Warm up: imports, a worker process, the job store.
        answer, _ = await self.gw.call("run_workflow", {"graph": TRIVIAL}, timeout=30)
        if code_of(answer) != "success":
            raise RuntimeError(f"the warm-up run failed: {answer}")
        await asyncio.sleep(0.5)

    async def node_up(self) -> str | None:
        """None when the main node is running and answers; else what is wrong."""
        if not self.node.alive:
            return f"node exited with {self.node.returncode}: {brief(self.node.tail(3))}"
        try:
            await self.gw.ready(HB_TIMEOUT + 5)
        except TimeoutError:
            return "node not connected"
        answer, _ = await self.gw.call("echo", {"n": -1}, timeout=5)
        if code_of(answer) != "success":
            return f"echo after the case: {code_of(answer)}"
        return None

    # Running cases

    async def case(self, klass: str, name: str, kind: str, fn: Case) -> None:
        if self.only is not None and klass not in self.only:
            return
        self.say(f"[{self.mode}] {klass}: {name}")
        gw = self.gw
        t0 = time.perf_counter()
        try:
            outcome = await asyncio.wait_for(fn(), CASE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a case that breaks is a case that did not hold
            outcome = Outcome(False, f"{type(exc).__name__}: {brief(exc, 200)}")
        await asyncio.sleep(TAIL)
        t1 = time.perf_counter()
        await asyncio.sleep(0.2)
        stall = echo = beat = lag = None
        if kind in PROBED:
            stall, echo, beat, lag = gw.stall(t0, t1, time.perf_counter())
        if outcome.stall is not None:
            stall = outcome.stall
        rss = outcome.rss
        note = outcome.note
        if rss is None and kind in PROBED and self.node.sampler is not None:
            rss, workers = self.node.sampler.peak(t0, t1)
            if klass in ("workflows", "floods") and workers:
                note += f"; workers peak {workers:.0f} MB"
        held = outcome.held
        if kind in JUDGED and stall is not None and stall >= STALL_TARGET:
            held = False
            note += f"; STALL {stall * 1000:.0f} ms"
            if outcome.stall is None:
                note += f" (echo {(echo or 0) * 1000:.0f}, heartbeat {(beat or 0) * 1000:.0f}, " \
                        f"driver lag {(lag or 0) * 1000:.0f})"
        if kind in ("flood", "config") and stall is not None and stall >= STALL_TARGET:
            note += f"; echo {echo * 1000:.0f} ms, heartbeat gap +{beat * 1000:.0f} ms"
        problem = await self.node_up()
        if problem is not None:
            held = False
            note += f"; {problem}"
            self.say(f"  restarting the node ({problem})")
            await self.node.stop(3)
            await self.start_node()
        result = Result(self.mode, klass, name, kind, held, stall, rss, note, echo, beat, lag)
        self.results.append(result)
        self.say(f"  {'held' if held else 'NOT HELD'}  stall {fmt_ms(result)}  "
                 f"rss {fmt_mb(result.rss)}  {note}")

    async def run(self) -> list[Result]:
        self.gw = await Gateway().start()
        try:
            await self.start_node()
            try:
                await self.cases()
            finally:
                await self.node.stop()
        finally:
            await self.gw.stop()
        return self.results

    async def cases(self) -> None:
        c = self.case
        await c("baseline", "no attack: 2 s of probing", "request", self.baseline)
        # 1. Frames
        await c("frames", "args nested 1,000 deep", "request", lambda: self.deep(1_000))
        await c("frames", "args nested 100,000 deep", "request", lambda: self.deep(100_000))
        await c("frames", "NaN / Infinity / -Infinity literals", "request", self.not_finite)
        await c("frames", "binary frame carrying JSON", "request", self.binary_json)
        await c("frames", "binary frame, invalid UTF-8", "request", self.binary_bad)
        await c("frames", "text frame, invalid UTF-8", "link", self.text_bad)
        await c("frames", "frame over max_message_size (5 MiB > 4 MiB)", "request", self.too_large)
        await c("frames", "frame over 4x max_message_size (17 MiB)", "link", self.far_too_large)
        await c("frames", "frame that is not an object / has no type", "request", self.shapeless)
        await c("frames", "duplicate request ids", "request", self.duplicates)
        await c("frames", f"{self.sizes.burst:,} unknown commands in a burst", "flood",
                self.unknown_burst)
        await c("frames", f"{self.sizes.burst:,} echo requests at once", "flood", self.echo_burst)
        # 2. Workflows
        w = "workflows"
        await c(w, "regex (a+)+$ on 'a'*40+'b'", "request", lambda: self.workflow(
            single("nodetool.text.RegexMatch", text="a" * 40 + "b", pattern="(a+)+$"),
            expect="ends"))
        await c(w, "regex (?=a)(a+)+$ (lookahead: Python re)", "request", lambda: self.workflow(
            single("nodetool.text.RegexMatch", text="a" * 40 + "b", pattern="(?=a)(a+)+$"),
            expect="ends"))
        await c(w, "FormatText {{ 'a' * 10**9 }}", "request", lambda: self.workflow(
            single("nodetool.text.FormatText", template="{{ 'a' * 10**9 }}"), expect="error"))
        await c(w, "FormatText range(10**9) loop", "request", lambda: self.workflow(
            single("nodetool.text.FormatText",
                   template="{% for i in range(10**9) %}x{% endfor %}"), expect="error"))
        await c(w, "FormatText nested 100,000 x 100,000 loop", "request", lambda: self.workflow(
            single("nodetool.text.FormatText", template="{% for i in range(100000) %}"
                   "{% for j in range(100000) %}x{% endfor %}{% endfor %}"), expect="error"))
        await c(w, "EvaluateExpression 9**9**9", "request", lambda: self.workflow(
            single("nodetool.code.EvaluateExpression", expression="9**9**9", variables={}),
            expect="error"))
        await c(w, "EvaluateExpression nested comprehensions", "request", lambda: self.workflow(
            single("nodetool.code.EvaluateExpression",
                   expression="[[[i*j*k for i in range(1000)] for j in range(1000)] "
                              "for k in range(1000)]", variables={}), expect="error"))
        await c(w, "a 128 MB string (Concat doubling 1 MB x 7)", "request", self.huge_string)
        await c(w, "cancel_request of a run holding its worker", "request",
                lambda: self.cancel_run("attack.Hog", STOP_GRACE + 1.5))
        await c(w, "cancel_request of a waiting run", "request",
                lambda: self.cancel_run("attack.Nap", 1.0))
        await c(w, "max_run_time (3 s) exceeded by a run holding its worker", "request",
                self.overstay)
        s = self.sizes
        # 4. Floods
        await c("floods", f"{s.background:,} start_background_job", "flood", self.background_flood)
        await c("floods", f"{s.runs:,} run_workflow at once", "flood", self.run_flood)
        await c("floods", f"{s.big_frames} frames of 3 MiB at once", "flood", self.big_frames)
        await c("floods", "40 answers of 3 MiB, then small ones until the answer log "
                "compresses them (fresh node)", "request", self.answer_log)
        # 3. A gateway that stops reading
        g = "gateway"
        await c(g, "stops reading with 24 x 1 MB answers queued", "link", self.stops_reading)
        await c(g, "stops reading, nothing queued (pings unanswered)", "link", self.goes_silent)
        await c(g, "reads slowly: 24 MB queued, read every 0.25 s (8 reads)", "link",
                lambda: self.reads_slowly(24, 0.25, 8))
        await c(g, "reads slowly: 8 MB queued, read every 0.25 s (2 reads)", "link",
                lambda: self.reads_slowly(8, 0.25, 2))
        # 5. Config by hot reload
        f = "config"
        await c(f, "YAML alias bomb over the running config", "config", self.alias_bomb)
        await c(f, "3 MiB config (over the 2 MiB bound)", "config", self.oversize_config)
        await c(f, "half-written config (half, 50 ms pause, rest)", "config", self.half_written)
        await c(f, "config naming a handler that does not exist", "config", self.ghost_handler)
        await c(f, "config edited 10-50 ms after the node registers", "other",
                self.edited_at_start)
        await c(f, "json.py, re.py, asyncio.py... beside the config (fresh node)", "other",
                lambda: self.shadow_modules(STDLIB_NAMES, "stdlib"))
        await c(f, "yaml.py, jinja2.py, re2.py... beside the config (fresh node)", "other",
                lambda: self.shadow_modules(DEPENDENCY_NAMES, "deps"))
        await c(f, "json.py beside the config, console script run from there", "other",
                self.shadow_console)
        # 6. Secrets
        t = "secrets"
        await c(t, "odd token in the header, --debug logs, handlers raising it, a reconnect", "other",
                lambda: self.secret_session(query=False))
        await c(t, "odd token also in the URL query (opt-in), --debug logs", "other",
                lambda: self.secret_session(query=True))
        await c(t, "template error naming the token, at start", "other", self.secret_start_error)
        await c(t, "template error naming the token, on hot reload", "other",
                self.secret_reload_error)
        await c(t, "gateway refuses the token (HTTP 401), token in the query", "other",
                self.secret_refused)
        await c(t, "`render` of a config with the token", "other", self.secret_render)
        # 7. serve
        await self.serve_cases()
        # 8. Storage
        await c("storage", "database refuses writes (file size limit)", "other", self.full_disk)

    # Baseline

    async def baseline(self) -> Outcome:
        await asyncio.sleep(2.0)
        return Outcome(True, "the noise floor: probe and heartbeats only")

    # 1. Frames

    async def raw(self, rid: str, data: str | bytes, *, text: bool | None = None,
                  timeout: float = 10) -> tuple[dict | None, float]:
        track = self.gw.track(rid)
        start = time.perf_counter()
        await self.gw.send(data, text=text)
        try:
            await asyncio.wait_for(track.done.wait(), timeout)
        except TimeoutError:
            return None, time.perf_counter() - start
        finally:
            self.gw.tracks.pop(rid, None)
        return track.finals[0], track.first_at - start

    async def deep(self, depth: int) -> Outcome:
        rid = self.gw.rid(f"deep{depth}-")
        text = ('{"type":"command_request","request_id":"%s","command":"echo","args":{"value":%s%s}}'
                % (rid, "[" * depth, "]" * depth))
        answer, took = await self.raw(rid, text)
        code = code_of(answer)
        ok = code in ("INVALID_MESSAGE", "HANDLER_ERROR", "success") if depth <= 1_000 \
            else code == "INVALID_MESSAGE"
        return Outcome(ok, f"{code} in {took * 1000:.0f} ms"
                           f"{': ' + brief(answer.get('error'), 60) if answer and answer.get('error') else ''}")

    async def not_finite(self) -> Outcome:
        codes = []
        for literal in ("NaN", "Infinity", "-Infinity"):
            rid = self.gw.rid("nan")
            answer, _ = await self.raw(rid, '{"type":"command_request","request_id":"%s",'
                                            '"command":"echo","args":{"value":%s}}' % (rid, literal))
            codes.append(code_of(answer))
        return Outcome(all(c == "INVALID_MESSAGE" for c in codes), "/".join(codes))

    async def binary_json(self) -> Outcome:
        rid = self.gw.rid("bin")
        answer, took = await self.raw(rid, json.dumps({"type": "command_request", "request_id": rid,
                                                       "command": "echo", "args": {"n": 7}}).encode())
        code = code_of(answer)
        return Outcome(answer is not None, f"{code} in {took * 1000:.0f} ms")

    async def binary_bad(self) -> Outcome:
        rid = self.gw.rid("binbad")
        data = (b'{"type":"command_request","request_id":"' + rid.encode()
                + b'","command":"echo","args":{"value":"\xff\xfe\xc0\xaf"}}')
        registrations = len(self.gw.registrations)
        answer, took = await self.raw(rid, data, timeout=5)
        same = len(self.gw.registrations) == registrations
        return Outcome(code_of(answer) == "INVALID_MESSAGE" and same,
                       f"{code_of(answer)} in {took * 1000:.0f} ms"
                       f"{'' if same else '; the connection was dropped'}")

    async def text_bad(self) -> Outcome:
        """A text frame whose bytes are not UTF-8: a protocol error the WebSocket layer
        ends the connection for (1007); the node must reconnect."""
        link = await self.gw.ready()
        before = len(self.gw.registrations)
        start = time.perf_counter()
        await self.gw.send(b'{"type":"command_request","request_id":"utf","command":"echo",'
                           b'"args":{"value":"\xff\xfe"}}', text=True, link=link)
        back = await self.gw.wait_registration(before, HB_TIMEOUT + 5)
        if back is None:
            return Outcome(False, "no new registration")
        return Outcome(True, f"closed {link.close_code}, registered again after "
                             f"{(back - start) * 1000:.0f} ms")

    async def too_large(self) -> Outcome:
        rid = self.gw.rid("big")
        text = ('{"type":"command_request","request_id":"%s","command":"echo","args":{"value":"%s"}}'
                % (rid, "x" * (5 << 20)))
        before = len(self.gw.registrations)
        answer, took = await self.raw(rid, text)
        same = len(self.gw.registrations) == before
        return Outcome(code_of(answer) == "TOO_LARGE" and same,
                       f"{code_of(answer)} in {took * 1000:.0f} ms")

    async def far_too_large(self) -> Outcome:
        link = await self.gw.ready()
        before = len(self.gw.registrations)
        start = time.perf_counter()
        rid = self.gw.rid("huge")
        track = self.gw.track(rid)
        await self.gw.send('{"type":"command_request","request_id":"%s","command":"echo",'
                           '"args":{"value":"%s"}}' % (rid, "x" * (17 << 20)), link=link)
        back = await self.gw.wait_registration(before, HB_TIMEOUT + 5)
        await asyncio.sleep(0.2)
        self.gw.tracks.pop(rid, None)
        if back is None:
            return Outcome(link.open and code_of(track.finals[0] if track.finals else None)
                           == "TOO_LARGE", f"kept the connection: {code_of(track.finals[0] if track.finals else None)}")
        return Outcome(True, f"closed {link.close_code}, registered again after "
                             f"{(back - start) * 1000:.0f} ms")

    async def shapeless(self) -> Outcome:
        notes, ok = [], True
        for data in ("[1, 2, 3]", '"just a string"', '{"request_id": "shape-1"}', "{", ""):
            before = len(self.gw.errors)
            await self.gw.send(data)
            deadline = time.perf_counter() + 3
            while len(self.gw.errors) == before and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)
            got = self.gw.errors[before:]
            code = got[0].get("code") if got else "no answer"
            ok = ok and code == "INVALID_MESSAGE"
            notes.append(str(code))
        rid = self.gw.rid("notype")
        answer, _ = await self.raw(rid, json.dumps({"type": "no_such_type", "request_id": rid}))
        notes.append(code_of(answer))
        ok = ok and code_of(answer) == "UNKNOWN_TYPE"
        return Outcome(ok, "array/string/no type/cut/empty/unknown type: " + "/".join(notes))

    async def duplicates(self) -> Outcome:
        gw = self.gw
        rid = gw.rid("dup")
        key = f"k-{rid}"
        frame = json.dumps({"type": "command_request", "request_id": rid, "command": "slow",
                            "args": {"key": key, "seconds": 0.3}})
        track = gw.track(rid)
        for _ in range(3):  # while it runs
            await gw.send(frame)
        await asyncio.sleep(0.8)
        while_running = len(track.finals)
        await gw.send(frame)  # after it was answered
        await asyncio.sleep(0.3)
        gw.tracks.pop(rid, None)
        runs = {f.get("result", {}).get("runs") for f in track.finals}
        ok = while_running == 1 and len(track.finals) == 2 and runs == {1}
        return Outcome(ok, f"3 sent while running -> {while_running} answer, {track.acks} acks; "
                           f"1 after -> {len(track.finals) - while_running} answer; handler ran "
                           f"{max(runs, default=0)}x")

    async def burst(self, prefix: str, frames: list[str], timeout: float = 60,
                    gw: Gateway | None = None) -> tuple[Tally, float]:
        gw = gw or self.gw
        tally = gw.tally(prefix, len(frames))
        link = await gw.ready()
        start = time.perf_counter()
        for text in frames:
            await link.ws.send(text)
        try:
            await asyncio.wait_for(tally.done.wait(), timeout)
        except TimeoutError:
            pass
        took = time.perf_counter() - start
        gw.tallies.pop(prefix, None)
        return tally, took

    def codes(self, tally: Tally) -> str:
        return ", ".join(f"{n:,} {c}" for c, n in tally.codes.most_common())

    async def unknown_burst(self) -> Outcome:
        n = self.sizes.burst
        tally, took = await self.burst("unk", [
            '{"type":"command_request","request_id":"unk:%d","command":"no_such_%d","args":{}}'
            % (i, i) for i in range(n)])
        ok = tally.codes.get("UNKNOWN_COMMAND", 0) == n and tally.repeats == 0
        return Outcome(ok, f"{self.codes(tally)} in {took:.2f} s")

    async def echo_burst(self) -> Outcome:
        n = self.sizes.burst
        tally, took = await self.burst("eb", [
            '{"type":"command_request","request_id":"eb:%d","command":"echo","args":{"n":%d}}'
            % (i, i) for i in range(n)])
        answered = sum(tally.codes.values())
        ok = answered == n and set(tally.codes) <= {"success", "BUSY"} and tally.repeats == 0
        return Outcome(ok, f"{self.codes(tally)} in {took:.2f} s (max_pending 1,000)")

    # 2. Workflows

    async def run_graph(self, g: dict, *, rid: str | None = None,
                        timeout: float = MAX_RUN_TIME + STOP_GRACE + 10) -> tuple[dict | None, float]:
        return await self.gw.call("run_workflow", {"graph": g}, rid=rid, timeout=timeout)

    async def workflow(self, g: dict, *, expect: str) -> Outcome:
        """``expect`` error: a clear error answer; ends: any answer within the run time limit."""
        answer, took = await self.run_graph(g)
        code = code_of(answer)
        error = (answer or {}).get("error") or ""
        if expect == "error":
            ok = code not in ("success", "no answer") and bool(error)
        else:
            ok = answer is not None and took < MAX_RUN_TIME + STOP_GRACE + 2
        what = brief(error, 70) if error else brief(json.dumps((answer or {}).get("result",
                                                                                  {}).get("outputs")), 40)
        return Outcome(ok, f"{code} in {took:.2f} s: {what}")

    async def huge_string(self) -> Outcome:
        nodes: list[dict] = [{"id": "s0", "type": "nodetool.code.EvaluateExpression",
                              "data": {"expression": "'a' * 1000000", "variables": {}}}]
        edges = []
        for i in range(1, 8):
            nodes.append({"id": f"s{i}", "type": "nodetool.text.Concat", "data": {}})
            edges += [(f"s{i - 1}", "output", f"s{i}", "a"), (f"s{i - 1}", "output", f"s{i}", "b")]
        nodes.append({"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}})
        edges.append(("s7", "output", "o", "value"))
        answer, took = await self.run_graph(graph(*nodes, edges=edges))
        error = (answer or {}).get("error") or ""
        return Outcome("max_value_size" in error, f"{code_of(answer)} in {took:.2f} s: "
                                                  f"{brief(error, 90)}")

    async def cancel_run(self, node_type: str, within: float) -> Outcome:
        gw = self.gw
        rid = gw.rid("cancel")
        track = gw.track(rid)
        await gw.send({"type": "command_request", "request_id": rid, "command": "run_workflow",
                       "args": {"graph": single(node_type, seconds=30)}})
        await asyncio.sleep(0.7)
        start = time.perf_counter()
        await gw.send({"type": "cancel_request", "request_id": rid})
        try:
            await asyncio.wait_for(track.done.wait(), 15)
        except TimeoutError:
            pass
        gw.tracks.pop(rid, None)
        answer = track.finals[0] if track.finals else None
        took = (track.first_at - start) if answer else time.perf_counter() - start
        ok = code_of(answer) == "CANCELLED" and took < within
        return Outcome(ok, f"{code_of(answer)} {took:.2f} s after the cancel (bound {within:g} s)")

    async def overstay(self) -> Outcome:
        answer, took = await self.run_graph(single("attack.Hog", seconds=30))
        error = (answer or {}).get("error") or ""
        bound = MAX_RUN_TIME + STOP_GRACE + 1.5
        ok = "run time limit of 3s exceeded" in error and took < bound
        return Outcome(ok, f"{code_of(answer)} in {took:.2f} s (bound {bound:g} s): {brief(error, 70)}")

    # 3. A gateway that stops reading

    async def stops_reading(self) -> Outcome:
        gw = self.gw
        link = await gw.ready()
        before = len(gw.registrations)
        gw.probing = False
        try:
            link.ws.transport.pause_reading()
            start = time.perf_counter()
            rids = [f"sr{i:02d}-{self.starts}-{before}" for i in range(24)]
            tracks = [gw.track(r) for r in rids]
            for rid in rids:
                await gw.send({"type": "command_request", "request_id": rid, "command": "blob",
                               "args": {"key": rid, "size": 1_000_000}}, link=link)
            back = await gw.wait_registration(before, HB_TIMEOUT + 10)
        finally:
            link.ws.transport.abort()
            gw.probing = True
        if back is None:
            return Outcome(False, "no new registration")
        took = back - start
        await asyncio.sleep(1.0)  # the outbox flush
        flushed = sum(1 for t in tracks if t.finals)
        for rid, track in zip(rids, tracks):  # what the old socket swallowed: asked again
            if not track.finals:
                await gw.send({"type": "command_request", "request_id": rid, "command": "blob",
                               "args": {"key": rid, "size": 1_000_000}})
        await asyncio.gather(*(asyncio.wait_for(t.done.wait(), 10) for t in tracks),
                             return_exceptions=True)
        for rid in rids:
            gw.tracks.pop(rid, None)
        runs = [t.finals[0].get("result", {}).get("runs") if t.finals else None for t in tracks]
        ok = took < HB_TIMEOUT + 2 and all(r == 1 for r in runs)
        return Outcome(ok, f"registered again {took:.2f} s after the stop (bound "
                           f"{HB_TIMEOUT + 2:g} s); {flushed}/24 answers from the outbox, the rest "
                           f"asked again; each handler ran once: {all(r == 1 for r in runs)}")

    async def goes_silent(self) -> Outcome:
        gw = self.gw
        link = await gw.ready()
        before = len(gw.registrations)
        gw.probing = False
        try:
            link.ws.transport.pause_reading()
            start = time.perf_counter()
            back = await gw.wait_registration(before, HB_TIMEOUT + 10)
        finally:
            link.ws.transport.abort()
            gw.probing = True
        if back is None:
            return Outcome(False, "no new registration")
        took = back - start
        return Outcome(took < HB_TIMEOUT + 2, f"registered again {took:.2f} s after the stop "
                                              f"(bound {HB_TIMEOUT + 2:g} s)")

    async def reads_slowly(self, count: int, pause: float, reads: int) -> Outcome:
        """A gateway that reads a little, then nothing for ``pause`` (well under
        heartbeat.timeout), until ``count`` answers of 1 MB have come: slow, never stopped.
        Each pass lets the socket be read ``reads`` times (up to 256 KiB each)."""
        gw = self.gw
        link = await gw.ready()
        before = len(gw.registrations)
        offset = len(self.node.text())
        transport = link.ws.transport
        gw.probing = False
        rids = [f"slow{i:02d}-{self.starts}-{before}" for i in range(count)]
        tracks = [gw.track(r) for r in rids]
        start = time.perf_counter()
        try:
            transport.pause_reading()
            for rid in rids:
                await gw.send({"type": "command_request", "request_id": rid, "command": "blob",
                               "args": {"key": rid, "size": 1_000_000}}, link=link)
            deadline = start + 40
            while not all(t.finals for t in tracks) and time.perf_counter() < deadline \
                    and link.open:
                await asyncio.sleep(pause)
                transport.resume_reading()
                for _ in range(reads):
                    await asyncio.sleep(0)
                transport.pause_reading()
        finally:
            if link.open:
                transport.resume_reading()
            gw.probing = True
        took = time.perf_counter() - start
        got = sum(1 for t in tracks if t.finals)
        kept = len(gw.registrations) == before and link.open
        if not kept:  # the rest come after the next registration
            gone = gw.registrations[before][0] if len(gw.registrations) > before \
                else time.perf_counter()
            got = sum(1 for t in tracks if t.finals and t.first_at <= gone)
            took = gone - start
            await asyncio.gather(*(asyncio.wait_for(t.done.wait(), 10) for t in tracks),
                                 return_exceptions=True)
        for rid in rids:
            gw.tracks.pop(rid, None)
        why = ""
        if not kept:
            line = await self.log_line(self.node, offset, "lost the connection|stopped reading", 1)
            why = f" ({brief(line.split(': ', 2)[-1], 60)})" if line else ""
        return Outcome(kept and got == count,
                       f"{got} MB in {took:.1f} s ({got / took:.1f} MB/s), never more than "
                       f"{pause:g} s without reading: connection "
                       f"{'kept' if kept else f'DROPPED, registered again after {took:.1f} s' + why}")

    # 4. Floods

    async def background_flood(self) -> Outcome:
        n = self.sizes.background
        tally, took = await self.burst("bg", [
            '{"type":"command_request","request_id":"bg:%d","command":"start_background_job",'
            '"args":{"workflow_id":"nap"}}' % i for i in range(n)])
        accepted, busy = tally.codes.get("success", 0), tally.codes.get("BUSY", 0)
        # Wait for the accepted jobs to finish.
        deadline = time.perf_counter() + 60
        running = -1
        while time.perf_counter() < deadline:
            answer, _ = await self.gw.call("list_jobs", {"status": "running", "limit": 1000})
            running = len(((answer or {}).get("result") or {}).get("jobs", []))
            if running == 0:
                break
            await asyncio.sleep(0.2)
        drained = time.perf_counter() - (deadline - 60)
        ok = 1 <= accepted <= 100 and accepted + busy == n and running == 0
        return Outcome(ok, f"{accepted} accepted, {busy:,} BUSY (max_background_jobs 100) in "
                           f"{took:.2f} s; all done {drained:.1f} s later; RSS after "
                           f"{self.node.sampler.now():.0f} MB" if self.node.sampler else "")

    async def run_flood(self) -> Outcome:
        n = self.sizes.runs
        body = json.dumps({"graph": TRIVIAL})
        tally, took = await self.burst("rf", [
            '{"type":"command_request","request_id":"rf:%d","command":"run_workflow","args":%s}'
            % (i, body) for i in range(n)], timeout=180)
        ok = sum(tally.codes.values()) == n and set(tally.codes) <= {"success", "BUSY"}
        return Outcome(ok, f"{self.codes(tally)} in {took:.2f} s ({n / took:.0f} runs/s); "
                           f"RSS after {self.node.sampler.now():.0f} MB" if self.node.sampler else "")

    async def big_frames(self) -> Outcome:
        n = self.sizes.big_frames
        blob = "y" * (3 << 20)
        tally, took = await self.burst("bf", [
            '{"type":"command_request","request_id":"bf:%d","command":"echo","args":{"value":"%s"}}'
            % (i, blob) for i in range(n)], timeout=120)
        ok = tally.codes.get("success", 0) == n
        return Outcome(ok, f"{self.codes(tally)} in {took:.2f} s ({n * 3} MiB in, as much out); "
                           f"RSS after {self.node.sampler.now():.0f} MB" if self.node.sampler else "")

    async def answer_log(self) -> Outcome:
        """The node remembers its last answers (limits.remember_answers), the newest batch
        (512 by default) as they are, older ones compressed a batch at a time. A fresh node
        answers 40 echoes of 3 MiB (the first batch), then small echoes until the batch is
        sealed: what it holds meanwhile, and what sealing costs the session's loop."""
        gw = await Gateway().start()
        folder = self.tmp / "answer-log"
        try:
            config = self.node_folder(folder, gw.url, "attack-answers")
            proc = Proc(launch(self.mode, "run", str(config)), folder / "node.log",
                        cwd=self.cwd).start()
            try:
                if await gw.wait_registration(0, 30) is None:
                    return Outcome(False, f"no registration: {brief(proc.tail(3))}")
                sampler = proc.sampler
                assert sampler is not None
                await asyncio.sleep(0.5)
                idle = sampler.now()
                blob = "y" * (3 << 20)
                big, _ = await self.burst("al", [
                    '{"type":"command_request","request_id":"al:%d","command":"echo",'
                    '"args":{"value":"%s"}}' % (i, blob) for i in range(40)], gw=gw)
                await asyncio.sleep(1.0)
                holding = sampler.now()
                t0 = time.perf_counter()
                small = gw.tally("as", 600)
                for i in range(600):  # paced: the small requests themselves are no flood
                    await gw.send('{"type":"command_request","request_id":"as:%d",'
                                  '"command":"echo","args":{"n":%d}}' % (i, i))
                    if i % 20 == 19:
                        await asyncio.sleep(0.02)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(small.done.wait(), 30)
                await asyncio.sleep(1.0)
                t1 = time.perf_counter()
                stall, echo, beat, _ = gw.stall(t0, t1, time.perf_counter())
                peak = sampler.peak(t0, t1)[0]
                after = sampler.now()
            finally:
                await proc.stop()
        finally:
            await gw.stop()
        ok = big.codes.get("success", 0) == 40 and sum(small.codes.values()) == 600
        return Outcome(ok, f"RSS idle {idle:.0f} MB, {holding:.0f} MB holding the 40 answers, "
                           f"peak {peak:.0f} MB while sealing, {after:.0f} MB after; "
                           f"echo {echo * 1000:.0f} ms, heartbeat gap +{beat * 1000:.0f} ms "
                           "while the small ones ran", rss=peak, stall=stall)

    # 5. Config by hot reload

    async def log_line(self, proc: Proc, offset: int, pattern: str, timeout: float) -> str | None:
        """The first line of ``proc``'s log past ``offset`` matching ``pattern``."""
        deadline = time.perf_counter() + timeout
        rx = re.compile(pattern)
        while True:
            text = proc.text()[offset:]
            for line in text.splitlines():
                if rx.search(line):
                    return line
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(0.05)

    async def refused_reload(self, text: str, pattern: str) -> Outcome:
        """Write ``text`` over the running config; it must be refused with one line
        matching ``pattern``, the node serving on the old config all along."""
        gw = self.gw
        offset = len(self.node.text())
        before = len(gw.registrations)
        rss0 = self.node.sampler.now() if self.node.sampler else 0.0
        start = time.perf_counter()
        replace_file(self.config, text)
        line = await self.log_line(self.node, offset, pattern, 10)
        took = time.perf_counter() - start
        answer, _ = await gw.call("echo", {"n": 1})
        rss1 = self.node.sampler.peak(start, time.perf_counter())[0] if self.node.sampler else 0.0
        await self.restore_config()
        errors = [ln for ln in self.node.text()[offset:].splitlines() if " ERROR " in ln]
        ok = line is not None and code_of(answer) == "success" and \
            len(gw.registrations) == before and len(errors) == 1
        return Outcome(ok, f"refused in {took:.2f} s ({len(errors)} ERROR line: "
                           f"{brief(line.split(': ', 1)[-1] if line else 'none', 60)}); "
                           f"RSS {rss0:.0f} -> peak {rss1:.0f} MB")

    async def restore_config(self) -> None:
        replace_file(self.config, self.config_text + "# restored\n")
        await asyncio.sleep(0.6)

    async def alias_bomb(self) -> Outcome:
        levels = ["    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in range(1, 10):
            levels.append(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
        text = self.config_text.replace("node: {id: attack-node}\n",
                                        "node:\n  id: attack-node\n  metadata:\n"
                                        + "\n".join(levels) + "\n")
        return await self.refused_reload(text, "alias")

    async def oversize_config(self) -> Outcome:
        return await self.refused_reload(self.config_text + "# " + "x" * (3 << 20) + "\n",
                                         "at most|too large|bytes|characters")

    async def ghost_handler(self) -> Outcome:
        return await self.refused_reload(self.config_text + "  ghost: no_such_module_xyz:fn\n",
                                         "ghost|no_such_module_xyz")

    async def half_written(self) -> Outcome:
        gw = self.gw
        before = len(gw.registrations)
        half = self.config_text + "  echo2: attack_handlers:echo\n"
        whole = half + "  echo3: attack_handlers:echo\n"
        with open(self.config, "w") as f:
            f.write(half)
            f.flush()
            await asyncio.sleep(0.05)
            f.write(whole[len(half):])
        back = await gw.wait_registration(before, 5)
        await asyncio.sleep(1.0)
        new = gw.registrations[before:]
        offered = [set(r[2].get("capabilities", {}).get("commands", [])) for r in new]
        answer, _ = await gw.call("echo3", {"n": 3}) if back is not None else (None, 0)
        ok = len(new) == 1 and {"echo2", "echo3"} <= offered[0] and code_of(answer) == "success"
        await self.restore_config()
        await gw.wait_registration(before + len(new), 5)  # echo2/echo3 withdrawn
        return Outcome(ok, f"{len(new)} registration(s) after the write; the first offers "
                           f"echo2+echo3: {bool(offered) and {'echo2', 'echo3'} <= offered[0]}; "
                           f"echo3 answers: {code_of(answer)}")

    async def edited_at_start(self) -> Outcome:
        """A fresh node whose config is replaced (one command withdrawn) just after it
        registers: the edit must be applied (a second registration without the command)."""
        applied = {}
        for delay in (0.01, 0.02, 0.03, 0.05):
            gw = await Gateway().start()
            folder = self.tmp / f"early-{int(delay * 1000)}"
            try:
                config = self.node_folder(folder, gw.url, "attack-early")
                proc = Proc(launch(self.mode, "run", str(config)), folder / "node.log",
                            cwd=self.cwd).start()
                try:
                    if await gw.wait_registration(0, 30) is None:
                        return Outcome(False, f"no registration: {brief(proc.tail(3))}")
                    await asyncio.sleep(delay)
                    replace_file(config, config.read_text().replace(
                        "  blob: attack_handlers:blob\n", ""))
                    back = await gw.wait_registration(1, 3)
                finally:
                    await proc.stop()
            finally:
                await gw.stop()
            applied[f"{delay * 1000:.0f} ms"] = back is not None
        missed = [k for k, v in applied.items() if not v]
        return Outcome(not missed, "applied at " + ", ".join(f"{k}: {'yes' if v else 'NO'}"
                                                             for k, v in applied.items())
                       + ("; an edit lost until the next one" if missed else ""))

    async def shadow_modules(self, names: tuple[str, ...], tag: str) -> Outcome:
        gw = await Gateway().start()
        folder = self.tmp / f"shadow-{tag}"
        marker = folder / "SHADOWED"
        try:
            config = self.node_folder(folder, gw.url, f"attack-shadow-{tag}")
            for name in names:
                (folder / f"{name}.py").write_text(SHADOW.format(marker=str(marker)))
            proc = Proc(launch(self.mode, "run", str(config)), self.tmp / f"shadow-{tag}.log",
                        cwd=self.cwd).start()
            try:
                back = await gw.wait_registration(0, 30)
                answer, _ = await gw.call("echo", {"n": 1}) if back else (None, 0)
                run, _ = await gw.call("run_workflow", {"graph": TRIVIAL}, timeout=30) \
                    if back else (None, 0)
            finally:
                await proc.stop()
        finally:
            await gw.stop()
        shadowed = sorted(p.name.split("-", 1)[1] for p in folder.glob("SHADOWED-*"))
        ok = back is not None and code_of(answer) == "success" and code_of(run) == "success" \
            and not shadowed
        return Outcome(ok, f"echo {code_of(answer)}, a workflow run {code_of(run)}, "
                           f"{'IMPORTED instead: ' + ', '.join(shadowed) if shadowed else 'none imported'}"
                           f"{'' if back else '; no registration: ' + brief(proc.tail(3))}")

    async def shadow_console(self) -> Outcome:
        """`nodetool-gateway run node.yaml` (the console script) from the config's folder."""
        script = Path(sys.executable).with_name("nodetool-gateway")
        if not script.exists():
            return Outcome(True, "skipped: no console script in this venv")
        gw = await Gateway().start()
        folder = self.tmp / "shadow2"
        marker = folder / "SHADOWED"
        try:
            self.node_folder(folder, gw.url, "attack-shadow2")
            (folder / "json.py").write_text(SHADOW.format(marker=str(marker)))
            proc = Proc([str(script), "run", "node.yaml"], self.tmp / "shadow2.log",
                        cwd=folder).start()
            try:
                back = await gw.wait_registration(0, 30)
                answer, _ = await gw.call("echo", {"n": 1}) if back else (None, 0)
            finally:
                await proc.stop()
        finally:
            await gw.stop()
        shadowed = list(folder.glob("SHADOWED-*"))
        ok = back is not None and code_of(answer) == "success" and not shadowed
        return Outcome(ok, f"cwd = the config's folder: echo {code_of(answer)}, "
                           f"{'json.py IMPORTED' if shadowed else 'json.py not imported'} "
                           "(the console script; both installs run the same here)")

    # 6. Secrets

    SECRET = "s3cr\"t'k\\ey&to=k+en%41-tail9"

    def forms(self) -> list[str]:
        v = self.SECRET
        return sorted({v, repr(v)[1:-1], ascii(v)[1:-1], json.dumps(v)[1:-1],
                       json.dumps(json.dumps(v))[1:-1], repr(repr(v))[1:-1],
                       quote(v, safe=""), quote_plus(v), quote(v), "s3cr", "tail9"})

    def leaks(self, text: str) -> list[str]:
        return [f for f in self.forms() if f in text]

    def secret_config(self, folder: Path, url: str, *, query: bool, extra: str = "") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "attack_handlers.py").write_text(HANDLERS)
        text = (f'gateway:\n  url: "{url}/gw?v=2"\n  auth:\n'
                f'    token: "{{{{ secret(\'NODE_TOKEN\') }}}}"\n'
                + ("    query_param: token\n" if query else "")
                + "node: {id: secret-node}\n"
                  "heartbeat: {interval: 500ms, timeout: 3s}\n"
                  "retry: {initial_delay: 100ms, max_delay: 1s, jitter: 0}\n"
                f'storage: {{path: "{folder / "storage"}"}}\n'
                  "workflows: {paths: []}\n"
                  "logging: {level: DEBUG}\n"
                  "commands:\n  echo: attack_handlers:echo\n  leak: attack_handlers:leak\n"
                  "  leak_key: attack_handlers:leak_key\n" + extra)
        path = folder / "node.yaml"
        replace_file(path, text)
        return path

    def secret_env(self) -> dict[str, str]:
        return {**os.environ, "NODE_TOKEN": self.SECRET}

    async def secret_session(self, *, query: bool) -> Outcome:
        gw = await Gateway(self.SECRET).start()
        folder = self.tmp / f"secret-{'query' if query else 'header'}"
        try:
            config = self.secret_config(folder, gw.url, query=query)
            proc = Proc(launch(self.mode, "--debug", "run", str(config)), folder / "node.log", cwd=self.cwd,
                        env=self.secret_env()).start()
            try:
                back = await gw.wait_registration(0, 30)
                if back is None:
                    return Outcome(False, f"no registration: {brief(proc.tail(3))}")
                link = gw.registrations[0][1]
                await gw.call("echo", {"n": 1})
                await gw.call("no_such_command")
                leaked = [code_of((await gw.call(name))[0]) for name in ("leak", "leak_key")]
                await gw.send({"type": "error", "error": f"token is {self.SECRET}", "code": "X"})
                await link.ws.close(1011, "bye")
                again = await gw.wait_registration(1, 10)
                await gw.call("echo", {"n": 2})
            finally:
                await proc.stop()
        finally:
            await gw.stop()
        text = proc.text()
        leaks = self.leaks(text)
        header_ok = link.auth == f"Bearer {self.SECRET}"
        query_ok = (f"token={quote_plus(self.SECRET)}" in link.path
                    or f"token={quote(self.SECRET, safe='')}" in link.path) if query else \
            "token" not in link.path
        ok = not leaks and header_ok and query_ok and again is not None \
            and leaked == ["HANDLER_ERROR"] * 2
        return Outcome(ok, f"token sent {'in header and query' if query else 'in header'}: "
                           f"{header_ok and query_ok}; handlers raising it: {'/'.join(leaked)}; "
                           f"{len(text.splitlines())} log lines (--debug), "
                           f"{text.count('**********')} masked; forms found: {leaks or 'none'}")

    async def secret_start_error(self) -> Outcome:
        folder = self.tmp / "secret-start"
        config = self.secret_config(folder, "ws://127.0.0.1:9", query=True, extra=(
            "x_probe: \"{{ values[env.NODE_TOKEN] }}\"\n"))
        proc = Proc(launch(self.mode, "--debug", "run", str(config)), folder / "node.log", cwd=self.cwd,
                    env=self.secret_env()).start()
        rc = await proc.wait(30)
        await proc.stop()
        text = proc.text()
        leaks = self.leaks(text)
        return Outcome(rc == 78 and not leaks, f"exit {rc}; {brief(text.strip().splitlines()[-1] if text.strip() else '', 70)}; forms found: {leaks or 'none'}")

    async def secret_reload_error(self) -> Outcome:
        gw = await Gateway(self.SECRET).start()
        folder = self.tmp / "secret-reload"
        try:
            config = self.secret_config(folder, gw.url, query=False)
            proc = Proc(launch(self.mode, "--debug", "run", str(config)), folder / "node.log", cwd=self.cwd,
                        env=self.secret_env()).start()
            try:
                if await gw.wait_registration(0, 30) is None:
                    return Outcome(False, f"no registration: {brief(proc.tail(3))}")
                await asyncio.sleep(1.5)  # the watch is in place (see "edited as it registers")
                offset = len(proc.text())
                replace_file(config, config.read_text()
                             + "x_probe: \"{{ values[env.NODE_TOKEN] }}\"\n")
                line = await self.log_line(proc, offset, "reload|ERROR", 10)
                answer, _ = await gw.call("echo", {"n": 1})
            finally:
                await proc.stop()
        finally:
            await gw.stop()
        leaks = self.leaks(proc.text())
        ok = line is not None and code_of(answer) == "success" and not leaks
        return Outcome(ok, f"{brief(line.split(': ', 1)[-1] if line else 'no error line', 70)}; "
                           f"forms found: {leaks or 'none'}")

    async def secret_refused(self) -> Outcome:
        gw = await Gateway(self.SECRET).start()
        gw.refuse_status = 401
        folder = self.tmp / "secret-refused"
        try:
            config = self.secret_config(folder, gw.url, query=True)
            proc = Proc(launch(self.mode, "--debug", "run", str(config)), folder / "node.log", cwd=self.cwd,
                        env=self.secret_env()).start()
            rc = await proc.wait(30)
            await proc.stop()
        finally:
            await gw.stop()
        text = proc.text()
        leaks = self.leaks(text)
        return Outcome(rc == 77 and not leaks, f"exit {rc}; forms found: {leaks or 'none'}")

    async def secret_render(self) -> Outcome:
        folder = self.tmp / "secret-render"
        config = self.secret_config(folder, "ws://127.0.0.1:9", query=True)
        proc = Proc(launch(self.mode, "--debug", "render", str(config)), folder / "render.log", cwd=self.cwd,
                    env=self.secret_env()).start()
        rc = await proc.wait(30)
        await proc.stop()
        text = proc.text()
        leaks = self.leaks(text)
        return Outcome(rc == 0 and "**********" in text and not leaks,
                       f"exit {rc}; masked: {'**********' in text}; forms found: {leaks or 'none'}")

    # 7. serve

    async def serve_cases(self) -> None:
        if self.only is not None and "serve" not in self.only:
            return
        sv = ServeAttacks(self)
        await sv.start()
        try:
            c = self.case
            await c("serve", "no token given to serve", "other", sv.no_token_serve)
            await c("serve", "nodes and operators without the token", "other", sv.no_token_clients)
            await c("serve", "Origin header (browser)", "other", sv.origin)
            await c("serve", "second registration of a connected node_id", "other", sv.theft)
            await c("serve", f"{self.sizes.registrations:,} throwaway registrations, then "
                             f"{self.sizes.list_nodes} list_nodes", "other", sv.registrations)
            await c("serve", "an operator cancelling another's request", "other", sv.foreign_cancel)
            await c("serve", "a node that leaves: its pending request fails", "other", sv.node_leaves)
            await c("serve", f"{self.sizes.connections} connections at once", "other", sv.connections)
            await c("serve", "an operator over the rate limit", "other", sv.rate)
        finally:
            await sv.stop()

    # 8. Storage

    async def full_disk(self) -> Outcome:
        """The database cannot grow: a file size limit (RLIMIT_FSIZE) on the node's process
        makes SQLite's writes fail, as a full disk does, without root."""
        gw = await Gateway().start()
        folder = self.tmp / "full"
        try:
            config = self.node_folder(folder, gw.url, "attack-full")
            proc = Proc(launch(self.mode, "run", str(config)), self.tmp / "full.log",
                        cwd=self.cwd, fsize=512 << 10).start()
            try:
                if await gw.wait_registration(0, 30) is None:
                    return Outcome(False, f"no registration: {brief(proc.tail(3))}")
                inp = graph({"id": "i", "type": "nodetool.input.StringInput",
                             "data": {"name": "text", "value": ""}},
                            {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}},
                            edges=[("i", "output", "o", "value")])
                refused = None
                runs = 0
                for runs in range(1, 41):
                    answer, _ = await gw.call("run_workflow", {"graph": inp, "params": {
                        "text": "z" * 60_000}}, timeout=30)
                    if code_of(answer) != "success":
                        return Outcome(False, f"run {runs}: {code_of(answer)} "
                                              f"{brief((answer or {}).get('error'), 80)}")
                    if "record_error" in answer["result"]:
                        refused = answer["result"]
                        break
                if refused is None:
                    return Outcome(False, f"no write refused after {runs} runs")
                job, _ = await gw.call("get_job", {"job_id": refused["job_id"]})
                logs, _ = await gw.call("get_job_logs", {"job_id": refused["job_id"]})
                echo, _ = await gw.call("echo", {"n": 1})
                # Room again: the next run is recorded.
                resource.prlimit(proc.pid, resource.RLIMIT_FSIZE,
                                 (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                after, _ = await gw.call("run_workflow", {"graph": TRIVIAL}, timeout=30)
            finally:
                await proc.stop()
        finally:
            await gw.stop()
        text = proc.text()
        warnings = [ln for ln in text.splitlines() if "WARNING" in ln and
                    ("not recorded" in ln or "refused" in ln or "disk" in ln)]
        tracebacks = text.count("Traceback")
        ok = (code_of(job) == "success" and job["result"].get("status") == "completed"
              and code_of(logs) == "success" and code_of(echo) == "success"
              and code_of(after) == "success" and "record_error" not in after["result"]
              and tracebacks == 0)
        return Outcome(ok, f"run {runs} answered with record_error "
                           f"({brief(refused['record_error'], 50)}); get_job {code_of(job)} "
                           f"{(job or {}).get('result', {}).get('status')}; "
                           f"{len(warnings)} WARNING lines, {tracebacks} tracebacks; with room "
                           f"again the next run is recorded: "
                           f"{code_of(after) == 'success' and 'record_error' not in after['result']}")


# serve


def registration(node_id: str, **extra: Any) -> str:
    return json.dumps({"type": "node_registration", "node_id": node_id,
                       "capabilities": {"workflow_execution": True, "commands": ["echo"],
                                        "message_types": ["command_request"]},
                       "metadata": {"user_id": "1"}, **extra})


class FakeNode:
    """A node on a real socket: registers, records frames, answers commands if asked to."""

    def __init__(self, url: str, node_id: str, token: str, answer: bool = True) -> None:
        self.url, self.node_id, self.token, self.answer = url, node_id, token, answer
        self.frames: list[dict] = []
        self.queue: asyncio.Queue[dict] = asyncio.Queue()
        self.ws: ClientConnection
        self.reader: asyncio.Task

    async def start(self) -> FakeNode:
        self.ws = await connect(self.url, additional_headers=auth(self.token), max_size=None)
        await self.ws.send(registration(self.node_id))
        self.reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                self.frames.append(frame)
                self.queue.put_nowait(frame)
                if self.answer and frame.get("type") == "command_request":
                    await self.ws.send(json.dumps({
                        "type": "command_response", "request_id": frame["request_id"],
                        "status": "success", "result": {"node": self.node_id}}))
        except ConnectionClosed:
            pass

    async def next(self, kind: str, timeout: float = 5) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.queue.get()
                if frame.get("type") == kind:
                    return frame

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


class Operator:
    """A raw operator connection to `serve`."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buffer: list[dict] = []

    @classmethod
    async def open(cls, url: str, token: str) -> Operator:
        return cls(await connect(url + "/operator", additional_headers=auth(token), max_size=None))

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, match: Callable[[dict], bool], timeout: float = 5) -> dict:
        for frame in self.buffer:
            if match(frame):
                self.buffer.remove(frame)
                return frame
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if match(frame):
                    return frame
                self.buffer.append(frame)

    async def final(self, rid: str, timeout: float = 5) -> dict:
        return await self.next(lambda f: f.get("request_id") == rid and f.get("type") in FINAL,
                               timeout)

    async def close(self) -> None:
        await self.ws.close()


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def refused_status(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The HTTP status a handshake is refused with, or None when it is accepted."""
    try:
        async with connect(url, additional_headers=headers or {}, open_timeout=5):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


class ServeAttacks:
    """`nodetool-gateway serve` as a subprocess with a token, and clients that attack it."""

    TOKEN = "serve-token-0123456789"

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.tmp = suite.tmp / "serve"
        self.tmp.mkdir()
        self.port = 0
        self.proc: Proc
        self.ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        token_file = self.tmp / "token"
        token_file.write_text(self.TOKEN + "\n")
        token_file.chmod(0o600)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "NODETOOL_GATEWAY_TOKEN"}
        self.proc = Proc(launch(self.suite.mode, "serve", "--port", str(self.port),
                                "--auth-token-file", str(token_file)),
                         self.tmp / "serve.log", cwd=self.suite.cwd, env=env).start()
        deadline = time.perf_counter() + 30
        while True:
            try:
                if await refused_status(self.url + "/operator", auth(self.TOKEN)) is None:
                    return
            except OSError:
                pass
            if not self.proc.alive or time.perf_counter() > deadline:
                raise RuntimeError(f"serve did not start: {self.proc.tail()}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        await self.proc.stop()

    def alive(self) -> str:
        return "" if self.proc.alive else f"; serve EXITED {self.proc.returncode}"

    async def no_token_serve(self) -> Outcome:
        env = {k: v for k, v in os.environ.items() if k != "NODETOOL_GATEWAY_TOKEN"}
        port = free_port()
        proc = Proc(launch(self.suite.mode, "serve", "--port", str(port)),
                    self.tmp / "no-token.log", cwd=self.suite.cwd, env=env).start()
        rc = await proc.wait(30)
        await proc.stop()
        listening = True
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            listening = False
        return Outcome(rc == 2 and not listening,
                       f"exit {rc}, listening: {listening}: "
                       f"{brief(proc.text().strip().splitlines()[-1] if proc.text().strip() else '', 60)}")

    async def no_token_clients(self) -> Outcome:
        got = []
        for path in ("", "/operator"):
            for headers in ({}, auth("wrong-token"), {"Authorization": "Basic eDp5"}):
                got.append(await refused_status(self.url + path, headers))
        return Outcome(all(s == 401 for s in got) and not self.alive(),
                       f"node and operator paths, no/wrong/basic token: {got}{self.alive()}")

    async def origin(self) -> Outcome:
        got = []
        for path in ("", "/operator"):
            for origin in ("https://evil.example", "null", "http://localhost:8080"):
                got.append(await refused_status(self.url + path,
                                                {**auth(self.TOKEN), "Origin": origin}))
        return Outcome(all(s == 403 for s in got), f"3 origins x 2 paths: {got}{self.alive()}")

    async def theft(self) -> Outcome:
        victim = await FakeNode(self.url, "victim", self.TOKEN).start()
        op = await Operator.open(self.url, self.TOKEN)
        try:
            await asyncio.sleep(0.2)
            thief = await connect(self.url, additional_headers=auth(self.TOKEN))
            start = time.perf_counter()
            await thief.send(registration("victim"))
            error = json.loads(await asyncio.wait_for(thief.recv(), 10))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(thief.wait_closed(), 5)
            took = time.perf_counter() - start
            rid = f"t{next(self.ids)}"
            await op.send({"type": "command_request", "request_id": rid, "command": "echo",
                           "args": {}, "node_id": "victim"})
            answer = await op.final(rid)
        finally:
            await op.close()
            await victim.close()
        ok = error.get("code") == "NODE_ID_IN_USE" and thief.close_code == 1008 and \
            answer.get("result", {}).get("node") == "victim"
        return Outcome(ok, f"{error.get('code')}, close {thief.close_code} after {took:.2f} s; "
                           f"the victim still answers: {answer.get('status')}{self.alive()}")

    async def registrations(self) -> Outcome:
        n, sampler = self.suite.sizes.registrations, self.proc.sampler
        assert sampler is not None
        rss0 = sampler.now()
        live = await FakeNode(self.url, "live-node", self.TOKEN).start()
        start = time.perf_counter()
        counter = itertools.count()
        failures = Counter()

        async def worker() -> None:
            while (i := next(counter)) < n:
                try:
                    async with connect(self.url, additional_headers=auth(self.TOKEN),
                                       open_timeout=10) as ws:
                        await ws.send(registration(f"throwaway-{i:05d}",
                                                   metadata={"user_id": "1", "pad": "p" * 2000}))
                except Exception as exc:  # noqa: BLE001 - counted, shown in the note
                    failures[type(exc).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(16)))
        flood = time.perf_counter() - start
        await asyncio.sleep(0.5)
        op = await Operator.open(self.url, self.TOKEN)
        sizes = []
        try:
            t = time.perf_counter()
            for i in range(self.suite.sizes.list_nodes):
                rid = f"ln{i}"
                await op.send({"type": "list_nodes", "request_id": rid})
                reply = await op.next(lambda f, rid=rid: f.get("request_id") == rid)
                sizes.append(len(reply.get("nodes", [])))
            listing = time.perf_counter() - t
        finally:
            await op.close()
            await live.close()
        peak = sampler.peak(start, time.perf_counter())[0]
        ok = len(sizes) == self.suite.sizes.list_nodes and max(sizes) <= 101 and not self.alive()
        return Outcome(ok, f"{n:,} registrations in {flood:.1f} s"
                           f"{' (' + str(dict(failures)) + ' failed)' if failures else ''}; "
                           f"list_nodes lists {max(sizes, default=0)} nodes, {len(sizes)} lists in "
                           f"{listing:.2f} s; serve RSS {rss0:.0f} -> peak {peak:.0f} MB{self.alive()}",
                       rss=peak)

    async def foreign_cancel(self) -> Outcome:
        node = await FakeNode(self.url, "slow-node", self.TOKEN, answer=False).start()
        owner = await Operator.open(self.url, self.TOKEN)
        other = await Operator.open(self.url, self.TOKEN)
        try:
            await asyncio.sleep(0.2)
            rid = f"fc{next(self.ids)}"
            await owner.send({"type": "command_request", "request_id": rid, "command": "echo",
                              "args": {}, "node_id": "slow-node"})
            await node.next("command_request")
            await other.send({"type": "cancel_request", "request_id": rid})
            refusal = await other.next(lambda f: f.get("type") == "error")
            # The same request id sent by the other operator: refused too.
            await other.send({"type": "command_request", "request_id": rid, "command": "echo",
                              "args": {}, "node_id": "slow-node"})
            reuse = await other.next(lambda f: f.get("type") == "error")
            await asyncio.sleep(0.3)
            seen = [f["type"] for f in node.frames[1:]]
            await node.ws.send(json.dumps({"type": "command_response", "request_id": rid,
                                           "status": "success", "result": "mine"}))
            mine = await owner.final(rid)
        finally:
            await owner.close()
            await other.close()
            await node.close()
        ok = refusal.get("code") == "NOT_FOUND" and reuse.get("code") == "INVALID_MESSAGE" \
            and not seen and mine.get("result") == "mine"
        return Outcome(ok, f"cancel: {refusal.get('code')}; reusing the id: {reuse.get('code')}; "
                           f"the node saw {seen or 'nothing more'}; the owner got its answer"
                           f"{self.alive()}")

    async def node_leaves(self) -> Outcome:
        node = await FakeNode(self.url, "leaving-node", self.TOKEN, answer=False).start()
        op = await Operator.open(self.url, self.TOKEN)
        try:
            await asyncio.sleep(0.2)
            rid = f"nl{next(self.ids)}"
            await op.send({"type": "command_request", "request_id": rid, "command": "echo",
                           "args": {}, "node_id": "leaving-node"})
            await node.next("command_request")
            start = time.perf_counter()
            node.ws.transport.abort()  # gone, without a close frame
            answer = await op.final(rid, timeout=10)
            took = time.perf_counter() - start
        finally:
            await op.close()
            with contextlib.suppress(Exception):
                await node.close()
        ok = answer.get("code") == "NODE_DISCONNECTED" and took < 1.0
        return Outcome(ok, f"{answer.get('code')} {took * 1000:.0f} ms after the node vanished"
                           f"{self.alive()}", stall=None)

    async def connections(self) -> Outcome:
        n, sampler = self.suite.sizes.connections, self.proc.sampler
        assert sampler is not None
        start = time.perf_counter()
        opened: list[ClientConnection] = []
        refused: Counter[Any] = Counter()
        for _ in range(n):
            try:
                opened.append(await connect(self.url + "/operator", additional_headers=auth(self.TOKEN),
                                            open_timeout=10))
            except InvalidStatus as exc:
                refused[exc.response.status_code] += 1
            except Exception as exc:  # noqa: BLE001
                refused[type(exc).__name__] += 1
        peak = sampler.peak(start, time.perf_counter())[0]
        for ws in opened:
            await ws.close()
        await asyncio.sleep(0.3)
        after = await refused_status(self.url + "/operator", auth(self.TOKEN))
        ok = refused.get(503, 0) == n - len(opened) and refused.get(503, 0) > 0 and after is None
        return Outcome(ok, f"{len(opened)} accepted, refused: {dict(refused)}; accepted again "
                           f"once closed: {after is None}{self.alive()}", rss=peak)

    async def rate(self) -> Outcome:
        op = await Operator.open(self.url, self.TOKEN)
        sent = 0
        try:
            for i in range(2000):
                await op.send({"type": "list_nodes", "request_id": f"r{i}"})
                sent += 1
        except ConnectionClosed:
            pass
        try:
            error = await op.next(lambda f: f.get("type") == "error", timeout=5)
        except (ConnectionClosed, TimeoutError):
            error = {}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(op.ws.wait_closed(), 5)
        ok = error.get("code") == "RATE_LIMITED" and op.ws.close_code == 1008
        return Outcome(ok, f"{sent} sent; {error.get('code')}, close {op.ws.close_code}"
                           f"{self.alive()}")


# Files


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` in one step (temp file + rename), as editors do."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# Report


def fmt_ms(r: Result) -> str:
    if r.stall is None:
        return "-"
    ms = f"{r.stall * 1000:.0f}"
    return ms if r.kind in JUDGED else f"({ms})"


def fmt_mb(v: float | None) -> str:
    return "-" if not v else f"{v:.0f}"


def table(results: list[Result]) -> str:
    rows = [("class", "case", "held", "stall ms", "peak RSS MB", "note")]
    for r in results:
        rows.append((r.klass, r.case, "yes" if r.held else "**NO**", fmt_ms(r), fmt_mb(r.rss),
                     r.note.replace("|", "/")))
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(out)


def summary(results: list[Result]) -> list[str]:
    lines = []
    held = sum(r.held for r in results)
    judged = [r for r in results if r.kind in JUDGED and r.stall is not None
              and r.klass != "baseline"]
    worst = max(judged, key=lambda r: r.stall or 0, default=None)
    base = next((r for r in results if r.klass == "baseline"), None)
    line = f"{len(results)} cases tried, {held} held"
    if worst is not None:
        line += (f"; longest stall while a single request ran: {worst.stall * 1000:.0f} ms "
                 f"({worst.klass}: {worst.case}; target < {STALL_TARGET * 1000:.0f} ms)")
    if base is not None and base.stall is not None:
        line += f"; noise floor (no attack) {base.stall * 1000:.0f} ms"
    lines.append(line)
    flooded = [r for r in results if r.kind == "flood" and r.stall is not None]
    if flooded:
        top = max(flooded, key=lambda r: r.stall or 0)
        lines.append(f"longest stall under a flood (not judged): {(top.stall or 0) * 1000:.0f} ms "
                     f"({top.case})")
    floods = [r for r in results
              if r.kind == "flood" or r.klass == "floods" or (r.klass == "serve" and r.rss)]
    if floods:
        lines.append("peak RSS under each flood: " + "; ".join(
            f"{r.case} {r.rss:.0f} MB{' (serve)' if r.klass == 'serve' else ''}"
            for r in floods if r.rss))
    missed = [r for r in results if not r.held]
    if missed:
        lines.append("did not hold: " + "; ".join(f"{r.klass}: {r.case}" for r in missed))
    return lines


def machine() -> list[str]:
    from .report import _commit, _cpu_model, _source_digest

    load = os.getloadavg()
    return [f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"machine: nproc {os.cpu_count()}, {_cpu_model()}, Linux {platform.release()}, "
            f"load average {load[0]:.2f} at the end (a shared machine)",
            f"python: {platform.python_version()}; commit {_commit()}; {_source_digest()}"]


INSTALLS = {
    "default": "Default install (asyncio's loop, the standard json module; uvloop and orjson hidden)",
    "speed": "With the speed extra (uvloop, orjson)",
}

METHOD = """\
How it was run: `.venv/bin/python -m benchmarks.attacks` (see benchmarks/README.md). Each
install runs every case against real processes on 127.0.0.1: the node
(`nodetool-gateway run node.yaml` through `_launch.py default|speed`; heartbeat 0.5 s,
heartbeat.timeout 3 s, gateway.max_message_size 4 MiB, engine.max_run_time 3 s, 2
workers) joined to a gateway played by the benchmark (a websockets server on asyncio's
loop), and `nodetool-gateway serve` with a token for the serve class. Cases marked
"fresh node" start a node of their own. **stall**: the longest round trip of an `echo`
probe sent every 20 ms, or the longest heartbeat gap less the 0.5 s interval, while the
case ran; judged (< 100 ms) where single hostile requests run (frames, workflows, the
answer-log case); shown in parentheses, not judged, for floods and for cases that drop
the connection or reload the config on purpose (the probe then waits behind the flood or
the reconnect by design). The probe and the gateway share the machine's 2 cores with the
node, its workers and whatever else runs: the baseline row (no attack) is the noise
floor. **peak RSS**: the node's VmRSS (serve's for the serve rows), sampled every 20 ms
while the case ran; workflow and flood rows add their workers' peak (summed) in the note.
"""


# What a case that did not hold means, as found when the suite was written (checked
# against src/ then); shown under the results when the case does not hold.
WHY = {
    "stops reading": (
        "the node's own keepalive (`_connection._watch_peer`) counts bytes written while the "
        "transport's buffer is empty as signs of life, though they only went into the "
        "kernel's socket buffers: with nothing queued, or a backlog that fits those buffers "
        "(tcp_rmem allows 32 MB here), the heartbeats alone keep a gateway that reads nothing "
        "'alive', and it is never dropped (it was, in about 4.5 s, with websockets' ping)."),
    "reads slowly": (
        "the gateway's own socket receive buffer (autotuned up to 32 MB here) takes the "
        "node's backlog at once, so nothing stays queued on the node's side (transport buffer "
        "and kernel send queue empty) and only a pong can show the gateway alive; the pong "
        "waits behind the megabytes the gateway reads at 1 MB/s, longer than "
        "heartbeat.timeout (3 s). Any keepalive drops a gateway whose own buffered backlog "
        "takes longer than heartbeat.timeout to read (at the default 60 s: e.g. 32 MB at "
        "under 0.5 MB/s)."),
    "config edited": (
        "`run` starts the watcher once registered, catching up with a stamp taken at start "
        "(`ConfigWatcher.run(since=...)`): the stamp is compared before watchfiles has its "
        "watch in place, so an edit in between is seen by neither and stays unapplied until "
        "the file changes again."),
    "yaml.py": (
        "the config's folder goes on sys.path after the standard library but before "
        "site-packages: a module named like one the node imports late (websockets and "
        "watchfiles in the node, jinja2 and re2 in each worker process, whose sys.path is the "
        "node's) is taken from beside node.yaml instead."),
    "40 answers of 3 MiB": (
        "the answer log (`delivery.AnswerLog`) keeps its newest batch (512 answers) as they "
        "are, whatever their size, and seals it on the session's loop: one join, encode and "
        "zlib pass over the whole batch, here ~120 MB, which holds the loop and briefly "
        "doubles the memory."),
}


# Cases whose outcome varies from run to run on the same code, and why.
VARIES = (
    "The slow reader at 1 MB/s (8 MB queued, read every 0.25 s) varies: run alone 8 times "
    "on the code measured here it was dropped 3 times. The gateway's socket receive buffer "
    "grows (TCP autotuning) and can take the whole backlog, leaving nothing queued on the "
    "node's side; the pong then waits behind about 8 s of reading, past heartbeat.timeout "
    "(see the reason given when it does not hold)."
)


def markdown(by_install: dict[str, list[Result]]) -> str:
    out = ["# Attack suite: results", "",
           "Hostile input of every class against real processes; what held, the longest "
           "stall of the node's event loop, and peak memory. Produced by "
           "`python -m benchmarks.attacks`; the tests in `tests/` check the same defences "
           "one at a time.", ""]
    out += [f"- {line}" for line in machine()]
    out += ["", METHOD, VARIES, ""]
    for install, results in by_install.items():
        out += [f"## {INSTALLS[install]}", ""]
        out += [f"**{line}**" if i == 0 else line for i, line in enumerate(summary(results))]
        out += ["", table(results), ""]
        notes = [(r.case, why) for r in results if not r.held
                 for key, why in WHY.items() if key in r.case]
        if notes:
            out += ["Why these did not hold:", ""]
            out += [f"- *{case}*: {why}" for case, why in notes]
            out += [""]
    return "\n".join(out).rstrip() + "\n"


async def run_install(mode: str, sizes: Sizes, tmp: Path, only: set[str] | None) -> list[Result]:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    return await Suite(mode, sizes, tmp, only, say).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attacks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller floods (about a third "
                        "of the time); does not write ATTACKS.md unless --out is given")
    parser.add_argument("--install", choices=("default", "speed", "both"), default="both")
    parser.add_argument("--only", help=f"classes, comma-separated: {','.join(CLASSES)}")
    parser.add_argument("--out", type=Path, help="write the results here (a full run writes "
                        "benchmarks/ATTACKS.md by default)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = {c.strip() for c in args.only.split(",") if c.strip()}
        unknown = only - set(CLASSES)
        if unknown:
            parser.error(f"unknown classes: {', '.join(sorted(unknown))}")
        only.add("baseline")
    installs = ["default", "speed"] if args.install == "both" else [args.install]
    # The driver stays on asyncio's own loop: its transports read at most 256 KiB per
    # pass, which is what lets the slow-reader cases read at a set pace (uvloop reads on).
    tmp = Path(tempfile.mkdtemp(prefix="nodetool-attacks-"))
    by_install: dict[str, list[Result]] = {}
    started = time.perf_counter()
    try:
        for mode in installs:
            by_install[mode] = asyncio.run(run_install(mode, QUICK if args.quick else FULL, tmp, only))
    finally:
        if args.keep:
            print(f"scratch folder kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for mode, results in by_install.items():
        print(f"\n## {INSTALLS[mode]}\n")
        for line in summary(results):
            print(line)
        print()
        print(table(results))
    print(f"\n(run took {time.perf_counter() - started:.0f} s)")
    out = args.out
    if out is None and not args.quick and not args.no_write and only is None:
        out = ATTACKS_MD
    if out is not None and not args.no_write:
        out.write_text(markdown(by_install))
        print(f"wrote {out}", file=sys.stderr)
    return 0 if all(r.held for rs in by_install.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
