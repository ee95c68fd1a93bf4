"""NodeTool node types this node deliberately does not provide, and why.

Validation names the reason instead of only "unknown node type", so a user who
loads a NodeTool workflow that uses one knows it is not a typo and not coming.
"""

from __future__ import annotations

__all__ = ["UNAVAILABLE"]

_DESKTOP = "it opens a window on the desktop, and a node runs headless"
_LAYOUT = ("it needs PyMuPDF's layout analysis (AGPL); lib.pymupdf.ExtractText reads a "
           "PDF's text with pypdf")
_POSITIONS = ("it lays out text by position (NodeTool's liteparse); lib.pdf.ExtractText and "
              "PageCount are here")
_MEDIA = "this node has no image or video types"

UNAVAILABLE: dict[str, str] = {
    "lib.http.FetchPage": "it drives a headless browser (Selenium); use lib.http.GetRequest "
                          "for pages that need no JavaScript",
    "lib.os.OpenWorkspaceDirectory": _DESKTOP,
    "lib.os.ShowNotification": _DESKTOP,
    "nodetool.workspace.SaveImageFile": _MEDIA,
    "nodetool.workspace.SaveVideoFile": _MEDIA,
    "lib.pymupdf.ExtractTextBlocks": _LAYOUT,
    "lib.pymupdf.ExtractTextWithStyle": _LAYOUT,
    "lib.pymupdf.ExtractTables": _LAYOUT,
    "lib.pymupdf.ExtractMarkdown": _LAYOUT,
    **{f"lib.pdf.{name}": _POSITIONS for name in
       ("ExtractMarkdown", "ExtractTables", "ExtractTextBlocks", "ExtractStyledText",
        "PageMetadata")},
}
