"""lib.os: NodeTool's path node types that make sense in a sandbox.

The pure ones (Basename, Dirname, JoinPaths, SplitPath, ...) only work on the text of a
path and touch no file. Unlike NodeTool they do not expand ``~``, which would tell a
workflow the node user's home folder. The ones that look at files (FileExists,
ListFiles, IsFile, IsDirectory, GetFileSize, CreateDirectory) go through ``_paths``: a
relative path is a path in the node's asset store, an absolute one must be inside a
folder of ``files.allow``.

CopyFile, MoveFile, the file times, GetPathInfo, AbsolutePath and RelativePath go
through ``_paths`` too: nothing names, reads or returns a place outside the asset store
and ``files.allow``. AbsolutePath gives a file's real path only when it is inside a
folder of ``files.allow`` (a relative name's absolute form is its asset-store path),
and WorkspaceDirectory gives the node's workspace folder (``<storage>/workspace``, see
``workspace.py``) only when ``files.allow`` covers it; NodeTool's answers come from the
working directory and would tell a workflow where the node keeps its files.

Left out: what opens the machine's desktop (OpenWorkspaceDirectory, ShowNotification);
a node runner is headless.
"""

import asyncio
import contextlib
import datetime
import fnmatch
import os
import posixpath
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar, TypedDict

from pydantic import Field

from ..node import BaseNode
from . import _paths as P

NAMESPACE = "lib.os"

__all__ = [
    "AbsolutePath",
    "AccessedTime",
    "Basename",
    "CopyFile",
    "CreateDirectory",
    "CreatedTime",
    "Dirname",
    "FileExists",
    "FileExtension",
    "FileName",
    "FileNameMatch",
    "FilterFileNames",
    "GetDirectory",
    "GetFileSize",
    "GetPathInfo",
    "IsDirectory",
    "IsFile",
    "JoinPaths",
    "ListFiles",
    "ModifiedTime",
    "MoveFile",
    "NormalizePath",
    "PathToString",
    "RelativePath",
    "SplitExtension",
    "SplitPath",
    "WorkspaceDirectory",
]


def _need(value: str, message: str = "'path' field cannot be empty") -> None:
    if not value:
        raise ValueError(message)


def _stat(services: Any, value: str, what: str = "path") -> dict[str, Any] | None:
    """``{"kind": "file"|"folder", "size"}`` for what is at ``value``, or None."""
    place = P.resolve(services, value, what=what)
    if isinstance(place, P.DiskPath):
        path = place.path
        if path.is_dir():
            return {"kind": "folder", "size": path.stat().st_size}
        if path.exists():
            return {"kind": "file", "size": path.stat().st_size}
        return None
    with P.asset_store(services) as store:
        asset = P.find_asset(store, place)
    if asset is None:
        return None
    return {"kind": "folder" if asset["content_type"] == P.FOLDER else "file",
            "size": asset["size"]}


async def _stat_async(context: Any, value: str) -> dict[str, Any] | None:
    return await asyncio.to_thread(_stat, getattr(context, "services", None), value)


class FileExists(BaseNode):
    """
    Whether a file or folder exists at the path (in the asset store, or inside a folder
    of files.allow).
    files, check, exists
    """

    path: str = Field(default="", description="Path to check for existence")

    async def process(self, context: Any) -> bool:
        _need(self.path)
        return await _stat_async(context, self.path) is not None


class IsFile(BaseNode):
    """
    Whether the path is a file.
    files, metadata, type
    """

    path: str = Field(default="", description="Path to check")

    async def process(self, context: Any) -> bool:
        _need(self.path)
        found = await _stat_async(context, self.path)
        return found is not None and found["kind"] == "file"


class IsDirectory(BaseNode):
    """
    Whether the path is a folder (an asset folder, or a folder on disk).
    files, metadata, type
    """

    path: str = Field(default="", description="Path to check")

    async def process(self, context: Any) -> bool:
        _need(self.path)
        found = await _stat_async(context, self.path)
        return found is not None and found["kind"] == "folder"


