"""lib.http's batch downloaders (DownloadFiles, ImageDownloader) and DownloadDataframe
against a real HTTP server on loopback, saving into the node's asset store or a folder
of files.allow; and what validation says of FetchPage, which is not built."""

from __future__ import annotations

import json

import pytest

from nodetool_gateway.engine import default_registry, load_graph, validate_graph
from nodetool_gateway.engine.library import _paths as P
from nodetool_gateway.engine.library.http import _download_name
from nodetool_gateway.engine.runner import run_workflow
from web.server import WebServer, web_services

LOOPBACK = {"allow": ["127.0.0.1"]}

CSV = b"name,age,score,born\nada,36,9.5,1815-12-10\ngrace,85,,1906-12-09T00:00:00Z\n"
TSV = b"name\tage\nlin\t7\n"
RECORDS = [{"name": "ada", "age": "36", "extra": 1}, {"name": "grace", "age": 85.0}]
ROWS = [["age", "name"], [1, "x"], [2]]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
GIF = b"GIF89a" + bytes(16)
GALLERY = ('<html><body><h1>Gallery</h1><img src="img/one.png" alt="one">'
           '<p><img class="x" src="/img/two.gif"></p><img src="img/missing.png"></body></html>')


services = web_services


def graph(nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str, str, str]]) -> dict:
    return {"nodes": [{"id": i, "type": t, "data": d} for i, t, d in nodes],
            "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                      for s, sh, t, th in edges]}


def with_outputs(node_type: str, data: dict, handles: list[str]) -> dict:
    """One node, each of ``handles`` into an Output of the same name."""
    nodes = [("n", node_type, data)] + [(f"o_{h}", "nodetool.output.Output", {"name": h})
                                        for h in handles]
    return graph(nodes, [("n", h, f"o_{h}", "value") for h in handles])


async def outputs(svc, g: dict) -> dict:
    """The run's outputs, each Output's last value."""
    result = await run_workflow(g, services=svc)
    assert result.status == "completed", result.error
    return {name: values[-1] for name, values in result.outputs.items()}


async def failure(svc, g: dict) -> str:
    result = await run_workflow(g, services=svc)
    assert result.status == "failed"
    return result.error


def download_files(urls: list[str], folder: str) -> dict:
    return with_outputs("lib.http.DownloadFiles", {"urls": urls, "output_folder": folder},
                        ["success", "failed"])


def dataframe(url: str, fmt: str, columns: list[dict] | None, **more) -> dict:
    data = {"url": url, "file_format": fmt, **more}
    if columns is not None:
        data["columns"] = {"type": "record_type", "columns": columns}
    return with_outputs("lib.http.DownloadDataframe", data, ["output"])


@pytest.fixture
def web():
    with WebServer() as server:
        server.routes.update({
            "/files/people.csv": ("text/csv", CSV),
            "/files/people.tsv": ("text/tab-separated-values", TSV),
            "/files/records.json": ("application/json", json.dumps(RECORDS).encode()),
            "/files/rows.json": ("application/json", json.dumps(ROWS).encode()),
            "/files/object.json": ("application/json", b'{"not": "a list"}'),
            "/gallery/index.html": ("text/html; charset=utf-8", GALLERY.encode()),
            "/gallery/img/one.png": ("image/png", PNG),
            "/img/two.gif": ("image/gif", GIF),
        })
        yield server


def asset_bytes(svc, path: str) -> bytes:
    with P.asset_store(svc) as store:
        asset = P.find_asset(store, P.resolve(svc, path))
        assert asset is not None, path
        return store.read(asset["id"], 1 << 20)


async def test_download_files_into_the_asset_store(tmp_path, web):
    """Each file is saved as an asset in the folder; a 404 and a refused address go to
    ``failed`` (in input order) and the node still completes."""
    svc = services(tmp_path, LOOPBACK)
    web.routes["/files/records.json?v=2"] = web.routes["/files/records.json"]  # exact paths
    urls = [f"{web.url}/files/people.csv", f"{web.url}/files/missing.csv",
            f"{web.url}/files/records.json?v=2", "http://10.0.0.1/secret.txt"]
    out = await outputs(svc, download_files(urls, "downloads/today"))
    assert out["success"] == ["downloads/today/people.csv", "downloads/today/records.json"]
    assert out["failed"] == [f"{web.url}/files/missing.csv", "http://10.0.0.1/secret.txt"]
    assert asset_bytes(svc, "downloads/today/people.csv") == CSV
    assert json.loads(asset_bytes(svc, "downloads/today/records.json")) == RECORDS
    assert sorted(p for _, p, _ in web.requests) == [
        "/files/missing.csv", "/files/people.csv", "/files/records.json?v=2"]


async def test_download_files_saved_file_reads_back_through_a_file_node(tmp_path, web):
    """What ``success`` lists is a path the file node types take (here LoadCSVFile)."""
    svc = services(tmp_path, LOOPBACK)
    g = graph([("d", "lib.http.DownloadFiles", {"urls": [f"{web.url}/files/people.csv"],
                                                "output_folder": "dl"}),
               ("first", "nodetool.list.GetElement", {"index": 0}),
               ("load", "nodetool.dictionary.LoadCSVFile", {}),
               ("o", "nodetool.output.Output", {"name": "rows"})],
              [("d", "success", "first", "values"), ("first", "output", "load", "path"),
               ("load", "output", "o", "value")])
    out = await outputs(svc, g)
    assert out["rows"][0] == {"name": "ada", "age": "36", "score": "9.5", "born": "1815-12-10"}


async def test_download_files_into_a_folder_of_files_allow(tmp_path, web):
    """An absolute folder inside files.allow is written on disk (made when missing)."""
    allowed = tmp_path / "exports"
    allowed.mkdir()
    svc = services(tmp_path, LOOPBACK, files={"allow": [str(allowed)]})
    target = allowed / "batch" / "one"
    out = await outputs(svc, download_files([f"{web.url}/files/people.tsv",
                                             f"{web.url}/gallery/img/one.png"], str(target)))
    assert out["success"] == [str(target / "people.tsv"), str(target / "one.png")]
    assert out["failed"] == []
    assert (target / "people.tsv").read_bytes() == TSV
    assert (target / "one.png").read_bytes() == PNG


@pytest.mark.parametrize("folder, says", [
    ("../x", "'..' is not allowed"),
    ("downloads/../../x", "'..' is not allowed"),
    ("OUTSIDE", "files.allow"),
])
async def test_download_files_refuses_a_folder_outside_before_fetching(tmp_path, web, folder, says):
    """A folder that escapes the asset store, or an absolute one outside files.allow,
    fails the node before any request is sent, and nothing is written."""
    allowed = tmp_path / "exports"
    allowed.mkdir()
    outside = tmp_path / "elsewhere"
    folder = str(outside) if folder == "OUTSIDE" else folder
    svc = services(tmp_path, LOOPBACK, files={"allow": [str(allowed)]})
    error = await failure(svc, download_files([f"{web.url}/files/people.csv"], folder))
    assert says in error and "output_folder" in error
    assert web.requests == []
    assert not outside.exists() and not (tmp_path / "x").exists()


async def test_download_files_refuses_an_absolute_folder_without_files_allow(tmp_path, web):
    svc = services(tmp_path, LOOPBACK)
    error = await failure(svc, download_files([f"{web.url}/files/people.csv"], str(tmp_path / "out")))
    assert "files.allow lists no folder" in error
    assert web.requests == [] and not (tmp_path / "out").exists()


async def test_loopback_is_refused_without_network_allow(tmp_path, web):
    """Without network.allow the downloaders send nothing to loopback: DownloadFiles and
    ImageDownloader list the URLs as failed, DownloadDataframe fails naming network.allow."""
    svc = services(tmp_path)
    url = f"{web.url}/files/people.csv"
    out = await outputs(svc, download_files([url], "downloads"))
    assert out == {"success": [], "failed": [url]}
    out = await outputs(svc, with_outputs("lib.http.ImageDownloader",
                                          {"images": ["one.png"], "base_url": f"{web.url}/gallery/img/"},
                                          ["images", "failed_urls"]))
    assert out == {"images": [], "failed_urls": [f"{web.url}/gallery/img/one.png"]}
    error = await failure(svc, dataframe(url, "csv", [{"name": "name", "data_type": "string"}]))
    assert "loopback, private or link-local address" in error and "network.allow" in error
    assert web.requests == []


async def test_image_downloader_takes_the_img_tags_of_a_page(tmp_path, web):
    """GET a page, find its <img> sources, download them relative to the page: ImageRefs
    with the URL and the bytes inline, and the 404 in failed_urls."""
    svc = services(tmp_path, LOOPBACK)
    page = f"{web.url}/gallery/index.html"
    g = graph([("get", "lib.http.GetRequest", {"url": page}),
               ("find", "nodetool.text.FindAllRegex", {"regex": r'<img[^>]*\ssrc="([^"]+)"'}),
               ("dl", "lib.http.ImageDownloader", {"base_url": page, "max_concurrent_downloads": 2}),
               ("oi", "nodetool.output.Output", {"name": "images"}),
               ("of", "nodetool.output.Output", {"name": "failed_urls"})],
              [("get", "output", "find", "text"), ("find", "output", "dl", "images"),
               ("dl", "images", "oi", "value"), ("dl", "failed_urls", "of", "value")])
    out = await outputs(svc, g)
    assert out["images"] == [
        {"type": "image", "uri": f"{web.url}/gallery/img/one.png", "asset_id": None, "data": PNG},
        {"type": "image", "uri": f"{web.url}/img/two.gif", "asset_id": None, "data": GIF},
    ]
    assert out["failed_urls"] == [f"{web.url}/gallery/img/missing.png"]


async def test_download_dataframe_csv_tsv_and_json(tmp_path, web):
    """The table has the declared columns in their order, values cast to their types;
    a column the file lacks is empty; no columns, an empty table."""
    svc = services(tmp_path, LOOPBACK)
    cols = [{"name": "age", "data_type": "int"}, {"name": "name", "data_type": "string"},
            {"name": "score", "data_type": "float"}, {"name": "born", "data_type": "datetime"},
            {"name": "nope", "data_type": "object"}]
    ref = (await outputs(svc, dataframe(f"{web.url}/files/people.csv", "csv", cols)))["output"]
    assert ref["type"] == "dataframe"
    assert [c["name"] for c in ref["columns"]] == ["age", "name", "score", "born", "nope"]
    assert ref["columns"][0] == {"name": "age", "data_type": "int", "description": ""}
    assert ref["data"] == [[36, "ada", 9.5, "1815-12-10T00:00:00", None],
                           [85, "grace", None, "1906-12-09T00:00:00+00:00", None]]

    ref = (await outputs(svc, dataframe(f"{web.url}/files/people.tsv", "tsv",
                                        [{"name": "age", "data_type": "float"}])))["output"]
    assert ref["data"] == [[7.0]]

    ref = (await outputs(svc, dataframe(f"{web.url}/files/records.json", "json",
                                        [{"name": "name", "data_type": "string"},
                                         {"name": "age", "data_type": "int"}])))["output"]
    assert ref["data"] == [["ada", 36], ["grace", 85]]

    ref = (await outputs(svc, dataframe(f"{web.url}/files/rows.json", "json",
                                        [{"name": "name", "data_type": "string"},
                                         {"name": "age", "data_type": "int"}])))["output"]
    assert ref["data"] == [["x", 1], [None, 2]]

    ref = (await outputs(svc, dataframe(f"{web.url}/files/people.csv", "csv", None)))["output"]
    assert ref["columns"] == [] and ref["data"] == []


async def test_download_dataframe_failures_fail_the_node(tmp_path, web):
    """HTTP 404 and JSON that is not a list fail the node, as in NodeTool."""
    svc = services(tmp_path, LOOPBACK)
    col = [{"name": "a", "data_type": "string"}]
    assert "answered HTTP 404" in await failure(svc, dataframe(f"{web.url}/files/none.csv", "csv", col))
    assert "not a list of records" in await failure(
        svc, dataframe(f"{web.url}/files/object.json", "json", col))


def test_download_name_keeps_only_a_file_name():
    """Content-Disposition's name wins over the URL's; no folder part survives."""
    assert _download_name("http://h/a/b.csv?x=1", None) == "b.csv"
    assert _download_name("http://h/a/", None) == "unnamed_file"
    assert _download_name("http://h/a/b.csv", 'attachment; filename="r.txt"; size=3') == "r.txt"
    assert _download_name("http://h/x", "attachment; filename=../../etc/passwd") == "passwd"
    assert _download_name("http://h/x", 'attachment; filename="..\\..\\evil.bat"') == "evil.bat"
    assert _download_name("http://h/%2e%2e", None) == "unnamed_file"


def test_fetch_page_is_an_unknown_type_at_validation():
    """FetchPage (NodeTool's selenium node) is not built: validation says so, and why."""
    g = load_graph({"nodes": [{"id": "f", "type": "lib.http.FetchPage",
                               "data": {"url": "https://example.com", "wait_time": 10}},
                              {"id": "o", "type": "nodetool.output.Output", "data": {"name": "html"}}],
                    "edges": [{"source": "f", "sourceHandle": "html", "target": "o",
                               "targetHandle": "value"}]})
    result = validate_graph(g, default_registry())
    assert not result.valid
    assert [(i.kind, i.message) for i in result.errors] == [
        ("unknown_type", "node f (lib.http.FetchPage): not available in nodetool-gateway: it "
                         "drives a headless browser (Selenium); use lib.http.GetRequest for pages "
                         "that need no JavaScript")]
