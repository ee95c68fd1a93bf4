"""Models this machine has: the Hugging Face cache, Ollama, and the config's list.

:meth:`ModelStore.list` reads the disk and may ask Ollama over HTTP: call it
with ``asyncio.to_thread`` (or await :meth:`ModelStore.alist`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["ModelStore", "default_hf_cache"]

log = logging.getLogger("nodetool.gateway.models")

_OLLAMA_TIMEOUT = 2.0
_CONFIG_MAX = 1024 * 1024  # bigger config.json files are not read for the type guess


def default_hf_cache() -> Path:
    """The hub cache huggingface_hub uses, from the environment as it reads it.

    ``HF_HUB_CACHE``, else ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``,
    else ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.
    Read on each call (huggingface_hub reads it once, at import).
    """
    def expand(value: str) -> Path:
        return Path(os.path.expandvars(os.path.expanduser(value)))

    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return expand(os.environ[name])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    return expand(home) / "hub"


def _matches_type(value: str | None, wanted: str) -> bool:
    # "hf" matches "hf.text_generation": a family, as NodeTool's types are dotted.
    return value is not None and (value == wanted or value.startswith(wanted + "."))


class ModelStore:
    """Lists models as ``{id, name, repo_id, type, provider, downloaded, size_on_disk, path}``.

    Sources, in this order: models listed in the config (provider ``local``
    unless given), the Hugging Face hub cache (provider ``huggingface``), and
    Ollama's local models (provider ``ollama``) when an Ollama URL is set.
    """

    def __init__(self, *, hf_cache: Path | None = None, ollama_url: str | None = None,
                 configured: Iterable[Mapping[str, Any]] = ()):
        self.hf_cache = Path(hf_cache).expanduser() if hf_cache is not None else default_hf_cache()
        url = ollama_url if ollama_url is not None else os.environ.get("OLLAMA_API_URL")
        self.ollama_url = url.rstrip("/") if url else None
        if self.ollama_url and urllib.parse.urlsplit(self.ollama_url).scheme not in ("http", "https"):
            raise ValueError(f"Ollama URL {self.ollama_url!r} must start with http:// or https://")
        self.configured = [dict(m) for m in configured]
        for entry in self.configured:
            if not entry.get("id"):
                raise ValueError(f"a configured model needs an id: {entry!r}")
        self._ollama_down = False
        self._hf_failed: str | None = None

    def list(self, provider: str | None = None, model_type: str | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        """Models matching ``provider`` and ``model_type``, at most ``limit``.

        ``model_type`` matches exactly or a dotted family (``"hf"`` matches
        ``"hf.text_generation"``). Sources that fail are logged and skipped.
        """
        limit = max(0, int(limit))
        found: list[dict[str, Any]] = []
        sources = [("local", self._configured), ("huggingface", self._huggingface),
                   ("ollama", self._ollama)]
        for name, source in sources:
            # Configured entries can name any provider; the others are one provider each.
            if provider is not None and name != "local" and provider != name:
                continue
            for model in source():
                if provider is not None and model["provider"] != provider:
                    continue
                if model_type is not None and not _matches_type(model["type"], model_type):
                    continue
                found.append(model)
                if len(found) >= limit:
                    return found
        return found

    async def alist(self, provider: str | None = None, model_type: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        """:meth:`list` in a worker thread."""
        return await asyncio.to_thread(self.list, provider, model_type, limit)

    # Sources

    def _configured(self) -> list[dict[str, Any]]:
        models = []
        for entry in self.configured:
            path = Path(entry["path"]).expanduser() if entry.get("path") else None
            exists = path is not None and path.exists()
            models.append({
                "id": entry["id"],
                "name": entry.get("name") or entry["id"],
                "repo_id": entry.get("repo_id"),
                "type": entry.get("type") or "model",
                "provider": entry.get("provider") or "local",
                "downloaded": exists if path is not None else bool(entry.get("downloaded", True)),
                "size_on_disk": _size(path) if exists else None,
                "path": str(path) if path is not None else None,
            })
        return models

    def _huggingface(self) -> list[dict[str, Any]]:
        if not self.hf_cache.is_dir():
            return []
        try:
            from huggingface_hub import scan_cache_dir
        except ImportError:
            return []
        try:
            info = scan_cache_dir(self.hf_cache)
        except Exception as exc:  # an unreadable cache is not this node's failure
            message = f"{type(exc).__name__}: {exc}"
            if message != self._hf_failed:
                log.warning("cannot scan the Hugging Face cache %s: %s", self.hf_cache, message)
            self._hf_failed = message
            return []
        self._hf_failed = None
        for warning in info.warnings:
            log.debug("Hugging Face cache: %s", warning)
        models = []
        for repo in sorted(info.repos, key=lambda r: (r.repo_type, r.repo_id)):
            models.append({
                "id": repo.repo_id if repo.repo_type == "model" else f"{repo.repo_type}/{repo.repo_id}",
                "name": repo.repo_id,
                "repo_id": repo.repo_id,
                "type": _hf_type(repo),
                "provider": "huggingface",
                "downloaded": True,
                "size_on_disk": repo.size_on_disk,
                "path": str(repo.repo_path),
            })
        return models

    def _ollama(self) -> list[dict[str, Any]]:
        if not self.ollama_url:
            return []
        url = f"{self.ollama_url}/api/tags"
        try:
            with _opener(self.ollama_url).open(url, timeout=_OLLAMA_TIMEOUT) as response:
                body = json.loads(response.read())
            entries = body.get("models") if isinstance(body, dict) else None
            if not isinstance(entries, list):
                raise ValueError("the answer has no 'models' list")
        except (OSError, ValueError) as exc:
            if not self._ollama_down:  # once per outage, not once per call
                log.warning("Ollama at %s is not answering (%s); its models are not listed",
                            self.ollama_url, getattr(exc, "reason", None) or exc)
            self._ollama_down = True
            return []
        if self._ollama_down:
            log.info("Ollama at %s is answering again", self.ollama_url)
        self._ollama_down = False
        models = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name = entry.get("name") or entry.get("model")
            if not isinstance(name, str) or not name:
                continue
            size = entry.get("size")
            models.append({
                "id": name,
                "name": name,
                "repo_id": name,
                "type": "llm",
                "provider": "ollama",
                "downloaded": True,
                "size_on_disk": size if isinstance(size, int) else None,
                "path": None,
            })
        return sorted(models, key=lambda m: m["name"])


def _opener(url: str) -> urllib.request.OpenerDirector:
    # Ollama usually runs on this machine: don't send loopback requests to a proxy.
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1"):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# Type guess for model repos: from small files in the newest snapshot only.
_DIFFUSERS = [("StableDiffusionXL", "hf.stable_diffusion_xl"),
              ("StableDiffusion3", "hf.stable_diffusion_3"),
              ("StableDiffusion", "hf.stable_diffusion"),
              ("Flux", "hf.flux")]
_ARCHITECTURES = [("ForCausalLM", "hf.text_generation"),
                  ("ForSpeechSeq2Seq", "hf.automatic_speech_recognition"),
                  ("ForCTC", "hf.automatic_speech_recognition"),
                  ("ForImageClassification", "hf.image_classification"),
                  ("ForObjectDetection", "hf.object_detection"),
                  ("ForSequenceClassification", "hf.text_classification"),
                  ("ForTokenClassification", "hf.token_classification"),
                  ("ForQuestionAnswering", "hf.question_answering"),
                  ("ForMaskedLM", "hf.fill_mask"),
                  ("ForConditionalGeneration", "hf.text2text_generation")]


def _hf_type(repo: Any) -> str:
    if repo.repo_type != "model":
        return f"hf.{repo.repo_type}"
    revisions = sorted(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
    if not revisions:
        return "hf.model"
    files = {f.file_name: f for f in revisions[-1].files}
    names = set(files)
    if "model_index.json" in names:
        index = _small_json(files["model_index.json"])
        cls = str(index.get("_class_name", ""))
        return next((t for key, t in _DIFFUSERS if key in cls), "hf.text_to_image")
    if "modules.json" in names or "config_sentence_transformers.json" in names:
        return "hf.sentence_similarity"
    if any(n.endswith(".gguf") for n in names):
        return "hf.gguf"
    if "config.json" in names:
        archs = _small_json(files["config.json"]).get("architectures") or []
        for arch in archs if isinstance(archs, list) else []:
            for key, kind in _ARCHITECTURES:
                if isinstance(arch, str) and arch.endswith(key):
                    return kind
    if "adapter_config.json" in names or any("lora" in n.lower() for n in names):
        return "hf.lora"
    return "hf.model"


def _small_json(cached_file: Any) -> dict[str, Any]:
    try:
        if cached_file.size_on_disk > _CONFIG_MAX:
            return {}
        data = json.loads(Path(cached_file.file_path).read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
