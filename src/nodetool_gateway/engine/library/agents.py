"""``nodetool.agents``: Agent, Summarizer, Classifier, Extractor, ResearchAgent.

Property names, defaults, outputs and prompts follow nodetool-base's Python
nodes (``src/nodetool/nodes/nodetool/agents.py``); where the newer TypeScript
runtime differs, the README's "Language models" section says what was chosen.
Structured answers use the provider's JSON-schema mode, so even a small local
model returns valid JSON.
"""

from __future__ import annotations

import asyncio
import difflib
from typing import Any, TypedDict

from pydantic import Field

from ...providers import ChatMessage, ChatRequest, ChatResult, TextDelta
from ._llm import (AudioRef, ImageRef, LanguageModel, LLMNode, audio_field, call_model, chunk_value,
                   history_messages, image_field, model_field, needs_outputs, parse_json_object,
                   schema_from_outputs, stream_call, user_message)
from ._tools import Tool, build_tools, tool_problems

NAMESPACE = "nodetool.agents"

MAX_AGENT_ITERATIONS = 32


class _ToolUsing(LLMNode):
    abstract = True

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        tools = node.data.get("tools", cls.model_fields["tools"].get_default(call_default_factory=True))
        return super().check(node, services) + tool_problems(tools, services)


async def _run_tools(tools: list[Tool], result: ChatResult, messages: list[ChatMessage],
                     context: Any) -> bool:
    """Run the tool calls of ``result`` at once and append their answers; False if none ran."""
    by_name = {t.spec.name: t for t in tools}
    calls = [c for c in result.tool_calls if c.name in by_name]
    for c in result.tool_calls:
        if c.name not in by_name:
            context.log(f"the model called an unknown tool {c.name!r}; ignored", "warning")
    if not calls:
        return False
    messages.append(ChatMessage("assistant", result.text, tool_calls=list(calls)))
    answers = await asyncio.gather(*(by_name[c.name].call(c.arguments) for c in calls))
    for c, answer in zip(calls, answers):
        messages.append(ChatMessage("tool", answer, tool_call_id=c.id, name=c.name))
    return True


class Agent(_ToolUsing):
    """Generate natural language responses using LLM providers and streams output.
    llm, text-generation, chatbot, question-answering, streaming"""

    model: LanguageModel = model_field("Model to use for execution")
    system: str = Field(default="You are a friendly assistant", description="The system prompt for the LLM")
    prompt: str = Field(default="", description="The prompt for the LLM")
    tools: list[Any] = Field(default=[], description="Tools to enable for the agent.")
    image: ImageRef = image_field("The image to analyze")
    audio: AudioRef = audio_field("The audio to analyze")
    history: list[Any] = Field(default=[], description="The messages for the LLM")
    thread_id: str | None = Field(default="", description="Accepted for NodeTool's files; threads are not kept here.")
    max_tokens: int = Field(default=8192, ge=1, le=100000)

    class OutputType(TypedDict):
        text: str
        chunk: dict
        thinking: dict
        audio: dict

    async def gen_process(self, context: Any):
        model = self.chat_model(context)
        tools = build_tools(self.tools, context.services, context.log)
        messages = [ChatMessage("system", self.system), *history_messages(self.history),
                    user_message(self.prompt, self.image, self.audio)]
        schema = (schema_from_outputs(self.dynamic_outputs, "Agent Structured Output")
                  if self.dynamic_outputs else None)
        last: ChatResult | None = None
        for _ in range(MAX_AGENT_ITERATIONS):
            request = ChatRequest(messages, max_tokens=self.max_tokens, json_schema=schema,
                                  tools=[t.spec for t in tools])
            result = ChatResult()
            async for event in stream_call(context, model, request):
                if isinstance(event, TextDelta):
                    key = "thinking" if event.thinking else "chunk"
                    yield {key: chunk_value(event.text, thinking=event.thinking)}
                else:
                    result = event
            if result.text:
                last = result
                yield {"text": result.text}
            if not await _run_tools(tools, result, messages, context):
                break
            if result.text:
                messages.append(ChatMessage("assistant", result.text))
        if self.dynamic_outputs:
            if last is None:
                raise ValueError("Agent did not return structured output text")
            values = parse_json_object(last, "Agent", context)
            missing = [k for k in self.dynamic_outputs if k not in values]
            if missing:
                raise ValueError(f"Agent structured output is missing required field '{missing[0]}'")
            yield {k: values[k] for k in self.dynamic_outputs}


SUMMARIZER_PROMPT = """
        You are an expert summarizer. Your task is to create clear, accurate, and concise summaries using Markdown for structuring.
        Follow these guidelines:
        1. Identify and include only the most important information.
        2. Maintain factual accuracy - do not add or modify information.
        3. Use clear, direct language.
        4. Aim for approximately {self.max_tokens} tokens.
        """


