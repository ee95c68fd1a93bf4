"""A handler for the interop tests: slow on purpose, counting its runs and cancellations."""

from __future__ import annotations

import asyncio

RUNS = 0
CANCELLED = asyncio.Event()


def reset() -> None:
    global RUNS, CANCELLED
    RUNS = 0
    CANCELLED = asyncio.Event()


async def slow(seconds: float = 1.0) -> dict:
    global RUNS
    RUNS += 1
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        CANCELLED.set()
        raise
    return {"slept": seconds, "run": RUNS}
