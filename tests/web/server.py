"""A real HTTP server on loopback for the web node types: pages, files, feeds, a PDF."""

from __future__ import annotations

import threading
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["WebServer", "minimal_pdf", "RSS", "ATOM", "PAGE"]

PAGE = ("<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Hello &amp; welcome</h1><p>First   paragraph.</p><script>x()</script>"
        "<ul><li>one</li><li>two</li></ul></body></html>")

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Loopback News</title><link>http://example.test/</link><description>Test feed</description>
<language>en</language>
<item><title>First story</title><link>http://example.test/1</link>
<description><![CDATA[<p>The first summary.</p>]]></description>
<pubDate>Tue, 03 Jun 2025 09:39:21 +0200</pubDate><dc:creator>Ada</dc:creator></item>
<item><title>Second story</title><link>http://example.test/2</link>
<description>The second summary.</description><pubDate>Wed, 04 Jun 2025 10:00:00 GMT</pubDate></item>
<item><title>Third story</title><guid>http://example.test/3</guid>
<description>The third summary.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Feed</title>
<entry><title>Atom entry</title><link rel="alternate" href="http://example.test/a"/>
<updated>2025-06-05T12:30:00Z</updated><summary>Atom summary.</summary>
<author><name>Grace</name></author></entry></feed>"""


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF (written by hand, xref offsets and all) with one line of text per page."""
    n = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
               + b"] /Count %d >>" % n,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        stream = b"BT /F1 18 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class WebServer:
    """Serves fixed routes on ``host`` (port 0); ``redirects`` maps a path to a Location."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, tuple[str, bytes]] = {
            "/page.html": ("text/html; charset=utf-8", PAGE.encode()),
            "/feed.xml": ("application/rss+xml", RSS.encode()),
            "/atom.xml": ("application/atom+xml", ATOM.encode()),
            "/data.json": ("application/json", b'{"ok": true, "items": [1, 2]}'),
            "/file.bin": ("application/octet-stream", bytes(range(256))),
            "/big": ("text/plain", b"x" * 4096),
            "/doc.pdf": ("application/pdf", minimal_pdf(["Hello PDF", "Second page"])),
        }
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        # Each request's headers, names in lower case (in the order of ``requests``).
        self.request_headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((method, self.path, body))
                server.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/echo":
                    kind, data = self.headers.get("content-type", "text/plain"), body
                elif self.path in server.routes:
                    kind, data = server.routes[self.path]
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_HEAD(self) -> None:
                self._answer("HEAD")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def web_services(tmp_path: Any, network: dict | None = None, files: dict | None = None) -> Any:
    """The run services of a node storing under ``tmp_path``, with these ``network`` and
    ``files`` sections (no provider keys from the environment)."""
    from conftest import node_config

    from nodetool_gateway.services import Services

    sections: dict[str, Any] = {"storage": {"path": str(tmp_path / "storage")},
                                "network": network or {}}
    if files is not None:
        sections["files"] = files
    return Services.from_config(node_config("ws://127.0.0.1:1", **sections), environ={})
