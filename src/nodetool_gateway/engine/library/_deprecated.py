"""Node types NodeTool's TypeScript runtime no longer has under these names.

They stay registered, so old workflows load and run; the registry marks them
deprecated (``get_node_info``, ``list_nodes``, ``search_nodes``) and validation
warns about them. Only types with direct evidence are listed: the node files of
nodetool-ai/nodetool ``packages/base-nodes/src/nodes`` (``lib-http.ts``,
``lib-html-parse.ts``, ``lib-pdf.ts``, as stored at commit 00e1eae) declare their
replacements under new names, and the group loop is older NodeTool's. The stored
copies of that repository disagree about whole namespaces (one ``index.ts`` drops
``nodetool.list``, ``nodetool.dictionary``, ``nodetool.boolean``, math and JSON;
another exports them all), so those are not marked on that evidence.
"""

from __future__ import annotations

__all__ = ["REMOVED_IN", "DEPRECATED", "deprecation_notes"]

REMOVED_IN = "nodetool-ai/nodetool@00e1eae"

# lib-http.ts has GetText, GetJSON, GetBytes, Post, Put, Patch and Delete only.
_HTTP = ("FilterValidURLs GetRequestDocument HeadRequest PostRequestBinary DownloadFiles "
         "DownloadDataframe ImageDownloader")
# lib-html-parse.ts declares these under lib.html, beside HTMLToText.
_HTML = ("BaseUrl ExtractLinks ExtractImages ExtractAudio ExtractVideos ExtractMetadata "
         "WebsiteContentExtractor")

# node type -> the type that replaces it there ("" when there is none).
DEPRECATED: dict[str, str] = {
    **{f"lib.http.{n}": "" for n in _HTTP.split()},
    "lib.http.GetRequest": "lib.http.GetText",
    "lib.http.JSONGetRequest": "lib.http.GetJSON",
    "lib.http.GetRequestBinary": "lib.http.GetBytes",
    "lib.http.PostRequest": "lib.http.Post",
    "lib.http.JSONPostRequest": "lib.http.Post",
    "lib.http.PutRequest": "lib.http.Put",
    "lib.http.JSONPutRequest": "lib.http.Put",
    "lib.http.JSONPatchRequest": "lib.http.Patch",
    "lib.http.DeleteRequest": "lib.http.Delete",
    "lib.beautifulsoup.HTMLToText": "lib.html.HTMLToText",
    **{f"lib.beautifulsoup.{n}": f"lib.html.{n}" for n in _HTML.split()},
    "lib.pymupdf.ExtractText": "lib.pdf.ExtractText",
    "nodetool.input.GroupInput": "",
    "nodetool.output.GroupOutput": "",
}


def deprecation_notes() -> dict[str, str]:
    """The note ``get_node_info`` shows for each deprecated type."""
    notes = {}
    for node_type, replacement in DEPRECATED.items():
        note = f"removed in NodeTool's TypeScript runtime ({REMOVED_IN})"
        notes[node_type] = f"{note}; use {replacement}" if replacement else note
    return notes
