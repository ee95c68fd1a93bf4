"""File and asset node types: the asset store, files.allow, and every refusal.

Each node type that names a file is run against a real asset store (SQLite and files in
tmp_path) and real folders: one allowed, one outside it, and links from the first into
the second.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nodetool_gateway.config import Config
from nodetool_gateway.engine.library import _paths as P
from nodetool_gateway.engine.library import files as F
from nodetool_gateway.engine.library import lib_os as O


class FileCtx:
    """A node context lending the node's services (config and storage folder)."""

    def __init__(self, services: Any):
        self.services = services
        self.job_id, self.workflow_id, self.node_id, self.user_id = "j", "w", "n", "u"
        self.logs: list[tuple[str, str]] = []

    def log(self, content: str, severity: str = "info") -> None:
        self.logs.append((severity, content))


class Sandbox:
    def __init__(self, root: Path, allow: list[Path] | None = None):
        self.root = root
        self.allowed = root / "allowed"
        self.outside = root / "outside"
        self.allowed.mkdir()
        self.outside.mkdir()
        (self.outside / "secret.txt").write_text("secret")
        (self.outside / "rows.csv").write_text("a\n1\n")
        os.symlink(self.outside, self.allowed / "link")                       # a folder link
        os.symlink(self.outside / "secret.txt", self.allowed / "secret.txt")  # a file link
        self.config = Config.model_validate({
            "files": {"allow": [str(p) for p in (allow if allow is not None else [self.allowed])]},
            "storage": {"path": str(root / "storage")}})
        self.services = SimpleNamespace(config=self.config, storage=Path(self.config.storage.path))
        self.ctx = FileCtx(self.services)

    def outside_listing(self) -> list[str]:
        return sorted(str(p.relative_to(self.outside)) for p in self.outside.rglob("*"))

    def store(self):
        return P.asset_store(self.services)


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


async def run(node: Any, ctx: Any) -> Any:
    if node.compute_mode == "gen_process":
        return [item async for item in node.gen_process(ctx)]
    return await node.process(ctx)


# Every node type that names a file, built around one path; "folder" ones take a folder.
NAMING = {
    "SaveJSON.folder": (lambda p: F.SaveJSON(data={"a": 1}, folder=p, name="x.json"), "folder"),
    "SaveJSON.name": (lambda p: F.SaveJSON(data={"a": 1}, name=p), "file"),
    "SaveCSVFile": (lambda p: F.SaveCSVFile(data=[{"a": 1}], folder=p, filename="x.csv"), "folder"),
    "LoadCSVFile": (lambda p: F.LoadCSVFile(path=p), "file"),
    "SaveText.folder": (lambda p: F.SaveText(text="t", folder=p, name="x.txt"), "folder"),
    "SaveText.name": (lambda p: F.SaveText(text="t", name=p), "file"),
    "SaveTextFile": (lambda p: F.SaveTextFile(text="t", folder=p, name="x.txt"), "folder"),
    "SaveList": (lambda p: F.SaveList(values=[1, 2], name=p), "file"),
    "LoadTextFolder": (lambda p: F.LoadTextFolder(folder=p), "folder"),
    "FolderPathInput": (lambda p: F.FolderPathInput(name="f", value=p), "folder"),
    "FilePathInput": (lambda p: F.FilePathInput(name="f", value=p), "file"),
    "FileExists": (lambda p: O.FileExists(path=p), "file"),
    "IsFile": (lambda p: O.IsFile(path=p), "file"),
    "IsDirectory": (lambda p: O.IsDirectory(path=p), "folder"),
    "GetFileSize": (lambda p: O.GetFileSize(path=p), "file"),
    "ListFiles": (lambda p: O.ListFiles(folder=p, include_subdirectories=True), "folder"),
    "CreateDirectory": (lambda p: O.CreateDirectory(path=p), "folder"),
}


