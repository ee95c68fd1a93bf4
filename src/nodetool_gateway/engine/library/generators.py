"""``nodetool.generators``: ListGenerator, DataGenerator, StructuredOutputGenerator,
ChartGenerator.

Property names, defaults and outputs follow nodetool-base's Python nodes
(``generators.py``). The answers come through the provider's JSON-schema mode:
lists and rows are read from the JSON array while the model writes it, so each
item or row goes downstream as soon as it is complete.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypedDict

from pydantic import Field

from ...providers import ChatMessage, ChatRequest
from ._llm import (AudioRef, ImageRef, LanguageModel, LLMNode, audio_field, call_model, image_field,
                   model_field, needs_outputs, parse_json_object, schema_from_outputs,
                   stream_json_items, user_message)

NAMESPACE = "nodetool.generators"

# Without a count in the prompt, a list or table stops at this many entries.
DEFAULT_MAX_ITEMS = 50
_COUNT = re.compile(r"\b(\d{1,3})\b")


def requested_count(text: str) -> int | None:
    """The first number in the request (NodeTool's TypeScript DataGenerator reads it the
    same way): "Generate 5 story ideas" asks for 5."""
    match = _COUNT.search(text)
    if match:
        n = int(match.group(1))
        if 1 <= n <= 200:
            return n
    return None


def _joined(prompt: str, input_text: str) -> str:
    return "\n\n".join(part for part in (prompt, input_text) if part)


LIST_PROMPT = """You are an assistant that generates lists.
If the user asks for a specific number of items, generate that many.
Answer with a JSON object {"items": [...]}: one string per item, in order. An item's text may span several sentences."""


class ListGenerator(LLMNode):
    """LLM Agent to create a stream of strings based on a user prompt.
    llm, text streaming"""

    model: LanguageModel = model_field("The model to use for string generation.")
    prompt: str = Field(default="", description="The user prompt")
    input_text: str = Field(default="", description="The input text to be analyzed by the agent.")
    max_tokens: int = Field(default=4096, ge=1, le=100000, description="The maximum number of tokens to generate.")

    class OutputType(TypedDict):
        item: str
        index: int

    async def gen_process(self, context: Any):
        model = self.chat_model(context)
        text = _joined(self.prompt, self.input_text)
        schema = {"type": "object", "required": ["items"], "properties": {"items": {
            "type": "array", "items": {"type": "string"}, "minItems": 1,
            "maxItems": requested_count(text) or DEFAULT_MAX_ITEMS}}}
        request = ChatRequest([ChatMessage("system", LIST_PROMPT), ChatMessage("user", text)],
                              max_tokens=self.max_tokens, json_schema=schema)
        index = 0
        async for item in stream_json_items(context, model, request):
            item = re.sub(r"\s+", " ", str(item).replace("**", "")).strip()
            if item:
                yield {"item": item, "index": index}
                index += 1
        if index == 0:
            raise ValueError("ListGenerator: the model returned no items")


DATA_PROMPT = """You are a data generation assistant.

Your task:
1. Generate data that matches the specified columns and requirements
2. Answer with a JSON object {{"rows": [...]}}: one object per row, with exactly these keys:
{columns}

Rules:
- Ensure data types match the column specifications
- Use null for missing values"""

_COLUMN_SCHEMA = {"int": {"type": "integer"}, "float": {"type": "number"},
                  "datetime": {"type": "string", "format": "date-time"}, "string": {"type": "string"},
                  "object": {"type": "object"}}


def _columns(value: Any) -> list[dict[str, Any]]:
    columns = value.get("columns") if isinstance(value, dict) else None
    return [c for c in columns or [] if isinstance(c, dict) and c.get("name")]


def _convert(value: Any, data_type: str) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null", "n/a")):
        return None
    try:
        if "int" in data_type:
            return int(value)
        if "float" in data_type or "number" in data_type:
            return float(value)
    except (TypeError, ValueError):
        return value
    return value