class GetFileSize(BaseNode):
    """
    A file's size in bytes (FileNotFoundError if there is none).
    files, metadata, size
    """

    path: str = Field(default="", description="Path to file")

    async def process(self, context: Any) -> int:
        _need(self.path)
        found = await _stat_async(context, self.path)
        if found is None:
            raise FileNotFoundError(f"No such file: {self.path!r}")
        return found["size"]


def _match(name: str, rel: str, pattern: str) -> bool:
    # As glob: a pattern with a / matches the path below the folder, else the name;
    # names starting with "." only match a pattern starting with ".".
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(rel if "/" in pattern else name, pattern)


class ListFiles(BaseNode):
    """
    Lists the files and folders in a folder (an asset folder, or a folder inside
    files.allow) whose names match a pattern, optionally in every subfolder; streams
    each path. Links to folders are not followed; a link leading out of the allowed
    folders is skipped.
    files, list, directory
    """

    folder: str = Field(default="~", description="Directory to scan")
    pattern: str = Field(default="*", description="File pattern to match (e.g. *.txt)")
    include_subdirectories: bool = Field(default=False, description="Search subdirectories")

    class OutputType(TypedDict):
        file: str

    async def gen_process(self, context: Any) -> AsyncIterator[OutputType]:
        _need(self.folder, "directory cannot be empty")
        services = getattr(context, "services", None)
        place = P.resolve(services, self.folder, what="folder")
        found, skipped = await asyncio.to_thread(self._list, services, place)
        for path in skipped:
            context.log(f"skipped {path}: a link leading outside {P.CONFIG_KEY}", "warning")
        for path in found:
            yield {"file": path}

    def _list(self, services: Any, place: Any) -> tuple[list[str], list[str]]:
        found: list[str] = []
        skipped: list[str] = []
        if isinstance(place, P.DiskPath):
            if not place.path.is_dir():
                return found, skipped
            base = str(place.path)
            for folder, dirs, names in os.walk(base):
                dirs.sort()
                for name in sorted(dirs + names):
                    path = os.path.join(folder, name)
                    if not _match(name, os.path.relpath(path, base), self.pattern):
                        continue
                    if os.path.islink(path) and not P.inside(os.path.realpath(path), place.root):
                        skipped.append(path)
                        continue
                    found.append(path)
                if not self.include_subdirectories:
                    break
            return found, skipped
        with P.asset_store(services) as store:
            folder = P.find_asset(store, place)
            if folder is None or folder["content_type"] != P.FOLDER:
                return found, skipped
            prefix = "/".join(place.parts)
            for path, asset in P.walk_assets(store, folder["id"], prefix,
                                             self.include_subdirectories):
                rel = path[len(prefix) + 1:] if prefix else path
                if _match(asset["name"], rel, self.pattern):
                    found.append(path)
        return found, skipped


class CreateDirectory(BaseNode):
    """
    Makes a folder (an asset folder, or a folder inside files.allow), with the folders
    above it.
    files, directory, create
    """

    path: str = Field(default="", description="Directory path to create")
    exist_ok: bool = Field(default=True, description="Don't error if directory already exists")

    async def process(self, context: Any) -> None:
        _need(self.path)
        await asyncio.to_thread(self._make, getattr(context, "services", None))

    def _make(self, services: Any) -> None:
        place = P.resolve(services, self.path, what="path")
        if isinstance(place, P.DiskPath):
            os.makedirs(place.path, exist_ok=self.exist_ok)
            if not P.inside(os.path.realpath(place.path), place.root):
                raise P.PathRefused(f"{self.path!r} leads outside {place.root} through a "
                                    "symbolic link")
            return
        with P.asset_store(services) as store:
            if not self.exist_ok and P.find_asset(store, place) is not None:
                raise FileExistsError(f"{self.path!r} exists in the asset store")
            P.folder_id(store, place.parts, create=True, text=place.text)


class FileExtension(BaseNode):
    """
    The file's extension, with its dot ("" when there is none).
    files, metadata, extension
    """

    path: str = Field(default="", description="Path to file")

    async def process(self, context: Any) -> str:
        _need(self.path)
        return posixpath.splitext(self.path)[1]


