"""One node's life in a run: wait for inputs, compute, send results downstream, end.

Mirrors NodeTool's ``NodeActor`` (``nodetool/workflows/actor.py``): each node is
an asyncio task; ``on_any`` nodes run once every connected input has a value
and again per new value, ``zip_all`` nodes line streams up, ``run`` nodes read
their own streams, and a finished node ends every edge it feeds.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints, is_typeddict

from pydantic import ValidationError

from ._inbox import END, AnyInbox, HandleInbox, Inputs, Outputs
from ._kinds import is_sink, is_streaming
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

    __slots__ = ("fields", "is_async", "gen_is_async", "mapping", "has_process", "validate",
                 "kept", "template", "fresh", "kind", "title", "sink", "streaming")

    def __init__(self, cls: type[BaseNode]):
        self.kind = {"run": "run", "gen_process": "gen"}.get(cls.compute_mode, "process")
        self.title = cls.node_title or cls.node_type
        self.sink = is_sink(cls.node_type)
        self.streaming = is_streaming(cls)
        self.fields = frozenset(cls.properties())
        self.is_async = inspect.iscoroutinefunction(cls.process)
        self.gen_is_async = inspect.isasyncgenfunction(cls.gen_process)
        self.has_process = cls.process is not BaseNode.process
        self.validate = cls.__pydantic_validator__.validate_assignment
        # Whether process returns {output name: value} rather than the one "output".
        self.mapping = set(cls.output_types) != {"output"} or _returns_typeddict(cls)
        self.kept = _kept_types(cls)
        # A blank instance's __dict__ as model_construct() builds it: defaults every
        # instance may share, then (name, factory) for those each needs its own copy of.
        # None: leave construction to model_construct (post-init hooks, factories
        # that read other fields).
        self.template: dict[str, Any] | None = {}
        self.fresh: list[tuple[str, Callable[[], Any]]] = []
        if cls.__pydantic_post_init__ or cls.model_config.get("extra") == "allow":
            self.template = None
            return
        for name, field in cls.__pydantic_fields__.items():
            if field.is_required():
                continue
            if field.default_factory is not None:
                if getattr(field, "default_factory_takes_validated_data", False):
                    self.template = None
                    return
                self.fresh.append((name, field.default_factory))  # type: ignore[arg-type]
                self.template[name] = None  # keeps the field order
                continue
            default = field.default
            if field.get_default(call_default_factory=True) is default:  # pydantic shares it too
                self.template[name] = default
            else:
                # pydantic copies it: an empty dict, list or set afresh, others deeply.
                empty = type(default) in (dict, list, set) and not default
                self.fresh.append((name, type(default) if empty else partial(
                    field.get_default, call_default_factory=True)))
                self.template[name] = None

    def settle(self, name: str, value: Any) -> Any:
        """``value`` as field ``name`` would hold it after pydantic's validation, when
        that is plain (see :func:`_kept_types`); else :data:`UNSETTLED`."""
        types_ = self.kept.get(name)
        if types_ is None:
            return UNSETTLED
        if types_ is ANY_TYPE or type(value) in types_:
            return value
        if type(value) is int and float in types_ and types_ <= _FLOAT_OR_NONE:
            try:
                return float(value)  # what pydantic makes of an int for a float field
            except OverflowError:
                pass
        return UNSETTLED


# Field annotations whose exact value types pydantic passes through unchanged.
_SCALARS = frozenset({str, int, float, bool, type(None)})
_UNIONS = (Union, types.UnionType)
# Settings that change or refuse scalar values pydantic would otherwise keep.
_VALUE_SETTINGS = ("str_strip_whitespace", "str_to_lower", "str_to_upper", "str_min_length",
                   "str_max_length", "frozen")
_FLOAT_OR_NONE = frozenset({float, type(None)})
ANY_TYPE: Any = object()  # in _ClassInfo.kept: the field keeps a value of any type
UNSETTLED: Any = object()  # from _ClassInfo.settle: pydantic must validate the value


def _kept_types(cls: type[BaseNode]) -> dict[str, Any]:
    """Field name -> the value types it keeps exactly as given (or :data:`ANY_TYPE`).

    Assigning such a value needs no validation: a plain ``str``, ``int``,
    ``float`` or ``bool`` field (or an optional one, or a union of them) keeps
    a value of exactly one of its types, and an ``Any`` field keeps anything;
    a ``float`` field (optional or not) turns an ``int`` into a float.
    Fields with constraints or validators, frozen ones, and classes with
    validators or settings that change strings are left to pydantic.
    """
    decorators = cls.__pydantic_decorators__
    config = cls.model_config
    if (decorators.validators or decorators.field_validators or decorators.root_validators
            or decorators.model_validators or config.get("allow_inf_nan") is False
            or any(config.get(k) for k in _VALUE_SETTINGS)):
        return {}
    kept: dict[str, Any] = {}
    for name, field in cls.properties().items():
        if field.metadata or field.frozen:
            continue
        annotation = field.annotation
        if annotation is Any:
            kept[name] = ANY_TYPE
            continue
        members = get_args(annotation) if get_origin(annotation) in _UNIONS else (annotation,)
        if all(m in _SCALARS for m in members):
            kept[name] = frozenset(members)
    return kept


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
_NO_ROUTES: Any = {}  # a finished node's routes (never added to)


class NodeInputError(Exception):
    """A property value the node's model refused."""


