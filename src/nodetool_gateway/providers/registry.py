"""The configured providers, and NodeTool's model references resolved against them.

A :class:`LanguageModels` is built from one config and never changes; a reload
builds a new one and swaps the reference. A call holds the :class:`ChatModel`
it started with (and so its client) until it ends, so a rotated key is used by
the next call while the running one finishes on the old client, which is closed
once its last call is over.

Every chat call ends in one call of the recorder the snapshot was built with
(``record``): provider, model, outcome, seconds and the tokens the provider
reported. The node counts them for ``/metrics``; a worker sends them to the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._base import ChatEvent, ChatProvider, ChatRequest, ProviderError, ToolCall, Usage

if TYPE_CHECKING:
    from ..config import Config, ProviderConfig

__all__ = ["LanguageModels", "ChatModel", "ChatResult", "CallRecorder", "ModelError",
           "OLLAMA_DEFAULT_URL"]

log = logging.getLogger("nodetool.gateway.providers")

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
# NodeTool's own variables: a hosted key, or where Ollama is.
_ENV_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# How long a server's model list is trusted before it is asked again.
LISTING_TTL = 60.0

#: Told of each chat call when it ends: ``(provider, model, outcome, seconds, usage)``;
#: outcome ``ok``, a ProviderError's kind, ``cancelled`` or ``error``; usage
#: ``(input_tokens, output_tokens)``, or None when the provider reported none.
CallRecorder = Callable[[str, str, str, float, "tuple[int, int] | None"], None]


class ModelError(ValueError):
    """A model reference no configured provider serves (a validation error)."""


@dataclass(slots=True)
class ChatResult:
    """A whole answer: its text, the tool calls asked for, and the tokens it cost."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None


class _Entry:
    """One provider in one snapshot: its settings, its client (built on first use)."""

    __slots__ = ("name", "kind", "settings", "client", "limit", "listing", "listed_at", "max_tokens")

    def __init__(self, name: str, kind: str, settings: dict[str, Any], concurrency: int,
                 max_tokens: int | None = None):
        self.name = name
        self.max_tokens = max_tokens
        self.kind = kind
        self.settings = settings
        self.client: ChatProvider | None = None
        self.limit = asyncio.Semaphore(concurrency)
        self.listing: set[str] | None = None
        self.listed_at = 0.0

    def get_client(self) -> ChatProvider:
        if self.client is None:
            s = self.settings
            if self.kind == "anthropic":
                from ._anthropic import AnthropicProvider

                self.client = AnthropicProvider(self.name, **s)
            else:
                from ._openai import OpenAIProvider

                self.client = OpenAIProvider(self.name, kind=self.kind, **s)
        return self.client

    def describe(self) -> str:
        return f"{self.name} ({self.kind} at {self.settings['base_url'] or 'the vendor API'})"


class ChatModel:
    """One model on one provider, ready to call; node types get these, never an SDK."""

    __slots__ = ("provider", "model", "_entry", "_owner")

    def __init__(self, entry: _Entry, model: str, owner: LanguageModels):
        self.provider = entry.name
        self.model = model
        self._entry = entry
        self._owner = owner

    def __repr__(self) -> str:
        return f"ChatModel({self.provider}:{self.model})"

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """The answer as it comes; waits while the provider is at its concurrency limit."""
        entry = self._entry
        cap = entry.max_tokens
        if cap is not None and (request.max_tokens is None or request.max_tokens > cap):
            request = dataclasses.replace(request, max_tokens=cap)
        async with entry.limit:
            owner = self._owner
            owner._enter()
            started = time.perf_counter()  # the provider's time, not the wait for a slot
            outcome, usage = "error", None
            try:
                # Closed as soon as this call is, so the HTTP stream ends with it.
                events = entry.get_client().stream(self.model, request)
                async with contextlib.aclosing(events):
                    async for event in events:
                        if isinstance(event, Usage):
                            i, o = usage or (0, 0)
                            usage = (i + event.input_tokens, o + event.output_tokens)
                        yield event
                outcome = "ok"
            except ProviderError as exc:
                outcome = exc.kind
                raise
            except (asyncio.CancelledError, GeneratorExit):  # cancelled, or the reader left
                outcome = "cancelled"
                raise
            finally:
                if owner.record is not None:
                    owner._record(self, outcome, time.perf_counter() - started, usage)
                await owner._leave()


