"""The node's side: worker processes, the runs on each, and stopping a run that won't."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._wire import pack, read

if TYPE_CHECKING:
    from ..providers.registry import CallRecorder

__all__ = ["WorkerPool"]

log = logging.getLogger("nodetool.gateway.workers")

#: How long a worker gets to stop a run (cancel, or past its time limit) before it is killed.
STOP_GRACE = 2.0
#: How long a new worker may take to start (import the engine, load node types).
START_TIMEOUT = 60.0

EventCallback = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class _Run:
    job_id: str
    workflow_id: str | None
    on_event: EventCallback | None
    outcome: asyncio.Future
    started: float = field(default_factory=time.perf_counter)
    callback_errors: int = 0


class _Worker:
    """One worker process and the runs it has."""

    def __init__(self, number: int, record_call: CallRecorder | None = None):
        self.number = number
        self.record_call = record_call
        self.runs: dict[str, _Run] = {}
        self.process: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task | None = None
        self.alive = False
        self._ready: asyncio.Future | None = None

    async def start(self, init: tuple) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            self.process = await asyncio.create_subprocess_exec(
                # -P: not the current folder first on sys.path (a user's types.py or json.py
                # there would shadow the standard library before the node's path is set).
                sys.executable, "-P", "-m", "nodetool_gateway.workers._child", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL)
        finally:
            theirs.close()
        reader, self.writer = await asyncio.open_connection(sock=ours, limit=2**20)
        self._ready = loop.create_future()
        self.alive = True
        self.reader_task = loop.create_task(self._read(reader), name=f"worker-{self.number}")
        self.writer.write(pack(init))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self._ready
        except asyncio.CancelledError:
            self.kill("the run waiting for it was cancelled while it started")
            raise
        except BaseException:
            self.kill(f"it did not start within {START_TIMEOUT:g}s")
            raise
        log.info("worker %d started (pid %d)", self.number, self.process.pid)

    def send(self, message: tuple) -> None:
        if self.alive and self.writer is not None and not self.writer.is_closing():
            self.writer.write(pack(message))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while (message := await read(reader)) is not None:
                await self._handle(message)
        finally:
            code = None
            if self.process is not None:
                try:
                    code = await asyncio.wait_for(self.process.wait(), 5)
                except TimeoutError:
                    pass
            self._gone(f"its worker process exited (code {code})" if code is not None
                       else "its worker process stopped answering")

    async def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "event":
            run = self.runs.get(message[1])
            if run is not None and run.on_event is not None:
                try:
                    await run.on_event(message[2])
                except Exception:  # noqa: BLE001 - a broken listener must not stop the others
                    run.callback_errors += 1
                    if run.callback_errors == 1:
                        log.exception("on_event failed for job %s (further failures not logged)",
                                      run.job_id)
            return
        if kind == "call":  # a language-model call ended (sent before its run's outcome)
            if self.record_call is not None:
                self.record_call(*message[1:])
            return
        if kind == "log":
            _, name, level, text, exc_text = message
            record = logging.makeLogRecord({"name": name, "levelno": level,
                                            "levelname": logging.getLevelName(level),
                                            "msg": text, "exc_text": exc_text})
            logger = logging.getLogger(name)
            if logger.isEnabledFor(level):
                logger.handle(record)
            return
        if kind == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            return
        run = self.runs.pop(message[1], None)
        if run is None or run.outcome.done():
            return
        run.outcome.set_result(message)

    def _gone(self, why: str) -> None:
        """The process is gone: every run on it failed."""
        was_alive, self.alive = self.alive, False
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(RuntimeError(f"worker {self.number}: {why}"))
        runs, self.runs = self.runs, {}
        for run in runs.values():
            if not run.outcome.done():
                run.outcome.set_result(("lost", run.job_id, why))
        if was_alive:
            log.warning("worker %d stopped (%s); %d run(s) lost", self.number, why, len(runs))

    def kill(self, why: str) -> None:
        """Stop the process now; its runs fail with ``why``."""
        if self.process is not None and self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
        self._gone(f"killed: {why}")

    async def close(self) -> None:
        self.send(("stop",))
        self.alive = False
        if self.writer is not None:
            self.writer.close()
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
            except TimeoutError:
                self.kill("it did not stop when asked")
                await self.process.wait()
        self.alive = False
        if self.reader_task is not None:
            await asyncio.gather(self.reader_task, return_exceptions=True)


class WorkflowFailed(Exception):
    """A run the worker refused before starting (``invalid``): message, kind, details."""

    def __init__(self, message: str, kind: str, details: dict | None):
        super().__init__(message)
        self.kind = kind
        self.details = details


class WorkerPool:
    """Up to ``size`` worker processes, started when runs need them.

    A run goes to an idle worker, or a new one while the pool is below ``size``,
    or else the worker with the fewest runs. A worker that does not stop a run
    within :data:`STOP_GRACE` of a cancel or of its time limit is killed (its
    other runs fail, saying why) and replaced by the next run that needs one.
    """

    def __init__(self, config: Any, *, size: int, max_value_size: int,
                 record_call: CallRecorder | None = None):
        self.config = config
        self.size = size
        self.max_value_size = max_value_size
        self.record_call = record_call  # told of each language-model call a worker reports
        self.workers: list[_Worker] = []
        self._lock = asyncio.Lock()
        self._numbers = 0
        self._closed = False

    def _init_message(self) -> tuple:
        level = logging.getLogger("nodetool").getEffectiveLevel()
        return ("init", self.config, list(sys.path), level, self.max_value_size)

    async def _pick(self) -> _Worker:
        async with self._lock:
            if self._closed:
                raise RuntimeError("the node is stopping")
            self.workers = [w for w in self.workers if w.alive]
            idle = [w for w in self.workers if not w.runs]
            if idle:
                return idle[0]
            if len(self.workers) < self.size:
                self._numbers += 1
                worker = _Worker(self._numbers, self.record_call)
                await worker.start(self._init_message())
                self.workers.append(worker)
                return worker
            return min(self.workers, key=lambda w: len(w.runs))

    def reconfigure(self, config: Any) -> None:
        """New runs use ``config``'s providers and tools (runs going keep theirs)."""
        self.config = config
        for worker in self.workers:
            worker.send(("config", config))

    async def run(self, workflow: dict, params: dict, *, job_id: str, workflow_id: str | None,
                  user_id: str, on_event: EventCallback | None,
                  max_run_time: float | None) -> tuple[str, dict, str | None, str | None, float]:
        """Run ``workflow`` on a worker: ``(status, outputs, error, error_node_id, duration)``.

        Raises :class:`WorkflowFailed` if the worker refused it before it started,
        CancelledError when cancelled (after the worker stopped the run, or was killed).
        """
        worker = await self._pick()
        run = _Run(job_id, workflow_id, on_event, asyncio.get_running_loop().create_future())
        worker.runs[job_id] = run
        worker.send(("run", job_id, workflow, params, user_id, workflow_id))
        limit = None if max_run_time is None else max_run_time + STOP_GRACE
        try:
            async with asyncio.timeout(limit):
                outcome = await asyncio.shield(run.outcome)
        except TimeoutError:
            worker.kill(f"job {job_id} ran past its time limit of {max_run_time:g}s and did "
                        "not stop")
            outcome = run.outcome.result()
        except asyncio.CancelledError:
            await self._stop(worker, run)
            raise
        return await self._result(run, outcome, max_run_time)

    async def _stop(self, worker: _Worker, run: _Run) -> None:
        """Cancel ``run`` on its worker; kill the worker if the run does not end in time."""
        worker.send(("cancel", run.job_id))
        try:
            await asyncio.wait_for(asyncio.shield(run.outcome), STOP_GRACE)
        except TimeoutError:
            worker.kill(f"job {run.job_id} was cancelled and did not stop within {STOP_GRACE:g}s")
            await self._event(run, "cancelled", error=None)
        except asyncio.CancelledError:
            worker.kill(f"job {run.job_id} was cancelled twice")
            raise

    async def _result(self, run: _Run, outcome: tuple, max_run_time: float | None):
        kind = outcome[0]
        if kind == "done":
            return outcome[2:]
        if kind == "invalid":
            raise WorkflowFailed(outcome[2], outcome[3], outcome[4])
        if kind == "cancelled":
            raise asyncio.CancelledError
        if kind == "error":
            raise RuntimeError(outcome[2])
        # "lost": the worker went away under this run.
        why = outcome[2]
        if max_run_time is not None and f"killed: job {run.job_id} ran past" in why:
            error = f"run time limit of {max_run_time:g}s exceeded (the worker was restarted)"
        else:
            error = f"the run was lost: {why}"
        duration = time.perf_counter() - run.started
        await self._event(run, "failed", error=error, duration=duration)
        return ("failed", {}, error, None, duration)

    async def _event(self, run: _Run, status: str, *, error: str | None,
                     duration: float | None = None) -> None:
        """The job_update the worker could not send itself."""
        if run.on_event is None:
            return
        try:
            await run.on_event({"type": "job_update", "status": status, "job_id": run.job_id,
                                "workflow_id": run.workflow_id, "message": None, "error": error,
                                "duration": duration})
        except Exception:  # noqa: BLE001
            log.exception("on_event failed for job %s", run.job_id)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            workers, self.workers = self.workers, []
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
