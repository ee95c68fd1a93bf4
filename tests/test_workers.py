"""Workflow runs in worker processes: the node's loop never runs node code.

Real worker processes, real node types that hog their loop, crash or overflow;
the node's own loop is watched by a ticker the whole time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from nodetool_gateway.backend import Backend
from nodetool_gateway.config import default_config
from nodetool_gateway.errors import Busy, InvalidArgs

TESTS = Path(__file__).parent


def graph(node_type: str, **data: Any) -> dict:
    """One node of ``node_type`` feeding an output named ``out``."""
    return {"id": None, "name": "t", "graph": {
        "nodes": [{"id": "n", "type": node_type, "data": data},
                  {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}}],
        "edges": [{"id": "e", "source": "n", "sourceHandle": "output", "target": "o",
                   "targetHandle": "value"}]}}


def config(tmp_path, **engine: Any):
    return default_config(storage={"path": str(tmp_path / "storage")}, workflows={"paths": []},
                          nodes={"modules": ["worker_nodes"]},
                          engine={"workers": 1, **engine})


class Ticker:
    """Measures the longest gap between ticks of the node's loop (a stall)."""

    def __init__(self, period: float = 0.01):
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - self.period)
            last = now

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def backend(tmp_path):
    made: list[Backend] = []

    def make(**engine: Any) -> Backend:
        b = Backend(config(tmp_path, **engine))
        made.append(b)
        return b

    yield make
    for b in made:
        await b.close()


