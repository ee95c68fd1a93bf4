"""What the language-model node types share: finding their model, calling it with
tokens streamed to the operator, and reading structured answers.

Node types never touch a vendor SDK: they get a :class:`ChatModel` from the
run's ``context.services.language_models`` (see ``nodetool_gateway.providers``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from ...providers import (ChatMessage, ChatModel, ChatRequest, ChatResult, Finish, ModelError,
                          ProviderError, TextDelta, ToolCallEvent, Usage)
from ..node import BaseNode

__all__ = [
    "LanguageModel",
    "ImageRef",
    "AudioRef",
    "LLMNode",
    "EMPTY_MODEL",
    "EMPTY_IMAGE",
    "EMPTY_AUDIO",
    "call_model",
    "stream_call",
    "stream_json_items",
    "user_message",
    "history_messages",
    "parse_json_object",
    "schema_from_outputs",
    "JsonItems",
    "chunk_value",
    "model_field",
    "image_field",
    "audio_field",
    "needs_outputs",
]

# NodeTool's LanguageModel default: the user picks one, or the config's default fills it.
EMPTY_MODEL = {"type": "language_model", "provider": "empty", "id": "", "name": "", "path": None,
               "supported_tasks": []}
EMPTY_IMAGE = {"type": "image", "uri": "", "asset_id": None, "data": None}
EMPTY_AUDIO = {"type": "audio", "uri": "", "asset_id": None, "data": None}

# NodeTool's value shapes travel as plain dicts: whatever fields a workflow file has.
LanguageModel = dict[str, Any]
ImageRef = dict[str, Any]
AudioRef = dict[str, Any]


def _language_models(services: Any):
    found = getattr(services, "language_models", None)
    if found is None:
        raise ModelError("this run has no language-model providers (configure providers: in the "
                         "node's config)")
    return found


class LLMNode(BaseNode):
    """A node type that calls a language model named by its ``model`` property.

    Validation checks the model against the configured providers, and right
    before the run asks the provider's server whether it serves it.
    """

    abstract = True

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        ref = node.data.get("model") or EMPTY_MODEL
        try:
            problem = _language_models(services).check(ref)
        except ModelError as exc:
            problem = str(exc)
        return [problem] if problem else []

    @classmethod
    async def prepare(cls, node: Any, services: Any) -> None:
        try:
            await _language_models(services).preflight(node.data.get("model") or EMPTY_MODEL)
        except ModelError as exc:
            raise ValueError(str(exc)) from None

    def chat_model(self, context: Any) -> ChatModel:
        try:
            return _language_models(context.services).chat(getattr(self, "model", None) or EMPTY_MODEL)
        except ModelError as exc:
            raise ValueError(str(exc)) from None


def model_field(description: str) -> Any:
    """A ``model`` property: NodeTool's empty LanguageModel until a workflow picks one."""
    return Field(default_factory=lambda: dict(EMPTY_MODEL), description=description)


def image_field(description: str) -> Any:
    return Field(default_factory=lambda: dict(EMPTY_IMAGE), description=description)


def audio_field(description: str) -> Any:
    return Field(default_factory=lambda: dict(EMPTY_AUDIO), description=description)


def needs_outputs(node: Any, what: str) -> list[str]:
    """The validation error of a node type whose outputs a workflow must declare."""
    return [] if node.dynamic_outputs else [f"declare outputs for the fields you want to {what}"]


def chunk_value(text: str, *, done: bool = False, thinking: bool = False) -> dict[str, Any]:
    """NodeTool's Chunk, as a value on a node's ``chunk`` output."""
    return {"type": "chunk", "content_type": "text", "content": text, "content_metadata": {},
            "done": done, "thinking": thinking}


