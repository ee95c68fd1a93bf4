"""nodetool.workspace: file nodes that work inside the node's workspace folder.

NodeTool gives each run a workspace folder (``context.workspace_dir``) and these nodes
take paths relative to it. Here the workspace is ``workspace/`` in the node's storage
folder (``services.storage``), made on first use. A path is relative: an absolute path,
``~``, ``..`` and a symbolic link leading out of the workspace are refused with
PathRefused, using ``_paths`` (names as in the asset store: no NUL, no ``..``) and its
``inside`` check on the path with every link followed. Error messages name paths
relative to the workspace, never where the storage folder is.

GetWorkspaceDir gives the workspace's absolute path only when ``files.allow`` covers it
(as lib.os.WorkspaceDirectory). Left out: SaveImageFile and SaveVideoFile (this library
has no image or video decoding; an ImageRef is only handed to language models).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import posixpath
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

from pydantic import Field

from ..node import BaseNode
from . import _paths as P
from . import lib_os as O

NAMESPACE = "nodetool.workspace"
FOLDER_NAME = "workspace"

__all__ = [
    "CopyWorkspaceFile",
    "CreateWorkspaceDirectory",
    "DeleteWorkspaceFile",
    "GetWorkspaceDir",
    "GetWorkspaceFileInfo",
    "GetWorkspaceFileSize",
    "IsWorkspaceDirectory",
    "IsWorkspaceFile",
    "JoinWorkspacePaths",
    "ListWorkspaceFiles",
    "MoveWorkspaceFile",
    "ReadBinaryFile",
    "ReadTextFile",
    "WorkspaceFileExists",
    "WriteBinaryFile",
    "WriteTextFile",
    "workspace_root",
]

_HOW = ("workspace paths are relative to the node's workspace folder and must stay inside "
        "it (no absolute paths, no '..', no links leading out)")


def workspace_root(services: Any) -> Path:
    """The node's workspace folder, ``<storage>/workspace`` (links followed), made if
    missing. Blocking."""
    storage = getattr(services, "storage", None)
    if storage is None:
        raise P.PathRefused("this node type needs the node's storage (its workspace folder): "
                            "run the workflow through the node (run_workflow)")
    root = Path(storage).expanduser() / FOLDER_NAME
    root.mkdir(parents=True, exist_ok=True)
    return Path(os.path.realpath(root))


def _locate(services: Any, value: Any, what: str = "path") -> tuple[Path, P.DiskPath]:
    """``(the path as written, under the workspace; where it leads)`` for a workspace
    path, or PathRefused. Blocking."""
    text = P.path_text(value)
    if not text:
        raise ValueError("Path cannot be empty")
    if text.startswith("~") or os.path.isabs(text):
        raise P.PathRefused(f"{what} {text!r}: absolute paths are not allowed; {_HOW}")
    try:
        place = P.resolve(services, text, what=what)  # '..', NUL and bad names
    except P.PathRefused as exc:
        raise P.PathRefused(str(exc).replace(P._HOW, _HOW)) from None
    if not isinstance(place, P.AssetPath):  # cannot happen: the path is relative
        raise P.PathRefused(f"{what} {text!r}: {_HOW}")
    root = workspace_root(services)
    written = root.joinpath(*place.parts)
    real = os.path.realpath(written)
    if not P.inside(real, root):
        raise P.PathRefused(f"{what} {text!r} leads out of the workspace through a symbolic "
                            f"link; {_HOW}")
    return written, P.DiskPath(Path(real), root, text)


def _place(services: Any, value: Any, what: str = "path") -> P.DiskPath:
    return _locate(services, value, what)[1]


@contextmanager
def _hidden(services: Any) -> Iterator[None]:
    """Errors with the workspace's absolute path in them say it relative to the workspace."""
    try:
        yield
    except (OSError, ValueError) as exc:
        storage = getattr(services, "storage", None)
        root = os.path.realpath(Path(storage).expanduser() / FOLDER_NAME) if storage else None
        text = str(exc)
        if root and root in text:
            text = text.replace(root + os.sep, "").replace(root, ".")
            try:
                new = type(exc)(text)
            except TypeError:  # an error type that takes other arguments
                new = ValueError(text)
            raise new from None
        raise


def _services(context: Any) -> Any:
    return getattr(context, "services", None)


async def _call(context: Any, fn: Any, *args: Any) -> Any:
    services = _services(context)
    with _hidden(services):
        return await asyncio.to_thread(fn, services, *args)


def _need_file(place: P.DiskPath) -> None:
    if not place.path.exists():
        raise FileNotFoundError(f"File not found: {place.text}")
    if not place.path.is_file():
        raise ValueError(f"Path is not a file: {place.text}")


def _read(services: Any, value: str) -> bytes:
    place = _place(services, value)
    _need_file(place)
    return P.read_file(place.path, place.root, P.max_read(services))


