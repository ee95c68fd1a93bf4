"""``lib.markdown``: links, headers, lists, code blocks and tables out of Markdown text,
with NodeTool's own patterns (no Markdown library)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from ..node import BaseNode

NAMESPACE = "lib.markdown"

_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)|<([^>]+)>")
_HEADER = re.compile(r"^(#{1,6})\s+(.+)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.+)$")
_NUMBERED = re.compile(r"^\s*\d+\.\s+(.+)$")
_CODE = re.compile(r"```(\w*)\n(.*?)\n```", re.DOTALL)


def _runs(markdown: str, pattern: re.Pattern[str]) -> list[list[str]]:
    """Consecutive lines matching ``pattern``, as lists of their first group."""
    runs: list[list[str]] = []
    current: list[str] = []
    for line in markdown.split("\n"):
        found = pattern.match(line)
        if found:
            current.append(found.group(1).strip())
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


class ExtractLinks(BaseNode):
    """Extracts all links from markdown text.
    markdown, links, extraction

    Use cases:
    - Extract references and citations from academic documents
    - Build link graphs from markdown documentation
    - Analyze external resources referenced in markdown files
    """

    markdown: str = Field(default="", description="The markdown text to analyze")
    include_titles: bool = Field(default=True, description="Whether to include link titles in output")

    async def process(self, context: Any) -> list[dict[str, str]]:
        links = []
        for m in _LINK.finditer(self.markdown):
            if m.group(1) and m.group(2):
                links.append({"url": m.group(2), "title": m.group(1) if self.include_titles else ""})
            elif m.group(3):
                links.append({"url": m.group(3), "title": ""})
        return links


class ExtractHeaders(BaseNode):
    """Extracts headers and creates a document structure/outline.
    markdown, headers, structure

    Use cases:
    - Generate table of contents
    - Analyze document structure
    - Extract main topics from documents
    """

    markdown: str = Field(default="", description="The markdown text to analyze")
    max_level: int = Field(default=6, ge=1, le=6, description="Maximum header level to extract (1-6)")

    async def process(self, context: Any) -> list[dict[str, Any]]:
        headers: list[dict[str, Any]] = []
        for line in self.markdown.split("\n"):
            m = _HEADER.match(line)
            if m and len(m.group(1)) <= self.max_level:
                headers.append({"level": len(m.group(1)), "text": m.group(2).strip(),
                                "index": len(headers)})
        return headers


class ExtractBulletLists(BaseNode):
    """Extracts bulleted lists from markdown.
    markdown, lists, bullets, extraction

    Use cases:
    - Extract unordered list items
    - Analyze bullet point structures
    - Convert bullet lists to structured data
    """

    markdown: str = Field(default="", description="The markdown text to analyze")

    async def process(self, context: Any) -> list[list[dict[str, Any]]]:
        return [[{"text": t} for t in run] for run in _runs(self.markdown, _BULLET)]


class ExtractNumberedLists(BaseNode):
    """Extracts numbered lists from markdown.
    markdown, lists, numbered, extraction

    Use cases:
    - Extract ordered list items
    - Analyze enumerated structures
    - Convert numbered lists to structured data
    """

    markdown: str = Field(default="", description="The markdown text to analyze")

    async def process(self, context: Any) -> list[list[str]]:
        return _runs(self.markdown, _NUMBERED)


class ExtractCodeBlocks(BaseNode):
    """Extracts code blocks and their languages from markdown.
    markdown, code, extraction

    Use cases:
    - Extract code samples for analysis
    - Collect programming examples
    - Analyze code snippets in documentation
    """

    markdown: str = Field(default="", description="The markdown text to analyze")

    async def process(self, context: Any) -> list[dict[str, str]]:
        return [{"language": m.group(1) or "text", "code": m.group(2).strip()}
                for m in _CODE.finditer(self.markdown)]


class ExtractTables(BaseNode):
    """Extracts tables from markdown and converts them to structured data.
    markdown, tables, data

    Use cases:
    - Extract tabular data from markdown
    - Convert markdown tables to structured formats
    - Analyze tabulated information
    """

    markdown: str = Field(default="", description="The markdown text to analyze")

    async def process(self, context: Any) -> dict:
        # The first table only, as NodeTool: its header row, a separator, then the rows.
        table: list[list[str]] = []
        for line in self.markdown.split("\n"):
            if "|" in line:
                cells = [c.strip() for c in line.split("|")[1:-1]]
                if cells:
                    table.append(cells)
            elif table:
                break
        if len(table) <= 2:
            return {"type": "dataframe", "uri": "", "asset_id": None, "data": [], "columns": []}
        columns = [{"name": h, "data_type": "string", "description": ""} for h in table[0]]
        return {"type": "dataframe", "uri": "", "asset_id": None, "data": table[2:],
                "columns": columns}
