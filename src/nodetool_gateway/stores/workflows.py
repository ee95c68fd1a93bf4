"""NodeTool workflow JSON files from folders on disk, kept current by a watcher.

Each folder is read non-recursively (``*.json`` directly inside it; hidden
files are skipped). The user's folders come first, in the order given; the
bundled examples last, so a user's file wins when two files share an id.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from .._watch import IDLE_STEP_MS, WatchHub

__all__ = ["WorkflowStore"]

log = logging.getLogger("nodetool.gateway.workflows")

_SUMMARY_FIELDS = ("id", "name", "description", "tags", "created_at", "updated_at")


@dataclass(frozen=True)
class _Entry:
    path: Path
    rank: int
    data: dict[str, Any]
    summary: dict[str, Any]

    @property
    def id(self) -> str:
        return self.summary["id"]


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for t in value if isinstance(t, str)]
    return []


def _load(path: Path, rank: int) -> tuple[_Entry | None, str | None, tuple | None]:
    """Read one file: (entry, None, signature) or (None, reason, signature)."""
    try:
        st = path.stat()
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}", None
    signature = _signature(st)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"not JSON: {exc}", signature
    if not isinstance(data, dict):
        kind = type(data).__name__
        return None, f"not a NodeTool workflow: the top level is a JSON {kind}, not an object", signature
    graph = data.get("graph")
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) \
            or not isinstance(graph.get("edges"), list):
        return None, "not a NodeTool workflow: no 'graph' object with 'nodes' and 'edges' lists", signature
    mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat()
    workflow_id = data.get("id") if isinstance(data.get("id"), str) and data["id"] else path.stem
    name = data.get("name") if isinstance(data.get("name"), str) and data["name"] else path.stem
    summary = {
        "id": workflow_id,
        "name": name,
        "description": _text(data.get("description")),
        "tags": _tags(data.get("tags")),
        "created_at": data.get("created_at") or mtime,
        "updated_at": data.get("updated_at") or mtime,
    }
    return _Entry(path, rank, data, summary), None, signature


@dataclass(frozen=True)
class _View:
    """What readers see; replaced as a whole after each change."""

    by_id: dict[str, _Entry]
    ordered: list[_Entry]


class WorkflowStore:
    """Workflows from ``paths`` (the user's folders) and ``bundled`` (read-only examples).

    :meth:`scan` reads every folder; :meth:`watch` follows changes in the
    user's folders. A file that is not a workflow is skipped, kept in
    :attr:`errors` with the reason, and logged once per change of that file.
    """

    def __init__(self, paths: Iterable[Path], bundled: Path | None = None):
        self.user_folders: list[Path] = []
        for p in paths:
            folder = Path(p).expanduser().resolve()
            if folder not in self.user_folders:
                self.user_folders.append(folder)
        self.bundled = Path(bundled).expanduser().resolve() if bundled is not None else None
        self.folders = list(self.user_folders)
        if self.bundled is not None and self.bundled not in self.folders:
            self.folders.append(self.bundled)
        self.errors: dict[Path, str] = {}
        self._files: dict[Path, _Entry] = {}
        self._logged: dict[Path, tuple[Any, str]] = {}
        self._lock = threading.RLock()
        self._view = _View({}, [])
        # Watch progress, for callers (and tests) that wait on it.
        self.changed = 0
        self._changed_event = asyncio.Event()
        self._watching = asyncio.Event()

    # Reading

    def scan(self) -> None:
        """(Re)read every folder."""
        with self._lock:
            files: dict[Path, _Entry] = {}
            errors: dict[Path, str] = {}
            for rank, folder in enumerate(self.folders):
                for path in self._json_files(folder):
                    entry, error, signature = _load(path, rank)
                    if entry is not None:
                        files[path] = entry
                    else:
                        errors[path] = error
                        self._report(path, signature, error)
            self._files = files
            self.errors = errors
            for path in [p for p in self._logged if p not in errors]:
                del self._logged[path]
            self._rebuild()

    def refresh(self, paths: Iterable[Path]) -> None:
        """Re-read just these files (added, changed or deleted)."""
        with self._lock:
            errors = dict(self.errors)
            for path in paths:
                path = Path(path)
                rank = self._rank(path)
                if rank is None:
                    continue
                self._files.pop(path, None)
                errors.pop(path, None)
                if path.is_file() and not path.name.startswith("."):
                    entry, error, signature = _load(path, rank)
                    if entry is not None:
                        self._files[path] = entry
                    elif signature is not None:  # None: gone between the check and the read
                        errors[path] = error
                        self._report(path, signature, error)
                        continue
                self._logged.pop(path, None)
            self.errors = errors
            self._rebuild()

    def list(self, query: str | None = None, limit: int = 100,
             offset: int = 0, source: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Summaries ``{id, name, description, tags, created_at, updated_at}`` by name, and the count.

        ``query`` matches part of the name, the description or a tag, ignoring case;
        ``offset`` skips that many matches; ``source`` ``"user"`` keeps the user's
        folders' workflows, ``"bundled"`` the bundled examples', None both.
        """
        entries = self._view.ordered
        if source is not None:
            # Ranks follow self.folders: the user's folders first, then the bundled one.
            bundled = source == "bundled"
            entries = [e for e in entries if (e.rank >= len(self.user_folders)) == bundled]
        if query:
            needle = query.casefold()
            entries = [e for e in entries if needle in e.summary["name"].casefold()
                       or needle in e.summary["description"].casefold()
                       or any(needle in t.casefold() for t in e.summary["tags"])]
        start = max(0, int(offset))
        page = entries[start:start + max(0, int(limit))]
        return [{**e.summary, "tags": list(e.summary["tags"])} for e in page], len(entries)

    def get(self, workflow_id: str) -> dict[str, Any] | None:
        """The whole workflow JSON (a copy), with ``id`` and ``name`` filled in; or None."""
        entry = self._view.by_id.get(workflow_id)
        if entry is None:
            return None
        data = copy.deepcopy(entry.data)
        data["id"] = entry.summary["id"]
        data["name"] = entry.summary["name"]
        return data

    def source(self, workflow_id: str) -> Path | None:
        """The file a workflow was read from."""
        entry = self._view.by_id.get(workflow_id)
        return None if entry is None else entry.path

    # Watching

    async def watch(self, stop: asyncio.Event | None = None, *, debounce: int = 1600,
                    step: int = IDLE_STEP_MS, hub: WatchHub | None = None) -> None:
        """Follow changes in the user's folders until ``stop`` is set (or cancelled).

        A changed file is re-read on its own. A folder that does not exist yet
        is waited for by watching its nearest existing parent; when it
        appears (or a watched folder goes away) the watches are set up again
        and everything is re-read. The bundled folder is not watched.
        ``debounce`` and ``step`` are watchfiles' (milliseconds).
        ``hub``: the node's file watcher to share (see :mod:`.._watch`); without
        one, this store runs its own.
        """
        own = hub is None
        if own:
            hub = WatchHub()
        loop = asyncio.get_running_loop()
        sub = _FolderWatch(self, debounce, step)
        sub.hub = hub
        tasks = []
        if own:
            tasks.append(loop.create_task(hub.run(stop), name="workflow-watch-hub"))
        if stop is not None:
            async def on_stop() -> None:
                await stop.wait()
                sub.wake.set()
            tasks.append(loop.create_task(on_stop()))
        hub.subscribe(sub)
        try:
            while stop is None or not stop.is_set():
                await sub.wake.wait()
                sub.wake.clear()
                if stop is not None and stop.is_set():
                    return
                if sub.rescan:
                    sub.rescan = False
                    sub.paths.clear()
                    await asyncio.to_thread(self.scan)
                    self._bump()
                    self._watching.set()
                elif sub.paths:
                    paths, sub.paths = sub.paths, set()
                    await asyncio.to_thread(self.refresh, paths)
                    self._bump()
        finally:
            hub.unsubscribe(sub)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_watching(self) -> None:
        """Return once :meth:`watch` has set up its watches and re-read the folders."""
        await self._watching.wait()

    async def wait_changed(self, after: int, timeout: float | None = None) -> int:
        """Wait until :attr:`changed` exceeds ``after`` (TimeoutError after ``timeout`` s)."""
        async with asyncio.timeout(timeout):
            while self.changed <= after:
                await self._changed_event.wait()
        return self.changed

    # Internals

    def _bump(self) -> None:
        self.changed += 1
        event, self._changed_event = self._changed_event, asyncio.Event()
        event.set()

    def _watch_targets(self) -> tuple[list[Path], set[Path]]:
        """Folders to watch, and the paths whose change means "set up the watches again"."""
        targets: list[Path] = []
        triggers: set[Path] = set()
        for folder in self.user_folders:
            triggers.add(folder)
            target = folder
            while not target.is_dir() and target.parent != target:
                triggers.add(target)
                target = target.parent
            if target not in targets:
                targets.append(target)
        return targets, triggers

    def _json_files(self, folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir()
                          if p.suffix == ".json" and not p.name.startswith(".") and p.is_file())
        except OSError:  # missing folders are fine: there is nothing in them yet
            return []

    def _rank(self, path: Path) -> int | None:
        try:
            return self.folders.index(path.parent)
        except ValueError:
            return None

    def _report(self, path: Path, signature: Any, error: str) -> None:
        if self._logged.get(path) != (signature, error):
            self._logged[path] = (signature, error)
            log.warning("%s: skipped: %s", path, error)

    def _rebuild(self) -> None:
        by_id: dict[str, _Entry] = {}
        for entry in sorted(self._files.values(), key=lambda e: (e.rank, e.path.name)):
            other = by_id.get(entry.id)
            if other is None:
                by_id[entry.id] = entry
            elif other.rank == entry.rank:
                log.debug("%s: id %r is also in %s; using the first", entry.path, entry.id, other.path)
        ordered = sorted(by_id.values(), key=lambda e: (e.summary["name"].casefold(), e.id))
        self._view = _View(by_id, ordered)


class _FolderWatch:
    """The store's subscription to a :class:`~nodetool_gateway._watch.WatchHub`."""

    def __init__(self, store: WorkflowStore, debounce_ms: int, step_ms: int):
        self.store = store
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.wake = asyncio.Event()
        self.rescan = False
        self.paths: set[Path] = set()
        self.hub: WatchHub | None = None
        self._targets: list[Path] = []
        self._triggers: set[Path] = set()
        self._folders: set[Path] = set()

    def watch_dirs(self) -> list[Path]:
        self._targets, self._triggers = self.store._watch_targets()
        self._folders = {f for f in self.store.user_folders if f.is_dir()}
        return self._targets

    def accept(self, change: Any, raw: str) -> bool:
        from watchfiles import Change

        path = Path(raw)
        if path in self._triggers:
            # A watched folder is "modified" when a file in it is added or
            # removed (polling reports that); only its coming or going counts.
            return change != Change.modified
        return (path.suffix == ".json" and path.parent in self._folders
                and not path.name.startswith("."))

    def changed(self, changes: set[tuple[Any, str]]) -> None:
        from watchfiles import Change

        if any(change != Change.modified for change, raw in changes if Path(raw) in self._triggers):
            # A folder came or went: set the watches up again (the hub then calls
            # watching(), and everything is re-read).
            if self.hub is not None:
                self.hub.reopen()
            return
        self.paths.update(Path(raw) for _change, raw in changes)
        self.wake.set()

    def watching(self, reopened: bool) -> None:
        # First time, or the watch was set up again: changes meanwhile may have no event.
        self.rescan = True
        self.wake.set()
