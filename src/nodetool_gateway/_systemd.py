"""systemd's notify protocol: tell the service manager the node is ready, alive, reloading.

``sd_notify(3)`` is one datagram of ``KEY=VALUE`` lines to the unix socket named by
``NOTIFY_SOCKET`` (an abstract one when it starts with ``@``). It is a few lines of
``socket``, so it is written here rather than taken from a package (``sdnotify`` has
not changed since 2017; ``systemd-python`` needs libsystemd to build). Nothing here
raises: a service manager that is gone must not take the node with it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Mapping

__all__ = ["Notifier"]


class Notifier:
    """Sends notifications when ``NOTIFY_SOCKET`` is set; does nothing otherwise."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(env)  # seconds between WATCHDOG=1, or None
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) as one datagram; False if not sent."""
        if self.address is None:
            return False
        data = "\n".join(f.replace("\n", " ") for f in fields).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never wait on the service manager: a full queue drops the datagram.
                self._socket.setblocking(False)
            self._socket.sendto(data, self.address)
            return True
        except OSError:
            self.close()  # a new socket next time, in case the manager came back
            return False

    def status(self, text: str, *fields: str) -> bool:
        return self.notify(*fields, f"STATUS={text}")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets Type=notify-reload match the reload to its request.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # unset, or a kind this node does not speak (vsock:)


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` (what sd_watchdog_enabled(3) advises), for this process only."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None
