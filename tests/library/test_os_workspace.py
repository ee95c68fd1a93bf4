"""lib.os copy/move/times/path nodes and the nodetool.workspace namespace, on real files.

Real asset store and folders in tmp_path (test_files' Sandbox: one allowed folder, one
outside it, links from the first into the second) and a real workspace folder,
``<storage>/workspace``, with links leading out of it. Some runs go through the engine.
"""

from __future__ import annotations

import base64
import datetime
import os
from pathlib import Path

import pytest

from nodetool_gateway.engine import WorkflowError, default_registry, run_workflow
from nodetool_gateway.engine.library import _paths as P
from nodetool_gateway.engine.library import lib_os as O
from nodetool_gateway.engine.library import workspace as W

from .test_files import FileCtx, Sandbox, assert_refused, run


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def workspace(box: Sandbox) -> Path:
    """The node's workspace, with a folder link and a file link leading out of it."""
    ws = box.services.storage / "workspace"
    ws.mkdir(parents=True, exist_ok=True)
    if not (ws / "link").is_symlink():
        os.symlink(box.outside, ws / "link")
        os.symlink(box.outside / "secret.txt", ws / "secret.txt")
    return ws


def utc(ts: float) -> dict:
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return {"type": "datetime", "year": moment.year, "month": moment.month, "day": moment.day,
            "hour": moment.hour, "minute": moment.minute, "second": moment.second,
            "microsecond": moment.microsecond, "tzinfo": "UTC", "utc_offset": 0}


def asset_names(box: Sandbox, parent=None) -> list[str]:
    with box.store() as store:
        return [a["name"] for a in store.children(parent)]


async def save_asset(box: Sandbox, folder: str, name: str, text: str) -> None:
    from nodetool_gateway.engine.library import files as F
    await F.SaveText(text=text, folder=folder, name=name).process(box.ctx)


# lib.os: copy and move

async def test_copy_file_between_assets_and_disk(box):
    """Copies files and folders asset->asset, disk->disk, asset->disk and disk->asset."""
    ctx = box.ctx
    await save_asset(box, "notes", "a.txt", "alpha")
    await save_asset(box, "notes/sub", "b.txt", "beta")
    # asset -> asset: a file, and a folder with everything in it
    assert await O.CopyFile(source_path="notes/a.txt", destination_path="copies/a2.txt").process(ctx) \
        == "copies/a2.txt"
    await O.CopyFile(source_path="notes", destination_path="backup/notes").process(ctx)
    assert await O.IsFile(path="copies/a2.txt").process(ctx)
    assert await O.GetFileSize(path="backup/notes/sub/b.txt").process(ctx) == 4
    # onto a folder: into it
    await O.CopyFile(source_path="notes/a.txt", destination_path="copies").process(ctx)
    assert await O.IsFile(path="copies/a.txt").process(ctx)
    # a folder onto an existing place is refused, as shutil.copytree
    with pytest.raises(FileExistsError):
        await O.CopyFile(source_path="notes", destination_path="backup/notes").process(ctx)
    # asset -> disk (folders made), keeping the tree
    await O.CopyFile(source_path="notes", destination_path=str(box.allowed / "out/notes")).process(ctx)
    assert (box.allowed / "out/notes/a.txt").read_text() == "alpha"
    assert (box.allowed / "out/notes/sub/b.txt").read_text() == "beta"
    # disk -> disk: copy2 keeps the modification time
    src = box.allowed / "out/notes/a.txt"
    os.utime(src, (1_600_000_000, 1_600_000_000))
    await O.CopyFile(source_path=str(src), destination_path=str(box.allowed / "d/a.txt")).process(ctx)
    assert (box.allowed / "d/a.txt").stat().st_mtime == 1_600_000_000
    await O.CopyFile(source_path=str(box.allowed / "out"), destination_path=str(box.allowed / "out2")).process(ctx)
    assert (box.allowed / "out2/notes/sub/b.txt").read_text() == "beta"
    # disk -> asset
    await O.CopyFile(source_path=str(box.allowed / "out2/notes"), destination_path="fromdisk").process(ctx)
    with box.store() as store:
        folder = store.child(None, "fromdisk")
        sub = store.child(folder["id"], "sub")
        assert store.read(store.child(sub["id"], "b.txt")["id"], 100) == b"beta"
    with pytest.raises(FileNotFoundError):
        await O.CopyFile(source_path="nothing.txt", destination_path="x.txt").process(ctx)
    for node in (O.CopyFile(destination_path="x"), O.CopyFile(source_path="x")):
        with pytest.raises(ValueError, match="cannot be empty"):
            await node.process(ctx)


