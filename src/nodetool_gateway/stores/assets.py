"""Assets: files under one folder, described by rows in SQLite.

A file on disk is named after its asset id plus a short, checked suffix
(``3f2a...e1.png``), never after the name a user gave, so no name can reach
outside the folder.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .database import Database, now_iso

__all__ = ["FOLDER", "AssetStore", "check_name"]

FOLDER = "folder"
_DEFAULT_TYPE = "application/octet-stream"
_MAX_NAME = 255
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")
_FILE_NAME = re.compile(r"[0-9a-f]{32}(\.[A-Za-z0-9]{1,16})?")
_COLUMNS = "id, parent_id, name, content_type, size, metadata, created_at"


def check_name(name: str) -> str:
    """Return ``name`` if it is a plain asset name, else raise ValueError saying why."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an asset name must be a non-empty string")
    if "\0" in name:
        raise ValueError(f"asset name {name!r} contains a NUL character")
    if "/" in name or "\\" in name:
        raise ValueError(f"asset name {name!r} contains a path separator; "
                         "use a folder asset (parent_id) instead")
    if name in (".", ".."):
        raise ValueError(f"asset name {name!r} is not a file name")
    if len(name) > _MAX_NAME:
        raise ValueError(f"asset name is {len(name)} characters long; at most {_MAX_NAME} are allowed")
    return name


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or _DEFAULT_TYPE


def _suffix(name: str, content_type: str) -> str:
    suffix = os.path.splitext(name)[1]
    if _SAFE_SUFFIX.fullmatch(suffix):
        return suffix.lower()
    guessed = mimetypes.guess_extension(content_type, strict=False) or ""
    return guessed if _SAFE_SUFFIX.fullmatch(guessed) else ""


def _asset(row: sqlite3.Row) -> dict[str, Any]:
    asset = dict(row)
    asset["metadata"] = json.loads(asset["metadata"]) if asset["metadata"] else {}
    return asset


class AssetStore:
    """Files kept under ``folder`` with their metadata in ``db``.

    Asset dicts are ``{id, parent_id, name, content_type, size, metadata, created_at}``.
    Folders are assets with content type ``"folder"`` and no file.
    """

    def __init__(self, db: Database, folder: Path):
        self.db = db
        self.folder = Path(folder).expanduser().resolve()
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, source: Path | bytes, name: str | None = None, *, parent_id: str | None = None,
            content_type: str | None = None,
            metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Copy a file (or store bytes) as a new asset and return it.

        ``name`` defaults to the file's name (``"untitled"`` for bytes);
        ``content_type`` is guessed from the name when not given. Raises
        ValueError for a bad name or a ``parent_id`` that is not a folder asset.
        """
        if isinstance(source, (bytes, bytearray, memoryview)):
            name = check_name(name if name is not None else "untitled")
        else:
            source = Path(source)
            if not source.is_file():
                raise ValueError(f"{source} is not a file")
            name = check_name(name if name is not None else source.name)
        content_type = content_type or _guess_type(name)
        if content_type == FOLDER:
            raise ValueError("use add_folder to make a folder")
        self._check_parent(parent_id)
        asset_id = uuid.uuid4().hex
        file_name = asset_id + _suffix(name, content_type)
        target = self.folder / file_name
        partial = self.folder / f".{asset_id}.partial"
        try:
            if isinstance(source, Path):
                shutil.copyfile(source, partial)
            else:
                with open(partial, "xb") as f:
                    f.write(source)
            size = partial.stat().st_size
            os.replace(partial, target)
            self._insert(asset_id, parent_id, name, content_type, size, metadata, file_name)
        except BaseException:
            partial.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            raise
        return self.get(asset_id)

    def add_folder(self, name: str, parent_id: str | None = None, *,
                   metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Make a folder asset (content type ``"folder"``) and return it."""
        check_name(name)
        self._check_parent(parent_id)
        asset_id = uuid.uuid4().hex
        self._insert(asset_id, parent_id, name, FOLDER, 0, metadata, None)
        return self.get(asset_id)

    def list(self, parent_id: str | None = None, content_type: str | None = None,
             query: str | None = None, limit: int = 100,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Assets matching the filters, folders first then by name, and how many match.

        As in NodeTool, no ``parent_id`` means the top level when there is no
        other filter, and every folder when ``content_type`` or ``query`` is
        given. ``content_type`` matches exactly, or by prefix when it ends with
        ``/`` or has none (``"image/"`` and ``"image"`` match ``image/png``).
        ``query`` is a case-insensitive part of the name. ``offset`` skips that
        many matches.
        """
        where, args = [], []
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        elif not content_type and not query:
            where.append("parent_id IS NULL")
        if content_type:
            if content_type.endswith("/"):
                where.append("substr(content_type, 1, ?) = ?")
                args += [len(content_type), content_type]
            elif "/" not in content_type:
                where.append("(content_type = ? OR substr(content_type, 1, ?) = ?)")
                args += [content_type, len(content_type) + 1, content_type + "/"]
            else:
                where.append("content_type = ?")
                args.append(content_type)
        if query:
            where.append("instr(casefold(name), ?) > 0")
            args.append(query.casefold())
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = self.db.query_one(f"SELECT count(*) FROM assets{clause}", args)[0]
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM assets{clause}"
            " ORDER BY content_type = 'folder' DESC, casefold(name), created_at, id LIMIT ? OFFSET ?",
            (*args, max(0, int(limit)), max(0, int(offset))))
        return [_asset(r) for r in rows], total

    def get(self, asset_id: str) -> dict[str, Any] | None:
        """One asset, or None."""
        row = self.db.query_one(f"SELECT {_COLUMNS} FROM assets WHERE id = ?", (asset_id,))
        return None if row is None else _asset(row)

    def child(self, parent_id: str | None, name: str) -> dict[str, Any] | None:
        """The newest asset called ``name`` in a folder (None: the top level), or None.

        Names are not unique in a folder (NodeTool's aren't either); a path names the
        newest.
        """
        row = self.db.query_one(
            f"SELECT {_COLUMNS} FROM assets WHERE parent_id IS ? AND name = ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1", (parent_id, name))
        return None if row is None else _asset(row)

    def children(self, parent_id: str | None, limit: int = 100_000) -> list[dict[str, Any]]:
        """Every asset directly in a folder (None: the top level), by name, at most ``limit``."""
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM assets WHERE parent_id IS ?"
            " ORDER BY casefold(name), created_at, id LIMIT ?", (parent_id, max(0, int(limit))))
        return [_asset(r) for r in rows]

    def ensure_folder(self, name: str, parent_id: str | None = None) -> dict[str, Any]:
        """The newest folder asset called ``name`` in ``parent_id``, made if there is none.

        One write transaction, so two runs (or processes) saving into a new folder at
        once make it once. ValueError if an asset of that name there is not a folder.
        """
        check_name(name)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id, content_type FROM assets WHERE parent_id IS ? AND name = ?"
                " ORDER BY content_type = 'folder' DESC, created_at DESC, id DESC LIMIT 1",
                (parent_id, name)).fetchone()
            if row is not None and row["content_type"] == FOLDER:
                asset_id = row["id"]
            elif row is not None:
                raise ValueError(f"asset {name!r} is a {row['content_type']}, not a folder")
            else:
                if parent_id is not None:
                    parent = conn.execute("SELECT content_type FROM assets WHERE id = ?",
                                          (parent_id,)).fetchone()
                    if parent is None or parent["content_type"] != FOLDER:
                        raise ValueError(f"no folder asset {parent_id!r} to put this in")
                asset_id = uuid.uuid4().hex
                conn.execute(
                    "INSERT INTO assets (id, parent_id, name, content_type, size, metadata,"
                    " created_at, file) VALUES (?, ?, ?, ?, 0, '{}', ?, NULL)",
                    (asset_id, parent_id, name, FOLDER, now_iso()))
        return self.get(asset_id)

    def path(self, asset_id: str) -> Path:
        """Where an asset's file is (KeyError if unknown, ValueError for a folder)."""
        row = self.db.query_one("SELECT file, content_type FROM assets WHERE id = ?", (asset_id,))
        if row is None:
            raise KeyError(f"no asset {asset_id!r}")
        if row["file"] is None:
            raise ValueError(f"asset {asset_id!r} is a {row['content_type']}, it has no file")
        # The file name is ours (id + checked suffix); check anyway in case the row was edited.
        if not _FILE_NAME.fullmatch(row["file"]):
            raise ValueError(f"asset {asset_id!r} has a bad file name {row['file']!r} in the database")
        return self.folder / row["file"]

    def read(self, asset_id: str, max_bytes: int) -> bytes | None:
        """An asset's content, or None when it is larger than ``max_bytes``."""
        with open(self.path(asset_id), "rb") as f:
            data = f.read(max_bytes + 1)
        return None if len(data) > max_bytes else data

    def delete(self, asset_id: str) -> int:
        """Delete an asset (a folder with everything in it); returns how many assets went.

        Raises KeyError if there is no such asset.
        """
        with self.db.transaction() as conn:
            rows = conn.execute(
                "WITH RECURSIVE sub(id) AS ("
                " SELECT id FROM assets WHERE id = ?"
                " UNION ALL SELECT a.id FROM assets a JOIN sub ON a.parent_id = sub.id)"
                " SELECT assets.id, assets.file FROM assets JOIN sub USING (id)",
                (asset_id,)).fetchall()
            if not rows:
                raise KeyError(f"no asset {asset_id!r}")
            conn.execute("DELETE FROM assets WHERE id = ?", (asset_id,))  # children cascade
        for row in rows:
            if row["file"] and _FILE_NAME.fullmatch(row["file"]):
                (self.folder / row["file"]).unlink(missing_ok=True)
        return len(rows)

    def _check_parent(self, parent_id: str | None) -> None:
        if parent_id is None:
            return
        row = self.db.query_one("SELECT content_type FROM assets WHERE id = ?", (parent_id,))
        if row is None:
            raise ValueError(f"no folder asset {parent_id!r} to put this in")
        if row["content_type"] != FOLDER:
            raise ValueError(f"asset {parent_id!r} is a {row['content_type']}, not a folder")

    def _insert(self, asset_id: str, parent_id: str | None, name: str, content_type: str,
                size: int, metadata: Mapping[str, Any] | None, file_name: str | None) -> None:
        try:
            self.db.execute(
                "INSERT INTO assets (id, parent_id, name, content_type, size, metadata,"
                " created_at, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (asset_id, parent_id, name, content_type, size,
                 json.dumps(dict(metadata or {}), ensure_ascii=False), now_iso(), file_name))
        except sqlite3.IntegrityError:
            # The parent was deleted between the check and the insert.
            raise ValueError(f"no folder asset {parent_id!r} to put this in") from None
