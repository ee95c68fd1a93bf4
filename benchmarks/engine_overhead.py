"""Per-node overhead of the workflow engine, against plain asyncio baselines.

Runs two shapes with every event on (delivered to a listener):

- a chain of 10,000 nodes (Const -> Add -> Add -> ... -> Output);
- a 1,000-wide fan-out and fan-in (Const -> 1,000 Adds -> Collect -> Output).

and the same arithmetic done as (a) plain awaited coroutine calls and (b) one
asyncio task per node handing values over through futures (the least an
actor-per-node engine can do). Engine times cover validation, planning and
the run itself. Each repeat runs the baselines and the engine in turn
(A B A B ...), each in a fresh ``asyncio.run``; figures are medians.

    python benchmarks/engine_overhead.py [--repeat 5] [--json]

``--json`` prints one JSON object instead of the table (``python -m benchmarks``
reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

from nodetool_gateway.engine import BaseNode, Graph, GraphEdge, GraphNode, NodeRegistry, run_workflow


class Const(BaseNode):
    node_type = "bench.Const"
    value: Any = None

    async def process(self, context: Any) -> Any:
        return self.value


class Add(BaseNode):
    node_type = "bench.Add"
    a: float = 0
    b: float = 0

    async def process(self, context: Any) -> float:
        return self.a + self.b


class Collect(BaseNode):
    node_type = "bench.Collect"
    input_item: Any = None
    output_types = {"output": list[Any]}

    async def run(self, context: Any, inputs: Any, outputs: Any) -> None:
        await outputs.emit("output", [item async for item in inputs.stream("input_item")])


class Output(BaseNode):
    node_type = "nodetool.output.Output"
    name: str = ""
    value: Any = None

    async def process(self, context: Any) -> Any:
        return self.value


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for cls in (Const, Add, Collect, Output):
        reg.register(cls)
    return reg


def edge(i: int, src: str, src_handle: str, dst: str, dst_handle: str) -> GraphEdge:
    return GraphEdge(id=f"e{i}", source=src, source_handle=src_handle, target=dst, target_handle=dst_handle)


def chain_graph(n: int) -> Graph:
    nodes = [GraphNode(id="n0", type="bench.Const", data={"value": 0})]
    nodes += [GraphNode(id=f"n{i}", type="bench.Add", data={"b": 1}) for i in range(1, n)]
    nodes.append(GraphNode(id="out", type="nodetool.output.Output", data={"name": "r"}))
    edges = [edge(i, f"n{i - 1}", "output", f"n{i}", "a") for i in range(1, n)]
    edges.append(edge(n, f"n{n - 1}", "output", "out", "value"))
    return Graph(nodes=nodes, edges=edges)


def fan_graph(width: int) -> Graph:
    nodes = [GraphNode(id="c", type="bench.Const", data={"value": 1}),
             GraphNode(id="col", type="bench.Collect"),
             GraphNode(id="out", type="nodetool.output.Output", data={"name": "all"})]
    edges = [edge(0, "col", "output", "out", "value")]
    for i in range(width):
        nodes.append(GraphNode(id=f"a{i}", type="bench.Add", data={"b": i}))
        edges.append(edge(2 * i + 1, "c", "output", f"a{i}", "a"))
        edges.append(edge(2 * i + 2, f"a{i}", "output", "col", "input_item"))
    return Graph(nodes=nodes, edges=edges)


async def add(a: float, b: float) -> float:
    return a + b


async def plain_chain(n: int) -> float:
    value: float = 0
    for _ in range(1, n):
        value = await add(value, 1)
    return value


async def plain_fan(width: int) -> list[float]:
    return [await add(1, i) for i in range(width)]


async def tasks_chain(n: int) -> float:
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(n)]

    async def step(i: int) -> None:
        futures[i + 1].set_result(await add(await futures[i], 1))

    tasks = [loop.create_task(step(i)) for i in range(n - 1)]
    futures[0].set_result(0)
    result = await futures[-1]
    await asyncio.gather(*tasks)
    return result


async def tasks_fan(width: int) -> list[float]:
    start = asyncio.get_running_loop().create_future()

    async def step(i: int) -> float:
        return await add(await start, i)

    tasks = [asyncio.create_task(step(i)) for i in range(width)]
    start.set_result(1)
    return list(await asyncio.gather(*tasks))


def timed(make: Callable[[], Coroutine[Any, Any, Any]]) -> float:
    start = time.perf_counter()
    asyncio.run(make())
    return time.perf_counter() - start


def sync_listener() -> Callable[[dict], None]:
    return [].append


def async_listener() -> Callable[[dict], Any]:
    seen: list[dict] = []

    async def listen(event: dict) -> None:
        seen.append(event)
    return listen


def measure(chain: int, fan: int, repeat: int) -> list[dict[str, Any]]:
    """µs per node of each way (medians of ``repeat`` alternating runs), per shape."""
    reg = registry()
    shapes = [(f"chain of {chain:,}", chain + 1, chain_graph(chain), plain_chain, tasks_chain, chain),
              (f"fan-out of {fan:,}", fan + 3, fan_graph(fan), plain_fan, tasks_fan, fan)]
    results = []
    for name, n_nodes, graph, plain, tasks, size in shapes:
        ways: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
            "plain": lambda: plain(size),
            "tasks": lambda: tasks(size),
            "sync": lambda: run_workflow(graph, registry=reg, on_event=sync_listener()),
            "async": lambda: run_workflow(graph, registry=reg, on_event=async_listener()),
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(repeat):
            for way, make in ways.items():
                times[way].append(timed(make) / n_nodes * 1e6)
        results.append({"shape": name, "nodes": n_nodes,
                        **{way: statistics.median(v) for way, v in times.items()},
                        "runs": times})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chain", type=int, default=10_000, help="nodes in the chain")
    parser.add_argument("--fan", type=int, default=1_000, help="width of the fan-out")
    parser.add_argument("--json", action="store_true", help="print JSON, not the table")
    parser.add_argument("--no-gc-tuning", action="store_true",
                        help="leave the garbage collector as Python starts it")
    args = parser.parse_args()
    if not args.no_gc_tuning:
        # The engine runs inside the node process, which tunes the collector at start.
        from nodetool_gateway._runtime import tune_gc

        tune_gc()
    results = measure(args.chain, args.fan, args.repeat)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'shape':<18} {'listener':<9} {'engine µs/node':>15} {'overhead µs/node':>17} "
          f"{'plain µs/node':>14} {'x plain':>8} {'tasks µs/node':>14} {'x tasks':>8}")
    for r in results:
        plain_t, tasks_t = r["plain"], r["tasks"]
        for label in ("sync", "async"):
            engine_t = r[label]
            print(f"{r['shape']:<18} {label:<9} {engine_t:>15.1f} {engine_t - plain_t:>17.1f} "
                  f"{plain_t:>14.2f} {engine_t / plain_t:>8.0f} {tasks_t:>14.2f} {engine_t / tasks_t:>8.1f}")
    print(f"medians of {args.repeat} runs; engine µs/node covers validation, planning, one task "
          "per node and 2-3 events per node;\noverhead = engine - plain awaited calls")


if __name__ == "__main__":
    main()
