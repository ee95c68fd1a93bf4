"""``lib.beautifulsoup``: NodeTool's HTML nodes on BeautifulSoup's ``html.parser`` builder.

As in NodeTool's graphs, ExtractLinks, ExtractImages, ExtractVideos and ExtractAudio
stream one value per element found (ExtractLinks on ``href``, ``text`` and ``type``;
NodeTool's Python class also has a ``process`` returning a DataframeRef, which its
runner never calls for a streaming node), then, as NodeTool's TypeScript runtime
(``lib.html.*``), all of them at once as ``links``, ``images``, ``videos`` or ``audios``.
Media come as NodeTool's refs, ``{"type": "image", "uri": <absolute URL>, ...}``. WebsiteContentExtractor keeps NodeTool's choice of main
content but drops page chrome everywhere, and falls back to the whole document where
NodeTool answered "No main content found".
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import urljoin, urlparse

from pydantic import Field

from ..node import BaseNode
from ._html import html_text, main_text, soup

NAMESPACE = "lib.beautifulsoup"

MediaRef = dict[str, Any]


def _ref(kind: str, base_url: str, src: Any) -> MediaRef:
    return {"type": kind, "uri": urljoin(base_url, str(src).strip()), "asset_id": None, "data": None}


class BaseUrl(BaseNode):
    """Extract the base URL from a given URL.
    url parsing, domain extraction, web utilities

    Use cases:
    - Get domain name from full URLs
    - Clean up URLs for comparison
    - Extract root website addresses
    - Standardize URL formats
    """

    url: str = Field(default="", title="URL", description="The URL to extract the base from")

    async def process(self, context: Any) -> str:
        if not self.url:
            raise ValueError("URL must not be empty")
        parsed = urlparse(self.url)
        return f"{parsed.scheme}://{parsed.netloc}"


class ExtractLinks(BaseNode):
    """Extract all links from HTML content with type classification.
    extract, links, urls, web scraping, html

    Use cases:
    - Analyze website structure and navigation
    - Discover related content and resources
    - Build sitemaps and link graphs
    - Find internal and external references
    - Collect URLs for further processing
    """

    html: str = Field(default="", description="The HTML content to extract links from.")
    base_url: str = Field(default="", description="The base URL of the page, used to determine "
                                                  "internal/external links.")

    class OutputType(TypedDict):
        href: str
        text: str
        type: str
        links: list[dict]

    async def gen_process(self, context: Any):
        # As NodeTool: href as written; internal when it starts with base_url or "/".
        links = []
        for a in soup(self.html).find_all("a", href=True):
            href = str(a["href"])
            internal = href.startswith((self.base_url, "/"))
            links.append({"href": href, "text": a.get_text().strip(),
                          "type": "internal" if internal else "external"})
            yield links[-1]
        yield {"links": links}


class ExtractMetadata(BaseNode):
    """Extract metadata from HTML content.
    extract, metadata, seo

    Use cases:
    - Analyze SEO elements
    - Gather page information
    - Extract structured data
    """

    html: str = Field(default="", description="The HTML content to extract metadata from.")

    class OutputType(TypedDict):
        title: str
        description: str
        keywords: str

    async def process(self, context: Any) -> OutputType:
        doc = soup(self.html)

        def meta(name: str) -> str | None:
            found = doc.find("meta", attrs={"name": name})
            return found.get("content") if found is not None else None

        # None where the page has no such element, as NodeTool.
        return {"title": doc.title.string if doc.title else None,
                "description": meta("description"), "keywords": meta("keywords")}


class ExtractImages(BaseNode):
    """Extract images from HTML content.
    extract, images, src

    Use cases:
    - Collect images from web pages
    - Analyze image usage on websites
    - Create image galleries
    """

    html: str = Field(default="", description="The HTML content to extract images from.")
    base_url: str = Field(default="", description="The base URL of the page, used to resolve "
                                                  "relative image URLs.")

    class OutputType(TypedDict):
        image: MediaRef
        images: list[MediaRef]

    async def gen_process(self, context: Any):
        images = [_ref("image", self.base_url, img["src"])
                  for img in soup(self.html).find_all("img", src=True)]
        for image in images:
            yield {"image": image}
        yield {"images": images}


class ExtractVideos(BaseNode):
    """Extract videos from HTML content.
    extract, videos, src

    Use cases:
    - Collect video sources from web pages
    - Analyze video usage on websites
    - Create video playlists
    """

    html: str = Field(default="", description="The HTML content to extract videos from.")
    base_url: str = Field(default="", description="The base URL of the page, used to resolve "
                                                  "relative video URLs.")

    class OutputType(TypedDict):
        video: MediaRef
        videos: list[MediaRef]

    async def gen_process(self, context: Any):
        # A <video>'s src, else its first <source>'s; an <iframe>'s src (embedded players).
        videos = []
        for el in soup(self.html).find_all(["video", "iframe"]):
            src = el.get("src")
            if not src and el.name == "video":
                source = el.find("source", src=True)
                src = source["src"] if source is not None else None
            if src:
                videos.append(_ref("video", self.base_url, src))
                yield {"video": videos[-1]}
        yield {"videos": videos}


class ExtractAudio(BaseNode):
    """Extract audio elements from HTML content.
    extract, audio, src

    Use cases:
    - Collect audio sources from web pages
    - Analyze audio usage on websites
    - Create audio playlists
    """

    html: str = Field(default="", description="The HTML content to extract audio from.")
    base_url: str = Field(default="", description="The base URL of the page, used to resolve "
                                                  "relative audio URLs.")

    class OutputType(TypedDict):
        audio: MediaRef
        audios: list[MediaRef]

    async def gen_process(self, context: Any):
        # <audio src> and <source src>, as NodeTool, but not a <video>'s or <picture>'s sources.
        audios = [_ref("audio", self.base_url, el["src"])
                  for el in soup(self.html).find_all(["audio", "source"], src=True)
                  if el.name == "audio" or el.find_parent(["video", "picture"]) is None]
        for audio in audios:
            yield {"audio": audio}
        yield {"audios": audios}


class WebsiteContentExtractor(BaseNode):
    """Extract main content from a website, removing navigation, ads, and other non-essential elements.
    scrape, web scraping, content extraction, text analysis

    Use cases:
    - Clean web content for further analysis
    - Extract article text from news websites
    - Prepare web content for summarization
    """

    html_content: str = Field(default="", description="The raw HTML content of the website.")

    async def process(self, context: Any) -> str:
        return main_text(self.html_content)


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