class FileName(BaseNode):
    """
    The file's name, without its folder.
    files, metadata, name
    """

    path: str = Field(default="", description="Path to file")

    async def process(self, context: Any) -> str:
        _need(self.path)
        return posixpath.basename(self.path)


class GetDirectory(BaseNode):
    """
    The folder part of a path.
    files, metadata, directory
    """

    path: str = Field(default="", description="Path to file")

    async def process(self, context: Any) -> str:
        _need(self.path)
        return posixpath.dirname(self.path)


class FileNameMatch(BaseNode):
    """
    Whether a filename matches a shell-style pattern (*, ?, [abc]). Unlike NodeTool on
    Linux, case_sensitive false does ignore case.
    files, pattern, match, filter
    """

    filename: str = Field(default="", description="Filename to check")
    pattern: str = Field(default="*", description="Pattern to match against (e.g. *.txt, data_*.csv)")
    case_sensitive: bool = Field(default=True, description="Whether the pattern matching "
                                                           "should be case-sensitive")

    async def process(self, context: Any) -> bool:
        if self.case_sensitive:
            return fnmatch.fnmatchcase(self.filename, self.pattern)
        return fnmatch.fnmatchcase(self.filename.lower(), self.pattern.lower())


class FilterFileNames(BaseNode):
    """
    The filenames that match a shell-style pattern.
    files, pattern, filter, list
    """

    filenames: list[str] = Field(default=[], description="list of filenames to filter")
    pattern: str = Field(default="*", description="Pattern to filter by (e.g. *.txt, data_*.csv)")
    case_sensitive: bool = Field(default=True, description="Whether the pattern matching "
                                                           "should be case-sensitive")

    async def process(self, context: Any) -> list[str]:
        if self.case_sensitive:
            return [n for n in self.filenames if fnmatch.fnmatchcase(n, self.pattern)]
        pattern = self.pattern.lower()
        return [n for n in self.filenames if fnmatch.fnmatchcase(n.lower(), pattern)]


class Basename(BaseNode):
    """
    The last part of a path, optionally without its extension.
    files, path, basename
    """

    path: str = Field(default="", description="File path to get basename from")
    remove_extension: bool = Field(default=False, description="Remove file extension from basename")

    async def process(self, context: Any) -> str:
        if self.path.strip() == "":
            raise ValueError("path is empty")
        name = posixpath.basename(self.path)
        return posixpath.splitext(name)[0] if self.remove_extension else name


class Dirname(BaseNode):
    """
    The folder part of a path.
    files, path, dirname
    """

    path: str = Field(default="", description="File path to get dirname from")

    async def process(self, context: Any) -> str:
        return posixpath.dirname(self.path)


class JoinPaths(BaseNode):
    """
    Joins path parts with "/" (a part starting with "/" starts the path anew).
    path, join, combine
    """

    paths: list[str] = Field(default=[], description="Path components to join")

    async def process(self, context: Any) -> str:
        if not self.paths:
            raise ValueError("paths cannot be empty")
        return posixpath.join(*self.paths)


class NormalizePath(BaseNode):
    """
    The path with redundant separators and "." and ".." parts folded away (text only).
    path, normalize, clean
    """

    path: str = Field(default="", description="Path to normalize")

    async def process(self, context: Any) -> str:
        if not self.path:
            raise ValueError("path cannot be empty")
        return posixpath.normpath(self.path)


class SplitPath(BaseNode):
    """
    A path's folder and last part: {"dirname", "basename"}.
    files, path, split
    """

    path: str = Field(default="", description="Path to split")

    async def process(self, context: Any) -> dict:
        dirname, basename = posixpath.split(self.path)
        return {"dirname": dirname, "basename": basename}


class SplitExtension(BaseNode):
    """
    A path without and with its extension: {"root", "extension"}.
    files, path, extension, split
    """

    path: str = Field(default="", description="Path to split")

    async def process(self, context: Any) -> dict:
        root, ext = posixpath.splitext(self.path)
        return {"root": root, "extension": ext}


