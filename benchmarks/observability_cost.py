"""What ``observability.listen`` costs a node: the same node with the listener on and off.

Two node processes on one gateway, their configs the same but for
``observability.listen: 127.0.0.1:0`` (on) or nothing (off); both route ``noop``
and ``obs_routes`` more no-op routes. Loaded in turn (A B A B), as the wire cases
load the node and the bare client:

- sequential round trips (p50, p99), as the latency case;
- commands/s and the node's CPU per command, ``command_count`` no-ops 64 in flight;
- RSS after registration, and after the first ``/metrics`` scrape;
- ``/metrics`` at ``obs_routes`` distinct routes (each called once): wall time of a
  scrape and the node's CPU per scrape;
- the stall: sequential requests for ``obs_stall_seconds`` with a scraper (its own
  process, ``_scrape.py``) fetching ``/metrics`` every ``obs_scrape_interval`` s,
  against the same without scrapes: the longest round trip is the longest time the
  node's loop kept a request waiting (the attack suite's probe, sent back to back);
- start-up (``Popen`` to registration) with the listener on and off, fresh processes,
  and the first scrape of each fresh node (it imports prometheus_client);
- the import of prometheus_client itself, after what ``run`` imports (``_import_probe.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from nodetool_gateway.gateway import LocalGateway

from ._harness import (
    BENCH,
    ROOT,
    TOKEN,
    Bench,
    Load,
    Proc,
    Row,
    alternate,
    child_env,
    median,
    percentile,
    wait_registered,
    write_node_config,
)

__all__ = ["observability"]

CASE = "observability"


def _commands(routes: int) -> dict[str, Any]:
    commands: dict[str, Any] = {"noop": "benchmarks._handlers:noop"}
    commands.update({f"r{i:03d}": "benchmarks._handlers:noop" for i in range(routes)})
    return commands


def listening_port(pid: int) -> int | None:
    """The TCP port process ``pid`` listens on (its sockets in LISTEN state), if any."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # 0A: LISTEN
                return int(parts[1].rsplit(":", 1)[1], 16)
    return None


async def _port(proc: Proc, timeout: float = 10) -> int:
    deadline = time.perf_counter() + timeout
    while True:
        proc.check()
        port = listening_port(proc.pid)
        if port is not None:
            return port
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{proc.node_id} does not listen for /metrics:\n{proc.tail()}")
        await asyncio.sleep(0.02)


async def http_get(port: int, path: str = "/metrics") -> tuple[int, bytes]:
    """One GET on a connection of its own (the node's server closes after each answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class Scraper:
    """``_scrape.py`` in its own process: scrapes asked for over stdin, times on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, bench: Bench, port: int) -> Scraper:
        with open(bench.tmp / "scrape.log", "ab") as err:  # noqa: ASYNC230
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(BENCH / "_scrape.py"), "--url",
                f"http://127.0.0.1:{port}/metrics", stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=child_env())
        scraper = cls(proc)
        if await scraper._line(30) != "ready":
            raise RuntimeError("the scraper did not start (see scrape.log)")
        return scraper

    async def _line(self, timeout: float | None = None) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            await self.proc.wait()
            raise RuntimeError(f"the scraper exited with {self.proc.returncode} (see scrape.log)")
        return line.decode().strip()

    def ask(self, **what: Any) -> asyncio.Future[dict[str, Any]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(what).encode() + b"\n")
        return asyncio.ensure_future(self._answer())

    async def _answer(self) -> dict[str, Any]:
        result = json.loads(await self._line())
        if result["status"] != [200]:
            raise RuntimeError(f"/metrics answered {result['status']}")
        return result

    async def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _timed_sequential(load: Load, node_id: str, seconds: float) -> list[tuple[float, float]]:
    """Sequential no-ops for ``seconds``: (sent at, round trip) of each."""
    send, frame, clock = load.ws.send, load.frame, time.perf_counter
    out: list[tuple[float, float]] = []
    end = clock() + seconds
    while clock() < end:
        text = frame(node_id)[1]
        start = clock()
        await send(text)
        answer = await load.final()
        out.append((start, clock() - start))
        if answer.get("status") != "success":
            raise RuntimeError(f"a no-op failed on {node_id}: {answer}")
    return out


