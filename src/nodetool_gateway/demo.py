"""``nodetool-gateway demo``: a local gateway, a node and a few calls, all on loopback."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from typing import Any, Callable

__all__ = ["run_demo", "demo_config"]

_DEMO = "nodetool_gateway.handlers.demo"


def demo_config(url: str, storage: str) -> Any:
    """The embedded defaults plus the demo's handlers."""
    from .config import default_config

    return default_config(
        gateway={"url": url},
        node={"id": "demo-node"},
        heartbeat={"interval": "5s", "timeout": "20s"},
        shutdown={"grace": "5s"},
        storage={"path": storage},
        workflows={"paths": []},
        commands={
            "echo": f"{_DEMO}:echo",
            "word_count": f"{_DEMO}:word_count",
            "countdown": {"handler": f"{_DEMO}:countdown", "timeout": "30s"},
            "fail": f"{_DEMO}:fail",
        },
    )


async def run_demo(echo: Callable[..., Any] = print) -> int:
    """Run the demo; returns the exit code (0 when every call behaved as expected)."""
    from .cli import format_update
    from .gateway import LocalGateway, OperatorClient
    from .logs import setup_logging
    from .session import GatewayClient

    # Some calls fail on purpose; their warnings would only clutter the demo.
    setup_logging("ERROR")

    calls: list[tuple[str, dict[str, Any], str]] = [
        ("echo", {"hello": "world"}, "success"),
        ("word_count", {"text": "the node runs what the gateway routes to it"}, "success"),
        ("countdown", {"start": 3, "delay": 0.2}, "success"),
        ("word_count", {"txt": "a misspelt argument"}, "error"),
        ("fail", {}, "error"),
        ("list_workflows", {}, "error"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="nodetool-gateway-demo-") as storage:
        async with LocalGateway() as gateway:
            echo(f"local gateway listening on {gateway.url}")
            client = GatewayClient(config=demo_config(gateway.url, storage))
            node = asyncio.create_task(client.run())
            try:
                await asyncio.wait_for(client.wait_registered(), 10)
                echo(f"node {client.node_id!r} registered; offering "
                     f"{len(client.snapshot.routes.commands)} commands\n")
                async with OperatorClient.connect(gateway.operator_url) as op:
                    for command, args, expected in calls:
                        echo(f"$ nodetool-gateway call {command} --args '{json.dumps(args)}'")
                        start = time.perf_counter()
                        answer = await op.call(command, args, timeout=30,
                                               on_update=lambda f: echo("  " + format_update(f)))
                        ms = (time.perf_counter() - start) * 1000
                        status = answer.get("status")
                        if status == "success":
                            echo(f"  result ({ms:.1f} ms): "
                                 f"{json.dumps(answer.get('result'), ensure_ascii=False)}\n")
                        else:
                            echo(f"  error [{answer.get('code')}] ({ms:.1f} ms): {answer.get('error')}\n")
                        if status != expected:
                            failures += 1
            finally:
                client.stop()
                await asyncio.wait_for(node, 10)
    echo("demo finished: " + ("every call answered as expected" if not failures
                              else f"{failures} call(s) did not answer as expected"))
    return 0 if not failures else 1
