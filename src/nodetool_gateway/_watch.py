"""One file watcher per node: a hub that owns a single ``watchfiles.RustNotify``.

The config watcher (:mod:`.reload`) and the workflow folders
(:class:`.stores.WorkflowStore`) subscribe to a :class:`WatchHub`. The hub
watches the union of the directories they want (non-recursively) with one
inotify instance, and hands each batch of changes to the subscribers whose
filter accepts them. When the set of directories changes (a folder appears or
goes away, a reload brings a module from another folder) the hub sets its
watch up again and tells every subscriber, which then catches up on what it
may have missed (see :meth:`Subscriber.watching`).

Idle, the hub costs nothing beyond the library's own loop: the watch is a
blocking ``RustNotify.watch`` in one thread with no time-out, stopped through
its stop event (as ``watchfiles.awatch`` does).

If the watch cannot be set up (the per-user inotify limit, say), the hub logs
one warning and polls the directories every :data:`POLL_DELAY_MS`
instead; if even that fails, one more warning says edits are no longer
followed. A watcher problem never ends the hub's task with an error.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

__all__ = ["IDLE_STEP_MS", "POLL_DELAY_MS", "Subscriber", "WatchHub", "current_hub", "use_hub"]

log = logging.getLogger("nodetool.gateway.watch")

# How often the watch thread looks for file events (watchfiles' ``step``): each look is a
# wake-up, so this is what an idle node costs (0.13 % of a core at 50 ms, about a quarter
# of that at 200 ms: a hundred idle nodes under 5 % of a core together), and about what
# an edit waits before it is seen.
IDLE_STEP_MS = 200
# Polling, when the watch cannot be set up: how often the directories are listed.
POLL_DELAY_MS = 2000
# Polling chosen by the user (WATCHFILES_FORCE_POLLING, as watchfiles reads it): watchfiles' delay.
CHOSEN_POLL_DELAY_MS = 300
# A missing directory is skipped; one that goes between the check and the watch is retried.
_RACE_RETRIES = 5

_current: contextvars.ContextVar[WatchHub | None] = contextvars.ContextVar(
    "nodetool_gateway_watch_hub", default=None)


def current_hub() -> WatchHub | None:
    """The hub of the node this task belongs to (set by ``run``/``connect``), if any."""
    return _current.get()


def use_hub(hub: WatchHub | None) -> contextvars.Token:
    """Make ``hub`` the one tasks created from now on in this context subscribe to."""
    return _current.set(hub)


class Subscriber(Protocol):
    """What the hub asks of a subscriber; all of it is called on the event loop."""

    debounce_ms: int
    step_ms: int

    def watch_dirs(self) -> Iterable[Path]:
        """Directories to watch (non-recursively); missing ones are skipped."""

    def accept(self, change: Any, path: str) -> bool:
        """Whether this change (a ``watchfiles.Change``, the path as reported) is wanted."""

    def changed(self, changes: set[tuple[Any, str]]) -> None:
        """A batch of accepted changes; must not block."""

    def watching(self, reopened: bool) -> None:
        """The watch is in place for this subscriber's directories (first time, or
        ``reopened``: set up again, so changes made meanwhile may have no event)."""


def _env_force_polling() -> bool:
    value = os.getenv("WATCHFILES_FORCE_POLLING")
    return bool(value) and value.lower() not in {"false", "disable", "disabled"}


def _env_poll_delay(default: int) -> int:
    value = os.getenv("WATCHFILES_POLL_DELAY_MS")
    return int(value) if value and value.isdecimal() else default


def explain(exc: BaseException) -> str:
    """Why a watch could not be set up, in words an operator can act on."""
    text = str(exc) or type(exc).__name__
    code = getattr(exc, "errno", None)
    if code == errno.EMFILE or "Too many open files" in text or "os error 24" in text:
        return (f"{text}: the per-user inotify limit, fs.inotify.max_user_instances, "
                f"or the open-files limit is reached")
    if code == errno.ENOSPC or "No space left on device" in text or "os error 28" in text:
        return f"{text}: the per-user inotify watch limit, fs.inotify.max_user_watches, is reached"
    return text


class WatchHub:
    """One ``RustNotify`` for every subscriber; run it with :meth:`run`.

    ``force_polling``: None reads ``WATCHFILES_FORCE_POLLING`` as watchfiles does.
    ``poll_delay_ms``: the polling interval after a failed watch.

    Counters for callers and tests: :attr:`opened` (watches set up), :attr:`returns`
    (times the blocking watch came back: a batch, a stop, or a time-out — which it
    never has, since it waits without one), :attr:`mode` (``"native"``,
    ``"polling"``, ``"off"``, or None while nothing is watched).
    """

    timeout_ms = 0  # RustNotify.watch's time-out: none; it is stopped by its stop event

    def __init__(self, *, force_polling: bool | None = None, poll_delay_ms: int = POLL_DELAY_MS):
        self._polling = _env_force_polling() if force_polling is None else force_polling
        self._chosen = self._polling
        self._poll_delay = _env_poll_delay(CHOSEN_POLL_DELAY_MS if self._polling else poll_delay_ms)
        self._fallback_delay = poll_delay_ms
        self._off = False
        self._force = False
        self._caught_up = True
        self._subs: list[Subscriber] = []
        self._told: set[int] = set()  # ids of subscribers told the watch is in place
        self._interrupt = threading.Event()  # stops the blocking watch: reconfigure or stop
        self._wake = asyncio.Event()
        self.dirs: tuple[Path, ...] = ()
        self.mode: str | None = None
        self.opened = 0
        self.returns = 0
        self.batches = 0

    # Subscribers

    def subscribe(self, sub: Subscriber) -> None:
        if sub not in self._subs:
            self._subs.append(sub)
        self.refresh()

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._told.discard(id(sub))
            self.refresh()

    def reopen(self) -> None:
        """Set the watch up again even if the directories are the same (one was replaced)."""
        self._force = True
        self.refresh()

    def refresh(self) -> None:
        """A subscriber's directories may have changed: look again at once."""
        self._interrupt.set()
        self._wake.set()

    # Running

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch until ``stop`` is set or the task is cancelled; never raises otherwise."""
        loop = asyncio.get_running_loop()
        relay = None
        if stop is not None:
            async def on_stop() -> None:
                await stop.wait()
                self._interrupt.set()
                self._wake.set()
            relay = loop.create_task(on_stop())
        notify = None
        try:
            while stop is None or not stop.is_set():
                self._interrupt.clear()
                self._wake.clear()
                dirs = self._wanted()
                force, self._force = self._force, False
                if force or dirs != self.dirs or (notify is None and dirs and not self._off):
                    closed = notify is not None
                    if closed:
                        notify.close()
                        notify = None
                    notify, dirs = await self._open(dirs, closed)
                    self.dirs = dirs
                    self._tell(reopened=True)
                else:
                    self._tell(reopened=not self._caught_up)
                self._caught_up = True
                if notify is None:  # nothing to watch, or watching is off: wait for a change
                    await self._wake.wait()
                    continue
                debounce, step = self._timing()
                future = _in_thread(loop, notify.watch, debounce, step, self.timeout_ms,
                                    self._interrupt)
                try:
                    raw = await asyncio.shield(future)
                except asyncio.CancelledError:
                    self._interrupt.set()
                    await asyncio.wait([future])
                    raise
                except (OSError, RuntimeError) as exc:  # the watch broke (WatchfilesRustInternalError)
                    notify.close()
                    notify = None
                    self._degrade(exc)
                    continue
                self.returns += 1
                if isinstance(raw, set):
                    self._dispatch(raw)
                elif raw == "stop":
                    # Stopped to look again: RustNotify drops what it had gathered, so
                    # every subscriber catches up as after a new watch.
                    self._caught_up = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let the watcher break the node or its shutdown
            log.warning("file watcher stopped: %s: %s; edits are no longer followed",
                        type(exc).__name__, exc)
        finally:
            if notify is not None:
                notify.close()
            if relay is not None:
                relay.cancel()
            self.mode = None

    # Internals

    def _wanted(self) -> tuple[Path, ...]:
        dirs: set[Path] = set()
        for sub in self._subs:
            dirs.update(Path(d) for d in sub.watch_dirs())
        return tuple(sorted(d for d in dirs if d.is_dir()))

    def _timing(self) -> tuple[int, int]:
        debounce = min((s.debounce_ms for s in self._subs), default=1600)
        step = min((s.step_ms for s in self._subs), default=IDLE_STEP_MS)
        return debounce, step

    def _tell(self, *, reopened: bool) -> None:
        for sub in list(self._subs):
            if reopened or id(sub) not in self._told:
                self._told.add(id(sub))
                sub.watching(reopened)

    async def _open(self, dirs: tuple[Path, ...], closed: bool):
        """A RustNotify over ``dirs`` (None if there are none, or watching is off).

        ``closed``: one was closed just now; its thread gives its inotify instance
        back a moment later, so at the limit the first try may fail and is retried."""
        from watchfiles._rust_notify import RustNotify

        retries = 0
        while dirs and not self._off:
            try:
                notify = RustNotify([str(d) for d in dirs], False, self._polling,
                                    self._poll_delay, False, _ignore_permission_denied())
            except FileNotFoundError as exc:
                retries += 1  # a folder went between the check and the watch: look again
                if retries > _RACE_RETRIES:
                    self._degrade(exc)
                dirs = self._wanted()
                continue
            except (OSError, RuntimeError) as exc:
                if closed and not self._polling:
                    closed = False
                    await asyncio.sleep(0.2)
                    continue
                self._degrade(exc)
                continue
            self.opened += 1
            self.mode = "polling" if self._polling else "native"
            log.debug("watching %s (%s)", ", ".join(map(str, dirs)), self.mode)
            return notify, dirs
        self.mode = "off" if self._off else None
        return None, dirs

    def _degrade(self, exc: BaseException) -> None:
        """Native watch failed: poll (one warning). Polling failed: stop (one warning)."""
        if not self._polling:
            self._polling = True
            self._poll_delay = self._fallback_delay
            log.warning("cannot watch files for changes (%s); polling them every %gs instead",
                        explain(exc), self._poll_delay / 1000)
        else:
            self._off = True
            log.warning("cannot watch files for changes, not even by polling (%s); hot reload "
                        "and workflow folder updates are off", explain(exc))

    def _dispatch(self, raw: set[tuple[int, str]]) -> None:
        from watchfiles import Change

        self.batches += 1
        changes = {(Change(c), p) for c, p in raw}
        for sub in list(self._subs):
            try:
                mine = {(c, p) for c, p in changes if sub.accept(c, p)}
                if mine:
                    sub.changed(mine)
            except Exception:  # one subscriber's bug must not stop the others' watch
                log.exception("file watcher: a subscriber failed on %d changes", len(changes))


def _in_thread(loop: asyncio.AbstractEventLoop, fn, *args) -> asyncio.Future:
    """Run ``fn`` in a daemon thread of its own (a blocked watch never holds up the
    interpreter's exit, as a pool thread would); its result as a future of ``loop``."""
    future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # handed to the loop, raised there
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    threading.Thread(target=target, name="nodetool-watch", daemon=True).start()
    return future


def _ignore_permission_denied() -> bool:
    return bool(os.getenv("WATCHFILES_IGNORE_PERMISSION_DENIED"))
