"""Streamed LLM tokens through the node, against the OpenAI SDK calling the same server.

One real llama.cpp ``llama-server`` (SmolLM2-135M, from the test harness in
``tests/llm/llama.py``) on loopback. Two sides, alternated A B A B, the same
request each time (system + user message, ``max_tokens``, no temperature, the
server's seed):

- **direct**: ``openai.AsyncOpenAI(...).chat.completions.create(stream=True)``,
  iterating the chunks;
- **node**: ``run_workflow`` of StringInput -> ``nodetool.agents.Agent`` ->
  StringOutput through a ``LocalGateway``, a ``GatewayClient`` (the node) and an
  ``OperatorClient``, all in this process; tokens are the ``chunk`` updates
  counted at the operator.

Per run: wall time, CPU time of this process (``time.process_time()``, every
thread; llama-server is another process and not in it), time to the first
token, tokens (the server's ``usage``) and chunks seen by the caller. The
direct side's CPU is the SDK client's; the node side's is gateway + node +
operator together, so the extra CPU is an upper bound on the node's own share.
A second pair of arms with ``max_tokens=1`` gives each side's fixed cost per
run, so the marginal cost per token is (CPU at N - CPU at 1) / (tokens at N - 1).
Figures are medians of the rounds. Nothing here asserts a time.

    .venv/bin/python -m benchmarks.llm_stream [--quick] [--rounds 5] [--max-tokens 256] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SYSTEM = "You are a storyteller."
PROMPT = "Write a long story about a lighthouse keeper and a storm."
CALL_TIMEOUT = 120.0
LLAMA_THREADS = 2  # tests/llm/llama.py starts llama-server with -t 2
SETTLE = 0.1  # idle pause between runs, so one run's tail does not land in the next


@dataclass
class Sample:
    wall: float  # s, request sent -> last token / final answer
    cpu: float  # s of this process's CPU over the same span
    ttft: float  # s, request sent -> first non-empty token at the caller
    tokens: int  # completion tokens from the server's usage
    chunks: int  # non-empty text chunks seen by the caller
    frames: int  # stream items seen by the caller (SDK chunks / operator updates)


async def direct_run(client: Any, model: str, max_tokens: int) -> Sample:
    """One streamed chat completion with the SDK, as the node's provider sends it."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    first = None
    chunks = frames = tokens = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    stream = await client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, stream=True,
        stream_options={"include_usage": True})
    async with stream:
        async for chunk in stream:
            frames += 1
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens or 0
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    t1, cpu1 = time.perf_counter(), time.process_time()
    return Sample(t1 - t0, cpu1 - cpu0, (first or t1) - t0, tokens, chunks, frames)


