"""The web, feed, document and database node types against a real HTTP server on loopback
and real SQLite files in the node's storage folder."""

from __future__ import annotations

import sqlite3

import pytest

from nodetool_gateway.engine import WorkflowError
from nodetool_gateway.engine.runner import run_workflow
from web.server import WebServer, web_services

LOOPBACK = {"allow": ["127.0.0.1"]}


services = web_services

def graph(nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str, str, str]]) -> dict:
    return {"nodes": [{"id": i, "type": t, "data": d} for i, t, d in nodes],
            "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                      for s, sh, t, th in edges]}


async def run_one(svc, node_type: str, data: dict, handle: str = "output"):
    """Runs one node into an Output; the values it collected."""
    g = graph([("n", node_type, data), ("o", "nodetool.output.Output", {"name": "out"})],
              [("n", handle, "o", "value")])
    events: list[dict] = []
    result = await run_workflow(g, services=svc, on_event=events.append)
    assert result.status == "completed", result.error
    return [e["value"] for e in events if e["type"] == "output_update"]


async def failure(svc, node_type: str, data: dict) -> str:
    g = graph([("n", node_type, data), ("o", "nodetool.output.Output", {"name": "out"})],
              [("n", "output", "o", "value")])
    result = await run_workflow(g, services=svc)
    assert result.status == "failed"
    return result.error


def last(values: list):
    """The last value an Output received (a job's outputs are lists, as NodeTool's)."""
    assert isinstance(values, list) and values
    return values[-1]


async def test_http_get_post_put_patch_delete_head(tmp_path, web):
    """The request nodes send what they say and return text, bytes, JSON and headers."""
    svc = services(tmp_path, LOOPBACK)
    assert "Hello &amp; welcome" in last(await run_one(svc, "lib.http.GetRequest", {"url": f"{web.url}/page.html"}))
    assert last(await run_one(svc, "lib.http.GetRequestBinary", {"url": f"{web.url}/file.bin"})) == bytes(range(256))
    assert last(await run_one(svc, "lib.http.JSONGetRequest", {"url": f"{web.url}/data.json"})) == {"ok": True, "items": [1, 2]}
    assert last(await run_one(svc, "lib.http.PostRequest", {"url": f"{web.url}/echo", "data": "a=1"})) == "a=1"
    assert last(await run_one(svc, "lib.http.PutRequest", {"url": f"{web.url}/echo", "data": "put"})) == "put"
    assert last(await run_one(svc, "lib.http.JSONPatchRequest", {"url": f"{web.url}/echo", "data": {"k": [1]}})) == {"k": [1]}
    assert last(await run_one(svc, "lib.http.JSONPostRequest", {"url": f"{web.url}/echo", "data": {"x": 1}})) == {"x": 1}
    assert last(await run_one(svc, "lib.http.JSONPutRequest", {"url": f"{web.url}/echo", "data": {"y": 2}})) == {"y": 2}
    assert last(await run_one(svc, "lib.http.PostRequestBinary", {"url": f"{web.url}/echo", "data": "raw"})) == b"raw"
    assert last(await run_one(svc, "lib.http.DeleteRequest", {"url": f"{web.url}/data.json"})).startswith('{"ok"')
    headers = last(await run_one(svc, "lib.http.HeadRequest", {"url": f"{web.url}/file.bin"}))
    assert headers["content-length"] == "256"
    assert [(m, p) for m, p, _ in web.requests] == [
        ("GET", "/page.html"), ("GET", "/file.bin"), ("GET", "/data.json"), ("POST", "/echo"),
        ("PUT", "/echo"), ("PATCH", "/echo"), ("POST", "/echo"), ("PUT", "/echo"),
        ("POST", "/echo"), ("DELETE", "/data.json"),
        ("HEAD", "/file.bin")]
    valid = last(await run_one(svc, "lib.http.FilterValidURLs",
                               {"urls": [f"{web.url}/page.html", f"{web.url}/missing", "http://10.1.2.3/"]}))
    assert valid == [f"{web.url}/page.html"]


async def test_http_error_status_and_size_limit_fail_the_node(tmp_path, web):
    """HTTP 404 fails the node, and so does a body over network.max_response_size."""
    svc = services(tmp_path, {**LOOPBACK, "max_response_size": 1024})
    assert "answered HTTP 404" in await failure(svc, "lib.http.GetRequest", {"url": f"{web.url}/missing"})
    error = await failure(svc, "lib.http.GetRequest", {"url": f"{web.url}/big"})
    assert "larger than 1024 bytes (network.max_response_size)" in error


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://[::1]:9/", "http://10.0.0.1/",
                                 "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data",
                                 "http://[::ffff:127.0.0.1]:9/", "http://localhost:9/"])
