"""``lib.http``: HTTP requests on httpx, under the node's ``network`` policy.

Loopback, private and link-local addresses are refused unless ``network.allow``
names them, at every redirect; bodies are limited to ``network.max_response_size``
and requests to ``network.timeout`` (see ``_http``). As in NodeTool, an answer of
HTTP 400 or more fails the node; the batch downloaders (DownloadFiles, ImageDownloader)
instead list each URL that failed, and DownloadFiles saves through ``_paths`` (a
relative folder is in the node's asset store, an absolute one inside ``files.allow``).
"""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import json
import mimetypes
import posixpath
from enum import Enum
from typing import Any, ClassVar, TypedDict
from urllib.parse import unquote, urljoin, urlsplit

from pydantic import Field

from ..node import BaseNode
from . import _paths as P
from ._http import NetworkRefused, Response, request
from .files import join_name, save_in_folder

NAMESPACE = "lib.http"


class HTTPBaseNode(BaseNode):
    """Base node for HTTP requests.

    http, network, request
    """

    abstract = True

    url: str = Field(default="", description="The URL to make the request to.")

    async def _send(self, context: Any, method: str, **kw: Any) -> Response:
        r = await request(getattr(context, "services", None), method, self.url, **kw)
        if r.status_code >= 400:
            raise ValueError(f"{method} {r.url} answered HTTP {r.status_code}")
        return r


class GetRequest(HTTPBaseNode):
    """Perform an HTTP GET request to retrieve data from a specified URL.
    http, get, request, url

    Use cases:
    - Fetch web page content
    - Retrieve API data
    - Download files
    - Check website availability
    """

    node_title = "GET Request"

    async def process(self, context: Any) -> str:
        return (await self._send(context, "GET")).text


class PostRequest(HTTPBaseNode):
    """Send data to a server using an HTTP POST request.
    http, post, request, url, data

    Use cases:
    - Submit form data
    - Create new resources on an API
    - Upload files
    - Authenticate users
    """

    node_title = "POST Request"

    data: str = Field(default="", description="The data to send in the POST request.")

    async def process(self, context: Any) -> str:
        return (await self._send(context, "POST", content=self.data)).text


class PutRequest(HTTPBaseNode):
    """Update existing resources on a server using an HTTP PUT request.
    http, put, request, url, data

    Use cases:
    - Update user profiles
    - Modify existing API resources
    - Replace file contents
    - Set configuration values
    """

    node_title = "PUT Request"

    data: str = Field(default="", description="The data to send in the PUT request.")

    async def process(self, context: Any) -> str:
        return (await self._send(context, "PUT", content=self.data)).text


class DeleteRequest(HTTPBaseNode):
    """Remove a resource from a server using an HTTP DELETE request.
    http, delete, request, url

    Use cases:
    - Delete user accounts
    - Remove API resources
    - Cancel subscriptions
    - Clear cache entries
    """

    node_title = "DELETE Request"

    async def process(self, context: Any) -> str:
        return (await self._send(context, "DELETE")).text


class HeadRequest(HTTPBaseNode):
    """Retrieve headers from a resource using an HTTP HEAD request.
    http, head, request, url

    Use cases:
    - Check resource existence
    - Get metadata without downloading content
    - Verify authentication or permissions
    """

    node_title = "HEAD Request"

    async def process(self, context: Any) -> dict[str, str]:
        return (await self._send(context, "HEAD", read_body=False)).headers


class GetRequestBinary(HTTPBaseNode):
    """Perform an HTTP GET request and return raw binary data.
    http, get, request, url, binary, download

    Use cases:
    - Download binary files
    - Fetch images or media
    - Retrieve PDF documents
    - Download any non-text content
    """

    node_title = "GET Binary"

    async def process(self, context: Any) -> bytes:
        return (await self._send(context, "GET")).content


class GetRequestDocument(HTTPBaseNode):
    """Perform an HTTP GET request and return a document
    http, get, request, url, document

    Use cases:
    - Download PDF documents
    - Retrieve Word documents
    - Fetch Excel files
    - Download any document format
    """

    node_title = "GET Document"

    async def process(self, context: Any) -> dict:
        r = await self._send(context, "GET")
        return {"type": "document", "uri": r.url, "asset_id": None, "data": r.content}


class PostRequestBinary(HTTPBaseNode):
    """Send data using an HTTP POST request and return raw binary data.
    http, post, request, url, data, binary

    Use cases:
    - Upload and receive binary files
    - Interact with binary APIs
    - Process image or media uploads
    - Handle binary file transformations
    """

    node_title = "POST Binary"

    data: str | bytes = Field(default="", description="The data to send in the POST request. "
                                                      "Can be string or binary.")

    async def process(self, context: Any) -> bytes:
        return (await self._send(context, "POST", content=self.data)).content