class PathToString(BaseNode):
    """
    The path as a string (an empty one is an error).
    files, path, string, convert
    """

    file_path: str = Field(default="", description="File path to convert to string")

    async def process(self, context: Any) -> str:
        if not self.file_path:
            raise ValueError("file_path cannot be empty")
        return self.file_path


# Copying and moving. What is at a place is read as a list of entries, ``(parts below it,
# the file to copy or None for a folder)``, so the asset store and the disk mix freely
# and nothing outside the allowed folders is read.

Entry = tuple[tuple[str, ...], Path | None]


def _services(context: Any) -> Any:
    return getattr(context, "services", None)


def _disk_entries(path: Path, root: Path, parts: tuple[str, ...] = (),
                  seen: frozenset[str] = frozenset()) -> list[Entry]:
    real = os.path.realpath(path)
    if not P.inside(real, root):
        raise P.PathRefused(f"{path} leads outside {root} through a symbolic link")
    if os.path.isdir(real):
        if real in seen:
            raise ValueError(f"{path}: a symbolic link loop")
        entries: list[Entry] = [(parts, None)]
        for name in sorted(os.listdir(real)):
            entries += _disk_entries(Path(real, name), root, parts + (name,), seen | {real})
        return entries
    if not os.path.exists(real):
        raise FileNotFoundError(f"No such file or directory: {str(path)!r}")
    return [(parts, Path(real))]


def _asset_entries(store: Any, asset: dict[str, Any], parts: tuple[str, ...] = ()) -> list[Entry]:
    if asset["content_type"] != P.FOLDER:
        return [(parts, store.path(asset["id"]))]
    entries: list[Entry] = [(parts, None)]
    for child in store.children(asset["id"]):
        entries += _asset_entries(store, child, parts + (child["name"],))
    return entries


def _exists(store: Any, place: Any) -> tuple[bool, bool]:
    """``(exists, is a folder)`` for a place."""
    if isinstance(place, P.DiskPath):
        return place.path.exists(), place.path.is_dir()
    found = P.find_asset(store, place)
    return found is not None, found is not None and found["content_type"] == P.FOLDER


def _entries(store: Any, place: Any, text: str) -> list[Entry]:
    if isinstance(place, P.DiskPath):
        return _disk_entries(place.path, place.root)
    found = P.find_asset(store, place)
    if found is None:
        raise FileNotFoundError(f"No such file or directory: {text!r}")
    return _asset_entries(store, found)


def _into(place: Any, name: str) -> Any:
    """``place``/``name`` (copying a file into a folder, as shutil.copy2 does)."""
    if isinstance(place, P.DiskPath):
        return P.DiskPath(place.path / name, place.root, place.text)
    return P.AssetPath(place.parts + (name,), place.text)


def _checked_folder(folder: Path, root: Path, text: str) -> Path:
    real = Path(os.path.realpath(folder))
    if not P.inside(str(real), root):
        raise P.PathRefused(f"{text!r} leads outside {root} through a symbolic link")
    return real


def _write_entries(store: Any, entries: list[Entry], dest: Any, *, make_parents: bool) -> None:
    if isinstance(dest, P.DiskPath):
        if not make_parents and not dest.path.parent.is_dir():
            raise FileNotFoundError(f"Folder does not exist: {dest.text!r}")
        for parts, source in entries:
            target = dest.path.joinpath(*parts)
            if source is None:
                os.makedirs(target, exist_ok=True)
                _checked_folder(target, dest.root, dest.text)
                continue
            os.makedirs(target.parent, exist_ok=True)
            folder = _checked_folder(target.parent, dest.root, dest.text)
            if not P.inside(os.path.realpath(folder / target.name), dest.root):
                raise P.PathRefused(f"{dest.text!r} leads outside {dest.root} through a "
                                    "symbolic link")
            shutil.copy2(source, folder / target.name)
        return
    if not dest.parts:
        raise P.PathRefused(f"{dest.text!r} names the asset store's top level, not a file")
    if not make_parents:
        P.folder_id(store, dest.parts[:-1], create=False, text=dest.text)
    parent = P.folder_id(store, dest.parts[:-1], create=True, text=dest.text)
    folders: dict[tuple[str, ...], str | None] = {}
    try:
        for parts, source in entries:
            here = folders[parts[:-1]] if parts else parent
            name = parts[-1] if parts else dest.name
            if source is None:
                folders[parts] = store.ensure_folder(name, here)["id"]
            else:
                store.add(source, name, parent_id=here)
    except ValueError as exc:
        raise P.PathRefused(f"{dest.text!r}: {exc}") from None