async def test_copying_a_folder_with_a_link_out_is_refused(box):
    """A folder holding a link that leads out is refused before anything is written."""
    (box.allowed / "tree").mkdir()
    (box.allowed / "tree/ok.txt").write_text("ok")
    os.symlink(box.outside, box.allowed / "tree/out")
    before = box.outside_listing()
    for dest in (str(box.allowed / "copy"), "copied"):
        with pytest.raises(P.PathRefused, match="symbolic link"):
            await O.CopyFile(source_path=str(box.allowed / "tree"), destination_path=dest).process(box.ctx)
    assert not (box.allowed / "copy").exists() and "copied" not in asset_names(box)
    assert box.outside_listing() == before
    # a link that stays inside is followed
    os.unlink(box.allowed / "tree/out")
    os.symlink(box.allowed / "tree/ok.txt", box.allowed / "tree/alias.txt")
    await O.CopyFile(source_path=str(box.allowed / "tree"), destination_path=str(box.allowed / "copy")).process(box.ctx)
    assert (box.allowed / "copy/alias.txt").read_text() == "ok"


async def test_move_file_between_assets_and_disk(box):
    """Moves on disk (a rename), in the asset store and across; onto a folder means into it."""
    ctx = box.ctx
    (box.allowed / "a.txt").write_text("A")
    (box.allowed / "dir").mkdir()
    assert await O.MoveFile(source_path=str(box.allowed / "a.txt"),
                            destination_path=str(box.allowed / "b.txt")).process(ctx) is None
    assert not (box.allowed / "a.txt").exists() and (box.allowed / "b.txt").read_text() == "A"
    await O.MoveFile(source_path=str(box.allowed / "b.txt"), destination_path=str(box.allowed / "dir")).process(ctx)
    assert (box.allowed / "dir/b.txt").read_text() == "A"
    with pytest.raises(FileNotFoundError):  # as NodeTool: the destination's folder must exist
        await O.MoveFile(source_path=str(box.allowed / "dir/b.txt"),
                         destination_path=str(box.allowed / "none/b.txt")).process(ctx)
    with pytest.raises(ValueError, match="into itself"):
        await O.MoveFile(source_path=str(box.allowed / "dir"), destination_path=str(box.allowed / "dir/in")).process(ctx)
    # disk -> asset, then asset -> asset, then asset -> disk
    await O.CreateDirectory(path="moved").process(ctx)
    await O.MoveFile(source_path=str(box.allowed / "dir"), destination_path="moved").process(ctx)
    assert not (box.allowed / "dir").exists()
    assert await O.IsFile(path="moved/dir/b.txt").process(ctx)
    await O.MoveFile(source_path="moved/dir", destination_path="renamed").process(ctx)
    assert asset_names(box) == ["moved", "renamed"]
    assert not await O.FileExists(path="moved/dir").process(ctx)
    with pytest.raises(ValueError, match="into itself"):
        await O.MoveFile(source_path="renamed", destination_path="renamed/x").process(ctx)
    await O.MoveFile(source_path="renamed/b.txt", destination_path=str(box.allowed / "back.txt")).process(ctx)
    assert (box.allowed / "back.txt").read_text() == "A"
    assert not await O.FileExists(path="renamed/b.txt").process(ctx)
    with pytest.raises(FileNotFoundError):
        await O.MoveFile(source_path="renamed/b.txt", destination_path="x").process(ctx)
    with pytest.raises(P.PathRefused, match="cannot move"):
        await O.MoveFile(source_path=".", destination_path="x").process(ctx)
    with pytest.raises(P.PathRefused, match="cannot move"):
        await O.MoveFile(source_path=str(box.allowed), destination_path=str(box.allowed / "x")).process(ctx)


