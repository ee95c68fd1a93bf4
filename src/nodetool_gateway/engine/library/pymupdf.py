"""``lib.pymupdf``: text out of PDF documents, under NodeTool's type names but on pypdf
(BSD-licensed; PyMuPDF is AGPL). pypdf comes with the ``pdf`` extra; without it,
validation names the extra to install.

The document is NodeTool's DocumentRef: its ``data`` (bytes, or base64 as they
travel in JSON), else its ``uri`` fetched under the node's ``network`` policy.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib.util
import io
from typing import Any

from pydantic import Field

from ..node import BaseNode
from ._http import request

NAMESPACE = "lib.pymupdf"

_INSTALL = "pip install 'nodetool-gateway[pdf]'"


def document_ref() -> dict[str, Any]:
    return {"type": "document", "uri": "", "asset_id": None, "data": None}


async def document_bytes(context: Any, ref: Any) -> bytes:
    """The bytes of a DocumentRef (or of bytes given as they are)."""
    if isinstance(ref, (bytes, bytearray)):
        return bytes(ref)
    if not isinstance(ref, dict):
        raise ValueError("pdf should be a document (a DocumentRef with data or a uri)")
    data = ref.get("data")
    if isinstance(data, (bytes, bytearray)) and data:
        return bytes(data)
    if isinstance(data, str) and data:
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            raise ValueError("the document's data is neither bytes nor base64") from None
    uri = ref.get("uri") or ""
    if uri.startswith(("http://", "https://")):
        r = await request(getattr(context, "services", None), "GET", uri)
        if r.status_code >= 400:
            raise ValueError(f"{uri} answered HTTP {r.status_code}")
        return r.content
    if ref.get("asset_id") or uri:
        raise ValueError("only a document's data or an http(s) uri can be read here, "
                         f"not {uri or 'asset ' + str(ref.get('asset_id'))!r}")
    raise ValueError("the pdf input is empty: connect a document")


def read_pdf(pdf: bytes) -> Any:
    """A pypdf reader of ``pdf``, or ValueError saying it is not a readable PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(pdf))
        len(reader.pages)  # reads the page tree: a broken one fails here, not later
    except PdfReadError as exc:
        raise ValueError(f"not a readable PDF: {exc}") from None
    return reader


def _text(pdf: bytes, start: int, end: int) -> str:
    from pypdf.errors import PdfReadError

    try:
        pages = read_pdf(pdf).pages
        last = end if end != -1 else len(pages) - 1
        out = []
        for number in range(start, last + 1):
            text = pages[number].extract_text() or ""
            out.append(text if text.endswith("\n") else text + "\n")
    except PdfReadError as exc:
        raise ValueError(f"not a readable PDF: {exc}") from None
    except IndexError:
        raise ValueError(f"pages {start}..{end} are outside the document's {len(pages)} pages") from None
    return "".join(out)


class _PDFNode(BaseNode):
    abstract = True

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        if importlib.util.find_spec("pypdf") is None:
            return [f"reads PDFs with pypdf, which is not installed: {_INSTALL}"]
        return []


class ExtractText(_PDFNode):
    """Extract plain text from a PDF document.
    pdf, text, extract

    Use cases:
    - Extract raw text content from PDFs
    - Convert PDF documents to plain text
    - Prepare text for further processing
    """

    pdf: dict[str, Any] = Field(default_factory=document_ref,
                                description="The PDF document to extract text from")
    start_page: int = Field(default=0, description="First page to extract (0-based index)")
    end_page: int = Field(default=-1, description="Last page to extract (-1 for last page)")

    async def process(self, context: Any) -> str:
        data = await document_bytes(context, self.pdf)
        return await asyncio.to_thread(_text, data, self.start_page, self.end_page)
