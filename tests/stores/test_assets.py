"""Assets: files under one folder, described in SQLite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodetool_gateway.stores import AssetStore, Database

ASSET_KEYS = {"id", "parent_id", "name", "content_type", "size", "metadata", "created_at"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "assets"


@pytest.fixture
def assets(db: Database, folder: Path) -> AssetStore:
    return AssetStore(db, folder)


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def test_add_bytes(assets: AssetStore, folder: Path):
    """AssetStore.add stores bytes under an id-based file name and guesses the type."""
    asset = assets.add(b"hello world", "Notes.txt", metadata={"source": "test"})
    assert set(asset) == ASSET_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", asset["id"])
    assert asset["name"] == "Notes.txt" and asset["parent_id"] is None
    assert asset["content_type"] == "text/plain" and asset["size"] == 11
    assert asset["metadata"] == {"source": "test"}
    assert assets.path(asset["id"]) == folder.resolve() / f"{asset['id']}.txt"
    assert assets.read(asset["id"], 1024) == b"hello world"
    assert assets.get(asset["id"]) == asset


def test_add_file(assets: AssetStore, tmp_path: Path):
    """AssetStore.add copies a file, named after it unless told otherwise."""
    source = tmp_path / "photo.png"
    source.write_bytes(b"\x89PNG" + bytes(100))
    asset = assets.add(source)
    renamed = assets.add(source, "cover", content_type="image/x-custom")
    assert asset["name"] == "photo.png" and asset["content_type"] == "image/png"
    assert asset["size"] == 104
    assert renamed["name"] == "cover" and renamed["content_type"] == "image/x-custom"
    source.write_bytes(b"changed")
    assert assets.read(asset["id"], 1000) == b"\x89PNG" + bytes(100)


def test_add_refuses_a_folder_source(assets: AssetStore, tmp_path: Path):
    """AssetStore.add refuses a source that is not a file."""
    with pytest.raises(ValueError, match="not a file"):
        assets.add(tmp_path)


def test_folders_and_parents(assets: AssetStore):
    """AssetStore keeps assets in folder assets, listed by parent_id."""
    photos = assets.add_folder("Photos")
    inner = assets.add_folder("2025", parent_id=photos["id"])
    cat = assets.add(b"cat", "cat.jpg", parent_id=photos["id"])
    assets.add(b"dog", "dog.jpg", parent_id=inner["id"])
    top = assets.add(b"top", "readme.md")
    assert photos["content_type"] == "folder" and photos["size"] == 0

    top_level, total = assets.list()
    assert [a["id"] for a in top_level] == [photos["id"], top["id"]] and total == 2
    in_photos, total = assets.list(parent_id=photos["id"])
    assert [a["name"] for a in in_photos] == ["2025", "cat.jpg"] and total == 2
    assert in_photos[1] == cat and cat["parent_id"] == photos["id"]


def test_parent_must_be_a_folder(assets: AssetStore):
    """AssetStore.add refuses a parent that is missing or not a folder."""
    file = assets.add(b"x", "x.txt")
    with pytest.raises(ValueError, match="not a folder"):
        assets.add(b"y", "y.txt", parent_id=file["id"])
    with pytest.raises(ValueError, match="no folder asset"):
        assets.add_folder("sub", parent_id="0" * 32)


def test_list_filters_and_total(assets: AssetStore):
    """AssetStore.list filters by content type (exact or prefix) and name, and counts all matches."""
    folder = assets.add_folder("Album")
    for name in ("a.png", "b.png", "c.jpg"):
        assets.add(b"img", name, parent_id=folder["id"])
    assets.add(b"text", "Ünïcode Notes.txt")
    assets.add(b"{}", "data.json")

    pngs, total = assets.list(content_type="image/png")
    assert [a["name"] for a in pngs] == ["a.png", "b.png"] and total == 2
    images, total = assets.list(content_type="image/", limit=2)
    assert len(images) == 2 and total == 3
    assert assets.list(content_type="image")[1] == 3
    assert assets.list(content_type="image/", parent_id=folder["id"])[1] == 3
    assert assets.list(content_type="image/", parent_id="0" * 32) == ([], 0)
    found, total = assets.list(query="ünï")
    assert [a["name"] for a in found] == ["Ünïcode Notes.txt"] and total == 1
    assert assets.list(query="NOTES")[1] == 1
    assert assets.list(query="png", limit=0) == ([], 2)


def test_read_respects_max_bytes(assets: AssetStore):
    """AssetStore.read returns None for content larger than max_bytes."""
    asset = assets.add(b"12345", "n.bin")
    assert assets.read(asset["id"], 5) == b"12345"
    assert assets.read(asset["id"], 4) is None


def test_read_and_path_of_folders_and_unknown_ids(assets: AssetStore):
    """AssetStore.path raises ValueError for a folder and KeyError for an unknown id."""
    folder = assets.add_folder("f")
    with pytest.raises(ValueError, match="no file"):
        assets.read(folder["id"], 10)
    with pytest.raises(KeyError):
        assets.path("0" * 32)
    assert assets.get("0" * 32) is None


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "a\0b", "..", ".", "a\\b", "", " "])
def test_refused_names(assets: AssetStore, folder: Path, name: str):
    """AssetStore refuses names that are paths, and writes nothing for them."""
    with pytest.raises(ValueError):
        assets.add(b"x", name)
    with pytest.raises(ValueError):
        assets.add_folder(name)
    assert _files(folder) == []
    assert assets.list(query="x") == ([], 0)


def test_files_stay_inside_the_folder(assets: AssetStore, folder: Path, tmp_path: Path):
    """AssetStore names every file after its id, inside its folder, whatever the asset name."""
    names = ["..hidden", "x..y", "C:evil.exe", "name with spaces.tar.gz", "no-suffix",
             "weird.$(rm -rf)", "ünï.TXT"]
    added = [assets.add(b"data", name) for name in names]
    files = _files(folder)
    assert len(files) == len(names)
    for asset in added:
        path = assets.path(asset["id"])
        assert path.parent == folder.resolve()
        assert re.fullmatch(asset["id"] + r"(\.[a-z0-9]+)?", path.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets", "gateway.db", "gateway.db-shm",
                                                          "gateway.db-wal"]


def test_delete_removes_a_folder_and_its_content(assets: AssetStore, folder: Path):
    """AssetStore.delete removes a folder with everything in it, rows and files."""
    keep = assets.add(b"keep", "keep.txt")
    top = assets.add_folder("top")
    sub = assets.add_folder("sub", parent_id=top["id"])
    assets.add(b"1", "one.txt", parent_id=top["id"])
    assets.add(b"2", "two.txt", parent_id=sub["id"])
    assert len(_files(folder)) == 3

    assert assets.delete(top["id"]) == 4
    assert _files(folder) == [assets.path(keep["id"])]
    assert assets.list(query="t") == ([keep], 1)
    with pytest.raises(KeyError):
        assets.delete(top["id"])