class LanguageModels:
    """The providers of one config, by name, and the default model."""

    def __init__(self, providers: Mapping[str, ProviderConfig], *, default: tuple[str, str] | None,
                 environ: Mapping[str, str] | None = None, implicit: bool = False,
                 record: CallRecorder | None = None):
        environ = os.environ if environ is None else environ
        self.default = default
        self.record = record  # told of each chat call as it ends
        # True when no providers section was given and these came from the environment.
        self.implicit = implicit
        self._configs = dict(providers)
        self._entries: dict[str, _Entry] = {}
        for name, cfg in providers.items():
            kind = cfg.type or name
            base_url = cfg.base_url
            api_key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
            if kind == "ollama":
                if base_url is None:
                    base_url = environ.get("OLLAMA_API_URL") or OLLAMA_DEFAULT_URL
                base_url = base_url.rstrip("/")
                if not base_url.endswith("/v1"):
                    base_url += "/v1"
            elif api_key is None and base_url is None:
                api_key = environ.get(_ENV_KEYS[kind]) or None
            settings = {"base_url": base_url, "api_key": api_key, "timeout": cfg.timeout,
                        "connect_timeout": cfg.connect_timeout, "max_retries": cfg.max_retries}
            self._entries[name] = _Entry(name, kind, settings, cfg.concurrency, cfg.max_output_tokens)
        self._in_use = 0
        self._retired = False
        self._closed = False

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None, *,
                    record: CallRecorder | None = None) -> LanguageModels:
        """The providers ``config`` declares; with no ``providers`` section, those NodeTool's
        variables name (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``OLLAMA_API_URL``)."""
        from ..config import ProviderConfig

        environ = os.environ if environ is None else environ
        default = config.models.default_language_model
        pair = (default.provider, default.id) if default is not None else None
        if config.providers is not None:
            return cls(config.providers, default=pair, environ=environ, record=record)
        found: dict[str, ProviderConfig] = {}
        if environ.get("OPENAI_API_KEY"):
            found["openai"] = ProviderConfig()
        if environ.get("ANTHROPIC_API_KEY"):
            found["anthropic"] = ProviderConfig()
        if environ.get("OLLAMA_API_URL"):
            found["ollama"] = ProviderConfig()
        return cls(found, default=pair, environ=environ, implicit=True, record=record)

    def same_settings(self, config: Config) -> bool:
        """Whether ``config`` would build the same providers (no rebuild needed)."""
        default = config.models.default_language_model
        pair = (default.provider, default.id) if default is not None else None
        return (not self.implicit and config.providers is not None
                and dict(config.providers) == self._configs and pair == self.default)

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def describe(self) -> str:
        """The providers, for error messages: ``llama (openai at http://...), ...``."""
        if not self._entries:
            return "none (add a providers: section to the config, or set OPENAI_API_KEY, " \
                   "ANTHROPIC_API_KEY or OLLAMA_API_URL)"
        return ", ".join(e.describe() for e in self._entries.values())

    # Model references

    def resolve(self, ref: Any) -> tuple[str, str]:
        """``(provider name, model id)`` for a NodeTool model reference; raises ModelError.

        An empty reference (``{"type": "language_model"}``) takes
        ``models.default_language_model``; the provider's ``aliases`` then map
        NodeTool's model id to the one the provider serves.
        """
        provider, model = _ref_parts(ref)
        if not model:
            if self.default is None:
                raise ModelError(f"no model is set and models.default_language_model is not "
                                 f"configured (providers: {self.describe()})")
            provider, model = self.default
        if not provider:
            raise ModelError(f"model {model!r} names no provider (providers: {self.describe()})")
        if provider not in self._entries:
            raise ModelError(f"model {model!r} of provider {provider!r}: no provider of that name "
                             f"is configured (providers: {self.describe()}); add it under "
                             f"providers:, or set models.default_language_model")
        cfg = self._configs[provider]
        served = cfg.aliases.get(model) or cfg.aliases.get("*") or model
        if cfg.models and served not in cfg.models:
            raise ModelError(f"model {served!r} is not among the models provider {provider!r} "
                             f"serves ({', '.join(cfg.models)})")
        return provider, served

    def check(self, ref: Any) -> str | None:
        """What is wrong with ``ref`` as far as the config can tell, or ``None``."""
        try:
            self.resolve(ref)
        except ModelError as exc:
            return str(exc)
        return None

    async def preflight(self, ref: Any) -> None:
        """Check with the server that it serves the model; raises ModelError.

        Skipped for providers with a ``models`` list (the config said) and when
        the server cannot be asked (the call itself will then say why).
        """
        provider, model = self.resolve(ref)
        if self._configs[provider].models:
            return
        served = await self._listing(self._entries[provider])
        if served is not None and model not in served:
            shown = ", ".join(sorted(served)[:10]) or "none"
            raise ModelError(f"provider {provider!r} does not serve model {model!r} (it serves: "
                             f"{shown}); add an alias under providers.{provider}.aliases")

    async def _listing(self, entry: _Entry) -> set[str] | None:
        now = time.monotonic()
        if entry.listing is not None and now - entry.listed_at < LISTING_TTL:
            return entry.listing
        try:
            found = set(await entry.get_client().list_models())
        except ProviderError as exc:
            log.debug("could not list the models of provider %s: %s", entry.name, exc)
            return None
        entry.listing, entry.listed_at = found, now
        return found

    def settings(self, provider: str) -> dict[str, Any]:
        """A provider's kind, URL and key, for node types that drive another client
        (the Claude Agent SDK); raises KeyError."""
        entry = self._entries[provider]
        return {"kind": entry.kind, **entry.settings}

    def chat(self, ref: Any) -> ChatModel:
        """The model ``ref`` names, ready to call; raises ModelError."""
        provider, model = self.resolve(ref)
        return ChatModel(self._entries[provider], model, self)

    async def list_models(self) -> list[dict[str, Any]]:
        """What each provider reports, as ``list_models`` rows (a provider that cannot be
        reached is logged and left out)."""

        async def one(entry: _Entry) -> list[dict[str, Any]]:
            cfg = self._configs[entry.name]
            ids = list(cfg.models)
            if not ids:
                listed = await self._listing(entry)
                if listed is None:
                    log.warning("list_models: provider %s did not answer", entry.name)
                    return []
                ids = sorted(listed)
            return [{"id": m, "name": m, "repo_id": None, "type": "language_model",
                     "provider": entry.name, "provider_type": entry.kind, "downloaded": None,
                     "size_on_disk": None, "path": None} for m in ids]

        rows = await asyncio.gather(*(one(e) for e in self._entries.values()))
        return [r for group in rows for r in group]

    def _record(self, model: ChatModel, outcome: str, seconds: float,
                usage: tuple[int, int] | None) -> None:
        try:
            self.record(model.provider, model.model, outcome, seconds, usage)
        except Exception:  # counting must never fail a call
            log.debug("recording a call of %r failed", model, exc_info=True)

    # Lifetime: a retired snapshot closes its clients when its last call ends.

    def _enter(self) -> None:
        self._in_use += 1

    async def _leave(self) -> None:
        self._in_use -= 1
        if self._retired and self._in_use == 0:
            await self.aclose()

    async def retire(self) -> None:
        """No new calls will come: close now if idle, else after the last call."""
        self._retired = True
        if self._in_use == 0:
            await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for entry in self._entries.values():
            if entry.client is not None:
                try:
                    await entry.client.aclose()
                except Exception:  # closing must not fail a reload
                    log.debug("closing provider %s failed", entry.name, exc_info=True)


def _ref_parts(ref: Any) -> tuple[str, str]:
    if ref is None:
        return "", ""
    if isinstance(ref, str):
        provider, sep, model = ref.partition(":")
        return (provider, model) if sep else ("", ref)
    if hasattr(ref, "model_dump"):
        ref = ref.model_dump()
    if not isinstance(ref, Mapping):
        raise ModelError(f"not a model reference: {ref!r}")
    provider = ref.get("provider") or ""
    model = ref.get("id") or ""
    if provider == "empty":
        provider = ""
    return str(provider), str(model)