async def stream_call(context: Any, model: ChatModel,
                      request: ChatRequest) -> AsyncIterator[TextDelta | ChatResult]:
    """Call ``model``: yield each piece of text as it comes (and send it to the
    operator as a ``chunk`` event), then the whole :class:`ChatResult`. The call's
    cost is logged; a provider's error fails the node with its message."""
    started = time.perf_counter()
    result = ChatResult()
    text: list[str] = []
    thinking: list[str] = []
    try:
        # Closed here, not whenever the collector finds it: a cancel that lands while a
        # chunk is being sent ends the call (and counts it) before the run's answer.
        async with contextlib.aclosing(model.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    (thinking if event.thinking else text).append(event.text)
                    await context.chunk(event.text, thinking=event.thinking)
                    yield event
                elif isinstance(event, ToolCallEvent):
                    result.tool_calls.append(event.call)
                elif isinstance(event, Usage):
                    result.input_tokens += event.input_tokens
                    result.output_tokens += event.output_tokens
                elif isinstance(event, Finish):
                    result.finish_reason = event.reason
    except ProviderError as exc:
        raise RuntimeError(str(exc)) from None
    await context.chunk("", done=True)
    result.text = "".join(text)
    result.thinking = "".join(thinking)
    elapsed = time.perf_counter() - started
    rate = f", {result.output_tokens / elapsed:.1f} tokens/s" if elapsed > 0 and result.output_tokens else ""
    context.log(f"{model.provider}:{model.model}: {result.input_tokens} input + "
                f"{result.output_tokens} output tokens in {elapsed:.2f}s{rate}")
    yield result


async def call_model(context: Any, model: ChatModel, request: ChatRequest) -> ChatResult:
    """:func:`stream_call`, waited out: the whole answer."""
    result = ChatResult()
    async for event in stream_call(context, model, request):
        if isinstance(event, ChatResult):
            result = event
    return result


def _media_url(ref: Any, kind: str) -> str | None:
    """A data: URI or http(s) URL for an ImageRef/AudioRef, or None when it is empty."""
    if not isinstance(ref, dict):
        return None
    data, uri = ref.get("data"), ref.get("uri") or ""
    if data:
        if isinstance(data, (bytes, bytearray)):
            data = base64.b64encode(bytes(data)).decode("ascii")
        mime = "image/png" if kind == "image" else "audio/wav"
        return f"data:{mime};base64,{data}"
    if uri.startswith(("data:", "http://", "https://")):
        return uri
    if uri or ref.get("asset_id"):
        raise ValueError(f"the {kind} must be given as data, a data: URI or an http(s) URL "
                         f"(got {uri or 'asset ' + str(ref.get('asset_id'))})")
    return None


def user_message(text: str, image: Any = None, audio: Any = None) -> ChatMessage:
    """The user turn: text, and a picture when one is set."""
    images = [url for url in (_media_url(image, "image"),) if url]
    if _media_url(audio, "audio"):
        raise ValueError("audio input is not supported by this node's providers yet")
    return ChatMessage("user", text, images=images)


def history_messages(history: list[Any]) -> list[ChatMessage]:
    """NodeTool Messages (``{role, content}``; content a string or text/image parts)."""
    out: list[ChatMessage] = []
    for item in history or ():
        if not isinstance(item, dict):
            continue
        role = item.get("role") or "user"
        if role not in ("system", "user", "assistant"):
            continue
        content = item.get("content")
        text: list[str] = []
        images: list[str] = []
        if isinstance(content, str):
            text.append(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    text.append(str(part))
                elif part.get("type") == "text":
                    text.append(str(part.get("text", "")))
                elif part.get("type") in ("image_url", "image"):
                    url = _media_url(part.get("image"), "image")
                    if url:
                        images.append(url)
        out.append(ChatMessage(role, "\n".join(text), images=images))
    return out


_FENCED = re.compile(r"```(?:json)?\s*([\s\S]*?)\s*```", re.I)


def close_json(text: str) -> Any:
    """A JSON value cut off mid-way (an answer that hit max_tokens), closed where it
    stopped: an open string ends, a dangling key gets ``null``, open arrays and
    objects close. Raises ValueError when nothing sensible is left."""
    closers: list[str] = []
    in_string = escape = False
    for ch in text:
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            closers.append("]" if ch == "[" else "}")
        elif ch in "]}" and closers:
            closers.pop()
    if in_string and escape:
        text = text[:-1]  # a lone backslash would escape the closing quote
    body = text + ('"' if in_string else "")
    tail = "".join(reversed(closers))
    trimmed = body.rstrip().rstrip(",")
    last_comma = max(body.rfind(","), 0)
    for candidate in (trimmed + tail, trimmed + " null" + tail, body[:last_comma] + tail):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("cannot close the JSON")


def parse_json_object(text: str | ChatResult, what: str, context: Any = None) -> dict[str, Any]:
    """The JSON object in a model's answer: a ```json block, the whole text, or the
    part from the first ``{`` to the last ``}`` (NodeTool's order). An answer cut
    off at max_tokens is closed where it stopped, with a warning in the job's log."""
    cut_off = isinstance(text, ChatResult) and text.finish_reason == "length"
    text = (text.text if isinstance(text, ChatResult) else text).strip()
    candidates = [m.group(1) for m in _FENCED.finditer(text)] + [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    if cut_off and start >= 0:
        try:
            value = close_json(text[start:])
        except ValueError:
            value = None
        if isinstance(value, dict):
            if context is not None:
                context.log(f"{what}: the answer was cut off at max_tokens; the fields it had "
                            f"finished are used, the rest left empty (raise max_tokens)", "warning")
            return value
    hint = "; the answer was cut off at max_tokens: raise max_tokens" if cut_off else ""
    raise ValueError(f"{what} did not return a JSON object (answer began: {text[:120]!r}){hint}")


# NodeTool's TypeMetadata -> JSON Schema (type_metadata.py get_json_schema).
_SIMPLE = {"str": {"type": "string"}, "text": {"type": "string"}, "int": {"type": "integer"},
           "float": {"type": "number"}, "bool": {"type": "boolean"}, "none": {"type": "null"},
           "any": {}, "object": {"type": "object"}}


def _type_schema(meta: Any) -> dict[str, Any]:
    if isinstance(meta, str):
        meta = {"type": meta}
    if not isinstance(meta, dict):
        return {}
    kind = meta.get("type") or "any"
    args = meta.get("type_args") or []
    if kind in _SIMPLE:
        return dict(_SIMPLE[kind])
    if kind == "list":
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array"}
    if kind == "dict":
        return {"type": "object"}
    if kind == "enum":
        return {"type": "string", "enum": list(meta.get("values") or [])}
    if kind == "union":
        return {"anyOf": [_type_schema(a) for a in args]}
    return {"type": "object"}


def schema_from_outputs(outputs: dict[str, Any], title: str) -> dict[str, Any]:
    """The JSON schema of an object with one field per declared dynamic output."""
    return {"type": "object", "title": title, "additionalProperties": False,
            "properties": {name: _type_schema(meta) for name, meta in outputs.items()},
            "required": list(outputs)}


class JsonItems:
    """Finds the items of the first JSON array in text that arrives piece by piece.

    ``feed(text)`` returns the items completed so far (strings, numbers or
    objects, parsed), so a list can be streamed one item at a time while the
    model is still writing the rest.
    """

    def __init__(self) -> None:
        self._in_array = False
        self._depth = 0          # depth inside the array's items
        self._in_string = False
        self._escape = False
        self._item: list[str] = []
        self._done = False

    def feed(self, text: str) -> list[Any]:
        found: list[Any] = []
        for ch in text:
            if self._done:
                break
            if not self._in_array:
                if self._in_string:
                    self._in_string = not (ch == '"' and not self._escape)
                    self._escape = ch == "\\" and not self._escape
                elif ch == '"':
                    self._in_string = True
                elif ch == "[":
                    self._in_array = True
                continue
            if self._in_string:
                self._item.append(ch)
                if self._escape:
                    self._escape = False
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self._in_string = False
                continue
            if ch == '"':
                self._in_string = True
                self._item.append(ch)
            elif ch in "[{":
                self._depth += 1
                self._item.append(ch)
            elif ch in "]}":
                if self._depth == 0:  # the end of the array
                    self._emit(found)
                    self._done = True
                else:
                    self._depth -= 1
                    self._item.append(ch)
            elif ch == "," and self._depth == 0:
                self._emit(found)
            else:
                self._item.append(ch)
        return found

    def _emit(self, found: list[Any]) -> None:
        raw = "".join(self._item).strip()
        self._item = []
        if raw:
            try:
                found.append(json.loads(raw))
            except ValueError:
                pass


async def stream_json_items(context: Any, model: ChatModel,
                            request: ChatRequest) -> AsyncIterator[Any]:
    """Call ``model`` for a JSON answer holding an array; yield its items as they complete."""
    parser = JsonItems()
    async for event in stream_call(context, model, request):
        if isinstance(event, TextDelta) and not event.thinking:
            for item in parser.feed(event.text):
                yield item