def bad_paths(box: Sandbox, kind: str) -> dict[str, str]:
    leaf = "" if kind == "folder" else "/secret.txt"
    return {
        "dotdot": "../outside" + leaf,
        "dotdot-inside": "notes/../../outside" + leaf,
        "dotdot-absolute": f"{box.allowed}/../outside{leaf}",
        "absolute-outside": f"{box.outside}{leaf}",
        "home": "~/nodetool-gateway-test" + leaf,
        "file-uri-outside": f"file://{box.outside}{leaf}",
        "symlink-escape": f"{box.allowed}/link{leaf}",
    }


@pytest.mark.parametrize("case", ["dotdot", "dotdot-inside", "dotdot-absolute", "absolute-outside",
                                  "home", "file-uri-outside", "symlink-escape"])
@pytest.mark.parametrize("node_name", sorted(NAMING))
async def test_every_file_node_refuses_escapes(box, node_name, case):
    """Refuses '..', absolute paths outside files.allow and links leading out, naming files.allow."""
    await assert_refused(box, *NAMING[node_name], case)


async def assert_refused(box: Sandbox, make: Any, kind: str, case: str) -> None:
    """``make(path)`` with the ``case`` of bad path fails naming files.allow and the reason,
    and nothing outside nor in the asset store changes."""
    path = bad_paths(box, kind)[case]
    before = box.outside_listing()
    with pytest.raises(P.PathRefused) as caught:
        await run(make(path), box.ctx)
    message = str(caught.value)
    assert "files.allow" in message
    if case == "symlink-escape":
        assert "symbolic link" in message
    if case.startswith("dotdot"):
        assert "'..'" in message
    assert box.outside_listing() == before
    assert not (box.services.storage / "assets").exists() or \
        not any((box.services.storage / "assets").iterdir())


async def test_a_file_link_leading_out_is_refused(box):
    """A link to a single file outside is refused like a folder link."""
    for node in (F.LoadCSVFile(path=f"{box.allowed}/secret.txt"),
                 O.FileExists(path=f"{box.allowed}/secret.txt"),
                 F.SaveJSON(data=1, name=f"{box.allowed}/secret.txt")):
        with pytest.raises(P.PathRefused, match="symbolic link"):
            await run(node, box.ctx)
    assert (box.outside / "secret.txt").read_text() == "secret"


async def test_no_allowed_folder_means_only_the_asset_store(tmp_path):
    """With files.allow empty (the default) every absolute path is refused, naming the key."""
    box = Sandbox(tmp_path, allow=[])
    assert Config().files.allow == []
    with pytest.raises(P.PathRefused, match=r"files\.allow lists no folder"):
        await F.SaveJSON(data={}, folder=str(box.allowed)).process(box.ctx)
    ref = await F.SaveJSON(data={"ok": True}, name="fine.json").process(box.ctx)
    assert ref["asset_id"]


async def test_save_json_into_the_asset_store(box):
    """Saves into the asset store and returns NodeTool's JSONRef; the content round-trips."""
    data = {"when": datetime.date(2024, 5, 1), "items": [1, "two"], "raw": b"bytes"}
    ref = await F.SaveJSON(data=data, name="report.json", folder="reports/2024").process(box.ctx)
    assert ref == {"type": "json", "uri": f"asset://{ref['asset_id']}.json",
                   "asset_id": ref["asset_id"], "data": None, "metadata": None}
    with box.store() as store:
        asset = store.get(ref["asset_id"])
        assert asset["name"] == "report.json" and asset["content_type"] == "application/json"
        folder = store.get(asset["parent_id"])
        assert folder["name"] == "2024" and store.get(folder["parent_id"])["name"] == "reports"
        saved = store.read(ref["asset_id"], 10_000).decode()
    assert json.loads(saved) == {"when": "2024-05-01", "items": [1, "two"], "raw": "bytes"}
    assert saved.startswith('{\n  "when"')  # indent 2, as NodeTool
    # A second save into the same folder reuses the folder assets.
    again = await F.SaveJSON(data=[1], name="other.json", folder="reports/2024").process(box.ctx)
    with box.store() as store:
        assert store.get(again["asset_id"])["parent_id"] == asset["parent_id"]
        assert len(store.children(None)) == 1
    assert any("saved 'reports/2024/report.json'" in line for _, line in box.ctx.logs)


