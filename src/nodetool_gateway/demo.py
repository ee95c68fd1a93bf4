"""``nodetool-gateway demo``: a local gateway, a node and a bundled workflow, all on loopback."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from typing import Any, Callable

__all__ = ["run_demo", "demo_config"]


def demo_config(url: str, storage: str) -> Any:
    """The embedded defaults, with storage in a scratch folder and only the bundled workflows."""
    from .config import default_config

    return default_config(
        gateway={"url": url},
        node={"id": "demo-node"},
        heartbeat={"interval": "5s", "timeout": "20s"},
        shutdown={"grace": "5s"},
        storage={"path": storage},
        workflows={"paths": []},
    )


async def run_demo(echo: Callable[..., Any] = print) -> int:
    """Run the demo; returns the exit code (0 when every call answered as expected)."""
    from .cli import format_update
    from .gateway import LocalGateway, OperatorClient
    from .logs import setup_logging
    from .session import GatewayClient

    # One call fails on purpose; its warning would only clutter the demo.
    setup_logging("ERROR")
    text = "a node runs the workflows its gateway sends it"
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("list_workflows", {}, "success"),
        ("run_workflow", {"workflow_id": "word-stats", "params": {"text": text}}, "success"),
        ("run_workflow", {"workflow_id": "Conditional Logic Engine", "params": {"value": 120}},
         "success"),
        ("list_jobs", {"limit": 5}, "success"),
        ("run_workflow", {"workflow_id": "word-stats", "params": {"txt": "a typo"}}, "error"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="nodetool-gateway-demo-") as storage:
        async with LocalGateway() as gateway:
            echo(f"local gateway listening on {gateway.url}")
            client = GatewayClient(config=demo_config(gateway.url, storage))
            node = asyncio.create_task(client.run())
            try:
                await asyncio.wait_for(client.wait_registered(), 10)
                echo(f"node {client.node_id!r} registered, offering "
                     f"{len(client.snapshot.routes.commands)} commands\n")
                async with OperatorClient.connect(gateway.operator_url) as op:
                    for command, args, expected in calls:
                        echo(f"$ nodetool-gateway call {command} --args '{json.dumps(args)}'")

                        def show(frame: dict[str, Any]) -> None:
                            line = format_update(frame)
                            if line is not None:
                                echo("  " + line)

                        start = time.perf_counter()
                        answer = await op.call(command, args, timeout=60, on_update=show)
                        ms = (time.perf_counter() - start) * 1000
                        status = answer.get("status")
                        if status == "success":
                            echo(f"  result ({ms:.1f} ms): {_brief(command, answer.get('result'))}\n")
                        else:
                            echo(f"  error [{answer.get('code')}] ({ms:.1f} ms): "
                                 f"{answer.get('error')}\n")
                        if status != expected:
                            failures += 1
            finally:
                client.stop()
                await asyncio.wait_for(node, 10)
    echo("demo finished: " + ("every call answered as expected" if not failures
                              else f"{failures} call(s) did not answer as expected"))
    echo("next: `nodetool-gateway serve`, then `nodetool-gateway run configs/node.yaml`, "
         "then `nodetool-gateway call run_workflow --args '{\"workflow_id\": \"word-stats\"}'`")
    return 0 if not failures else 1


def _brief(command: str, result: Any) -> str:
    """The result, shortened where a listing would scroll the demo away."""
    if command == "list_workflows":
        names = ", ".join(w["name"] for w in result["workflows"])
        return f"{result['total']} workflows: {names}"
    if command == "list_jobs":
        return "; ".join(f"{j['id'][:8]} {j['workflow_id']} {j['status']}" for j in result["jobs"])
    text = json.dumps(result, ensure_ascii=False)
    return text if len(text) <= 400 else text[:399] + "…"