class DataGenerator(LLMNode):
    """LLM Agent to create a dataframe based on a user prompt.
    llm, dataframe creation, data structuring"""

    model: LanguageModel = model_field("The model to use for data generation.")
    prompt: str = Field(default="", description="The user prompt")
    input_text: str = Field(default="", description="The input text to be analyzed by the agent.")
    max_tokens: int = Field(default=4096, ge=1, le=100000, description="The maximum number of tokens to generate.")
    columns: dict[str, Any] = Field(default_factory=lambda: {"type": "record_type", "columns": []},
                                    description="The columns to use in the dataframe.")

    class OutputType(TypedDict):
        record: dict
        dataframe: dict
        index: int
        output: dict  # older workflow files take the dataframe from "output"

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        problems = super().check(node, services)
        if "columns" in node.data and not _columns(node.data["columns"]):
            problems.append("define the columns of the table to generate")
        return problems

    async def gen_process(self, context: Any):
        columns = _columns(self.columns)
        if not columns:
            raise ValueError("Define the columns of the table to generate")
        model = self.chat_model(context)
        text = _joined(self.prompt, self.input_text)
        row = {"type": "object", "additionalProperties": False,
               "required": [c["name"] for c in columns],
               "properties": {c["name"]: {"anyOf": [_COLUMN_SCHEMA.get(c.get("data_type"), {"type": "string"}),
                                                    {"type": "null"}]} for c in columns}}
        schema = {"type": "object", "required": ["rows"], "properties": {"rows": {
            "type": "array", "items": row, "minItems": 1,
            "maxItems": requested_count(text) or DEFAULT_MAX_ITEMS}}}
        described = "\n".join(f"- {c['name']} ({c.get('data_type', 'string')})" for c in columns)
        request = ChatRequest([ChatMessage("system", DATA_PROMPT.format(columns=described)),
                               ChatMessage("user", text)], max_tokens=self.max_tokens, json_schema=schema)
        rows: list[dict[str, Any]] = []
        async for item in stream_json_items(context, model, request):
            if not isinstance(item, dict):
                continue
            record = {c["name"]: _convert(item.get(c["name"]), str(c.get("data_type", ""))) for c in columns}
            yield {"record": record, "index": len(rows)}
            rows.append(record)
        frame = {"type": "dataframe", "uri": "", "asset_id": None, "metadata": None,
                 "columns": [{"name": c["name"], "data_type": c.get("data_type", "string"),
                              "description": c.get("description", "")} for c in columns],
                 "data": [[r[c["name"]] for c in columns] for r in rows]}
        yield {"dataframe": frame, "output": frame}


STRUCTURED_PROMPT = """
You are a structured data generator focused on JSON outputs.

Goal
- Produce a high-quality JSON object that matches <JSON_SCHEMA> using the guidance in <INSTRUCTIONS> and any supplemental <CONTEXT>.

Output format (MANDATORY)
- Output exactly ONE fenced code block labeled json containing ONLY the JSON object:

  ```json
  { ...single JSON object matching <JSON_SCHEMA>... }
  ```

- No additional prose before or after the block.

Generation rules
- Invent plausible, internally consistent values when not explicitly provided.
- Honor all constraints from <JSON_SCHEMA> (types, enums, ranges, formats).
- Prefer ISO 8601 for dates/times when applicable.
- Ensure numbers respect reasonable magnitudes and relationships described in <INSTRUCTIONS>.
- Avoid referencing external sources; rely solely on the provided guidance.

Validation
- Ensure the final JSON validates against <JSON_SCHEMA> exactly.
"""


class StructuredOutputGenerator(LLMNode):
    """Generate structured JSON objects from instructions using LLM providers.
    data-generation, structured-data, json, synthesis"""

    system_prompt: str = Field(default=STRUCTURED_PROMPT, description="The system prompt guiding JSON generation.")
    model: LanguageModel = model_field("Model to use for structured generation.")
    instructions: str = Field(default="", description="Detailed instructions for the structured output.")
    context: str = Field(default="", description="Optional context to ground the generation.")
    image: ImageRef = image_field("Optional image to include in the generation request.")
    audio: AudioRef = audio_field("Optional audio to include in the generation request.")
    max_tokens: int = Field(default=4096, ge=1, le=16384, description="The maximum number of tokens to generate.")

    class OutputType(TypedDict):
        pass

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        return super().check(node, services) + needs_outputs(node, "generate")

    async def process(self, context: Any) -> dict[str, Any]:
        model = self.chat_model(context)
        schema = schema_from_outputs(self.dynamic_outputs, "Structured Output Specification")
        sections = ["<JSON_SCHEMA>\n" + json.dumps(schema, indent=2) + "\n</JSON_SCHEMA>"]
        if self.instructions.strip():
            sections.append("<INSTRUCTIONS>\n" + self.instructions.strip() + "\n</INSTRUCTIONS>")
        if self.context.strip():
            sections.append("<CONTEXT>\n" + self.context.strip() + "\n</CONTEXT>")
        system = self.system_prompt + "\n" + "\n".join(sections) + "\n"
        result = await call_model(context, model, ChatRequest(
            [ChatMessage("system", system),
             user_message("Generate a JSON object that satisfies all requirements.", self.image, self.audio)],
            max_tokens=self.max_tokens, json_schema=schema))
        values = parse_json_object(result, "StructuredOutputGenerator", context)
        return {k: values.get(k) for k in self.dynamic_outputs}


