"""Hot reload: watch the config files, rebuild off to the side, swap in one step.

A change is rendered, validated and resolved without touching the running
session. If that fails, one error line says where and why, and the last good
config keeps serving until the file changes again. If it succeeds, the new
snapshot is handed to the session, which swaps its routing table at once.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Awaitable, Callable, Sequence

from .config import ConfigError, Snapshot, load

__all__ = ["ConfigWatcher"]

log = logging.getLogger("nodetool.gateway.reload")


class ConfigWatcher:
    """Watches a config file (and its environment values file) for changes."""

    def __init__(self, path: str | Path, apply: Callable[[Snapshot], Awaitable[None]], *,
                 current: Snapshot, environment: str | None = None, sets: Sequence[str] = (),
                 step_ms: int = 50, debounce_ms: int = 1600):
        self.path = Path(path).resolve()
        self.environment = environment
        self.sets = tuple(sets)
        self.current = current
        self._apply = apply
        self._step_ms = step_ms
        self._debounce_ms = debounce_ms
        self.succeeded = 0
        self.failed = 0
        self.ready = asyncio.Event()

    def _watched_files(self) -> set[Path]:
        files = {Path(f).resolve() for f in self.current.files}
        files.add(self.path)
        if self.environment:
            files.add(self.path.parent / "environments" / f"{self.environment}.yaml")
        return files

    def _watched_dirs(self) -> list[Path]:
        # Directories, not files: editors often replace a file instead of writing it.
        dirs = {f.parent for f in self._watched_files()}
        return sorted(d for d in dirs if d.is_dir())

    def stamp(self) -> dict[Path, tuple[int, int] | None]:
        """The watched files' (mtime, size) now: ``run(since=...)`` catches up from it."""
        stamps: dict[Path, tuple[int, int] | None] = {}
        for path in self._watched_files():
            try:
                st = path.stat()
                stamps[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamps[path] = None
        return stamps

    async def run(self, stop: asyncio.Event | None = None, *,
                  since: dict[Path, tuple[int, int] | None] | None = None) -> None:
        """Watch until ``stop`` is set (or the task is cancelled).

        ``since``: a :meth:`stamp` taken earlier; a file changed since then is
        reloaded at once (the watch starts a little after the node).
        """
        from watchfiles import awatch

        if since is not None and self.stamp() != since:
            await self.reload()
        files = self._watched_files()
        watcher = awatch(*self._watched_dirs(), stop_event=stop, recursive=False,
                         step=self._step_ms, debounce=self._debounce_ms,
                         watch_filter=lambda _change, p: Path(p).resolve() in files,
                         # Wake up now and then so `ready` says the watch is in place.
                         yield_on_timeout=True, rust_timeout=250)
        async for changes in watcher:
            self.ready.set()
            if not changes:
                continue
            await self.reload()
            files = self._watched_files()

    async def reload(self) -> bool:
        """Rebuild from the files now; apply on success. Returns whether it applied."""
        try:
            snapshot = await asyncio.to_thread(
                load, self.path, environment=self.environment, sets=self.sets)
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
        if snapshot.config == self.current.config:
            log.debug("%s changed but the config did not", self.path)
            return False
        try:
            await self._apply(snapshot)
        except Exception as exc:
            self.failed += 1
            log.error("reload failed, still serving the last good config: %s: %s: %s",
                      self.path, type(exc).__name__, exc)
            return False
        self.current = snapshot
        self.succeeded += 1
        log.info("reloaded %s", self.path)
        return True
