"""A loopback HTTP server that hangs in the middle of its answer.

The stand-ins' `hang` faults (demo/bhold_stub.py, demo/cm_stub.py) hold a request before
any byte of the answer, which requests raises as `ReadTimeout`. This one sends the status
line, the headers and part of the body, then says nothing: the read timeout comes while
requests reads the body, and requests raises it as a `ConnectionError` wrapping urllib3's
`ReadTimeoutError` (requests/models.py, `Response.iter_content`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["stalled_body_url"]


@contextmanager
def stalled_body_url(path: str = "/") -> Iterator[str]:
    """An `http://127.0.0.1:<port><path>` URL whose server answers every request with 200,
    a Content-Length of 1000 and 10 bytes of body, then hangs until the block ends."""
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _stall(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"<?xml vers")
            self.wfile.flush()
            done.wait(30)
            self.close_connection = True

        do_GET = do_POST = _stall

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        done.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