async def test_loopback_and_private_addresses_are_refused_by_default(tmp_path, url):
    """Without network.allow, loopback, private and link-local addresses are refused."""
    error = await failure(services(tmp_path), "lib.http.GetRequest", {"url": url})
    assert "loopback, private or link-local address" in error and "network.allow" in error


async def test_a_redirect_into_a_refused_range_is_not_followed(tmp_path, web):
    """An allowed server's redirect to another loopback address or a private one is refused."""
    with WebServer("127.0.0.2") as other:
        web.redirects["/to-other"] = f"{other.url}/page.html"
        web.redirects["/to-private"] = "http://10.0.0.1/x"
        web.redirects["/to-self"] = "/page.html"
        svc = services(tmp_path, LOOPBACK)
        error = await failure(svc, "lib.http.GetRequest", {"url": f"{web.url}/to-other"})
        assert "127.0.0.2" in error and "network.allow" in error
        assert other.requests == []
        assert "10.0.0.1" in await failure(svc, "lib.http.GetRequest", {"url": f"{web.url}/to-private"})
        assert "Hello" in last(await run_one(svc, "lib.http.GetRequest", {"url": f"{web.url}/to-self"}))


async def test_deny_refuses_what_allow_does_not_name(tmp_path, web):
    """network.deny refuses a host; network.allow wins over it."""
    svc = services(tmp_path, {"allow": ["127.0.0.1"], "deny": ["0.0.0.0/0", "::/0"]})
    assert "Hello" in last(await run_one(svc, "lib.http.GetRequest", {"url": f"{web.url}/page.html"}))
    error = await failure(services(tmp_path, {"deny": ["93.184.0.0/16"]}), "lib.http.GetRequest",
                          {"url": "http://93.184.215.14/"})
    assert "network.deny" in error
    assert "only http:// and https://" in await failure(svc, "lib.http.GetRequest", {"url": "file:///etc/passwd"})


async def test_rss_feed_streams_entries_then_the_list(tmp_path, web):
    """FetchRSSFeed streams each entry's fields, then all entries as items and output."""
    svc = services(tmp_path, LOOPBACK)
    titles = await run_one(svc, "lib.rss.FetchRSSFeed", {"url": f"{web.url}/feed.xml"}, "title")
    assert titles == ["First story", "Second story", "Third story"]
    items = last(await run_one(svc, "lib.rss.FetchRSSFeed", {"url": f"{web.url}/feed.xml"}, "items"))
    first = items[0]
    assert first["link"] == "http://example.test/1" and first["author"] == "Ada"
    assert first["summary"] == "<p>The first summary.</p>"
    assert {k: first["published"][k] for k in ("year", "month", "day", "hour", "minute", "tzinfo")} == \
        {"year": 2025, "month": 6, "day": 3, "hour": 7, "minute": 39, "tzinfo": "UTC"}
    assert items[2]["link"] == "http://example.test/3"
    atom = last(await run_one(svc, "lib.rss.FetchRSSFeed", {"url": f"{web.url}/atom.xml"}, "output"))
    assert atom[0]["title"] == "Atom entry" and atom[0]["link"] == "http://example.test/a"
    assert atom[0]["author"] == "Grace" and atom[0]["published"]["hour"] == 12
    meta = last(await run_one(svc, "lib.rss.ExtractFeedMetadata", {"url": f"{web.url}/feed.xml"}))
    assert meta["title"] == "Loopback News" and meta["entry_count"] == 3 and meta["language"] == "en"
    assert "not an RSS or Atom feed" in await failure(svc, "lib.rss.ExtractFeedMetadata",
                                                      {"url": f"{web.url}/page.html"})
    assert "network.allow" in await failure(services(tmp_path), "lib.rss.FetchRSSFeed",
                                            {"url": f"{web.url}/feed.xml"})