async def _import_probe(bench: Bench) -> dict[str, Any]:
    argv = [sys.executable, str(BENCH / "_launch.py"), bench.mode, str(BENCH / "_import_probe.py")]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=child_env(),
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        raise RuntimeError(f"_import_probe.py exited with {proc.returncode}: {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def observability(bench: Bench) -> list[Row]:
    s = bench.sizes
    reps = max(s.reps, 1)
    folder = bench.tmp / "observability"
    folder.mkdir(parents=True, exist_ok=True)
    commands = _commands(s.obs_routes)
    gw = LocalGateway(auth_token=TOKEN)
    await gw.start()

    def config(name: str, listen: bool) -> Proc:
        sections: dict[str, Any] = {"observability": {"listen": "127.0.0.1:0"}} if listen else {}
        cfg = write_node_config(folder / f"{name}.yaml", gw.url, name, folder / f"storage-{name}",
                                commands=commands, **sections)
        return Proc.node(bench, cfg, name)

    on, off = config("node-obs-on", True), config("node-obs-off", False)
    load: Load | None = None
    scraper: Scraper | None = None
    rows: list[Row] = []
    try:
        for proc in (off, on):
            proc.start()
        for proc in (off, on):
            await wait_registered(gw, proc)
        port = await _port(on)
        load = await Load.connect(gw)
        for proc in (off, on):
            await load.burst(proc.node_id, count=s.warmup)
        await asyncio.sleep(0.5)
        rss_idle = {"off": off.rss(), "on": on.rss()}

        # Latency, as the latency case: p50 and p99 of sequential round trips.
        def latency(proc: Proc):
            async def once() -> tuple[float, float]:
                times, failed = await load.sequential(proc.node_id, s.latency_count)
                if failed:
                    raise RuntimeError(f"{failed} commands failed on {proc.node_id}")
                return percentile(times, 0.5) * 1e6, percentile(times, 0.99) * 1e6
            return once

        lat_off, lat_on = await alternate(reps, latency(off), latency(on))
        for i, name in enumerate(("p50", "p99")):
            n, b = [r[i] for r in lat_on], [r[i] for r in lat_off]
            row = Row(CASE, f"listen on vs off: sequential round trip {name}, "
                      f"{s.latency_count:,} commands",
                      median(n), median(b), "µs", "report", None, digits=0)
            row.notes.append(f"runs (µs): on {_fmt(n, 0)}; off {_fmt(b, 0)}")
            rows.append(row)

        # Throughput and CPU per command, 64 in flight (the load in the driver).
        def burst(proc: Proc):
            async def once() -> tuple[float, float]:
                c0 = proc.cpu()
                b = await load.burst(proc.node_id, count=count, in_flight=s.in_flight)
                c1 = proc.cpu()
                if b.failed:
                    raise RuntimeError(f"{b.failed} commands failed on {proc.node_id}")
                return b.done / b.seconds, (c1 - c0) / b.done * 1e6
            return once

        count = max(s.command_count // 4, 1)
        thr_off, thr_on = await alternate(reps, burst(off), burst(on))
        size = f"{count:,} no-ops, {s.in_flight} in flight, load in the driver"
        row = Row(CASE, f"listen on vs off: commands/s ({size})", median([r[0] for r in thr_on]),
                  median([r[0] for r in thr_off]), "/s", "report", None, digits=0)
        row.notes.append(f"runs (/s): on {_fmt([r[0] for r in thr_on], 0)}; "
                         f"off {_fmt([r[0] for r in thr_off], 0)}")
        rows.append(row)
        row = Row(CASE, f"listen on vs off: node CPU per command ({size})", median([r[1] for r in thr_on]),
                  median([r[1] for r in thr_off]), "µs", "report", None)
        row.notes.append(f"runs (µs): on {_fmt([r[1] for r in thr_on])}; "
                         f"off {_fmt([r[1] for r in thr_off])}")
        rows.append(row)

        # The first scrape (one route answered so far, noop): it imports prometheus_client.
        rss_before_scrape = on.rss()
        t0, c0 = time.perf_counter(), on.cpu()
        status, _ = await http_get(port)
        first_ms, first_cpu = (time.perf_counter() - t0) * 1000, (on.cpu() - c0) * 1000
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        await asyncio.sleep(0.5)
        rss_first = {"off": off.rss(), "on": on.rss()}
        row = Row(CASE, "listen on vs off: RSS after registration and warm-up, "
                  "before any scrape", rss_idle["on"], rss_idle["off"], "MB",
                  "report", None)
        row.notes.append(f"difference on - off: {rss_idle['on'] - rss_idle['off']:+.2f} MB "
                         "(one process each: no runs to take a median of)")
        rows.append(row)
        row = Row(CASE, "listen on vs off: RSS after the on node's first /metrics scrape",
                  rss_first["on"], rss_first["off"], "MB", "report", None)
        row.notes.append(f"difference on - off: {rss_first['on'] - rss_first['off']:+.2f} MB; "
                         f"the on node grew {rss_first['on'] - rss_before_scrape:+.2f} MB with its "
                         f"first scrape ({first_ms:.1f} ms wall, {first_cpu:.0f} ms node CPU in "
                         "/proc ticks of 10 ms)")
        rows.append(row)

        # Steady scrapes, no other load: wall time and the node's CPU per scrape.
        scraper = await Scraper.start(bench, port)

        async def scrapes() -> dict[str, Any]:
            walls: list[float] = []
            cpus: list[float] = []
            p99s: list[float] = []
            nbytes = 0
            for _ in range(reps):
                c0 = on.cpu()
                result = await scraper.ask(count=s.obs_scrapes, interval=0.0)
                c1 = on.cpu()
                times = [d for _, d in result["times"]]
                walls.append(median(times) * 1000)
                p99s.append(percentile(times, 0.99) * 1000)
                cpus.append((c1 - c0) / len(times) * 1000)
                nbytes = result["bytes"]
            return {"walls": walls, "cpus": cpus, "p99s": p99s, "bytes": nbytes}

        small = await scrapes()
        # Every route once, so /metrics has obs_routes routes of counters and histograms.
        for proc in (off, on):
            for i in range(s.obs_routes):
                _, failed = await load.sequential(proc.node_id, 1, command=f"r{i:03d}")
                if failed:
                    raise RuntimeError(f"route r{i:03d} failed on {proc.node_id}")
        big = await scrapes()
        for routes, got in ((1, small), (s.obs_routes + 1, big)):
            row = Row(CASE, f"one /metrics scrape, {routes} route{'s' if routes > 1 else ''} "
                      f"answered (wall, {s.obs_scrapes} back to back"
                      + (", baseline: 1 route)" if got is big else ")"),
                      median(got["walls"]), median(small["walls"]) if got is big else None, "ms",
                      "report", None, digits=2)
            row.notes.append(
                f"runs (ms, median scrape): {_fmt(got['walls'], 2)}; p99 {_fmt(got['p99s'], 2)}; "
                f"node CPU per scrape (ms): {_fmt(got['cpus'], 2)} (median "
                f"{median(got['cpus']):.2f}); body {got['bytes']:,} bytes"
                + (f"; the node's first scrape: {first_ms:.1f} ms" if got is small else ""))
            rows.append(row)

        # The stall: sequential requests with and without a scrape every interval.
        overlapping: list[float] = []
        scrape_ms: list[float] = []
        counts: list[int] = []

        def stall(scraping: bool):
            async def once() -> tuple[float, float]:
                if scraping:
                    asked = scraper.ask(seconds=s.obs_stall_seconds,
                                        interval=s.obs_scrape_interval)
                    await asyncio.sleep(0.05)  # the scraper's first scrape is under way
                times = await _timed_sequential(load, on.node_id, s.obs_stall_seconds)
                rts = [rt for _, rt in times]
                if scraping:
                    result = await asked
                    spans = [(a, a + d) for a, d in result["times"]]
                    counts.append(len(spans))
                    scrape_ms.extend(d * 1000 for _, d in result["times"])
                    hit = [rt for sent, rt in times
                           if any(a < sent + rt and sent < b for a, b in spans)]
                    overlapping.append(max(hit, default=0.0) * 1000)
                return max(rts) * 1000, percentile(rts, 0.99) * 1000
            return once

        calm, busy = await alternate(reps, stall(False), stall(True))
        row = Row(CASE, f"stall: longest round trip of sequential no-ops ({s.obs_stall_seconds:g} s) "
                  f"with /metrics scraped every {s.obs_scrape_interval * 1000:.0f} ms vs "
                  "not scraped",
                  median([r[0] for r in busy]), median([r[0] for r in calm]), "ms", "report",
                  None, digits=2)
        row.notes.append(
            f"runs (ms): scraped {_fmt([r[0] for r in busy], 2)}; not scraped "
            f"{_fmt([r[0] for r in calm], 2)}; p99 scraped {_fmt([r[1] for r in busy], 2)}, not "
            f"scraped {_fmt([r[1] for r in calm], 2)}; longest round trip of a request that "
            f"overlapped a scrape: {_fmt(overlapping, 2)}; {median(counts) if counts else 0:.0f} "
            f"scrapes per run, each {median(scrape_ms) if scrape_ms else 0:.2f} ms (median)")
        rows.append(row)
        rows.append(Row(CASE, "stall: p99 round trip of the same runs, scraped vs not scraped",
                        median([r[1] for r in busy]), median([r[1] for r in calm]), "ms",
                        "report", None, digits=2))
        await asyncio.sleep(0.5)
        row = Row(CASE, f"listen on vs off: RSS at the end ({s.obs_routes + 1} routes answered, "
                  "the on node scraped)", on.rss(), off.rss(), "MB", "report", None)
        row.notes.append(f"difference on - off: {row.node - row.baseline:+.2f} MB")
        rows.append(row)
    finally:
        if scraper is not None:
            await scraper.close()
        if load is not None:
            await load.close()
        await asyncio.gather(on.stop(), off.stop())
        await gw.stop()

    rows += await _startup(bench, folder, commands)
    probes = [await _import_probe(bench) for _ in range(reps)]
    ms = [p["ms"] for p in probes]
    row = Row(CASE, "import of the metrics module and prometheus_client, after `run`'s imports", median(ms), None, "ms", "report", None, digits=1)
    row.notes.append(f"runs (ms): {_fmt(ms)}; RSS +{median([p['rss_mb'] for p in probes]):.1f} MB, "
                     f"{probes[0]['modules']} modules; already imported by `run` before the "
                     f"first scrape: {'yes' if any(p['preloaded'] for p in probes) else 'no'}")
    rows.append(row)
    per_answer = [_answered_us() for _ in range(reps)]
    row = Row(CASE, "counting one answer (`Observer.answered`, in the driver's process; it runs "
              "whether listen is set or not)", median(per_answer), None, "µs", "report", None,
              digits=2)
    cpu_off = median([r[1] for r in thr_off])
    share = (f"{median(per_answer) / cpu_off * 100:.1f} % of the node's CPU per no-op command "
             f"above ({cpu_off:.0f} µs)" if cpu_off > 0 else "the CPU per command above is under "
             "one /proc tick at this size")
    row.notes.append(f"runs (µs): {_fmt(per_answer, 2)}; {share}; the on/off rows cannot show it")
    rows.append(row)
    return rows


def _answered_us(calls: int = 100_000) -> float:
    """µs per ``Observer.answered`` call: the per-answer counting the dispatcher always does."""
    import logging

    from nodetool_gateway.config import default_config
    from nodetool_gateway.observability import Observer
    from nodetool_gateway.protocols._base import Answer, Request

    observer = Observer(default_config(), None, None, backend=lambda: None,  # type: ignore[arg-type]
                        log=logging.getLogger("benchmarks"))
    request = Request(kind="command", name="noop", request_id="r1", args={},
                      frame_type="command_request")
    answer, answered, started = Answer(ok=True), observer.answered, time.perf_counter()
    answered(request, answer, started)
    t0 = time.perf_counter()
    for _ in range(calls):
        answered(request, answer, started)
    return (time.perf_counter() - t0) / calls * 1e6


async def _startup(bench: Bench, folder, commands: dict[str, Any]) -> list[Row]:
    """Popen -> registration, listen on vs off, fresh processes; and each on node's first scrape."""
    s = bench.sizes
    firsts: list[float] = []
    async with LocalGateway(auth_token=TOKEN) as gw:
        def make(name: str, listen: bool) -> Proc:
            sections: dict[str, Any] = {"observability": {"listen": "127.0.0.1:0"}} if listen else {}
            cfg = write_node_config(folder / f"{name}.yaml", gw.url, name,
                                    folder / f"storage-{name}", commands=commands, **sections)
            return Proc.node(bench, cfg, name)

        async def once(listen: bool, scrape: bool = True) -> float:
            proc = make("node-obs-start-on" if listen else "node-obs-start-off", listen)
            proc.start()
            try:
                registered = await wait_registered(gw, proc)
                if listen and scrape:
                    port = await _port(proc)
                    await asyncio.sleep(0.5)  # past what the node does right after registering
                    t0 = time.perf_counter()
                    status, _ = await http_get(port)
                    if status != 200:
                        raise RuntimeError(f"/metrics answered {status}")
                    firsts.append((time.perf_counter() - t0) * 1000)
            finally:
                await proc.stop()
            await gw.wait_for_disconnect(proc.node_id)
            return registered - proc.started

        await once(False)  # warm page cache, both
        await once(True, scrape=False)
        offs, ons = await alternate(max(s.reps, 1), lambda: once(False), lambda: once(True))
    row = Row(CASE, "listen on vs off: start-up, process start -> registration",
              median(ons), median(offs), "s", "report", None, digits=3)
    row.notes.append(f"runs (s): on {_fmt(ons, 3)}; off {_fmt(offs, 3)}")
    first = Row(CASE, "first /metrics scrape of a fresh node, 0.5 s after registration (imports "
                "prometheus_client)", median(firsts), None, "ms", "report",
                None, digits=1)
    first.notes.append(f"runs (ms): {_fmt(firsts)}")
    return [row, first]


def _fmt(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)
