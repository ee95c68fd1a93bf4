"""Where file node types may read and write: the node's asset store, and the folders
the config's ``files.allow`` lists. Every node type that names a file goes through
:func:`resolve`; nothing else in the library opens a path a workflow chose.

- A relative name (``report.json``, ``notes/today.txt``, ``.``) is a path in the asset
  store: each folder is a folder asset (made when saving into one that is missing), the
  last part is the asset's name. The store keeps each file under its asset id, so no
  name reaches the disk.
- An absolute name (``/data/out/x.json``, ``~/docs``, ``file:///data/out``) must lie
  inside a folder in ``files.allow`` once every symbolic link in it is followed.
- ``..`` is refused anywhere, and so is a name with a NUL.

The asset store is SQLite plus files (``stores.assets``); a worker process opens its own
connection to the same file, so an asset saved by a run shows in ``list_assets`` at once.
"""

from __future__ import annotations

import datetime
import mimetypes
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ...stores.assets import FOLDER, AssetStore, check_name
from ...stores.database import Database

__all__ = [
    "CONFIG_KEY",
    "AssetPath",
    "DiskPath",
    "PathRefused",
    "allowed_folders",
    "asset_ref",
    "asset_store",
    "expand_name",
    "file_ref",
    "find_asset",
    "folder_id",
    "inside",
    "max_read",
    "path_text",
    "read_file",
    "resolve",
    "resolve_folder",
    "save",
    "text_content_type",
    "walk_assets",
]

CONFIG_KEY = "files.allow"
_HOW = (f"relative names are paths in the node's asset store; an absolute path must be "
        f"inside a folder listed under {CONFIG_KEY} in the node's config")


class PathRefused(ValueError):
    """A name a node type may not use; the message says why and which config key to change."""


def expand_name(pattern: str) -> str:
    """``pattern`` with its strftime codes (``%Y%m%d-%H%M%S``) filled in from the local
    time now, as NodeTool's ``generate_timestamped_name`` does
    (``datetime.datetime.now().strftime(pattern)``)."""
    return datetime.datetime.now().strftime(pattern)


def path_text(value: Any) -> str:
    """The path in a node's path property: a string, NodeTool's ``FilePath``/``FolderPath``
    (``{"type": "file_path", "path": ...}``) or a ``file://`` URI."""
    if isinstance(value, dict):
        value = value.get("path", value.get("uri", ""))
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PathRefused(f"a path must be a string, not {type(value).__name__}")
    if value.startswith("file://"):
        parts = urlsplit(value)
        if parts.netloc not in ("", "localhost"):
            raise PathRefused(f"{value!r} names a file on another host")
        value = unquote(parts.path)
    return value


@dataclass(frozen=True)
class AssetPath:
    """A path in the asset store: folder names, then the name (``()``: the top level)."""

    parts: tuple[str, ...]
    text: str

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""


@dataclass(frozen=True)
class DiskPath:
    """A real path (every link followed) inside ``root``, a folder of ``files.allow``."""

    path: Path
    root: Path
    text: str


def _config(services: Any) -> Any:
    return getattr(services, "config", None)


def allowed_folders(services: Any) -> list[Path]:
    """The ``files.allow`` folders, each with its links followed."""
    files = getattr(_config(services), "files", None)
    return [Path(os.path.realpath(os.path.expanduser(str(p))))
            for p in (getattr(files, "allow", None) or [])]


def inside(path: str, root: Path) -> bool:
    root_text = str(root)
    return path == root_text or path.startswith(root_text.rstrip(os.sep) + os.sep)


