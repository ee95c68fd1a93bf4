"""What a node type is: a pydantic model whose fields are its inputs.

A node type is a subclass of :class:`BaseNode` (or a function wrapped by
:func:`node`). Its fields are its properties, which edges or ``data`` fill in;
``process`` computes its outputs. The engine knows nothing about gateways.

Two optional class hooks let a node type check its ``data`` against what the
caller lends the run (``services``): :meth:`BaseNode.check` during validation,
and the asynchronous :meth:`BaseNode.prepare` right before a run.

Three ways to compute:

- ``async def process(self, context) -> T`` (or a plain ``def``): one output
  named ``output`` of type ``T``; or, returning a ``TypedDict`` annotated as
  ``OutputType``, one output per key.
- ``async def gen_process(self, context)``: an async generator that streams;
  each item is a dict ``{output_name: value}`` (e.g. ForEach yields
  ``{"output": item, "index": i}``).
- ``async def run(self, context, inputs, outputs)``: full control over the
  input streams (e.g. Collect reads ``inputs.stream("input_item")`` until it
  ends, then ``outputs.emit("output", items)``).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, AsyncIterator, ClassVar, Protocol, get_type_hints, is_typeddict

from pydantic import BaseModel, ConfigDict
from pydantic._internal._model_construction import ModelMetaclass

__all__ = ["BaseNode", "NodeContext", "NodeInputs", "NodeOutputs", "node"]


class NodeContext(Protocol):
    """What a running node may ask of the engine."""

    job_id: str
    workflow_id: str | None
    node_id: str
    user_id: str
    # What the caller of the run lends its nodes (language models, tools); opaque to the engine.
    services: Any

    def log(self, content: str, severity: str = "info") -> None: ...
    def progress(self, progress: float, total: float | None = None) -> None: ...
    async def chunk(self, content: str, *, done: bool = False, content_type: str = "text",
                    thinking: bool = False) -> None: ...
    @property
    def cancelled(self) -> bool: ...


class NodeInputs(Protocol):
    """The input side of a node using ``run``."""

    def has_stream(self, handle: str) -> bool: ...
    def stream(self, handle: str) -> AsyncIterator[Any]: ...
    async def first(self, handle: str, default: Any = None) -> Any: ...


class NodeOutputs(Protocol):
    """The output side of a node using ``run`` or ``gen_process``."""

    async def emit(self, handle: str, value: Any) -> None: ...


class BaseNode(BaseModel):
    """Base class of every node type.

    Declare, as class attributes: ``node_type`` (full name; default: the
    module's ``NAMESPACE``, else its module name, then ``.`` and the class
    name), ``aliases`` (older names that run the same code, e.g.
    ``nodetool.json.ParseList`` for ``lib.json.ParseList``), ``node_title``,
    ``is_dynamic`` (accepts extra named inputs from ``dynamic_properties``),
    ``abstract = True`` (a base class, not registered). The docstring is the
    description.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="ignore",
                              populate_by_name=True, protected_namespaces=())

    node_type: ClassVar[str] = ""
    node_namespace: ClassVar[str] = ""
    node_title: ClassVar[str] = ""
    node_description: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    is_dynamic: ClassVar[bool] = False
    # How the node computes: "process", "gen_process" or "run".
    compute_mode: ClassVar[str] = "process"
    # Output name -> type (Any when unknown); a "run" node may declare its own.
    output_types: ClassVar[dict[str, Any]] = {}
    # True when the node emits many values (a stream) rather than one per run.
    streaming_output: ClassVar[bool] = False
    abstract: ClassVar[bool] = True

    # Values of dynamic properties (FormatText's template variables, ...).
    dynamic_properties: dict[str, Any] = {}
    # The graph node's declared extra outputs, name -> NodeTool type metadata
    # (an Extractor's fields); set by the engine before the node runs.
    dynamic_outputs: dict[str, Any] = {}

    def __init_subclass__(cls, **kw: Any):
        super().__init_subclass__(**kw)
        own = cls.__dict__
        if "node_type" not in own:
            module = sys.modules.get(cls.__module__)
            ns = getattr(module, "NAMESPACE", None) or cls.__module__
            cls.node_type = f"{ns}.{cls.__name__}"
        cls.node_namespace = cls.node_type.rsplit(".", 1)[0] if "." in cls.node_type else ""
        if "node_title" not in own:
            cls.node_title = _title(cls.__name__)
        cls.node_description = (inspect.getdoc(cls) or "") if cls.__doc__ else ""
        if "aliases" not in own:
            cls.aliases = ()
        if "abstract" not in own:
            cls.abstract = False
        if "run" in own:
            cls.compute_mode = "run"
        elif "gen_process" in own:
            cls.compute_mode = "gen_process"
        elif "process" in own:
            cls.compute_mode = "process"
        if "streaming_output" not in own:
            cls.streaming_output = cls.compute_mode == "gen_process"
        cls.output_types = _outputs(cls)

    async def process(self, context: NodeContext) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    async def gen_process(self, context: NodeContext) -> AsyncIterator[dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError
        yield {}

    async def run(self, context: NodeContext, inputs: NodeInputs, outputs: NodeOutputs) -> None:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        """Problems with this graph node (its ``data``, ``dynamic_outputs``) that the
        caller's ``services`` can see before the run (a model no provider serves);
        each becomes a validation error."""
        return []

    @classmethod
    async def prepare(cls, node: Any, services: Any) -> None:
        """Asynchronous checks right before a run (ask a server whether it has the model);
        raise ``ValueError`` to stop the run with a validation error."""

    @classmethod
    def properties(cls) -> dict[str, Any]:
        """Input properties: name -> pydantic FieldInfo (the dynamic maps excluded)."""
        return {k: v for k, v in cls.model_fields.items() if k not in _DYNAMIC}


_DYNAMIC = frozenset({"dynamic_properties", "dynamic_outputs"})


def _title(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if i and ch.isupper() and (not name[i - 1].isupper() or
                                   (i + 1 < len(name) and name[i + 1].islower())):
            out.append(" ")
        out.append(ch)
    return "".join(out)


def _outputs(cls: type[BaseNode]) -> dict[str, Any]:
    method = {"process": "process", "gen_process": "gen_process"}.get(cls.compute_mode)
    # The class's own OutputType, else that of the class whose process it inherits.
    owner = next((k for k in cls.__mro__ if method in k.__dict__), cls) if method else cls
    explicit = cls.__dict__.get("OutputType") or owner.__dict__.get("OutputType")
    if explicit is not None and is_typeddict(explicit):
        return dict(get_type_hints(explicit))
    if cls.compute_mode == "run":
        return dict(cls.__dict__.get("output_types", {}) or {"output": Any})
    fn = getattr(cls, method)
    try:
        ret = get_type_hints(fn, include_extras=False).get("return", Any)
    except Exception:
        ret = Any
    if cls.compute_mode == "gen_process":
        args = getattr(ret, "__args__", ())
        ret = args[0] if args else Any
    if is_typeddict(ret):
        return dict(get_type_hints(ret))
    return {"output": ret}


def node(func=None, *, type: str | None = None, namespace: str | None = None,
         title: str | None = None):
    """Make a node type from a function: its parameters are the inputs, its return the output.

    >>> @node(namespace="my.math")
    ... def Add(a: float = 0, b: float = 0) -> float:
    ...     return a + b
    """
    def wrap(fn):
        sig = inspect.signature(fn)
        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        for name, p in sig.parameters.items():
            if name == "context":
                continue
            ann = hints.get(name, Any)
            fields[name] = (ann, ... if p.default is p.empty else p.default)
        wants_context = "context" in sig.parameters
        is_async = inspect.iscoroutinefunction(fn)
        ret = hints.get("return", Any)

        async def process(self, context: NodeContext) -> ret:  # type: ignore[valid-type]
            kwargs = {k: getattr(self, k) for k in fields}
            if wants_context:
                kwargs["context"] = context
            result = fn(**kwargs)
            return await result if is_async else result

        process.__annotations__ = {"context": NodeContext, "return": ret}
        module = sys.modules.get(fn.__module__)
        ns = namespace or getattr(module, "NAMESPACE", None) or fn.__module__
        attrs: dict[str, Any] = {"__doc__": fn.__doc__, "__module__": fn.__module__,
                                 "__annotations__": {k: v[0] for k, v in fields.items()},
                                 "node_type": type or f"{ns}.{fn.__name__}",
                                 "process": process}
        if title:
            attrs["node_title"] = title
        for k, (_, default) in fields.items():
            if default is not ...:
                attrs[k] = default
        return ModelMetaclass(fn.__name__, (BaseNode,), attrs)

    return wrap(func) if func is not None else wrap
