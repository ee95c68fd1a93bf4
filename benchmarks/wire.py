"""Cases on a running node: command path (CPU), throughput, latency, memory, workflow."""

from __future__ import annotations

import asyncio
import json
import resource

from ._harness import Bench, Pair, Row, alternate, median, percentile

__all__ = ["command_path", "throughput", "latency", "memory", "workflow"]


def _driver_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def command_path(bench: Bench) -> list[Row]:
    """Client CPU µs per no-op command, 64 in flight; start-up and idle CPU excluded."""
    pair = await bench.pair()
    s = bench.sizes
    await pair.warm(s.warmup)
    driver: list[float] = []

    def run(proc):
        async def once() -> float:
            c0, d0 = proc.cpu(), _driver_cpu()
            burst = await pair.load.burst(proc.node_id, count=s.command_count, in_flight=s.in_flight)
            c1, d1 = proc.cpu(), _driver_cpu()
            _check(burst, proc)
            driver.append((d1 - d0) / burst.done * 1e6)
            return (c1 - c0) / burst.done * 1e6
        return once

    bare, node = await alternate(s.reps, run(pair.bare), run(pair.node))
    row = Row("command path", f"client CPU per command, no-op route ({s.command_count:,} "
              f"commands, {s.in_flight} in flight)", median(node), median(bare), "µs",
              "<= 1.25 x baseline", None)
    row.met = row.ratio <= 1.25
    row.notes.append(f"runs (µs): node {_fmt(node)}; baseline {_fmt(bare)}; driver (gateway + "
                     f"load) {median(driver):.0f} µs per command")
    return [row]


async def throughput(bench: Bench) -> list[Row]:
    """Commands per second, 64 in flight, for a fixed time."""
    pair = await bench.pair()
    s = bench.sizes
    await pair.warm(s.warmup)
    busy: dict[str, list[tuple[float, float]]] = {"bare": [], "node": []}

    def run(proc):
        async def once() -> float:
            c0, d0 = proc.cpu(), _driver_cpu()
            burst = await pair.load.burst(proc.node_id, seconds=s.throughput_seconds,
                                          in_flight=s.in_flight)
            c1, d1 = proc.cpu(), _driver_cpu()
            _check(burst, proc)
            busy[proc.name].append(((c1 - c0) / burst.seconds, (d1 - d0) / burst.seconds))
            return burst.done / burst.seconds
        return once

    bare, node = await alternate(s.reps, run(pair.bare), run(pair.node))
    row = Row("throughput", f"commands/s, {s.in_flight} in flight, {s.throughput_seconds:g} s",
              median(node), median(bare), "/s", ">= 0.8 x baseline", None, digits=0)
    row.met = row.ratio >= 0.8
    load = {k: (median([c for c, _ in v]), median([d for _, d in v])) for k, v in busy.items()}
    row.notes.append(
        f"runs (/s): node {_fmt(node, 0)}; baseline {_fmt(bare, 0)}; cores busy during the run: "
        f"node process {load['node'][0]:.2f} (driver {load['node'][1]:.2f}), bare process "
        f"{load['bare'][0]:.2f} (driver {load['bare'][1]:.2f})")
    return [row]


async def latency(bench: Bench) -> list[Row]:
    """Sequential round trips as the operator sees them: p50 and p99."""
    pair = await bench.pair()
    s = bench.sizes
    await pair.warm(s.warmup)

    def run(proc):
        async def once() -> tuple[float, float]:
            times, failed = await pair.load.sequential(proc.node_id, s.latency_count)
            if failed:
                raise RuntimeError(f"{failed} of {s.latency_count} commands failed on {proc.name}")
            return percentile(times, 0.5) * 1e6, percentile(times, 0.99) * 1e6
        return once

    bare, node = await alternate(s.reps, run(pair.bare), run(pair.node))
    rows = []
    for i, name in enumerate(("p50", "p99")):
        n, b = [r[i] for r in node], [r[i] for r in bare]
        row = Row("latency", f"sequential round trip {name}, {s.latency_count:,} commands",
                  median(n), median(b), "µs", "<= 1.15 x baseline", None, digits=0)
        row.met = row.ratio <= 1.15
        row.notes.append(f"runs (µs): node {_fmt(n, 0)}; baseline {_fmt(b, 0)}")
        rows.append(row)
    return rows


