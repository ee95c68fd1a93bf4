"""What importing prometheus_client costs a node (the observability case).

    python benchmarks/_launch.py default benchmarks/_import_probe.py

Imports what ``nodetool-gateway run`` imports before it connects (the CLI, the
session, the config loader, the reload watcher), notes whether prometheus_client
came with it, then times the import of the node's metrics module (which is what
imports prometheus_client, at the first ``/metrics`` scrape) and prints one JSON
line: ``{"preloaded": bool, "ms": …, "rss_mb": …, "modules": …}``.
"""

from __future__ import annotations

import json
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def main() -> None:
    import nodetool_gateway.cli
    import nodetool_gateway.config
    import nodetool_gateway.observability
    import nodetool_gateway.observability.server
    import nodetool_gateway.reload
    import nodetool_gateway.session

    preloaded = "prometheus_client" in sys.modules
    before_modules, before_rss = len(sys.modules), _rss_mb()
    t0 = time.perf_counter()
    import nodetool_gateway.observability.metrics  # noqa: F401
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"preloaded": preloaded, "ms": ms, "rss_mb": _rss_mb() - before_rss,
                      "modules": len(sys.modules) - before_modules}))


if __name__ == "__main__":
    main()
