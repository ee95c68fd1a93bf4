"""nodetool.data types that read and write files, URLs and assets: real CSV files in
tmp_path, a real asset store, and a real HTTP server on loopback."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from conftest import node_config
from web.server import WebServer

from nodetool_gateway.config import Config
from nodetool_gateway.engine import run_workflow
from nodetool_gateway.engine.library import _paths as P
from nodetool_gateway.engine.library import data as D
from nodetool_gateway.engine.library._http import NetworkRefused
from nodetool_gateway.services import Services

from .test_data import PEOPLE, PEOPLE_CSV, same
from .test_files import FileCtx, Sandbox

LOOPBACK = {"allow": ["127.0.0.1"]}


@pytest.fixture
def box(tmp_path) -> Sandbox:
    box = Sandbox(tmp_path)
    (box.allowed / "people.csv").write_text(PEOPLE_CSV)
    return box


def with_network(box: Sandbox, network: dict[str, Any]) -> FileCtx:
    config = Config.model_validate({**box.config.model_dump(), "network": network})
    return FileCtx(SimpleNamespace(config=config, storage=box.services.storage))


@pytest.fixture
def web():
    with WebServer() as server:
        server.routes["/people.csv"] = ("text/csv", PEOPLE_CSV.encode())
        yield server


async def run(node: Any, ctx: Any) -> Any:
    if node.compute_mode == "gen_process":
        return [item async for item in node.gen_process(ctx)]
    return await node.process(ctx)


def csv_assets(box: Sandbox) -> list[dict[str, Any]]:
    with box.store() as store:
        return store.list(content_type="text/csv")[0]


async def test_load_csv_file_reads_an_allowed_file_as_a_dataframe(box):
    """Reads a CSV file inside files.allow into NodeTool's DataframeRef."""
    ref = await D.LoadCSVFile(file_path=str(box.allowed / "people.csv")).process(box.ctx)
    assert same(ref, PEOPLE)
    with pytest.raises(ValueError, match="file_path cannot be empty"):
        await D.LoadCSVFile().process(box.ctx)
    with pytest.raises(FileNotFoundError):
        await D.LoadCSVFile(file_path=str(box.allowed / "missing.csv")).process(box.ctx)


async def test_save_dataframe_saves_a_csv_asset_and_returns_its_reference(box):
    """Saves the table as a text/csv asset (name strftime-expanded) and returns it with uri and asset_id."""
    ref = await D.SaveDataframe(df=PEOPLE, name="people-%Y.csv").process(box.ctx)
    assert ref["type"] == "dataframe" and ref["uri"] == f"asset://{ref['asset_id']}.csv"
    assert same({**ref, "uri": "", "asset_id": None}, PEOPLE)
    [asset] = csv_assets(box)
    assert asset["id"] == ref["asset_id"] and asset["name"].startswith("people-20")
    with box.store() as store:
        assert store.read(asset["id"], 1 << 20).decode().splitlines()[0] == "name,age,dept,salary"
    again = await D.LoadCSVFile(file_path=asset["name"]).process(box.ctx)
    assert same(again, PEOPLE)


async def test_save_dataframe_into_a_folder_ref_and_load_csv_assets(box):
    """Saves into an asset folder given as a FolderRef; LoadCSVAssets streams its CSV assets by name."""
    with box.store() as store:
        tables = store.add_folder("tables")
        store.add(b"not a table", "notes.txt", parent_id=tables["id"], content_type="text/plain")
    folder = {"type": "folder", "uri": "", "asset_id": tables["id"], "data": None}
    await D.SaveDataframe(df=PEOPLE, folder=folder, name="b.csv").process(box.ctx)
    await D.SaveDataframe(df=D.from_pandas(D.to_pandas(PEOPLE).head(1)), folder="tables",
                          name="a.csv").process(box.ctx)
    by_ref = await run(D.LoadCSVAssets(folder=folder), box.ctx)
    by_path = await run(D.LoadCSVAssets(folder="tables"), box.ctx)
    assert [item["name"] for item in by_ref] == ["a.csv", "b.csv"]
    assert same(by_ref, by_path)
    assert by_ref[1]["dataframe"]["columns"] == PEOPLE["columns"]
    assert len(by_ref[0]["dataframe"]["data"]) == 1 and same(by_ref[1]["dataframe"], PEOPLE)
    with pytest.raises(ValueError, match="Please select an asset folder"):
        await run(D.LoadCSVAssets(), box.ctx)
    with pytest.raises(ValueError, match="Folder does not exist"):
        await run(D.LoadCSVAssets(folder="nowhere"), box.ctx)
    with pytest.raises(ValueError, match="not an asset folder"):
        await run(D.LoadCSVAssets(folder=str(box.allowed)), box.ctx)


async def test_save_csv_dataframe_file_writes_to_an_allowed_folder(box):
    """Writes the table as CSV into an existing allowed folder and returns the dataframe."""
    out = await D.SaveCSVDataframeFile(dataframe=PEOPLE, folder=str(box.allowed),
                                       filename="out-%Y.csv").process(box.ctx)
    assert same(out, PEOPLE)
    [written] = box.allowed.glob("out-20*.csv")
    assert same(await D.LoadCSVFile(file_path=str(written)).process(box.ctx), PEOPLE)
    with pytest.raises(FileNotFoundError, match="Folder does not exist"):
        await D.SaveCSVDataframeFile(dataframe=PEOPLE, folder=str(box.allowed / "missing"),
                                     filename="x.csv").process(box.ctx)
    for missing, message in (({"folder": ""}, "folder cannot be empty"),
                             ({"filename": ""}, "filename cannot be empty")):
        fields = {"dataframe": PEOPLE, "folder": "tables", "filename": "x.csv", **missing}
        with pytest.raises(ValueError, match=message):
            await D.SaveCSVDataframeFile(**fields).process(box.ctx)


