"""Handlers used by ``nodetool-gateway demo`` (and a model for your own)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from ..errors import InvalidArgs
from .context import HandlerContext

__all__ = ["echo", "word_count", "countdown", "fail"]


async def echo(**args: Any) -> Any:
    """Answer with the arguments it was given."""
    return args


def word_count(text: str) -> dict[str, int]:
    """Count words and characters (a sync handler: it runs in a worker thread)."""
    return {"words": len(text.split()), "characters": len(text)}


async def countdown(start: int = 3, delay: float = 0.2) -> AsyncIterator[dict[str, Any]]:
    """Stream progress while it works; the last item is the answer."""
    if start < 0:
        raise InvalidArgs("start must be >= 0")
    for i in range(start, 0, -1):
        yield {"type": "node_progress", "progress": start - i + 1, "total": start}
        await asyncio.sleep(delay)
    yield {"type": "done", "message": "liftoff"}


async def fail(message: str = "this handler always fails", context: HandlerContext | None = None) -> None:
    """Raise, to show how an error answer looks."""
    raise RuntimeError(message)