class FilterValidURLs(HTTPBaseNode):
    """Filter a list of URLs by checking their validity using HEAD requests.
    url validation, http, head request

    Use cases:
    - Clean URL lists by removing broken links
    - Verify resource availability
    - Validate website URLs before processing
    """

    node_title = "Filter Valid URLs"

    urls: list[str] = Field(default=[], description="List of URLs to validate.")
    max_concurrent_requests: int = Field(default=10, description="Maximum number of concurrent "
                                                                 "HEAD requests.")

    async def process(self, context: Any) -> list[str]:
        services = getattr(context, "services", None)
        gate = asyncio.Semaphore(max(1, self.max_concurrent_requests))

        async def valid(url: str) -> bool:
            async with gate:
                try:
                    r = await request(services, "HEAD", url, read_body=False)
                except NetworkRefused as exc:
                    context.log(f"{url}: {exc}", "warning")
                    return False
                except Exception:
                    return False
                return 200 <= r.status_code < 400

        checks = await asyncio.gather(*(valid(u) for u in self.urls))
        return [u for u, ok in zip(self.urls, checks) if ok]


class _JSONRequest(HTTPBaseNode):
    abstract = True
    _method: ClassVar[str] = "POST"

    data: dict = Field(default={}, description="The JSON data to send in the request.")

    async def process(self, context: Any) -> dict:
        r = await self._send(context, self._method, json=self.data,
                             headers={"Content-Type": "application/json"})
        return r.json()


class JSONPostRequest(_JSONRequest):
    """Send JSON data to a server using an HTTP POST request.
    http, post, request, url, json, api

    Use cases:
    - Send structured data to REST APIs
    - Create resources with JSON payloads
    - Interface with modern web services
    """

    node_title = "POST JSON"
    _method: ClassVar[str] = "POST"

    data: dict = Field(default={}, description="The JSON data to send in the POST request.")


class JSONPutRequest(_JSONRequest):
    """Update resources with JSON data using an HTTP PUT request.
    http, put, request, url, json, api

    Use cases:
    - Update existing API resources
    - Replace complete objects in REST APIs
    - Set configuration with JSON data
    """

    node_title = "PUT JSON"
    _method: ClassVar[str] = "PUT"

    data: dict = Field(default={}, description="The JSON data to send in the PUT request.")


class JSONPatchRequest(_JSONRequest):
    """Partially update resources with JSON data using an HTTP PATCH request.
    http, patch, request, url, json, api

    Use cases:
    - Partial updates to API resources
    - Modify specific fields without full replacement
    - Efficient updates for large objects
    """

    node_title = "PATCH JSON"
    _method: ClassVar[str] = "PATCH"

    data: dict = Field(default={}, description="The JSON data to send in the PATCH request.")


class JSONGetRequest(HTTPBaseNode):
    """Perform an HTTP GET request and parse the response as JSON.
    http, get, request, url, json, api

    Use cases:
    - Fetch data from REST APIs
    - Retrieve JSON-formatted responses
    - Interface with JSON web services
    """

    node_title = "GET JSON"

    async def process(self, context: Any) -> dict:
        return (await self._send(context, "GET", headers={"Accept": "application/json"})).json()


# Batch downloads. Each URL goes through ``request`` under the network policy; a URL that
# is refused, fails, or answers anything but HTTP 200 goes into the failed list (NodeTool
# catches every per-download error the same way), and the node still succeeds.

async def _fetch_ok(context: Any, url: str) -> Response | None:
    """``url``'s response when it answered HTTP 200, else None (the reason logged)."""
    try:
        r = await request(getattr(context, "services", None), "GET", url)
    except Exception as exc:
        context.log(f"{url}: {exc or type(exc).__name__}", "warning")
        return None
    if r.status_code != 200:
        context.log(f"{url}: HTTP {r.status_code}", "warning")
        return None
    return r


def _download_name(url: str, disposition: str | None) -> str:
    """The file name NodeTool saves a download under: Content-Disposition's ``filename=``,
    else the URL path's last part, else ``unnamed_file``. Only the last part of a name
    is kept (a name cannot point into another folder)."""
    name = ""
    if disposition and "filename=" in disposition:
        name = disposition.split("filename=")[-1].split(";")[0].strip().strip("\"'")
    if not name:
        name = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    name = posixpath.basename(name.replace("\\", "/"))
    return name if name not in ("", ".", "..") else "unnamed_file"


