"""NodeTool's file and asset node types, under their own names in several namespaces:
``nodetool.dictionary.SaveJSON``/``ToJSON``/``SaveCSVFile``/``LoadCSVFile``,
``nodetool.text.SaveText``/``SaveTextFile``/``LoadTextFolder``, ``nodetool.list.SaveList``,
``nodetool.input.FolderPathInput``/``FilePathInput``.

Every name goes through ``_paths.resolve``: a relative name is a path in the node's asset
store, an absolute one must be inside a folder of ``files.allow``. A saved file comes
back as NodeTool's asset reference (``{"type": "json"|"text", "uri", "asset_id", ...}``).

Where NodeTool differs: with no folder, ``SaveJSON`` saves into the asset store (NodeTool
only returns the JSON text, though its description says it saves to the assets folder)
and returns the reference; ``SaveCSVFile`` returns the reference (NodeTool: nothing).
"""

import asyncio
import csv
import datetime
import fnmatch
import io
import json
import os
import posixpath
from collections.abc import AsyncIterator
from typing import Any, ClassVar, TypedDict

from pydantic import Field, field_validator

from ..node import BaseNode
from . import _paths as P
from .input import InputNode

# Each type names its namespace; the module's own is none of them.
NAMESPACE = "nodetool.files"
NAMESPACES = ("nodetool.dictionary", "nodetool.text", "nodetool.list", "nodetool.input")

__all__ = [
    "FilePathInput",
    "FolderPathInput",
    "LoadCSVFile",
    "LoadTextFolder",
    "SaveCSVFile",
    "SaveJSON",
    "SaveList",
    "SaveText",
    "SaveTextFile",
    "ToJSON",
]

NAME_HELP = """
        Name of the output file.
        You can use time and date variables to create unique names:
        %Y - Year
        %m - Month
        %d - Day
        %H - Hour
        %M - Minute
        %S - Second
        """
_FOLDER_HELP = ("Folder to save into: empty for the top of the node's asset store, a "
                "relative name for an asset folder (made when missing), or an absolute path "
                "inside a folder of files.allow.")


def _serialize(obj: Any, *, model_dump: bool) -> Any:
    # NodeTool's ToJSON/SaveJSON `default=`: dates as ISO, objects by their fields.
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, datetime.timedelta):
        return str(obj)
    if model_dump and hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "__dict__"):
        return obj.__dict__
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="ignore")
    return str(obj)


def join_name(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


async def save_bytes(context: Any, target: Any, data: bytes, *, kind: str, content_type: str,
                     what: str, parent_id: str | None = None,
                     make_folders: bool = True) -> dict[str, Any]:
    services = getattr(context, "services", None)
    place = P.resolve(services, target, what=what)
    ref = await asyncio.to_thread(P.save, services, place, data, kind=kind,
                                  content_type=content_type, parent_id=parent_id,
                                  make_folders=make_folders)
    where = ref["uri"] if ref["asset_id"] is None else f"asset {ref['asset_id']}"
    context.log(f"saved {P.path_text(target)!r} ({len(data)} bytes) as {where}")
    return ref


class ToJSON(BaseNode):
    """
    Converts a dictionary to a JSON string (dates as ISO 8601, other objects as text).
    json, serialize, string, convert
    """

    node_type = "nodetool.dictionary.ToJSON"

    dictionary: dict[str, Any] = Field(default={})

    async def process(self, context: Any) -> str:
        return json.dumps(self.dictionary, default=lambda o: _serialize(o, model_dump=False))


class SaveJSON(BaseNode):
    """
    Saves a dictionary or list as a JSON file in the node's asset store (or a folder of
    files.allow), and returns the saved file's reference ({"type": "json", "uri",
    "asset_id"}). The name may hold strftime codes (%Y%m%d-%H%M%S).
    json, save, file, export, serialize
    """

    node_type = "nodetool.dictionary.SaveJSON"

    data: Any = Field(default={}, description="Data to save as JSON (dict or list)")
    folder: str = Field(default="", description=_FOLDER_HELP)
    name: str = Field(default="%Y-%m-%d-%H-%M-%S.json", description=NAME_HELP)
    indent: int = Field(default=2, description="JSON indentation level")

    async def process(self, context: Any) -> dict[str, Any]:
        text = json.dumps(self.data, default=lambda o: _serialize(o, model_dump=True),
                          indent=self.indent)
        target = join_name(P.path_text(self.folder), P.expand_name(self.name))
        return await save_bytes(context, target, text.encode("utf-8"), kind="json",
                                content_type="application/json", what="folder/name")


class SaveCSVFile(BaseNode):
    """
    Writes a list of dictionaries to a CSV file (columns: the first row's keys) in the
    asset store or a folder of files.allow; returns the file's reference. The filename
    may hold strftime codes (%Y - Year, %m - Month, %d - Day, %H - Hour, %M - Minute,
    %S - Second).
    files, csv, write, output, save, file
    """

    node_type = "nodetool.dictionary.SaveCSVFile"

    data: list[dict] = Field(default=[], description="list of dictionaries to write to CSV")
    folder: str = Field(default="", description="Folder where the file will be saved: a "
                        "relative name is an asset folder, an absolute path must be inside "
                        "a folder of files.allow and exist.")
    filename: str = Field(default="", description="Name of the CSV file to save. Supports "
                          "strftime format codes.")

    async def process(self, context: Any) -> dict[str, Any]:
        if not self.data:
            raise ValueError("'data' field cannot be empty")
        if not self.folder:
            raise ValueError("folder cannot be empty")
        if not self.filename:
            raise ValueError("filename cannot be empty")
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=list(self.data[0].keys()))
        writer.writeheader()
        writer.writerows(self.data)
        target = join_name(P.path_text(self.folder), P.expand_name(self.filename))
        return await save_bytes(context, target, out.getvalue().encode("utf-8"), kind="text",
                                content_type="text/csv", what="folder/filename",
                                make_folders=False)


