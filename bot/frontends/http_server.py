"""HTTP mode: a threaded loopback-or-LAN server feeding Bolt's `app.dispatch`.

Bolt's built-in development server is single-threaded and binds all
interfaces; this one binds the configured host and serves requests in threads.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

from slack_bolt import App, BoltRequest

__all__ = ["SlackHttpServer"]

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20


class SlackHttpServer:
    """POST <path> → Bolt; GET /healthz → 200. `start()` runs it in a thread."""

    def __init__(self, app: App, *, host: str, port: int, path: str = "/slack/events") -> None:
        bolt_app, events_path = app, path

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: object) -> None:  # no bodies, no query strings
                log.debug("http %s", self.command)

            def do_GET(self) -> None:
                status = 200 if urlparse(self.path).path == "/healthz" else 404
                self._send(status, b"ok" if status == 200 else b"not found", {})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if url.path != events_path or length > MAX_BODY:
                    self._send(404, b"not found", {})
                    return
                body = self.rfile.read(length).decode("utf-8")
                resp = bolt_app.dispatch(
                    BoltRequest(
                        body=body,
                        query=url.query,
                        headers={k.lower(): [v] for k, v in self.headers.items()},
                    )
                )
                headers = {k: vs[0] for k, vs in resp.headers.items() if vs}
                self._send(resp.status, resp.body.encode("utf-8"), headers)

            def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}{path}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, kwargs={"poll_interval": 0.1}
        )

    def start(self) -> SlackHttpServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