class Summarizer(LLMNode):
    """Generate concise summaries of text content using LLM providers with streaming output.
    text, summarization, nlp, content, streaming"""

    system_prompt: str = Field(default=SUMMARIZER_PROMPT, description="The system prompt for the summarizer")
    model: LanguageModel = model_field("Model to use for summarization")
    text: str = Field(default="", description="The text to summarize")
    image: ImageRef = image_field("Optional image to condition the summary")
    audio: AudioRef = audio_field("Optional audio to condition the summary")

    class OutputType(TypedDict):
        text: str
        chunk: dict

    async def gen_process(self, context: Any):
        model = self.chat_model(context)
        request = ChatRequest([ChatMessage("system", self.system_prompt),
                               user_message(self.text, self.image, self.audio)])
        async for event in stream_call(context, model, request):
            if isinstance(event, TextDelta):
                if not event.thinking:
                    yield {"chunk": chunk_value(event.text)}
            else:
                yield {"text": event.text}


CLASSIFIER_PROMPT = """
You are a precise classifier.

Goal
- Select exactly one category from the list provided by the user.

Output format (MANDATORY)
- Return ONLY a single JSON object with this exact schema and nothing else:
  {"category": "<one-of-the-allowed-categories>"}
- No prose, no Markdown, no code fences, no explanations, no extra keys.

Selection criteria
- Choose the single best category that captures the main intent of the text.
- If multiple categories seem plausible, pick the most probable one; do not return multiple.
- If none fit perfectly, choose the closest allowed category. If the list includes "Other" or "Unknown", prefer it when appropriate.
- Be robust to casing, punctuation, emojis, and minor typos. Handle negation correctly (e.g., "not spam" ≠ spam).
- Never invent categories that are not in the provided list.

Behavior
- Be deterministic for the same input.
- Do not ask clarifying questions; make the best choice with what's given.
"""


def pick_category(raw: str, categories: list[str]) -> str:
    """NodeTool's reading of a classifier's answer: the JSON ``category``, else a category
    named in the text, else the closest one, else Other/Unknown, else the first."""
    canonical = {c.strip().lower(): c for c in categories}
    try:
        value = parse_json_object(raw, "Classifier").get("category")
        if isinstance(value, str) and value.strip().lower() in canonical:
            return canonical[value.strip().lower()]
    except ValueError:
        pass
    lowered = raw.lower()
    for c in categories:
        if c.lower() in lowered:
            return c
    best = max(categories, key=lambda c: difflib.SequenceMatcher(None, c.lower(), lowered).ratio())
    if difflib.SequenceMatcher(None, best.lower(), lowered).ratio() >= 0.5:
        return best
    for c in categories:
        if c.lower() in ("other", "unknown"):
            return c
    return categories[0]


class Classifier(LLMNode):
    """Classify text into predefined or dynamic categories using LLM.
    classification, nlp, categorization"""

    system_prompt: str = Field(default=CLASSIFIER_PROMPT, description="The system prompt for the classifier")
    model: LanguageModel = model_field("Model to use for classification")
    text: str = Field(default="", description="Text to classify")
    image: ImageRef = image_field("Optional image to classify in context")
    audio: AudioRef = audio_field("Optional audio to classify in context")
    categories: list[str] = Field(default=[], description="List of possible categories.")

    async def process(self, context: Any) -> str:
        if len(self.categories) < 2:
            raise ValueError("At least 2 categories are required")
        model = self.chat_model(context)
        text = ("Classify the given input into exactly one category from the list.\n"
                f"Allowed categories: {', '.join(self.categories)}\n\n" + f"Text: {self.text}")
        schema = {"type": "object", "additionalProperties": False, "required": ["category"],
                  "properties": {"category": {"type": "string", "enum": self.categories,
                                              "description": "One of the allowed categories"}}}
        result = await call_model(context, model, ChatRequest(
            [ChatMessage("system", self.system_prompt), user_message(text, self.image, self.audio)],
            json_schema=schema, temperature=0))
        return pick_category(result.text, self.categories)


EXTRACTOR_PROMPT = """
You are a precise structured data extractor.

Goal
- Extract exactly the fields described in <JSON_SCHEMA> from the content in <TEXT> (and any attached media).

Output format (MANDATORY)
- Output exactly ONE fenced code block labeled json containing ONLY the JSON object:

  ```json
  { ...single JSON object matching <JSON_SCHEMA>... }
  ```

- No additional prose before or after the block.

Extraction rules
- Use only information found in <TEXT> or attached media. Do not invent facts.
- Preserve source values; normalize internal whitespace and trim leading/trailing spaces.
- If a required field is missing or not explicitly stated, return the closest reasonable default consistent with its type:
  - string: ""
  - number: 0
  - boolean: false
  - array/object: empty value of that type (only if allowed by the schema)
- Dates/times: prefer ISO 8601 when the schema type is string and the value represents a date/time.
- If multiple candidates exist, choose the most precise and unambiguous one.

Validation
- Ensure the final JSON validates against <JSON_SCHEMA> exactly.
"""


