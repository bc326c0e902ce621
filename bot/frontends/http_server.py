"""HTTP mode: Bolt's WSGI adapter under waitress, with health and readiness endpoints.

Waitress reads each request (headers and body) in its event loop before a worker
thread sees it, so slow or stalled uploads hold sockets, not threads, and are
closed after `read_timeout_seconds`; a body over `max_body_bytes` gets 413 and a
malformed request 400 before Bolt is involved. The worker threads only run Bolt's
ack path, whose one IO is the inbox write, bounded by its budget
(bot/frontends/intake.py), so commands are acked while connectors or the audit store
are slow.

    POST <path>   Slack (signed requests) → Bolt
    GET /healthz  200 while the process serves
    GET /readyz   200 when the audit store and every connector answer, else 503
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest
from waitress.server import create_server

from bot.config import HttpConfig

__all__ = ["SlackHttpServer", "SlackWsgiApp"]

log = logging.getLogger(__name__)

Readiness = Callable[[], Mapping[str, bool]]
StartResponse = Callable[..., Any]
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


class SlackWsgiApp:
    """The WSGI application: Slack's path to Bolt, health and readiness, 4xx for the rest.

    Like Bolt's own `slack_bolt.adapter.wsgi.SlackRequestHandler`, with the checks a
    hostile or broken request needs before Bolt parses it (Bolt answers a non-UTF-8
    body or a `payload=` that is not JSON with a traceback)."""

    def __init__(
        self,
        app: App,
        *,
        path: str = "/slack/events",
        ready: Readiness | None = None,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self.app = app
        self.path = path
        self.ready = ready
        self.max_body = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        if method == "GET" and path == "/healthz":
            return _reply(start_response, 200, b"ok")
        if method == "GET" and path == "/readyz":
            return self._readiness(start_response)
        if path != self.path:
            return _reply(start_response, 404, b"not found")
        if method != "POST":
            return _reply(start_response, 405, b"method not allowed")
        return self._slack(environ, start_response)

    def _slack(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length_text = environ.get("CONTENT_LENGTH") or "0"
        if not length_text.isdigit():
            return _reply(start_response, 400, b"bad content length")
        length = int(length_text)
        if length > self.max_body:
            return _reply(start_response, 413, b"request too large")
        raw = environ["wsgi.input"].read(length)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _reply(start_response, 400, b"body is not UTF-8")
        if not _well_formed(body, environ.get("CONTENT_TYPE", "")):
            return _reply(start_response, 400, b"malformed body")
        headers = {
            key[5:].replace("_", "-").lower(): [value]
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = [environ.get("CONTENT_TYPE", "")]
        response = self.app.dispatch(
            BoltRequest(body=body, query=environ.get("QUERY_STRING", ""), headers=headers)
        )
        out = [(k, v) for k, values in response.headers.items() for v in values]
        start_response(_status(response.status), out)
        return [response.body.encode("utf-8")]

    def _readiness(self, start_response: StartResponse) -> Iterable[bytes]:
        checks = dict(self.ready()) if self.ready else {}
        ok = all(checks.values())
        body = json.dumps({"ready": ok, "checks": checks}, sort_keys=True).encode()
        start_response(_status(200 if ok else 503), [("Content-Type", "application/json")])
        return [body]


def _well_formed(body: str, content_type: str) -> bool:
    """Slack sends form bodies (commands, and interactions as `payload=<JSON>`) or JSON."""
    if not body:
        return True
    if content_type.startswith("application/json"):
        return _json(body)
    try:
        form = parse_qs(body, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return False
    return all(_json(v) for v in form.get("payload", ()))


def _json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _reply(start_response: StartResponse, code: int, text: bytes) -> Iterable[bytes]:
    start_response(_status(code), _TEXT)
    return [text]


class SlackHttpServer:
    """`SlackWsgiApp` served by waitress on host:port; `start()` runs it in a thread."""

    def __init__(
        self,
        app: App,
        *,
        host: str,
        port: int,
        path: str = "/slack/events",
        http: HttpConfig | None = None,
        ready: Readiness | None = None,
    ) -> None:
        http = http or HttpConfig()
        wsgi = SlackWsgiApp(app, path=path, ready=ready, max_body_bytes=http.max_body_bytes)
        self.server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=http.threads,
            backlog=http.backlog,
            connection_limit=http.connection_limit,
            channel_timeout=max(1, round(http.read_timeout_seconds)),
            cleanup_interval=max(1, round(http.read_timeout_seconds / 2)),
            max_request_body_size=http.max_body_bytes,
            asyncore_use_poll=True,  # select() stops at 1,024 sockets
            expose_tracebacks=False,
            ident="mimbot",
        )
        self.port: int = self.server.effective_port  # type: ignore[union-attr]
        self.url = f"http://{host}:{self.port}{path}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name="http")

    def start(self) -> SlackHttpServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        with contextlib.suppress(OSError):  # the listening socket was closed by stop()
            self.server.run()

    def stop(self) -> None:
        self.server.close()
        self.server.task_dispatcher.shutdown(timeout=5)  # type: ignore[union-attr]
