"""The web and database node types run in the node's worker processes, and a node without
pypdf names the extra to install."""

from __future__ import annotations

import sqlite3

from conftest import TIME, node_config, serving
from test_optional_extras import node_on, site_lacking

from web.server import WebServer
from web.test_web_nodes import graph

# The table is made in the same run: the titles stream in before its name reaches Insert,
# and each still gets its own insert (the engine once kept only the last).
FEED_TO_TABLE = graph(
    [("feed", "lib.rss.FetchRSSFeed", {}),
     ("table", "lib.sqlite.CreateTable", {"database_name": "news.db", "table_name": "news",
                                          "columns": {"type": "record_type", "columns": [
                                              {"name": "title", "data_type": "string"}]}}),
     ("make", "nodetool.dictionary.MakeDictionary", {}),
     ("insert", "lib.sqlite.Insert", {}),
     ("o", "nodetool.output.Output", {"name": "inserted"})],
    [("feed", "title", "make", "title"), ("make", "output", "insert", "data"),
     ("table", "database_name", "insert", "database_name"),
     ("table", "table_name", "insert", "table_name"), ("insert", "output", "o", "value")])
FEED_TO_TABLE["nodes"][2]["dynamic_properties"] = {"title": ""}
FEED_TO_TABLE["nodes"].insert(0, {"id": "url", "type": "nodetool.input.StringInput",
                                  "data": {"name": "url", "value": ""}})
FEED_TO_TABLE["edges"].append({"source": "url", "sourceHandle": "output", "target": "feed",
                               "targetHandle": "url"})


async def test_feed_into_sqlite_in_a_worker_process(tmp_path):
    """A worker fetches a loopback feed (network.allow) and inserts each title into storage."""
    storage = tmp_path / "storage"
    cfg = node_config("ws://127.0.0.1:1", storage={"path": str(storage)},
                      network={"allow": ["127.0.0.1"]}, engine={"isolation": "process"})
    with WebServer() as web:
        async with serving(cfg) as (op, _client):
            answer = await op.call("run_workflow", {"graph": FEED_TO_TABLE,
                                                    "params": {"url": f"{web.url}/feed.xml"}},
                                   timeout=60 * TIME)
    assert answer["status"] == "success", answer
    with sqlite3.connect(storage / "sqlite" / "news.db") as conn:
        titles = sorted(t for (t,) in conn.execute("SELECT title FROM news"))
    assert titles == ["First story", "Second story", "Third story"]


async def test_pdf_node_without_pypdf_names_the_extra(tmp_path):
    """Without pypdf, a workflow using lib.pymupdf.ExtractText fails validation naming [pdf]."""
    g = graph([("pdf", "lib.pymupdf.ExtractText", {}), ("o", "nodetool.output.StringOutput",
                                                       {"name": "text"})],
              [("pdf", "output", "o", "value")])
    async with node_on(site_lacking(tmp_path, "pypdf"), tmp_path, "no-pdf") as (_, op):
        answer = await op.call("run_workflow", {"graph": g}, node_id="no-pdf", timeout=30 * TIME)
    assert answer["status"] == "error" and answer["code"] == "INVALID_ARGS", answer
    assert "pip install 'nodetool-gateway[pdf]'" in answer["error"]
