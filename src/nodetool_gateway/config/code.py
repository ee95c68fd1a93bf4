"""The user's code behind a config: which files it is, and importing it afresh on a reload.

The user's code is every module a route's ``module:function`` or ``nodes.modules`` names
(and their parent packages), and every module imported from the config's folder (a
``utils.py`` the handlers import), except the standard library, installed packages and
this package. Python imports a module once per process; so that a hot reload picks up an
edited handler, a reload forgets each module whose file changed, and each user module that
imports from one (``from utils import f`` holds the old ``f``), and the new snapshot
imports them afresh; the others stay as they are, state and all. Calls already running
keep the functions (and module globals) they started with; a reload that fails puts the
old modules back.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .errors import ConfigError, Problem
from .models import Config
from .resolve import RouteTable

__all__ = ["CodeFile", "Fresh", "import_node_modules", "record", "stale"]

Stamp = tuple[int, int] | None


@dataclass(frozen=True, order=True)
class CodeFile:
    """One module of the user's code and its file's ``(mtime_ns, size)`` when imported."""

    module: str
    path: Path
    stamp: Stamp

    def changed(self) -> bool:
        return _stamp(self.path) != self.stamp


def _stamp(path: Path) -> Stamp:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _installed_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(str(Path(__file__).resolve().parents[1]))  # nodetool_gateway itself
    return tuple(Path(r).resolve() for r in roots)


_INSTALLED = _installed_roots()
# The same as text, as given and resolved: most modules are ruled out by a prefix test,
# without resolving their paths (a few hundred realpath calls at every load).
_INSTALLED_PREFIXES = tuple({os.path.join(str(r), "") for r in _INSTALLED} | {
    os.path.join(os.path.abspath(v), "") for k, v in sysconfig.get_paths().items()
    if k in ("stdlib", "platstdlib", "purelib", "platlib")})
# module name -> its file as first imported; every module ever counted as user code.
_loaded: dict[str, CodeFile] = {}
_lock = threading.Lock()


def _file_of(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py") or file.startswith(_INSTALLED_PREFIXES):
        return None  # namespace packages, extension modules, installed code: nothing to re-run
    path = Path(file).resolve()
    return None if any(path.is_relative_to(root) for root in _INSTALLED) else path


def _named(config: Config, routes: RouteTable) -> set[str]:
    names = set(config.nodes.modules)
    for route in (*routes.commands.values(), *routes.messages.values()):
        names.add(route.target.partition(":")[0])
    for name in list(names):
        parts = name.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return names


def import_node_modules(config: Config) -> None:
    """Import ``nodes.modules`` now, so one that fails is a config error (on a reload too)."""
    origin = config._origin
    problems = []
    for i, name in enumerate(config.nodes.modules):
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - any failure is reported at its entry
            line, col = origin.line_col(("nodes", "modules", i)) if origin else (1, 1)
            problems.append(Problem(origin.file if origin else "<config>", line, col,
                                    f"nodes.modules.{i}",
                                    f"importing node module {name!r} failed: "
                                    f"{type(err).__name__}: {err}"))
    if problems:
        raise ConfigError(problems)


def record(config: Config, routes: RouteTable, base_dir: Path | None) -> tuple[CodeFile, ...]:
    """The user's code in ``sys.modules`` for this config, remembered for :func:`stale`."""
    named = _named(config, routes)
    base = base_dir.resolve() if base_dir is not None else None
    found: list[CodeFile] = []
    with _lock:
        for name, module in list(sys.modules.items()):
            if module is None:
                continue
            path = _file_of(module)
            if path is None:
                continue
            if name in named or name in _loaded or (base is not None and path.is_relative_to(base)):
                entry = _loaded.get(name)
                if entry is None or entry.path != path:
                    entry = _loaded[name] = CodeFile(name, path, _stamp(path))
                if name in named or (base is not None and path.is_relative_to(base)):
                    found.append(entry)
    return tuple(sorted(found))


def stale(code: Iterable[CodeFile], folder: Path | None) -> list[CodeFile]:
    """Of ``code`` and the user's modules under ``folder``, those whose files changed."""
    names = {c.module for c in code}
    base = folder.resolve() if folder is not None else None
    with _lock:
        return [entry for entry in _loaded.values()
                if (entry.module in names or (base is not None and entry.path.is_relative_to(base)))
                and entry.changed()]


def _importers(changed: set[str]) -> set[str]:
    """``changed`` and every user module holding a module or an object from one of them."""
    found = set(changed)
    while True:
        more = set()
        for name in _loaded.keys() - found:
            module = sys.modules.get(name)
            if module is None:
                continue
            for value in list(vars(module).values()):
                try:
                    owner = (value.__name__ if isinstance(value, ModuleType)
                             else getattr(value, "__module__", None))
                except Exception:  # noqa: BLE001 - an object with a strange __getattr__
                    continue
                if isinstance(owner, str) and owner in found:
                    more.add(name)
                    break
        if not more:
            return found
        found |= more


class Fresh:
    """Forget the changed modules of the user's code (and their importers), so the next
    import reads their files again; :meth:`restore` puts them back (a failed reload).
    """

    def __init__(self, changed: Iterable[CodeFile]):
        with _lock:
            names = _importers({c.module for c in changed})
            self._entries = {name: _loaded.pop(name) for name in names if name in _loaded}
            self._modules = {name: sys.modules.pop(name) for name in names if name in sys.modules}
            for entry in self._entries.values():
                # A .pyc written in the same second for a file of the same size would pass
                # for the new source: drop it.
                if entry.changed():
                    cached = Path(importlib.util.cache_from_source(str(entry.path)))
                    cached.unlink(missing_ok=True)
        importlib.invalidate_caches()

    @property
    def modules(self) -> list[str]:
        return sorted(self._modules)

    def restore(self) -> None:
        with _lock:
            for name in self._entries:
                sys.modules.pop(name, None)
            sys.modules.update(self._modules)
            _loaded.update(self._entries)
