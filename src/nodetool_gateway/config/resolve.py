"""Resolve routes: merge the built-in defaults with the config, import each handler."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import ValidationError

from ._yaml import Positions
from .errors import ConfigError, Problem
from .models import Config, RouteConfig

__all__ = ["ResolvedRoute", "RouteTable", "resolve", "import_handler"]

Kind = Literal["command", "message"]


@dataclass(frozen=True, slots=True)
class ResolvedRoute:
    """A route with its handler imported (``func`` is ``None`` when resolved without imports).

    ``timeout`` falls back to ``limits.default_timeout``; ``concurrency`` is
    ``None`` when only the global limit applies. ``source`` is ``"default"`` for
    a built-in route, else ``"FILE:LINE"`` of its key (``"config"`` when unknown).
    """

    name: str
    kind: Kind
    target: str
    func: Callable[..., Any] | None
    timeout: float | None
    concurrency: int | None
    source: str
    blocking: bool = True


@dataclass(frozen=True)
class RouteTable:
    """The effective routes: command name or message type -> :class:`ResolvedRoute`."""

    commands: Mapping[str, ResolvedRoute]
    messages: Mapping[str, ResolvedRoute]
    disabled: frozenset[str]  # names set to null in the config


def import_handler(target: str) -> Callable[..., Any]:
    """Import ``"module:attr"`` (``attr`` may be dotted) and return it.

    Raises :class:`ImportError` with a message that says what to change.
    """
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (module_name == err.name or module_name.startswith(err.name + ".")):
            raise ImportError(
                f"no module named {err.name!r}; check the spelling, install it, "
                "or put it beside the config file"
            ) from err
        raise ImportError(_import_failed(module_name, err)) from err
    except Exception as err:  # noqa: BLE001 - a broken module must not take the node down
        raise ImportError(_import_failed(module_name, err)) from err
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(
                f"module {module_name!r} has no attribute {attr!r}; check the name after the colon"
            ) from None
    if not callable(obj):
        raise ImportError(
            f"{target!r} is not callable (it is {type(obj).__name__!r}); point it at a function"
        )
    return obj


def _import_failed(module_name: str, err: BaseException) -> str:
    return f"importing module {module_name!r} failed: {type(err).__name__}: {err}"


def _builtin_defaults() -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    from nodetool_gateway.handlers import builtin

    return builtin.DEFAULT_COMMANDS, builtin.DEFAULT_ROUTES


def resolve(
    config: Config,
    *,
    base_dir: Path | None = None,
    source_file: str | None = None,
    imports: bool = True,
) -> RouteTable:
    """Build the effective route table and import every handler.

    Effective = the built-in defaults (``nodetool_gateway.handlers.builtin``),
    then the config's ``commands`` and ``routes`` on top: an entry replaces the
    whole default route, ``null`` disables it. ``base_dir`` (default: the config
    file's folder) goes on ``sys.path`` so ``handlers:fn`` finds a
    ``handlers.py`` beside the config (last on the path: a ``json.py`` or ``yaml.py``
    there must not replace the real one). Raises :class:`ConfigError` naming every
    handler that cannot be imported, at its entry's line.

    ``imports=False`` builds the same table from the ``module:function`` strings
    alone: no user code runs and ``sys.path`` is left alone (``render``, ``routes``).
    """
    origin: Positions | None = config._origin
    file = source_file or (origin.file if origin is not None else None)
    if base_dir is None and file is not None:
        base_dir = Path(file).absolute().parent
    if imports:
        if base_dir is not None and str(base_dir) not in sys.path:
            # Last: the standard library and installed packages come first.
            sys.path.append(str(base_dir))
        # Handler files may have appeared since the last import (hot reload, tests).
        importlib.invalidate_caches()

    def where(loc: tuple[str, ...]) -> tuple[int, int]:
        return origin.line_col(loc) if origin is not None else (1, 1)

    default_commands, default_routes = _builtin_defaults()
    problems: list[Problem] = []
    # A module that does not import is reported once, at its first route, not per route.
    broken: dict[str, list[int]] = {}  # module -> [index of its problem, routes using it]
    disabled: set[str] = set()
    tables: dict[Kind, dict[str, ResolvedRoute]] = {"command": {}, "message": {}}
    sections: tuple[tuple[Kind, str, Mapping[str, Any], Mapping[str, RouteConfig | None]], ...] = (
        ("command", "commands", default_commands, config.commands),
        ("message", "routes", default_routes, config.routes),
    )
    for kind, section, defaults, entries in sections:
        # name -> (route, source, loc of its key in the file; None for a default)
        chosen: dict[str, tuple[RouteConfig, str, tuple[str, ...] | None]] = {}
        for name, raw in defaults.items():
            try:
                chosen[name] = (RouteConfig.model_validate(raw), "default", None)
            except ValidationError:
                line, col = where((section,))
                message = "the built-in route is invalid; override it, or set it to null"
                path = f"{section}.{name}"
                problems.append(Problem(file or "<config>", line, col, path, message))
        for name, route in entries.items():
            if route is None:
                chosen.pop(name, None)
                disabled.add(name)
                continue
            loc = (section, name)
            if origin is not None:
                source = f"{origin.file}:{where(loc)[0]}"
            else:
                source = source_file or "config"
            chosen[name] = (route, source, loc)

        for name, (route, source, loc) in chosen.items():
            module_name = route.handler.partition(":")[0]
            if module_name in broken:
                broken[module_name][1] += 1
                continue
            try:
                func = import_handler(route.handler) if imports else None
            except ImportError as err:
                if module_name not in sys.modules:
                    broken[module_name] = [len(problems), 1]
                message = str(err)
                if loc is None:
                    # A built-in route: the fix (override or disable) goes in the section.
                    loc = (section,)
                    message = (
                        f"built-in handler {route.handler!r}: {err}; "
                        f"or set {section}.{name}: null"
                    )
                line, col = where(loc)
                path = f"{section}.{name}.handler"
                problems.append(Problem(file or "<config>", line, col, path, message))
                continue
            timeout = route.timeout if route.timeout is not None else config.limits.default_timeout
            tables[kind][name] = ResolvedRoute(
                name=name,
                kind=kind,
                target=route.handler,
                func=func,
                timeout=timeout,
                concurrency=route.concurrency,
                source=source,
                blocking=route.blocking,
            )
    for index, uses in broken.values():
        if uses > 1:
            first = problems[index]
            problems[index] = dataclasses.replace(
                first, message=f"{first.message} (and {uses - 1} more routes using it)")
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.col)))
    return RouteTable(
        commands=MappingProxyType(tables["command"]),
        messages=MappingProxyType(tables["message"]),
        disabled=frozenset(disabled),
    )