# lib.os: times and paths

async def test_file_times_on_disk(box):
    """ModifiedTime and AccessedTime give the times os.utime set, as NodeTool's Datetime in UTC."""
    f = box.allowed / "t.txt"
    f.write_text("x")
    atime, mtime = 1_700_000_000.25, 1_600_000_000.5
    os.utime(f, (atime, mtime))
    ctx = box.ctx
    assert await O.ModifiedTime(path=str(f)).process(ctx) == utc(mtime)
    assert await O.AccessedTime(path=str(f)).process(ctx) == utc(atime)
    assert await O.CreatedTime(path=str(f)).process(ctx) == utc(f.stat().st_ctime)
    assert utc(mtime)["year"] == 2020 and utc(mtime)["microsecond"] == 500000
    with pytest.raises(FileNotFoundError):
        await O.ModifiedTime(path=str(box.allowed / "none")).process(ctx)
    with pytest.raises(ValueError, match="cannot be empty"):
        await O.CreatedTime().process(ctx)


async def test_file_times_of_assets(box):
    """An asset's created and modified time are when it was added."""
    before = datetime.datetime.now(datetime.UTC)
    await save_asset(box, "n", "a.txt", "x")
    after = datetime.datetime.now(datetime.UTC)
    created = await O.CreatedTime(path="n/a.txt").process(box.ctx)
    assert await O.ModifiedTime(path="n/a.txt").process(box.ctx) == created
    moment = datetime.datetime(created["year"], created["month"], created["day"], created["hour"],
                               created["minute"], created["second"], created["microsecond"],
                               tzinfo=datetime.UTC)
    assert before <= moment <= after
    assert (await O.AccessedTime(path="n").process(box.ctx))["type"] == "datetime"


async def test_absolute_relative_and_path_info(box):
    """AbsolutePath gives allowed places only; RelativePath and GetPathInfo likewise."""
    ctx = box.ctx
    (box.allowed / "real").mkdir()
    (box.allowed / "real/f.txt").write_text("abc")
    os.symlink(box.allowed / "real", box.allowed / "alias")
    assert await O.AbsolutePath(path=str(box.allowed / "real/./f.txt")).process(ctx) == \
        str(box.allowed / "real/f.txt")
    assert await O.AbsolutePath(path=str(box.allowed / "alias/f.txt")).process(ctx) == \
        str(box.allowed / "real/f.txt")  # links followed
    assert await O.AbsolutePath(path="notes//a.txt").process(ctx) == "notes/a.txt"
    assert await O.AbsolutePath(path="./").process(ctx) == "."
    with pytest.raises(ValueError, match="cannot be empty"):
        await O.AbsolutePath().process(ctx)

    assert await O.RelativePath(target_path=str(box.allowed / "real/f.txt"),
                                start_path=str(box.allowed)).process(ctx) == "real/f.txt"
    assert await O.RelativePath(target_path="a/b/c.txt", start_path="a/x").process(ctx) == "../b/c.txt"
    assert await O.RelativePath(target_path="a/b.txt").process(ctx) == "a/b.txt"
    with pytest.raises(ValueError, match="both"):
        await O.RelativePath(target_path=str(box.allowed / "real")).process(ctx)

    info = await O.GetPathInfo(path=str(box.allowed / "alias")).process(ctx)
    assert info == {"dirname": str(box.allowed), "basename": "alias", "extension": "",
                    "absolute": str(box.allowed / "real"), "exists": True, "is_file": False,
                    "is_dir": True, "is_symlink": True}
    await save_asset(box, "docs", "r.md", "# r")
    assert await O.GetPathInfo(path="docs/r.md").process(ctx) == {
        "dirname": "docs", "basename": "r.md", "extension": ".md", "absolute": "docs/r.md",
        "exists": True, "is_file": True, "is_dir": False, "is_symlink": False}
    missing = await O.GetPathInfo(path=str(box.allowed / "none.txt")).process(ctx)
    assert missing["exists"] is False and missing["is_file"] is False


