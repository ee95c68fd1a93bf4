"""The embedded NodeTool backend: stores plus the engine, built from one config.

The built-in handlers reach it through ``context.backend``. It is created on
first use (so start-up stays light) and rebuilt when a reload changes where
things are kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .config import Config
from .config.models import node_storage_path, storage_root
from .errors import Busy, InvalidArgs, NotFound

if TYPE_CHECKING:
    from .engine import Workflow
    from .providers.registry import CallRecorder

__all__ = ["Backend", "BUNDLED_WORKFLOWS", "backend_settings"]

log = logging.getLogger("nodetool.gateway.backend")

BUNDLED_WORKFLOWS = Path(__file__).parent / "bundled_workflows"
_LOG_BATCH = 50


def backend_settings(cfg: Config) -> tuple:
    """The parts of a config the backend is built from (a change means a rebuild)."""
    return (cfg.storage, cfg.workflows, cfg.engine, cfg.nodes, cfg.models, cfg.collections)


class Backend:
    """Stores, the node-type registry and the engine, for one config.

    ``record_call`` is told of each language-model call its runs make, in worker
    processes too; the node passes its observer's, which outlives a rebuilt backend.
    """

    def __init__(self, config: Config, *, record_call: CallRecorder | None = None):
        from .engine import EngineLimits, default_registry
        from .stores import (AssetStore, CollectionStore, Database, JobStore, ModelStore,
                             WorkflowStore)

        self.config = config
        self.record_call = record_call
        storage = Path(config.storage.path).expanduser()
        storage.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        if storage == storage_root():
            log.info("storage: %s is shared by every node using it (as before per-node folders);"
                     " to give node %s its own, move its files to %s or set storage.path",
                     storage, config.node.id, node_storage_path(config.node.id))
        self.db = Database(storage / "nodetool-gateway.db")
        self.jobs = JobStore(self.db, node_id=config.node.id)
        recovered = self.jobs.recover()
        if recovered:
            log.warning("%d job(s) were running when the node last stopped: marked failed", recovered)
        self.assets = AssetStore(self.db, storage / "assets")
        for folder in config.files.allow:
            if not Path(folder).expanduser().is_dir():
                log.warning("files.allow: %s is not a folder (yet): file node types cannot use "
                            "it until it is made", folder)
        self.workflows = WorkflowStore([Path(p) for p in config.workflows.paths],
                                       bundled=BUNDLED_WORKFLOWS)
        self.workflows.scan()
        models = config.models
        self.models = ModelStore(
            hf_cache=Path(models.hf_cache) if models.hf_cache else None,
            ollama_url=models.ollama_url,
            configured=[m.model_dump(mode="json", exclude_none=True) for m in models.list],
        )
        self.collections = CollectionStore(Path(config.collections.path) if config.collections.path
                                           else storage / "chroma")
        self.registry = default_registry()
        for module in config.nodes.modules:
            count = self.registry.load_module(module)
            log.info("loaded %d node types from %s", count, module)
        eng = config.engine
        self.limits = EngineLimits(max_nodes=eng.max_nodes, max_edges=eng.max_edges,
                                   max_run_time=eng.max_run_time)
        from .services import Services
        from .workers import WorkerPool

        # Node code runs in worker processes (engine.isolation: process), started on demand.
        self.pool = (WorkerPool(config, size=eng.workers, max_value_size=eng.max_value_size,
                                record_call=record_call)
                     if eng.isolation == "process" else None)
        self._slots = asyncio.Semaphore(eng.max_concurrent_runs)
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

        # Swapped by a reload (see update_services); a run keeps the one it started with.
        self.services = Services.from_config(config, record=record_call)
        self._background: dict[str, asyncio.Task] = {}
        self._watch: asyncio.Task | None = None
        self._stop_watch = asyncio.Event()

    def start_watching(self, hub=None) -> None:
        """Follow edits in the workflow folders (needs a running loop).

        ``hub``: the file watcher to share (a :class:`~nodetool_gateway._watch.WatchHub`);
        by default the node's (``run`` and ``connect`` set one up), else the store's own.
        """
        if self._watch is None:
            from ._watch import current_hub

            self._watch = asyncio.get_running_loop().create_task(
                self.workflows.watch(self._stop_watch, hub=hub or current_hub()),
                name="workflow-watch")

    def update_services(self, config: Config) -> bool:
        """Use the providers and tools of ``config`` for the next run; True if they changed.

        Runs already going keep theirs; the old clients close when those end.
        """
        from .services import Services

        if self.services.same_settings(config):
            return False
        retiring, self.services = self.services, Services.from_config(config,
                                                                      record=self.record_call)
        asyncio.get_running_loop().create_task(retiring.retire())
        if self.pool is not None:
            self.pool.reconfigure(config)
        return True

    async def close(self) -> None:
        """Stop: background jobs are cancelled; runs a caller is waiting on finish first."""
        for task in list(self._background.values()):
            task.cancel()
        if self._background:
            await asyncio.wait(self._background.values(), timeout=5)
        await self._idle.wait()
        if self.pool is not None:
            await self.pool.close()
        await self.services.retire()
        self._stop_watch.set()
        if self._watch is not None:
            self._watch.cancel()
            try:
                await self._watch
            except (asyncio.CancelledError, Exception):
                pass
        self.db.close()

    # Workflows

    def workflow(self, workflow_id: str | None, graph: dict | None) -> dict[str, Any]:
        """The workflow to run or check: by id from the store, or a graph given inline."""
        if workflow_id is None and graph is None:
            raise InvalidArgs("give workflow_id or graph")
        if graph is not None:
            if not isinstance(graph, dict):
                raise InvalidArgs("graph must be an object with nodes and edges")
            inner = graph.get("graph", graph)
            return {"id": workflow_id, "name": graph.get("name", "inline graph"), "graph": inner}
        found = self.workflows.get(workflow_id)
        if found is None:
            raise NotFound(f"no workflow {workflow_id!r}; list_workflows shows what this node has")
        return found

    async def check(self, workflow: dict[str, Any], params: dict[str, Any] | None) -> Workflow:
        """The workflow, loaded and checked with ``params`` as a run would check them.

        Raises InvalidArgs, with the validation result as details, for what a run
        would refuse: not a workflow, an invalid graph, unknown params or params of
        the wrong type, a node type's own checks (a model no provider serves).
        ``run`` and ``start_background_job`` both answer by it before starting.
        """
        from .engine import WorkflowError, load_workflow, validate_graph
        from .engine.validate import prepare_graph

        try:
            wf = load_workflow(workflow)
        except WorkflowError as exc:
            raise InvalidArgs(f"not a NodeTool workflow: {exc}") from None
        result = validate_graph(wf.graph, self.registry, params=params, limits=self.limits,
                                services=self.services)
        if result.valid:
            result = await prepare_graph(wf.graph, self.registry, self.services)
        if not result.valid:
            raise InvalidArgs(f"workflow cannot run: {result.describe()}",
                              details=result.as_dict())
        return wf

    async def run(self, workflow: dict[str, Any], params: dict[str, Any] | None, *,
                  user_id: str, job_id: str | None = None,
                  on_event: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> dict[str, Any]:
        """Run a workflow as a recorded job; stream its events to ``on_event``.

        Returns ``{job_id, status, outputs, error}``. Raises InvalidArgs for a
        workflow that fails validation or bad params; CancelledError when cancelled
        (the job is then recorded ``cancelled``).
        """
        from .engine import WorkflowError, run_workflow

        job_id = job_id or uuid.uuid4().hex
        workflow_id = workflow.get("id")
        wf = await self.check(workflow, params)
        recorder = _JobRecorder(self.jobs, job_id)
        started = time.perf_counter()

        async def forward(event: dict[str, Any]) -> None:
            recorder.event(event)
            if on_event is not None:
                await on_event(event)

        try:
            self.jobs.create(job_id, workflow_id, params or {}, user_id)
        except Exception:
            log.warning("could not record job %s", job_id, exc_info=True)
        from .workers._pool import WorkflowFailed

        self._running += 1
        self._idle.clear()
        try:
            async with self._slots:
                if self.pool is None:
                    result = await run_workflow(
                        wf, params=params or {}, registry=self.registry, job_id=job_id,
                        workflow_id=workflow_id, user_id=user_id, on_event=forward,
                        limits=self.limits, services=self.services)
                    status, outputs, error = result.status, result.outputs, result.error
                    error_node = result.error_node_id
                else:
                    status, outputs, error, error_node, _ = await self.pool.run(
                        workflow, params or {}, job_id=job_id, workflow_id=workflow_id,
                        user_id=user_id, on_event=forward, max_run_time=self.limits.max_run_time)
        except (WorkflowError, WorkflowFailed) as exc:
            recorder.finish("failed", error=str(exc))
            if isinstance(exc, WorkflowFailed):
                details = exc.details
            else:
                details = exc.result.as_dict() if exc.result is not None else None
            raise InvalidArgs(f"workflow cannot run: {exc}", details=details) from None
        except asyncio.CancelledError:
            recorder.finish("cancelled", error="cancelled")
            raise
        except Exception as exc:
            recorder.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()
        recorder.finish(status, outputs=outputs, error=error)
        log.debug("job %s %s in %.3fs", job_id, status, time.perf_counter() - started)
        return {"job_id": job_id, "status": status, "outputs": outputs, "error": error,
                "error_node_id": error_node}

    def start_background(self, workflow: dict[str, Any], params: dict[str, Any] | None,
                         *, user_id: str) -> str:
        """Start a job that runs on after the answer; returns its id.

        Raises Busy when ``engine.max_background_jobs`` are already running or waiting.
        """
        limit = self.config.engine.max_background_jobs
        if len(self._background) >= limit:
            raise Busy(f"{limit} background jobs are already running or waiting "
                       "(engine.max_background_jobs); try again when some have finished")
        job_id = uuid.uuid4().hex
        task = asyncio.get_running_loop().create_task(
            self._background_job(workflow, params, user_id, job_id), name=f"job-{job_id}")
        self._background[job_id] = task
        task.add_done_callback(lambda _t: self._background.pop(job_id, None))
        return job_id

    async def _background_job(self, workflow, params, user_id, job_id) -> None:
        try:
            await self.run(workflow, params, user_id=user_id, job_id=job_id)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.warning("background job %s failed: %s", job_id, exc)


class _JobRecorder:
    """Turns engine events into job log rows, written in batches."""

    __slots__ = ("jobs", "job_id", "rows", "done")

    def __init__(self, jobs, job_id: str):
        self.jobs = jobs
        self.job_id = job_id
        self.rows: list[dict[str, Any]] = []
        self.done = False

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "log_update":
            self._row(event.get("content", ""), event.get("node_id"), event.get("severity", "info"))
        elif kind == "node_update" and event.get("status") == "error":
            self._row(f"{event.get('node_name') or event.get('node_type')}: {event.get('error')}",
                      event.get("node_id"), "error")

    def _row(self, content: str, node_id: str | None, severity: str) -> None:
        self.rows.append({"job_id": self.job_id, "content": str(content), "node_id": node_id,
                          "severity": severity})
        if len(self.rows) >= _LOG_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            try:
                self.jobs.add_logs(self.rows)
            except Exception:
                log.warning("could not write logs of job %s", self.job_id, exc_info=True)
            self.rows = []

    def finish(self, status: str, *, outputs: Any = None, error: str | None = None) -> None:
        if self.done:
            return
        self.done = True
        self._row(f"job {status}" + (f": {error}" if error else ""), None,
                  "error" if status == "failed" else "info")
        self.flush()
        try:
            self.jobs.finish(self.job_id, status, outputs=outputs, error=error)
        except Exception:
            log.warning("could not record the end of job %s", self.job_id, exc_info=True)
