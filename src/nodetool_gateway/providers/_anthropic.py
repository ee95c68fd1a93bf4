"""Anthropic's Messages API through the official ``anthropic`` SDK (also any server that
speaks ``/v1/messages``, llama.cpp's ``llama-server`` among them)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from ._base import (ChatEvent, ChatMessage, ChatProvider, ChatRequest, Finish, ProviderError,
                    TextDelta, ToolCall, ToolCallEvent, Usage, parse_arguments)
from ._errors import from_sdk

__all__ = ["AnthropicProvider"]

# The Messages API needs max_tokens; this is what a node that leaves it unset gets.
DEFAULT_MAX_TOKENS = 4096
_DATA_URI = re.compile(r"^data:(?P<mime>[\w/+.-]+);base64,(?P<data>.*)$", re.S)


class AnthropicProvider(ChatProvider):
    kind = "anthropic"

    def __init__(self, name: str, *, base_url: str | None, api_key: str | None, timeout: float,
                 connect_timeout: float, max_retries: int):
        import anthropic

        super().__init__(name, base_url=base_url)
        self._sdk = anthropic
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or "no-key", base_url=base_url, max_retries=max_retries,
            timeout=anthropic.Timeout(timeout, connect=connect_timeout))

    async def stream(self, model: str, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
        kwargs: dict[str, Any] = {
            "model": model, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _messages([m for m in request.messages if m.role != "system"]),
            "stream": True}
        if system:
            kwargs["system"] = system
        if request.temperature is not None:
            # Newer SDKs dropped the sampling arguments; the API still takes temperature.
            kwargs["extra_body"] = {"temperature": request.temperature}
        if request.tools:
            kwargs["tools"] = [{"name": t.name, "description": t.description,
                                "input_schema": t.parameters} for t in request.tools]
        if request.json_schema is not None:
            # Anthropic's structured outputs (servers that only mimic the API may ignore it).
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        blocks: dict[int, dict[str, str]] = {}
        finish: str | None = None
        input_tokens = output_tokens = 0
        try:
            stream = await self._client.messages.create(**kwargs)
            async with stream:
                async for event in stream:
                    kind = event.type
                    if kind == "message_start":
                        usage = event.message.usage
                        input_tokens = ((usage.input_tokens or 0)
                                        + (getattr(usage, "cache_read_input_tokens", 0) or 0)
                                        + (getattr(usage, "cache_creation_input_tokens", 0) or 0))
                        output_tokens = usage.output_tokens or 0
                    elif kind == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = {"id": block.id, "name": block.name, "args": ""}
                    elif kind == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            yield TextDelta(delta.text)
                        elif delta.type == "thinking_delta":
                            yield TextDelta(delta.thinking, thinking=True)
                        elif delta.type == "input_json_delta" and event.index in blocks:
                            blocks[event.index]["args"] += delta.partial_json
                    elif kind == "message_delta":
                        finish = event.delta.stop_reason or finish
                        if event.usage is not None and event.usage.output_tokens is not None:
                            output_tokens = event.usage.output_tokens
        except self._sdk.AnthropicError as exc:
            raise self._error(exc, model) from exc
        yield Usage(input_tokens, output_tokens)
        for index in sorted(blocks):
            b = blocks[index]
            yield ToolCallEvent(ToolCall(b["id"], b["name"], parse_arguments(b["args"])))
        yield Finish(finish)

    async def list_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
            return [m.id async for m in page]
        except self._sdk.AnthropicError as exc:
            raise self._error(exc, None) from exc

    async def aclose(self) -> None:
        await self._client.close()

    def _error(self, exc: Exception, model: str | None) -> Exception:
        found = from_sdk(exc, self._sdk, self.name, model, self.base_url or "api.anthropic.com")
        if found is not None:
            return found
        return ProviderError(f"provider {self.name!r}: {exc}", provider=self.name, kind="server")


def _messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            # Consecutive tool results go back in one user turn, as the API wants.
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list) \
                    and all(b.get("type") == "tool_result" for b in out[-1]["content"]):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        content: list[dict[str, Any]] = []
        if m.content:
            content.append({"type": "text", "text": m.content})
        for url in m.images:
            match = _DATA_URI.match(url)
            source = ({"type": "base64", "media_type": match["mime"], "data": match["data"]}
                      if match else {"type": "url", "url": url})
            content.append({"type": "image", "source": source})
        for call in m.tool_calls:
            content.append({"type": "tool_use", "id": call.id, "name": call.name,
                            "input": call.arguments})
        out.append({"role": m.role, "content": content or [{"type": "text", "text": ""}]})
    return out