# The new lib.os types that name a file, built around one path; "folder" ones take a folder.
OS_NAMING = {
    "CopyFile.source_path": (lambda p: O.CopyFile(source_path=p, destination_path="x.txt"), "file"),
    "CopyFile.destination_path": (lambda p: O.CopyFile(source_path="src.txt", destination_path=p), "file"),
    "MoveFile.source_path": (lambda p: O.MoveFile(source_path=p, destination_path="x.txt"), "file"),
    "MoveFile.destination_path": (lambda p: O.MoveFile(source_path="src.txt", destination_path=p), "file"),
    "CreatedTime": (lambda p: O.CreatedTime(path=p), "file"),
    "ModifiedTime": (lambda p: O.ModifiedTime(path=p), "file"),
    "AccessedTime": (lambda p: O.AccessedTime(path=p), "file"),
    "GetPathInfo": (lambda p: O.GetPathInfo(path=p), "file"),
    "AbsolutePath": (lambda p: O.AbsolutePath(path=p), "file"),
    "RelativePath.target_path": (lambda p: O.RelativePath(target_path=p), "file"),
    "RelativePath.start_path": (lambda p: O.RelativePath(target_path="a", start_path=p), "folder"),
}


@pytest.mark.parametrize("case", ["dotdot", "dotdot-inside", "dotdot-absolute", "absolute-outside",
                                  "home", "file-uri-outside", "symlink-escape"])
@pytest.mark.parametrize("node_name", sorted(OS_NAMING))
async def test_new_lib_os_types_refuse_escapes(box, node_name, case):
    """Refuses '..', absolute paths outside files.allow and links leading out."""
    await assert_refused(box, *OS_NAMING[node_name], case)
    assert (box.outside / "secret.txt").read_text() == "secret"


async def test_workspace_directory_is_given_only_when_allowed(tmp_path):
    """lib.os.WorkspaceDirectory and GetWorkspaceDir refuse unless files.allow covers the
    workspace, without telling where it is; then they give its path."""
    box = Sandbox(tmp_path)
    for node in (O.WorkspaceDirectory(), W.GetWorkspaceDir()):
        with pytest.raises(P.PathRefused, match="files.allow") as caught:
            await node.process(box.ctx)
        assert str(tmp_path) not in str(caught.value)
    assert (box.services.storage / "workspace").is_dir()  # made on first use

    (tmp_path / "other").mkdir()
    box2 = Sandbox(tmp_path / "other", allow=[tmp_path / "other" / "storage"])
    expected = str(box2.services.storage / "workspace")
    assert await O.WorkspaceDirectory().process(box2.ctx) == expected
    assert await W.GetWorkspaceDir().process(box2.ctx) == expected
    # ... and the lib.os nodes can use it
    assert await O.IsDirectory(path=expected).process(box2.ctx)
    with pytest.raises(P.PathRefused, match="node's storage"):
        await W.GetWorkspaceDir().process(FileCtx(None))


# nodetool.workspace

