"""What every language-model provider offers: one chat call, streamed, and a model list.

Node types never see a vendor's SDK: they build a :class:`ChatRequest` and read
:class:`ChatEvent` items from :meth:`ChatProvider.stream`. Each provider module
maps its SDK's stream and exceptions onto these.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ToolSpec",
    "ToolCall",
    "TextDelta",
    "ToolCallEvent",
    "Usage",
    "Finish",
    "ChatEvent",
    "ChatProvider",
    "ProviderError",
    "ErrorKind",
    "parse_arguments",
]

ErrorKind = Literal["unreachable", "timeout", "auth", "rate_limited", "model_not_found",
                    "context_length", "bad_request", "server"]


class ProviderError(Exception):
    """A call a provider refused or could not answer, said so a user can act on it.

    ``kind`` sorts it (``unreachable``, ``timeout``, ``auth``, ``rate_limited``,
    ``model_not_found``, ``context_length``, ``bad_request``, ``server``);
    ``status`` is the HTTP status when there was one.
    """

    def __init__(self, message: str, *, provider: str, kind: ErrorKind, status: int | None = None):
        super().__init__(message)
        self.provider = provider
        self.kind = kind
        self.status = status


@dataclass(slots=True)
class ToolCall:
    """A call the model asked for: ``arguments`` already parsed from JSON."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class ChatMessage:
    """One turn. ``images`` are data URIs or URLs, for providers that take pictures."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class ToolSpec:
    """A function the model may call: its JSON-schema ``parameters``."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    """One chat call. ``json_schema`` asks for an answer of that shape, in the
    provider's own structured-output mode where it has one."""

    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    tools: list[ToolSpec] = field(default_factory=list)


@dataclass(slots=True)
class TextDelta:
    text: str
    thinking: bool = False


@dataclass(slots=True)
class ToolCallEvent:
    call: ToolCall


@dataclass(slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(slots=True)
class Finish:
    reason: str | None


ChatEvent = TextDelta | ToolCallEvent | Usage | Finish


class ChatProvider:
    """One configured provider: a client for its API, built once, closed on retire."""

    #: ``openai``, ``anthropic`` or ``ollama``.
    kind: str = ""

    def __init__(self, name: str, *, base_url: str | None):
        self.name = name
        self.base_url = base_url

    def describe(self) -> str:
        where = self.base_url or "the vendor's API"
        return f"{self.name} ({self.kind}, {where})"

    def stream(self, model: str, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """The answer as it comes. Raises :class:`ProviderError`."""
        raise NotImplementedError

    async def list_models(self) -> list[str]:
        """The model ids the server reports. Raises :class:`ProviderError`."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the HTTP client."""


def parse_arguments(raw: str | dict | None) -> dict[str, Any]:
    """A tool call's arguments as a dict; text that is not a JSON object becomes ``{"input": text}``."""
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"input": raw}
    return value if isinstance(value, dict) else {"input": value}
