"""The node's counters as Prometheus metrics (prefix ``nodetool_gateway_``).

A custom collector on a registry of the node's own (never the global one, so several
nodes in one process, and tests, keep apart): it reads the observer's numbers when
scraped, prometheus_client writes the text exposition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from .. import __version__
from .observer import BUCKETS, gateway_origin

if TYPE_CHECKING:
    from .observer import Frozen, Latency, ProviderStats

__all__ = ["PREFIX", "NodeCollector", "exposition", "registry_for"]

PREFIX = "nodetool_gateway_"

_GAUGES = {
    "connected": "1 while a socket to the gateway is open.",
    "registered": "1 while registered with the gateway (answers go straight out).",
    "draining": "1 once the node is shutting down.",
    "requests_in_flight": "Handlers running now.",
    "requests_pending": "Requests accepted and not yet answered (running or waiting for a slot).",
    "outbox_messages": "Answers waiting for the next registration.",
}
_BOUNDS = [f"{b:g}" for b in BUCKETS] + ["+Inf"]


class NodeCollector:
    """One node's metrics, from the numbers its :class:`Observer` froze for a scrape."""

    def __init__(self, frozen: Frozen):
        self.frozen = frozen

    def describe(self) -> list[Metric]:
        return []  # names are the node's own: no need to check them against other collectors

    def collect(self) -> Iterator[Metric]:
        obs = self.frozen
        cfg, stats = obs.config, obs.stats
        info = InfoMetricFamily(PREFIX + "node", "The node, its version and its gateway.",
                                labels=["node_id", "gateway", "protocol", "version"])
        info.add_metric([cfg.node.id, gateway_origin(cfg.gateway.url), cfg.gateway.protocol,
                         __version__], {})
        yield info
        yield GaugeMetricFamily(PREFIX + "start_time_seconds",
                                "When the node started, in seconds since the epoch.",
                                value=stats.started)
        for name, value in obs.live.items():
            yield GaugeMetricFamily(PREFIX + name, _GAUGES[name], value=value)
        for name, value, doc in (
                ("connection_attempts", stats.connection_attempts,
                 "Connections to the gateway tried."),
                ("connections_opened", stats.connections_opened,
                 "Connections to the gateway opened (the WebSocket handshake done)."),
                ("reconnects", stats.reconnects,
                 ("Times the node connected again after a connection failed, closed or "
                  "its settings changed.")),
                ("registrations", stats.registrations, "Registrations with the gateway.")):
            yield CounterMetricFamily(PREFIX + name, doc, value=value)
        reloads = CounterMetricFamily(PREFIX + "reloads", "Config reloads, by result.",
                                      labels=["result"])
        if obs.reloads is not None:
            ok, failed = obs.reloads
            reloads.add_metric(["ok"], ok)
            reloads.add_metric(["failed"], failed)
        yield reloads
        yield _counter("requests", "Requests answered, by kind (command or message), route "
                                   "(command or message type) and code (ok or the error code).",
                       ["kind", "route", "code"], stats.requests)
        yield _histogram("request_duration_seconds",
                         "Time from accepting a request to its answer, by kind and route.",
                         ["kind", "route"], stats.latency)
        yield from _provider_metrics(obs.providers)
        jobs = GaugeMetricFamily(PREFIX + "jobs",
                                 "This node's recorded jobs (workflow runs), by state.",
                                 labels=["state"])
        for state, count in sorted(obs.jobs.items()):
            jobs.add_metric([str(state)], count)
        yield jobs


def _provider_metrics(providers: ProviderStats) -> Iterator[Metric]:
    yield _counter("provider_calls", "Language-model calls, by provider, model and outcome (ok, "
                                     "cancelled, error or the provider error's kind).",
                   ["provider", "model", "outcome"], providers.calls)
    yield _histogram("provider_call_duration_seconds",
                     "Language-model calls from the request to the end of the answer, by provider.",
                     ["provider"], {(name,): h for name, h in providers.latency.items()})
    yield _counter("provider_tokens", "Tokens the providers reported, by provider, model and "
                                      "direction (input or output).",
                   ["provider", "model", "direction"], providers.tokens)


def _counter(name: str, doc: str, labels: list[str],
             table: dict[tuple[str, ...], int]) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, doc, labels=labels)
    for values, count in table.items():
        family.add_metric(list(values), count)
    return family


def _histogram(name: str, doc: str, labels: list[str],
               table: dict[tuple[str, ...], Latency]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(PREFIX + name, doc, labels=labels)
    for values, histogram in table.items():
        family.add_metric(list(values), _buckets(histogram), histogram.total)
    return family


def _buckets(histogram: Latency) -> list[tuple[str, float]]:
    cumulative, buckets = 0, []
    for bound, count in zip(_BOUNDS, histogram.counts):
        cumulative += count
        buckets.append((bound, cumulative))
    return buckets


def registry_for(frozen: Frozen) -> CollectorRegistry:
    """A registry of the node's own: its metrics and the process's (CPU, memory, fds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(frozen))
    ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST

