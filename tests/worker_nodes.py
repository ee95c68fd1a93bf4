"""Node types that misbehave, for the worker-process tests (``nodes.modules: [worker_nodes]``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from nodetool_gateway.engine import BaseNode

NAMESPACE = "wtest"


class Hog(BaseNode):
    """Holds its event loop: a blocking sleep inside async code (as a backtracking regex would)."""

    seconds: float = 1.0

    async def process(self, context: Any) -> str:
        time.sleep(self.seconds)
        return "awake"


class Nap(BaseNode):
    """Waits cooperatively."""

    seconds: float = 1.0

    async def process(self, context: Any) -> str:
        await asyncio.sleep(self.seconds)
        return "rested"


class Big(BaseNode):
    """Makes a string of ``size`` characters."""

    size: int = 10

    async def process(self, context: Any) -> str:
        return "x" * self.size


class Crash(BaseNode):
    """Ends its process at once."""

    async def process(self, context: Any) -> str:
        os._exit(3)


class Pid(BaseNode):
    """The id of the process running it, and a log line."""

    async def process(self, context: Any) -> int:
        context.log("running in a worker")
        return os.getpid()