def _source_name(text: str) -> str:
    return posixpath.basename(P.path_text(text).rstrip("/"))


def _inside_parts(inner: Any, outer: Any) -> bool:
    if isinstance(inner, P.DiskPath) and isinstance(outer, P.DiskPath):
        return P.inside(str(inner.path), outer.path)
    if isinstance(inner, P.AssetPath) and isinstance(outer, P.AssetPath):
        return inner.parts[:len(outer.parts)] == outer.parts
    return False


def copy_place(services: Any, source: Any, dest: Any, source_text: str) -> None:
    """Copy what is at ``source`` to ``dest`` (places from :func:`_paths.resolve`, or
    DiskPaths in another root such as the workspace). A file copied onto a folder goes
    into it; a folder is copied with everything in it, onto a place that must not exist
    yet (as shutil.copytree). Blocking."""
    with _maybe_store(services, source, dest) as store:
        entries = _entries(store, source, source_text)
        exists, is_folder = _exists(store, dest)
        if entries[0][1] is None:
            if exists:
                raise FileExistsError(f"File exists: {dest.text!r}")
        elif is_folder:
            dest = _into(dest, _source_name(source_text))
        _write_entries(store, entries, dest, make_parents=True)


def move_place(services: Any, source: Any, dest: Any, source_text: str, *,
               make_parents: bool = False) -> None:
    """Move what is at ``source`` to ``dest`` (as shutil.move: onto an existing folder
    means into it). On disk a rename; to or from the asset store a copy, then the source
    is deleted (an asset store has no rename: the moved assets get new ids). The
    destination's folder must exist unless ``make_parents``. Blocking."""
    if isinstance(source, P.AssetPath) and not source.parts:
        raise P.PathRefused(f"{source.text!r} is the asset store's top level; it cannot move")
    if isinstance(source, P.DiskPath) and str(source.path) == str(source.root):
        raise P.PathRefused(f"{source.text!r} is the top of an allowed folder; it cannot move")
    with _maybe_store(services, source, dest) as store:
        exists, is_folder = _exists(store, source)
        if not exists:
            raise FileNotFoundError(f"No such file or directory: {source_text!r}")
        dest_exists, dest_folder = _exists(store, dest)
        if dest_folder:
            dest = _into(dest, _source_name(source_text))
            dest_exists, dest_folder = _exists(store, dest)
        if dest_exists and (is_folder or dest_folder):
            raise FileExistsError(f"File exists: {dest.text!r}")
        if _inside_parts(dest, source):
            raise ValueError(f"Cannot move {source_text!r} into itself ({dest.text!r})")
        if isinstance(source, P.DiskPath) and isinstance(dest, P.DiskPath):
            if make_parents:
                os.makedirs(dest.path.parent, exist_ok=True)
            if not dest.path.parent.is_dir():
                raise FileNotFoundError(f"Folder does not exist: {dest.text!r}")
            _checked_folder(dest.path.parent, dest.root, dest.text)
            shutil.move(source.path, dest.path)
            return
        _write_entries(store, _entries(store, source, source_text), dest,
                       make_parents=make_parents)
        if isinstance(source, P.DiskPath):
            if source.path.is_dir():
                shutil.rmtree(source.path)
            else:
                source.path.unlink()
        else:
            store.delete(P.find_asset(store, source)["id"])


def _maybe_store(services: Any, *places: Any) -> Any:
    """The asset store when one of ``places`` is in it (None otherwise)."""
    if any(isinstance(p, P.AssetPath) for p in places):
        return P.asset_store(services)
    return contextlib.nullcontext()


