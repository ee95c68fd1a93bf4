"""Health, metrics and systemd notification for a running node.

- ``observer.py``: the node's counters and readiness, fed by the connection and the
  dispatcher; it tells systemd (``../_systemd.py``) what the node is doing.
- ``metrics.py``: those numbers as Prometheus metrics, on a registry of the node's own.
- ``server.py``: ``/healthz``, ``/readyz`` and ``/metrics`` on the node's event loop,
  when ``observability.listen`` is set.
- ``status.py``: ``nodetool-gateway status``, which reads them.
"""

from .observer import ListenError, Observer

__all__ = ["ListenError", "Observer"]