def resolve(services: Any, value: Any, *, what: str = "path") -> AssetPath | DiskPath:
    """Where ``value`` (a node's path property) is, or PathRefused saying why not.

    ``what`` names the property in the message (``folder``, ``path``, ...).
    """
    text = path_text(value)
    if "\0" in text:
        raise PathRefused(f"{what} {text!r} contains a NUL character")
    expanded = os.path.expanduser(text) if text.startswith("~") else text
    parts = expanded.split("/")
    if ".." in parts:
        raise PathRefused(f"{what} {text!r}: '..' is not allowed in a path; {_HOW}")
    if not os.path.isabs(expanded):
        if expanded.startswith("~"):  # ~otheruser that does not exist
            raise PathRefused(f"{what} {text!r}: no such home folder; {_HOW}")
        names = tuple(p for p in parts if p not in ("", "."))
        for name in names:
            try:
                check_name(name)
            except ValueError as exc:
                raise PathRefused(f"{what} {text!r}: {exc}") from None
        return AssetPath(names, text)
    roots = allowed_folders(services)
    if not roots:
        raise PathRefused(
            f"{what} {text!r} is outside the asset store, and {CONFIG_KEY} lists no folder: "
            f"add the folder to {CONFIG_KEY} in the node's config to let node types use it, "
            f"or use a relative name (a path in the asset store)")
    normal = os.path.normpath(expanded)
    real = os.path.realpath(normal)
    for root in roots:
        if inside(real, root):
            return DiskPath(Path(real), root, text)
    # Say whether a link led out: the path as written is inside an allowed folder.
    configured = [os.path.normpath(os.path.expanduser(str(p)))
                  for p in getattr(getattr(_config(services), "files", None), "allow", [])]
    if any(inside(normal, Path(c)) for c in configured) or \
            any(inside(normal, r) for r in roots):
        raise PathRefused(
            f"{what} {text!r} leads out of the folders in {CONFIG_KEY} through a symbolic "
            f"link; add the folder it leads to to {CONFIG_KEY} in the node's config to allow it")
    raise PathRefused(
        f"{what} {text!r} is outside the folders node types may use ({CONFIG_KEY}: "
        f"{', '.join(str(r) for r in roots)}); add its folder to {CONFIG_KEY} in the node's "
        f"config, or use a relative name (a path in the asset store)")


def resolve_folder(services: Any, value: Any, *, what: str = "folder") -> AssetPath | DiskPath | str:
    """Like :func:`resolve`, but also takes NodeTool's FolderRef
    (``{"type": "folder", "asset_id": ...}``): then the folder asset's id."""
    if isinstance(value, dict) and value.get("type") == "folder" or \
            isinstance(value, dict) and "asset_id" in value and "path" not in value:
        return value.get("asset_id") or ""
    return resolve(services, value, what=what)


# The asset store

# One Database per process and storage folder, kept open (a worker process saves many
# times; opening one checks the schema in a write transaction). A few are kept, for the
# storage folder a reload may change.
_DATABASES: OrderedDict[tuple[int, str], Database] = OrderedDict()
_DATABASES_LOCK = threading.Lock()
_KEEP = 4


def _database(storage: Path) -> Database:
    key = (os.getpid(), str(storage))
    with _DATABASES_LOCK:
        db = _DATABASES.get(key)
        if db is not None and not getattr(db, "_closed", False):
            _DATABASES.move_to_end(key)
            return db
        db = _DATABASES[key] = Database(storage / "nodetool-gateway.db")
        while len(_DATABASES) > _KEEP:
            (pid, _), old = _DATABASES.popitem(last=False)
            if pid == os.getpid():  # a forked child leaves its parent's alone
                old.close()
        return db


@contextmanager
def asset_store(services: Any) -> Iterator[AssetStore]:
    """The node's asset store (``<storage>/nodetool-gateway.db`` and ``<storage>/assets``,
    as the node's Backend builds it): blocking, use in a thread."""
    storage = getattr(services, "storage", None)
    if storage is None:
        raise PathRefused("this node type needs the node's storage (its asset store): run the "
                          "workflow through the node (run_workflow)")
    storage = Path(storage)
    yield AssetStore(_database(storage), storage / "assets")


def asset_ref(kind: str, asset: dict[str, Any], store: AssetStore) -> dict[str, Any]:
    """NodeTool's reference to a saved asset: ``{"type", "uri": "asset://<id><ext>",
    "asset_id", "data": None, "metadata": None}`` (its AssetRef/TextRef/JSONRef)."""
    suffix = store.path(asset["id"]).suffix if asset["content_type"] != FOLDER else ""
    return {"type": kind, "uri": f"asset://{asset['id']}{suffix}", "asset_id": asset["id"],
            "data": None, "metadata": None}


def file_ref(kind: str, path: Path) -> dict[str, Any]:
    """NodeTool's reference to a file on disk: ``{"type", "uri": "file:///...", "asset_id": None, ...}``."""
    return {"type": kind, "uri": Path(path).as_uri(), "asset_id": None, "data": None,
            "metadata": None}


