"""Language-model providers behind one small interface.

Node types ask :class:`LanguageModels` for a :class:`ChatModel` by NodeTool's
model reference and call it with a :class:`ChatRequest`; one module per
provider maps that onto the vendor's official SDK (``_openai``, ``_anthropic``).
"""

from ._base import (ChatEvent, ChatMessage, ChatProvider, ChatRequest, Finish, ProviderError,
                    TextDelta, ToolCall, ToolCallEvent, ToolSpec, Usage)
from .registry import ChatModel, ChatResult, LanguageModels, ModelError

__all__ = [
    "ChatEvent",
    "ChatMessage",
    "ChatModel",
    "ChatProvider",
    "ChatRequest",
    "ChatResult",
    "Finish",
    "LanguageModels",
    "ModelError",
    "ProviderError",
    "TextDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolSpec",
    "Usage",
]
