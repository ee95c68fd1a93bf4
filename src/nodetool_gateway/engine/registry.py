"""The node types a workflow may use, by name, and where they came from."""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from pydantic_core import PydanticUndefined

from ._kinds import is_streaming
from ._types import json_safe, type_str
from .node import BaseNode, node

__all__ = ["NodeRegistry", "NodeSource", "ModuleSource", "default_registry"]

log = logging.getLogger(__name__)


class NodeSource(Protocol):
    """Somewhere node types come from: a package, a config's module list, a plugin."""

    name: str

    def load(self, registry: NodeRegistry) -> int: ...


class NodeRegistry:
    """Node types by name (aliases included), listable, searchable, describable.

    A registry is a plain object, not a global: build one per configuration.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type[BaseNode]] = {}
        self._classes: dict[str, type[BaseNode]] = {}
        # class -> why it is deprecated; by class, so a type that replaces it is not.
        self._deprecated: dict[type[BaseNode], str] = {}
        # (source name, how many node types it registered), in load order.
        self.sources: list[tuple[str, int]] = []

    def register(self, cls_or_func: Any, *, replace: bool = False) -> type[BaseNode]:
        """Add a node type (a :class:`BaseNode` subclass, or a function, wrapped with ``node()``).

        Its ``node_type`` and every alias become names for it. A name already
        taken by another class raises ``ValueError`` unless ``replace`` is true.
        Registering the same class again is a no-op. Returns the class.
        """
        if inspect.isclass(cls_or_func):
            if not issubclass(cls_or_func, BaseNode):
                raise TypeError(f"{cls_or_func.__qualname__} is not a BaseNode subclass")
            cls = cls_or_func
        elif callable(cls_or_func):
            cls = node(cls_or_func)
        else:
            raise TypeError(f"cannot register {cls_or_func!r}: expected a BaseNode subclass or a function")
        if cls.abstract or not cls.node_type:
            raise ValueError(f"{cls.__qualname__} is abstract; only concrete node types can be registered")
        names = (cls.node_type, *cls.aliases)
        for name in names:
            taken = self._by_name.get(name)
            if taken is not None and taken is not cls and not replace:
                raise ValueError(
                    f"node type {name!r} is already registered by {_where(taken)}; "
                    f"pass replace=True to replace it")
        for name in names:
            taken = self._by_name.get(name)
            if taken is not None and taken is not cls and taken.node_type == name:
                self._forget(taken)
        for name in names:
            self._by_name[name] = cls
        self._classes[cls.node_type] = cls
        return cls

    def _forget(self, cls: type[BaseNode]) -> None:
        self._classes.pop(cls.node_type, None)
        self._deprecated.pop(cls, None)
        for name in (cls.node_type, *cls.aliases):
            if self._by_name.get(name) is cls:
                del self._by_name[name]

    def get(self, node_type: str) -> type[BaseNode] | None:
        """The class for a type name or alias, or ``None``."""
        return self._by_name.get(node_type)

    def deprecate(self, node_type: str, note: str) -> None:
        """Mark a registered type (by name or alias) deprecated: it still loads and runs."""
        cls = self.get(node_type)
        if cls is None:
            raise KeyError(f"unknown node type {node_type!r}")
        self._deprecated[cls] = note

    def deprecation(self, cls_or_type: type[BaseNode] | str) -> str | None:
        """Why a type is deprecated, or ``None`` if it is not (or unknown)."""
        cls = self.get(cls_or_type) if isinstance(cls_or_type, str) else cls_or_type
        return self._deprecated.get(cls) if cls is not None else None

    def __contains__(self, node_type: object) -> bool:
        if inspect.isclass(node_type):
            return self._classes.get(getattr(node_type, "node_type", None)) is node_type
        return node_type in self._by_name

    def __len__(self) -> int:
        return len(self._classes)

    def __iter__(self) -> Iterator[type[BaseNode]]:
        return iter([self._classes[k] for k in sorted(self._classes)])

    def list(self, namespace: str | None = None, limit: int | None = None) -> list[type[BaseNode]]:
        """Node types whose name starts with ``namespace`` (a dotted prefix), sorted by type."""
        prefix = namespace.strip(".") + "." if namespace else ""
        found = [self._classes[k] for k in sorted(self._classes) if k.startswith(prefix)]
        return found if limit is None else found[:max(limit, 0)]

    def search(self, query: str | Iterable[str], n_results: int = 10) -> list[type[BaseNode]]:
        """Node types matching any word of ``query``, best first.

        A word found in the class name counts most, then the title, the
        namespace, the description; an exact class-name match counts double.
        Ties go by type name.
        """
        words = query.split() if isinstance(query, str) else [w for q in query for w in str(q).split()]
        words = [w.lower() for w in words if w]
        if not words:
            return []
        scored: list[tuple[int, str, type[BaseNode]]] = []
        for node_type, cls in self._classes.items():
            name = node_type.rsplit(".", 1)[-1].lower()
            title, desc, ns = cls.node_title.lower(), cls.node_description.lower(), cls.node_namespace.lower()
            score = 0
            for w in words:
                if w in name:
                    score += 16 if w == name else 8
                if w in title:
                    score += 4
                if w in ns:
                    score += 2
                if w in desc:
                    score += 1
            if score:
                scored.append((-score, node_type, cls))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [cls for _, _, cls in scored[:max(n_results, 0)]]

    def describe(self, cls_or_type: type[BaseNode] | str) -> dict[str, Any]:
        """A JSON-safe description: properties with types and defaults, outputs, flags."""
        if isinstance(cls_or_type, str):
            cls = self.get(cls_or_type)
            if cls is None:
                raise KeyError(f"unknown node type {cls_or_type!r}")
        else:
            cls = cls_or_type
        properties = []
        for name, info in cls.properties().items():
            required = info.is_required()
            if required:
                default = None
            elif info.default_factory is not None:
                default = info.default_factory()  # type: ignore[call-arg]
            else:
                default = None if info.default is PydanticUndefined else info.default
            prop = {"name": name, "type": type_str(info.annotation), "default": json_safe(default),
                    "description": info.description or "", "required": required}
            properties.append(prop)
        note = self.deprecation(cls)
        info = {
            "node_type": cls.node_type,
            "title": cls.node_title,
            "description": cls.node_description,
            "namespace": cls.node_namespace,
            "properties": properties,
            "outputs": [{"name": k, "type": type_str(v)} for k, v in cls.output_types.items()],
            "is_dynamic": bool(cls.is_dynamic),
            "is_streaming": is_streaming(cls),
            "deprecated": note is not None,
        }
        if note is not None:
            info["deprecation"] = note
        return info

    def load_module(self, module: str) -> int:
        """Import ``module`` and register every concrete node type defined in it."""
        classes = _module_classes(module)
        for cls in classes:
            self.register(cls)
        return len(classes)

    def add_source(self, source: NodeSource) -> int:
        """Load node types from ``source`` and remember it in :attr:`sources`."""
        count = source.load(self)
        self.sources.append((source.name, count))
        return count


class ModuleSource:
    """Node types from a list of Python modules (``skip_missing``: tolerate absent modules)."""

    def __init__(self, name: str, modules: Iterable[str], *, skip_missing: bool = False):
        self.name = name
        self.modules = list(modules)
        self.skip_missing = skip_missing

    def load(self, registry: NodeRegistry) -> int:
        count = 0
        for module in self.modules:
            try:
                count += registry.load_module(module)
            except ModuleNotFoundError as exc:
                if not (self.skip_missing and exc.name == module):
                    raise
                log.warning("node module %s is not there; skipped", module)
        return count


# module name -> (module object, node classes defined in it). Keyed by the module
# object too, so a reloaded module is scanned again.
_scanned: dict[str, tuple[Any, list[type[BaseNode]]]] = {}


def _module_classes(module: str) -> list[type[BaseNode]]:
    mod = sys.modules.get(module)
    cached = _scanned.get(module)
    if mod is not None and cached is not None and cached[0] is mod:
        return cached[1]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:
        raise
    except Exception as exc:
        raise ImportError(f"cannot import node module {module!r}: {type(exc).__name__}: {exc}") from exc
    classes = [obj for obj in vars(mod).values()
               if inspect.isclass(obj) and issubclass(obj, BaseNode) and obj is not BaseNode
               and obj.__module__ == module and not obj.abstract and obj.node_type]
    _scanned[module] = (mod, classes)
    return classes


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def default_registry() -> NodeRegistry:
    """A new registry holding the core library (every module in ``engine.library.MODULES``).

    Types NodeTool has removed (``engine.library._deprecated``) are marked deprecated.
    Modules are imported and scanned once per process; later calls only
    re-register the cached classes. A library module that does not exist is
    skipped with a warning; one that fails to import raises.
    """
    from .library import MODULES
    from .library._deprecated import deprecation_notes

    registry = NodeRegistry()
    registry.add_source(ModuleSource("library", MODULES, skip_missing=True))
    for node_type, note in deprecation_notes().items():
        if node_type in registry:
            registry.deprecate(node_type, note)
    return registry
