"""HTML to plain text on the standard library's parser (no BeautifulSoup, no GPL html2text)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

__all__ = ["html_text"]

_SKIP = {"script", "style", "noscript", "template", "svg"}
_BLOCK = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
          "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
          "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul", "title"}


class _Text(HTMLParser):
    def __init__(self, ignore_images: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.ignore_images = ignore_images

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img" and not self.ignore_images and not self.skip:
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_text(html: str, *, preserve_linebreaks: bool = True, ignore_images: bool = True) -> str:
    """The text of ``html``: tags dropped, entities decoded, scripts and styles left out;
    block elements on their own lines when ``preserve_linebreaks``, else one line."""
    parser = _Text(ignore_images)
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.parts)
    if not preserve_linebreaks:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
