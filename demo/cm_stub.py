"""A loopback stand-in for the MIM Certificate Management (CM) REST API, as documented.

    with CmStub() as stub:
        settings = HttpSettings(url=stub.https_url, auth="basic", username=..., ca_file=...)
        stub.api_enabled = False   # Clm.WebApi.Enabled false: every route 404s

HTTP (`url`) and HTTPS (`https_url`, self-signed cert in `ca_file`) on 127.0.0.1, port 0, with
Basic (`BASIC_USER`) and NTLM (`NTLM_USER`, pyspnego as acceptor, one context per TCP
connection); the servers, the certificate, the NTLM user file and the authentication come from
demo/loopback.py. The caller is the bot's service account, which holds no smart card, profile
or request of its own. Routes, from MicrosoftDocs/MIMDocs reference/ (the controllers are
"the full list" in certificate-management-rest-api-service-details.md, "Architecture"):

    GET /profiletemplates          get-profile-templates.md: the templates the caller may see
    GET /profiles[?status=]        get-profile-data.md: "software certificate profiles for a
                                   user" with "operations ... by the current user": the
                                   caller's own, so none (204); only `status` is a parameter
    GET /smartcards[?cardid=]      get-smartcard-data.md: likewise the caller's own (204)
    GET /certificates              get-user-certificates.md: the caller's own (204)
    GET /requests[?status=]        get-request.md: `targetuser` takes only "current"; the
                                   caller has none (204)
    GET /profiles/{id}[/...],      another user's card or profile: 403 Forbidden (a documented
    GET /smartcards/{id}[/...]     code; the pages do not say one is readable, so strict)

There is no Users controller: `/users` and any other route 404, as does every route when
`Clm.WebApi.Enabled` is false ("Enable the API": "requests to API endpoints return an HTTP
404"). An undocumented query parameter (e.g. `targetuser` on /profiles) is ignored, so the
answer is still the caller's own. Routes the connector never calls (policies, operations,
smart-card configuration, certificate data) are not served (404). Seen traffic: `requests`
(`Seen`: method, raw path, raw query, parsed query, auth, tls) of authenticated requests.
Faults: `stub.fail(kind, times=1, seconds=...)`, kinds in `KINDS`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demo.loopback import BASIC_USER, NTLM_USER, LoopbackHandler, LoopbackServers, LoopbackStub

__all__ = [
    "BASIC_USER",
    "KINDS",
    "NTLM_USER",
    "CmStub",
    "Seen",
]

KINDS = frozenset({"http500", "auth", "hang", "not_json", "slow"})
ROOT = "/CertificateManagement"
API = f"{ROOT}/api/v1.0"
# get-profile-data.md's and get-request.md's status values.
STATUSES = frozenset(
    {
        "active",
        "approved",
        "canceled",
        "completed",
        "denied",
        "executing",
        "failed",
        "none",
        "pending",
    }
)
SMARTCARD_TEMPLATE = "a039b4d0-5ce8-4eff-8651-181c6576fda3"
SOFTWARE_TEMPLATE = "8f31803f-8afc-49bb-911d-402ec264b589"
TEMPLATES = [
    {
        "Name": "Smart Card Logon",
        "Description": "Smart card logon and signing",
        "Uuid": SMARTCARD_TEMPLATE,
        "IsSmartcardProfileTemplate": True,
        "IsVirtualSmartcardProfileTemplate": False,
    },
    {
        "Name": "Software User Certificate",
        "Description": "Software profile",
        "Uuid": SOFTWARE_TEMPLATE,
        "IsSmartcardProfileTemplate": False,
        "IsVirtualSmartcardProfileTemplate": False,
    },
]
NIL = "00000000-0000-0000-0000-000000000000"
_ITEM = re.compile(r"\A/(profiles|smartcards)/[^/]+(/certificates|/operations)?\Z", re.I)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # as sent, still percent-encoded
    query: str  # as sent
    params: dict[str, list[str]]  # decoded, blank values kept
    auth: str  # "basic" | "ntlm"
    tls: bool


@dataclass
class _Fault:
    kind: str
    left: int
    seconds: float


class CmStub(LoopbackStub):
    """The stand-in. `start()`/`stop()` or use it as a context manager.

    hang_seconds: how long a `hang` fault holds the request before answering (longer than any
    client timeout; `stop()` releases it).
    """

    def __init__(self, *, hang_seconds: float = 30.0) -> None:
        self.hang_seconds = hang_seconds
        self.api_enabled = True  # Clm.WebApi.Enabled in the CM Web.config
        self.requests: list[Seen] = []
        self.rejected = 0  # requests answered 401 (handshake legs included)
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._servers = LoopbackServers(_handler_class(self), prefix="mimbot-cm-")
        self.ca_file = self._servers.ca_file
        self.url = self._servers.url(ROOT)
        self.https_url = self._servers.url(ROOT, tls=True)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def fail(self, kind: str, times: int = 1, *, seconds: float = 1.0) -> None:
        """Strike the next `times` authenticated requests: http500 (a 500 with the API's error
        message), auth (401), hang (held `hang_seconds`), not_json (200 with an HTML body),
        slow (answers normally after `seconds`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, times, seconds))

    # ---- internals -------------------------------------------------------
    def _take_fault(self) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.left > 0:
                    f.left -= 1
                    self._faults = [x for x in self._faults if x.left > 0]
                    return f
        return None

    def dispatch(self, path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        """One GET below the API root -> (status, JSON-able body; None for no body)."""
        if not self.api_enabled:
            return 404, {"Message": "Not found."}
        route = path.rstrip("/").lower()
        one = {k.lower(): v[-1] for k, v in params.items()}
        if route in ("/profiles", "/requests"):
            status = one.get("status")
            if status is not None and status.lower() not in STATUSES:
                return 400, {"Message": "The request is invalid."}
            return 204, None  # the caller's own: the bot holds none
        if route in ("/smartcards", "/certificates"):
            return 204, None  # the caller's own: the bot holds none
        if route == "/profiletemplates":
            return 200, TEMPLATES
        if _ITEM.match(path.rstrip("/")):
            return 403, {"Message": "Authorization has been denied for this request."}
        return 404, {"Message": "No HTTP resource was found that matches the request URI."}


def _list(items: list[Any]) -> tuple[int, Any]:
    return (200, items) if items else (204, None)


def _naive(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _handler_class(stub: CmStub) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        realm = "CM"

        def do_GET(self) -> None:
            self.answer(self._get)

        def _get(self, _body: bytes, who: str) -> None:
            url = urlsplit(self.path)
            params = parse_qs(url.query, keep_blank_values=True)
            with stub._lock:
                stub.requests.append(Seen("GET", url.path, url.query, params, who, self.tls))
            fault = stub._take_fault()
            kind = fault.kind if fault else None
            if kind == "hang":
                stub._stopping.wait(stub.hang_seconds)
            elif kind == "slow" and fault is not None:
                stub._stopping.wait(fault.seconds)
            elif kind == "auth":
                return self.forget_credentials()
            elif kind == "http500":
                body = {"Message": "An error has occurred. Correlation ID: " + str(uuid.uuid4())}
                return self._json(500, body)
            elif kind == "not_json":
                page = b"<html><body>Server Error in '/CertificateManagement'</body></html>"
                return self.reply(200, page, [("Content-Type", "text/html")])
            if not url.path.lower().startswith(API.lower() + "/"):
                return self._json(404, {"Message": "Not found."})
            status, body = stub.dispatch(url.path[len(API) :], params)
            if body is None:
                return self.reply(status, b"")
            return self._json(status, body)

        def refuse(self, headers: Iterable[tuple[str, str]]) -> None:
            with stub._lock:
                stub.rejected += 1
            super().refuse(headers)

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.reply(status, data, [("Content-Type", "application/json; charset=utf-8")])

    return Handler
