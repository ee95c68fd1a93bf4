"""Python type annotations as readable strings, their compatibility, and JSON-safe values."""

from __future__ import annotations

import base64
import enum
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

from pydantic import BaseModel

__all__ = ["type_str", "compatible", "json_safe", "json_size"]

_NONE = type(None)
_NAMES = {_NONE: "none", type(...): "ellipsis"}
_UNIONS = (Union, types.UnionType)


def _strip(tp: Any) -> Any:
    # Annotated[X, ...] -> X; NewType -> its base.
    while True:
        if get_origin(tp) is typing.Annotated:
            tp = get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):
            tp = tp.__supertype__
        else:
            return tp


def type_str(tp: Any) -> str:
    """``str``, ``int``, ``list[dict]``, ``str | none``, ``any``: a type for people."""
    tp = _strip(tp)
    if tp is Any or tp is object:
        return "any"
    if tp is None or tp is _NONE:
        return "none"
    if isinstance(tp, str):
        return tp
    if isinstance(tp, typing.ForwardRef):
        return tp.__forward_arg__
    if isinstance(tp, typing.TypeVar):
        return "any"
    origin = get_origin(tp)
    if origin in _UNIONS:
        return " | ".join(type_str(a) for a in get_args(tp))
    if origin is Literal:
        return "literal[" + ", ".join(repr(a) for a in get_args(tp)) + "]"
    if origin is not None:
        args = [a for a in get_args(tp) if a is not ...]
        name = getattr(origin, "__name__", None) or str(origin)
        name = {"AsyncIterator": "stream", "AsyncGenerator": "stream"}.get(name, name)
        if not args:
            return name
        return f"{name}[{', '.join(type_str(a) for a in args)}]"
    if is_typeddict(tp):
        return "dict"
    if isinstance(tp, type):
        return _NAMES.get(tp, tp.__name__)
    return str(tp).replace("typing.", "")


# Categories whose members pydantic converts between (in lax mode).
_CATEGORY = {str: "str", bytes: "bytes", bytearray: "bytes", int: "number", float: "number",
             bool: "number", list: "sequence", tuple: "sequence", set: "sequence",
             frozenset: "sequence", dict: "dict"}


def _category(tp: Any) -> str | None:
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return None  # an enum accepts its values' type; don't guess
        for base in tp.__mro__:
            if base in _CATEGORY:
                return _CATEGORY[base]
        if is_typeddict(tp):
            return "dict"
    return None


def compatible(source: Any, target: Any) -> bool:
    """False only when a value of ``source`` clearly cannot fill ``target``.

    ``Any``, unknown classes, unions with a compatible member and numeric
    widening (int -> float) all count as compatible.
    """
    source, target = _strip(source), _strip(target)
    if source is Any or target is Any or source is object or target is object:
        return True
    if isinstance(source, (str, typing.ForwardRef, typing.TypeVar)) or \
            isinstance(target, (str, typing.ForwardRef, typing.TypeVar)):
        return True
    s_origin, t_origin = get_origin(source), get_origin(target)
    if s_origin in _UNIONS:
        return any(compatible(a, target) for a in get_args(source))
    if t_origin in _UNIONS:
        return any(compatible(source, a) for a in get_args(target))
    if s_origin is Literal:
        return any(compatible(type(a), target) for a in get_args(source))
    if t_origin is Literal:
        return any(compatible(source, type(a)) for a in get_args(target))
    s_cat = _category(s_origin or source)
    t_cat = _category(t_origin or target)
    if s_cat is None or t_cat is None:
        return True
    if s_cat != t_cat:
        return False
    # One level into containers: list[str] cannot fill list[int].
    s_args, t_args = get_args(source), get_args(target)
    if s_cat == "sequence" and len(s_args) == 1 and len(t_args) == 1:
        return compatible(s_args[0], t_args[0])
    if s_cat == "dict" and len(s_args) == 2 and len(t_args) == 2:
        return compatible(s_args[1], t_args[1])
    return True


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types (for defaults shown to clients)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [json_safe(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return repr(value)


def json_size(value: Any, budget: int) -> int:
    """Roughly how long ``value`` is as JSON; stops counting once past ``budget``."""
    t = type(value)
    if t is str:
        return len(value) + 2
    if value is None or t is bool or t is int or t is float:
        return 6
    if t is dict:
        size = 2
        for k, v in value.items():
            size += json_size(k, budget) + json_size(v, budget - size) + 2
            if size > budget:
                return size
        return size
    if t is list or t is tuple:
        size = 2
        for v in value:
            size += json_size(v, budget - size) + 1
            if size > budget:
                return size
        return size
    if t is bytes:
        return len(value) * 4 // 3 + 2
    if isinstance(value, BaseModel):
        return json_size(value.__dict__, budget)
    return 32
