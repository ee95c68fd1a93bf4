"""NodeTool's newest type names (its TypeScript runtime's ``lib.http.*``, ``lib.html.*``
and ``lib.pdf.ExtractText``), run as workflows against a real HTTP server on loopback;
the ``lib.html`` and ``lib.pdf`` types beside the deprecated twins they replace."""

from __future__ import annotations

import base64
import json

import pytest

from nodetool_gateway.engine import default_registry
from nodetool_gateway.engine.library import pymupdf
from nodetool_gateway.engine.library._deprecated import DEPRECATED
from nodetool_gateway.engine.library.lib_http_ts import USER_AGENT
from nodetool_gateway.engine.runner import run_workflow
from web.server import PAGE, minimal_pdf, web_services

LOOPBACK = {"allow": ["127.0.0.1"]}

HTML = """<html><head><title>Sample</title><meta name="description" content="About it">
<meta name="keywords" content="a, b"></head><body><header>top</header>
<article><h1>Heading</h1><p>Read <a href="/docs">docs</a> and <a href="https://ext.test/x">more</a>.</p>
<img src="img/p.png"><video src="v.mp4"></video><audio src="s.mp3"></audio></article>
<footer>bottom</footer></body></html>"""


services = web_services

def one_node(node_type: str, data: dict, handles: list[str]) -> dict:
    """One node, each of ``handles`` into an Output of the same name."""
    nodes = [{"id": "n", "type": node_type, "data": data}] + [
        {"id": f"o_{h}", "type": "nodetool.output.Output", "data": {"name": h}} for h in handles]
    edges = [{"source": "n", "sourceHandle": h, "target": f"o_{h}", "targetHandle": "value"}
             for h in handles]
    return {"nodes": nodes, "edges": edges}


async def run(svc, node_type: str, data: dict, handles=("output", "status")) -> dict:
    """Each handle's values (a list, as a job's outputs are)."""
    result = await run_workflow(one_node(node_type, data, list(handles)), services=svc)
    assert result.status == "completed", result.error
    return result.outputs


async def last(svc, node_type: str, data: dict, handles=("output", "status")) -> dict:
    return {name: values[-1] for name, values in (await run(svc, node_type, data, handles)).items()}


async def failure(svc, node_type: str, data: dict) -> str:
    result = await run_workflow(one_node(node_type, data, ["output"]), services=svc)
    assert result.status == "failed"
    return result.error


async def test_get_text_json_and_bytes(tmp_path, web):
    """The GET types answer the body (text, parsed JSON, bytes) and the status, with a
    browser-like User-Agent and, for GetJSON, Accept: application/json."""
    svc = services(tmp_path, LOOPBACK)
    got = await last(svc, "lib.http.GetText", {"url": f"{web.url}/page.html"})
    assert got == {"output": PAGE, "status": 200}
    assert web.request_headers[-1]["user-agent"] == USER_AGENT
    assert "accept" not in web.request_headers[-1] or \
        web.request_headers[-1]["accept"] != "application/json"

    got = await last(svc, "lib.http.GetJSON", {"url": f"{web.url}/data.json"})
    assert got == {"output": {"ok": True, "items": [1, 2]}, "status": 200}
    assert web.request_headers[-1]["accept"] == "application/json"

    got = await last(svc, "lib.http.GetBytes", {"url": f"{web.url}/file.bin"})
    assert got == {"output": bytes(range(256)), "status": 200}
    assert [(m, p) for m, p, _ in web.requests] == [
        ("GET", "/page.html"), ("GET", "/data.json"), ("GET", "/file.bin")]


async def test_http_404_is_an_answer_not_a_failure(tmp_path, web):
    """As NodeTool's runtime: HTTP 404 gives its (empty) body and status 404."""
    svc = services(tmp_path, LOOPBACK)
    missing = f"{web.url}/missing"
    assert await last(svc, "lib.http.GetText", {"url": missing}) == {"output": "", "status": 404}
    assert await last(svc, "lib.http.GetBytes", {"url": missing}) == {"output": b"", "status": 404}
    for node_type in ("lib.http.Post", "lib.http.Put", "lib.http.Patch"):
        got = await last(svc, node_type, {"url": missing, "body": {"a": 1}})
        assert got == {"output": "", "status": 404}  # not JSON: the text
    assert await last(svc, "lib.http.Delete", {"url": missing}) == {"output": False, "status": 404}
    # GetJSON needs JSON: an empty 404, like an HTML page, fails the node.
    assert "did not answer JSON" in await failure(svc, "lib.http.GetJSON", {"url": missing})
    assert "did not answer JSON" in await failure(svc, "lib.http.GetJSON",
                                                  {"url": f"{web.url}/page.html"})


@pytest.mark.parametrize("node_type,method", [("lib.http.Post", "POST"), ("lib.http.Put", "PUT"),
                                              ("lib.http.Patch", "PATCH")])
