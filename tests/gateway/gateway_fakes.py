"""A fake node on a real socket, and small helpers, for the local gateway's tests."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nodetool_gateway.gateway import LocalGateway

__all__ = ["TIMEOUT", "TOKEN", "FakeNode", "NodeFactory", "received", "refused_status"]

# Scales every wait, for slow CI machines.
TIMEOUT = 5 * float(os.environ.get("GATEWAY_TEST_TIMEOUT_FACTOR", "1"))
TOKEN = "s3cret-token-value"


class FakeNode:
    """A node on a real socket: registers, records every frame, answers when told to."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        token: str | None = None,
        commands: Sequence[str] = ("echo",),
        answer: bool = True,
        updates: int = 3,
        max_size: int | None = 2**20,
        capabilities: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.token = token
        self.commands = list(commands)
        self.answer = answer
        self.updates = updates
        self.max_size = max_size
        self.capabilities = capabilities or {}
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.texts: list[str] = []  # every frame as received
        self.ws: ClientConnection

    async def start(self) -> FakeNode:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.ws = await connect(self.url, additional_headers=headers, max_size=self.max_size)
        await self.register()
        self._reader = asyncio.create_task(self._read())
        return self

    async def register(self, commands: Sequence[str] | None = None) -> None:
        if commands is not None:
            self.commands = list(commands)
        await self.send(
            {
                "type": "node_registration",
                "node_id": self.node_id,
                "capabilities": {
                    "workflow_execution": True,
                    "commands": self.commands,
                    "message_types": ["command_request", "workflow_request"],
                    **self.capabilities,
                },
                "metadata": {"user_id": "1", "version": "0.1.0"},
            }
        )

    async def send(self, frame: dict[str, Any]) -> None:
        frame.setdefault("timestamp", "2026-01-01T00:00:00+00:00")
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str) -> dict[str, Any]:
        """The next received frame of type ``kind``."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.received.get()
                if frame["type"] == kind:
                    return frame

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.texts.append(text)
                frame = json.loads(text)
                self.received.put_nowait(frame)
                if self.answer:
                    await self._answer(frame)
        except ConnectionClosed:
            pass

    async def _answer(self, frame: dict[str, Any]) -> None:
        kind, rid = frame["type"], frame.get("request_id")
        if kind == "command_request":
            await self.send({"type": "ack", "request_id": rid, "message": "received"})
            await self.send(
                {
                    "type": "command_response",
                    "request_id": rid,
                    "status": "success",
                    "result": {"node": self.node_id, "command": frame["command"], "args": frame["args"]},
                }
            )
        elif kind == "workflow_request":
            await self.send({"type": "ack", "request_id": rid, "message": "received"})
            for i in range(self.updates):
                await self.send(
                    {
                        "type": "workflow_update",
                        "request_id": rid,
                        "job_id": "job-1",
                        "update_type": "node_progress",
                        "data": {"progress": i, "total": self.updates},
                    }
                )
            await self.send(
                {
                    "type": "workflow_response",
                    "request_id": rid,
                    "status": "completed",
                    "job_id": "job-1",
                    "result": {"outputs": {"params": frame.get("params")}},
                }
            )
        elif kind not in ("cancel_request", "ack", "error"):
            await self.send(
                {"type": "error", "request_id": rid, "code": "UNKNOWN_TYPE", "error": f"no route for {kind!r}"}
            )


NodeFactory = Callable[..., Awaitable[FakeNode]]


async def received(gateway: LocalGateway, kind: str) -> tuple[str | None, dict[str, Any]]:
    """The next ``(node_id, frame)`` of type ``kind`` the gateway received from a node."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            node_id, frame = await gateway.received.get()
            if frame["type"] == kind:
                return node_id, frame


async def refused_status(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The HTTP status of a refused upgrade, or None when it is accepted."""
    try:
        async with connect(url, additional_headers=headers or {}):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code
