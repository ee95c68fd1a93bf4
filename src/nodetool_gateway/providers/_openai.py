"""OpenAI's chat API through the official ``openai`` SDK: OpenAI itself and every
compatible server (Ollama's ``/v1``, vLLM, llama.cpp's ``llama-server``, LM Studio,
OpenRouter, Gemini's OpenAI endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ._base import (ChatEvent, ChatMessage, ChatProvider, ChatRequest, Finish, ProviderError,
                    TextDelta, ToolCall, ToolCallEvent, Usage, parse_arguments)
from ._errors import from_sdk

__all__ = ["OpenAIProvider"]


class OpenAIProvider(ChatProvider):
    kind = "openai"

    def __init__(self, name: str, *, base_url: str | None, api_key: str | None, timeout: float,
                 connect_timeout: float, max_retries: int, kind: str = "openai"):
        import openai

        super().__init__(name, base_url=base_url)
        self.kind = kind
        self._sdk = openai
        # The vendor's newest models take max_completion_tokens; compatible servers max_tokens.
        self._vendor = base_url is None or "api.openai.com" in base_url
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "no-key", base_url=base_url, max_retries=max_retries,
            timeout=openai.Timeout(timeout, connect=connect_timeout))

    async def stream(self, model: str, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        kwargs: dict[str, Any] = {"model": model, "messages": [_message(m) for m in request.messages],
                                  "stream": True, "stream_options": {"include_usage": True}}
        if request.max_tokens:
            kwargs["max_completion_tokens" if self._vendor else "max_tokens"] = request.max_tokens
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": request.json_schema, "strict": False}}
        if request.tools:
            kwargs["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools]
        try:
            stream = await self._client.chat.completions.create(**kwargs)
            calls: dict[int, dict[str, str]] = {}
            finish: str | None = None
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        yield Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta is not None:
                            thinking = getattr(delta, "reasoning_content", None)
                            if thinking:
                                yield TextDelta(thinking, thinking=True)
                            if delta.content:
                                yield TextDelta(delta.content)
                            for tc in delta.tool_calls or ():
                                slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                                if tc.id:
                                    slot["id"] = tc.id
                                if tc.function is not None:
                                    slot["name"] += tc.function.name or ""
                                    slot["args"] += tc.function.arguments or ""
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except self._sdk.OpenAIError as exc:
            raise self._error(exc, model) from exc
        for index in sorted(calls):
            slot = calls[index]
            yield ToolCallEvent(ToolCall(slot["id"] or f"call_{index}", slot["name"],
                                         parse_arguments(slot["args"])))
        yield Finish(finish)

    async def list_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
            return [m.id async for m in page]
        except self._sdk.OpenAIError as exc:
            raise self._error(exc, None) from exc

    async def aclose(self) -> None:
        await self._client.close()

    def _error(self, exc: Exception, model: str | None) -> Exception:
        found = from_sdk(exc, self._sdk, self.name, model, self.base_url or "api.openai.com")
        if found is not None:
            return found
        return ProviderError(f"provider {self.name!r}: {exc}", provider=self.name, kind="server")


def _message(m: ChatMessage) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role}
    if m.images and m.role == "user":
        parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in m.images]
        out["content"] = parts
    else:
        out["content"] = m.content
    if m.tool_calls:
        import json

        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                             for c in m.tool_calls]
    return out
