"""nodetool.text.HtmlToText (Markdown) and the lib.beautifulsoup node types, run as
workflows through the engine on real HTML, one of them fetched from a loopback server."""

from __future__ import annotations

import pytest

from nodetool_gateway.engine.runner import run_workflow
from web.server import PAGE, WebServer, web_services

BASE = "https://site.test/blog/post.html"

ARTICLE = """<!doctype html>
<html><head><title>Sample Page</title>
<meta name="description" content="Example description">
<meta name="keywords" content="alpha, beta">
<style>p { color: red }</style><script>track("x")</script></head>
<body>
<header><a href="/">Home</a> site header</header>
<nav><a href="/about">About</a> nav-links</nav>
<article>
  <h1>Heading</h1>
  <h2>Sub <em>part</em></h2>
  <p>Read the <a href="intro.html">intro</a>, the <a href="/docs/guide">guide</a>
     and <a href="https://ext.example/x">elsewhere</a>.
     Write to <a href="mailto:ada@site.test">Ada</a>. <strong>Bold</strong> snake_case.</p>
  <p><img src="img/photo.png" alt="Photo"> after the image</p>
  <ul><li>one</li><li>two</li></ul>
  <video src="/v.mp4"></video>
  <video><source src="clips/w.webm" type="video/webm"></video>
  <iframe src="//player.example/embed/7"></iframe>
  <audio src="../song.mp3"></audio>
  <audio><source src="alt.ogg"></audio>
  <img alt="no source">
</article>
<aside>aside-text</aside>
<form><input name="q"><button>Search</button></form>
<footer>footer-text</footer>
</body></html>"""

LONG = ("<p>A very long paragraph that goes on and on and on and on, well past the width of "
        "forty characters at least twice over.</p>")


services = web_services