async def test_post_put_patch_send_json_and_parse_the_answer(tmp_path, web, node_type, method):
    """The body goes as JSON (Content-Type application/json); the echoed answer comes
    back parsed, or as text when it is not JSON; no body is sent when body is None."""
    svc = services(tmp_path, LOOPBACK)
    body = {"x": [1, "é"], "ok": None}
    got = await last(svc, node_type, {"url": f"{web.url}/echo", "body": body})
    assert got == {"output": body, "status": 200}
    assert web.requests[-1] == (method, "/echo", '{"x":[1,"é"],"ok":null}'.encode())
    assert web.request_headers[-1]["content-type"] == "application/json"
    assert web.request_headers[-1]["user-agent"] == USER_AGENT

    # A string body is JSON-encoded too; a Content-Type given in headers is kept.
    got = await last(svc, node_type, {"url": f"{web.url}/echo", "body": "plain",
                                      "headers": '{"content-type": "text/plain", "X-Id": 7}'})
    assert got == {"output": "plain", "status": 200}
    assert web.requests[-1][2] == b'"plain"'
    sent = web.request_headers[-1]
    assert sent["content-type"] == "text/plain" and sent["x-id"] == "7"

    got = await last(svc, node_type, {"url": f"{web.url}/echo"})
    assert got == {"output": "", "status": 200}
    assert web.requests[-1] == (method, "/echo", b"")


async def test_delete_answers_whether_it_succeeded(tmp_path, web):
    svc = services(tmp_path, LOOPBACK)
    got = await last(svc, "lib.http.Delete", {"url": f"{web.url}/data.json"})
    assert got == {"output": True, "status": 200}
    assert web.requests[-1] == ("DELETE", "/data.json", b"")


async def test_headers_json_object_text_or_object(tmp_path, web):
    """``headers`` is a JSON object's text; an object is taken as it is; invalid JSON or
    a JSON value that is not an object is no headers. A User-Agent given replaces the
    default, whatever its case."""
    svc = services(tmp_path, LOOPBACK)
    url = f"{web.url}/data.json"
    await run(svc, "lib.http.GetJSON", {"url": url, "headers": json.dumps(
        {"user-agent": "probe/1", "Accept": "application/x-test", "X-Flag": True})})
    sent = web.request_headers[-1]
    assert (sent["user-agent"], sent["accept"], sent["x-flag"]) == \
        ("probe/1", "application/x-test", "true")
    await run(svc, "lib.http.GetText", {"url": url, "headers": {"X-Object": "yes"}})
    assert web.request_headers[-1]["x-object"] == "yes"
    for bad in ("not json", "[1, 2]", "   "):
        assert (await last(svc, "lib.http.GetText", {"url": url, "headers": bad}))["status"] == 200
        assert web.request_headers[-1]["user-agent"] == USER_AGENT


async def test_network_policy_and_empty_url(tmp_path, web):
    """Loopback is refused unless network.allow names it; an empty URL fails the node."""
    for node_type in ("lib.http.GetText", "lib.http.GetJSON", "lib.http.GetBytes",
                      "lib.http.Post", "lib.http.Put", "lib.http.Patch", "lib.http.Delete"):
        error = await failure(services(tmp_path), node_type, {"url": f"{web.url}/data.json"})
        assert "network.allow" in error, node_type
        assert "URL is required" in await failure(services(tmp_path, LOOPBACK), node_type, {})
    assert web.requests == []


@pytest.mark.parametrize("name,data,handles", [
    ("BaseUrl", {"url": "https://site.test/a/b?q=1"}, ["output"]),
    ("ExtractLinks", {"html": HTML, "base_url": "https://site.test"}, ["href", "text", "type", "links"]),
    ("ExtractMetadata", {"html": HTML}, ["title", "description", "keywords"]),
    ("ExtractImages", {"html": HTML, "base_url": "https://site.test/p/"}, ["image", "images"]),
    ("ExtractVideos", {"html": HTML, "base_url": "https://site.test/p/"}, ["video", "videos"]),
    ("ExtractAudio", {"html": HTML, "base_url": "https://site.test/p/"}, ["audio", "audios"]),
    ("WebsiteContentExtractor", {"html_content": HTML}, ["output"]),
    ("HTMLToText", {"text": PAGE}, ["output"]),
    ("HTMLToText", {"text": PAGE, "preserve_linebreaks": False}, ["output"]),
])
async def test_lib_html_types_give_what_their_beautifulsoup_twins_give(tmp_path, name, data, handles):
    svc = services(tmp_path)
    new = await run(svc, f"lib.html.{name}", data, handles)
    old = await run(svc, f"lib.beautifulsoup.{name}", data, handles)
    assert new == old and all(new[h] for h in handles if h != "keywords")


