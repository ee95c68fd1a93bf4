"""The web tools agents use: a search engine (``google_search``) and a page fetcher
(``browser``), over httpx with timeouts and size limits.

Search goes to the engine the config names (``tools.search``): a SearXNG
instance (its JSON API), Brave Search or Serper (Google results). The fetcher
refuses loopback and private addresses unless ``tools.browser.allow_private``:
the URLs come from a model, and must not reach the node's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from ..config import BrowserToolConfig, SearchToolConfig

__all__ = ["WebSearch", "fetch_page", "html_to_text", "ToolError"]

_MAX_REDIRECTS = 5
_BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
_SERPER_URL = "https://google.serper.dev/search"


class ToolError(Exception):
    """A tool call that failed; its message goes back to the model as the tool's result."""


class WebSearch:
    """One configured search engine."""

    def __init__(self, config: SearchToolConfig):
        self.config = config

    async def search(self, query: str, num_results: int | None = None) -> list[dict[str, str]]:
        """``[{title, url, snippet}]`` for ``query``; raises ToolError."""
        import httpx

        cfg = self.config
        limit = min(num_results or cfg.max_results, cfg.max_results)
        key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
        try:
            async with httpx.AsyncClient(timeout=cfg.timeout) as client:
                if cfg.provider == "searxng":
                    r = await client.get(f"{cfg.base_url.rstrip('/')}/search",
                                         params={"q": query, "format": "json"})
                    r.raise_for_status()
                    rows = [{"title": i.get("title", ""), "url": i.get("url", ""),
                             "snippet": i.get("content", "")} for i in r.json().get("results", [])]
                elif cfg.provider == "brave":
                    r = await client.get(cfg.base_url or _BRAVE_URL, params={"q": query, "count": limit},
                                         headers={"X-Subscription-Token": key or "",
                                                  "Accept": "application/json"})
                    r.raise_for_status()
                    rows = [{"title": i.get("title", ""), "url": i.get("url", ""),
                             "snippet": i.get("description", "")}
                            for i in (r.json().get("web") or {}).get("results", [])]
                else:
                    r = await client.post(cfg.base_url or _SERPER_URL, json={"q": query, "num": limit},
                                          headers={"X-API-KEY": key or ""})
                    r.raise_for_status()
                    rows = [{"title": i.get("title", ""), "url": i.get("link", ""),
                             "snippet": i.get("snippet", "")} for i in r.json().get("organic", [])]
        except httpx.HTTPStatusError as exc:
            raise ToolError(f"search engine {cfg.provider} answered HTTP {exc.response.status_code}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise ToolError(f"search engine {cfg.provider} failed: {type(exc).__name__}: {exc}") from None
        return rows[:limit]


async def _check_host(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"only http(s) URLs can be fetched, not {url!r}")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 80,
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise ToolError(f"{parts.hostname} is a private or loopback address; the node's "
                            f"config does not allow fetching it (tools.browser.allow_private)")


async def fetch_page(url: str, config: BrowserToolConfig) -> dict[str, Any]:
    """``{url, title, content}`` of a web page as plain text; raises ToolError."""
    import httpx

    current = url
    try:
        async with httpx.AsyncClient(timeout=config.timeout, follow_redirects=False) as client:
            for _ in range(_MAX_REDIRECTS + 1):
                await _check_host(current, config.allow_private)
                async with client.stream("GET", current, headers={"User-Agent": "nodetool-gateway"}) as r:
                    if r.is_redirect and r.headers.get("location"):
                        current = urljoin(current, r.headers["location"])
                        continue
                    if r.status_code >= 400:
                        raise ToolError(f"{current} answered HTTP {r.status_code}")
                    body = bytearray()
                    async for piece in r.aiter_bytes():
                        body += piece
                        if len(body) > config.max_bytes:
                            break
                    kind = r.headers.get("content-type", "")
                    text = bytes(body[:config.max_bytes]).decode(r.encoding or "utf-8", "replace")
                    break
            else:
                raise ToolError(f"{url}: more than {_MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        raise ToolError(f"fetching {current} failed: {type(exc).__name__}: {exc}") from None
    if "html" in kind or text.lstrip()[:1] == "<":
        title, content = html_to_text(text)
    else:
        title, content = "", text
    return {"url": current, "title": title, "content": content}


class _Text(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
              "article", "header", "footer", "pre", "blockquote", "ul", "ol", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """``(title, text)`` of an HTML page: scripts and styles dropped, blocks on their own lines."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return " ".join("".join(parser.title).split()), "\n".join(line for line in lines if line)
