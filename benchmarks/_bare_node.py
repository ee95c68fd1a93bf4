"""The baseline: a bare ``websockets`` node that does the JSON round trip and nothing more.

    python benchmarks/_bare_node.py --url ws://127.0.0.1:8080 --node-id bare [--retry 1.0] [--speed]

Connects with the ``Authorization`` header, sends a ``node_registration`` shaped
like the node's, then answers each ``command_request`` (or ``workflow_request``)
by parsing it and sending an ``ack`` and a tiny success answer with the same
``request_id``. Anything else is parsed and ignored. When the connection fails
or closes it waits ``--retry`` seconds (fixed, no back-off, no jitter) and
connects again. SIGTERM or SIGINT stops it. ``--speed`` uses uvloop and orjson
(when installed), as the node's ``speed`` extra does.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import socket
from datetime import datetime, timezone

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

loads = json.loads
dumps = functools.partial(json.dumps, separators=(",", ":"))


def registration(node_id: str) -> str:
    return dumps({
        "type": "node_registration",
        "node_id": node_id,
        "capabilities": {"workflow_execution": False, "commands": ["noop"], "message_types": []},
        "metadata": {"user_id": "1", "version": "bare", "hostname": socket.gethostname()},
        "timestamp": datetime.now(timezone.utc).isoformat(),
    })


async def serve(url: str, node_id: str, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with connect(url, additional_headers=headers, compression=None,
                       max_size=None) as ws:
        await ws.send(registration(node_id))
        async for text in ws:
            frame = loads(text)
            kind = frame.get("type")
            if kind == "command_request":
                rid = frame["request_id"]
                await ws.send(dumps({"type": "ack", "request_id": rid}))
                await ws.send(dumps({"type": "command_response", "request_id": rid,
                                     "status": "success", "result": None}))
            elif kind == "workflow_request":
                rid = frame["request_id"]
                await ws.send(dumps({"type": "ack", "request_id": rid}))
                await ws.send(dumps({"type": "workflow_response", "request_id": rid,
                                     "status": "completed", "result": None}))


async def main(url: str, node_id: str, token: str | None, retry: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopped = asyncio.create_task(stop.wait())
    while not stop.is_set():
        session = asyncio.create_task(serve(url, node_id, token))
        await asyncio.wait({session, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            session.cancel()
            await asyncio.gather(session, return_exceptions=True)
            return
        try:
            session.result()
        except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
            pass
        try:
            await asyncio.wait_for(stop.wait(), retry)
        except TimeoutError:
            pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--token", default=os.environ.get("GATEWAY_AUTH_TOKEN"))
    parser.add_argument("--retry", type=float, default=1.0, help="seconds between attempts")
    parser.add_argument("--speed", action="store_true", help="uvloop and orjson, when installed")
    args = parser.parse_args()
    if args.speed:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
        try:
            import orjson

            loads = orjson.loads

            def dumps(obj, _dumps=orjson.dumps) -> str:  # noqa: ANN001
                return _dumps(obj).decode()
        except ImportError:
            pass
    asyncio.run(main(args.url, args.node_id, args.token, args.retry))
