"""One node's life in a run: wait for inputs, compute, send results downstream, end.

Mirrors NodeTool's ``NodeActor`` (``nodetool/workflows/actor.py``): each node is
an asyncio task; ``on_any`` nodes run once every connected input has a value
and again per new value, ``zip_all`` nodes line streams up, ``run`` nodes read
their own streams, and a finished node ends every edge it feeds.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from typing import TYPE_CHECKING, Any, is_typeddict, get_type_hints

from pydantic import ValidationError

from ._inbox import END, AnyInbox, HandleInbox, Inputs, Outputs
from ._types import json_size
from .graph import GraphNode
from .node import BaseNode

if TYPE_CHECKING:
    from .runner import _Run

__all__ = ["NodeActor", "NodeContext"]

RESULT_LIMIT = 2048  # bytes of JSON: larger node results are summarized in node_update events


class NodeContext:
    """What a running node sees of the engine (implements ``node.NodeContext``)."""

    __slots__ = ("job_id", "workflow_id", "node_id", "user_id", "registry", "services", "_run")

    def __init__(self, run: _Run, node_id: str):
        self.job_id = run.job_id
        self.workflow_id = run.workflow_id
        self.user_id = run.user_id
        self.registry = run.registry
        self.services = run.services
        self.node_id = node_id
        self._run = run

    def log(self, content: str, severity: str = "info") -> None:
        """Send a ``log_update`` for this node."""
        self._run.log(self.node_id, content, severity)

    def progress(self, progress: float, total: float | None = None) -> None:
        """Send a ``node_progress`` for this node."""
        self._run.progress(self.node_id, progress, total)

    async def chunk(self, content: str, *, done: bool = False, content_type: str = "text",
                    thinking: bool = False) -> None:
        """Send a ``chunk`` of this node's streamed output (a model's tokens) as it comes."""
        await self._run.chunk(self.node_id, content, done, content_type, thinking)

    @property
    def cancelled(self) -> bool:
        """True once the run is stopping (cancelled, failed or out of time)."""
        return self._run.stopping


class _ClassInfo:
    """What the actor needs to know about a node class, computed once per class."""

    __slots__ = ("fields", "is_async", "gen_is_async", "mapping", "has_process", "validate")

    def __init__(self, cls: type[BaseNode]):
        self.fields = frozenset(cls.properties())
        self.is_async = inspect.iscoroutinefunction(cls.process)
        self.gen_is_async = inspect.isasyncgenfunction(cls.gen_process)
        self.has_process = cls.process is not BaseNode.process
        self.validate = cls.__pydantic_validator__.validate_assignment
        # Whether process returns {output name: value} rather than the one "output".
        self.mapping = set(cls.output_types) != {"output"} or _returns_typeddict(cls)


def _returns_typeddict(cls: type[BaseNode]) -> bool:
    explicit = getattr(cls, "OutputType", None)
    if explicit is not None and is_typeddict(explicit):
        return True
    try:
        ret = get_type_hints(cls.process).get("return")
    except Exception:
        return False
    return ret is not None and is_typeddict(ret)


_infos: dict[type, _ClassInfo] = {}


def class_info(cls: type[BaseNode]) -> _ClassInfo:
    info = _infos.get(cls)
    if info is None:
        info = _infos[cls] = _ClassInfo(cls)
    return info


_NO_HANDLES: Any = frozenset()


class NodeInputError(Exception):
    """A property value the node's model refused."""


