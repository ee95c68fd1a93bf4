"""``lib.pdf``: NodeTool's TypeScript runtime's PDF types (``lib-pdf.ts``), on pypdf.

ExtractText replaces ``lib.pymupdf.ExtractText`` there, with the same properties
(``pdf``, ``start_page``, ``end_page``) and the same check that the ``pdf`` extra is
installed, but the newest runtime's output: pages joined by a blank line, the whole
trimmed, and a page range past the document cut to it (the older type fails on it).
The layout types there (ExtractMarkdown, ExtractTables, ExtractTextBlocks,
ExtractStyledText, PageMetadata) need text positions; see ``_unavailable``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from . import pymupdf

NAMESPACE = "lib.pdf"


def _page_texts(pdf: bytes, start: int, end: int) -> list[str]:
    pages = pymupdf.read_pdf(pdf).pages
    last = len(pages) - 1 if end == -1 else min(end, len(pages) - 1)
    return [pages[i].extract_text() or "" for i in range(max(0, start), last + 1)]


class ExtractText(pymupdf.ExtractText):
    """Extract plain text from a PDF, preserving line breaks based on layout position.
    pdf, text, extract, read, content
    """

    node_title = "PDF Extract Text"

    async def process(self, context: Any) -> str:
        data = await pymupdf.document_bytes(context, self.pdf)
        texts = await asyncio.to_thread(_page_texts, data, self.start_page, self.end_page)
        return "\n\n".join(texts).strip()


class PageCount(pymupdf._PDFNode):
    """Get the total number of pages in a PDF document.
    pdf, pages, count, length
    """

    node_title = "PDF Page Count"

    pdf: dict[str, Any] = Field(default_factory=pymupdf.document_ref,
                                description="The PDF document to process")

    async def process(self, context: Any) -> int:
        data = await pymupdf.document_bytes(context, self.pdf)
        return await asyncio.to_thread(lambda: len(pymupdf.read_pdf(data).pages))
