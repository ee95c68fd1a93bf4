"""lib.os: NodeTool's path node types that make sense in a sandbox.

The pure ones (Basename, Dirname, JoinPaths, SplitPath, ...) only work on the text of a
path and touch no file. Unlike NodeTool they do not expand ``~``, which would tell a
workflow the node user's home folder. The ones that look at files (FileExists,
ListFiles, IsFile, IsDirectory, GetFileSize, CreateDirectory) go through ``_paths``: a
relative path is a path in the node's asset store, an absolute one must be inside a
folder of ``files.allow``.

Left out: what reaches past the sandbox or the machine's desktop (WorkspaceDirectory,
OpenWorkspaceDirectory, AbsolutePath, RelativePath and GetPathInfo, which read the
working directory, ShowNotification), MoveFile and CopyFile, and the file times.
"""

import asyncio
import fnmatch
import os
import posixpath
from collections.abc import AsyncIterator
from typing import Any, TypedDict

from pydantic import Field

from ..node import BaseNode
from . import _paths as P

NAMESPACE = "lib.os"

__all__ = [
    "Basename",
    "CreateDirectory",
    "Dirname",
    "FileExists",
    "FileExtension",
    "FileName",
    "FileNameMatch",
    "FilterFileNames",
    "GetDirectory",
    "GetFileSize",
    "IsDirectory",
    "IsFile",
    "JoinPaths",
    "ListFiles",
    "NormalizePath",
    "PathToString",
    "SplitExtension",
    "SplitPath",
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
