"""A worker process: runs the workflows the node sends it, on its own event loop.

Started by :mod:`._pool` as ``python -m nodetool_gateway.workers._child FD``
with one end of a socket pair. Messages in: ``init``, ``run``, ``cancel``,
``config``, ``stop``. Messages out: ``ready``, ``event``, ``done``,
``invalid``, ``cancelled``, ``error``, ``log``, and ``call`` as each
language-model call ends (the node counts it). The worker exits when the
node closes its end (or dies: the kernel kills it then, see ``_die_with_parent``).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import signal
import socket
import sys
from typing import Any

from ._wire import pack, read

log = logging.getLogger("nodetool.gateway.worker")


class _Forward(logging.Handler):
    """Sends log records to the node, which logs them through its own handler."""

    def __init__(self, send) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc_text = None
            if record.exc_info:
                exc_text = logging.Formatter().formatException(record.exc_info)
            self.send(("log", record.name, record.levelno, record.getMessage(), exc_text))
        except Exception:  # noqa: BLE001 - a log line must never break a run
            pass


class Worker:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.jobs: dict[str, asyncio.Task] = {}
        self.failures: dict[str, str] = {}
        self.max_value_size = 0
        self.registry: Any = None
        self.limits: Any = None
        self.services: Any = None

    # Sending. write() never blocks; drain() is awaited where a run can wait.

    def send(self, message: tuple) -> None:
        if self.loop.is_closed() or self.writer.is_closing():
            return
        frame = pack(message)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.writer.write(frame)
        else:  # a node logging from a worker thread
            self.loop.call_soon_threadsafe(self.writer.write, frame)

    # Set-up

    def init(self, config: Any, path: list[str], level: int, max_value_size: int) -> None:
        from ..engine import EngineLimits, default_registry
        from ..services import Services

        sys.path[:] = path
        root = logging.getLogger()
        root.handlers[:] = [_Forward(self.send)]
        root.setLevel(logging.WARNING)
        logging.getLogger("nodetool").setLevel(level)
        self.max_value_size = max_value_size
        self.registry = default_registry()
        for module in config.nodes.modules:
            self.registry.load_module(module)
        eng = config.engine
        self.limits = EngineLimits(max_nodes=eng.max_nodes, max_edges=eng.max_edges,
                                   max_run_time=eng.max_run_time)
        self.services = Services.from_config(config, record=self.record_call)

    def record_call(self, *call: Any) -> None:
        # One small frame per call, as it ends: it reaches the node before the run's
        # outcome, and a worker killed later has already told the node about it.
        self.send(("call", *call))

    def reconfigure(self, config: Any) -> None:
        from ..services import Services

        if not self.services.same_settings(config):
            retiring, self.services = self.services, Services.from_config(
                config, record=self.record_call)
            self.loop.create_task(retiring.retire())

    # Runs

    def start(self, job_id: str, workflow: dict, params: dict, user_id: str,
              workflow_id: str | None) -> None:
        task = self.loop.create_task(self._run(job_id, workflow, params, user_id, workflow_id))
        self.jobs[job_id] = task
        task.add_done_callback(lambda _t: self.jobs.pop(job_id, None))

    def cancel(self, job_id: str) -> None:
        task = self.jobs.get(job_id)
        if task is not None:
            task.cancel()

    def _frame(self, message: tuple, job_id: str) -> bytes | None:
        """``message`` packed, or None (and the run failed) if it is over the size limit."""
        try:
            frame = pack(message)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            self._fail(job_id, f"a value could not be sent from the worker: {exc}")
            return None
        if len(frame) > self.max_value_size:
            what = "an event" if message[0] == "event" else "the outputs"
            self._fail(job_id, f"{what} of {len(frame):,} bytes exceeds engine.max_value_size "
                               f"({self.max_value_size:,} bytes)")
            return None
        return frame

    def _fail(self, job_id: str, reason: str) -> None:
        self.failures.setdefault(job_id, reason)
        self.cancel(job_id)

    async def _run(self, job_id: str, workflow: dict, params: dict, user_id: str,
                   workflow_id: str | None) -> None:
        from ..engine import WorkflowError, run_workflow

        writer = self.writer

        async def on_event(event: dict[str, Any]) -> None:
            frame = self._frame(("event", job_id, event), job_id)
            if frame is not None:
                writer.write(frame)
                await writer.drain()

        services = self.services
        try:
            result = await run_workflow(workflow, params=params, registry=self.registry,
                                        job_id=job_id, workflow_id=workflow_id, user_id=user_id,
                                        on_event=on_event, limits=self.limits, services=services)
        except WorkflowError as exc:
            details = exc.result.as_dict() if exc.result is not None else None
            self.send(("invalid", job_id, str(exc), exc.kind, details))
            return
        except asyncio.CancelledError:
            reason = self.failures.pop(job_id, None)
            if reason is None:
                self.send(("cancelled", job_id))
            else:
                self.send(("done", job_id, "failed", {}, reason, None, 0.0))
            return
        except Exception as exc:  # noqa: BLE001 - reported to the node as the run's failure
            log.debug("run %s raised", job_id, exc_info=True)
            self.send(("error", job_id, f"{type(exc).__name__}: {exc}"))
            return
        reason = self.failures.pop(job_id, None)
        if reason is not None:
            self.send(("done", job_id, "failed", {}, reason, None, result.duration))
            return
        frame = self._frame(("done", job_id, result.status, result.outputs, result.error,
                             result.error_node_id, result.duration), job_id)
        if frame is None:
            reason = self.failures.pop(job_id)
            self.send(("done", job_id, "failed", {}, reason, None, result.duration))
        else:
            writer.write(frame)

    async def serve(self) -> None:
        while True:
            message = await read(self.reader)
            if message is None or message[0] == "stop":
                break
            kind = message[0]
            if kind == "run":
                self.start(*message[1:])
            elif kind == "cancel":
                self.cancel(message[1])
            elif kind == "config":
                self.reconfigure(message[1])
        for task in list(self.jobs.values()):
            task.cancel()
        if self.jobs:
            await asyncio.wait(list(self.jobs.values()), timeout=2)
        if self.services is not None:
            await self.services.retire()


def _die_with_parent() -> None:
    # If the node is killed, a worker stuck in node code would live on; ask the kernel
    # to kill it with its parent (Linux). Elsewhere the closed socket ends it.
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


async def _main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    worker = Worker(reader, writer)
    init = await read(reader)
    if init is None or init[0] != "init":
        return
    _, config, path, level, max_value_size = init
    worker.init(config, path, level, max_value_size)
    worker.send(("ready",))
    await worker.serve()
    writer.close()


def main() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the node, which stops us
    asyncio.run(_main(int(sys.argv[1])))


if __name__ == "__main__":
    main()
