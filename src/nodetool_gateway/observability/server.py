"""A small HTTP/1.1 server on the node's own event loop: /healthz, /readyz, /metrics.

It runs on the node's loop rather than in a thread (prometheus_client's own server
does that): so ``/healthz`` answering proves the loop turns, and ``/readyz`` reads the
node's state without crossing threads. It speaks just enough HTTP for probes and
scrapers: ``GET`` or ``HEAD``, one request per connection, bounded and timed reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .observer import Observer

__all__ = ["HealthServer"]

# Limits
_MAX_HEAD = 8192  # bytes of request line and headers
_MAX_CLIENTS = 32  # connections at once; more are closed at once
_TIMEOUT = 10.0  # seconds to read a request or write an answer

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            503: "Service Unavailable"}
_TEXT = "text/plain; charset=utf-8"


class HealthServer:
    """Serves one node's health and metrics; ``await start(host, port)``, ``await close()``."""

    def __init__(self, observer: Observer):
        self.observer = observer
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def start(self, host: str, port: int) -> None:
        """Listen; raises OSError when the address is taken or not this machine's."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=_MAX_HEAD)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for task in list(self._clients):
                task.cancel()
            if self._clients:
                await asyncio.wait(self._clients, timeout=_TIMEOUT)
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._clients) >= _MAX_CLIENTS:
            writer.close()
            return
        self._clients.add(task)
        try:
            await asyncio.wait_for(self._serve(reader, writer), _TIMEOUT)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a client that went away or stalled: nothing to answer
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        except (asyncio.LimitOverrunError, ValueError):
            await self._answer(writer, 400, b"bad request\n")
            return
        head_only = method == "HEAD"
        path = target.partition("?")[0]
        if method not in ("GET", "HEAD") or not version.startswith("HTTP/1."):
            await self._answer(writer, 405, b"only GET and HEAD\n", extra="Allow: GET, HEAD\r\n")
        elif path == "/healthz":
            await self._answer(writer, 200, b"ok\n", head_only=head_only)
        elif path == "/readyz":
            ready, reason = self.observer.readiness()
            await self._answer(writer, 200 if ready else 503, f"{reason}\n".encode(),
                               head_only=head_only)
        elif path == "/metrics":
            body, content_type = await self.observer.metrics()
            await self._answer(writer, 200, body, content_type, head_only=head_only)
        else:
            await self._answer(writer, 404, b"not found: try /healthz, /readyz or /metrics\n")

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes,
                      content_type: str = _TEXT, *, head_only: bool = False, extra: str = "") -> None:
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n{extra}"
                "Connection: close\r\n\r\n")
        writer.write(head.encode("latin-1") + (b"" if head_only else body))
        await writer.drain()
