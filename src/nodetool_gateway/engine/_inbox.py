"""Where values wait for a node: per-node inboxes with end-of-stream counting.

Every edge into a node is one upstream source; when the source node finishes,
the edge ends. A handle (or the whole inbox) has ended once all its sources
have ended and its buffer is empty. Waiting uses one bare future per waiter,
which is far cheaper than ``asyncio.Condition`` on hot paths.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["END", "AnyInbox", "HandleInbox", "Inputs", "Outputs"]

END: Any = object()  # returned by AnyInbox.get once every source has ended
EMPTY: Any = object()  # returned by HandleInbox.pop when a value is yet to come


class _Waitable:
    # Subclasses set _waiters to None in their own __init__ (one call less per
    # inbox, and a graph makes one per node).
    __slots__ = ("_waiters",)
    _waiters: list[asyncio.Future] | None

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for f in waiters:
                if not f.done():
                    f.set_result(None)

    async def _wait(self) -> None:
        f = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = [f]
        else:
            self._waiters.append(f)
        await f


class AnyInbox(_Waitable):
    """Values in arrival order across all handles (for nodes the engine feeds)."""

    __slots__ = ("_items", "_open")

    def __init__(self) -> None:
        self._waiters = None
        self._items: deque[tuple[str, Any]] = deque()
        self._open = 0

    def add_source(self, handle: str) -> None:
        self._open += 1

    def put(self, handle: str, value: Any) -> None:
        self._items.append((handle, value))
        if self._waiters:
            self._wake()

    def end(self, handle: str) -> None:
        self._open -= 1
        if self._waiters:
            self._wake()

    def pop(self) -> tuple[str, Any] | None:
        """The next ``(handle, value)``, :data:`END`, or ``None`` if :meth:`get` would wait."""
        if self._items:
            return self._items.popleft()
        if self._open <= 0:
            return END
        return None

    async def get(self) -> tuple[str, Any]:
        """The next ``(handle, value)``, or :data:`END`."""
        while True:
            if self._items:
                return self._items.popleft()
            if self._open <= 0:
                return END
            await self._wait()


class HandleInbox(_Waitable):
    """One FIFO per handle (for ``run`` nodes that read their streams themselves)."""

    __slots__ = ("_buffers", "_open")

    def __init__(self) -> None:
        self._waiters = None
        self._buffers: dict[str, deque[Any]] = {}
        self._open: dict[str, int] = {}

    def add_source(self, handle: str) -> None:
        self._open[handle] = self._open.get(handle, 0) + 1
        self._buffers.setdefault(handle, deque())

    def put(self, handle: str, value: Any) -> None:
        self._buffers[handle].append(value)
        if self._waiters:
            self._wake()

    def end(self, handle: str) -> None:
        self._open[handle] -= 1
        if self._waiters:
            self._wake()

    def has_source(self, handle: str) -> bool:
        return handle in self._open

    def pop(self, handle: str) -> Any:
        """The next value on ``handle``, :data:`END`, or :data:`EMPTY` if :meth:`next` would wait."""
        buf = self._buffers.get(handle)
        if buf is None:
            return END
        if buf:
            return buf.popleft()
        return END if self._open[handle] <= 0 else EMPTY

    async def next(self, handle: str) -> Any:
        """The next value on ``handle``, or :data:`END`."""
        buf = self._buffers.get(handle)
        if buf is None:
            return END
        while True:
            if buf:
                return buf.popleft()
            if self._open[handle] <= 0:
                return END
            await self._wait()


class Inputs:
    """:class:`~nodetool_gateway.engine.node.NodeInputs` over a :class:`HandleInbox`."""

    __slots__ = ("_inbox",)

    def __init__(self, inbox: HandleInbox):
        self._inbox = inbox

    def has_stream(self, handle: str) -> bool:
        """Whether an edge feeds ``handle``."""
        return self._inbox.has_source(handle)

    async def stream(self, handle: str) -> AsyncIterator[Any]:
        """Values arriving on ``handle`` until every upstream has finished."""
        inbox = self._inbox
        while True:
            value = inbox.pop(handle)
            if value is EMPTY:  # nothing yet: wait
                value = await inbox.next(handle)
            if value is END:
                return
            yield value

    async def first(self, handle: str, default: Any = None) -> Any:
        """The next value on ``handle``, or ``default`` if it ends first."""
        value = await self._inbox.next(handle)
        return default if value is END else value


class Outputs:
    """:class:`~nodetool_gateway.engine.node.NodeOutputs`: sends values down the edges."""

    __slots__ = ("_send",)

    def __init__(self, send: Any):
        self._send = send

    async def emit(self, handle: str, value: Any) -> None:
        await self._send(handle, value)
