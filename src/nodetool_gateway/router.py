"""The router: find the handler for a request and call it with checked arguments.

A routing table is built once per config snapshot, so a reload swaps the whole
table in one step while calls already running keep the route they started with.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NotRequired, Required

from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from .errors import Code, InvalidArgs
from .handlers.context import HandlerContext
from .protocols import Request

__all__ = ["Route", "Router", "RawHandler"]

_CONTEXT_NAMES = ("context", "ctx")


class RawHandler:
    """A handler that takes the whole message dict (the seed's ``_handlers`` style)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[dict[str, Any]], Any]):
        self.func = func


def _args_adapter(func: Callable, skip: str | None) -> tuple[TypeAdapter | None, bool]:
    """Build a validator for the keyword arguments ``func`` accepts.

    Returns ``(None, True)`` when any keyword is accepted unchecked.
    """
    sig = inspect.signature(func)
    fields: dict[str, Any] = {}
    var_kw = False
    for name, p in sig.parameters.items():
        if name == skip or p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        ann = _annotation(func, p.annotation)
        fields[name] = NotRequired[ann] if p.default is not p.empty else Required[ann]
    if not fields and var_kw:
        return None, True
    td = TypedDict(f"{getattr(func, '__name__', 'handler')}_args", fields)  # type: ignore[operator]
    td.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra="allow" if var_kw else "forbid", arbitrary_types_allowed=True)
    return TypeAdapter(td), False


def _annotation(func: Callable, ann: Any) -> Any:
    """A parameter's type; string annotations are evaluated in the handler's module."""
    if ann is inspect.Parameter.empty:
        return Any
    if isinstance(ann, str):
        try:
            return eval(ann, getattr(func, "__globals__", {}))  # noqa: S307 - the handler's own annotation
        except Exception:
            return Any  # e.g. a name imported only for type checkers
    return ann


def _context_param(func: Callable) -> str | None:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    for name, p in params.items():
        ann = p.annotation
        if name in _CONTEXT_NAMES or ann is HandlerContext or (
                isinstance(ann, str) and "HandlerContext" in ann):
            return name
    return None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(x) for x in err["loc"]) or "args"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unexpected argument"
        elif err["type"] == "missing":
            msg = "missing required argument"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


