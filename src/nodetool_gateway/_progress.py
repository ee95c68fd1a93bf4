"""How ``call`` and ``demo`` show a request's progress.

On a terminal, one live line that is rewritten in place (what runs, progress
n/total, time elapsed), with only lasting events (the job's end, errors, logs)
and a model's streamed tokens printed above it. Elsewhere (a pipe, a file, a
log), one line per event, as they arrive.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["Progress", "format_update", "is_live_terminal"]

# Erase the current line and go back to its start.
_CLEAR = "\r\x1b[K"
# Seconds between repaints of the live line for updates (ticks always repaint).
_REPAINT = 0.05
# Job statuses that end a job: their line stays on screen.
_JOB_ENDS = frozenset({"completed", "failed", "cancelled", "error"})


def is_live_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal that can rewrite a line in place."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real stream
        return False
    return tty and os.environ.get("TERM") != "dumb"


def _terminal_width(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


class Progress:
    """Shows the ``ack`` and ``workflow_update`` frames of one request as they come.

    ``write`` takes text as is (newlines included). With ``live``, a status line
    is kept at the bottom and rewritten with a carriage return; call :meth:`tick`
    (or run :meth:`keep_ticking`) to keep its clock moving, and :meth:`close` to
    erase it before printing anything else. ``indent`` starts every line.
    """

    def __init__(
        self,
        write: Callable[[str], Any],
        *,
        live: bool = False,
        width: Callable[[], int] = lambda: 80,
        indent: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self.live = live
        self._width = width
        self._indent = indent
        self._clock = clock
        self._start = clock()
        self._label = "sent"  # what is happening now
        self._count = ""  # the latest node_progress, "n/total"
        self._names: dict[str, str] = {}  # node id -> node name, from node_update
        self._streaming: set[str] = set()  # nodes whose tokens are being written
        self._shown = False  # a live line is on screen
        self._drawn = float("-inf")  # when it was last drawn
        self._at_line_start = True

    @classmethod
    def for_stream(cls, stream: IO[str], **kwargs: Any) -> Progress:
        """A :class:`Progress` writing to ``stream``, live when it is a terminal."""

        def write(text: str) -> None:
            stream.write(text)
            stream.flush()

        return cls(write, live=is_live_terminal(stream), width=lambda: _terminal_width(stream),
                   **kwargs)

    # In

    def update(self, frame: dict[str, Any]) -> None:
        """Show one frame (use as an ``on_update`` callback)."""
        data = frame.get("data")
        if frame.get("update_type") == "chunk" and isinstance(data, dict):
            self._chunk(data)
            return
        if not self.live:
            line = format_update(frame)
            if line is not None:
                self._line(line)
            return
        lasting = self._follow(frame)
        if lasting is not None:
            self._erase()
            self._line(lasting)
        # Hundreds of updates a second need not each repaint: the next tick shows the last.
        self._draw(force=lasting is not None)

    def tick(self) -> None:
        """Redraw the live line, so its clock moves while nothing arrives."""
        self._draw(force=True)

    async def keep_ticking(self, period: float = 0.2) -> None:
        """Tick every ``period`` seconds until cancelled (nothing to do when not live)."""
        if not self.live:
            return
        while True:
            await asyncio.sleep(period)
            self.tick()

    def close(self) -> None:
        """Erase the live line and end a line of tokens left open."""
        if self._streaming or not self._at_line_start:
            self._streaming.clear()
            self._emit("\n")
        self._erase()

    # Out

    def _chunk(self, data: dict[str, Any]) -> None:
        """A model's tokens, written as they come on a line of their own."""
        if data.get("thinking"):
            return
        node = str(data.get("node_id"))
        if node not in self._streaming and not data.get("done"):
            self._erase()
            self._streaming.add(node)
            self._emit(f"… tokens from node {node}: ")
        if data.get("content"):
            self._emit(str(data["content"]))
        if data.get("done") and node in self._streaming:
            self._streaming.discard(node)
            self._emit("\n")
            self._draw(force=True)

    def _follow(self, frame: dict[str, Any]) -> str | None:
        """Take a frame into the live line's state; return a line to keep, if any."""
        kind = frame.get("update_type", frame.get("type"))
        data = frame.get("data")
        if kind == "ack":
            self._label = str(frame.get("message") or "accepted")
            return None
        if not isinstance(data, dict):
            self._label = _short(f"{kind}: {_short(data)}")
            return None
        if kind == "job_update":
            if data.get("status") in _JOB_ENDS:
                return format_update(frame)
            self._label = f"job {data.get('status')}"
            return None
        if kind == "node_update":
            node_id = str(data.get("node_id"))
            name = data.get("node_name") or data.get("node_type") or node_id
            self._names[node_id] = str(name)
            if data.get("status") == "error":
                return format_update(frame)
            if data.get("status") == "running":
                self._count = ""  # the progress shown belonged to the node before
            self._label = f"node {name}: {data.get('status')}"
            return None
        if kind == "node_progress":
            done, total = data.get("progress"), data.get("total")
            self._count = f"{done}/{total}" if total else str(done)
            node_id = data.get("node_id")
            if node_id:
                self._label = f"node {self._names.get(str(node_id), node_id)}"
            return None
        if kind == "log_update":
            return format_update(frame)
        line = format_update(frame)
        if line is not None:
            self._label = line.removeprefix("… ")
        return None

    def _draw(self, *, force: bool) -> None:
        if not self.live or self._streaming:
            return
        now = self._clock()
        if not force and now - self._drawn < _REPAINT:
            return
        self._drawn = now
        parts = [self._label, self._count, f"{now - self._start:.1f}s"]
        text = self._indent + "… " + " · ".join(part for part in parts if part)
        width = max(self._width() - 1, 10)  # a line that wraps cannot be rewritten
        if len(text) > width:
            text = text[: width - 1] + "…"
        self._write(_CLEAR + text)
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            self._write(_CLEAR)
            self._shown = False

    def _line(self, text: str) -> None:
        self._emit(text + "\n")

    def _emit(self, text: str) -> None:
        if self._at_line_start and text != "\n":
            text = self._indent + text
        self._write(text)
        self._at_line_start = text.endswith("\n")


