"""``nodetool-gateway demo``: a local gateway, a node and a bundled workflow, all on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from typing import Any, Callable

__all__ = ["run_demo", "demo_config"]


# A model per provider NodeTool's variables can configure, when --model does not say.
_DEMO_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "ollama": "llama3.2"}
_NO_PROVIDER = ("no language-model provider is configured, so the LLM step is skipped. To see one, "
                "set OPENAI_API_KEY (or ANTHROPIC_API_KEY, or OLLAMA_API_URL for a local Ollama), or "
                "point the demo at any OpenAI-compatible server: nodetool-gateway demo "
                "--provider-url http://127.0.0.1:8081/v1 --model NAME (README: Language models)")

LLM_GRAPH = {
    "nodes": [
        {"id": "question", "type": "nodetool.input.StringInput",
         "data": {"name": "question", "value": "In one sentence: what does a workflow node do?"}},
        {"id": "agent", "type": "nodetool.agents.Agent",
         "data": {"system": "You answer in one short sentence.", "max_tokens": 80}},
        {"id": "answer", "type": "nodetool.output.StringOutput", "data": {"name": "answer"}},
    ],
    "edges": [
        {"source": "question", "sourceHandle": "output", "target": "agent", "targetHandle": "prompt"},
        {"source": "agent", "sourceHandle": "text", "target": "answer", "targetHandle": "value"},
    ],
}


def demo_config(url: str, storage: str, *, provider_url: str | None = None,
                model: str | None = None) -> Any:
    """The embedded defaults, with storage in a scratch folder and only the bundled workflows.

    Language models: ``provider_url`` (an OpenAI-compatible server) with ``model``;
    else the providers NodeTool's variables name, with a small model of each.
    """
    import os

    from .config import default_config

    sections: dict[str, Any] = {}
    if provider_url:
        sections["providers"] = {"local": {"type": "openai", "base_url": provider_url}}
        sections["models"] = {"default_language_model": f"local:{model or 'default'}"}
    else:
        for name, var in (("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
                          ("ollama", "OLLAMA_API_URL")):
            if os.environ.get(var):
                sections["models"] = {"default_language_model": f"{name}:{model or _DEMO_MODELS[name]}"}
                break
    return default_config(
        gateway={"url": url},
        node={"id": "demo-node"},
        heartbeat={"interval": "5s", "timeout": "20s"},
        shutdown={"grace": "5s"},
        storage={"path": storage},
        workflows={"paths": []},
        **sections,
    )


async def run_demo(echo: Callable[..., Any] = print, *, provider_url: str | None = None,
                   model: str | None = None, live: bool | None = None) -> int:
    """Run the demo; returns the exit code (0 when every call answered as expected).

    ``echo(text, nl=True)`` writes the demo's output. Progress is one live line
    when ``live`` (default: when stdout is a terminal), else a line per event.
    """
    from ._progress import Progress, is_live_terminal
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
    with tempfile.TemporaryDirectory(prefix="nodetool-gateway-demo-") as scratch:
        cfg = demo_config("ws://127.0.0.1:1", scratch, provider_url=provider_url, model=model)
    if cfg.models.default_language_model is not None:
        calls.insert(3, ("run_workflow", {"graph": LLM_GRAPH}, "success"))
    else:
        echo(_NO_PROVIDER + "\n")
    if live is None:
        live = is_live_terminal(sys.stdout)

    def write(text: str) -> None:
        echo(text, nl=False)

    failures = 0
    with tempfile.TemporaryDirectory(prefix="nodetool-gateway-demo-") as storage:
        async with LocalGateway() as gateway:
            echo(f"local gateway listening on {gateway.url}")
            client = GatewayClient(config=demo_config(gateway.url, storage, provider_url=provider_url,
                                                      model=model))
            node = asyncio.create_task(client.run())
            try:
                await asyncio.wait_for(client.wait_registered(), 10)
                echo(f"node {client.node_id!r} registered, offering "
                     f"{len(client.snapshot.routes.commands)} commands\n")
                async with OperatorClient.connect(gateway.operator_url) as op:
                    for command, args, expected in calls:
                        echo(f"$ nodetool-gateway call {command} --args '{json.dumps(args)}'")
                        progress = Progress(write, live=live, indent="  ",
                                            width=lambda: shutil.get_terminal_size().columns)
                        ticker = asyncio.create_task(progress.keep_ticking())
                        start = time.perf_counter()
                        try:
                            answer = await op.call(command, args, timeout=60,
                                                   on_update=progress.update)
                        finally:
                            ticker.cancel()
                            progress.close()
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
    echo("next: `nodetool-gateway serve --insecure-no-auth`, then `nodetool-gateway run configs/node.yaml`, "
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
