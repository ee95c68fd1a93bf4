"""Cases on a running node: command path (CPU), throughput, latency, memory, workflow."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from typing import Any

from ._harness import (
    Bench,
    LoadGroup,
    Pair,
    Row,
    alternate,
    cpu_seconds,
    machine_busy,
    median,
    percentile,
)

__all__ = ["command_path", "throughput", "latency", "memory", "workflow"]


def _driver_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def command_path(bench: Bench) -> list[Row]:
    """Client CPU µs per no-op command, 64 in flight; start-up and idle CPU excluded.

    Three handlers, each against the bare client in its own A B A B series: the
    no-op as ``async def``; as a plain ``def`` routed ``blocking: false`` (run on the
    loop); and the same ``def`` with the default thread hop (reported, no target).
    """
    pair = await bench.pair()
    s = bench.sizes
    await pair.warm(s.warmup)
    driver: list[float] = []

    def run(proc, command: str = "noop"):
        async def once() -> float:
            c0, d0 = proc.cpu(), _driver_cpu()
            burst = await pair.load.burst(proc.node_id, count=s.command_count,
                                          in_flight=s.in_flight, command=command)
            c1, d1 = proc.cpu(), _driver_cpu()
            _check(burst, proc)
            driver.append((d1 - d0) / burst.done * 1e6)
            return (c1 - c0) / burst.done * 1e6
        return once

    size = f"{s.command_count:,} commands, {s.in_flight} in flight"
    rows = []
    for command, what, target, limit in (
            ("noop", f"client CPU per command, no-op `async def` route ({size})",
             "<= 1.15 x baseline", 1.15),
            ("noop_sync", f"client CPU per command, no-op plain `def`, `blocking: false` ({size})",
             "<= 1.5 x baseline", 1.5),
            ("noop_thread", f"client CPU per command, no-op plain `def` in a worker thread, "
                            f"the default ({size})", "report", None)):
        bare, node = await alternate(s.reps, run(pair.bare), run(pair.node, command))
        row = Row("command path", what, median(node), median(bare), "µs", target, None)
        if limit is not None:
            row.met = row.ratio <= limit
        row.notes.append(f"runs (µs): node {_fmt(node)}; baseline {_fmt(bare)}; driver "
                         f"(gateway + load) {median(driver):.0f} µs per command")
        rows.append(row)
        driver.clear()
    return rows


async def throughput(bench: Bench) -> list[Row]:
    """Commands per second with the load in separate processes; and per core-second of the node.

    The driver runs only the gateway; ``throughput_loads`` load processes each keep
    their share of ``in_flight`` commands outstanding. The node, the gateway and the
    load processes still share the machine's cores, so the raw commands/s is bound by
    the machine as much as by the node: the ratio is taken on commands per CPU second
    of the measured process (node or bare), and the notes give each process's cores.
    """
    pair = await bench.pair()
    s = bench.sizes
    await pair.warm(s.warmup)
    loads = max(1, s.throughput_loads)
    each = max(1, s.in_flight // loads)
    group = await LoadGroup.start(bench, pair.gw, loads)
    try:
        for proc in (pair.bare, pair.node):  # the load processes' own warm-up
            _check_all(await group.burst(proc.node_id, in_flight=each,
                                         count=max(each, s.warmup // loads)), proc)

        def run(proc):
            async def once() -> dict[str, Any]:
                pids = group.pids
                m0 = machine_busy()
                c0, d0, l0 = proc.cpu(), _driver_cpu(), [cpu_seconds(p) for p in pids]
                t0 = time.perf_counter()
                bursts = await group.burst(proc.node_id, in_flight=each,
                                           seconds=s.throughput_seconds)
                t1 = time.perf_counter()
                c1, d1, l1 = proc.cpu(), _driver_cpu(), [cpu_seconds(p) for p in pids]
                m1 = machine_busy()
                _check_all(bursts, proc)
                wall, done = t1 - t0, sum(b.done for b in bursts)
                used = max(c1 - c0, 1 / os.sysconf("SC_CLK_TCK"))  # /proc ticks: 10 ms
                return {"rate": done / wall, "per_core": done / used, "us": used / done * 1e6,
                        "proc": (c1 - c0) / wall, "gateway": (d1 - d0) / wall,
                        "loads": [(b - a) / wall for a, b in zip(l0, l1)],
                        "machine": (m1 - m0) / wall}
            return once

        bare, node = await alternate(s.reps, run(pair.bare), run(pair.node))
    finally:
        await group.close()

    cores = os.cpu_count() or 1
    how = f"{loads} load process{'es' if loads > 1 else ''} x {each} in flight, " \
          f"{s.throughput_seconds:g} s"
    rate = Row("throughput", f"commands/s, raw ({how}; measured process, gateway and load "
               f"share the {cores} cores)", median([r["rate"] for r in node]),
               median([r["rate"] for r in bare]), "/s", "report (bound by the machine: notes)",
               None, digits=0)
    rate.notes.append(f"runs (/s): node {_fmt([r['rate'] for r in node], 0)}; baseline "
                      f"{_fmt([r['rate'] for r in bare], 0)}; cores busy (medians): "
                      f"{_busy('node', node, cores)}; {_busy('bare', bare, cores)}")
    per_core = Row("throughput", f"commands per CPU second of the measured process, node vs "
                   f"bare ({how}; commands/s / its cores busy)",
                   median([r["per_core"] for r in node]), median([r["per_core"] for r in bare]),
                   "/core-s", ">= 0.8 x baseline, per core-second of node vs bare", None,
                   digits=0)
    per_core.met = per_core.ratio >= 0.8
    per_core.notes.append(
        f"runs (/core-s): node {_fmt([r['per_core'] for r in node], 0)}; baseline "
        f"{_fmt([r['per_core'] for r in bare], 0)}; the same as CPU per command under this load: "
        f"node {median([r['us'] for r in node]):.1f} µs, bare {median([r['us'] for r in bare]):.1f} µs")
    return [rate, per_core]


def _busy(name: str, runs: list[dict[str, Any]], cores: int) -> str:
    """Median cores each process kept busy over the runs, and what bound the rate."""
    proc = median([r["proc"] for r in runs])
    gateway = median([r["gateway"] for r in runs])
    loads = [median([r["loads"][i] for r in runs]) for i in range(len(runs[0]["loads"]))]
    total = proc + gateway + sum(loads)
    others = max(0.0, median([r["machine"] for r in runs]) - total)
    if total + others >= 0.85 * cores:
        bound = f"all {cores} cores busy"
    elif gateway >= 0.9:
        bound = "the gateway's core saturated"
    elif proc >= 0.9:
        bound = f"the {name} process's core saturated"
    elif max(loads) >= 0.9:
        bound = "a load process's core saturated"
    else:
        bound = "no process saturated"
    return (f"{name} runs: {name} process {proc:.2f}, gateway (driver) {gateway:.2f}, load "
            f"{' + '.join(f'{x:.2f}' for x in loads)}; total {total:.2f}, other processes and "
            f"the kernel {others:.2f}, of {cores} ({bound})")


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
                   "MB", "<= 40 MB", node_idle <= 40)
    row_idle.notes.append(f"runs (MB): node {_fmt(idle['node'])}; baseline {_fmt(idle['bare'])}; "
                          f"MB = 10^6 bytes (node median = {node_idle * 1e6 / 2**20:.1f} MiB)")
    row_growth = Row("memory", f"RSS growth after {chunk * steps:,} commands",
                     median(grown["node"]), median(grown["bare"]), "MB",
                     "<= 2 MB (default remember_answers)", median(grown["node"]) <= 2)
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


def _check_all(bursts, proc) -> None:
    failed, done = sum(b.failed for b in bursts), sum(b.done for b in bursts)
    if failed:
        raise RuntimeError(f"{failed} of {done} commands failed on {proc.name}:\n{proc.tail()}")


def _check(burst, proc) -> None:
    if burst.failed:
        raise RuntimeError(f"{burst.failed} of {burst.done} commands failed on {proc.name}:\n"
                           f"{proc.tail()}")


async def _settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


def _fmt(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)

