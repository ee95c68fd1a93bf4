"""Cases that run a benchmark script of their own in a child process and read its JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from ._harness import BENCH, ROOT, Bench, Row, child_env

__all__ = ["engine", "openclaw"]

ENGINE_LIMIT_US = 10.0


async def _run_script(bench: Bench, script: str, *args: str, timeout: float) -> dict | list:
    argv = [sys.executable, str(BENCH / "_launch.py"), bench.mode, str(BENCH / script), *args]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=child_env(),
                                                stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{script} did not finish within {timeout:g} s") from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{script} exited with {proc.returncode}:\n{text[-2000:]}"
                           f"{err.decode(errors='replace')[-2000:]}")
    # The JSON is the last line; a table may come before it.
    return json.loads(text.strip().splitlines()[-1])


async def engine(bench: Bench) -> list[Row]:
    """Per-node overhead of the engine (async listener: every update delivered), vs plain calls."""
    s = bench.sizes
    results = await _run_script(bench, "engine_overhead.py", "--json", "--chain", str(s.engine_chain),
                                "--fan", str(s.engine_fan), "--repeat", str(max(s.reps, 1)),
                                timeout=900)
    rows = []
    for r in results:
        overhead = r["async"] - r["plain"]
        row = Row("engine", f"per-node overhead, {r['shape']}, updates streamed "
                  "(baseline: plain awaited calls, µs/node)", overhead, r["plain"], "µs",
                  f"<= {ENGINE_LIMIT_US:g} µs per node", overhead <= ENGINE_LIMIT_US,
                  ratio=r["async"] / r["plain"], digits=1)
        row.notes.append(f"engine {r['async']:.1f} µs/node with an async listener, "
                         f"{r['sync']:.1f} with a sync one; one task per node handing over "
                         f"futures: {r['tasks']:.1f} µs/node")
        rows.append(row)
    return rows


async def openclaw(bench: Bench) -> list[Row]:
    """The node's share of a node.invoke round trip through a real OpenClaw gateway."""
    s = bench.sizes
    summary = await _run_script(bench, "openclaw_roundtrip.py", "--json", "--calls",
                                str(s.openclaw_calls), "--repeat", str(max(s.reps, 1)),
                                timeout=1800)
    share = summary["share"] * 100
    row = Row("through OpenClaw", "node's share of a node.invoke round trip (p50)", share, None,
              "%", "<= 10 %", share <= 10, ratio=summary["vs_bare"], digits=1)
    row.notes.append(
        f"round trip p50/p99: ours {summary['ours']['p50_ms']:.2f}/{summary['ours']['p99_ms']:.2f} ms, "
        f"bare probe node {summary['bare']['p50_ms']:.2f}/{summary['bare']['p99_ms']:.2f} ms "
        f"(ratio column: ours / bare p50); time inside our node {summary['inside_p50_ms']:.3f} ms")
    return [row]
