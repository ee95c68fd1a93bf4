"""``nodetool-gateway status``: ask a running node's /readyz and /metrics how it is doing."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["NodeStatus", "Unreachable", "fetch_status", "show_status", "status_url", "summary"]

_PREFIX = "nodetool_gateway_"


class Unreachable(Exception):
    """Nothing answered at the status URL."""


@dataclass
class NodeStatus:
    """What /readyz and /metrics said."""

    ready: bool
    reason: str
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def value(self, name: str, default: float = 0.0, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        found = [v for sample_labels, v in self.samples.get(_PREFIX + name, ())
                 if all(sample_labels.get(k) == want for k, want in labels.items())]
        return sum(found) if found else default

    def labels(self, name: str) -> list[tuple[dict[str, str], float]]:
        return self.samples.get(_PREFIX + name, [])


def status_url(host: str, port: int) -> str:
    """The base URL to reach a listener bound to ``host:port`` from this machine."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def fetch_status(url: str, timeout: float = 5.0) -> NodeStatus:
    """Read ``URL/readyz`` and ``URL/metrics``; raise :class:`Unreachable` if nothing answers."""
    from prometheus_client.parser import text_string_to_metric_families

    base = url.rstrip("/")
    # The node is on this machine or a private network: never through an HTTP proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    ready, reason = _get(opener, base + "/readyz", timeout)
    status = NodeStatus(ready=ready == 200, reason=reason.decode("utf-8", "replace").strip())
    code, body = _get(opener, base + "/metrics", timeout)
    if code == 200:
        for family in text_string_to_metric_families(body.decode("utf-8", "replace")):
            for sample in family.samples:
                status.samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return status


def _get(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:  # 503 from /readyz is an answer, not a failure
        with exc:
            return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"cannot reach the node at {url}: "
                          f"{getattr(reason, 'strerror', None) or reason}") from None


def summary(status: NodeStatus, now: float | None = None) -> list[str]:
    """A few human lines: readiness first, then what the node has done."""
    now = time.time() if now is None else now
    lines = [f"{'ready' if status.ready else 'not ready'}: {status.reason}"]
    if not status.samples:
        return lines + ["(no metrics)"]
    info = status.labels("node_info")
    rows: list[tuple[str, str]] = []
    if info:
        labels = info[0][0]
        rows.append(("node", f"{labels.get('node_id')} (nodetool-gateway {labels.get('version')})"))
        rows.append(("gateway", f"{labels.get('gateway')} ({labels.get('protocol')} protocol)"))
    started = status.value("start_time_seconds", default=-1)
    if started >= 0:
        rows.append(("uptime", _duration(now - started)))
    total = status.value("requests_total")
    errors = total - status.value("requests_total", code="ok")
    in_flight, pending = status.value("requests_in_flight"), status.value("requests_pending")
    rows.append(("requests", (f"{total:.0f} answered ({errors:.0f} errors), "
                              f"{in_flight:.0f} in flight, {pending:.0f} pending")))
    registrations, reconnects = status.value("registrations_total"), status.value("reconnects_total")
    waiting = status.value("outbox_messages")
    rows.append(("connection", (f"{registrations:.0f} registrations, "
                                f"{reconnects:.0f} reconnects, {waiting:.0f} answers waiting")))
    if status.labels("reloads_total"):
        ok, failed = (status.value("reloads_total", result=r) for r in ("ok", "failed"))
        rows.append(("reloads", f"{ok:.0f} ok, {failed:.0f} failed"))
    jobs = sorted((labels["state"], v) for labels, v in status.labels("jobs") if "state" in labels)
    rows.append(("jobs", ", ".join(f"{state} {v:.0f}" for state, v in jobs) or "none yet"))
    width = max(len(name) for name, _ in rows)
    return lines + [f"  {name.ljust(width)}  {text}" for name, text in rows]


def show_status(url: str, timeout: float, echo: Callable[[str], None]) -> bool:
    """Print the summary; whether the node is ready. Raises :class:`Unreachable`."""
    status = fetch_status(url, timeout)
    for line in summary(status):
        echo(line)
    return status.ready


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
