"""``lib.html``: NodeTool's TypeScript runtime's names (``lib-html-parse.ts``) for the
``lib.beautifulsoup`` node types, which they replace there.

Each is a subclass of its ``lib.beautifulsoup`` twin, so the properties, outputs and
behaviour are that type's; only the name (and, where NodeTool's differs, the title) is
its own. The twins stay registered and deprecated; these are not.
"""

from __future__ import annotations

from . import beautifulsoup as bs

NAMESPACE = "lib.html"


# name -> NodeTool's title there
_TITLES = {"BaseUrl": "Base Url", "ExtractLinks": "Extract Links",
           "ExtractMetadata": "Extract Metadata", "ExtractImages": "Extract Images",
           "ExtractVideos": "Extract Videos", "ExtractAudio": "Extract Audio",
           "WebsiteContentExtractor": "Website Content Extractor",
           "HTMLToText": "Convert HTML to Text"}

for _name, _title in _TITLES.items():
    _twin = getattr(bs, _name)
    globals()[_name] = type(_name, (_twin,), {"__doc__": _twin.__doc__, "__module__": __name__,
                                              "__qualname__": _name, "node_title": _title})