@dataclass(slots=True, eq=False)
class Route:
    """One resolved route, ready to call."""

    name: str
    kind: str  # "command" or "message"
    target: str
    func: Callable
    timeout: float | None
    concurrency: int | None
    source: str
    raw: bool = False
    blocking: bool = True  # a plain def runs in a worker thread (False: on the loop)
    _context: str | None = None
    _adapter: TypeAdapter | None = None
    _mode: str = "sync"  # "sync", "async", "agen"
    # Whether calling with no arguments needs no check (no required parameters).
    _empty_ok: bool = False
    _prepared: bool = False
    wants_context: bool = False
    # The handler itself when it is a plain ``async def`` with no context: awaited
    # directly, with no layer between (the common case of a command).
    direct: Callable | None = None
    log: logging.Logger | None = None
    # Advertised at registration. A handler that needs an optional extra carries
    # ``offered_if``, a no-argument callable: false means this install lacks it.
    offered: bool = True

    def __post_init__(self) -> None:
        func = self.func
        self.log = logging.getLogger(f"nodetool.gateway.handler.{self.name}")
        offered_if = getattr(func, "offered_if", None)
        if callable(offered_if):
            self.offered = bool(offered_if())
        self._context = None if self.raw else _context_param(func)
        if inspect.isasyncgenfunction(func):
            self._mode = "agen"
        elif inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
                getattr(func, "__call__", None)):
            self._mode = "async"
        self.wants_context = self._context is not None or self._mode == "agen"
        if self._mode == "async" and not self.raw and self._context is None:
            self.direct = func

    def _prepare(self) -> None:
        # Built on the first call, not at start-up: most routes of a node are never
        # called, and each validator costs memory and time to build.
        self._prepared = True
        try:
            self._adapter, _ = _args_adapter(self.func, self._context)
        except Exception:
            # No usable signature (a builtin, odd annotations): pass arguments through.
            self._adapter = None
        if self._adapter is None:
            return
        try:
            self._adapter.validate_python({})
            self._empty_ok = True
        except ValidationError:
            self._empty_ok = False

    def bind(self, request: Request) -> dict[str, Any]:
        """Check the request's arguments against the handler's signature."""
        if self.raw:
            return {}
        if not self._prepared:
            self._prepare()
        args = request.args
        if not args and self._empty_ok:
            return args
        if self._context is not None and self._context in args:
            raise InvalidArgs(f"{self._context}: reserved argument name")
        if self._adapter is None:
            return args
        try:
            return self._adapter.validate_python(args)
        except ValidationError as exc:
            raise InvalidArgs(f"invalid arguments for {self.name}: {_describe(exc)}") from None

    async def call(self, request: Request, kwargs: dict[str, Any],
                   ctx: HandlerContext | None) -> Any:
        """Run the handler; an async generator streams each item as an update."""
        func = self.func
        if self.raw:
            call_args: tuple = (request.raw,)
            kwargs = {}
        else:
            call_args = ()
            if self._context is not None:
                kwargs = {**kwargs, self._context: ctx}
        if self._mode == "async":
            return await func(*call_args, **kwargs)
        if self._mode == "agen":
            last = None
            async for item in func(*call_args, **kwargs):
                last = item
                update_type = item.get("type") if isinstance(item, dict) else None
                await ctx.send_update(update_type if isinstance(update_type, str) else "progress", item)
            return last
        if self.blocking:
            # Sync code runs in a worker thread so a slow handler never stalls the session.
            result = await asyncio.to_thread(func, *call_args, **kwargs)
        else:  # declared quick (blocking: false): the thread hop would cost more than it
            result = func(*call_args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


class Router:
    """The routing table of one config snapshot (plus handlers added in code)."""

    __slots__ = ("commands", "messages", "disabled")

    def __init__(self, commands: Mapping[str, Route], messages: Mapping[str, Route],
                 disabled: frozenset[str] = frozenset()):
        self.commands = dict(commands)
        self.messages = dict(messages)
        self.disabled = disabled

    @classmethod
    def from_table(cls, table: Any, extra: Mapping[str, Callable] | None = None) -> "Router":
        """Build from a resolved ``RouteTable``; ``extra`` are seed-style raw handlers."""
        commands = {n: _route(r) for n, r in table.commands.items()}
        messages = {n: _route(r) for n, r in table.messages.items()}
        for mtype, func in (extra or {}).items():
            messages[mtype] = Route(mtype, "message", _qualname(func), func, None, None,
                                    "code", raw=True)
        return cls(commands, messages, table.disabled)

    def lookup(self, request: Request) -> Route | tuple[Code, str]:
        if request.kind == "command":
            route = self.commands.get(request.name)
            if route is None:
                why = " (disabled in the config)" if request.name in self.disabled else ""
                return Code.UNKNOWN_COMMAND, f"unknown command {request.name!r}{why}"
            return route
        route = self.messages.get(request.name)
        if route is None:
            return Code.UNKNOWN_TYPE, f"no route for message type {request.name!r}"
        return route

    def offer(self) -> tuple[list[str], list[str]]:
        """What the node advertises: its commands and its message types (not those
        whose handler needs an extra this install lacks; called, they say which)."""
        return (sorted(n for n, r in self.commands.items() if r.offered),
                sorted(n for n, r in self.messages.items() if r.offered))


def _qualname(func: Callable) -> str:
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', repr(func))}"


def _route(r: Any) -> Route:
    return Route(r.name, r.kind, r.target, r.func, r.timeout, r.concurrency, r.source,
                 blocking=r.blocking)