class DownloadFiles(BaseNode):
    """Download files from a list of URLs into a local folder.
    download, files, urls, batch

    The folder is a path in the node's asset store (a relative name such as
    ``downloads``) or a folder inside ``files.allow`` (an absolute path); anything else
    fails the node before any download. ``success`` lists the saved files as the file
    node types take them (``downloads/report.csv`` in the asset store, the absolute path
    on disk); ``failed`` lists the URLs that could not be downloaded or saved.

    Use cases:
    - Batch download files from multiple URLs
    - Create local copies of remote resources
    - Archive web content
    - Download datasets
    """

    urls: list[str] = Field(default=[], description="List of URLs to download.")
    output_folder: str = Field(default="downloads", description="Folder where files will be "
                               "saved: a relative name is a folder in the asset store, an "
                               "absolute path must be inside a folder of files.allow.")
    max_concurrent_downloads: int = Field(default=5, description="Maximum number of "
                                                                 "concurrent downloads.")

    class OutputType(TypedDict):
        success: list[str]
        failed: list[str]

    async def process(self, context: Any) -> OutputType:
        if not self.output_folder:
            raise ValueError("output_folder cannot be empty")
        services = getattr(context, "services", None)
        # Refuse a folder outside the asset store and files.allow before fetching anything.
        P.resolve_folder(services, self.output_folder, what="output_folder")
        folder_text = P.path_text(self.output_folder)
        gate = asyncio.Semaphore(max(1, self.max_concurrent_downloads))
        total, done = len(self.urls), 0

        async def download(url: str) -> str | None:
            nonlocal done
            async with gate:
                try:
                    r = await _fetch_ok(context, url)
                    if r is None:
                        return None
                    name = _download_name(url, r.headers.get("content-disposition"))
                    kind = (r.headers.get("content-type") or "").split(";")[0].strip()
                    kind = kind or mimetypes.guess_type(name, strict=False)[0] \
                        or "application/octet-stream"
                    try:
                        ref = await save_in_folder(context, self.output_folder, name, r.content,
                                                   kind="asset", content_type=kind)
                    except Exception as exc:
                        context.log(f"{url}: not saved: {exc}", "warning")
                        return None
                    if ref["asset_id"] is None:  # on disk: the file's absolute path
                        return P.path_text(ref["uri"])
                    return join_name(folder_text, name)  # in the asset store: its path
                finally:
                    done += 1
                    context.progress(done, total)

        saved = await asyncio.gather(*(download(u) for u in self.urls))
        return {"success": [s for s in saved if s is not None],
                "failed": [u for u, s in zip(self.urls, saved) if s is None]}


class ImageDownloader(BaseNode):
    """Download images from list of URLs and return a list of ImageRefs.
    image download, web scraping, data processing

    Each entry of ``images`` is joined to ``base_url`` (so the ``src`` of a page's
    ``<img>`` tags can be given with the page's URL). An image is returned as NodeTool's
    ImageRef with its bytes inline (``{"type": "image", "uri": <URL>, "asset_id": None,
    "data": <bytes>}``), nothing is saved; URLs that fail go to ``failed_urls``.

    Use cases:
    - Prepare image datasets for machine learning tasks
    - Archive images from web pages
    - Process and analyze images extracted from websites
    """

    images: list[str] = Field(default=[], description="List of image URLs to download.")
    base_url: str = Field(default="", description="Base URL to prepend to relative image URLs.")
    max_concurrent_downloads: int = Field(default=10, description="Maximum number of "
                                                                  "concurrent image downloads.")

    class OutputType(TypedDict):
        images: list[dict[str, Any]]
        failed_urls: list[str]

    async def process(self, context: Any) -> OutputType:
        gate = asyncio.Semaphore(max(1, self.max_concurrent_downloads))
        urls = [urljoin(self.base_url, src) for src in self.images]

        async def download(url: str) -> Response | None:
            async with gate:
                return await _fetch_ok(context, url)

        fetched = await asyncio.gather(*(download(u) for u in urls))
        return {
            "images": [{"type": "image", "uri": r.url, "asset_id": None, "data": r.content}
                       for r in fetched if r is not None],
            "failed_urls": [u for u, r in zip(urls, fetched) if r is None],
        }


