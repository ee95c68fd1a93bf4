"""One load process of the throughput case: an operator connection driven over stdin/stdout.

    python benchmarks/_load.py --url ws://127.0.0.1:PORT/operator --token TOKEN

Connects to the gateway's operator endpoint (the ``Authorization`` header, no
compression), prints ``ready``, then for each JSON line on stdin

    {"node_id": "node-wire", "in_flight": 32, "seconds": 10}   (or "count": N)

keeps ``in_flight`` no-op ``command_request`` frames outstanding until the time
is up (or ``count`` were sent), waits for the answers still in flight, and
prints one JSON line: ``{"done": …, "failed": …, "seconds": …}``. End of stdin
closes the connection and exits.

The frames are the same as ``_harness.Load`` sends: preformatted strings with
their own ``timestamp`` (so the gateway forwards them unchanged), acks skipped
by their first bytes. It uses uvloop when installed, as the driver does: the
same for baseline and node runs. Kept free of nodetool_gateway imports so that
it starts quickly and its CPU is the load's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from datetime import datetime, timezone

from websockets.asyncio.client import connect

_ACK = '{"type":"ack"'
_FINAL = frozenset({"command_response", "workflow_response", "error"})


async def burst(ws, node_id: str, in_flight: int, seconds: float | None,
                count: int | None, prefix: str) -> dict[str, float]:
    stamp = datetime.now(timezone.utc).isoformat()
    ids = itertools.count(1)
    head = '{"type":"command_request","request_id":"'
    tail = f'","command":"noop","args":{{}},"node_id":"{node_id}","timestamp":"{stamp}"}}'
    send, recv, loads, clock = ws.send, ws.recv, json.loads, time.perf_counter
    limit = count if count is not None else sys.maxsize
    sent = done = failed = 0
    start = clock()
    deadline = start + seconds if seconds is not None else float("inf")
    while sent < min(in_flight, limit):
        await send(f"{head}{prefix}{next(ids)}{tail}")
        sent += 1
    while done < sent:
        text = await recv()
        if text.startswith(_ACK):
            continue
        frame = loads(text)
        if frame.get("type") not in _FINAL:
            continue
        done += 1
        if frame.get("status") not in ("success", "completed"):
            failed += 1
        if sent < limit and clock() < deadline:
            await send(f"{head}{prefix}{next(ids)}{tail}")
            sent += 1
    return {"done": done, "failed": failed, "seconds": clock() - start}


async def main(url: str, token: str) -> None:
    prefix = f"L{os.getpid()}-"  # request ids unique across the load processes
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                       compression=None, max_size=None) as ws:
        print("ready", flush=True)
        runs = 0
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            ask = json.loads(line)
            runs += 1
            result = await burst(ws, ask["node_id"], int(ask["in_flight"]), ask.get("seconds"),
                                 ask.get("count"), f"{prefix}{runs}-")
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the gateway's operator URL")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(args.url, args.token))
