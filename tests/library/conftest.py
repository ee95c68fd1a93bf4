"""Shared helpers for the node-library tests: a tiny context and stream plumbing."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest


class Ctx:
    """The smallest NodeContext: records logs and progress; can be cancelled."""

    def __init__(self) -> None:
        self.job_id = "job-1"
        self.workflow_id = "wf-1"
        self.node_id = "node-1"
        self.user_id = "user-1"
        self.logs: list[tuple[str, str]] = []
        self.progress_calls: list[tuple[float, float | None]] = []
        self._cancelled = False

    def log(self, content: str, severity: str = "info") -> None:
        self.logs.append((severity, content))

    def progress(self, progress: float, total: float | None = None) -> None:
        self.progress_calls.append((progress, total))

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True


class Inputs:
    """NodeInputs over fixed lists: ``stream(h)`` yields the list given for ``h``."""

    def __init__(self, **streams: list[Any]):
        self.streams = streams

    def has_stream(self, handle: str) -> bool:
        return handle in self.streams

    async def stream(self, handle: str) -> AsyncIterator[Any]:
        for item in self.streams.get(handle, []):
            yield item

    async def first(self, handle: str, default: Any = None) -> Any:
        items = self.streams.get(handle, [])
        return items[0] if items else default


class Outputs:
    """NodeOutputs that records every emission."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any]] = []

    async def emit(self, handle: str, value: Any) -> None:
        self.emitted.append((handle, value))


@pytest.fixture
def ctx() -> Ctx:
    return Ctx()


async def gen(node: Any, context: Any = None) -> list[dict[str, Any]]:
    """Everything a node's gen_process yields."""
    return [item async for item in node.gen_process(context or Ctx())]


async def run_node(node: Any, context: Any = None, **streams: list[Any]) -> list[tuple[str, Any]]:
    """Run a ``run()`` node over the given input streams; the emissions."""
    outputs = Outputs()
    await node.run(context or Ctx(), Inputs(**streams), outputs)
    return outputs.emitted


@pytest.fixture
def collect_gen():
    return gen


@pytest.fixture
def run_streams():
    return run_node