async def test_strftime_names_expand(box):
    """Expands %Y%m%d-%H%M%S in names from the local time, as NodeTool does."""
    before = datetime.datetime.now()
    ref = await F.SaveJSON(data={}, name="agent-research-%Y%m%d-%H%M%S.json").process(box.ctx)
    after = datetime.datetime.now()
    with box.store() as store:
        name = store.get(ref["asset_id"])["name"]
    assert re.fullmatch(r"agent-research-\d{8}-\d{6}\.json", name), name
    stamp = datetime.datetime.strptime(name[len("agent-research-"):-5], "%Y%m%d-%H%M%S")
    assert before.replace(microsecond=0) <= stamp <= after
    assert P.expand_name("plain.txt") == "plain.txt"
    assert P.expand_name("%Y") == str(datetime.datetime.now().year)


async def test_save_json_to_an_allowed_folder(box):
    """Writes a file inside files.allow (making its folder) and returns a file:// reference."""
    ref = await F.SaveJSON(data={"a": 1}, folder=str(box.allowed / "out"), name="a.json",
                           indent=0).process(box.ctx)
    target = box.allowed / "out" / "a.json"
    assert ref == {"type": "json", "uri": target.as_uri(), "asset_id": None, "data": None,
                   "metadata": None}
    assert json.loads(target.read_text()) == {"a": 1}
    # Overwritten whole; no partial file left behind.
    await F.SaveJSON(data={"a": 2}, folder=str(box.allowed / "out"), name="a.json").process(box.ctx)
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in (box.allowed / "out").iterdir()) == ["a.json"]
    # ~ and file:// name the same folders.
    ref = await F.SaveJSON(data=[], name=(box.allowed / "b.json").as_uri()).process(box.ctx)
    assert (box.allowed / "b.json").exists() and ref["uri"].endswith("/b.json")


async def test_a_link_that_stays_inside_is_followed(box):
    """A link pointing to another place inside files.allow is fine."""
    (box.allowed / "real").mkdir()
    os.symlink(box.allowed / "real", box.allowed / "alias")
    await F.SaveJSON(data=1, folder=str(box.allowed / "alias"), name="x.json").process(box.ctx)
    assert (box.allowed / "real" / "x.json").read_text() == "1"