def agent_graph(max_tokens: int) -> dict:
    nodes = [{"id": "q", "type": "nodetool.input.StringInput", "data": {"name": "q", "value": PROMPT}},
             {"id": "agent", "type": "nodetool.agents.Agent",
              "data": {"system": SYSTEM, "max_tokens": max_tokens}},
             {"id": "o", "type": "nodetool.output.StringOutput", "data": {"name": "answer"}}]
    edges = [("q", "output", "agent", "prompt"), ("agent", "text", "o", "value")]
    return {"nodes": nodes, "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                                      for s, sh, t, th in edges]}


USAGE = re.compile(r"(\d+) input \+ (\d+) output tokens")


async def node_run(op: Any, max_tokens: int) -> Sample:
    """One run_workflow of the Agent graph; chunk updates counted as they reach the operator."""
    g = agent_graph(max_tokens)
    first = None
    chunks = frames = 0

    def on_update(frame: dict) -> None:
        nonlocal first, chunks, frames
        frames += 1
        if frame.get("update_type") == "chunk" and (frame.get("data") or {}).get("content"):
            chunks += 1
            if first is None:
                first = time.perf_counter()

    cpu0, t0 = time.process_time(), time.perf_counter()
    answer = await op.call("run_workflow", {"graph": g, "params": {}}, timeout=CALL_TIMEOUT,
                           on_update=on_update)
    t1, cpu1 = time.perf_counter(), time.process_time()
    if answer.get("status") != "success":
        raise RuntimeError(f"run_workflow failed: {answer.get('error')}")
    # Tokens from the usage line the node logs for the call (outside the timed span).
    logs = await op.call("get_job_logs", {"job_id": answer["result"]["job_id"]}, timeout=30)
    tokens = 0
    for entry in logs.get("result", {}).get("logs", []):
        found = USAGE.search(str(entry.get("content", "")))
        if found:
            tokens += int(found.group(2))
    return Sample(t1 - t0, cpu1 - cpu0, (first or t1) - t0, tokens or chunks, chunks, frames)


def median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


async def measure(rounds: int, max_tokens: int, say) -> dict:
    import openai

    from llm.llama import MODEL_ALIAS, LlamaServer
    from nodetool_gateway import GatewayClient
    from nodetool_gateway.config import default_config
    from nodetool_gateway.gateway import LocalGateway, OperatorClient

    say("starting llama-server")
    server = LlamaServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="llm-stream-bench-") as tmp:
            async with LocalGateway() as gw:
                cfg = default_config(
                    gateway={"url": gw.url}, node={"id": "bench-llm"},
                    storage={"path": str(Path(tmp) / "storage")}, workflows={"paths": []},
                    logging={"level": "WARNING"},
                    providers={"llama": {"type": "openai", "base_url": f"{server.url}/v1"}},
                    models={"default_language_model": f"llama:{MODEL_ALIAS}"})
                node = GatewayClient(config=cfg)
                task = asyncio.create_task(node.run())
                client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="x")
                try:
                    await asyncio.wait_for(node.wait_registered(), 30)
                    async with OperatorClient.connect(gw.operator_url) as op:
                        arms = {
                            ("direct", max_tokens): lambda: direct_run(client, MODEL_ALIAS, max_tokens),
                            ("node", max_tokens): lambda: node_run(op, max_tokens),
                            ("direct", 1): lambda: direct_run(client, MODEL_ALIAS, 1),
                            ("node", 1): lambda: node_run(op, 1),
                        }
                        say("warm-up: one unmeasured run of each arm")
                        for run in arms.values():
                            await run()
                            await asyncio.sleep(SETTLE)
                        results: dict[tuple[str, int], list[Sample]] = {arm: [] for arm in arms}
                        for r in range(rounds):
                            for arm, run in arms.items():
                                results[arm].append(await run())
                                await asyncio.sleep(SETTLE)
                            a, b = results[("direct", max_tokens)][-1], results[("node", max_tokens)][-1]
                            say(f"round {r + 1}/{rounds}: direct {a.wall:.2f} s {a.tokens} tok, "
                                f"node {b.wall:.2f} s {b.tokens} tok")
                finally:
                    await client.close()
                    node.stop()
                    await asyncio.wait_for(task, 15)
    finally:
        server.stop()
    return summarize(results, rounds, max_tokens)


def summarize(results: dict[tuple[str, int], list[Sample]], rounds: int, max_tokens: int) -> dict:
    out: dict[str, Any] = {"max_tokens": max_tokens, "rounds": rounds, "cpus": os.cpu_count(),
                           "loadavg_1min_after": os.getloadavg()[0],
                           "runs": {f"{side}@{n}": [asdict(s) for s in samples]
                                    for (side, n), samples in results.items()}}
    for side in ("direct", "node"):
        full, one = results[(side, max_tokens)], results[(side, 1)]
        tokens = median(full, "tokens")
        # Per-run ratios, then the median: each run divided by its own token count.
        per_tok_wall = statistics.median(s.wall / max(s.tokens, 1) for s in full)
        per_tok_cpu = statistics.median(s.cpu / max(s.tokens, 1) for s in full)
        stream_gap = statistics.median((s.wall - s.ttft) / max(s.tokens - 1, 1) for s in full)
        fixed_cpu = median(one, "cpu")
        marginal = (median(full, "cpu") - fixed_cpu) / max(tokens - median(one, "tokens"), 1)
        out[side] = {
            "tokens": tokens, "chunks": median(full, "chunks"), "frames": median(full, "frames"),
            "ttft_ms": median(full, "ttft") * 1e3,
            "wall_ms": median(full, "wall") * 1e3,
            "wall_per_token_us": per_tok_wall * 1e6,
            "gap_per_token_us": stream_gap * 1e6,
            "cpu_ms": median(full, "cpu") * 1e3,
            "cpu_per_token_us": per_tok_cpu * 1e6,
            "fixed_cpu_ms": fixed_cpu * 1e3,
            "marginal_cpu_per_token_us": marginal * 1e6,
            "ttft_1_ms": median(one, "ttft") * 1e3,
        }
        walls = [s.wall / max(s.tokens, 1) * 1e6 for s in full]
        out[side + "_wall_per_token_range_us"] = [min(walls), max(walls)]
    d, n = out["direct"], out["node"]
    out["ratio"] = {k: n[k] / d[k] if d[k] else None for k in d}
    out["extra"] = {k: n[k] - d[k] for k in d}
    return out