async def _transfer(context: Any, how: Any, source_path: str, destination_path: str) -> None:
    """Copy or move (``how``) between two places, each checked by the path rule."""
    _need(source_path, "'source_path' field cannot be empty")
    _need(destination_path, "'destination_path' field cannot be empty")
    services = _services(context)
    source = P.resolve(services, source_path, what="source_path")
    dest = P.resolve(services, destination_path, what="destination_path")
    await asyncio.to_thread(how, services, source, dest, source_path)


class CopyFile(BaseNode):
    """
    Copies a file or folder (with everything in it) from source to destination, each in
    the asset store or inside files.allow; makes the destination's folders. A file copied
    onto a folder goes into it. A folder holding a link that leads out is refused.
    files, copy, manage
    """

    source_path: str = Field(default="", description="Source file path")
    destination_path: str = Field(default="", description="Destination file path")

    async def process(self, context: Any) -> str:
        await _transfer(context, copy_place, self.source_path, self.destination_path)
        return self.destination_path


class MoveFile(BaseNode):
    """
    Moves a file or folder from source to destination, each in the asset store or inside
    files.allow; onto an existing folder means into it. The destination's folder must
    exist. Moving assets gives them new ids.
    files, move, manage
    """

    source_path: str = Field(default="", description="Source file path")
    destination_path: str = Field(default="", description="Destination file path")

    async def process(self, context: Any) -> None:
        await _transfer(context, move_place, self.source_path, self.destination_path)


# File times, as NodeTool's Datetime: {"type": "datetime", ...}, in UTC.

def datetime_value(moment: datetime.datetime) -> dict[str, Any]:
    """NodeTool's Datetime of an aware time, in UTC (as constant.DateTime and rss give it)."""
    moment = moment.astimezone(datetime.UTC)
    return {"type": "datetime", "year": moment.year, "month": moment.month, "day": moment.day,
            "hour": moment.hour, "minute": moment.minute, "second": moment.second,
            "microsecond": moment.microsecond, "tzinfo": "UTC", "utc_offset": 0}


