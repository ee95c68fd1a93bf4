"""A minimal OpenClaw node, for RECORDING real gateway frames only.

This is not the product's node (that lives in ``src/nodetool_gateway``): it is a
test instrument that speaks just enough of the protocol to complete the handshake
and answer invokes with a fixed payload, and logs every frame it sends and
receives so ``record.py`` can save them to ``tests/data/openclaw/``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from interop.openclaw import DEFAULT_ALLOW_COMMANDS, TIME, Client

__all__ = ["FIXED_PAYLOAD", "ProbeNode"]

FIXED_PAYLOAD = {"probe": True, "workflows": []}


class ProbeNode(Client):
    """``client.id "node-host"``, mode and role ``node``, caps ``["nodetool"]``.

    With ``auto_answer`` (the default) every ``node.invoke.request`` is answered at
    once with ``node.invoke.result`` carrying ``FIXED_PAYLOAD``; without it the
    requests queue up in ``invokes`` for the test to answer with ``result()``.
    """

    client_id = "node-host"
    client_mode = "node"
    role = "node"

    def __init__(self, url: str, *, commands: Iterable[str] = DEFAULT_ALLOW_COMMANDS,
                 caps: Iterable[str] = ("nodetool",), auto_answer: bool = True,
                 display_name: str = "nodetool-probe", **kw: Any):
        super().__init__(url, scopes=(), display_name=display_name, **kw)
        self.commands = list(commands)
        self.caps = list(caps)
        self.auto_answer = auto_answer
        self.invokes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.results: list[dict[str, Any]] = []  # the gateway's res to each of our results

    def connect_params(self, challenge: dict[str, Any]) -> dict[str, Any]:
        params = super().connect_params(challenge)
        params["caps"] = self.caps
        params["commands"] = self.commands
        return params

    async def on_event(self, frame: dict[str, Any]) -> None:
        if frame.get("event") == "node.invoke.request":
            if self.auto_answer:
                asyncio.create_task(self.result(frame["payload"], payload=FIXED_PAYLOAD))
            else:
                await self.invokes.put(frame["payload"])
        await super().on_event(frame)

    async def next_invoke(self, timeout: float = 10 * TIME) -> dict[str, Any]:
        return await asyncio.wait_for(self.invokes.get(), timeout)

    async def result(self, invoke: dict[str, Any], *, payload: Any = None,
                     error: dict[str, str] | None = None) -> dict[str, Any]:
        """Send ``node.invoke.result`` for ``invoke``; the gateway's whole ``res`` frame."""
        params: dict[str, Any] = {"id": invoke["id"], "nodeId": invoke["nodeId"],
                                  "ok": error is None}
        if error is None:
            params["payloadJSON"] = json.dumps(payload)
        else:
            params["error"] = error
        res = await self.request_frame("node.invoke.result", params)
        self.results.append(res)
        return res

    async def progress(self, invoke: dict[str, Any], seq: int, chunk: str) -> dict[str, Any]:
        """Send ``node.invoke.progress``; the gateway's whole ``res`` frame."""
        return await self.request_frame("node.invoke.progress", {
            "invokeId": invoke["id"], "nodeId": invoke["nodeId"], "seq": seq, "chunk": chunk})
