"""Hot reload: watch the config files and the user's code, rebuild off to the side, swap in one step.

A change is rendered, validated and resolved without touching the running
session. If that fails, one error line says where and why, and the last good
config keeps serving until the file changes again. If it succeeds, the new
snapshot is handed to the session, which swaps its routing table at once.
An edited handler or node module is imported afresh (see :mod:`.config.code`).

Nothing is read until the watched files have stopped changing for
:data:`SETTLE_MS`: an editor or a script that writes a file in pieces would
otherwise have its first half applied whenever that half happens to be valid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from pathlib import Path
from typing import Awaitable, Callable, Sequence

from ._watch import IDLE_STEP_MS, WatchHub
from .config import ConfigError, Snapshot, load
from .config.code import CodeFile, Fresh, stale

__all__ = ["ConfigWatcher"]

log = logging.getLogger("nodetool.gateway.reload")

# How long the watched files must keep the same size and mtime before they are read,
# and how long to wait for that before trying again at the next wake-up.
SETTLE_MS = 100
SETTLE_MAX_MS = 5000


class ConfigWatcher:
    """Watches a config file, its environment values file and its code for changes."""

    def __init__(self, path: str | Path, apply: Callable[[Snapshot], Awaitable[None]], *,
                 current: Snapshot, environment: str | None = None, sets: Sequence[str] = (),
                 step_ms: int = IDLE_STEP_MS, debounce_ms: int = 1600, settle_ms: int = SETTLE_MS,
                 settle_max_ms: int = SETTLE_MAX_MS):
        self.path = Path(path).resolve()
        self.environment = environment
        self.sets = tuple(sets)
        self.current = current
        self._apply = apply
        self._step_ms = step_ms
        self._debounce_ms = debounce_ms
        self._settle = settle_ms / 1000
        self._settle_max = settle_max_ms / 1000
        self.succeeded = 0
        self.failed = 0
        self.changes = 0  # batches of file changes seen
        self.unsettled = 0  # times the files were still changing after settle_max_ms
        self.ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._files: set[Path] = set()  # _watched_files() of _files_of
        self._files_of: Snapshot | None = None
        self._known: dict[Path, tuple[int, int] | None] = {}  # the files as last read

    def _watched_files(self) -> set[Path]:
        files = {Path(f).resolve() for f in self.current.files}
        files.update(c.path for c in self.current.code)
        files.add(self.path)
        if self.environment:
            files.add(self.path.parent / "environments" / f"{self.environment}.yaml")
        return files

    def _watched_dirs(self) -> list[Path]:
        # Directories, not files: editors often replace a file instead of writing it.
        dirs = {f.parent for f in self._watched_files()}
        return sorted(d for d in dirs if d.is_dir())

    def stamp(self) -> dict[Path, tuple[int, int] | None]:
        """The watched files' (mtime_ns, size) now: ``run(since=...)`` catches up from it."""
        stamps: dict[Path, tuple[int, int] | None] = {}
        for path in self._watched_files():
            try:
                st = path.stat()
                stamps[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamps[path] = None
        return stamps

    async def run(self, stop: asyncio.Event | None = None, *,
                  since: dict[Path, tuple[int, int] | None] | None = None,
                  hub: WatchHub | None = None) -> None:
        """Watch until ``stop`` is set (or the task is cancelled).

        ``since``: a :meth:`stamp` taken earlier; a file changed since then is
        reloaded at once (the watch starts a little after the node).
        ``hub``: the node's file watcher to share (see :mod:`._watch`); without
        one, this watcher runs its own.

        After a change the files are read only once they have settled (see
        :meth:`settled`); files that keep changing are tried again at the next
        change, until they hold still.
        """
        own = hub is None
        if own:
            hub = WatchHub()
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._recheck = False
        self._known = since if since is not None else self.stamp()
        tasks = []
        if own:
            tasks.append(loop.create_task(hub.run(stop), name="config-watch-hub"))
        if stop is not None:
            async def on_stop() -> None:
                await stop.wait()
                self._wake.set()
            tasks.append(loop.create_task(on_stop()))
        hub.subscribe(self)
        try:
            pending = self.stamp() != self._known
            if pending:
                pending = not await self._reload_settled(stop)
            while stop is None or not stop.is_set():
                if pending:
                    # Still being written: try again at the next change, or after a while.
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._settle_max)
                else:
                    await self._wake.wait()
                self._wake.clear()
                if stop is not None and stop.is_set():
                    return
                if self._recheck:
                    # The watch was (re)set up: an edit made before has no event.
                    self._recheck = False
                    if self.stamp() != self._known:
                        pending = True
                if self._seen:
                    self._seen = False
                    self.changes += 1
                    pending = True
                if pending:
                    dirs = self._watched_dirs()
                    pending = not await self._reload_settled(stop)
                    if self._watched_dirs() != dirs:
                        hub.refresh()  # a module from another folder: watch that folder too
        finally:
            hub.unsubscribe(self)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    # As a subscriber of the node's WatchHub

    _seen = False
    _recheck = False

    @property
    def debounce_ms(self) -> int:
        return self._debounce_ms

    @property
    def step_ms(self) -> int:
        return self._step_ms

    def watch_dirs(self) -> list[Path]:
        return self._watched_dirs()

    def accept(self, change, path: str) -> bool:
        if self._files_of is not self.current:
            self._files, self._files_of = self._watched_files(), self.current
        return Path(path).resolve() in self._files

    def changed(self, changes) -> None:
        self._seen = True
        self._wake.set()

    def watching(self, reopened: bool) -> None:
        self.ready.set()
        self._recheck = True
        self._wake.set()

    async def settled(self, stop: asyncio.Event | None = None) -> bool:
        """Wait until no watched file has changed for ``settle_ms``: each was last
        written at least that long ago, and its size and mtime hold across the wait
        (so a file written a while before the event costs no wait at all).

        Returns False if they are still changing after ``settle_max_ms``, or ``stop`` is set.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_max
        last = self.stamp()
        while True:
            newest = max((s[0] for s in last.values() if s is not None), default=0) / 1e9
            await asyncio.sleep(max(0.0, newest + self._settle - time.time()))
            if stop is not None and stop.is_set():
                return False
            now = self.stamp()
            if now == last:
                return True
            if loop.time() >= deadline:
                return False
            last = now

    async def _reload_settled(self, stop: asyncio.Event | None) -> bool:
        """Reload once the files have settled; False if they have not (try again later)."""
        if not await self.settled(stop):
            self.unsettled += 1
            log.debug("%s is still being written; trying again when it holds still", self.path)
            return False
        self._known = self.stamp()
        await self.reload()
        return True

    def _load(self, changed: list[CodeFile]) -> tuple[Snapshot, Fresh | None]:
        # Changed code: forget those modules, so this load imports them from the files;
        # a failure puts them back.
        fresh = Fresh(changed) if changed else None
        try:
            return load(self.path, environment=self.environment, sets=self.sets), fresh
        except BaseException:
            if fresh is not None:
                fresh.restore()
            raise

    async def reload(self) -> bool:
        """Rebuild from the files now; apply on success. Returns whether it applied."""
        changed = stale(self.current.code, self.path.parent)
        try:
            snapshot, fresh = await asyncio.to_thread(self._load, changed)
        except ConfigError as exc:
            self.failed += 1
            problems = "; ".join(str(p) for p in exc.problems) or str(exc)
            log.error("reload failed, still serving the last good config: %s", problems)
            return False
        except Exception as exc:  # a handler module that raises on import, say
            self.failed += 1
            log.error("reload failed, still serving the last good config: %s: %s: %s",
                      self.path, type(exc).__name__, exc)
            return False
        if snapshot.config == self.current.config and snapshot.code == self.current.code:
            log.debug("%s changed but the config did not", self.path)
            return False
        try:
            await self._apply(snapshot)
        except Exception as exc:
            if fresh is not None:
                fresh.restore()
            self.failed += 1
            log.error("reload failed, still serving the last good config: %s: %s: %s",
                      self.path, type(exc).__name__, exc)
            return False
        self.current = snapshot
        self.succeeded += 1
        if changed:
            log.info("reloaded %s with fresh code (%s changed)", self.path,
                     ", ".join(sorted({c.path.name for c in changed})))
        else:
            log.info("reloaded %s", self.path)
        return True
