"""``lib.beautifulsoup``: HTML to plain text, on the standard library's HTML parser
(NodeTool uses BeautifulSoup; nothing here needs it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..node import BaseNode
from ._html import html_text

NAMESPACE = "lib.beautifulsoup"


class HTMLToText(BaseNode):
    """Converts HTML to plain text by removing tags and decoding entities.
    html, text, convert

    Use cases:
    - Cleaning HTML content for text analysis
    - Extracting readable content from web pages
    - Preparing HTML data for natural language processing
    """

    node_title = "Convert HTML to Text"

    text: str = Field(default="", title="HTML")
    preserve_linebreaks: bool = Field(default=True, title="Preserve Line Breaks",
                                      description="Convert block-level elements to newlines")

    async def process(self, context: Any) -> str:
        return html_text(self.text, preserve_linebreaks=self.preserve_linebreaks)