def _short(value: Any, width: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_update(frame: dict[str, Any]) -> str | None:
    """One human line for an ack or a workflow_update (None: nothing worth a line)."""
    if frame.get("type") == "ack":
        return f"… {frame.get('message', 'accepted')}"
    kind = frame.get("update_type", frame.get("type"))
    data = frame.get("data")
    if not isinstance(data, dict):
        return f"… {kind}: {_short(data)}"
    if kind == "node_progress":
        total = data.get("total")
        done = data.get("progress")
        where = f" {data['node_id']}" if data.get("node_id") else ""
        return f"… progress{where} {done}/{total}" if total else f"… progress{where} {done}"
    if kind == "job_update":
        status = data.get("status")
        duration = data.get("duration")
        extra = f" in {duration:.3f}s" if isinstance(duration, (int, float)) else ""
        error = f": {data['error']}" if data.get("error") else ""
        return f"… job {status}{extra}{error}"
    if kind == "node_update":
        name = data.get("node_name") or data.get("node_type") or data.get("node_id")
        if data.get("status") == "running":
            return None  # the completed (or error) line says enough
        error = f": {data['error']}" if data.get("error") else ""
        return f"… node {data.get('node_id')} {name}: {data.get('status')}{error}"
    if kind == "output_update":
        name = data.get("output_name") or data.get("node_name")
        return f"… output {name} = {_short(data.get('value'))}"
    if kind == "log_update":
        severity = data.get("severity", "info")
        return f"… log [{severity}] {data.get('node_id') or ''} {_short(data.get('content'))}"
    return f"… {kind}: {_short(data)}"