async def test_workspace_read_write(box):
    """Text and binary files round-trip; append appends; folders are made."""
    ws = workspace(box)
    ctx = box.ctx
    assert await W.WriteTextFile(path="notes/today.txt", content="héllo").process(ctx) == "notes/today.txt"
    assert (ws / "notes/today.txt").read_text() == "héllo"
    await W.WriteTextFile(path="notes/today.txt", content=" world", append=True).process(ctx)
    assert await W.ReadTextFile(path="notes/today.txt").process(ctx) == "héllo world"
    await W.WriteTextFile(path="latin.txt", content="é", encoding="latin-1").process(ctx)
    assert (ws / "latin.txt").read_bytes() == b"\xe9"
    assert await W.ReadTextFile(path="latin.txt", encoding="latin-1").process(ctx) == "é"
    await W.WriteTextFile(path="notes/today.txt", content="new").process(ctx)
    assert (ws / "notes/today.txt").read_text() == "new"

    blob = bytes(range(256))
    encoded = base64.b64encode(blob).decode()
    assert await W.WriteBinaryFile(path="bin/b.dat", content=encoded).process(ctx) == "bin/b.dat"
    assert (ws / "bin/b.dat").read_bytes() == blob
    assert await W.ReadBinaryFile(path="bin/b.dat").process(ctx) == encoded
    with pytest.raises(ValueError, match="base64"):
        await W.WriteBinaryFile(path="bad.dat", content="not*base64!").process(ctx)

    with pytest.raises(FileNotFoundError, match="File not found: none.txt"):
        await W.ReadTextFile(path="none.txt").process(ctx)
    with pytest.raises(ValueError, match="not a file: notes"):
        await W.ReadBinaryFile(path="notes").process(ctx)
    with pytest.raises(ValueError, match="Path cannot be empty"):
        await W.ReadTextFile().process(ctx)
    with pytest.raises(IsADirectoryError) as caught:
        await W.WriteTextFile(path="notes", content="x").process(ctx)
    assert str(box.root) not in str(caught.value)  # errors name workspace paths only
    # a link that stays inside the workspace is followed
    os.symlink(ws / "notes/today.txt", ws / "alias.txt")
    assert await W.ReadTextFile(path="alias.txt").process(ctx) == "new"


async def test_workspace_listing_and_checks(box):
    """Lists (pattern, recursive; links leading out skipped); exists, is file/dir, size, info."""
    ws = workspace(box)
    ctx = box.ctx
    (ws / "data/deep").mkdir(parents=True)
    (ws / "data/a.json").write_text("{}")
    (ws / "data/b.txt").write_text("12345")
    (ws / "data/deep/c.json").write_text("[]")
    listed = await run(W.ListWorkspaceFiles(), ctx)
    assert listed == [{"file": "data"}]  # link and secret.txt lead out: skipped
    assert sum("skipped" in line for _, line in ctx.logs) == 2
    assert str(box.root) not in "".join(line for _, line in ctx.logs)
    assert await run(W.ListWorkspaceFiles(path="data", pattern="*.json", recursive=True), ctx) == \
        [{"file": "data/a.json"}, {"file": "data/deep/c.json"}]
    assert await run(W.ListWorkspaceFiles(path="data"), ctx) == \
        [{"file": "data/a.json"}, {"file": "data/b.txt"}, {"file": "data/deep"}]

    assert await W.WorkspaceFileExists(path="data/b.txt").process(ctx)
    assert not await W.WorkspaceFileExists(path="data/none").process(ctx)
    assert await W.IsWorkspaceFile(path="data/b.txt").process(ctx)
    assert not await W.IsWorkspaceFile(path="data").process(ctx)
    assert await W.IsWorkspaceDirectory(path="data/deep").process(ctx)
    assert await W.IsWorkspaceDirectory(path=".").process(ctx)
    assert await W.GetWorkspaceFileSize(path="data/b.txt").process(ctx) == 5
    with pytest.raises(ValueError, match="not a file"):
        await W.GetWorkspaceFileSize(path="data").process(ctx)

    os.utime(ws / "data/b.txt", (1_700_000_000, 1_600_000_000))
    info = await W.GetWorkspaceFileInfo(path="data/b.txt").process(ctx)
    stat = (ws / "data/b.txt").stat()
    assert info == {"path": "data/b.txt", "name": "b.txt", "size": 5, "is_file": True,
                    "is_directory": False,
                    "created": datetime.datetime.fromtimestamp(stat.st_ctime, datetime.UTC).isoformat(),
                    "modified": "2020-09-13T12:26:40+00:00", "accessed": "2023-11-14T22:13:20+00:00"}
    with pytest.raises(FileNotFoundError):
        await W.GetWorkspaceFileInfo(path="none").process(ctx)

    assert await W.JoinWorkspacePaths(paths=["data", "deep", "c.json"]).process(ctx) == "data/deep/c.json"
    with pytest.raises(ValueError, match="paths cannot be empty"):
        await W.JoinWorkspacePaths().process(ctx)