def file_times(services: Any, place: Any, text: str) -> dict[str, datetime.datetime]:
    """``{"created", "modified", "accessed"}`` (aware, UTC) of what is at ``place``.
    On disk ``created`` is st_ctime, as NodeTool (on Linux: the last metadata change). An
    asset cannot change: created and modified are when it was added, accessed is its
    file's last access. Blocking."""
    def utc(ts: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(ts, datetime.UTC)

    if isinstance(place, P.DiskPath):
        if not place.path.exists():
            raise FileNotFoundError(f"No such file or directory: {text!r}")
        st = place.path.stat()
        return {"created": utc(st.st_ctime), "modified": utc(st.st_mtime),
                "accessed": utc(st.st_atime)}
    with P.asset_store(services) as store:
        asset = P.find_asset(store, place)
        if asset is None:
            raise FileNotFoundError(f"No such file or directory: {text!r}")
        if asset["created_at"] is None:  # the top level
            st = store.folder.stat()
            return {"created": utc(st.st_ctime), "modified": utc(st.st_mtime),
                    "accessed": utc(st.st_atime)}
        created = datetime.datetime.fromisoformat(asset["created_at"])
        accessed = created
        if asset["content_type"] != P.FOLDER:
            accessed = utc(store.path(asset["id"]).stat().st_atime)
        return {"created": created, "modified": created, "accessed": accessed}


class _FileTime(BaseNode):
    abstract = True
    which: ClassVar[str] = ""

    path: str = Field(default="", description="Path to file")

    async def process(self, context: Any) -> dict[str, Any]:
        _need(self.path)
        services = _services(context)
        place = P.resolve(services, self.path)
        times = await asyncio.to_thread(file_times, services, place, self.path)
        return datetime_value(times[self.which])


class CreatedTime(_FileTime):
    """
    When the file was made (on disk: its st_ctime, the last metadata change on Linux), as
    a datetime in UTC.
    files, metadata, created, time
    """

    which = "created"


class ModifiedTime(_FileTime):
    """
    When the file was last changed, as a datetime in UTC.
    files, metadata, modified, time
    """

    which = "modified"


class AccessedTime(_FileTime):
    """
    When the file was last read, as a datetime in UTC.
    files, metadata, accessed, time
    """

    which = "accessed"


def _absolute(place: Any) -> str:
    """A place's absolute form: its real path on disk (inside files.allow), or its path
    in the asset store (which keeps no file under its name)."""
    if isinstance(place, P.DiskPath):
        return str(place.path)
    return "/".join(place.parts) or "."


class AbsolutePath(BaseNode):
    """
    The absolute path of a file or folder inside files.allow (links followed); for a
    relative name, its normalized path in the asset store. Any other path is refused,
    so the node never tells a workflow where anything else is.
    files, path, absolute
    """

    path: str = Field(default="", description="Path to convert to absolute")

    async def process(self, context: Any) -> str:
        if not self.path:
            raise ValueError("path cannot be empty")
        return _absolute(P.resolve(_services(context), self.path))


class RelativePath(BaseNode):
    """
    The path to target from start; both in the asset store, or both inside files.allow.
    files, path, relative
    """

    target_path: str = Field(default="", description="Target path to convert to relative")
    start_path: str = Field(default=".", description="Start path for relative conversion")

    async def process(self, context: Any) -> str:
        if not self.target_path:
            raise ValueError("target_path cannot be empty")
        services = _services(context)
        target = P.resolve(services, self.target_path, what="target_path")
        start = P.resolve(services, self.start_path or ".", what="start_path")
        if type(target) is not type(start):
            raise ValueError("target_path and start_path must both be relative names (paths "
                             f"in the asset store) or both inside {P.CONFIG_KEY}")
        if isinstance(target, P.DiskPath):
            return os.path.relpath(target.path, start.path)
        return posixpath.relpath("/" + "/".join(target.parts), "/" + "/".join(start.parts))


def _path_info(services: Any, value: str) -> dict[str, Any]:
    place = P.resolve(services, value)
    found = _stat(services, value)
    link = False
    if isinstance(place, P.DiskPath):
        link = os.path.islink(os.path.normpath(os.path.expanduser(P.path_text(value))))
    return {"dirname": posixpath.dirname(value), "basename": posixpath.basename(value),
            "extension": posixpath.splitext(value)[1], "absolute": _absolute(place),
            "exists": found is not None, "is_file": found is not None and found["kind"] == "file",
            "is_dir": found is not None and found["kind"] == "folder", "is_symlink": link}


class GetPathInfo(BaseNode):
    """
    Facts about a path in the asset store or inside files.allow: {"dirname", "basename",
    "extension", "absolute" (as AbsolutePath), "exists", "is_file", "is_dir",
    "is_symlink"}.
    path, info, metadata
    """

    path: str = Field(default="", description="Path to analyze")

    async def process(self, context: Any) -> dict:
        return await asyncio.to_thread(_path_info, _services(context), self.path)


class WorkspaceDirectory(BaseNode):
    """
    The node's workspace folder (workspace/ in its storage folder, the one the
    nodetool.workspace nodes use), made if missing. Its absolute path is given only when
    files.allow covers it (so the lib.os nodes can use it); otherwise the node refuses.
    files, workspace, directory
    """

    async def process(self, context: Any) -> str:
        return await workspace_directory(context)


async def workspace_directory(context: Any) -> str:
    """The workspace folder's absolute path, when files.allow covers it."""
    from .workspace import workspace_root

    services = _services(context)
    root = await asyncio.to_thread(workspace_root, services)
    try:
        return _absolute(P.resolve(services, str(root), what="the workspace folder"))
    except P.PathRefused:  # without the path: it would tell where the node keeps its files
        raise P.PathRefused(
            "the node's workspace folder (workspace/ in its storage folder) is not inside a "
            f"folder of {P.CONFIG_KEY}, so its path is not given; add it to {P.CONFIG_KEY} in "
            "the node's config to allow it, or use the nodetool.workspace nodes, which take "
            "paths relative to it") from None