class LoadCSVFile(BaseNode):
    """
    Reads a CSV file (from the asset store, or a folder of files.allow) as a list of
    dictionaries, one per row, keyed by the header.
    files, csv, read, input, load, file
    """

    node_type = "nodetool.dictionary.LoadCSVFile"

    path: str = Field(default="", description="Path to the CSV file to read")

    async def process(self, context: Any) -> list[dict]:
        if not self.path:
            raise ValueError("path cannot be empty")
        data = await asyncio.to_thread(read_bytes, context.services, self.path, "path")
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


async def save_in_folder(context: Any, folder: Any, name: str, data: bytes, *, kind: str,
                         content_type: str) -> dict[str, Any]:
    """Save ``data`` as ``name`` (already expanded) in ``folder``: an asset folder
    (a FolderRef) or a path as SaveJSON takes one."""
    resolved = P.resolve_folder(getattr(context, "services", None), folder)
    if isinstance(resolved, str):  # a FolderRef: the asset folder's id ("" for none)
        target, parent = name, resolved or None
    else:
        target, parent = join_name(P.path_text(folder), name), None
    return await save_bytes(context, target, data, kind=kind, content_type=content_type,
                            what="folder/name", parent_id=parent)


def read_bytes(services: Any, value: Any, what: str) -> bytes:
    """One file's content, from the asset store or an allowed folder."""
    place = P.resolve(services, value, what=what)
    limit = P.max_read(services)
    if isinstance(place, P.DiskPath):
        if not place.path.is_file():
            raise FileNotFoundError(f"no file {P.path_text(value)!r}")
        return P.read_file(place.path, place.root, limit)
    with P.asset_store(services) as store:
        asset = P.find_asset(store, place)
        if asset is None or asset["content_type"] == P.FOLDER:
            raise FileNotFoundError(f"no file {place.text!r} in the asset store")
        data = store.read(asset["id"], limit)
    if data is None:
        raise ValueError(f"{place.text!r} is larger than engine.max_value_size ({limit} bytes)")
    return data


class SaveText(BaseNode):
    """
    Saves text as an asset (in the asset folder ``folder``, a FolderRef, or the top of
    the asset store) and returns its TextRef ({"type": "text", "uri", "asset_id"}).
    The name may hold strftime codes (%Y%m%d-%H%M%S).
    text, save, file
    """

    node_type = "nodetool.text.SaveText"
    node_title = "Save Text"

    text: str = Field(default="", title="Text")
    folder: Any = Field(default={"type": "folder", "uri": "", "asset_id": None, "data": None},
                        description="Name of the output folder: an asset folder (FolderRef), "
                                    "or a path as SaveJSON takes one.")
    name: str = Field(default="%Y-%m-%d-%H-%M-%S.txt", title="Name", description=NAME_HELP)

    async def process(self, context: Any) -> dict[str, Any]:
        name = P.expand_name(self.name)
        return await save_in_folder(context, self.folder, name, self.text.encode("utf-8"),
                                    kind="text", content_type=P.text_content_type(name))


class SaveTextFile(BaseNode):
    """
    Saves text to a file in ``folder`` (an asset folder, or an existing folder inside
    files.allow) and returns its TextRef. The name may hold strftime codes.
    text, save, file
    """

    node_type = "nodetool.text.SaveTextFile"

    text: str = Field(default="", title="Text")
    folder: str = Field(default="", description="Path to the output folder.")
    name: str = Field(default="%Y-%m-%d-%H-%M-%S.txt", title="Name", description=NAME_HELP)

    async def process(self, context: Any) -> dict[str, Any]:
        if not self.folder:
            raise ValueError("folder cannot be empty")
        name = P.expand_name(self.name)
        return await save_bytes(context, join_name(P.path_text(self.folder), name),
                                self.text.encode("utf-8"), kind="text",
                                content_type=P.text_content_type(name), what="folder/name",
                                make_folders=False)


