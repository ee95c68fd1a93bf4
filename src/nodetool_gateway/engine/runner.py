"""Run a workflow graph: one asyncio task per node, values flowing along the edges.

The semantics follow NodeTool's actor runner (``nodetool/workflows/actor.py``
and ``workflow_runner.py``); see :mod:`._actor` for a single node's loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ._actor import NodeActor
from ._kinds import (ANNOTATION_TYPES, GROUP_INPUT, GROUP_OUTPUT, PREVIEW_TYPE, group_members,
                     is_input, loop_groups)
from .graph import Graph, GraphEdge, Workflow, WorkflowError, load_workflow
from .registry import NodeRegistry, default_registry
from .validate import EngineLimits, ValidationResult, prepare_graph, validate_graph

__all__ = ["RunResult", "EVENT_TYPES", "run_workflow"]

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"job_update", "node_update", "node_progress", "output_update",
                         "preview_update", "log_update", "chunk"})

EventCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


@dataclass
class RunResult:
    """How a run ended. ``outputs`` maps each output node's name to the list of
    values it received, in order (``[]`` if it received none), as NodeTool's
    runtime returns them; on failure, what was collected."""

    status: str  # "completed" | "failed" | "cancelled"
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_node_id: str | None = None
    duration: float = 0.0


async def run_workflow(
    workflow: Workflow | Graph | dict,
    *,
    params: dict[str, Any] | None = None,
    registry: NodeRegistry | None = None,
    job_id: str | None = None,
    workflow_id: str | None = None,
    user_id: str = "1",
    on_event: EventCallback | None = None,
    limits: EngineLimits | None = None,
    events: set[str] | frozenset[str] | None = None,
    services: Any = None,
) -> RunResult:
    """Validate and run ``workflow``; return how it ended.

    ``params`` maps input names (an input node's ``data.name``) to values.
    ``on_event`` receives each event dict (``job_update``, ``node_update``,
    ``node_progress``, ``output_update``, ``preview_update``, ``log_update``) and is awaited if it
    returns an awaitable; ``events`` limits which types are built and sent
    (default: all; ``chunk`` carries a node's streamed tokens). ``registry``
    defaults to :func:`default_registry`. ``services`` is lent to every node
    as ``context.services`` and to the node types' ``check`` and ``prepare``
    hooks (the engine never looks inside).

    Raises :class:`WorkflowError` (with ``.result``) before any event if the
    workflow is malformed or invalid, or ``params`` names an unknown input.

    A node that raises fails the run: the other nodes are cancelled and the
    result is ``"failed"`` with ``error`` naming the node. Exceeding
    ``limits.max_run_time`` fails the run too. Cancelling the task awaiting
    this coroutine cancels every node, sends a ``job_update`` ``"cancelled"``
    and re-raises ``CancelledError``: the caller decides what a cancel means.
    """
    if isinstance(workflow, Workflow):
        graph = workflow.graph
        workflow_id = workflow_id if workflow_id is not None else (workflow.id or None)
    elif isinstance(workflow, Graph):
        graph = workflow
    else:
        loaded = load_workflow(workflow)
        graph = loaded.graph
        workflow_id = workflow_id if workflow_id is not None else (loaded.id or None)
    if registry is None:
        registry = default_registry()
    limits = limits or EngineLimits()
    if events is not None and not set(events) <= EVENT_TYPES:
        raise ValueError(f"unknown event types {sorted(set(events) - EVENT_TYPES)}; "
                         f"known: {sorted(EVENT_TYPES)}")
    result = validate_graph(graph, registry, params=params, limits=limits, services=services)
    if not result.valid:
        raise _invalid(result)
    result = await prepare_graph(graph, registry, services)
    if not result.valid:
        raise _invalid(result)
    run = _Run(job_id=job_id or uuid.uuid4().hex, workflow_id=workflow_id, user_id=user_id,
               registry=registry, on_event=on_event, events=events, services=services)
    run.plan(graph, params or {})
    return await run.execute(limits.max_run_time)


def _invalid(result: ValidationResult) -> WorkflowError:
    return WorkflowError(result.describe(), result=result,
                         kind="params" if result.only_params else "invalid")


class _Run:
    """One run's shared state: the actors, the outputs, the event stream, the outcome."""

    def __init__(self, *, job_id: str, workflow_id: str | None, user_id: str,
                 registry: NodeRegistry, on_event: EventCallback | None,
                 events: set[str] | frozenset[str] | None, services: Any = None):
        self.job_id = job_id
        self.services = services
        self.workflow_id = workflow_id
        self.user_id = user_id
        self.registry = registry
        self.cb = on_event
        self.events = events

        def wanted(kind: str) -> bool:
            return on_event is not None and (events is None or kind in events)

        self.ev_job = wanted("job_update")
        self.ev_node = wanted("node_update")
        self.ev_progress = wanted("node_progress")
        self.ev_output = wanted("output_update")
        self.ev_preview = wanted("preview_update")
        self.ev_log = wanted("log_update")
        self.ev_chunk = wanted("chunk")
        self.stopping = False
        self.actors: list[NodeActor] = []
        self.by_id: dict[str, NodeActor] = {}
        self.outputs: dict[str, list[Any]] = {}
        self.failure: tuple[str, str] | None = None  # (node id, message)
        self._done: asyncio.Future | None = None
        self._remaining = 0
        self._tail: asyncio.Future | None = None  # delivery of events sent from sync code
        self._callback_errors = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        # Group loops: loop node id -> its subgraph; in a loop's own run, what each
        # GroupOutput received.
        self.groups: dict[str, Graph] = {}
        self.collected: dict[str, list[Any]] | None = None

    def plan(self, graph: Graph, params: dict[str, Any],
             overrides: dict[str, dict[str, Any]] | None = None) -> None:
        """Make an actor per node and wire the edges (the graph is already valid).

        A loop group's members get no actor here: the group's actor runs them as a
        subgraph per item (:meth:`run_group`). ``overrides`` replaces property values
        by node id (a subgraph run's GroupInput items and values from outside it)."""
        registry = self.registry
        actors, by_id = self.actors, self.by_id
        loops = loop_groups(graph.nodes)
        members = group_members(graph.nodes, loops) if loops else {}
        for gnode in graph.nodes:
            if gnode.id in members or (gnode.type in ANNOTATION_TYPES and gnode.id not in loops):
                continue
            cls = registry.get(gnode.type)
            assert cls is not None, gnode.type
            static = gnode.data  # less the wired handles, which _build skips
            if params and is_input(gnode.type, cls):
                name = gnode.data.get("name")
                if isinstance(name, str) and name in params:
                    static = {**static, "value": params[name]}
            if overrides and gnode.id in overrides:
                static = {**static, **overrides[gnode.id]}
            actor = NodeActor(self, gnode, cls, static)
            if gnode.id in loops:
                actor.kind = "loop"
                self.groups[gnode.id] = _subgraph(graph, gnode.id, members)
            actors.append(actor)
            by_id[gnode.id] = actor
        edges = []
        for e in graph.edges:
            if e.edge_type != "data" or e.source not in by_id:
                continue
            if e.target in by_id:
                edges.append((by_id[e.source], e.source_handle, by_id[e.target], e.target_handle))
            elif members.get(e.target) is not None and members.get(e.target) != e.source:
                # Into a loop's subgraph from outside: the loop node takes the value
                # and hands it to every run of the subgraph.
                edges.append((by_id[e.source], e.source_handle, by_id[members[e.target]],
                              _outside_handle(e.target, e.target_handle)))

        # Which edges carry streams: a streaming producer's do, and so do those of
        # any node it drives once per item (downstream, through process and
        # gen_process nodes). A ``run`` node (Collect) ends a stream unless it says so.
        streams = [actor for actor in actors if actor.info.streaming]
        if streams:
            outgoing: dict[NodeActor, list[NodeActor]] = {}
            for source, _, target, _ in edges:
                outgoing.setdefault(source, []).append(target)
            for actor in streams:
                actor.streams_out = True
            while streams:
                for target in outgoing.get(streams.pop(), ()):
                    if not target.streams_out and target.kind in ("process", "gen"):
                        target.streams_out = True
                        streams.append(target)
        for source, source_handle, target, target_handle in edges:
            target.connect_in(target_handle, source.streams_out)
            source.connect_out(source_handle, target, target_handle)

    async def execute(self, max_run_time: float | None) -> RunResult:
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        start = time.perf_counter()
        self._done = loop.create_future()
        self._remaining = len(self.actors)
        if not self.actors:
            self._done.set_result(None)
        status, error, error_node = "completed", None, None
        try:
            if self.ev_job:
                await self.emit(self._job("running"))
            for actor in self.actors:
                actor.task = loop.create_task(actor.main())
            if max_run_time is None:
                await self._done
            else:
                async with asyncio.timeout(max_run_time):
                    await self._done
        except asyncio.CancelledError:
            self.stopping = True
            await self._stop()
            await self._drain()
            if self.ev_job:
                await self.emit(self._job("cancelled", duration=time.perf_counter() - start))
            raise
        except TimeoutError:
            self.stopping = True
            status, error = "failed", f"run time limit of {max_run_time:g}s exceeded"
        if self.failure is not None:
            status = "failed"
            error_node, error = self.failure
        if status != "completed":
            await self._stop()
        outputs = self._result()
        await self._drain()
        duration = time.perf_counter() - start
        if self.ev_job:
            if status == "completed":
                await self.emit(self._job("completed", duration=duration,
                                          message=f"workflow completed in {duration:.3f}s",
                                          result={"outputs": outputs}))
            else:
                await self.emit(self._job("failed", duration=duration, error=error))
        return RunResult(status=status, outputs=outputs, error=error, error_node_id=error_node,
                         duration=duration)

    def _result(self) -> dict[str, list[Any]]:
        """``{output name: [values]}``, lists always, and every output node named,
        as NodeTool's TypeScript runtime (``packages/kernel`` WorkflowRunner) does."""
        outputs = {k: list(v) for k, v in self.outputs.items()}
        for actor in self.actors:
            if actor.sink_name is not None and actor.node_type not in (PREVIEW_TYPE, GROUP_OUTPUT):
                outputs.setdefault(actor.sink_name, [])
        return outputs

    def _job(self, status: str, *, duration: float | None = None, message: str | None = None,
             error: str | None = None, result: dict | None = None) -> dict[str, Any]:
        event = {"type": "job_update", "status": status, "job_id": self.job_id,
                 "workflow_id": self.workflow_id, "message": message, "error": error,
                 "duration": duration}
        if result is not None:
            event["result"] = result
        return event

    async def _stop(self) -> None:
        # A node's task is forgotten when it ends; these are the ones still running.
        tasks = [actor.task for actor in self.actors if actor.task is not None]
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def actor_done(self) -> None:
        self._remaining -= 1
        if self._remaining <= 0 and self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def node_failed(self, actor: NodeActor, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        first = self.failure is None and not self.stopping
        if first:
            self.failure = (actor.node_id, actor.fail_message(message))
            self.stopping = True
        log.debug("node %s (%s) failed", actor.node_id, actor.node_type, exc_info=exc)
        try:
            if self.ev_node:
                await self.emit({"type": "node_update", "node_id": actor.node_id,
                                 "node_name": actor.title, "node_type": actor.node_type,
                                 "status": "error", "error": message[:1000], "result": None})
        finally:
            if first and self._done is not None and not self._done.done():
                self._done.set_result(None)

    async def record_output(self, actor: NodeActor, value: Any) -> None:
        if self.stopping:
            return
        if actor.node_type == GROUP_OUTPUT:
            if self.collected is not None:  # else a GroupOutput outside any loop: nothing
                self.collected.setdefault(actor.node_id, []).append(value)
            return
        if actor.node_type == PREVIEW_TYPE:
            # NodeTool: a Preview shows its value (PreviewUpdate); it is no job output.
            if self.ev_preview:
                await self.emit({"type": "preview_update", "node_id": actor.node_id,
                                 "value": value})
            return
        name = actor.sink_name
        values = self.outputs.get(name)  # type: ignore[arg-type]
        if values is None:
            self.outputs[name] = [value]  # type: ignore[index]
        else:
            values.append(value)
        if self.ev_output:
            await self.emit({"type": "output_update", "node_id": actor.node_id,
                             "node_name": actor.title, "output_name": name, "value": value,
                             "output_type": actor.output_type})

    async def run_group(self, actor: NodeActor, items: Any, outside: dict[str, Any]) -> list[Any]:
        """Run a loop group's subgraph once per item, in order; the list of what its
        (first) GroupOutput received, one value per run that gave it one."""
        if items is None:
            items = []
        elif isinstance(items, dict):
            items = [{"key": k, "value": v} for k, v in items.items()]
        elif isinstance(items, tuple):
            items = list(items)
        elif not isinstance(items, list):
            raise ValueError(f"a group loops over a list, not {type(items).__name__}")
        graph = self.groups[actor.node_id]
        overrides: dict[str, dict[str, Any]] = {}
        for key, value in outside.items():
            node_id, handle = _split_outside(key)
            overrides.setdefault(node_id, {})[handle] = value
        inputs = [n.id for n in graph.nodes if n.type == GROUP_INPUT]
        sinks = [n.id for n in graph.nodes if n.type == GROUP_OUTPUT]
        results: list[Any] = []
        for item in items:
            run = _Run(job_id=self.job_id, workflow_id=self.workflow_id, user_id=self.user_id,
                       registry=self.registry, on_event=self.cb,
                       events=self.events, services=self.services)
            run.ev_job = False  # one job: only the outer run reports on it
            run.collected = {}
            for node_id in inputs:
                overrides.setdefault(node_id, {})["value"] = item
            run.plan(graph, {}, overrides)
            outcome = await run.execute(None)
            if outcome.status != "completed":
                raise RuntimeError(outcome.error or "the group's subgraph failed")
            for node_id in sinks[:1]:
                got = run.collected.get(node_id)
                if got:
                    results.append(got[-1])
        return results

    # Events. Nodes call log() and progress() from sync code, so an async callback's
    # deliveries for those are chained in a task; emit() waits for that chain first,
    # which keeps every node's events in order.

    def send(self, event: dict[str, Any]) -> Awaitable[None] | None:
        """Deliver ``event``; returns something to await only if the listener is async."""
        pending = self.deliver(event)
        return None if pending is None else self._guard(pending)

    def deliver(self, event: dict[str, Any]) -> Awaitable[Any] | None:
        """:meth:`send`, less the guard: an async listener's awaitable comes back as
        is, and whoever awaits it calls :meth:`callback_failed` if it raises an
        ``Exception`` (a coroutine less per event, for the events every node sends)."""
        tail = self._tail
        if tail is not None:
            if not tail.done():
                return self._send_after(tail, event)
            if self._tail is tail:
                self._tail = None
        try:
            pending = self.cb(event)  # type: ignore[misc]
        except Exception:
            self.callback_failed()
            return None
        if pending is not None and inspect.isawaitable(pending):
            return pending
        return None

    async def emit(self, event: dict[str, Any]) -> None:
        pending = self.send(event)
        if pending is not None:
            await pending

    async def _send_after(self, tail: asyncio.Future, event: dict[str, Any]) -> None:
        await asyncio.shield(tail)
        await self.emit(event)

    async def _guard(self, pending: Awaitable[Any]) -> None:
        try:
            await pending
        except Exception:
            self.callback_failed()

    def emit_soon(self, event: dict[str, Any]) -> None:
        try:
            pending = self.cb(event)  # type: ignore[misc]
        except Exception:
            self.callback_failed()
            return
        if pending is not None and inspect.isawaitable(pending):
            self._tail = asyncio.ensure_future(self._after(self._tail, pending))

    async def _after(self, previous: asyncio.Future | None, pending: Awaitable[Any]) -> None:
        if previous is not None:
            await previous
        try:
            await pending
        except Exception:
            self.callback_failed()

    async def _drain(self) -> None:
        tail = self._tail
        if tail is not None and not tail.done():
            await asyncio.shield(tail)

    def callback_failed(self) -> None:
        # A broken listener must not break the run; say so once per run.
        self._callback_errors += 1
        if self._callback_errors == 1:
            log.exception("on_event failed for job %s (further failures not logged)", self.job_id)

    def _emit_from_node(self, event: dict[str, Any]) -> None:
        # A node may log from a worker thread (asyncio.to_thread); hop to the loop.
        if threading.get_ident() == self._thread:
            self.emit_soon(event)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self.emit_soon, event)

    def log(self, node_id: str, content: str, severity: str) -> None:
        if self.ev_log:
            actor = self.by_id.get(node_id)
            self._emit_from_node({"type": "log_update", "node_id": node_id,
                                  "node_name": actor.title if actor else None,
                                  "content": str(content), "severity": severity})

    async def chunk(self, node_id: str, content: str, done: bool, content_type: str,
                    thinking: bool) -> None:
        if self.ev_chunk and not self.stopping:
            # NodeTool's Chunk message.
            await self.emit({"type": "chunk", "node_id": node_id, "content_type": content_type,
                             "content": content, "content_metadata": {}, "done": done,
                             "thinking": thinking})

    def progress(self, node_id: str, progress: float, total: float | None) -> None:
        if self.ev_progress:
            self._emit_from_node({"type": "node_progress", "node_id": node_id,
                                  "progress": progress, "total": total})


def _subgraph(graph: Graph, group_id: str, members: dict[str, str]) -> Graph:
    """A loop group's subgraph: the nodes inside it and the edges among them."""
    inside = {n.id for n in graph.nodes if members.get(n.id) == group_id}
    return Graph(nodes=[n for n in graph.nodes if n.id in inside],
                 edges=[GraphEdge(e.id, e.source, e.source_handle, e.target, e.target_handle,
                                  e.edge_type)
                        for e in graph.edges if e.source in inside and e.target in inside])


_SEP = "\x1f"  # joins a member's id and handle into a loop node's inbox handle


def _outside_handle(node_id: str, handle: str) -> str:
    return f"{_SEP}{node_id}{_SEP}{handle}"


def _split_outside(key: str) -> tuple[str, str]:
    _, node_id, handle = key.split(_SEP, 2)
    return node_id, handle
