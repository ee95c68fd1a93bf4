"""The operator side of the local gateway: send work to nodes, get the answers.

One socket carries any number of concurrent requests; a single reader task
dispatches every frame to its request by ``request_id``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ._auth import RedactingAdapter, secret_bytes
from ._frames import OPERATOR_PATH, now_iso

__all__ = ["GatewayError", "OperatorClient", "UpdateCallback"]

log = logging.getLogger("nodetool.gateway.operator")
_ws_log = RedactingAdapter(logging.getLogger("nodetool.gateway.operator.websockets"), {})

UpdateCallback = Callable[[dict[str, Any]], Any]

# Frames that end a request on the operator side (``nodes`` answers list_nodes).
_FINAL = frozenset({"command_response", "workflow_response", "error", "nodes"})


class GatewayError(Exception):
    """The request ended with an ``error`` frame, from the gateway or the node.

    ``code`` is the machine-readable code (``NO_NODE``, ``UNKNOWN_TYPE``...) or
    ``None``; ``frame`` is the whole error frame.
    """

    def __init__(self, code: str | None, message: str, frame: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.frame = frame if frame is not None else {}


class _Waiter:
    __slots__ = ("future", "on_update")

    def __init__(
        self, future: asyncio.Future[dict[str, Any]], on_update: UpdateCallback | None
    ) -> None:
        self.future = future
        self.on_update = on_update


class OperatorClient:
    """Operator connection to a :class:`~nodetool_gateway.gateway.LocalGateway`.

    Use ``async with OperatorClient.connect(url, auth_token) as op:``.

    Answers: ``call``, ``run_workflow`` and ``send`` return the final frame as a
    dict (``command_response`` or ``workflow_response``; a ``status`` of ``error``
    or ``failed`` is still a returned answer). A final ``error`` frame, which means
    the request got no answer from a handler (no node, unknown type, bad frame),
    raises :class:`GatewayError` carrying the frame. Every frame before the final
    one (``ack``, ``workflow_update``...) goes to ``on_update``, called from the
    reader task in arrival order: keep it quick (a coroutine it returns is awaited,
    holding up every other request on this socket). A ``timeout`` raises
    :class:`TimeoutError`; a lost connection raises :class:`ConnectionError`.

    An answer nobody waits for is work to stop: when ``timeout`` expires or the
    task awaiting the answer is cancelled, the client sends a ``cancel_request``
    for it before raising, and the node cancels the handler or workflow (its job
    is recorded ``cancelled``). Closing the connection with requests pending has
    the same effect: the gateway cancels them. A node that goes away fails its
    requests at once with ``GatewayError`` code ``NODE_DISCONNECTED``.

    ``node_id`` (on ``call``, ``run_workflow`` or a frame given to ``send``)
    chooses the node; the gateway removes it before the node sees the frame.
    """

    def __init__(self, connection: ClientConnection) -> None:
        self._ws = connection
        self._waiters: dict[str, _Waiter] = {}
        self._abandoned: set[str] = set()  # cancelled by us; their last frames are expected
        self._closed_error: ConnectionError | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str,
        auth_token: Any = None,
        *,
        open_timeout: float | None = 10,
        max_size: int | None = 64 * 2**20,
        compression: str | None = None,
    ) -> AsyncIterator[OperatorClient]:
        """Connect to a gateway's operator endpoint.

        A URL without a path (``ws://host:port``) gets ``/operator``. A refused
        token raises ``websockets.exceptions.InvalidStatus`` (HTTP 401).
        """
        headers = {}
        token = secret_bytes(auth_token)
        if token is not None:
            headers["Authorization"] = f"Bearer {token.decode()}"
        ws = await connect(
            _operator_url(url),
            additional_headers=headers,
            open_timeout=open_timeout,
            max_size=max_size,
            compression=compression,
            logger=_ws_log,
        )
        client = cls(ws)
        try:
            yield client
        finally:
            await client.close()

    async def close(self) -> None:
        """Close the connection; requests still waiting raise ConnectionError."""
        await self._ws.close()
        await self._reader

    async def request(
        self, frame: dict[str, Any], *, on_update: UpdateCallback | None = None
    ) -> str:
        """Send a request frame without waiting; return its ``request_id``.

        Collect its answer with :meth:`result`. Adds ``request_id`` (uuid4 hex)
        and ``timestamp`` when the frame has none; the caller's dict is not changed.
        """
        if self._closed_error is not None:
            raise self._closed_error
        frame = dict(frame)
        request_id = frame.get("request_id")
        if request_id is None:
            request_id = frame["request_id"] = uuid.uuid4().hex
        if "timestamp" not in frame:
            frame["timestamp"] = now_iso()
        if request_id in self._waiters:
            raise ValueError(f"request {request_id!r} is already pending on this connection")
        self._waiters[request_id] = _Waiter(asyncio.get_running_loop().create_future(), on_update)
        try:
            await self._ws.send(json.dumps(frame))
        except BaseException:
            self._waiters.pop(request_id, None)
            raise
        return request_id

    async def result(self, request_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the final answer to a request sent with :meth:`request`.

        On ``timeout``, or when the awaiting task is cancelled, the request is
        cancelled on the node (``cancel_request``) before the error is raised.
        """
        waiter = self._waiters.get(request_id)
        if waiter is None:
            raise ValueError(f"request {request_id!r} is not pending on this connection")
        try:
            if timeout is None:
                frame = await waiter.future
            else:
                async with asyncio.timeout(timeout):
                    frame = await waiter.future
        except (TimeoutError, asyncio.CancelledError) as exc:
            # Nobody waits for the answer any more: stop the work on the node.
            self._waiters.pop(request_id, None)
            await self._abandon(request_id)
            if isinstance(exc, TimeoutError):
                raise TimeoutError(
                    f"no answer to request {request_id} within {timeout}s (cancelled on the node)"
                ) from None
            raise
        finally:
            self._waiters.pop(request_id, None)
        if frame.get("type") == "error":
            raise GatewayError(frame.get("code"), str(frame.get("error", "")), frame)
        return frame

    async def send(
        self,
        frame: dict[str, Any],
        *,
        timeout: float | None = None,
        on_update: UpdateCallback | None = None,
    ) -> dict[str, Any]:
        """Send any request frame (routing fields included) and return its final answer."""
        request_id = await self.request(frame, on_update=on_update)
        return await self.result(request_id, timeout)

    async def call(
        self,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        node_id: str | None = None,
        timeout: float | None = None,
        on_update: UpdateCallback | None = None,
    ) -> dict[str, Any]:
        """Run a command on a node; return its ``command_response``."""
        frame: dict[str, Any] = {"type": "command_request", "command": command, "args": args or {}}
        if node_id is not None:
            frame["node_id"] = node_id
        return await self.send(frame, timeout=timeout, on_update=on_update)

    async def run_workflow(
        self,
        *,
        workflow_id: str | None = None,
        graph: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        user_id: str | None = None,
        node_id: str | None = None,
        timeout: float | None = None,
        on_update: UpdateCallback | None = None,
    ) -> dict[str, Any]:
        """Run a workflow (by id or graph) on a node; return its ``workflow_response``."""
        if workflow_id is None and graph is None:
            raise ValueError("run_workflow needs workflow_id or graph")
        frame: dict[str, Any] = {"type": "workflow_request", "params": params or {}}
        if workflow_id is not None:
            frame["workflow_id"] = workflow_id
        if graph is not None:
            frame["graph"] = graph
        if user_id is not None:
            frame["user_id"] = user_id
        if node_id is not None:
            frame["node_id"] = node_id
        return await self.send(frame, timeout=timeout, on_update=on_update)

    async def list_nodes(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every node the gateway has seen, connected or not."""
        answer = await self.send({"type": "list_nodes"}, timeout=timeout)
        return list(answer.get("nodes", []))

    async def cancel(self, request_id: str, *, node_id: str | None = None) -> None:
        """Ask the node running ``request_id`` to cancel it; its final answer still comes.

        Only the connection that sent a request can cancel it; the gateway answers
        any other ``cancel`` with a ``NOT_FOUND`` error (logged, not raised).
        """
        frame: dict[str, Any] = {"type": "cancel_request", "request_id": request_id}
        frame["timestamp"] = now_iso()
        if node_id is not None:
            frame["node_id"] = node_id
        await self._ws.send(json.dumps(frame))

    async def _abandon(self, request_id: str) -> None:
        """Cancel a request whose answer nobody awaits; quietly, as a last word."""
        if self._closed_error is not None:
            return  # the gateway cancels the requests of a closed connection itself
        self._abandoned.add(request_id)
        try:
            # Shielded: a second cancellation of the caller must not cut the frame in half.
            await asyncio.shield(self.cancel(request_id))
        except ConnectionClosed:
            pass

    def _settle_abandoned(self, frame: dict[str, Any], request_id: Any) -> bool:
        """Whether ``frame`` is the last word on an abandoned request (logged at DEBUG)."""
        kind = frame.get("type")
        if request_id in self._abandoned:
            if kind in _FINAL:
                self._abandoned.discard(request_id)
                log.debug("request %s ended after it was abandoned: %s", request_id, kind)
            return True
        details = frame.get("details")
        cancelled = details.get("cancel_request_id") if isinstance(details, dict) else None
        if kind == "error" and cancelled in self._abandoned:
            # The cancel crossed the answer on the wire: nothing was left to cancel.
            self._abandoned.discard(cancelled)
            log.debug("request %s was answered before its cancel arrived", cancelled)
            return True
        return False

    async def _read(self) -> None:
        try:
            async for text in self._ws:
                try:
                    frame = json.loads(text)
                    request_id = frame.get("request_id")
                except (ValueError, AttributeError):
                    log.warning("gateway sent a frame that is not a JSON object")
                    continue
                waiter = self._waiters.get(request_id) if isinstance(request_id, str) else None
                if waiter is None:
                    if self._abandoned and self._settle_abandoned(frame, request_id):
                        continue
                    if frame.get("type") == "error":
                        log.warning("gateway error: %s", frame.get("error"))
                    else:
                        log.debug("frame for no pending request: %s", frame.get("type"))
                    continue
                if frame.get("type") in _FINAL:
                    if not waiter.future.done():
                        waiter.future.set_result(frame)
                elif waiter.on_update is not None:
                    try:
                        outcome = waiter.on_update(frame)
                        if inspect.isawaitable(outcome):
                            await outcome
                    except Exception:
                        log.exception("on_update callback failed for request %s", request_id)
        except ConnectionClosed:
            pass
        finally:
            code = self._ws.close_code
            self._closed_error = ConnectionError(f"gateway connection closed (code {code})")
            for waiter in self._waiters.values():
                if not waiter.future.done():
                    waiter.future.set_exception(self._closed_error)
                    waiter.future.exception()  # retrieved: nobody may be awaiting it


def _operator_url(url: str) -> str:
    """``url`` with the operator path when it has no path of its own."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path=OPERATOR_PATH)
    return urlunsplit(parts)
