"""systemd's notify protocol, spoken to a real AF_UNIX datagram socket in tmp_path."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid

import pytest
from conftest import TIME

from nodetool_gateway._systemd import Notifier
from nodetool_gateway.gateway import LocalGateway

EXE = [sys.executable, "-m", "nodetool_gateway"]


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.setblocking(False)
    try:
        yield path, sock
    finally:
        sock.close()


def test_notify_sends_one_datagram(notify_socket):
    """notify() sends its fields as one datagram of lines; a newline in a value is flattened."""
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    assert notifier.enabled
    assert notifier.status("two\nlines", "READY=1")
    assert sock.recv(4096) == b"READY=1\nSTATUS=two lines"
    notifier.close()


def test_abstract_socket():
    """An address starting with @ is an abstract socket."""
    name = f"nodetool-gateway-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_never_raises(tmp_path):
    """With no socket set, or nobody listening, notify() returns False and raises nothing."""
    assert not Notifier({}).enabled and not Notifier({}).notify("READY=1")
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert gone.notify("READY=1") is False
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:1"}).notify("READY=1") is False


def test_watchdog_interval_is_half_of_watchdog_usec():
    """The watchdog pings at half of WATCHDOG_USEC, and only in the process it names."""
    assert Notifier({"WATCHDOG_USEC": "3000000"}).watchdog_interval == 1.5
    assert Notifier({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
                    ).watchdog_interval == 1.5
    assert Notifier({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval is None
    assert Notifier({}).watchdog_interval is None


class Datagrams:
    """What the node sent to the notify socket, as a list of {field: value} dicts."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seen: list[dict[str, str]] = []

    async def until(self, field: str, value: str | None = None) -> dict[str, str]:
        """The next datagram with ``field`` (equal to ``value`` if given)."""
        loop = asyncio.get_running_loop()

        async def next_match() -> dict[str, str]:
            while True:
                data = await loop.sock_recv(self.sock, 65536)
                message = dict(line.partition("=")[::2] for line in data.decode().splitlines())
                self.seen.append(message)
                if field in message and (value is None or message[field] == value):
                    return message

        return await asyncio.wait_for(next_match(), 30 * TIME)


async def test_run_notifies_systemd(tmp_path, notify_socket):
    """run sends WATCHDOG=1 from the start, READY=1 once registered, RELOADING=1 and READY=1
    around a reload, and STOPPING=1 on SIGTERM."""
    path, sock = notify_socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "node.yaml"
    body = (f"gateway: {{url: 'ws://127.0.0.1:{port}'}}\nnode: {{id: notify-node}}\n"
            f"storage: {{path: '{tmp_path / 'storage'}'}}\nworkflows: {{paths: []}}\n"
            "retry: {initial_delay: 0.05, max_delay: 0.2, jitter: 0}\n")
    config.write_text(body)
    node = await asyncio.create_subprocess_exec(
        *EXE, "run", str(config), "--no-reload", cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
    datagrams = Datagrams(sock)
    try:
        # No gateway yet: the watchdog keeps pinging while the node tries to connect.
        await datagrams.until("STATUS")
        for _ in range(3):
            await datagrams.until("WATCHDOG", "1")
        assert not any("READY" in m for m in datagrams.seen)
        async with LocalGateway(port=port) as gw:
            ready = await datagrams.until("READY", "1")
            assert ready["STATUS"] == f"registered with ws://127.0.0.1:{port} as notify-node"
            await gw.wait_for_node("notify-node", timeout=10 * TIME)
            await datagrams.until("WATCHDOG", "1")

            config.write_text(body + "commands: {list_models: null}\n")
            node.send_signal(signal.SIGHUP)
            reloading = await datagrams.until("RELOADING", "1")
            assert int(reloading["MONOTONIC_USEC"]) > 0
            await datagrams.until("READY", "1")

            node.send_signal(signal.SIGTERM)
            stopping = await datagrams.until("STOPPING", "1")
            assert stopping["STATUS"].startswith("draining")
            _, err = await asyncio.wait_for(node.communicate(), 30 * TIME)
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
    assert node.returncode == 0, err.decode()[-2000:]
    assert datagrams.seen.index(ready) < datagrams.seen.index(stopping)