async def test_pdf_text_from_a_downloaded_document(tmp_path, web):
    """GetRequestDocument feeds ExtractText, which reads the PDF's pages with pypdf."""
    g = graph([("get", "lib.http.GetRequestDocument", {"url": f"{web.url}/doc.pdf"}),
               ("all", "lib.pymupdf.ExtractText", {}),
               ("two", "lib.pymupdf.ExtractText", {"start_page": 1}),
               ("o1", "nodetool.output.StringOutput", {"name": "all"}),
               ("o2", "nodetool.output.StringOutput", {"name": "two"})],
              [("get", "output", "all", "pdf"), ("get", "output", "two", "pdf"),
               ("all", "output", "o1", "value"), ("two", "output", "o2", "value")])
    events: list[dict] = []
    result = await run_workflow(g, services=services(tmp_path, LOOPBACK), on_event=events.append)
    assert result.status == "completed", result.error
    got = {e["output_name"]: e["value"] for e in events if e["type"] == "output_update"}
    assert got == {"all": "Hello PDF\nSecond page\n", "two": "Second page\n"}
    error = await failure(services(tmp_path), "lib.pymupdf.ExtractText",
                          {"pdf": {"type": "document", "uri": "", "data": "bm90IGEgcGRm"}})
    assert "not a readable PDF" in error


async def test_html_to_text_and_markdown_extraction(tmp_path):
    """HTMLToText writes plain text and HtmlToText Markdown, without scripts and styles;
    the Markdown nodes find their parts."""
    from web.server import PAGE

    svc = services(tmp_path)
    assert last(await run_one(svc, "lib.beautifulsoup.HTMLToText", {"text": PAGE})) == \
        "T\n\nHello & welcome\n\nFirst paragraph.\n\none\n\ntwo"
    assert last(await run_one(svc, "lib.beautifulsoup.HTMLToText",
                              {"text": PAGE, "preserve_linebreaks": False})) == \
        "T Hello & welcome First paragraph. one two"
    assert last(await run_one(svc, "nodetool.text.HtmlToText", {"html": PAGE})) == \
        "# Hello & welcome\n\nFirst paragraph.\n\n* one\n* two\n\n"
    md = ("# Title\nSee [docs](http://d.test) and <http://x.test>.\n## Part\n- a\n- b\n\n1. one\n2. two\n"
          "```py\nprint(1)\n```\n| h1 | h2 |\n|---|---|\n| 1 | 2 |\n")
    assert last(await run_one(svc, "lib.markdown.ExtractLinks", {"markdown": md})) == \
        [{"url": "http://d.test", "title": "docs"}, {"url": "http://x.test", "title": ""}]
    assert last(await run_one(svc, "lib.markdown.ExtractHeaders", {"markdown": md, "max_level": 1})) == \
        [{"level": 1, "text": "Title", "index": 0}]
    assert last(await run_one(svc, "lib.markdown.ExtractBulletLists", {"markdown": md})) == \
        [[{"text": "a"}, {"text": "b"}]]
    assert last(await run_one(svc, "lib.markdown.ExtractNumberedLists", {"markdown": md})) == [["one", "two"]]
    assert last(await run_one(svc, "lib.markdown.ExtractCodeBlocks", {"markdown": md})) == \
        [{"language": "py", "code": "print(1)"}]
    table = last(await run_one(svc, "lib.markdown.ExtractTables", {"markdown": md}))
    assert [c["name"] for c in table["columns"]] == ["h1", "h2"] and table["data"] == [["1", "2"]]