async def test_save_text_nodes(box):
    """SaveText (FolderRef or path), SaveTextFile and SaveList return TextRefs."""
    with box.store() as store:
        folder = store.add_folder("guides")
    ref = await F.SaveText(text="<h1>hi</h1>", name="travel-guide.html",
                           folder={"type": "folder", "asset_id": folder["id"]}).process(box.ctx)
    assert ref["type"] == "text" and ref["uri"] == f"asset://{ref['asset_id']}.html"
    with box.store() as store:
        asset = store.get(ref["asset_id"])
        assert asset["parent_id"] == folder["id"] and asset["content_type"] == "text/html"
        assert store.read(asset["id"], 100) == b"<h1>hi</h1>"
    ref = await F.SaveText(text="x").process(box.ctx)  # the empty FolderRef: the top level
    with box.store() as store:
        top = store.get(ref["asset_id"])
        assert top["parent_id"] is None and re.fullmatch(r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.txt", top["name"])
    ref = await F.SaveText(text="y", folder="notes", name="n.md").process(box.ctx)
    with box.store() as store:
        assert store.get(ref["asset_id"])["content_type"] == "text/markdown"

    with pytest.raises(ValueError, match="folder cannot be empty"):
        await F.SaveTextFile(text="t").process(box.ctx)
    with pytest.raises(FileNotFoundError, match="Folder does not exist"):  # as NodeTool on disk
        await F.SaveTextFile(text="t", folder=str(box.allowed / "missing")).process(box.ctx)
    ref = await F.SaveTextFile(text="on disk", folder=str(box.allowed), name="d.txt").process(box.ctx)
    assert ref["uri"] == (box.allowed / "d.txt").as_uri() and ref["asset_id"] is None
    assert (box.allowed / "d.txt").read_text() == "on disk"
    ref = await F.SaveTextFile(text="asset", folder="drafts", name="a.txt").process(box.ctx)
    assert ref["asset_id"]

    ref = await F.SaveList(values=[1, "b", None], name="list-%Y.txt").process(box.ctx)
    with box.store() as store:
        asset = store.get(ref["asset_id"])
        assert asset["name"] == f"list-{datetime.datetime.now().year}.txt"
        assert store.read(asset["id"], 100) == b"1\nb\nNone"


async def test_csv_round_trip(box):
    """SaveCSVFile writes the rows (folder must exist on disk); LoadCSVFile reads them back."""
    rows = [{"name": "A", "age": "40"}, {"name": "B", "age": "3"}]
    for node in (F.SaveCSVFile(folder="x", filename="f.csv"),
                 F.SaveCSVFile(data=rows, filename="f.csv"),
                 F.SaveCSVFile(data=rows, folder="x")):
        with pytest.raises(ValueError, match="cannot be empty"):
            await node.process(box.ctx)
    ref = await F.SaveCSVFile(data=rows, folder="tables", filename="people.csv").process(box.ctx)
    assert ref["uri"].endswith(".csv")
    assert await F.LoadCSVFile(path="tables/people.csv").process(box.ctx) == rows
    await F.SaveCSVFile(data=rows, folder=str(box.allowed), filename="p.csv").process(box.ctx)
    assert await F.LoadCSVFile(path=str(box.allowed / "p.csv")).process(box.ctx) == rows
    with pytest.raises(FileNotFoundError):
        await F.LoadCSVFile(path="tables/none.csv").process(box.ctx)


async def test_to_json():
    """Serializes a dictionary, dates as ISO 8601 (NodeTool's default=)."""
    out = await F.ToJSON(dictionary={"d": datetime.datetime(2024, 1, 2, 3, 4, 5), "n": 1}).process(None)
    assert json.loads(out) == {"d": "2024-01-02T03:04:05", "n": 1}
    assert F.ToJSON.node_type == "nodetool.dictionary.ToJSON"


async def test_load_text_folder(box):
    """Streams text and path for matching files, from disk and from an asset folder."""
    docs = box.allowed / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("alpha")
    (docs / "b.md").write_text("beta")
    (docs / "c.png").write_bytes(b"\x89PNG")
    (docs / "sub" / "d.txt").write_text("delta")
    os.symlink(box.outside / "secret.txt", docs / "leak.txt")
    os.symlink(box.outside, docs / "linkdir")
    flat = await run(F.LoadTextFolder(folder=str(docs)), box.ctx)
    assert flat == [{"text": "alpha", "path": str(docs / "a.txt")},
                    {"text": "beta", "path": str(docs / "b.md")}]
    assert any("leak.txt" in line and sev == "warning" for sev, line in box.ctx.logs)
    deep = await run(F.LoadTextFolder(folder=str(docs), include_subdirectories=True,
                                      pattern="*.txt"), box.ctx)
    assert [d["text"] for d in deep] == ["alpha", "delta"]  # linkdir not followed, leak skipped

    await F.SaveText(text="one", folder="notes", name="1.txt").process(box.ctx)
    await F.SaveText(text="two", folder="notes/more", name="2.txt").process(box.ctx)
    await F.SaveJSON(data={"x": 1}, folder="notes", name="3.json").process(box.ctx)
    assets = await run(F.LoadTextFolder(folder="notes", extensions=[".txt"],
                                        include_subdirectories=True), box.ctx)
    assert assets == [{"text": "one", "path": "notes/1.txt"}, {"text": "two", "path": "notes/more/2.txt"}]
    with pytest.raises(ValueError, match="Folder does not exist"):
        await run(F.LoadTextFolder(folder="nowhere"), box.ctx)
    with pytest.raises(ValueError, match="folder cannot be empty"):
        await run(F.LoadTextFolder(), box.ctx)


async def test_path_inputs(box):
    """FolderPathInput and FilePathInput return the path; NodeTool's FilePath objects too."""
    assert await F.FolderPathInput(name="f", value="reports").process(box.ctx) == "reports"
    value = {"type": "file_path", "path": str(box.allowed)}
    assert await F.FolderPathInput(name="f", value=value).process(box.ctx) == str(box.allowed)
    assert await F.FilePathInput(name="f", value=f"{box.allowed}/x.txt").process(box.ctx) == \
        f"{box.allowed}/x.txt"
    assert await F.FilePathInput().process(box.ctx) == ""
    assert F.FolderPathInput.node_type == "nodetool.input.FolderPathInput"


async def test_lib_os_on_assets_and_disk(box):
    """FileExists, IsFile, IsDirectory, GetFileSize, ListFiles and CreateDirectory in both places."""
    ctx = box.ctx
    await F.SaveText(text="12345", folder="logs/2024", name="a.txt").process(ctx)
    await F.SaveText(text="x", folder="logs", name="b.log").process(ctx)
    assert await O.FileExists(path="logs/2024/a.txt").process(ctx)
    assert not await O.FileExists(path="logs/none.txt").process(ctx)
    assert await O.IsFile(path="logs/2024/a.txt").process(ctx)
    assert await O.IsDirectory(path="logs/2024").process(ctx)
    assert not await O.IsDirectory(path="logs/b.log").process(ctx)
    assert await O.GetFileSize(path="logs/2024/a.txt").process(ctx) == 5
    with pytest.raises(FileNotFoundError):
        await O.GetFileSize(path="logs/none").process(ctx)
    files = await run(O.ListFiles(folder="logs", pattern="*.txt", include_subdirectories=True), ctx)
    assert files == [{"file": "logs/2024/a.txt"}]
    assert await run(O.ListFiles(folder="logs"), ctx) == [{"file": "logs/2024"}, {"file": "logs/b.log"}]
    assert await run(O.ListFiles(folder="."), ctx) == [{"file": "logs"}]
    await O.CreateDirectory(path="empty/inner").process(ctx)
    assert await O.IsDirectory(path="empty/inner").process(ctx)
    with pytest.raises(FileExistsError):
        await O.CreateDirectory(path="empty", exist_ok=False).process(ctx)

    await O.CreateDirectory(path=str(box.allowed / "made" / "deep")).process(ctx)
    (box.allowed / "made" / "deep" / "f.txt").write_text("abc")
    (box.allowed / ".hidden").write_text("")
    assert await O.IsDirectory(path=str(box.allowed / "made")).process(ctx)
    assert await O.GetFileSize(path=str(box.allowed / "made/deep/f.txt")).process(ctx) == 3
    assert not await O.FileExists(path=str(box.allowed / "nope")).process(ctx)
    listed = await run(O.ListFiles(folder=str(box.allowed), include_subdirectories=True), ctx)
    assert [f["file"] for f in listed] == [str(box.allowed / "made"), str(box.allowed / "made/deep"),
                                           str(box.allowed / "made/deep/f.txt")]
    assert sum("skipped" in line for _, line in ctx.logs) == 2  # link and secret.txt
    with pytest.raises(ValueError, match="directory cannot be empty"):
        await run(O.ListFiles(folder=""), ctx)
    with pytest.raises(P.PathRefused):  # NodeTool's default folder, ~, is outside files.allow
        await run(O.ListFiles(), ctx)


@pytest.mark.parametrize("node, expected", [
    (O.FileExtension(path="a/b.tar.gz"), ".gz"),
    (O.FileName(path="a/b.txt"), "b.txt"),
    (O.GetDirectory(path="a/b.txt"), "a"),
    (O.Basename(path="/x/report.json"), "report.json"),
    (O.Basename(path="/x/report.json", remove_extension=True), "report"),
    (O.Basename(path="~/x.txt"), "x.txt"),
    (O.Dirname(path="~/docs/x.txt"), "~/docs"),  # ~ is not expanded (it would tell the home folder)
    (O.JoinPaths(paths=["reports", "2024", "x.json"]), "reports/2024/x.json"),
    (O.NormalizePath(path="a//b/./c/../d"), "a/b/d"),
    (O.SplitPath(path="a/b/c.txt"), {"dirname": "a/b", "basename": "c.txt"}),
    (O.SplitExtension(path="a/b/c.txt"), {"root": "a/b/c", "extension": ".txt"}),
    (O.FileNameMatch(filename="Data_1.CSV", pattern="data_*.csv"), False),
    (O.FileNameMatch(filename="Data_1.CSV", pattern="data_*.csv", case_sensitive=False), True),
    (O.FilterFileNames(filenames=["a.txt", "B.TXT", "c.md"], pattern="*.txt"), ["a.txt"]),
    (O.FilterFileNames(filenames=["a.txt", "B.TXT", "c.md"], pattern="*.txt", case_sensitive=False),
     ["a.txt", "B.TXT"]),
    (O.PathToString(file_path="x/y"), "x/y"),
])
async def test_pure_path_nodes(node, expected):
    """The pure lib.os nodes work on the text alone and touch no file."""
    assert await node.process(None) == expected


@pytest.mark.parametrize("node", [O.FileExtension(), O.FileName(), O.GetDirectory(), O.Basename(path=" "),
                                  O.JoinPaths(), O.NormalizePath(), O.PathToString()])
async def test_pure_path_nodes_refuse_empty(node):
    """Refuse an empty path, as NodeTool does."""
    with pytest.raises(ValueError):
        await node.process(None)


async def test_needs_the_node_storage():
    """Without the node's services (an engine run with none) saving says what is missing."""
    with pytest.raises(P.PathRefused, match="node's storage"):
        await F.SaveJSON(data={}).process(FileCtx(None))


def test_files_allow_is_anchored_at_the_config_folder(tmp_path):
    """files.allow entries are taken from the config file's folder; ~ is expanded."""
    cfg = Config.model_validate({"files": {"allow": ["out", "~/x"]}},
                                context={"base_dir": str(tmp_path)})
    assert cfg.files.allow == [tmp_path / "out", Path("~/x").expanduser()]


async def test_concurrent_saves_make_one_folder(box):
    """Many saves into a new folder at once make it once (ensure_folder is one transaction)."""
    import asyncio
    refs = await asyncio.gather(*(F.SaveJSON(data=i, folder="burst", name=f"{i}.json").process(box.ctx)
                                  for i in range(12)))
    with box.store() as store:
        folders = [a for a in store.children(None) if a["name"] == "burst"]
        assert len(folders) == 1
        assert {store.get(r["asset_id"])["parent_id"] for r in refs} == {folders[0]["id"]}


def test_ensure_folder_across_connections(tmp_path):
    """Separate connections (as the node and its workers have) making one folder make it once."""
    from concurrent.futures import ThreadPoolExecutor

    from nodetool_gateway.stores import AssetStore, Database

    Database(tmp_path / "x.db").close()  # the node's Backend makes the file first

    def make(_: int) -> str:
        with Database(tmp_path / "x.db") as db:
            return AssetStore(db, tmp_path / "assets").ensure_folder("shared")["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(make, range(24)))
    assert len(ids) == 1
    with Database(tmp_path / "x.db") as db:
        store = AssetStore(db, tmp_path / "assets")
        assert [a["name"] for a in store.children(None)] == ["shared"]
        store.add(b"x", "file")
        with pytest.raises(ValueError, match="not a folder"):
            store.ensure_folder("file")