def report(s: dict) -> None:
    d, n, ratio, extra = s["direct"], s["node"], s["ratio"], s["extra"]
    print(f"\nLLM streaming, SmolLM2-135M on llama-server (loopback), max_tokens {s['max_tokens']}, "
          f"{s['rounds']} rounds A B A B, medians; {s['cpus']} CPUs shared with llama-server")
    print("direct = OpenAI SDK in this process; node = run_workflow(Agent) via LocalGateway + node "
          "+ operator, all in this process (CPU: gateway + node + operator together)")
    rows = [
        ("tokens streamed (server usage)", "tokens", "{:.0f}", ""),
        ("text chunks seen by the caller", "chunks", "{:.0f}", ""),
        ("stream items seen by the caller", "frames", "{:.0f}", ""),
        ("time to first token (ms)", "ttft_ms", "{:.1f}", "ms"),
        ("wall per run (ms)", "wall_ms", "{:.0f}", "ms"),
        ("wall per streamed token (µs)", "wall_per_token_us", "{:.0f}", "µs"),
        ("  of which between tokens (µs)", "gap_per_token_us", "{:.0f}", "µs"),
        ("CPU per run (ms)", "cpu_ms", "{:.1f}", "ms"),
        ("CPU per streamed token (µs)", "cpu_per_token_us", "{:.0f}", "µs"),
        ("CPU per run at max_tokens=1 (ms)", "fixed_cpu_ms", "{:.1f}", "ms"),
        ("marginal CPU per token (µs)", "marginal_cpu_per_token_us", "{:.0f}", "µs"),
    ]
    head = f"{'':<34} {'direct':>10} {'node':>10} {'node/direct':>12} {'node-direct':>14}"
    print(head)
    print("-" * len(head))
    for label, key, fmt, unit in rows:
        r = ratio.get(key)
        rtxt = f"{r:.2f}x" if r is not None and unit else ""
        etxt = f"{fmt.replace('{:', '{:+').format(extra[key])} {unit}" if unit else ""
        print(f"{label:<34} {fmt.format(d[key]):>10} {fmt.format(n[key]):>10} {rtxt:>12} {etxt:>14}")
    if d["tokens"] != n["tokens"]:
        print(f"note: the sides streamed different token counts ({d['tokens']:.0f} vs "
              f"{n['tokens']:.0f}); per-token figures are normalised per run")
    print(f"node's extra CPU per streamed token: {extra['cpu_per_token_us']:+.0f} µs "
          f"(x{ratio['cpu_per_token_us']:.2f}); marginal, fixed cost per run taken out: "
          f"{extra['marginal_cpu_per_token_us']:+.0f} µs per token, "
          f"fixed {extra['fixed_cpu_ms']:+.1f} ms per run")
    print(f"time to first token at the operator: {extra['ttft_ms']:+.1f} ms "
          f"(x{ratio['ttft_ms']:.2f}); wall per token: x{ratio['wall_per_token_us']:.3f}")
    dr, nr = s["direct_wall_per_token_range_us"], s["node_wall_per_token_range_us"]
    print(f"wall per token over the rounds: direct {dr[0]:.0f}-{dr[1]:.0f} µs, node "
          f"{nr[0]:.0f}-{nr[1]:.0f} µs; load average (1 min) at the end: "
          f"{s['loadavg_1min_after']:.2f} (a wide spread or a load above the llama-server's "
          f"threads means something else shared the CPUs)")
    if (s["cpus"] or 1) <= LLAMA_THREADS:
        print(f"note: llama-server runs {LLAMA_THREADS} threads on {s['cpus']} CPUs, so CPU this "
              "process uses is taken from generation: the wall figures include that contention")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.llm_stream",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="max_tokens 64, 3 rounds (~15 s)")
    parser.add_argument("--rounds", type=int, help="A B rounds (default 5, --quick 3)")
    parser.add_argument("--max-tokens", type=int, help="tokens per run (default 256, --quick 64)")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    max_tokens = args.max_tokens or (64 if args.quick else 256)
    if max_tokens < 2:
        parser.error("--max-tokens must be at least 2 (1 is the fixed-cost arm)")

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    start = time.perf_counter()
    summary = asyncio.run(measure(rounds, max_tokens, say))
    say(f"done in {time.perf_counter() - start:.1f} s")
    report(summary)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
