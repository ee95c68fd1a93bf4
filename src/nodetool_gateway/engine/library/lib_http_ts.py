"""``lib.http`` as NodeTool's TypeScript runtime has it (``lib-http.ts``): GetText,
GetJSON, GetBytes, Post, Put, Patch and Delete.

Each takes ``url`` and ``headers`` (a JSON object of request headers, as text; empty or
invalid JSON is no headers) and answers ``output`` and ``status``. Unlike the older
``lib.http.*Request`` types, an answer of HTTP 400 or more does not fail the node: its
body and status are the outputs. Requests go through ``_http.request`` under the node's
``network`` policy (its timeout, size limit and address checks) with a browser-like
User-Agent, as NodeTool sends.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypedDict

from pydantic import Field, field_validator

from ..node import BaseNode
from ._http import Response, request

NAMESPACE = "lib.http"

USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36")


def _canonical(name: str) -> str:
    """``content-type`` -> ``Content-Type``: one spelling per header, so a header given
    here replaces the default of the same name whatever its case."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def parse_headers(text: Any) -> dict[str, str]:
    """The request headers of a ``headers`` property: a JSON object (text, or an object
    as it is); anything else, or JSON that does not parse, is no headers."""
    value = text
    if isinstance(text, str):
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {_canonical(str(k)): v if isinstance(v, str) else json.dumps(v)
            for k, v in value.items()}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_or_text(r: Response) -> Any:
    """The answer parsed as JSON, else its text (as NodeTool's Post, Put and Patch)."""
    text = r.text
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def _url(description: str) -> Any:
    return Field(default="", title="URL", description=description)


def _headers() -> Any:
    return Field(default="", title="Headers JSON",
                 description="Optional JSON object of request headers")


def _body() -> Any:
    return Field(default=None, title="Body", description="Request body (will be JSON-encoded)")


class _HTTPNode(BaseNode):
    """Shared by the types below, which declare their properties in NodeTool's order."""

    abstract = True

    @field_validator("headers", mode="before", check_fields=False)
    @classmethod
    def _object_as_text(cls, value: Any) -> Any:
        # An object connected to ``headers`` is used as it is (NodeTool takes one too).
        return json.dumps(value) if isinstance(value, dict) else value

    async def _request(self, context: Any, method: str, defaults: dict[str, str] | None = None,
                       content: str | None = None) -> Response:
        if not self.url:
            raise ValueError("URL is required")
        headers = {"User-Agent": USER_AGENT, **(defaults or {}), **parse_headers(self.headers)}
        return await request(getattr(context, "services", None), method, self.url,
                             content=content, headers=headers)


class GetText(_HTTPNode):
    """Fetch text content from a URL.
    http, get, text, fetch, request, api
    """

    node_title = "HTTP GET Text"

    url: str = _url("URL to fetch")
    headers: str = _headers()

    class OutputType(TypedDict):
        output: str
        status: int

    async def process(self, context: Any) -> OutputType:
        r = await self._request(context, "GET")
        return {"output": r.text, "status": r.status_code}


class GetJSON(_HTTPNode):
    """Fetch and parse JSON from a URL.
    http, get, json, fetch, request, api
    """

    node_title = "HTTP GET JSON"

    url: str = _url("URL to fetch")
    headers: str = _headers()

    class OutputType(TypedDict):
        output: Any
        status: int

    async def process(self, context: Any) -> OutputType:
        r = await self._request(context, "GET", {"Accept": "application/json"})
        try:
            data = json.loads(r.text, parse_constant=_no_constant)
        except ValueError as exc:
            raise ValueError(f"{r.url} (HTTP {r.status_code}) did not answer JSON: {exc}") from None
        return {"output": data, "status": r.status_code}


class GetBytes(_HTTPNode):
    """Download binary data from a URL.
    http, get, bytes, binary, download, fetch
    """

    node_title = "HTTP GET Bytes"

    url: str = _url("URL to fetch")
    headers: str = _headers()

    class OutputType(TypedDict):
        output: bytes
        status: int

    async def process(self, context: Any) -> OutputType:
        r = await self._request(context, "GET")
        return {"output": r.content, "status": r.status_code}


class _BodyNode(_HTTPNode):
    abstract = True
    _method: ClassVar[str] = "POST"

    class OutputType(TypedDict):
        output: Any
        status: int

    async def process(self, context: Any) -> OutputType:
        # JSON as JavaScript's JSON.stringify writes it (no spaces); no body when None.
        content = None if self.body is None else json.dumps(self.body, separators=(",", ":"),
                                                            ensure_ascii=False)
        r = await self._request(context, self._method, {"Content-Type": "application/json"},
                                content=content)
        return {"output": _json_or_text(r), "status": r.status_code}


class Post(_BodyNode):
    """Send a POST request with JSON body.
    http, post, request, api, send
    """

    node_title = "HTTP POST"
    _method: ClassVar[str] = "POST"

    url: str = _url("URL to send to")
    body: Any = _body()
    headers: str = _headers()


class Put(_BodyNode):
    """Send a PUT request with JSON body.
    http, put, update, request, api
    """

    node_title = "HTTP PUT"
    _method: ClassVar[str] = "PUT"

    url: str = _url("URL to update")
    body: Any = _body()
    headers: str = _headers()


class Patch(_BodyNode):
    """Send a PATCH request with JSON body.
    http, patch, update, request, api
    """

    node_title = "HTTP PATCH"
    _method: ClassVar[str] = "PATCH"

    url: str = _url("URL to patch")
    body: Any = _body()
    headers: str = _headers()


class Delete(_HTTPNode):
    """Send a DELETE request.
    http, delete, remove, request, api
    """

    node_title = "HTTP DELETE"

    url: str = _url("URL to delete")
    headers: str = _headers()

    class OutputType(TypedDict):
        output: bool
        status: int

    async def process(self, context: Any) -> OutputType:
        r = await self._request(context, "DELETE")
        return {"output": 200 <= r.status_code < 300, "status": r.status_code}