async def test_workspace_copy_move_delete_mkdir(box):
    """Copies and moves files and folders (making folders), deletes, makes folders."""
    ws = workspace(box)
    ctx = box.ctx
    assert await W.CreateWorkspaceDirectory(path="a/b").process(ctx) == "a/b"
    assert (ws / "a/b").is_dir()
    (ws / "a/b/f.txt").write_text("F")
    assert await W.CopyWorkspaceFile(source="a/b/f.txt", destination="x/y/g.txt").process(ctx) == "x/y/g.txt"
    assert (ws / "x/y/g.txt").read_text() == "F" and (ws / "a/b/f.txt").exists()
    await W.CopyWorkspaceFile(source="a", destination="a-copy").process(ctx)
    assert (ws / "a-copy/b/f.txt").read_text() == "F"
    with pytest.raises(FileExistsError):
        await W.CopyWorkspaceFile(source="a", destination="a-copy").process(ctx)
    assert await W.MoveWorkspaceFile(source="x/y/g.txt", destination="m/n/h.txt").process(ctx) == "m/n/h.txt"
    assert not (ws / "x/y/g.txt").exists() and (ws / "m/n/h.txt").read_text() == "F"
    await W.MoveWorkspaceFile(source="a-copy", destination="moved").process(ctx)
    assert (ws / "moved/b/f.txt").exists() and not (ws / "a-copy").exists()
    with pytest.raises(FileNotFoundError, match="Source file not found: none"):
        await W.MoveWorkspaceFile(source="none", destination="z").process(ctx)
    with pytest.raises(FileNotFoundError, match="Source file not found: none"):
        await W.CopyWorkspaceFile(source="none", destination="z").process(ctx)

    assert await W.DeleteWorkspaceFile(path="m/n/h.txt").process(ctx) is None
    assert not (ws / "m/n/h.txt").exists()
    with pytest.raises(ValueError, match="recursive=True"):
        await W.DeleteWorkspaceFile(path="moved").process(ctx)
    await W.DeleteWorkspaceFile(path="moved", recursive=True).process(ctx)
    assert not (ws / "moved").exists()
    with pytest.raises(FileNotFoundError):
        await W.DeleteWorkspaceFile(path="moved").process(ctx)
    with pytest.raises(P.PathRefused, match="workspace folder itself"):
        await W.DeleteWorkspaceFile(path=".", recursive=True).process(ctx)
    # a link inside the workspace: the link goes, not what it points to
    os.symlink(ws / "a/b/f.txt", ws / "f-link")
    await W.DeleteWorkspaceFile(path="f-link").process(ctx)
    assert not (ws / "f-link").is_symlink() and (ws / "a/b/f.txt").read_text() == "F"
    # a folder holding a link leading out is not copied
    os.symlink(box.outside, ws / "a/out")
    with pytest.raises(P.PathRefused, match="symbolic link") as caught:
        await W.CopyWorkspaceFile(source="a", destination="a2").process(ctx)
    assert str(box.root) not in str(caught.value) and not (ws / "a2").exists()


def workspace_bad_paths(box: Sandbox, kind: str) -> dict[str, str]:
    leaf = "" if kind == "folder" else "/secret.txt"
    ws = box.services.storage / "workspace"
    return {
        "dotdot": "../../outside" + leaf,
        "dotdot-inside": "notes/../../outside" + leaf,
        "absolute-outside": f"{box.outside}{leaf}",
        "absolute-inside": f"{ws}/notes{leaf}",
        "absolute-allowed": f"{box.allowed}{leaf}",
        "home": "~/nodetool-gateway-test" + leaf,
        "file-uri": f"file://{box.outside}{leaf}",
        "symlink-escape": "link" + leaf,
        "file-link-escape": "secret.txt",
    }


