"""Runs one Python snippet in its own process, where it can be stopped.

The snippet gets a fresh ``python -I`` (no user site, no ``PYTHON*`` variables), an
environment built from scratch (nothing the node holds: no gateway token, no provider
keys), an empty temporary folder as its working directory, and the limits of the
node's ``code`` config: wall-clock time (then the whole process group is killed),
address space, CPU time and file size (``setrlimit`` in the child, before any of the
snippet runs). It dies with the process that started it (Linux), so killing a worker
kills its snippets.

Values cross the process boundary as JSON only: unpickling what a snippet made would
run its code here.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Limits", "SnippetError", "run_snippet"]

# Read in the child by the bootstrap; never the snippet's own code.
_PAYLOAD = "payload.json"
_RESULT = "result.json"
_READ = 65536

# The child, before the snippet: limits, death with its parent, then exec with the
# inputs as its locals (NodeTool's ``exec(code, globals, inputs)``), result to a file.
_BOOTSTRAP = r"""
import json, os, resource, sys, traceback
io_dir, memory, cpu, parent = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try:
    import ctypes, signal
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != parent:
    os._exit(70)
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_FSIZE, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
with open(os.path.join(io_dir, "payload.json"), encoding="utf-8") as f:
    payload = json.load(f)
del sys.argv[1:]

def report(outcome):
    with open(os.path.join(io_dir, "result.json"), "w", encoding="utf-8") as f:
        json.dump(outcome, f, default=plain, allow_nan=True)

def plain(value):
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"result holds a {type(value).__name__}, which is not JSON data")

scope = payload["locals"]
try:
    exec(compile(payload["code"], "<code>", "exec"), {"__name__": "__main__"}, scope)
except MemoryError:
    scope = None
    report({"error": "memory"})
    sys.exit(1)
except BaseException as exc:
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        pass
    else:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb)
        sys.stderr.flush()
        report({"error": "exception",
                "message": "".join(traceback.format_exception_only(type(exc), exc)).strip()})
        sys.exit(1)
try:
    report({"result": scope.get("result")})
except (TypeError, ValueError, RecursionError) as exc:
    report({"error": "result", "message": str(exc)})
    sys.exit(1)
"""


class SnippetError(RuntimeError):
    """The snippet failed, ran out of a limit, or its result could not come back."""


@dataclass(frozen=True)
class Limits:
    timeout: float  # seconds of wall-clock time
    memory: int  # bytes of address space (and of any file it writes)
    max_output: int  # bytes of stdout and stderr together


def _environment(home: str) -> dict[str, str]:
    # Built from scratch: nothing of the node's environment reaches the snippet.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": home, "TMPDIR": home}


def _kill(process: asyncio.subprocess.Process) -> None:
    # The whole group, even after the snippet ended: what it started must not outlive it.
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the snippet's children too
    except (ProcessLookupError, PermissionError):
        pass


async def _pump(stream: asyncio.StreamReader, name: str, queue: asyncio.Queue) -> None:
    """Lines of ``stream`` onto ``queue`` as they come (a line longer than a read: in parts)."""
    pending = b""
    while True:
        data = await stream.read(_READ)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            await queue.put((name, line.decode("utf-8", "replace") + "\n"))
        if len(pending) >= _READ:
            await queue.put((name, pending.decode("utf-8", "replace")))
            pending = b""
    if pending:
        await queue.put((name, pending.decode("utf-8", "replace")))
    await queue.put((name, None))


async def run_snippet(code: str, local_vars: dict[str, Any], limits: Limits, *,
                      stdin: str = "") -> AsyncIterator[tuple[str, Any]]:
    """Run ``code`` with ``local_vars`` as its locals; yield ``("stdout", line)`` and
    ``("stderr", line)`` as the snippet writes them, then ``("result", value)``, the
    value it left in ``result``.

    Raises :class:`SnippetError` when the snippet raises, outlives ``limits.timeout``,
    exceeds ``limits.memory`` or ``limits.max_output``; the process is killed then, and
    when the caller stops iterating or is cancelled.
    """
    try:
        payload = json.dumps({"code": code, "locals": local_vars}, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise SnippetError(f"the inputs must be JSON data to reach the snippet: {exc}") from None
    root = Path(tempfile.mkdtemp(prefix="nodetool-code-"))
    process: asyncio.subprocess.Process | None = None
    pumps: list[asyncio.Task] = []
    try:
        io_dir, work = root / "io", root / "work"
        io_dir.mkdir(mode=0o700)
        work.mkdir(mode=0o700)
        (io_dir / _PAYLOAD).write_text(payload, encoding="utf-8")
        cpu = math.ceil(limits.timeout) + 1  # a backstop if this process is gone
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-u", "-X", "utf8", "-c", _BOOTSTRAP,
            str(io_dir), str(limits.memory), str(cpu), str(os.getpid()),
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=work, env=_environment(str(work)), start_new_session=True)
        if stdin:
            pumps.append(asyncio.ensure_future(_feed(process, stdin)))
        queue: asyncio.Queue = asyncio.Queue(maxsize=64)
        pumps += [asyncio.ensure_future(_pump(process.stdout, "stdout", queue)),  # type: ignore[arg-type]
                  asyncio.ensure_future(_pump(process.stderr, "stderr", queue))]  # type: ignore[arg-type]
        deadline = asyncio.get_running_loop().time() + limits.timeout
        open_streams, written = 2, 0
        while open_streams:
            left = deadline - asyncio.get_running_loop().time()
            try:
                name, line = await asyncio.wait_for(queue.get(), max(left, 0))
            except asyncio.TimeoutError:
                _kill(process)
                raise SnippetError(f"stopped at its time limit of {limits.timeout:g}s "
                                   f"(code.timeout)") from None
            if line is None:
                open_streams -= 1
                continue
            written += len(line.encode("utf-8", "replace"))
            if written > limits.max_output:
                _kill(process)
                raise SnippetError(f"stopped: it wrote more than {limits.max_output} bytes "
                                   f"to stdout and stderr (code.max_output)")
            yield name, line
        try:
            await asyncio.wait_for(process.wait(), max(deadline - asyncio.get_running_loop().time(), 0))
        except asyncio.TimeoutError:
            _kill(process)
            raise SnippetError(f"stopped at its time limit of {limits.timeout:g}s "
                               f"(code.timeout)") from None
        yield "result", _outcome(process.returncode, io_dir / _RESULT, limits)
    finally:
        if process is not None:
            _kill(process)
            for task in pumps:
                task.cancel()
            await asyncio.shield(_reap(process, pumps))
        shutil.rmtree(root, ignore_errors=True)


async def _feed(process: asyncio.subprocess.Process, text: str) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(text.encode("utf-8"))
        await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


async def _reap(process: asyncio.subprocess.Process, tasks: list[asyncio.Task]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    await process.wait()


def _outcome(returncode: int | None, path: Path, limits: Limits) -> Any:
    try:
        outcome = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        outcome = None
    if not isinstance(outcome, dict):
        if returncode is not None and returncode < 0:
            name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
            if name == "SIGXCPU":
                raise SnippetError(f"stopped at its CPU time limit (code.timeout = "
                                   f"{limits.timeout:g}s)")
            raise SnippetError(f"the Python process died of signal {name or -returncode}")
        raise SnippetError(f"the Python process exited with code {returncode} before "
                           f"giving a result")
    error = outcome.get("error")
    if error == "memory":
        raise SnippetError(f"out of memory: it needed more than its limit of "
                           f"{_mib(limits.memory)} (code.memory)")
    if error is not None:
        raise SnippetError(str(outcome.get("message") or error))
    return outcome.get("result")


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"