COLUMNS = {"type": "record_type", "columns": [{"name": "id", "data_type": "int"},
                                              {"name": "question", "data_type": "string"},
                                              {"name": "tags", "data_type": "object"}]}


async def test_sqlite_nodes_keep_their_database_in_storage(tmp_path):
    """CreateTable, Insert, Query, Update, Delete and ExecuteSQL work on <storage>/sqlite/cards.db."""
    svc = services(tmp_path)
    db = {"database_name": "cards.db", "table_name": "cards"}
    made = await run_one(svc, "lib.sqlite.CreateTable", {**db, "columns": COLUMNS}, "table_name")
    assert made == ["cards"]
    for q in ("What is 2+2?", "Robert'); DROP TABLE cards;--"):
        inserted = last(await run_one(svc, "lib.sqlite.Insert", {**db, "data": {"question": q, "tags": ["x"]}}))
        assert inserted["rows_affected"] == 1
    rows = last(await run_one(svc, "lib.sqlite.Query", {**db, "order_by": "id"}))
    assert rows == [{"id": 1, "question": "What is 2+2?", "tags": ["x"]},
                    {"id": 2, "question": "Robert'); DROP TABLE cards;--", "tags": ["x"]}]
    assert await run_one(svc, "lib.sqlite.Query", {**db, "limit": 1, "order_by": "id DESC"}, "index") == [0]
    updated = last(await run_one(svc, "lib.sqlite.Update", {**db, "data": {"question": "Q"}, "where": "id = 1"}))
    assert updated["rows_affected"] == 1
    assert "WHERE clause is required" in await failure(svc, "lib.sqlite.Delete", db)
    assert last(await run_one(svc, "lib.sqlite.Delete", {**db, "where": "id = 2"}))["rows_affected"] == 1
    counted = last(await run_one(svc, "lib.sqlite.ExecuteSQL", {"database_name": "cards.db",
                                                                "sql": "SELECT count(*) AS n, max(question) AS q FROM cards WHERE id > ?",
                                                                "parameters": [0]}))
    assert counted == {"rows": [{"n": 1, "q": "Q"}], "count": 1, "message": "Query returned 1 row(s)"}
    path = tmp_path / "storage" / "sqlite" / "cards.db"
    assert last(await run_one(svc, "lib.sqlite.GetDatabasePath", {"database_name": "cards.db"})) == str(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT question FROM cards").fetchall() == [("Q",)]


@pytest.mark.parametrize("name", ["../escape.db", "sub/x.db", "/tmp/abs.db", "..", "a\\b.db"])
async def test_sqlite_database_names_outside_storage_are_refused(tmp_path, name):
    """A database name with a separator, '..' or an absolute path fails validation."""
    g = graph([("n", "lib.sqlite.Query", {"database_name": name})], [])
    with pytest.raises(WorkflowError) as err:
        await run_workflow(g, services=services(tmp_path))
    assert "not a plain file name" in str(err.value) and "storage" in str(err.value)


async def test_sqlite_refuses_a_symlink_and_sql_that_attaches_files(tmp_path):
    """A database file linking outside the folder, ATTACH and VACUUM INTO are refused."""
    svc = services(tmp_path)
    folder = tmp_path / "storage" / "sqlite"
    folder.mkdir(parents=True)
    (folder / "link.db").symlink_to(tmp_path / "outside.db")
    assert "outside the node's storage folder" in await failure(svc, "lib.sqlite.Query", {"database_name": "link.db"})
    outside = tmp_path / "attached.db"
    for sql in (f"ATTACH DATABASE '{outside}' AS o", f"VACUUM INTO '{outside}'"):
        assert "not authorized" in await failure(svc, "lib.sqlite.ExecuteSQL", {"database_name": "m.db", "sql": sql}) \
            or "authorization denied" in await failure(svc, "lib.sqlite.ExecuteSQL", {"database_name": "m.db", "sql": sql})
    assert not outside.exists() and not (tmp_path / "outside.db").exists()