def folder_id(store: AssetStore, parts: tuple[str, ...], parent_id: str | None = None, *,
              create: bool, text: str = "") -> str | None:
    """The folder asset at ``parts`` under ``parent_id`` (made when ``create``)."""
    for name in parts:
        if create:
            try:
                parent_id = store.ensure_folder(name, parent_id)["id"]
            except ValueError as exc:
                raise PathRefused(f"folder {text!r}: {exc}") from None
        else:
            found = store.child(parent_id, name)
            if found is None or found["content_type"] != FOLDER:
                raise FileNotFoundError(f"no asset folder {text!r} in the asset store")
            parent_id = found["id"]
    return parent_id


def find_asset(store: AssetStore, place: AssetPath, parent_id: str | None = None) -> dict[str, Any] | None:
    """The asset at ``place`` (the newest of that name), a dict for the top level, or None."""
    if not place.parts:
        return {"id": parent_id, "name": "", "content_type": FOLDER, "size": 0,
                "created_at": None}
    for i, name in enumerate(place.parts):
        found = store.child(parent_id, name)
        if found is None:
            return None
        if i < len(place.parts) - 1 and found["content_type"] != FOLDER:
            return None
        parent_id = found["id"]
    return found


def walk_assets(store: AssetStore, parent_id: str | None, prefix: str,
                recursive: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, asset)`` for each asset in a folder (and its subfolders when ``recursive``)."""
    for asset in store.children(parent_id):
        path = f"{prefix}/{asset['name']}" if prefix else asset["name"]
        yield path, asset
        if recursive and asset["content_type"] == FOLDER:
            yield from walk_assets(store, asset["id"], path, recursive)


def text_content_type(name: str) -> str:
    """The content type a text asset is saved with: the name's, when it is a text type
    (``.html`` -> text/html, ``.md`` -> text/markdown), else text/plain."""
    guessed = mimetypes.guess_type(name, strict=False)[0] or ""
    return guessed if guessed.startswith("text/") else "text/plain"


def save(services: Any, place: AssetPath | DiskPath, data: bytes, *, kind: str,
         content_type: str, parent_id: str | None = None,
         make_folders: bool = True) -> dict[str, Any]:
    """Write ``data`` at ``place``; NodeTool's reference to what was written.

    In the asset store a new asset is added (names need not be unique, as in NodeTool),
    its folders made when missing. On disk the file is written whole or not at all
    (a temporary file, then renamed over the target); its folder is made when
    ``make_folders``. Blocking: call it in a thread.
    """
    if isinstance(place, AssetPath):
        if not place.parts:
            raise PathRefused(f"{place.text!r} names a folder, not a file")
        with asset_store(services) as store:
            parent = folder_id(store, place.parts[:-1], parent_id, create=True, text=place.text)
            try:
                asset = store.add(bytes(data), place.name, parent_id=parent,
                                  content_type=content_type)
            except ValueError as exc:
                raise PathRefused(str(exc)) from None
            return asset_ref(kind, asset, store)
    target = place.path
    folder = target.parent
    if make_folders:
        os.makedirs(folder, exist_ok=True)
    elif not folder.is_dir():
        raise FileNotFoundError(f"Folder does not exist: {folder}")
    # The folder was checked with its links followed; check again now that it exists.
    real_folder = Path(os.path.realpath(folder))
    if not inside(str(real_folder), place.root):
        raise PathRefused(f"{place.text!r} leads outside {place.root} through a symbolic link")
    if target.is_dir():
        raise IsADirectoryError(f"{place.text!r} is a folder")
    partial = real_folder / f".{target.name}.{uuid.uuid4().hex[:12]}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, real_folder / target.name)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return file_ref(kind, real_folder / target.name)


def max_read(services: Any) -> int:
    """The largest file a node reads: ``engine.max_value_size`` (a value past it would
    fail the run anyway)."""
    engine = getattr(_config(services), "engine", None)
    return int(getattr(engine, "max_value_size", 16 * 1024 * 1024))


def read_file(path: Path, root: Path, limit: int) -> bytes:
    """A file on disk inside ``root`` (links followed and checked again), at most ``limit`` bytes."""
    real = os.path.realpath(path)
    if not inside(real, root):
        raise PathRefused(f"{path} leads outside {root} through a symbolic link")
    with open(real, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{os.path.basename(path)} is larger than engine.max_value_size "
                         f"({limit} bytes)")
    return data