async def test_save_csv_dataframe_file_into_the_asset_store(box):
    """A relative folder is an asset folder: the CSV shows in the asset store."""
    await D.SaveCSVDataframeFile(dataframe=PEOPLE, folder="exports", filename="p.csv").process(box.ctx)
    [asset] = csv_assets(box)
    assert asset["name"] == "p.csv"
    assert same(await D.LoadCSVFile(file_path="exports/p.csv").process(box.ctx), PEOPLE)


NAMING = {
    "LoadCSVFile": (lambda p: D.LoadCSVFile(file_path=p), "/rows.csv"),
    "SaveDataframe": (lambda p: D.SaveDataframe(df=PEOPLE, folder=p), ""),
    "SaveCSVDataframeFile": (lambda p: D.SaveCSVDataframeFile(dataframe=PEOPLE, folder=p,
                                                              filename="x.csv"), ""),
    "LoadCSVAssets": (lambda p: D.LoadCSVAssets(folder=p), ""),
}


@pytest.mark.parametrize("case", ["dotdot", "absolute-outside", "file-uri-outside", "symlink-escape"])
@pytest.mark.parametrize("node_name", sorted(NAMING))
async def test_every_table_file_node_refuses_escapes(box, node_name, case):
    """Refuses '..', absolute paths outside files.allow and links leading out, naming files.allow."""
    make, leaf = NAMING[node_name]
    path = {"dotdot": f"../outside{leaf}", "absolute-outside": f"{box.outside}{leaf}",
            "file-uri-outside": f"file://{box.outside}{leaf}",
            "symlink-escape": f"{box.allowed}/link{leaf}"}[case]
    before = box.outside_listing()
    with pytest.raises(P.PathRefused, match="files.allow"):
        await run(make(path), box.ctx)
    assert box.outside_listing() == before
    assert csv_assets(box) == []


async def test_no_allowed_folder_refuses_every_absolute_path(tmp_path):
    """With files.allow empty, an absolute path is refused even where the file exists."""
    box = Sandbox(tmp_path, allow=[])
    (box.allowed / "people.csv").write_text(PEOPLE_CSV)
    with pytest.raises(P.PathRefused, match="files.allow lists no folder"):
        await D.LoadCSVFile(file_path=str(box.allowed / "people.csv")).process(box.ctx)


async def test_load_csv_url_under_the_network_policy(box, web):
    """Loads a CSV over HTTP from loopback only when network.allow names it; HTTP errors fail."""
    url = f"{web.url}/people.csv"
    with pytest.raises(NetworkRefused, match="network.allow"):
        await D.LoadCSVURL(url=url).process(box.ctx)
    assert web.requests == []
    ctx = with_network(box, LOOPBACK)
    assert same(await D.LoadCSVURL(url=url).process(ctx), PEOPLE)
    with pytest.raises(ValueError, match="HTTP 404"):
        await D.LoadCSVURL(url=f"{web.url}/missing.csv").process(ctx)
    with pytest.raises(ValueError, match="network.max_response_size"):
        small = with_network(box, {**LOOPBACK, "max_response_size": 16})
        await D.LoadCSVURL(url=url).process(small)
    with pytest.raises(NetworkRefused, match="only http"):
        await D.LoadCSVURL(url=f"file://{box.allowed}/people.csv").process(ctx)


async def test_tables_from_a_url_saved_as_an_asset_in_a_workflow(tmp_path, web):
    """Runs LoadCSVURL into SaveDataframe in a workflow; the saved table shows in the asset store."""
    cfg = node_config("ws://127.0.0.1:1", storage={"path": str(tmp_path / "storage")},
                      network=LOOPBACK)
    svc = Services.from_config(cfg, environ={})
    graph = {"nodes": [{"id": "u", "type": "nodetool.data.LoadCSVURL",
                        "data": {"url": f"{web.url}/people.csv"}},
                       {"id": "s", "type": "nodetool.data.SaveDataframe", "data": {"name": "p.csv"}},
                       {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}}],
             "edges": [{"source": "u", "sourceHandle": "output", "target": "s", "targetHandle": "df"},
                       {"source": "s", "sourceHandle": "output", "target": "o", "targetHandle": "value"}]}
    events: list[dict] = []
    result = await run_workflow(graph, services=svc, on_event=events.append)
    assert result.status == "completed", result.error
    [saved] = [e["value"] for e in events if e["type"] == "output_update"]
    saved = saved[-1] if isinstance(saved, list) else saved
    with P.asset_store(SimpleNamespace(storage=tmp_path / "storage")) as store:
        [asset] = store.list(content_type="text/csv")[0]
        assert asset["name"] == "p.csv" and saved["asset_id"] == asset["id"]
        assert store.read(asset["id"], 1 << 20).decode().startswith("name,age,dept,salary")