def _write(services: Any, value: str, data: bytes, append: bool) -> None:
    place = _place(services, value)
    if not append:
        P.save(services, place, data, kind="file", content_type="application/octet-stream")
        return
    os.makedirs(place.path.parent, exist_ok=True)
    folder = O._checked_folder(place.path.parent, place.root, place.text)
    target = folder / place.path.name
    if not P.inside(os.path.realpath(target), place.root):
        raise P.PathRefused(f"path {place.text!r} leads out of the workspace through a "
                            f"symbolic link; {_HOW}")
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                 getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "ab") as f:
        f.write(data)


class GetWorkspaceDir(BaseNode):
    """
    The node's workspace folder (workspace/ in its storage folder). Its absolute path is
    given only when files.allow covers it; otherwise the node refuses (the other
    workspace nodes take paths relative to it).
    workspace, directory, path
    """

    async def process(self, context: Any) -> str:
        return await O.workspace_directory(context)


class ListWorkspaceFiles(BaseNode):
    """
    Streams the workspace-relative paths of the files and folders in a workspace folder
    whose names match a pattern, optionally in every subfolder. Links leading out of the
    workspace are skipped.
    workspace, files, list, directory
    """

    path: str = Field(default=".", description="Relative path within workspace (use . for "
                                               "workspace root)")
    pattern: str = Field(default="*", description="File pattern to match (e.g. *.txt, *.json)")
    recursive: bool = Field(default=False, description="Search subdirectories recursively")

    class OutputType(TypedDict):
        file: str

    async def gen_process(self, context: Any) -> AsyncIterator[OutputType]:
        found, skipped = await _call(context, self._list)
        for path in skipped:
            context.log(f"skipped {path}: a link leading out of the workspace", "warning")
        for path in found:
            yield {"file": path}

    def _list(self, services: Any) -> tuple[list[str], list[str]]:
        place = _place(services, self.path)
        lister = O.ListFiles(folder=self.path, pattern=self.pattern,
                             include_subdirectories=self.recursive)
        found, skipped = lister._list(services, place)
        root = str(place.root)
        return ([os.path.relpath(p, root) for p in found],
                [os.path.relpath(p, root) for p in skipped])


class ReadTextFile(BaseNode):
    """
    Reads a text file in the workspace (at most engine.max_value_size bytes).
    workspace, file, read, text
    """

    path: str = Field(default="", description="Relative path to file within workspace")
    encoding: str = Field(default="utf-8", description="Text encoding (utf-8, ascii, etc.)")

    async def process(self, context: Any) -> str:
        data = await _call(context, _read, self.path)
        return data.decode(self.encoding)


class WriteTextFile(BaseNode):
    """
    Writes (or appends) text to a file in the workspace, making its folders; returns the
    path.
    workspace, file, write, text, save
    """

    path: str = Field(default="", description="Relative path to file within workspace")
    content: str = Field(default="", description="Text content to write")
    encoding: str = Field(default="utf-8", description="Text encoding (utf-8, ascii, etc.)")
    append: bool = Field(default=False, description="Append to file instead of overwriting")

    async def process(self, context: Any) -> str:
        await _call(context, _write, self.path, self.content.encode(self.encoding), self.append)
        return self.path


class ReadBinaryFile(BaseNode):
    """
    Reads a file in the workspace as a base64 string (at most engine.max_value_size bytes).
    workspace, file, read, binary
    """

    path: str = Field(default="", description="Relative path to file within workspace")

    async def process(self, context: Any) -> str:
        data = await _call(context, _read, self.path)
        return base64.b64encode(data).decode("ascii")


class WriteBinaryFile(BaseNode):
    """
    Writes base64-encoded bytes to a file in the workspace, making its folders; returns
    the path.
    workspace, file, write, binary, save
    """

    path: str = Field(default="", description="Relative path to file within workspace")
    content: str = Field(default="", description="Base64-encoded binary content to write")

    async def process(self, context: Any) -> str:
        try:
            data = base64.b64decode(self.content)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"content is not base64: {exc}") from None
        await _call(context, _write, self.path, data, False)
        return self.path


def _delete(services: Any, value: str, recursive: bool) -> None:
    written, place = _locate(services, value)
    if str(place.path) == str(place.root):
        raise P.PathRefused(f"path {value!r} is the workspace folder itself; it cannot be deleted")
    if os.path.islink(written):  # the link goes, not what it leads to
        written.unlink()
        return
    if not place.path.exists():
        raise FileNotFoundError(f"Path not found: {value}")
    if place.path.is_dir():
        if not recursive:
            raise ValueError(f"Path is a directory. Set recursive=True to delete: {value}")
        shutil.rmtree(place.path)
    else:
        place.path.unlink()


class DeleteWorkspaceFile(BaseNode):
    """
    Deletes a file, or a folder with recursive, in the workspace (a link: the link itself).
    workspace, file, delete, remove
    """

    path: str = Field(default="", description="Relative path to file or directory within "
                                              "workspace")
    recursive: bool = Field(default=False, description="Delete directories recursively")

    async def process(self, context: Any) -> None:
        await _call(context, _delete, self.path, self.recursive)


