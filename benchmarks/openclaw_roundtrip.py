"""node.invoke round trip through a real OpenClaw gateway: our node against a bare node.

Starts the gateway from the test harness (installing it on first use), joins two
nodes to it from this process, our ``GatewayClient`` with a no-op command and a
bare probe node that answers at once, and has one operator call each in turn
(A B A B ...). The node's own share of a round trip is the time from an invoke
frame reaching our node to its result leaving it (timestamps taken around the
socket), as a fraction of the whole round trip; the bare node is the baseline
for the round trip itself.

    .venv/bin/python benchmarks/openclaw_roundtrip.py [--calls 1000] [--repeat 5] [--json]

``--json`` prints the summary as one JSON object after the table (``python -m
benchmarks`` reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

COMMAND = "nodetool.noop"


async def noop() -> dict:
    """The no-op command our node answers."""
    return {"ok": True}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(op, node_id: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await op.invoke(node_id, COMMAND, {})
        times.append(time.perf_counter() - start)
    return times


class NodeClock:
    """Timestamps around our node's socket: invoke in, result out."""

    def __init__(self, client) -> None:
        self.inside: list[float] = []
        self._arrived: dict[str, float] = {}
        on_frame = client._connection.on_frame

        async def timed_on_frame(frame):
            if '"node.invoke.request"' in frame:
                import json

                self._arrived[json.loads(frame)["payload"]["id"]] = time.perf_counter()
            await on_frame(frame)

        client._connection.on_frame = timed_on_frame

    def watch(self, ws) -> None:
        send = ws.send

        async def timed_send(frame, *args, **kwargs):
            if isinstance(frame, str) and '"node.invoke.result"' in frame:
                import json

                invoke_id = json.loads(frame)["params"]["id"]
                arrived = self._arrived.pop(invoke_id, None)
                if arrived is not None:
                    self.inside.append(time.perf_counter() - arrived)
            return await send(frame, *args, **kwargs)

        ws.send = timed_send


async def main(calls: int, repeat: int) -> dict:
    from interop.openclaw import OpenClawGateway
    from interop.probe_node import ProbeNode

    from nodetool_gateway import GatewayClient
    from nodetool_gateway.config import default_config

    with tempfile.TemporaryDirectory(prefix="openclaw-bench-") as tmp:
        gw = OpenClawGateway(Path(tmp) / "gw", allow_commands=(COMMAND,))
        await gw.start()
        try:
            cfg = default_config(
                gateway={"url": gw.url, "protocol": "openclaw", "auth": {"token": gw.token}},
                node={"id": "bench-node"}, storage={"path": str(Path(tmp) / "storage")},
                workflows={"paths": []}, commands={"noop": "__main__:noop"},
                logging={"level": "WARNING"})
            ours = GatewayClient(config=cfg)
            clock = NodeClock(ours)
            task = asyncio.create_task(ours.run())
            await asyncio.wait_for(ours.wait_registered(), 30)
            clock.watch(ours.websocket)
            probe = ProbeNode(gw.url, token=gw.token, commands=[COMMAND], display_name="bare")
            await probe.connect()
            op = await gw.operator()
            ours_id, bare_id = ours._identity.device_id, probe.device_id
            for node_id in (ours_id, bare_id):
                await op.wait_for_node(node_id)
                await op.approve_pending_nodes(node_id)
            await measure(op, ours_id, 20)  # warm up both paths
            await measure(op, bare_id, 20)
            clock.inside.clear()
            results: dict[str, list[list[float]]] = {"bare": [], "ours": []}
            for _ in range(repeat):
                results["bare"].append(await measure(op, bare_id, calls))
                results["ours"].append(await measure(op, ours_id, calls))
            await op.close()
            await probe.close()
            ours.stop()
            await asyncio.wait_for(task, 15)
        finally:
            await gw.stop()
    summary = {}
    for name, runs in results.items():
        summary[name] = {
            "p50_ms": statistics.median(percentile(r, 0.5) for r in runs) * 1000,
            "p99_ms": statistics.median(percentile(r, 0.99) for r in runs) * 1000,
        }
    ours_p50 = summary["ours"]["p50_ms"]
    summary["inside_p50_ms"] = statistics.median(clock.inside) * 1000
    summary["share"] = summary["inside_p50_ms"] / ours_p50
    summary["vs_bare"] = ours_p50 / summary["bare"]["p50_ms"]
    return summary


def report(summary: dict, calls: int, repeat: int) -> None:
    print(f"node.invoke through the OpenClaw gateway, {calls} sequential calls x {repeat} "
          "(A B A B, medians of the runs)")
    print(f"{'node':<6} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("bare", "ours"):
        s = summary[name]
        print(f"{name:<6} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}")
    print(f"round trip, ours / bare (p50): {summary['vs_bare']:.2f}x")
    print(f"time inside our node per invoke (p50): {summary['inside_p50_ms']:.3f} ms = "
          f"{summary['share']:.1%} of the round trip")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="also print the summary as JSON")
    args = parser.parse_args()
    summary = asyncio.run(main(args.calls, args.repeat))
    report(summary, args.calls, args.repeat)
    if args.json:
        import json

        print(json.dumps(summary))
