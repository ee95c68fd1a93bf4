"""``nodetool.llms``: the older language-model namespace that earlier NodeTool
workflow files use (nodetool-base before August 2025, ``llms.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...providers import ChatMessage, ChatRequest
from ._llm import LanguageModel, LLMNode, call_model, model_field

NAMESPACE = "nodetool.llms"

SUMMARIZER_PROMPT = """
        You are an expert summarizer. Your task is to create clear, accurate, and concise summaries using Markdown for structuring. 
        Follow these guidelines:
        1. Identify and include only the most important information.
        2. Maintain factual accuracy - do not add or modify information.
        3. Use clear, direct language.
        4. Aim for approximately {self.max_tokens} tokens.
        """  # noqa: W291 - NodeTool's prompt, trailing space included


class Summarizer(LLMNode):
    """Generate concise summaries of text content using LLM providers.
    text, summarization, nlp, content"""

    system_prompt: str = Field(default=SUMMARIZER_PROMPT, description="The system prompt for the summarizer")
    model: LanguageModel = model_field("Model to use for summarization")
    text: str = Field(default="", description="The text to summarize")
    max_tokens: int = Field(default=200, ge=50, le=16384, description="Target maximum number of tokens for the summary")
    context_window: int = Field(default=4096, ge=1, le=200000, description="Context window for the model")

    async def process(self, context: Any) -> str:
        model = self.chat_model(context)
        result = await call_model(context, model, ChatRequest(
            [ChatMessage("system", self.system_prompt), ChatMessage("user", self.text)],
            max_tokens=self.max_tokens))
        return result.text
