"""HTTP for node types, under the node's ``network`` policy (``lib.http.*``, ``lib.rss.*``).

Every request goes through :func:`request`: the host is resolved and each of its
addresses checked (loopback, private and link-local ranges refused unless
``network.allow`` names them; ``network.deny`` refuses more), the connection goes to
the address that was checked (no second lookup a DNS answer could change), redirects
are followed by hand and each hop is checked again, and the body is read up to
``network.max_response_size``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

__all__ = ["NetworkRefused", "Response", "request"]

_USER_AGENT = "nodetool-gateway"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class NetworkRefused(ValueError):
    """A URL the node's ``network`` policy does not let a node reach."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    content: bytes
    url: str
    encoding: str | None = None
    history: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", "replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)


def _policy(services: Any) -> Any:
    from ...config import NetworkConfig

    config = getattr(services, "config", None)
    return getattr(config, "network", None) or NetworkConfig()


def _host_matches(host: str, entries: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in entries:
        entry = entry.rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return True
        if host == entry:
            return True
    return False


def _in_networks(address: Address, entries: list[str]) -> bool:
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            return True
    return False


def _refusal(host: str, address: Address, policy: Any) -> str | None:
    """Why ``address`` (an address of ``host``) may not be reached, or None."""
    if _host_matches(host, policy.allow) or _in_networks(address, policy.allow):
        return None
    if _host_matches(host, policy.deny) or _in_networks(address, policy.deny):
        return f"{host} ({address}) is refused by the node's config (network.deny)"
    mapped = getattr(address, "ipv4_mapped", None)
    if not (mapped or address).is_global:
        return (f"{host} ({address}) is a loopback, private or link-local address; the node's "
                f"config does not allow it (add it to network.allow)")
    return None


async def _checked_address(url: str, policy: Any) -> tuple[str, Address]:
    """``(host, address to connect to)`` for ``url``; raises NetworkRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NetworkRefused(f"only http:// and https:// URLs can be fetched, not {url!r}")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise NetworkRefused(f"bad port in {url!r}") from None
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise NetworkRefused(f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos))
    for address in addresses:
        reason = _refusal(host, address, policy)
        if reason:
            raise NetworkRefused(reason)
    return host, addresses[0]


def _pinned(url: str, address: Address) -> str:
    parts = urlsplit(url)
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


async def request(services: Any, method: str, url: str, *, content: bytes | str | None = None,
                  json: Any = None, headers: dict[str, str] | None = None,
                  read_body: bool = True) -> Response:
    """One HTTP request under the node's ``network`` policy; redirects followed and checked.

    Raises NetworkRefused for a refused address, ValueError for a response over the size
    limit, and httpx errors (timeouts, connection failures) as they come.
    """
    import httpx

    policy = _policy(services)
    limit = policy.max_response_size
    history: list[str] = []
    current = url
    async with httpx.AsyncClient(timeout=policy.timeout, follow_redirects=False,
                                 trust_env=False) as client:
        for _ in range(policy.max_redirects + 1):
            host, address = await _checked_address(current, policy)
            parts = urlsplit(current)
            sent = {"User-Agent": _USER_AGENT, **(headers or {}),
                    "Host": parts.netloc.rpartition("@")[2]}
            extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
            req = client.build_request(method, _pinned(current, address), content=content, json=json,
                                       headers=sent, extensions=extensions)
            r = await client.send(req, stream=True)
            try:
                location = r.headers.get("location")
                if r.is_redirect and location:
                    history.append(current)
                    current = urljoin(current, location)
                    # As browsers do: 303 (and 301/302 after a POST) become a GET without a body.
                    if r.status_code == 303 or (r.status_code in (301, 302) and method == "POST"):
                        method, content, json = "GET", None, None
                    continue
                body = bytearray()
                if read_body:
                    async for piece in r.aiter_bytes():
                        body += piece
                        if len(body) > limit:
                            raise ValueError(f"{current}: response larger than {limit} bytes "
                                             f"(network.max_response_size)")
                return Response(r.status_code, dict(r.headers.items()), bytes(body), current,
                                r.encoding, history)
            finally:
                await r.aclose()
    raise ValueError(f"{url}: more than {policy.max_redirects} redirects (network.max_redirects)")