async def run(svc, nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str, str, str]],
              outputs: dict[str, tuple[str, str]]) -> dict[str, list]:
    """Runs the graph with one Output per name in ``outputs`` (name -> (node, handle));
    every value each Output received, by name."""
    nodes = nodes + [(f"out_{name}", "nodetool.output.Output", {"name": name}) for name in outputs]
    edges = edges + [(n, h, f"out_{name}", "value") for name, (n, h) in outputs.items()]
    g = {"nodes": [{"id": i, "type": t, "data": d} for i, t, d in nodes],
         "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                   for s, sh, t, th in edges]}
    events: list[dict] = []
    result = await run_workflow(g, services=svc, on_event=events.append)
    assert result.status == "completed", result.error
    got: dict[str, list] = {name: [] for name in outputs}
    for e in events:
        if e["type"] == "output_update":
            got[e["output_name"]].append(e["value"])
    return got


async def one(svc, node_type: str, data: dict, *handles: str) -> dict[str, list]:
    """Runs one node; the values of each of its ``handles`` (default: ``output``)."""
    handles = handles or ("output",)
    return await run(svc, [("n", node_type, data)], [], {h: ("n", h) for h in handles})


def final(values: list):
    assert values
    return values[-1]


async def test_html_to_text_writes_markdown_with_resolved_links(tmp_path):
    """HtmlToText: # headings, [text](url) links resolved against base_url, images and
    mailto links left out by default, _emphasis_, no head, scripts or styles."""
    got = await one(services(tmp_path), "nodetool.text.HtmlToText", {"html": ARTICLE, "base_url": BASE})
    md = final(got["output"])
    assert md.startswith("[Home](https://site.test/) site header [About](https://site.test/about) "
                         "nav-links\n\n# Heading\n\n## Sub _part_\n\n")
    assert ("Read the [intro](https://site.test/blog/intro.html), the "
            "[guide](https://site.test/docs/guide) and [elsewhere](https://ext.example/x). "
            "Write to Ada. **Bold** snake_case.\n\nafter the image\n\n* one\n* two\n\n") in md
    assert "Sample Page" not in md and "track" not in md and "color" not in md
    assert "mailto" not in md and "photo.png" not in md
    assert md.endswith("* one\n* two\n\naside-text Search footer-text\n\n")


async def test_html_to_text_images_mailto_and_body_width(tmp_path):
    """ignore_images=False writes ![alt](absolute url); ignore_mailto_links=False keeps the
    mailto link; body_width wraps paragraphs, 0 leaves them on one line."""
    svc = services(tmp_path)
    md = final((await one(svc, "nodetool.text.HtmlToText",
                          {"html": ARTICLE, "base_url": BASE, "ignore_images": False,
                           "ignore_mailto_links": False, "body_width": 0}))["output"])
    assert "Write to [Ada](mailto:ada@site.test)." in md
    assert "![Photo](https://site.test/blog/img/photo.png) after the image" in md
    wrapped = final((await one(svc, "nodetool.text.HtmlToText", {"html": LONG, "body_width": 40}))["output"])
    assert wrapped == ("A very long paragraph that goes on and\non and on and on, well past the width of\n"
                       "forty characters at least twice over.\n\n")
    for width in (0, 1000):
        flat = final((await one(svc, "nodetool.text.HtmlToText", {"html": LONG, "body_width": width}))["output"])
        assert flat == "A very long paragraph that goes on and on and on and on, well past the width " \
                       "of forty characters at least twice over.\n\n"
    same = final((await one(svc, "nodetool.text.HtmlToText", {"html": '<a href="http://x.test/">http://x.test/</a>'}))["output"])
    assert same == "<http://x.test/>\n\n"


async def test_base_url_and_metadata(tmp_path):
    """BaseUrl keeps scheme and host (an empty URL fails the node); ExtractMetadata reads
    the title and the description and keywords meta tags, None where there is none."""
    svc = services(tmp_path)
    got = await one(svc, "lib.beautifulsoup.BaseUrl", {"url": "https://example.com:8080/path?q=1#f"})
    assert got["output"] == ["https://example.com:8080"]
    result = await run_workflow({"nodes": [{"id": "n", "type": "lib.beautifulsoup.BaseUrl", "data": {}}],
                                 "edges": []}, services=svc)
    assert result.status == "failed" and "URL must not be empty" in result.error
    meta = await one(svc, "lib.beautifulsoup.ExtractMetadata", {"html": ARTICLE}, "title", "description", "keywords")
    assert meta == {"title": ["Sample Page"], "description": ["Example description"], "keywords": ["alpha, beta"]}
    bare = await one(svc, "lib.beautifulsoup.ExtractMetadata", {"html": "<p>no head</p>"}, "title", "description")
    assert bare == {"title": [], "description": []}  # None, which no edge carries (as NodeTool)


async def test_extract_links_streams_href_text_and_type(tmp_path):
    """ExtractLinks streams each <a href>: href as written, its text, internal or external;
    then all of them as ``links``."""
    got = await one(services(tmp_path), "lib.beautifulsoup.ExtractLinks",
                    {"html": ARTICLE, "base_url": "https://site.test"}, "href", "text", "type", "links")
    assert [list(link.values()) for link in final(got["links"])] == \
        [list(row) for row in zip(got["href"], got["text"], got["type"])]
    assert list(zip(got["href"], got["text"], got["type"])) == [
        ("/", "Home", "internal"), ("/about", "About", "internal"),
        ("intro.html", "intro", "external"), ("/docs/guide", "guide", "internal"),
        ("https://ext.example/x", "elsewhere", "external"),
        ("mailto:ada@site.test", "Ada", "external")]


async def test_extract_media_resolves_relative_urls(tmp_path):
    """ExtractImages, ExtractVideos and ExtractAudio stream refs with absolute URIs, then
    the list of them; a <video>'s <source> is not taken for audio."""
    svc = services(tmp_path)
    data = {"html": ARTICLE, "base_url": BASE}
    got = await one(svc, "lib.beautifulsoup.ExtractImages", data, "image", "images")
    assert got["image"] == [{"type": "image", "uri": "https://site.test/blog/img/photo.png",
                             "asset_id": None, "data": None}]
    assert got["images"] == [got["image"]]
    got = await one(svc, "lib.beautifulsoup.ExtractVideos", data, "video", "videos")
    videos = got["video"]
    assert got["videos"] == [videos]
    assert [(v["type"], v["uri"]) for v in videos] == [
        ("video", "https://site.test/v.mp4"), ("video", "https://site.test/blog/clips/w.webm"),
        ("video", "https://player.example/embed/7")]
    got = await one(svc, "lib.beautifulsoup.ExtractAudio", data, "audio", "audios")
    audio = got["audio"]
    assert got["audios"] == [audio]
    none = await one(svc, "lib.beautifulsoup.ExtractAudio", {"html": "<p>silence</p>"}, "audio", "audios")
    assert none == {"audio": [], "audios": [[]]}
    assert [(a["type"], a["uri"]) for a in audio] == [
        ("audio", "https://site.test/song.mp3"), ("audio", "https://site.test/blog/alt.ogg")]


async def test_website_content_extractor_keeps_the_article(tmp_path):
    """WebsiteContentExtractor: the <article>'s text on one line, without the page's
    header, nav, aside, form, footer, scripts and styles."""
    svc = services(tmp_path)
    text = final((await one(svc, "lib.beautifulsoup.WebsiteContentExtractor", {"html_content": ARTICLE}))["output"])
    assert text.startswith("Heading Sub part Read the intro , the guide and elsewhere .")
    assert text.endswith("after the image one two")
    for chrome in ("site header", "nav-links", "aside-text", "Search", "footer-text", "track", "color"):
        assert chrome not in text
    main = "<body><div id='menu'>menu</div><main><p>Main text</p></main></body>"
    assert (await one(svc, "lib.beautifulsoup.WebsiteContentExtractor", {"html_content": main}))["output"] == ["Main text"]
    fragment = "<p>Just a <b>fragment</b></p><footer>f</footer>"
    assert (await one(svc, "lib.beautifulsoup.WebsiteContentExtractor", {"html_content": fragment}))["output"] \
        == ["Just a fragment"]


@pytest.mark.parametrize("preserve, expected", [
    (True, "T\n\nHello & welcome\n\nFirst paragraph.\n\none\n\ntwo"),
    (False, "T Hello & welcome First paragraph. one two")])
async def test_beautifulsoup_html_to_text_stays_plain(tmp_path, preserve, expected):
    """lib.beautifulsoup.HTMLToText writes plain text, as NodeTool's; <br> is one line break."""
    svc = services(tmp_path)
    got = await one(svc, "lib.beautifulsoup.HTMLToText", {"text": PAGE, "preserve_linebreaks": preserve})
    assert got["output"] == [expected]
    br = await one(svc, "lib.beautifulsoup.HTMLToText", {"text": "<p>Hello<br/>World &amp; <i>all</i></p>"})
    assert br["output"] == ["Hello\nWorld & all"]


async def test_fetched_page_to_links_and_markdown(tmp_path):
    """A page fetched from a loopback server feeds ExtractLinks and HtmlToText, whose links
    resolve against the server's URL."""
    with WebServer() as web:
        web.routes["/blog/post.html"] = ("text/html; charset=utf-8", ARTICLE.encode())
        url = f"{web.url}/blog/post.html"
        got = await run(services(tmp_path, {"allow": ["127.0.0.1"]}),
                        [("get", "lib.http.GetRequest", {"url": url}),
                         ("links", "lib.beautifulsoup.ExtractLinks", {"base_url": web.url}),
                         ("md", "nodetool.text.HtmlToText", {"base_url": url})],
                        [("get", "output", "links", "html"), ("get", "output", "md", "html")],
                        {"href": ("links", "href"), "type": ("links", "type"), "md": ("md", "output")})
    assert got["href"][:3] == ["/", "/about", "intro.html"]
    assert got["type"][:3] == ["internal", "internal", "external"]
    assert f"[intro]({web.url}/blog/intro.html)" in final(got["md"])
    assert f"[guide]({web.url}/docs/guide)" in final(got["md"])
