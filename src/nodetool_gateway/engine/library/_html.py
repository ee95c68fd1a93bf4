"""HTML as plain text, as Markdown and as its main content, on BeautifulSoup's
``html.parser`` builder (no lxml) and markdownify (MIT; NodeTool used the GPL html2text).

Both are imported on first use (about 0.1 s), not when the node types load: a node and
its workers start without them until a workflow parses HTML.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

__all__ = ["html_markdown", "html_text", "main_text", "soup"]

_SKIP = ["script", "style", "noscript", "template", "svg"]
_BLOCK = ["address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
          "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
          "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul", "title"]
# Left out of a page's main content (WebsiteContentExtractor).
_CHROME = _SKIP + ["nav", "header", "footer", "aside", "form", "button", "iframe"]
_MAIN = ["article", "main", 'div[id*="content"]', 'div[class*="content"]', "body"]


def soup(html: str) -> BeautifulSoup:
    """``html`` parsed by the standard library's parser."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(html or "", "html.parser")


def _drop(doc: BeautifulSoup, names: list[str]) -> BeautifulSoup:
    for tag in doc.find_all(names):
        tag.decompose()
    return doc


def html_text(html: str, *, preserve_linebreaks: bool = True, ignore_images: bool = True) -> str:
    """The text of ``html``: tags dropped, entities decoded, scripts and styles left out;
    block elements on their own lines when ``preserve_linebreaks``, else one line."""
    doc = _drop(soup(html), _SKIP)
    for img in doc.find_all("img"):
        alt = img.get("alt")
        img.replace_with("" if ignore_images or not alt else f" {alt} ")
    for br in doc.find_all("br"):
        br.replace_with("\n")
    for tag in doc.find_all(_BLOCK):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = doc.get_text()
    if not preserve_linebreaks:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@functools.cache
def _markdown() -> Any:
    from markdownify import MarkdownConverter, abstract_inline_conversion

    class Markdown(MarkdownConverter):
        """html2text's choices on markdownify: links and images resolved against ``base_url``,
        ``#fragment`` links and (optionally) mailto links kept as their text, images dropped
        when ``ignore_images``, ``_emphasis_``."""

        def __init__(self, *, base_url: str, ignore_images: bool, ignore_mailto_links: bool,
                     **options) -> None:
            super().__init__(**options)
            self.base_url, self.ignore_images = base_url, ignore_images
            self.ignore_mailto_links = ignore_mailto_links

        def convert_a(self, el, text, parent_tags):
            href = (el.get("href") or "").strip()
            if not href or href.startswith("#") or (
                    self.ignore_mailto_links and href.lower().startswith("mailto:")):
                return text
            el["href"] = urljoin(self.base_url, href) if self.base_url else href
            return super().convert_a(el, text, parent_tags)

        def convert_img(self, el, text, parent_tags):
            if self.ignore_images:
                return ""
            if self.base_url and el.get("src"):
                el["src"] = urljoin(self.base_url, el["src"])
            return super().convert_img(el, text, parent_tags)

        def convert_video(self, el, text, parent_tags):
            return text  # html2text writes no link for a <video>

        convert_em = convert_i = abstract_inline_conversion(lambda self: "_")

    return Markdown


def html_markdown(html: str, *, base_url: str = "", body_width: int = 1000,
                  ignore_images: bool = True, ignore_mailto_links: bool = True) -> str:
    """``html`` as Markdown, as NodeTool's HtmlToText (html2text) writes it: ``#`` headings,
    ``[text](url)`` links, paragraphs wrapped at ``body_width`` (0: not wrapped); the
    ``<head>``, scripts and styles left out."""
    doc = _drop(soup(html), _SKIP + ["head"])
    converter = _markdown()(base_url=base_url, ignore_images=ignore_images,
                          ignore_mailto_links=ignore_mailto_links, heading_style="ATX",
                          bullets="*", escape_underscores=False, escape_asterisks=False,
                          wrap=True, wrap_width=body_width if body_width > 0 else None)
    return converter.convert_soup(doc).strip() + "\n\n"  # html2text ends so


def main_text(html: str) -> str:
    """The text of a page's main content on one line: navigation, headers, footers,
    asides, forms, scripts and styles dropped; the first ``<article>``, ``<main>`` or
    ``div`` whose id or class names content, else the body, else the whole document."""
    doc = _drop(soup(html), _CHROME)
    main = next((found for sel in _MAIN if (found := doc.select_one(sel)) is not None), doc)
    return " ".join(main.get_text(" ").split())
