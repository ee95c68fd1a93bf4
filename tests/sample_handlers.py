"""Handlers the session tests route to (real functions, imported by name)."""

from __future__ import annotations

import asyncio
from typing import Any

from nodetool_gateway import HandlerContext
from nodetool_gateway.errors import NotFound, Unavailable

# Test-controlled state: gates the tests open, and what the handlers saw.
GATES: dict[str, asyncio.Event] = {}
CALLS: dict[str, int] = {}
ACTIVE = {"now": 0, "max": 0}
CANCELLED: list[str] = []
STARTED: dict[str, asyncio.Event] = {}
STOPPED: dict[str, asyncio.Event] = {}  # set when a gate's call is cancelled


def reset() -> None:
    GATES.clear()
    CALLS.clear()
    CANCELLED.clear()
    STARTED.clear()
    STOPPED.clear()
    ACTIVE.update(now=0, max=0)


def gate_for(key: str) -> asyncio.Event:
    return GATES.setdefault(key, asyncio.Event())


def started(key: str) -> asyncio.Event:
    return STARTED.setdefault(key, asyncio.Event())


def stopped(key: str) -> asyncio.Event:
    return STOPPED.setdefault(key, asyncio.Event())


async def echo(**args: Any) -> Any:
    return args


async def add(a: int, b: int = 0) -> int:
    return a + b


def sync_add(a: int, b: int) -> int:
    return a + b


async def deep(depth: int) -> list:
    """A result nested ``depth`` lists deep."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


async def not_finite() -> dict:
    return {"nan": float("nan"), "inf": [float("inf"), -float("inf")], "ok": 1.5}


def which_thread() -> str:
    """The thread a plain def handler runs in."""
    import threading

    return "loop" if threading.current_thread() is threading.main_thread() else "worker"


async def value(v: Any = None) -> Any:
    return v


async def gate(key: str, result: Any = None) -> Any:
    """Wait until the test opens the gate named ``key``; count calls and overlap."""
    CALLS[key] = CALLS.get(key, 0) + 1
    ACTIVE["now"] += 1
    ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
    started(key).set()
    try:
        await gate_for(key).wait()
    except asyncio.CancelledError:
        CANCELLED.append(key)
        stopped(key).set()
        raise
    finally:
        ACTIVE["now"] -= 1
    return {"key": key, "result": result}


async def hold(key: str, steps: int = 0, context: HandlerContext | None = None):
    """Report ``steps`` progress updates, then run until cancelled, saying so in the log.

    For tests that run the node in another process: its log is what they can watch.
    """
    for i in range(steps):
        yield {"type": "node_progress", "progress": i + 1, "total": steps}
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        context.log.warning("hold %s: cancelled", key)
        raise


async def boom(message: str = "kaboom") -> None:
    raise RuntimeError(message)


async def missing(thing: str) -> None:
    raise NotFound(f"no such thing: {thing}")


async def stream(n: int = 3, context: HandlerContext | None = None):
    for i in range(n):
        yield {"type": "node_progress", "progress": i + 1, "total": n,
               "request_id": context.request_id if context else None}


async def big(size: int) -> str:
    return "x" * size


async def custom(text: str = "", **rest: Any) -> dict:
    return {"got": text, "rest": rest}


async def other(text: str = "") -> dict:
    return {"other": text}


async def unavailable() -> None:
    raise Unavailable("the thing this needs is not installed")