class NodeActor:
    """Drives one node to completion inside a run."""

    __slots__ = ("run", "gnode", "cls", "info", "node_id", "node_type", "title", "kind",
                 "inbox", "handles", "stream_handles", "routes", "zip", "static", "sink_name",
                 "output_type", "ctx", "node", "streams_out", "task", "outside")

    def __init__(self, run: _Run, gnode: GraphNode, cls: type[BaseNode], static: dict[str, Any]):
        self.run = run
        self.gnode = gnode
        self.cls = cls
        self.info = info = class_info(cls)
        self.node_id = gnode.id
        self.node_type = cls.node_type
        self.title = info.title
        if info.sink or (gnode.type != cls.node_type and is_sink(gnode.type)):
            self.kind = "sink"
            name = gnode.data.get("name")
            self.sink_name = name if isinstance(name, str) and name else gnode.id
            # NodeTool: the type's name without "Output", lowercased (StringOutput -> "string").
            short = gnode.type.rsplit(".", 1)[-1]
            self.output_type = short.replace("Output", "").lower() or "any"
        else:
            self.kind = info.kind
            self.sink_name = None
            self.output_type = None
        self.inbox: AnyInbox | HandleInbox = HandleInbox() if self.kind == "run" else AnyInbox()
        self.handles: set[str] = set()
        self.stream_handles: set[str] = _NO_HANDLES
        self.routes: dict[str, list[tuple[Any, str]]] = {}
        self.zip = gnode.sync_mode == "zip_all"
        self.static = static  # gnode.data (and a param); _build skips the wired handles
        self.ctx: NodeContext | None = None  # while the node runs
        self.node: BaseNode | None = None
        self.streams_out = False
        self.task: asyncio.Task | None = None  # while the node runs
        self.outside: dict[str, Any] | None = None  # a loop group's values for its members

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
            self.ctx = NodeContext(run, self.node_id)
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
            # Let go of what the node no longer needs: a large graph then leaves far less
            # for the garbage collector to walk through while it runs. The run holds its
            # actors, so an actor holding the run would make it all one reference cycle,
            # left for the collector to find instead of freed when the run ends.
            self.node = self.ctx = self.task = None
            self.routes = _NO_ROUTES
            self.run = None  # type: ignore[assignment]

    def _build(self) -> BaseNode:
        """The node, as ``model_construct()`` then a validated assignment of each
        ``data`` value would make it; values pydantic would keep as they are
        (:meth:`_ClassInfo.settle`) are put in place without asking it."""
        cls, info, gnode = self.cls, self.info, self.gnode
        template = info.template
        if template is None:
            node = cls.model_construct()
            values, fields_set = node.__dict__, node.__pydantic_fields_set__
        else:
            node = cls.__new__(cls)
            values = template.copy()
            for name, make in info.fresh:
                values[name] = make()
            fields_set = set()
        settle, fields, wired = info.settle, info.fields, self.handles
        checked: list[tuple[str, Any]] = []
        for key, value in self.static.items():
            if key in wired:
                continue
            settled = settle(key, value)
            if settled is not UNSETTLED:
                values[key] = settled
                fields_set.add(key)
            elif key in fields:
                checked.append((key, value))
        values["dynamic_properties"] = dict(gnode.dynamic_properties) if cls.is_dynamic else {}
        fields_set.add("dynamic_properties")
        if gnode.dynamic_outputs:  # else the class default ({})
            values["dynamic_outputs"] = gnode.dynamic_outputs
            fields_set.add("dynamic_outputs")
        if template is not None:
            _set = object.__setattr__
            _set(node, "__dict__", values)
            _set(node, "__pydantic_fields_set__", fields_set)
            _set(node, "__pydantic_extra__", None)
            _set(node, "__pydantic_private__", None)
        if checked:
            validate = info.validate
            for key, value in checked:
                try:
                    validate(node, key, value)
                except ValidationError as exc:
                    raise NodeInputError(_invalid(key, exc)) from None
        return node

    def _assign(self, handle: str, value: Any) -> None:
        info = self.info
        if handle in info.fields and (value is None or (type(value) in (list, dict) and not value)):
            # NodeTool: an empty value leaves the node's own property in place: its value
            # in the file's data, else its default.
            if handle not in self.static or self.static[handle] is value:
                return
            value = self.static[handle]
        settled = info.settle(handle, value)
        if settled is not UNSETTLED:
            node = self.node
            node.__dict__[handle] = settled  # type: ignore[union-attr]
            node.__pydantic_fields_set__.add(handle)  # type: ignore[union-attr]
        elif handle in info.fields:
            try:
                info.validate(self.node, handle, value)
            except ValidationError as exc:
                raise NodeInputError(_invalid(handle, exc)) from None
        elif self.kind == "loop":
            if self.outside is None:
                self.outside = {}
            self.outside[handle] = value
        elif self.cls.is_dynamic:
            self.node.dynamic_properties[handle] = value  # type: ignore[union-attr]

    def _route(self, handle: str, value: Any) -> None:
        # NodeTool never sends a None down an edge: the node behind does not run on it.
        targets = self.routes.get(handle)
        if targets and value is not None and not self.run.stopping:
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
        # on_any: wait for a value on every handle, then run again per new value. As in
        # NodeTool, the first run takes the first value of each handle; a second value that
        # came meanwhile is kept, in order, for a run of its own (never overwritten).
        pending = set(handles)
        early: deque[tuple[str, Any]] = deque()
        while True:
            item = inbox.pop()  # type: ignore[union-attr]
            if item is None:  # nothing yet: wait
                item = await inbox.get()  # type: ignore[union-attr]
            if item is END:
                return
            handle, value = item
            if pending:
                if handle not in pending:
                    early.append(item)
                    continue
                assign(handle, value)
                pending.discard(handle)
                if pending:
                    continue
                await self._fire()
                while early:
                    handle, value = early.popleft()
                    assign(handle, value)
                    await self._fire()
                continue
            assign(handle, value)
            await self._fire()

    async def _zip_all(self) -> None:
        # Streamed handles are consumed one value per run; the others are reused.
        inbox = self.inbox
        streamed = self.stream_handles
        buffers: dict[str, deque[Any]] = {h: deque() for h in streamed}
        sticky: dict[str, Any] = {}
        others = self.handles - streamed
        while True:
            item = inbox.pop()  # type: ignore[union-attr]
            if item is None:  # nothing yet: wait
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
            pending = run.deliver({"type": "node_update", "node_id": self.node_id,
                                   "node_name": self.title, "node_type": self.node_type,
                                   "status": "running", "error": None, "result": None})
            if pending is not None:
                try:
                    await pending
                except Exception:  # noqa: BLE001 - the listener's, not the node's
                    run.callback_failed()
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
        if self.kind == "loop":
            value = await run.run_group(self, node.input, self.outside or {})  # type: ignore[union-attr]
        else:
            value = node.process(self.ctx)  # type: ignore[union-attr]
            if info.is_async:
                value = await value
        if info.mapping and type(value) is dict:
            result = value
        else:
            result = {"output": value}
        if run.ev_node:
            pending = run.deliver(self._completed_event(result))
            if pending is not None:
                try:
                    await pending
                except Exception:  # noqa: BLE001 - the listener's, not the node's
                    run.callback_failed()
        if self.routes:
            for handle, out in result.items():
                self._route(handle, out)

    def _completed_event(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"type": "node_update", "node_id": self.node_id, "node_name": self.title,
                "node_type": self.node_type, "status": "completed", "error": None,
                "result": _bounded(result)}

    async def _completed(self, result: dict[str, Any]) -> None:
        pending = self.run.send(self._completed_event(result))
        if pending is not None:
            await pending

    async def _sink(self) -> None:
        """Output and Preview nodes: every value arriving on ``value`` is a workflow output."""
        run, inbox, info = self.run, self.inbox, self.info
        value_handle = "value" if "value" in info.fields else None
        while True:
            item = inbox.pop()  # type: ignore[union-attr]
            if item is None:  # nothing yet: wait
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
