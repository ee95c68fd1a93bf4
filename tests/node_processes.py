"""Real processes for the CLI tests: a local gateway (`serve`), a node, `call`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from conftest import TIME

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "nodetool_gateway"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ if env is None else env),
                            cwd=cwd or ROOT)


def wait_for_line(proc: subprocess.Popen | Any, needle: str,
                  timeout: float = 20 * TIME) -> list[str]:
    """Read a process's stderr (or any text stream) until a line holds ``needle``."""
    stream = proc.stderr if isinstance(proc, subprocess.Popen) else proc
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen; got:\n{''.join(lines)}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20 * TIME)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@contextlib.contextmanager
def local_gateway() -> Iterator[str]:
    """`nodetool-gateway serve` on a free loopback port, without a token; yields its URL."""
    port = free_port()
    gw = spawn([*EXE, "serve", "--port", str(port), "--insecure-no-auth"])
    try:
        wait_for_line(gw, "listening")
        yield f"ws://127.0.0.1:{port}"
    finally:
        stop(gw)


def call(gateway: str, command: str, args: dict | None = None) -> object:
    """`nodetool-gateway call`; the result, parsed."""
    done = subprocess.run([*EXE, "call", command, "--args", json.dumps(args or {}),
                           "--gateway", gateway, "--quiet"],
                          capture_output=True, text=True, check=False, timeout=60 * TIME,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
