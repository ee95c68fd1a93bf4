"""Handlers the node under test routes: a no-op, and the two sides of a reload."""

from __future__ import annotations

__all__ = ["noop", "noop_sync", "answer_a", "answer_b"]


async def noop() -> None:
    """The no-op command: the node's own cost is all that is left."""
    return None


async def answer_a() -> str:
    return "a"


async def answer_b() -> str:
    return "b"


def noop_sync() -> None:
    """The no-op as a plain ``def``: run in a worker thread unless routed ``blocking: false``."""
    return None
