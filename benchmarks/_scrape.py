"""A /metrics scraper in its own process, driven over stdin/stdout (the observability case).

    python benchmarks/_scrape.py --url http://127.0.0.1:PORT/metrics

Prints ``ready``, then for each JSON line on stdin

    {"seconds": 2.0, "interval": 0.1}     (or "count": N)

GETs the URL every ``interval`` seconds (one connection per scrape, as
Prometheus without keep-alive, and as the node's server answers: ``Connection:
close``) until the time is up or ``count`` scrapes were made, then prints one
JSON line: ``{"times": [[start, seconds], ...], "bytes": N, "status": [codes]}``.
``start`` is ``time.perf_counter()``, the system's monotonic clock, so the
driver can tell which of its requests ran while a scrape did. End of stdin exits.

In a process of its own so that neither the scrapes' client work nor their
parsing sits on the driver's loop while it times the node's requests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def scrape(host: str, port: int, path: str) -> tuple[int, int]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, len(body)
    finally:
        conn.close()


def run(host: str, port: int, path: str, ask: dict) -> dict:
    interval = float(ask.get("interval") or 0.0)
    count = ask.get("count")
    seconds = ask.get("seconds")
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds if seconds is not None else float("inf")
    times: list[list[float]] = []
    codes: list[int] = []
    size = 0
    due = start
    while (count is None or len(times) < count) and clock() < deadline:
        wait = due - clock()
        if wait > 0:
            time.sleep(wait)
        t0 = clock()
        status, size = scrape(host, port, path)
        times.append([t0, clock() - t0])
        codes.append(status)
        due = t0 + interval
    return {"times": times, "bytes": size, "status": sorted(set(codes))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip():
            result = run(parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/",
                         json.loads(line))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
