"""``lib.rss``: RSS 2.0, RSS 1.0 (RDF) and Atom feeds, fetched under the node's ``network``
policy and parsed with the standard library (no feedparser).

FetchRSSFeed streams each entry as NodeTool does (``title``, ``link``,
``published``, ``summary``, ``author``), then every entry at once as ``items``
(NodeTool's TypeScript runtime) and, under the same value, ``output``: the name
NodeTool's own "Daily Digest" example reads the entries by.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict

from pydantic import Field

from ..node import BaseNode
from ._http import request

NAMESPACE = "lib.rss"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child(element: ET.Element, *names: str) -> ET.Element | None:
    for name in names:
        for child in element:
            if _local(child.tag) == name:
                return child
    return None


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _link(entry: ET.Element) -> str:
    for child in entry:
        if _local(child.tag) == "link":
            href = child.get("href")
            if href is not None and child.get("rel", "alternate") == "alternate":
                return href.strip()
            if href is None and _text(child):
                return _text(child)
    return _text(_child(entry, "guid", "id"))


def _author(entry: ET.Element) -> str:
    found = _child(entry, "author", "creator")
    if found is None:
        return ""
    name = _child(found, "name")
    return _text(name) if name is not None else _text(found)


def _when(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def datetime_value(moment: datetime) -> dict[str, Any]:
    """NodeTool's Datetime of a naive UTC time."""
    return {"type": "datetime", "year": moment.year, "month": moment.month, "day": moment.day,
            "hour": moment.hour, "minute": moment.minute, "second": moment.second,
            "microsecond": 0, "tzinfo": "UTC", "utc_offset": 0}


def parse_feed(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(feed metadata, entries)`` of an RSS or Atom document; raises ValueError if it is neither."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"not an RSS or Atom feed: {exc}") from None
    channel = _child(root, "channel")
    meta_el = channel if channel is not None else root
    entries_el = [e for e in root.iter() if _local(e.tag) in ("item", "entry")]
    if _local(root.tag) not in ("rss", "feed", "rdf") and not entries_el:
        raise ValueError(f"not an RSS or Atom feed (root element <{_local(root.tag)}>)")
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    entries = []
    for e in entries_el:
        published = _when(_text(_child(e, "pubdate", "published", "updated", "date")))
        entries.append({
            "title": _text(_child(e, "title")),
            "link": _link(e),
            "published": datetime_value(published or now),
            "summary": _text(_child(e, "description", "summary", "content", "encoded")),
            "author": _author(e),
        })
    meta = {
        "title": _text(_child(meta_el, "title")),
        "description": _text(_child(meta_el, "description", "subtitle")),
        "link": _link(meta_el),
        "language": _text(_child(meta_el, "language")),
        "updated": _text(_child(meta_el, "lastbuilddate", "updated")),
        "generator": _text(_child(meta_el, "generator")),
        "entry_count": len(entries),
    }
    return meta, entries


async def _fetch(context: Any, url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    r = await request(getattr(context, "services", None), "GET", url,
                      headers={"Accept": "application/rss+xml, application/atom+xml, */*"})
    if r.status_code >= 400:
        raise ValueError(f"{url} answered HTTP {r.status_code}")
    return parse_feed(r.content)


class FetchRSSFeed(BaseNode):
    """Fetches and parses an RSS feed from a URL.
    rss, feed, network

    Use cases:
    - Monitor news feeds
    - Aggregate content from multiple sources
    - Process blog updates
    """

    node_title = "Fetch RSS Feed"

    url: str = Field(default="", description="URL of the RSS feed to fetch")

    class OutputType(TypedDict):
        title: str
        link: str
        published: dict
        summary: str
        author: str
        items: list[dict]
        output: list[dict]

    async def gen_process(self, context: Any):
        _, entries = await _fetch(context, self.url)
        for entry in entries:
            yield entry
        yield {"items": entries, "output": entries}


class ExtractFeedMetadata(BaseNode):
    """Extracts metadata from an RSS feed.
    rss, metadata, feed

    Use cases:
    - Get feed information
    - Validate feed details
    - Extract feed metadata
    """

    node_title = "Extract Feed Metadata"

    url: str = Field(default="", description="URL of the RSS feed")

    async def process(self, context: Any) -> dict:
        meta, _ = await _fetch(context, self.url)
        return meta
