"""A custom handler module: route commands and message types to these in node.yaml.

    commands:
      greet: handlers:greet
      resize_plan: {handler: handlers:resize_plan, timeout: 2m, concurrency: 2}
    routes:
      note: handlers:on_note

A handler takes its arguments as keyword parameters (checked against the
signature: a wrong or missing argument is answered INVALID_ARGS), may be sync
or async, may ask for a ``context``, and returns any JSON value. An async
generator streams each item it yields as an update; its last item is the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from nodetool_gateway import HandlerContext
from nodetool_gateway.errors import InvalidArgs, NotFound

_NOTES: list[dict[str, Any]] = []


async def greet(name: str, excited: bool = False) -> str:
    """Answer a greeting."""
    return f"Hello, {name}{'!' if excited else '.'}"


def resize_plan(width: int, height: int, max_side: int = 1024) -> dict[str, int]:
    """A sync handler (it runs in a worker thread): fit an image inside max_side."""
    if width <= 0 or height <= 0:
        raise InvalidArgs("width and height must be positive")
    scale = min(1.0, max_side / max(width, height))
    return {"width": round(width * scale), "height": round(height * scale)}


async def slow_sum(numbers: list[float], context: HandlerContext) -> float:
    """Report progress while it works, through the context."""
    total = 0.0
    for i, n in enumerate(numbers, 1):
        total += n
        await context.progress(i, len(numbers))
        await asyncio.sleep(0.05)
    context.log.debug("summed %d numbers for %s", len(numbers), context.request_id)
    return total


async def ticker(count: int = 5, every: float = 0.2) -> AsyncIterator[dict[str, Any]]:
    """Stream updates: each yielded item goes to the gateway as it comes."""
    for i in range(1, count + 1):
        yield {"type": "tick", "n": i}
        await asyncio.sleep(every)
    yield {"type": "done", "ticks": count}


async def on_note(text: str, author: str = "anonymous") -> dict[str, Any]:
    """A handler for a custom message type ``note``: the frame's fields are its arguments."""
    _NOTES.append({"text": text, "author": author})
    return {"stored": len(_NOTES)}


async def get_note(index: int) -> dict[str, Any]:
    """NOT_FOUND for a missing item, with a message the operator can act on."""
    try:
        return _NOTES[index]
    except IndexError:
        raise NotFound(f"no note {index}: there are {len(_NOTES)} notes") from None
