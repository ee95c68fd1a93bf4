"""``lib.http``: HTTP requests on httpx, under the node's ``network`` policy.

Loopback, private and link-local addresses are refused unless ``network.allow``
names them, at every redirect; bodies are limited to ``network.max_response_size``
and requests to ``network.timeout`` (see ``_http``). As in NodeTool, an answer of
HTTP 400 or more fails the node.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import Field

from ..node import BaseNode
from ._http import NetworkRefused, Response, request

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
