"""Models on this machine: a real Hugging Face cache on disk, an Ollama-like server, the config."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nodetool_gateway.stores import ModelStore
from nodetool_gateway.stores.models import default_hf_cache

MODEL_KEYS = {"id", "name", "repo_id", "type", "provider", "downloaded", "size_on_disk", "path"}


def _hf_repo(cache: Path, kind: str, repo_id: str, files: dict[str, bytes]) -> Path:
    """Lay out one repo as huggingface_hub does: blobs, snapshot symlinks, refs/main."""
    repo = cache / f"{kind}--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("..", *[".."] * name.count("/"), "..", "blobs", blob.name))
    return repo


@pytest.fixture
def hf_cache(tmp_path: Path) -> Path:
    pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hub"
    cache.mkdir()
    _hf_repo(cache, "models", "acme/tiny-llama", {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"]}).encode(),
        "model.safetensors": bytes(1000),
        "tokenizer/vocab.txt": b"a\nb\n",
    })
    _hf_repo(cache, "models", "acme/tiny-sd", {
        "model_index.json": json.dumps({"_class_name": "StableDiffusionXLPipeline"}).encode(),
        "unet/diffusion_pytorch_model.safetensors": bytes(500),
    })
    _hf_repo(cache, "models", "acme/mystery", {"weights.bin": bytes(10)})
    _hf_repo(cache, "datasets", "acme/numbers", {"data.csv": b"1,2,3\n"})
    (cache / ".locks").mkdir()
    return cache


@pytest.fixture
def ollama():
    """An HTTP server on loopback that answers /api/tags as Ollama does."""
    tags = {"models": [
        {"name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": "2025-01-01T00:00:00Z",
         "size": 2019393189, "digest": "a80c4f17acd5",
         "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"}},
        {"name": "all-minilm:latest", "model": "all-minilm:latest", "size": 45960996},
    ]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(tags).encode() if self.path == "/api/tags" else b"{}"
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_hugging_face_cache(hf_cache: Path):
    """ModelStore lists each repo of a Hugging Face cache with its size and path."""
    models = {m["repo_id"]: m for m in ModelStore(hf_cache=hf_cache).list()}
    assert set(models) == {"acme/tiny-llama", "acme/tiny-sd", "acme/mystery", "acme/numbers"}
    llama = models["acme/tiny-llama"]
    assert set(llama) == MODEL_KEYS
    assert llama["id"] == llama["name"] == "acme/tiny-llama"
    assert llama["provider"] == "huggingface" and llama["downloaded"] is True
    config_size = len(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    assert llama["size_on_disk"] == config_size + 1000 + 4
    assert llama["path"] == str(hf_cache.resolve() / "models--acme--tiny-llama")
    assert llama["type"] == "hf.text_generation"
    assert models["acme/tiny-sd"]["type"] == "hf.stable_diffusion_xl"
    assert models["acme/mystery"]["type"] == "hf.model"
    assert models["acme/numbers"]["type"] == "hf.dataset"
    assert models["acme/numbers"]["id"] == "dataset/acme/numbers"


def test_missing_hugging_face_cache(tmp_path: Path):
    """ModelStore lists nothing for a Hugging Face cache that does not exist."""
    assert ModelStore(hf_cache=tmp_path / "absent").list() == []


def test_default_cache_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """default_hf_cache reads HF_HUB_CACHE, then HF_HOME, as huggingface_hub does."""
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert default_hf_cache() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert default_hf_cache() == tmp_path / "direct"
    assert ModelStore().hf_cache == tmp_path / "direct"


def test_ollama(ollama: str, tmp_path: Path):
    """ModelStore lists Ollama's models from /api/tags."""
    models = ModelStore(hf_cache=tmp_path / "absent", ollama_url=ollama + "/").list()
    assert [m["id"] for m in models] == ["all-minilm:latest", "llama3.2:latest"]
    llama = models[1]
    assert set(llama) == MODEL_KEYS
    assert llama["provider"] == "ollama" and llama["type"] == "llm"
    assert llama["size_on_disk"] == 2019393189 and llama["downloaded"] is True


def test_ollama_from_environment(ollama: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """ModelStore asks the Ollama named by OLLAMA_API_URL when none is given."""
    monkeypatch.setenv("OLLAMA_API_URL", ollama)
    assert len(ModelStore(hf_cache=tmp_path / "absent").list(provider="ollama")) == 2


def test_unreachable_ollama(closed_port_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """ModelStore skips an unreachable Ollama, warning once."""
    caplog.set_level(logging.WARNING, logger="nodetool.gateway.models")
    store = ModelStore(hf_cache=tmp_path / "absent", ollama_url=closed_port_url,
                       configured=[{"id": "mine"}])
    assert [m["id"] for m in store.list()] == ["mine"]
    assert [m["id"] for m in store.list()] == ["mine"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and closed_port_url in warnings[0].getMessage()


def test_ollama_url_must_be_http():
    """ModelStore refuses an Ollama URL that is not http(s)."""
    with pytest.raises(ValueError, match="http"):
        ModelStore(ollama_url="file:///etc/passwd")


def test_configured_models(tmp_path: Path):
    """ModelStore passes configured models through with defaults and checks their paths."""
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "a.bin").write_bytes(bytes(300))
    (weights / "b.bin").write_bytes(bytes(200))
    store = ModelStore(hf_cache=tmp_path / "absent", configured=[
        {"id": "local-one", "path": str(weights)},
        {"id": "gone", "name": "Gone", "type": "hf.flux", "provider": "custom",
         "path": str(tmp_path / "missing.safetensors")},
        {"id": "plain"},
    ])
    one, gone, plain = store.list()
    assert one == {"id": "local-one", "name": "local-one", "repo_id": None, "type": "model",
                   "provider": "local", "downloaded": True, "size_on_disk": 500,
                   "path": str(weights)}
    assert gone["name"] == "Gone" and gone["provider"] == "custom"
    assert gone["downloaded"] is False and gone["size_on_disk"] is None
    assert plain["downloaded"] is True and plain["path"] is None


def test_filters_and_limit(hf_cache: Path, ollama: str):
    """ModelStore.list filters by provider and by type (or type family), up to limit."""
    store = ModelStore(hf_cache=hf_cache, ollama_url=ollama,
                       configured=[{"id": "x", "type": "hf.flux"}, {"id": "y", "provider": "ollama"}])
    assert len(store.list()) == 8
    assert [m["id"] for m in store.list(provider="ollama")] == ["y", "all-minilm:latest",
                                                                "llama3.2:latest"]
    assert {m["repo_id"] for m in store.list(provider="huggingface")} == {
        "acme/tiny-llama", "acme/tiny-sd", "acme/mystery", "acme/numbers"}
    assert [m["id"] for m in store.list(model_type="hf.flux")] == ["x"]
    assert len(store.list(model_type="hf")) == 5
    assert [m["id"] for m in store.list(model_type="llm")] == ["all-minilm:latest", "llama3.2:latest"]
    assert len(store.list(limit=3)) == 3
    assert store.list(provider="nobody") == []


async def test_alist_runs_in_a_thread(hf_cache: Path):
    """ModelStore.alist gives the same answer as list, off the event loop."""
    store = ModelStore(hf_cache=hf_cache)
    assert await store.alist(model_type="hf.dataset") == store.list(model_type="hf.dataset")
