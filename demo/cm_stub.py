"""A loopback stand-in for the MIM Certificate Management (CM) REST API.

    with CmStub() as stub:
        jdoe = stub.add_user("jdoe")
        card = stub.add_profile(jdoe, smartcard=True, certificates=[("1B00...", expiry)])
        stub.remove(card)  # what a person does in the CM portal (also `stub.remove(jdoe)`)
        settings = HttpSettings(url=stub.https_url, auth="basic", username=..., ca_file=...)

HTTP (`url`) and HTTPS (`https_url`, self-signed cert in `ca_file`) on 127.0.0.1, port 0, with
Basic (`BASIC_USER`) and NTLM (`NTLM_USER`, pyspnego as acceptor, one context per TCP
connection); the servers, the certificate, the NTLM user file and the authentication come from
demo/loopback.py. The routes answer from fixture state in the documented JSON shapes
(MicrosoftDocs/MIMDocs reference/get-profile-data.md, get-smartcard-data.md,
get-smartcard-profile-certificates.md, get-user-certificates.md, get-profile-templates.md):

    GET /users?domain=&samaccountname=     GUESSED: no user lookup is documented; see
                                           connectors/certmgmt/connector.py
    GET /profiles[?status=][&targetuser=]  `targetuser` GUESSED (documented on /requests and
    GET /profiles/{id}                     /profiletemplates only, "current user" only)
    GET /smartcards[?targetuser=]          one user's smart cards (a list)
    GET /smartcards/{id}
    GET /profiles/{id}/certificates, /smartcards/{id}/certificates
    GET /certificates                      the caller's own: the bot has none (204)
    GET /profiletemplates                  the templates the caller may see

An empty list is 204 No Content, as the reference pages list it. Anything else is 404, as IIS
answers when `Clm.WebApi.Enabled` is false. Seen traffic: `requests` (`Seen`: method, raw path,
raw query, parsed query, auth, tls) of authenticated requests. Faults: `stub.fail(kind,
times=1, seconds=...)`, kinds in `KINDS`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demo.loopback import BASIC_USER, NTLM_USER, LoopbackHandler, LoopbackServers, LoopbackStub

__all__ = [
    "BASIC_USER",
    "KINDS",
    "NTLM_USER",
    "CmCertificate",
    "CmProfile",
    "CmStub",
    "CmUser",
    "Seen",
    "seed_demo",
]

KINDS = frozenset({"http500", "auth", "hang", "not_json", "slow"})
ROOT = "/CertificateManagement"
API = f"{ROOT}/api/v1.0"
# The one status name the reference pins to a number (`?status=Active` answers `"Status":2`).
STATUS = {"active": 2}
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
_ITEM = re.compile(r"\A/(profiles|smartcards)/([^/]+)(/certificates)?\Z", re.I)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # as sent, still percent-encoded
    query: str  # as sent
    params: dict[str, list[str]]  # decoded, blank values kept
    auth: str  # "basic" | "ntlm"
    tls: bool


@dataclass
class CmCertificate:
    serial: str
    not_after: datetime | None  # aware; None: the answer has no NotAfter (expiry unknown)
    thumbprint: str = field(default_factory=lambda: uuid.uuid4().hex.upper() + "ABCD1234")
    template: str = "SmartcardLogon"
    not_before: datetime | None = None

    def output(self) -> dict[str, Any]:
        """X509ClmCertificate as get-user-certificates.md shows it: times without a zone.
        Without `not_after`, NotAfter is left out, as get-smartcard-profile-certificates.md
        lists the certificate."""
        out: dict[str, Any] = {
            "IsKeyHistory": False,
            "ArchivedOnCa": False,
            "CertificateType": 1,
            "TemplateCommonName": self.template,
            "SerialNumber": self.serial,
            "Thumbprint": self.thumbprint,
            "Issuer": "CA01.corp.example.test\\corp-CA01-CA",
            "RequesterName": "CORP\\cm-agent",
            "Status": 0,
        }
        if self.not_after is not None:
            not_before = self.not_before or self.not_after - timedelta(days=365)
            out |= {"NotAfter": _naive(self.not_after), "NotBefore": _naive(not_before)}
        return out


@dataclass
class CmProfile:
    user_uuid: str
    smartcard: bool
    template: str
    status: int = 2
    certificates: list[CmCertificate] = field(default_factory=list)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def output(self) -> dict[str, Any]:
        common = {
            "Uuid": self.uuid,
            "Status": self.status,
            "Flags": 1,
            "AssignedUserUuid": self.user_uuid,
            "ProfileTemplateUuid": self.template,
            "ProfileTemplateVersion": 8,
            "Comment": "",
        }
        if self.smartcard:  # get-smartcard-data.md
            return common | {
                "ParentSmartcardUuid": NIL,
                "PrimarySmartcardUuid": NIL,
                "PermanentSmartcardUuid": NIL,
                "SerialNumber": "{" + str(uuid.uuid5(uuid.NAMESPACE_OID, self.uuid)) + "}",
                "Middleware": "MSBaseCSP",
                "Atr": "3b8d0180fba000000397425446590301c8",
            }
        return common | {  # get-profile-data.md
            "ParentProfileUuid": NIL,
            "PrimaryProfileUuid": NIL,
            "ProfileOperations": ["renew", "disable"],
        }


@dataclass
class CmUser:
    domain: str
    account: str
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def output(self) -> dict[str, Any]:  # GUESSED shape: CM stores the uuid, domain and account
        return {"Uuid": self.uuid, "Domain": self.domain, "SamAccountName": self.account}


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
        self.users: dict[str, CmUser] = {}
        self.profiles: dict[str, CmProfile] = {}
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

    # ---- fixture state ---------------------------------------------------
    def add_user(self, account: str, domain: str = "CORP") -> CmUser:
        user = CmUser(domain, account)
        with self._lock:
            self.users[user.uuid] = user
        return user

    def add_profile(
        self,
        user: CmUser,
        *,
        smartcard: bool = True,
        certificates: Sequence[tuple[str, datetime | None]] = (),
        status: int = 2,
        template: str | None = None,
    ) -> CmProfile:
        """A smart card (or software profile) of `user` holding (serial, NotAfter) certificates
        (NotAfter None: left out of the answer)."""
        template = template or (SMARTCARD_TEMPLATE if smartcard else SOFTWARE_TEMPLATE)
        certs = [
            CmCertificate(serial, not_after, template="SmartcardLogon" if smartcard else "User")
            for serial, not_after in certificates
        ]
        profile = CmProfile(user.uuid, smartcard, template, status, certs)
        with self._lock:
            self.profiles[profile.uuid] = profile
        return profile

    def remove(self, item: CmUser | CmProfile) -> None:
        """Remove a profile, or a user with its profiles, as a person does in the CM portal."""
        with self._lock:
            if isinstance(item, CmProfile):
                self.profiles.pop(item.uuid, None)
                return
            self.users.pop(item.uuid, None)
            for pid in [k for k, p in self.profiles.items() if p.user_uuid == item.uuid]:
                del self.profiles[pid]

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
        route = path.rstrip("/").lower()
        one = {k.lower(): v[-1] for k, v in params.items()}
        with self._lock:
            if route == "/users":
                domain, account = one.get("domain", ""), one.get("samaccountname", "")
                found = [
                    u.output()
                    for u in self.users.values()
                    if (u.domain.lower(), u.account.lower()) == (domain.lower(), account.lower())
                ]
                return _list(found)
            if route in ("/profiles", "/smartcards"):
                smartcard = route == "/smartcards"
                target = one.get("targetuser")  # None: the caller, who has no CM user
                status = one.get("status")
                if status is not None and status.lower() not in STATUS:
                    return 400, {"Message": "The request is invalid."}
                return _list(
                    [
                        p.output()
                        for p in self.profiles.values()
                        if p.smartcard == smartcard
                        and target is not None
                        and p.user_uuid.lower() == target.lower()
                        and (status is None or p.status == STATUS[status.lower()])
                    ]
                )
            if route == "/certificates":
                return 204, None
            if route == "/profiletemplates":
                return 200, TEMPLATES
            match = _ITEM.match(path.rstrip("/"))
            if match:
                kind, pid, certs = match.groups()
                profile = self.profiles.get(pid.lower())
                if profile is None or profile.smartcard != (kind.lower() == "smartcards"):
                    return 404, {"Message": "No HTTP resource was found."}
                if certs:
                    return _list([c.output() for c in profile.certificates])
                return 200, profile.output()
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


def seed_demo(
    stub: CmStub,
    accounts: Iterable[str],
    *,
    domain: str = "CORP",
    expires: datetime | None = None,
) -> list[CmUser]:
    """One CM user per account, each with one smart-card profile holding one logon
    certificate that expires at `expires` (default: a year from now)."""
    expires = expires or datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
    users = []
    for n, account in enumerate(accounts):
        user = stub.add_user(account, domain)
        serial = f"1B0000B0{n:06X}AFA01313FB77AC00010000B0{n % 256:02X}"
        stub.add_profile(user, smartcard=True, certificates=[(serial, expires)])
        users.append(user)
    return users