def _mkdir(services: Any, value: str) -> None:
    place = _place(services, value)
    os.makedirs(place.path, exist_ok=True)
    O._checked_folder(place.path, place.root, place.text)


class CreateWorkspaceDirectory(BaseNode):
    """
    Makes a folder in the workspace, with the folders above it; returns the path.
    workspace, directory, create, folder
    """

    path: str = Field(default="", description="Relative path to directory within workspace")

    async def process(self, context: Any) -> str:
        await _call(context, _mkdir, self.path)
        return self.path


def _exists(services: Any, value: str, test: str) -> bool:
    return getattr(_place(services, value).path, test)()


class WorkspaceFileExists(BaseNode):
    """
    Whether a file or folder exists at the path in the workspace.
    workspace, file, exists, check
    """

    path: str = Field(default="", description="Relative path within workspace to check")

    async def process(self, context: Any) -> bool:
        return await _call(context, _exists, self.path, "exists")


class IsWorkspaceFile(BaseNode):
    """
    Whether the path in the workspace is a file.
    workspace, file, check, type
    """

    path: str = Field(default="", description="Relative path within workspace to check")

    async def process(self, context: Any) -> bool:
        return await _call(context, _exists, self.path, "is_file")


class IsWorkspaceDirectory(BaseNode):
    """
    Whether the path in the workspace is a folder.
    workspace, directory, check, type
    """

    path: str = Field(default="", description="Relative path within workspace to check")

    async def process(self, context: Any) -> bool:
        return await _call(context, _exists, self.path, "is_dir")


def _info(services: Any, value: str) -> dict[str, Any]:
    place = _place(services, value)
    if not place.path.exists():
        raise FileNotFoundError(f"Path not found: {value}")
    times = O.file_times(services, place, value)
    return {"path": value, "name": posixpath.basename(value),
            "size": place.path.stat().st_size, "is_file": place.path.is_file(),
            "is_directory": place.path.is_dir(),
            "created": times["created"].isoformat(), "modified": times["modified"].isoformat(),
            "accessed": times["accessed"].isoformat()}


class GetWorkspaceFileInfo(BaseNode):
    """
    Facts about a file or folder in the workspace: {"path", "name", "size", "is_file",
    "is_directory", "created", "modified", "accessed"} (times ISO 8601, in UTC).
    workspace, file, info, metadata
    """

    path: str = Field(default="", description="Relative path to file within workspace")

    async def process(self, context: Any) -> dict:
        return await _call(context, _info, self.path)


def _copy(services: Any, source: str, destination: str) -> None:
    src = _place(services, source, "source")
    if not src.path.exists():
        raise FileNotFoundError(f"Source file not found: {source}")
    O.copy_place(services, src, _place(services, destination, "destination"), source)


def _move(services: Any, source: str, destination: str) -> None:
    src = _place(services, source, "source")
    if not src.path.exists():
        raise FileNotFoundError(f"Source file not found: {source}")
    O.move_place(services, src, _place(services, destination, "destination"), source,
                 make_parents=True)


class CopyWorkspaceFile(BaseNode):
    """
    Copies a file or folder within the workspace, making the destination's folders;
    returns the destination. A folder holding a link that leads out is refused.
    workspace, file, copy, duplicate
    """

    source: str = Field(default="", description="Relative source path within workspace")
    destination: str = Field(default="", description="Relative destination path within "
                                                     "workspace")

    async def process(self, context: Any) -> str:
        await _call(context, _copy, self.source, self.destination)
        return self.destination


class MoveWorkspaceFile(BaseNode):
    """
    Moves or renames a file or folder within the workspace, making the destination's
    folders; returns the destination.
    workspace, file, move, rename
    """

    source: str = Field(default="", description="Relative source path within workspace")
    destination: str = Field(default="", description="Relative destination path within "
                                                     "workspace")

    async def process(self, context: Any) -> str:
        await _call(context, _move, self.source, self.destination)
        return self.destination


def _size(services: Any, value: str) -> int:
    place = _place(services, value)
    _need_file(place)
    return place.path.stat().st_size


class GetWorkspaceFileSize(BaseNode):
    """
    A workspace file's size in bytes.
    workspace, file, size, bytes
    """

    path: str = Field(default="", description="Relative path to file within workspace")

    async def process(self, context: Any) -> int:
        return await _call(context, _size, self.path)


class JoinWorkspacePaths(BaseNode):
    """
    Joins path parts with "/" into a workspace path, refused if it would leave the
    workspace.
    workspace, path, join, combine
    """

    paths: list[str] = Field(default=[], description="Path components to join (relative to "
                                                     "workspace)")

    async def process(self, context: Any) -> str:
        if not self.paths:
            raise ValueError("paths cannot be empty")
        joined = posixpath.join(*self.paths)
        await _call(context, _place, joined)
        return joined