async def test_lib_html_links_and_text(tmp_path):
    svc = services(tmp_path)
    got = await run(svc, "lib.html.ExtractLinks", {"html": HTML, "base_url": "https://site.test"},
                    ["href", "type", "links"])
    assert got["href"] == ["/docs", "https://ext.test/x"]
    assert got["type"] == ["internal", "external"]
    assert got["links"][-1] == [{"href": "/docs", "text": "docs", "type": "internal"},
                                {"href": "https://ext.test/x", "text": "more", "type": "external"}]
    got = await last(svc, "lib.html.HTMLToText", {"text": PAGE}, ["output"])
    assert got["output"] == "T\n\nHello & welcome\n\nFirst paragraph.\n\none\n\ntwo"


async def test_lib_pdf_extract_text(tmp_path, web):
    """lib.pdf.ExtractText reads a real PDF (inline data or a URL) as NodeTool's TypeScript
    runtime does: pages joined by a blank line, trimmed, a range past the end cut to it;
    lib.pymupdf.ExtractText keeps the older Python output (each page ends in a newline)."""
    pdf = minimal_pdf(["Hello PDF", "Second page"])
    inline = {"type": "document", "uri": "", "asset_id": None,
              "data": base64.b64encode(pdf).decode()}
    svc = services(tmp_path, LOOPBACK)
    for data, newest, older in (
            ({"pdf": inline}, "Hello PDF\n\nSecond page", "Hello PDF\nSecond page\n"),
            ({"pdf": inline, "start_page": 1}, "Second page", "Second page\n"),
            ({"pdf": {"type": "document", "uri": f"{web.url}/doc.pdf"}, "end_page": 0},
             "Hello PDF", "Hello PDF\n")):
        assert (await last(svc, "lib.pdf.ExtractText", data, ["output"]))["output"] == newest
        assert (await last(svc, "lib.pymupdf.ExtractText", data, ["output"]))["output"] == older
    past_the_end = {"pdf": inline, "start_page": 1, "end_page": 9}
    assert (await last(svc, "lib.pdf.ExtractText", past_the_end, ["output"]))["output"] == \
        "Second page"
    assert "outside the document's 2 pages" in await failure(svc, "lib.pymupdf.ExtractText",
                                                             past_the_end)
    assert (await last(svc, "lib.pdf.PageCount", {"pdf": inline}, ["output"]))["output"] == 2
    for node_type in ("lib.pdf.ExtractText", "lib.pdf.PageCount"):
        error = await failure(svc, node_type,
                              {"pdf": {"type": "document", "uri": "", "data": "bm90IGEgcGRm"}})
        assert "not a readable PDF" in error
        # The same check that pypdf (the ``pdf`` extra) is installed.
        cls = default_registry().get(node_type)
        assert cls.check.__func__ is pymupdf.ExtractText.check.__func__


NEW = ["lib.http.GetText", "lib.http.GetJSON", "lib.http.GetBytes", "lib.http.Post",
       "lib.http.Put", "lib.http.Patch", "lib.http.Delete", "lib.pdf.ExtractText", "lib.pdf.PageCount",
       *(f"lib.html.{n}" for n in ("BaseUrl", "ExtractLinks", "ExtractMetadata", "ExtractImages",
                                   "ExtractVideos", "ExtractAudio", "WebsiteContentExtractor",
                                   "HTMLToText"))]


def test_new_names_are_registered_and_not_deprecated():
    """Every replacement the deprecation notes name now exists and is not deprecated,
    while the types it replaces still are (a subclass does not inherit the mark)."""
    reg = default_registry()
    for node_type in NEW:
        assert node_type in reg, node_type
        assert reg.deprecation(node_type) is None, node_type
        info = reg.describe(node_type)
        assert info["deprecated"] is False and "deprecation" not in info
    replacements = {new for new in DEPRECATED.values() if new}
    assert replacements <= set(NEW)
    for old, new in DEPRECATED.items():
        if new:
            assert reg.deprecation(old).endswith(f"use {new}"), old
            assert reg.describe(old)["deprecated"] is True
    assert reg.describe("lib.html.HTMLToText")["title"] == "Convert HTML to Text"
    assert reg.describe("lib.pdf.ExtractText")["title"] == "PDF Extract Text"
    post = reg.describe("lib.http.Post")
    assert post["title"] == "HTTP POST"
    assert [(p["name"], p["type"], p["default"]) for p in post["properties"]] == [
        ("url", "str", ""), ("body", "any", None), ("headers", "str", "")]
    assert [(o["name"], o["type"]) for o in post["outputs"]] == [("output", "any"), ("status", "int")]
    assert [(o["name"], o["type"]) for o in reg.describe("lib.http.Delete")["outputs"]] == [
        ("output", "bool"), ("status", "int")]