class Extractor(LLMNode):
    """Extract structured data from text content using LLM providers.
    data-extraction, structured-data, nlp, parsing"""

    system_prompt: str = Field(default=EXTRACTOR_PROMPT, description="The system prompt for the data extractor")
    model: LanguageModel = model_field("Model to use for data extraction")
    text: str = Field(default="", description="The text to extract data from")
    image: ImageRef = image_field("Optional image to assist extraction")
    audio: AudioRef = audio_field("Optional audio to assist extraction")

    class OutputType(TypedDict):
        pass

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        return super().check(node, services) + needs_outputs(node, "extract")

    async def process(self, context: Any) -> dict[str, Any]:
        import json

        model = self.chat_model(context)
        schema = schema_from_outputs(self.dynamic_outputs, "Extraction Results")
        system = self.system_prompt + "\n<JSON_SCHEMA>\n" + json.dumps(schema, indent=2) + "\n</JSON_SCHEMA>\n"
        result = await call_model(context, model, ChatRequest(
            [ChatMessage("system", system), user_message(self.text, self.image, self.audio)],
            json_schema=schema, temperature=0))
        values = parse_json_object(result, "Extractor", context)
        return {k: values.get(k) for k in self.dynamic_outputs}


RESEARCH_PROMPT = """You are a research assistant.

Goal
- Conduct thorough research on the given objective
- Use tools to gather information from multiple sources
- Write intermediate findings to the workspace for reference
- Synthesize information into the structured output format specified

Tools Available
- google_search: Search the web for information
- browser: Navigate to URLs and extract content
- write_file: Save research findings to files
- read_file: Read previously saved research files
- list_directory: List files in the workspace

Workflow
1. Break down the research objective into specific queries
2. Use google_search to find relevant sources
3. Use browser to extract content from promising URLs
4. Save important findings using write_file
5. Synthesize all findings into the requested output format

Output Format
- Return a structured JSON object matching the defined output schema
- Be thorough and cite sources where appropriate
- Ensure all required fields are populated with accurate information
"""

# Tool rounds before the agent must write its answer.
RESEARCH_ROUNDS = 6


class ResearchAgent(_ToolUsing):
    """Autonomous research agent that gathers information from the web and synthesizes findings.
    research, web-search, data-gathering, agent, automation"""

    objective: str = Field(default="", description="The research objective or question to investigate")
    model: LanguageModel = model_field("Model to use for research and synthesis")
    system_prompt: str = Field(default=RESEARCH_PROMPT, description="System prompt guiding the agent's research behavior")
    tools: list[Any] = Field(default_factory=lambda: [{"type": "tool_name", "name": "google_search"},
                                                      {"type": "tool_name", "name": "browser"}],
                             description="Tools to enable for research.")
    max_tokens: int = Field(default=8192, ge=1, le=100000, description="Maximum tokens for agent responses")

    class OutputType(TypedDict):
        pass

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        return super().check(node, services) + needs_outputs(node, "research")

    async def process(self, context: Any) -> dict[str, Any]:
        import json

        if not self.objective.strip():
            raise ValueError("Provide a research objective")
        model = self.chat_model(context)
        tools = build_tools(self.tools, context.services, context.log)
        schema = schema_from_outputs(self.dynamic_outputs, "Research Results")
        messages = [ChatMessage("system", self.system_prompt), ChatMessage("user", self.objective)]
        # Gather: let the model search and read until it stops calling tools.
        for _ in range(RESEARCH_ROUNDS):
            result = await call_model(context, model, ChatRequest(
                messages, max_tokens=self.max_tokens, tools=[t.spec for t in tools]))
            if not await _run_tools(tools, result, messages, context):
                if result.text:
                    messages.append(ChatMessage("assistant", result.text))
                break
        # Answer: the findings in the declared shape.
        messages.append(ChatMessage("user", "Write the final answer now as one JSON object matching "
                                            "this schema:\n" + json.dumps(schema, indent=2)))
        result = await call_model(context, model, ChatRequest(messages, max_tokens=self.max_tokens,
                                                              json_schema=schema))
        values = parse_json_object(result, "ResearchAgent", context)
        return {k: values.get(k, "") for k in self.dynamic_outputs}