async def test_a_worker_starts_from_a_folder_whose_modules_shadow_the_standard_library(
        backend, tmp_path, monkeypatch):
    """A node run from a project folder holding types.py or json.py: its workers import
    the standard library's, not those (they exited at start-up before)."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("types", "json", "enum"):
        (folder / f"{name}.py").write_text("raise SystemExit('shadowed the standard library')\n")
    monkeypatch.chdir(folder)
    result = await backend().run(graph("wtest.Pid"), {}, user_id="1")
    assert result["status"] == "completed", result["error"]


async def test_a_run_happens_in_a_worker_and_streams_its_events(backend):
    b = backend()
    events: list[dict] = []

    async def on_event(event: dict) -> None:
        events.append(event)

    result = await b.run(graph("wtest.Pid"), {}, user_id="1", on_event=on_event)
    assert result["status"] == "completed"
    [worker_pid] = result["outputs"]["out"]
    assert worker_pid != os.getpid()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "job_update" and events[0]["status"] == "running"
    assert events[-1]["type"] == "job_update" and events[-1]["status"] == "completed"
    assert any(e["type"] == "log_update" and e["content"] == "running in a worker" for e in events)
    assert b.jobs.get(result["job_id"])["status"] == "completed"
    # The same run inline gives the same outputs, less the process id.
    inline = backend(isolation="inline")
    same = await inline.run(graph("wtest.Pid"), {}, user_id="1")
    assert same["outputs"]["out"] == [os.getpid()]


async def test_a_run_that_hogs_its_loop_does_not_stall_the_node_and_is_cancelled(backend):
    b = backend()
    await b.run(graph("wtest.Nap", seconds=0), {}, user_id="1")  # the worker is up
    events: list[dict] = []

    async def on_event(event: dict) -> None:
        events.append(event)

    async with Ticker() as ticker:
        task = asyncio.create_task(b.run(graph("wtest.Hog", seconds=30), {}, user_id="1",
                                         on_event=on_event))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = time.perf_counter() - started
        # The next run gets a fresh worker.
        again = await b.run(graph("wtest.Nap", seconds=0), {}, user_id="1")
    assert took < 4.0, took  # STOP_GRACE (2 s), then the kill
    assert ticker.worst < 0.1, ticker.worst
    assert events[-1]["type"] == "job_update" and events[-1]["status"] == "cancelled"
    job = next(j for j in b.jobs.list(limit=10) if j["status"] == "cancelled")
    assert job["error"] == "cancelled"
    assert again["status"] == "completed"


async def test_a_cooperative_run_is_cancelled_without_killing_its_worker(backend):
    b = backend()
    task = asyncio.create_task(b.run(graph("wtest.Nap", seconds=30), {}, user_id="1"))
    for _ in range(200):  # the worker starts (0.4 s, more on a loaded machine), then the run
        if b.pool.workers and b.pool.workers[0].alive:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    pid = b.pool.workers[0].process.pid
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - started < 1.0
    assert b.pool.workers[0].alive and b.pool.workers[0].process.pid == pid


async def test_a_run_past_max_run_time_fails_even_when_it_holds_its_loop(backend):
    b = backend(max_run_time=0.5)
    async with Ticker() as ticker:
        started = time.perf_counter()
        result = await b.run(graph("wtest.Hog", seconds=30), {}, user_id="1")
        took = time.perf_counter() - started
    assert result["status"] == "failed"
    assert "run time limit of 0.5s exceeded" in result["error"]
    assert took < 0.5 + 2.0 + 1.5, took  # worker start-up, the limit, the grace
    assert ticker.worst < 0.1, ticker.worst
    assert b.jobs.get(result["job_id"])["status"] == "failed"
    assert (await b.run(graph("wtest.Nap", seconds=0), {}, user_id="1"))["status"] == "completed"


async def test_other_runs_on_a_killed_worker_fail_saying_why(backend):
    b = backend(max_run_time=1.0)
    hog = asyncio.create_task(b.run(graph("wtest.Hog", seconds=30), {}, user_id="1"))
    await asyncio.sleep(0.8)  # the worker is up and hogged
    nap = await b.run(graph("wtest.Nap", seconds=0.1), {}, user_id="1")
    assert nap["status"] == "failed" and "ran past its time limit" in nap["error"]
    assert (await hog)["status"] == "failed"


async def test_a_value_over_max_value_size_fails_the_run(backend):
    b = backend(max_value_size="64KiB")
    result = await b.run(graph("wtest.Big", size=200_000), {}, user_id="1")
    assert result["status"] == "failed"
    assert "exceeds engine.max_value_size" in result["error"]
    small = await b.run(graph("wtest.Big", size=1000), {}, user_id="1")
    assert small["status"] == "completed" and small["outputs"]["out"] == ["x" * 1000]


async def test_a_worker_that_dies_fails_its_run_and_is_replaced(backend):
    b = backend()
    result = await b.run(graph("wtest.Crash"), {}, user_id="1")
    assert result["status"] == "failed" and "exited (code 3)" in result["error"]
    assert (await b.run(graph("wtest.Nap", seconds=0), {}, user_id="1"))["status"] == "completed"


async def test_an_invalid_workflow_is_refused_with_details(backend):
    b = backend()
    with pytest.raises(InvalidArgs) as caught:
        await b.run(graph("wtest.Nope"), {}, user_id="1")
    assert "wtest.Nope" in str(caught.value)
    assert caught.value.details["valid"] is False


async def test_background_jobs_are_bounded_and_share_the_run_slots(backend):
    b = backend(max_background_jobs=3, max_concurrent_runs=2)
    ids = [b.start_background(graph("wtest.Nap", seconds=0.3), {}, user_id="1")
           for _ in range(3)]
    with pytest.raises(Busy):
        b.start_background(graph("wtest.Nap", seconds=0.3), {}, user_id="1")
    await asyncio.sleep(0.2)
    assert b._running == 3  # two run, one waits for a slot
    while b._background:
        await asyncio.sleep(0.05)
    assert [b.jobs.get(i)["status"] for i in ids] == ["completed"] * 3


def test_a_worker_dies_with_its_node(tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(TESTS)!r})
        from nodetool_gateway.backend import Backend
        from nodetool_gateway.config import default_config
        sys.path.insert(0, {str(TESTS)!r})
        from test_workers import config, graph

        async def main():
            b = Backend(config(__import__("pathlib").Path({str(tmp_path)!r})))
            task = asyncio.create_task(b.run(graph("wtest.Hog", seconds=60), {{}}, user_id="1"))
            while not b.pool.workers or not b.pool.workers[0].runs:
                await asyncio.sleep(0.05)
            print(b.pool.workers[0].process.pid, flush=True)
            await task

        asyncio.run(main())
    """)
    node = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(node.stdout.readline())
        os.kill(node.pid, signal.SIGKILL)
        node.wait(5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived its node")
    finally:
        node.kill()