class NodeActor:
    """Drives one node to completion inside a run."""

    __slots__ = ("run", "gnode", "cls", "info", "node_id", "node_type", "title", "kind",
                 "inbox", "handles", "stream_handles", "routes", "zip", "static", "sink_name",
                 "output_type", "ctx", "node", "streams_out")

    def __init__(self, run: _Run, gnode: GraphNode, cls: type[BaseNode], static: dict[str, Any],
                 sink: bool):
        self.run = run
        self.gnode = gnode
        self.cls = cls
        self.info = class_info(cls)
        self.node_id = gnode.id
        self.node_type = cls.node_type
        self.title = cls.node_title or cls.node_type
        if sink:
            self.kind = "sink"
            name = gnode.data.get("name")
            self.sink_name = name if isinstance(name, str) and name else gnode.id
            # NodeTool: the type's name without "Output", lowercased (StringOutput -> "string").
            short = gnode.type.rsplit(".", 1)[-1]
            self.output_type = short.replace("Output", "").lower() or "any"
        else:
            self.kind = {"run": "run", "gen_process": "gen"}.get(cls.compute_mode, "process")
            self.sink_name = None
            self.output_type = None
        self.inbox: AnyInbox | HandleInbox = HandleInbox() if self.kind == "run" else AnyInbox()
        self.handles: set[str] = set()
        self.stream_handles: set[str] = _NO_HANDLES
        self.routes: dict[str, list[tuple[Any, str]]] = {}
        self.zip = gnode.sync_mode == "zip_all"
        self.static = static
        self.ctx = NodeContext(run, gnode.id)
        self.node: BaseNode | None = None
        self.streams_out = False

    def connect_in(self, handle: str, streaming: bool) -> None:
        self.handles.add(handle)
        if streaming:
            if self.stream_handles is _NO_HANDLES:
                self.stream_handles = set()
            self.stream_handles.add(handle)
        self.inbox.add_source(handle)

    def connect_out(self, handle: str, target: NodeActor, target_handle: str) -> None:
        targets = self.routes.get(handle)
        if targets is None:
            self.routes[handle] = [(target.inbox, target_handle)]
        else:
            targets.append((target.inbox, target_handle))

    def fail_message(self, message: str) -> str:
        return f"{self.title} ({self.node_id}): {message}"

    async def main(self) -> None:
        run = self.run
        failed = False
        try:
            self.node = self._build()
            kind = self.kind
            if kind == "sink":
                await self._sink()
            elif kind == "run":
                await self._run_streams()
            else:
                await self._feed()
        except asyncio.CancelledError:
            failed = True
            raise
        except Exception as exc:
            failed = True
            await run.node_failed(self, exc)
        finally:
            # Unblock downstream consumers: this node will send nothing more.
            if not failed and not run.stopping:
                for targets in self.routes.values():
                    for inbox, handle in targets:
                        inbox.end(handle)
            run.actor_done()

    def _build(self) -> BaseNode:
        cls, info = self.cls, self.info
        node = cls.model_construct()
        validate, fields = info.validate, info.fields
        for key, value in self.static.items():
            if key in fields:
                try:
                    validate(node, key, value)
                except ValidationError as exc:
                    raise NodeInputError(_invalid(key, exc)) from None
        node.dynamic_properties = dict(self.gnode.dynamic_properties) if cls.is_dynamic else {}
        if self.gnode.dynamic_outputs:  # the class default is {}
            node.dynamic_outputs = self.gnode.dynamic_outputs
        return node

    def _assign(self, handle: str, value: Any) -> None:
        info = self.info
        if handle in info.fields:
            try:
                info.validate(self.node, handle, value)
            except ValidationError as exc:
                raise NodeInputError(_invalid(handle, exc)) from None
        elif self.cls.is_dynamic:
            self.node.dynamic_properties[handle] = value  # type: ignore[union-attr]

    def _route(self, handle: str, value: Any) -> None:
        targets = self.routes.get(handle)
        if targets and not self.run.stopping:
            for inbox, target_handle in targets:
                inbox.put(target_handle, value)

    async def _feed(self) -> None:
        """Nodes the engine feeds: ``process`` and ``gen_process`` nodes."""
        handles = self.handles
        if not handles:
            await self._fire()
            return
        inbox = self.inbox
        assign = self._assign
        if self.zip and self.stream_handles:
            await self._zip_all()
            return
        # on_any: wait for a value on every handle, then run again per new value.
        pending = set(handles)
        while True:
            item = await inbox.get()  # type: ignore[union-attr]
            if item is END:
                return
            handle, value = item
            assign(handle, value)
            if pending:
                pending.discard(handle)
                if pending:
                    continue
            await self._fire()

    async def _zip_all(self) -> None:
        # Streamed handles are consumed one value per run; the others are reused.
        inbox = self.inbox
        streamed = self.stream_handles
        buffers: dict[str, deque[Any]] = {h: deque() for h in streamed}
        sticky: dict[str, Any] = {}
        others = self.handles - streamed
        while True:
            item = await inbox.get()  # type: ignore[union-attr]
            if item is END:
                return
            handle, value = item
            if handle in buffers:
                buffers[handle].append(value)
            else:
                sticky[handle] = value
            while len(sticky) == len(others) and all(buffers.values()):
                for h, v in sticky.items():
                    self._assign(h, v)
                for h, buf in buffers.items():
                    self._assign(h, buf.popleft())
                await self._fire()

    async def _fire(self) -> None:
        """Run the node once with its current properties and send its outputs."""
        run, node, info = self.run, self.node, self.info
        if run.ev_node:
            pending = run.send({"type": "node_update", "node_id": self.node_id,
                                "node_name": self.title, "node_type": self.node_type,
                                "status": "running", "error": None, "result": None})
            if pending is not None:
                await pending
        if self.kind == "gen":
            result: dict[str, Any] = {}
            produced = node.gen_process(self.ctx)  # type: ignore[union-attr]
            if info.gen_is_async:
                async for item in produced:
                    if type(item) is not dict:
                        item = {"output": item}
                    for handle, value in item.items():
                        result[handle] = value
                        self._route(handle, value)
            else:
                for item in produced:
                    if type(item) is not dict:
                        item = {"output": item}
                    for handle, value in item.items():
                        result[handle] = value
                        self._route(handle, value)
                    await asyncio.sleep(0)
            if run.ev_node:
                await self._completed(result)
            return
        value = node.process(self.ctx)  # type: ignore[union-attr]
        if info.is_async:
            value = await value
        if info.mapping and type(value) is dict:
            result = value
        else:
            result = {"output": value}
        if run.ev_node:
            await self._completed(result)
        if self.routes:
            for handle, out in result.items():
                self._route(handle, out)

    async def _completed(self, result: dict[str, Any]) -> None:
        pending = self.run.send({"type": "node_update", "node_id": self.node_id,
                                 "node_name": self.title, "node_type": self.node_type,
                                 "status": "completed", "error": None, "result": _bounded(result)})
        if pending is not None:
            await pending

    async def _sink(self) -> None:
        """Output and Preview nodes: every value arriving on ``value`` is a workflow output."""
        run, inbox, info = self.run, self.inbox, self.info
        value_handle = "value" if "value" in info.fields else None
        while True:
            item = await inbox.get()  # type: ignore[union-attr]
            if item is END:
                return
            handle, value = item
            self._assign(handle, value)
            if value_handle is not None and handle != value_handle:
                continue
            if run.ev_node:
                await run.emit({"type": "node_update", "node_id": self.node_id,
                                "node_name": self.title, "node_type": self.node_type,
                                "status": "running", "error": None, "result": None})
            out = value
            if info.has_process:
                out = self.node.process(self.ctx)  # type: ignore[union-attr]
                if info.is_async:
                    out = await out
                if out is None:
                    out = value
            if out is not None:
                await run.record_output(self, out)
            if run.ev_node:
                await self._completed({} if out is None else {"value": out})

    async def _run_streams(self) -> None:
        """``run`` nodes read their own input streams (Collect) and emit when they like."""
        run = self.run
        result: dict[str, Any] = {}

        async def send(handle: str, value: Any) -> None:
            result[handle] = value
            self._route(handle, value)

        if run.ev_node:
            await run.emit({"type": "node_update", "node_id": self.node_id, "node_name": self.title,
                            "node_type": self.node_type, "status": "running", "error": None,
                            "result": None})
        await self.node.run(self.ctx, Inputs(self.inbox), Outputs(send))  # type: ignore[union-attr,arg-type]
        if run.ev_node:
            await self._completed(result)


def _invalid(field: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    detail = errors[0]["msg"] if errors else str(exc)
    return f"invalid value for '{field}': {detail}"


def _bounded(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` if small as JSON; else large values replaced by a short note."""
    budget = RESULT_LIMIT
    size = 0
    for value in result.values():
        size += json_size(value, budget - size)
        if size > budget:
            break
    else:
        return result
    out: dict[str, Any] = {}
    size = 0
    for key, value in result.items():
        n = json_size(value, budget - size)
        if size + n <= budget:
            out[key] = value
            size += n
        else:
            out[key] = _summary(value)
    return out


def _summary(value: Any) -> str:
    if isinstance(value, (list, tuple, dict, set)):
        return f"<{type(value).__name__} of {len(value)} items, truncated>"
    if isinstance(value, (str, bytes)):
        return f"<{type(value).__name__} of {len(value)} characters, truncated>"
    return f"<{type(value).__name__}, truncated>"
