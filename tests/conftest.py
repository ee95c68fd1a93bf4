"""Shared fixtures: a real gateway peer on loopback, and node configs with short timings."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys

# NODETOOL_GATEWAY_TEST_JSON=stdlib: the node's codec as a plain install has it (orjson,
# which the test extra brings in through chromadb, hidden). test_codecs_both.py reruns
# the protocol and session tests this way.
if os.environ.get("NODETOOL_GATEWAY_TEST_JSON") == "stdlib":
    sys.modules["orjson"] = None  # type: ignore[assignment]
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

_REQUEST_IDS = itertools.count(1)

# Scale every timing in the tests (raise it on a slow machine).
TIME = float(os.environ.get("NODETOOL_GATEWAY_TEST_TIME", "1"))


class PeerConnection:
    """One node connection as the gateway peer sees it."""

    def __init__(self, ws: ServerConnection):
        self.ws = ws
        self.path = ws.request.path
        self.headers = ws.request.headers
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.received: list[dict[str, Any]] = []
        self.closed = asyncio.Event()

    async def recv(self, *types: str, timeout: float = 5 * TIME, skip_heartbeats: bool = True) -> dict:
        """The next frame (of one of ``types`` if given; others are skipped)."""
        async def next_frame() -> dict:
            while True:
                frame = await self.frames.get()
                if skip_heartbeats and frame.get("type") == "heartbeat" and "heartbeat" not in types:
                    continue
                if types and frame.get("type") not in types:
                    continue
                return frame

        return await asyncio.wait_for(next_frame(), timeout)

    async def answer_for(self, request_id: str, timeout: float = 5 * TIME) -> dict:
        """The final frame for a request (skipping acks and updates)."""
        while True:
            frame = await self.recv(timeout=timeout)
            if frame.get("request_id") == request_id and frame["type"] in (
                    "command_response", "workflow_response", "error"):
                return frame

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def command(self, command: str, args: dict | None = None, request_id: str | None = None,
                      **extra: Any) -> str:
        rid = request_id or f"req-{next(_REQUEST_IDS)}-{command}"
        await self.send({"type": "command_request", "request_id": rid, "command": command,
                         "args": args or {}, **extra})
        return rid

    async def call(self, command: str, args: dict | None = None, **kw: Any) -> dict:
        rid = await self.command(command, args, **kw)
        return await self.answer_for(rid)


class GatewayPeer:
    """A real websockets server on 127.0.0.1 that plays the gateway's part.

    Tests drive it frame by frame: it records everything the node sends, can
    refuse the upgrade with an HTTP status, and can stop and start again on the
    same port (a gateway restart).
    """

    def __init__(self, *, ssl=None, reject_status: int | None = None, port: int = 0):
        self.ssl = ssl
        self.reject_status = reject_status
        self.port = port
        self.connections: asyncio.Queue[PeerConnection] = asyncio.Queue()
        self.all_connections: list[PeerConnection] = []
        self.attempts = 0
        self._server = None

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}"

    async def start(self) -> "GatewayPeer":
        self._server = await serve(self._handler, "127.0.0.1", self.port, ssl=self.ssl,
                                   process_request=self._process_request, max_size=None,
                                   compression=None, close_timeout=0.5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self, code: int = 1001) -> None:
        if self._server is not None:
            for conn in self.all_connections:
                if not conn.closed.is_set():
                    await conn.ws.close(code, "gateway going away")
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def restart(self) -> None:
        await self.start()

    def _process_request(self, connection, request):
        self.attempts += 1
        if self.reject_status is not None:
            return Response(self.reject_status, "Refused", Headers(), b"refused\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        conn = PeerConnection(ws)
        self.all_connections.append(conn)
        await self.connections.put(conn)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                conn.received.append(frame)
                await conn.frames.put(frame)
        except Exception:
            pass
        finally:
            conn.closed.set()

    async def next_connection(self, timeout: float = 5 * TIME) -> PeerConnection:
        return await asyncio.wait_for(self.connections.get(), timeout)

    async def registered(self, timeout: float = 5 * TIME) -> tuple[PeerConnection, dict]:
        """The next connection and its first frame, which must be the registration."""
        conn = await self.next_connection(timeout)
        first = await conn.recv(timeout=timeout)
        assert first["type"] == "node_registration", first
        return conn, first


@pytest.fixture
async def peer():
    gw = await GatewayPeer().start()
    try:
        yield gw
    finally:
        await gw.stop()


def node_config(url: str, **sections: Any):
    """The embedded defaults with fast timings and the test handlers routed."""
    from nodetool_gateway.config import default_config

    base: dict[str, Any] = {
        "gateway": {"url": url},
        "storage": {"path": os.environ["NODETOOL_GATEWAY_TEST_STORAGE"]},
        "workflows": {"paths": []},
        "node": {"id": "test-node"},
        "heartbeat": {"interval": 5 * TIME, "timeout": 10 * TIME},
        "retry": {"initial_delay": 0.05 * TIME, "max_delay": 0.2 * TIME, "multiplier": 2.0,
                  "jitter": 0.0},
        "shutdown": {"grace": 2 * TIME},
        "commands": {
            "echo": "sample_handlers:echo",
            "add": "sample_handlers:add",
            "gate": {"handler": "sample_handlers:gate", "timeout": 30 * TIME},
            "boom": "sample_handlers:boom",
            "missing": "sample_handlers:missing",
            "value": "sample_handlers:value",
            "sync_add": "sample_handlers:sync_add",
            "stream": "sample_handlers:stream",
            "big": "sample_handlers:big",
            "unavailable": "sample_handlers:unavailable",
        },
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return default_config(**base)


class NodeRunner:
    """Runs a GatewayClient in a task and stops it at the end of the test."""

    def __init__(self, client):
        self.client = client
        self.task: asyncio.Task | None = None

    async def __aenter__(self):
        self.task = asyncio.create_task(self.client.run())
        return self.client

    async def __aexit__(self, *exc) -> None:
        if self.task is not None and not self.task.done():
            self.client.stop()
            try:
                await asyncio.wait_for(self.task, 10 * TIME)
            except BaseException:
                self.task.cancel()


@pytest.fixture
def run_node():
    def factory(client):
        return NodeRunner(client)

    return factory


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """No test writes under the real home: XDG data, config, cache and state go to a temp dir.

    The Hugging Face cache stays where it resolved before (tests may read models there).
    """
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        if not any(os.environ.get(v) for v in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")):
            cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            mp.setenv("HF_HOME", os.path.join(cache, "huggingface"))
        for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            mp.setenv(name, str(root / name.lower()))
        yield root


@pytest.fixture(autouse=True)
def _test_storage(tmp_path, monkeypatch):
    """Each test keeps jobs, assets and logs in its own folder."""
    monkeypatch.setenv("NODETOOL_GATEWAY_TEST_STORAGE", str(tmp_path / "storage"))


@pytest.fixture(autouse=True)
def _reset_sample_handlers():
    import sample_handlers

    sample_handlers.reset()
    yield


@contextlib.asynccontextmanager
async def joined(gw, cfg):
    """A node with ``cfg`` joined to the running gateway ``gw``, and an operator connected."""
    from nodetool_gateway import GatewayClient
    from nodetool_gateway.gateway import OperatorClient

    cfg = cfg.model_copy(update={"gateway": cfg.gateway.model_copy(update={"url": gw.url})})
    client = GatewayClient(config=cfg)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.wait_registered(), 10 * TIME)
        async with OperatorClient.connect(gw.operator_url) as op:
            yield op, client
    finally:
        client.stop()
        await asyncio.wait_for(task, 10 * TIME)


@contextlib.asynccontextmanager
async def serving(cfg):
    """A local gateway, a node with ``cfg`` joined to it, and an operator connected."""
    from nodetool_gateway.gateway import LocalGateway

    async with LocalGateway() as gw, joined(gw, cfg) as pair:
        yield pair