# Every nodetool.workspace type that names a file, built around one path.
WS_NAMING = {
    "ListWorkspaceFiles": (lambda p: W.ListWorkspaceFiles(path=p, recursive=True), "folder"),
    "ReadTextFile": (lambda p: W.ReadTextFile(path=p), "file"),
    "WriteTextFile": (lambda p: W.WriteTextFile(path=p, content="pwned"), "file"),
    "WriteTextFile.append": (lambda p: W.WriteTextFile(path=p, content="pwned", append=True), "file"),
    "ReadBinaryFile": (lambda p: W.ReadBinaryFile(path=p), "file"),
    "WriteBinaryFile": (lambda p: W.WriteBinaryFile(path=p, content="cHduZWQ="), "file"),
    "DeleteWorkspaceFile": (lambda p: W.DeleteWorkspaceFile(path=p, recursive=True), "file"),
    "DeleteWorkspaceFile.folder": (lambda p: W.DeleteWorkspaceFile(path=p, recursive=True), "folder"),
    "CreateWorkspaceDirectory": (lambda p: W.CreateWorkspaceDirectory(path=p + "/new"), "folder"),
    "WorkspaceFileExists": (lambda p: W.WorkspaceFileExists(path=p), "file"),
    "GetWorkspaceFileInfo": (lambda p: W.GetWorkspaceFileInfo(path=p), "file"),
    "CopyWorkspaceFile.source": (lambda p: W.CopyWorkspaceFile(source=p, destination="c"), "folder"),
    "CopyWorkspaceFile.destination": (lambda p: W.CopyWorkspaceFile(source="src.txt", destination=p), "file"),
    "MoveWorkspaceFile.source": (lambda p: W.MoveWorkspaceFile(source=p, destination="c"), "folder"),
    "MoveWorkspaceFile.destination": (lambda p: W.MoveWorkspaceFile(source="src.txt", destination=p), "file"),
    "GetWorkspaceFileSize": (lambda p: W.GetWorkspaceFileSize(path=p), "file"),
    "IsWorkspaceFile": (lambda p: W.IsWorkspaceFile(path=p), "file"),
    "IsWorkspaceDirectory": (lambda p: W.IsWorkspaceDirectory(path=p), "folder"),
    "JoinWorkspacePaths": (lambda p: W.JoinWorkspacePaths(paths=[p, "x"]), "file"),
}


@pytest.mark.parametrize("case", ["dotdot", "dotdot-inside", "absolute-outside", "absolute-inside",
                                  "absolute-allowed", "home", "file-uri", "symlink-escape",
                                  "file-link-escape"])
@pytest.mark.parametrize("node_name", sorted(WS_NAMING))
async def test_every_workspace_type_refuses_escapes(box, node_name, case):
    """Refuses absolute paths (even inside the workspace or files.allow), '..' and links
    leading out of the workspace; nothing outside changes and no message tells where the
    workspace is."""
    ws = workspace(box)
    (ws / "src.txt").write_text("source")
    (ws / "notes").mkdir()
    (box.allowed / "secret.txt").unlink()  # test_files' link; here a real file in files.allow
    (box.allowed / "secret.txt").write_text("allowed")
    make, kind = WS_NAMING[node_name]
    path = workspace_bad_paths(box, kind)[case]
    before = box.outside_listing()
    with pytest.raises(P.PathRefused) as caught:
        await run(make(path), box.ctx)
    message = str(caught.value)
    assert "workspace" in message
    assert str(box.services.storage) not in message
    if case.startswith("symlink") or case == "file-link-escape":
        assert "symbolic link" in message
    if case.startswith("dotdot"):
        assert "'..'" in message
    if case.startswith("absolute") or case in ("home", "file-uri"):
        assert "absolute paths are not allowed" in message
    assert box.outside_listing() == before
    assert (box.outside / "secret.txt").read_text() == "secret"
    assert (box.allowed / "secret.txt").read_text() == "allowed"
    assert (ws / "src.txt").read_text() == "source"
    assert sorted(p.name for p in ws.iterdir()) == ["link", "notes", "secret.txt", "src.txt"]
    assert not any((ws / "notes").iterdir())