class SaveList(BaseNode):
    """
    Saves a list as a text asset, one element per line; returns its TextRef. The name
    may hold strftime codes.
    list, save, file, serialize
    """

    node_type = "nodetool.list.SaveList"

    values: list[Any] = Field(default=[])
    name: str = Field(default="text.txt", title="Name", description=NAME_HELP)

    async def process(self, context: Any) -> dict[str, Any]:
        text = "\n".join(str(value) for value in self.values)
        name = P.expand_name(self.name)
        return await save_bytes(context, name, text.encode("utf-8"), kind="text",
                                content_type="text/plain", what="name")


class LoadTextFolder(BaseNode):
    """
    Loads every text file in a folder (an asset folder, or a folder inside files.allow),
    optionally with its subfolders; streams each file's text and path. Files are read as
    UTF-8 (undecodable bytes replaced); a link leading out of the allowed folders is
    skipped with a warning.
    text, load, folder, files
    """

    node_type = "nodetool.text.LoadTextFolder"
    node_title = "Load Text Folder"

    folder: str = Field(default="", description="Folder to scan for text files")
    include_subdirectories: bool = Field(default=False,
                                         description="Include text files in subfolders")
    extensions: list[str] = Field(
        default=[".txt", ".csv", ".json", ".xml", ".md", ".html", ".pdf"],
        description="Text file extensions to include")
    pattern: str = Field(default="", description="Pattern to match text files")

    class OutputType(TypedDict):
        text: str
        path: str

    async def gen_process(self, context: Any) -> AsyncIterator[OutputType]:
        if not self.folder:
            raise ValueError("folder cannot be empty")
        services = context.services
        place = P.resolve(services, self.folder, what="folder")
        files = await asyncio.to_thread(self._files, services, place)
        allowed = {ext.lower() for ext in self.extensions}
        for path, reader in files:
            if posixpath.splitext(path)[1].lower() not in allowed:
                continue
            if self.pattern and not fnmatch.fnmatch(path, self.pattern):
                continue
            try:
                data = await asyncio.to_thread(reader)
            except P.PathRefused as exc:
                context.log(f"skipped {path}: {exc}", "warning")
                continue
            yield {"text": data.decode("utf-8", errors="replace"), "path": path}

    def _files(self, services: Any, place: Any) -> list[tuple[str, Any]]:
        limit = P.max_read(services)
        if isinstance(place, P.DiskPath):
            if not place.path.is_dir():
                raise ValueError(f"Folder does not exist: {place.text}")
            found = []
            # Links to folders are not followed (a link to / would list the whole disk);
            # a link to a file is read only if it stays inside the allowed folders.
            for folder, dirs, names in os.walk(place.path):
                dirs.sort()
                for name in sorted(names):
                    path = os.path.join(folder, name)
                    if os.path.isfile(path):
                        found.append((path, lambda p=path: P.read_file(p, place.root, limit)))
                if not self.include_subdirectories:
                    break
            return found
        with P.asset_store(services) as store:
            asset = P.find_asset(store, place)
            if asset is None or asset["content_type"] != P.FOLDER:
                raise ValueError(f"Folder does not exist: {place.text!r} in the asset store")
            prefix = "/".join(place.parts)
            found = []
            for path, a in P.walk_assets(store, asset["id"], prefix, self.include_subdirectories):
                if a["content_type"] != P.FOLDER:
                    file = store.path(a["id"])
                    found.append((path, lambda f=file: P.read_file(f, store.folder, limit)))
            return found


class _PathInput(InputNode):
    abstract = True
    kind: ClassVar[str] = "path"

    value: str = Field(default="", description="The path to use as input.")

    @field_validator("value", mode="before")
    @classmethod
    def _path(cls, v: Any) -> Any:
        # NodeTool's FilePath/FolderPath objects ({"type": "file_path", "path": ...}) too.
        return P.path_text(v) if isinstance(v, dict) or v is None else v

    async def process(self, context: Any) -> str:
        if self.value:
            P.resolve(getattr(context, "services", None), self.value, what=self.kind)
        return self.value


class FolderPathInput(_PathInput):
    """
    A folder path parameter: a relative name is an asset folder, an absolute path must
    be inside a folder of files.allow (checked when the run starts); returns the path.
    input, parameter, folder, path, folderpath, local_folder, filesystem
    """

    node_type = "nodetool.input.FolderPathInput"
    kind = "folder"

    value: str = Field(default="", description="The folder path to use as input.")


class FilePathInput(_PathInput):
    """
    A file path parameter: a relative name is a path in the asset store, an absolute
    path must be inside a folder of files.allow (checked when the run starts); returns
    the path.
    input, parameter, path, filepath, directory, local_file, filesystem
    """

    node_type = "nodetool.input.FilePathInput"
    kind = "path"

    value: str = Field(default="", description="The path to use as input.")
