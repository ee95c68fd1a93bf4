"""A small search engine on loopback that answers SearXNG's JSON API, over a corpus of
HTML pages it also serves: what the node's ``google_search`` and ``browser`` tools
talk to in tests (the machine has no internet)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["SearchEngine"]

PAGES = {
    "fine-tuning": ("Fine-tuning (deep learning)",
                    "Fine-tuning adapts a pre-trained model to a new task by training it further on "
                    "a smaller, task-specific dataset. LoRA fine-tuning trains small low-rank matrices."),
    "dashboards": ("Operations dashboards market",
                   "The operations dashboard market is growing; key players include Metabase, Looker "
                   "and Tableau. Startups want fast set-up and low cost."),
    "saas-risks": ("SaaS launch risks", "Risks: crowded market, long sales cycles, data privacy rules."),
}


class SearchEngine:
    """``start()`` binds 127.0.0.1 on a free port; ``queries`` records what was searched."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.fetched: list[str] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/search":
                    query = parse_qs(parts.query).get("q", [""])[0]
                    engine.queries.append(query)
                    words = {w.lower() for w in query.split()}
                    results = [{"url": f"{engine.url}/page/{key}", "title": title, "content": body[:120]}
                               for key, (title, body) in PAGES.items()
                               if words & set((title + " " + body).lower().split()) or not words]
                    self._send(200, "application/json", json.dumps({"query": query, "results": results}))
                elif parts.path.startswith("/page/") and parts.path[6:] in PAGES:
                    engine.fetched.append(parts.path[6:])
                    title, body = PAGES[parts.path[6:]]
                    self._send(200, "text/html", f"<html><head><title>{title}</title><script>x()</script>"
                                                 f"</head><body><h1>{title}</h1><p>{body}</p></body></html>")
                else:
                    self._send(404, "text/plain", "not found")

            def _send(self, status: int, kind: str, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SearchEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