# Through the engine

def graph(*nodes: dict, edges: list[tuple[str, str, str, str]]) -> dict:
    return {"nodes": list(nodes),
            "edges": [{"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
                      for s, sh, t, th in edges]}


async def test_workflow_through_the_engine(box):
    """A workflow writes, reads and lists the workspace, copies a file inside files.allow
    and reads the copy's modification time (kept by the copy); an escape fails the run
    naming the node."""
    src = box.allowed / "src.txt"
    src.write_text("s")
    os.utime(src, (1_650_000_000, 1_600_000_000.125))
    g = graph(
        {"id": "write", "type": "nodetool.workspace.WriteTextFile",
         "data": {"path": "reports/r.txt", "content": "hello"}},
        {"id": "read", "type": "nodetool.workspace.ReadTextFile", "data": {}},
        {"id": "copy", "type": "lib.os.CopyFile",
         "data": {"source_path": str(src), "destination_path": str(box.allowed / "c/c.txt")}},
        {"id": "mtime", "type": "lib.os.ModifiedTime", "data": {}},
        {"id": "text", "type": "nodetool.output.Output", "data": {"name": "text"}},
        {"id": "when", "type": "nodetool.output.Output", "data": {"name": "when"}},
        edges=[("write", "output", "read", "path"), ("read", "output", "text", "value"),
               ("copy", "output", "mtime", "path"), ("mtime", "output", "when", "value")])
    result = await run_workflow(g, registry=default_registry(), services=box.services)
    assert result.status == "completed", result.error
    assert result.outputs["text"] == ["hello"]
    assert result.outputs["when"] == [utc(1_600_000_000.125)]
    assert (box.allowed / "c/c.txt").read_text() == "s"

    listing = graph({"id": "list", "type": "nodetool.workspace.ListWorkspaceFiles",
                     "data": {"recursive": True, "pattern": "*.txt"}},
                    {"id": "files", "type": "nodetool.output.Output", "data": {"name": "files"}},
                    edges=[("list", "file", "files", "value")])
    result = await run_workflow(listing, registry=default_registry(), services=box.services)
    assert result.status == "completed", result.error
    assert result.outputs["files"] == ["reports/r.txt"]

    bad = graph({"id": "read", "type": "nodetool.workspace.ReadTextFile",
                 "data": {"path": "../../outside/secret.txt"}},
                {"id": "out", "type": "nodetool.output.Output", "data": {"name": "out"}},
                edges=[("read", "output", "out", "value")])
    result = await run_workflow(bad, registry=default_registry(), services=box.services)
    assert result.status == "failed" and result.error_node_id == "read"
    assert "'..'" in result.error and "secret" not in str(result.outputs)


@pytest.mark.parametrize("node_type", ["lib.os.OpenWorkspaceDirectory", "lib.os.ShowNotification",
                                       "nodetool.workspace.SaveImageFile",
                                       "nodetool.workspace.SaveVideoFile"])
async def test_desktop_and_media_types_are_unknown(box, node_type):
    """The types left out fail validation, which says they are not available and why."""
    g = graph({"id": "n", "type": node_type, "data": {}}, edges=[])
    reason = "opens a window on the desktop" if "lib.os" in node_type else "no image or video types"
    with pytest.raises(WorkflowError, match=f"not available in nodetool-gateway: .*{reason}"):
        await run_workflow(g, registry=default_registry(), services=box.services)


def test_namespace_registered():
    """nodetool.workspace is in the default registry."""
    registry = default_registry()
    for name in W.__all__:
        if name[0].isupper():
            assert registry.get(f"nodetool.workspace.{name}") is not None
    assert registry.get("lib.os.CopyFile").node_type == "lib.os.CopyFile"