def _record_columns(columns: Any) -> list[dict[str, Any]]:
    """The ColumnDefs of NodeTool's RecordType (``{"type": "record_type", "columns":
    [{"name", "data_type", "description"}]}``; a bare list of them is taken too)."""
    if isinstance(columns, dict):
        columns = columns.get("columns")
    out = []
    for c in columns or []:
        if isinstance(c, str):
            c = {"name": c}
        if not isinstance(c, dict) or not c.get("name"):
            raise ValueError(f"a column must have a name, got {c!r}")
        out.append({"name": str(c["name"]), "data_type": c.get("data_type") or "object",
                    "description": c.get("description") or ""})
    return out


def _cast(value: Any, data_type: str, context: Any) -> Any:
    """``value`` as a column of ``data_type`` holds it, as NodeTool's DownloadDataframe
    casts: "" is missing for a non-text type, a value that does not convert is None
    (a date that does not parse stays as it was); datetimes travel as ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, str) and value == "" and data_type not in ("string", "object"):
        return None
    try:
        if data_type == "int":
            return int(float(value))
        if data_type == "float":
            return float(value)
        if data_type == "string":
            return str(value)
        if data_type == "datetime":
            if isinstance(value, (datetime.datetime, datetime.date)):
                return value.isoformat()
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                try:
                    return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc) \
                        .isoformat()
                except (ValueError, OverflowError, OSError):
                    return value
            if isinstance(value, str):
                text = value[:-1] + "+00:00" if value.endswith("Z") else value
                try:
                    return datetime.datetime.fromisoformat(text).isoformat()
                except ValueError:
                    return value
            return value
        if data_type != "object":
            context.log(f"unknown column data type {data_type!r}; value kept as it is",
                        "warning")
        return value
    except (ValueError, TypeError, OverflowError):
        return None


class DownloadDataframe(HTTPBaseNode):
    """Download data from a URL and return as a dataframe.
    http, get, request, url, dataframe, csv, json, data

    The table has the columns of ``columns`` (by name, in that order, each value cast
    to the column's type); a column the file lacks is empty, and with no columns the
    table is empty. JSON must be a list of objects or a list of rows under a header row.
    HTTP 400 or more fails the node.

    Use cases:
    - Download CSV data and convert to dataframe
    - Fetch JSON data and convert to dataframe
    - Retrieve tabular data from APIs
    - Process data files from URLs
    """

    node_title = "Download Dataframe"

    class FileFormat(str, Enum):
        CSV = "csv"
        JSON = "json"
        TSV = "tsv"

    file_format: FileFormat = Field(default=FileFormat.CSV,
                                    description="The format of the data file (csv, json, tsv).")
    columns: dict[str, Any] = Field(default_factory=lambda: {"type": "record_type", "columns": []},
                                    description="The columns of the dataframe.")
    encoding: str = Field(default="utf-8", description="The encoding of the text file.")
    delimiter: str = Field(default=",", description="The delimiter for CSV/TSV files.")

    def _table(self, content: str) -> tuple[list[Any], list[list[Any]]]:
        """The file's header and rows."""
        fmt = self.FileFormat(self.file_format)
        if fmt in (self.FileFormat.CSV, self.FileFormat.TSV):
            delimiter = "\t" if fmt == self.FileFormat.TSV else self.delimiter
            rows = list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))
            if not rows:
                raise ValueError(f"No data found in {fmt.value.upper()}")
            return rows[0], rows[1:]
        data = json.loads(content)
        if not isinstance(data, list) or not data:
            raise ValueError("No data found or data is not a list of records in JSON")
        if isinstance(data[0], dict):
            header = list(data[0].keys())
            return header, [[item.get(c) if isinstance(item, dict) else None for c in header]
                            for item in data]
        if isinstance(data[0], list):
            if not data[0] and len(data) == 1:
                raise ValueError("JSON data parsed to empty columns and rows.")
            return data[0], [row if isinstance(row, list) else [] for row in data[1:]]
        raise ValueError("JSON data is a list, but items are not dictionaries or lists.")

    async def process(self, context: Any) -> dict[str, Any]:
        r = await self._send(context, "GET")
        content = r.content.decode(self.encoding)
        columns = _record_columns(self.columns)
        frame = {"type": "dataframe", "uri": "", "asset_id": None, "metadata": None,
                 "columns": columns, "data": []}
        if not columns:
            return frame
        header, rows = self._table(content)
        where = {str(name): i for i, name in enumerate(header)}
        for row in rows:
            out = []
            for col in columns:
                i = where.get(col["name"])
                out.append(_cast(row[i], col["data_type"], context)
                           if i is not None and i < len(row) else None)
            frame["data"].append(out)
        return frame