CHART_PROMPT = """You are a Plotly visualization expert. Given a user's description and optional data, generate a Plotly chart configuration as JSON.
The JSON must conform to the provided schema. Choose appropriate chart types (bar, line, scatter, pie, histogram, box, heatmap, etc.) based on the user's description.
Use the data columns provided to set x_column, y_column, and label fields in the series array.
Set a descriptive title, axis labels, and legend settings."""

CHART_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["title", "x_label", "y_label", "legend", "data"],
    "properties": {
        "title": {"type": "string"}, "x_label": {"type": "string"}, "y_label": {"type": "string"},
        "legend": {"type": "boolean"}, "legend_position": {"type": "string"},
        "data": {"type": "object", "additionalProperties": False, "required": ["series"],
                 "properties": {"series": {"type": "array", "minItems": 1, "maxItems": 8, "items": {
                     "type": "object", "additionalProperties": False,
                     "required": ["type", "x_column", "y_column", "label"],
                     "properties": {"type": {"type": "string"}, "x_column": {"type": "string"},
                                    "y_column": {"type": "string"}, "label": {"type": "string"}}}}}}}}

# The rest of NodeTool's ChartConfig, as its TypeScript ChartGenerator fills it in.
_CHART_DEFAULTS = {"height": None, "aspect": None, "x_lim": None, "y_lim": None, "x_scale": None,
                   "y_scale": None, "palette": None, "hue_order": None, "hue_norm": None,
                   "sizes": None, "size_order": None, "size_norm": None, "marginal_kws": None,
                   "joint_kws": None, "diag_kind": None, "corner": False, "center": None,
                   "vmin": None, "vmax": None, "cmap": None, "annot": False, "fmt": ".2g",
                   "square": False}


def _rows(data: Any) -> list[dict[str, Any]]:
    """A dataframe's rows as objects: NodeTool's ``{columns, data}`` or the newer ``{rows}``."""
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("rows"), list):
        return [r for r in data["rows"] if isinstance(r, dict)]
    names = [c.get("name") for c in data.get("columns") or [] if isinstance(c, dict)]
    return [dict(zip(names, row)) for row in data.get("data") or [] if isinstance(row, list)]


class ChartGenerator(LLMNode):
    """LLM Agent to create chart configurations based on natural language descriptions.
    llm, data visualization, charts"""

    model: LanguageModel = model_field("The model to use for chart generation.")
    prompt: str = Field(default="", description="Natural language description of the desired chart")
    data: dict[str, Any] = Field(default_factory=lambda: {"type": "dataframe", "uri": "", "asset_id": None,
                                                          "data": None, "columns": None},
                                 description="The data to visualize")
    max_tokens: int = Field(default=4096, ge=1, le=100000, description="The maximum number of tokens to generate.")

    async def process(self, context: Any) -> dict[str, Any]:
        model = self.chat_model(context)
        rows = _rows(self.data)
        if rows:
            sample = (f"Data columns: {', '.join(rows[0])}\nSample rows:\n"
                      + json.dumps(rows[:5], indent=2, default=str))
        else:
            sample = "No data provided."
        result = await call_model(context, model, ChatRequest(
            [ChatMessage("system", CHART_PROMPT), ChatMessage("user", f"{self.prompt}\n\n{sample}")],
            max_tokens=self.max_tokens, json_schema=CHART_SCHEMA))
        parsed = parse_json_object(result, "ChartGenerator", context)
        series = (parsed.get("data") or {}).get("series") if isinstance(parsed.get("data"), dict) else None
        return {"type": "chart_config", "title": parsed.get("title", ""),
                "x_label": parsed.get("x_label", ""), "y_label": parsed.get("y_label", ""),
                "legend": bool(parsed.get("legend", True)),
                "legend_position": parsed.get("legend_position", "auto"),
                "data": {"type": "chart_data", "series": series or [], "row": None, "col": None,
                         "col_wrap": None},
                **_CHART_DEFAULTS}