async def memory(bench: Bench) -> list[Row]:
    """RSS idle after registration, and its growth after many commands; fresh processes.

    The commands go in five equal bursts with the RSS read after each, so a growth
    that levels off (a bounded record) can be told from one that keeps climbing.
    """
    s = bench.sizes
    steps = 5
    chunk = max(1, s.memory_commands // steps)
    idle: dict[str, list[float]] = {"bare": [], "node": []}
    grown: dict[str, list[float]] = {"bare": [], "node": []}
    curve: dict[str, list[list[float]]] = {"bare": [], "node": []}
    for rep in range(s.reps):
        pair = await Pair.start(bench, f"memory{rep}")
        try:
            await _settle()
            for proc in (pair.bare, pair.node):  # A B
                before = proc.rss()
                points = []
                for _ in range(steps):
                    burst = await pair.load.burst(proc.node_id, count=chunk, in_flight=s.in_flight)
                    _check(burst, proc)
                    points.append(proc.rss() - before)
                await _settle()
                idle[proc.name].append(before)
                grown[proc.name].append(proc.rss() - before)
                curve[proc.name].append(points)
        finally:
            await pair.close()
    node_idle = median(idle["node"])
    row_idle = Row("memory", "RSS idle, after registration", node_idle, median(idle["bare"]),
                   "MB", "<= 45 MB", node_idle <= 45)
    row_idle.notes.append(f"runs (MB): node {_fmt(idle['node'])}; baseline {_fmt(idle['bare'])}; "
                          f"MB = 10^6 bytes (node median = {node_idle * 1e6 / 2**20:.1f} MiB)")
    row_growth = Row("memory", f"RSS growth after {chunk * steps:,} commands",
                     median(grown["node"]), median(grown["bare"]), "MB", "<= 5 MB",
                     median(grown["node"]) <= 5)
    row_growth.ratio = None  # the baseline grows by ~0: a ratio would only be noise
    shape = [median([c[i] for c in curve["node"]]) for i in range(steps)]
    row_growth.notes.append(
        f"runs (MB): node {_fmt(grown['node'])}; baseline {_fmt(grown['bare'])}; node growth "
        f"after each {chunk:,} commands (median): {_fmt(shape)} MB")
    return [row_idle, row_growth]


WORKFLOW = "word-stats"
WORKFLOW_ARGS = json.dumps({"workflow_id": WORKFLOW,
                            "params": {"text": "the quick brown fox jumps over the lazy dog"}})


async def workflow(bench: Bench) -> list[Row]:
    """run_workflow of a bundled example through the gateway, updates streamed back."""
    pair = await bench.pair()
    s = bench.sizes
    load, node_id = pair.load, pair.node.node_id
    await pair.warm(s.warmup)
    _, failed = await load.sequential(node_id, 5, command="run_workflow", args=WORKFLOW_ARGS)
    if failed:
        raise RuntimeError(f"run_workflow of {WORKFLOW} failed on the node:\n{pair.node.tail()}")
    updates: list[float] = []

    async def plain() -> float:
        times, failed = await load.sequential(node_id, s.workflow_runs)
        if failed:
            raise RuntimeError(f"{failed} no-op commands failed")
        return percentile(times, 0.5) * 1e6

    async def run() -> float:
        load.updates = 0
        times, failed = await load.sequential(node_id, s.workflow_runs, command="run_workflow",
                                              args=WORKFLOW_ARGS)
        if failed:
            raise RuntimeError(f"{failed} of {s.workflow_runs} workflow runs failed")
        updates.append(load.updates / s.workflow_runs)
        return percentile(times, 0.5) * 1e6

    plains, runs = await alternate(s.reps, plain, run)
    per_run = median(updates)
    wf, cmd = median(runs), median(plains)
    per_update = (wf - cmd) / per_run
    row_rt = Row("workflow end to end", f"run_workflow '{WORKFLOW}' round trip p50 "
                 f"(baseline: the node's no-op command)", wf / 1000, cmd / 1000, "ms", "report p50",
                 None, digits=2)
    row_rt.notes.append(f"{per_run:.0f} workflow_update frames per run; runs (ms): workflow "
                        f"{_fmt([r / 1000 for r in runs], 2)}; no-op {_fmt([p / 1000 for p in plains], 3)}")
    row_update = Row("workflow end to end", "per-update cost = (run - no-op) / updates "
                     "(baseline: a no-op command's round trip)", per_update, cmd, "µs",
                     "<= 1.5 x a plain command answer", None, digits=0)
    row_update.met = row_update.ratio <= 1.5
    return [row_rt, row_update]


def _check(burst, proc) -> None:
    if burst.failed:
        raise RuntimeError(f"{burst.failed} of {burst.done} commands failed on {proc.name}:\n"
                           f"{proc.tail()}")


async def _settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


def _fmt(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)

