"""MIM Certificate Management (CM) over its REST API, read-only: profiles and certificates.

CM keeps, per user, only a CM user id with the domain and sAMAccountName, and the profiles
(smart cards and software profiles) enrolled for that user; users are a reflection of AD.
Deleting from the CM database is not supported: once the account is gone from AD, CM keeps the
profile for as long as a certificate enrolled on it is valid. So this connector runs nothing
(`PlanAction.NONE`): a profile holding an unexpired certificate is a residual copy, kept by
design until the certificate expires (one `ResidualCopy` per expiry day, counting the
certificates, naming none of them); what CM keeps without such a certificate (a profile whose
certificates have all expired, or have no stated expiry, or none at all; a user record without
profiles) is a manual step: a person removes it in the CM portal and marks it Done.
`verify_absent` agrees with the plan: absent, with the dated residuals, while only profiles with
an unexpired certificate remain; `remaining` exactly what the manual step asked a person to
remove.

The `ObjectRef` id is `DOMAIN\\account` as CM returns it: CM keys its users by exactly that,
and it needs no second, user-by-id lookup (which the API does not document either).

Wire calls, all `GET` below `<url>/api/v1.0` (`url` is the site root, e.g.
`https://cm01.corp.example/CertificateManagement`); JSON field names as documented:

    /users?domain=<D>&samaccountname=<A>      GUESSED (route, parameters and the fields
                                              Uuid, Domain, SamAccountName): no user lookup
                                              is documented
    /profiles?targetuser=<CM user Uuid>       route and fields documented (get-profile-data.md);
    /smartcards?targetuser=<CM user Uuid>     `targetuser` GUESSED: the reference documents it on
                                              /requests and /profiletemplates, "only the current
                                              user" supported; without it the API answers for
                                              the caller. Profiles are therefore filtered again
                                              by their documented AssignedUserUuid, so a server
                                              that ignores the parameter yields nothing wrong.
    /profiles/{id}/certificates               documented (get-smartcard-profile-certificates.md);
    /smartcards/{id}/certificates             NotAfter is listed on get-user-certificates.md's
                                              X509ClmCertificate, not on this page: when absent,
                                              the expiry is unknown
    /profiletemplates                         health: documented, cheap, authenticated

NotAfter arrives without a zone (`"2016-07-13T09:10:31"`): read as UTC (GUESSED). Values reach
the wire only as URL-encoded query parameters (requests' `params`); ids from the server go into a
path only after they parse as GUIDs, and are quoted. The user in an answer is compared again,
exactly (case-insensitively, as AD compares accounts), in Python. A 404 from a collection route
means the API is off (`Clm.WebApi.Enabled` false: IIS answers 404 everywhere), so it is an
error, never "nobody"; a 404 on one profile's certificates means the profile has just gone.
The deadline covers the whole call (every request and body read) and is checked between
chunks; a server dripping bytes may overrun it by at most one socket read.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import pydantic.dataclasses
import requests
from pydantic import Field

from connectors._shared.http import HttpSettings, http_errors, open_session
from connectors._shared.names import is_account_name, is_netbios_domain
from connectors.base import (
    AttributeValue,
    Capability,
    DeletePlan,
    Health,
    Hit,
    IdKind,
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
    ResidualCopy,
    StepResult,
    Verification,
)
from connectors.errors import (
    ConnectorError,
    Denied,
    NotFound,
    NotSupported,
    TimedOut,
)
from connectors.spec import SETTINGS

__all__ = ["CertManagementConnector", "CertManagementSettings", "Clock"]

Clock = Callable[[], datetime]

MAX_BODY = 4 * 1024 * 1024  # bytes; a person's CM data is a few kB
ACCOUNT_ATTRIBUTES = frozenset({"samaccountname", "accountname"})
SUMMARY = "Nothing to erase in Certificate Management: it reflects AD"
SUMMARY_BY_HAND = (
    "Certificate Management reflects AD; what it keeps without a valid certificate is removed "
    "by hand in the CM portal"
)
NOTE = (
    "CM reflects AD, and deleting from the CM database is not supported: a profile holding a "
    "valid certificate stays until that certificate expires"
)
# The manual step's detail, shown after "Erase the person in Certificate Management by hand
# (no API for it): ". Plain words and counts only: never an account, a profile id or a serial.
_NO_VALID = "with no valid certificate (expired, none, or no expiry date)"
_SYSTEM = "Certificate Management"


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class CertManagementSettings:
    """Where the CM site is and which domain its users come from.

    `http.url` is the CM site root (`https://cm01.corp.example/CertificateManagement`);
    `domain` the NetBIOS name (`CORP`) an account without one is looked up in. `timeout` caps
    every call's deadline (seconds); `max_hits` caps the items accepted from one answer (users,
    profiles, certificates): more is an error rather than a silently partial answer.
    Raises `ValueError` for a setting that cannot work.
    """

    http: HttpSettings = Field(alias="service")  # https://cm01.corp.example/CertificateManagement
    domain: str
    label: str = "Certificate Management"
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    max_hits: int = Field(default=200, ge=1)
    name: str = "certmgmt"

    def __post_init__(self) -> None:
        if not is_netbios_domain(self.domain):
            raise ValueError("domain must be the NetBIOS domain name, e.g. CORP")


@dataclass(frozen=True)
class _Certificate:
    serial: str
    thumbprint: str
    template: str
    not_after: datetime | None  # aware UTC; None when CM does not say

    def summary(self) -> str:
        expiry = self.not_after.isoformat() if self.not_after else "unknown"
        return f"{self.serial} (thumbprint {self.thumbprint or '-'}, expires {expiry})"


@dataclass(frozen=True)
class _Profile:
    id: str
    smartcard: bool
    template: str
    status: str
    certificates: tuple[_Certificate, ...]

    def summary(self) -> str:
        kind = "smart card" if self.smartcard else "software profile"
        return f"{kind} {self.id} (template {self.template}, status {self.status})"


@dataclass(frozen=True)
class _User:
    uuid: str
    domain: str
    account: str
    profiles: tuple[_Profile, ...] = ()

    @property
    def ref_id(self) -> str:
        return f"{self.domain}\\{self.account}"


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; `TimedOut` when none are."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimedOut(f"{_SYSTEM} did not answer in time")
        return left


class CertManagementConnector:
    """Profiles and certificates of CM users, read-only, through the CM REST API. Thread-safe
    (calls share one authenticated session, one at a time).

    `clock` gives "now" (aware UTC) for `verify_absent`; `session` replaces the one
    `open_session(settings.http)` builds (tests).
    """

    capabilities = frozenset({Capability.SEARCH, Capability.READ, Capability.VERIFY})

    def __init__(
        self,
        settings: CertManagementSettings,
        *,
        session: requests.Session | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self._session = session or open_session(settings.http)
        self._session.headers["Accept"] = "application/json"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._api = settings.http.url.rstrip("/") + "/api/v1.0"
        self._lock = threading.Lock()

    # -- Connector interface ------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """The CM user with account `query.value` (`DOMAIN\\account` or a bare account, then in
        `settings.domain`), with a summary of its profiles and certificates.

        `NotSupported` for a mail address, employee ID, prefix or another attribute: CM knows
        its users by account only. A value that cannot be an account finds no one, unsent.
        """
        if query.kind is QueryKind.ATTRIBUTE:
            if (query.attribute or "").casefold() not in ACCOUNT_ATTRIBUTES:
                raise NotSupported(f"{_SYSTEM} is searched by account name")
        elif query.kind is not QueryKind.NAME:
            raise NotSupported(f"{_SYSTEM} is searched by account name")
        account = self._account(query.value, None)
        if account is None:
            return []
        deadline = self._deadline(timeout)
        with self._locked(deadline):
            users = [self._with_profiles(u, deadline) for u in self._find(*account, deadline)]
        return [self._hit(u) for u in users]

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """The user's domain, account and CM user id, its profiles and its certificates (each
        with its expiry); `NotFound` when CM has no such user."""
        user = self._user(ref, timeout)
        certs = [(p, c) for p in user.profiles for c in p.certificates]
        attrs: dict[str, tuple[str, ...]] = {
            "Domain": (user.domain,),
            "SamAccountName": (user.account,),
            "CmUserUuid": (user.uuid,),
            "Profiles": tuple(p.summary() for p in user.profiles),
            "Certificates": tuple(f"{c.summary()} on {p.id}" for p, c in certs),
        }
        return Record(
            ref=ref,
            attributes={k: AttributeValue(v, source=self.name) for k, v in attrs.items() if v},
        )

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Nothing to run (`PlanAction.NONE`): CM reflects AD. Unexpired certificates are
        residual copies, one per expiry day; a profile without one, or a user record without
        profiles, is an `ERASE_BY_HAND` manual step (what `verify_absent` would otherwise
        find remaining). `NotFound` when CM has no such user."""
        user = self._user(ref, timeout)
        valid, stale = _split(user, self._clock())
        manual = _manual(user, stale)
        return DeletePlan(
            ref,
            PlanAction.NONE,
            summary=SUMMARY_BY_HAND if manual else SUMMARY,
            notes=(NOTE,),
            residuals=_residuals(valid),
            manual=manual,
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """Always `NotSupported`: this connector is read-only and CM has nothing to delete."""
        raise NotSupported(f"{_SYSTEM} is read-only: deleting from CM is not supported")

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Absent when CM has no user for the ACCOUNT identifier, or keeps it only for
        certificates that have not expired yet (those are dated `residuals`, as in the plan).
        What the plan's manual step asks a person to remove is `remaining`: a profile without
        an unexpired certificate (all expired, none, or an expiry CM does not state), or a user
        record without profiles.

        ACCOUNT is `DOMAIN\\account` (a `ref.id`, as the residual re-check passes it; its
        domain wins over a DOMAIN identifier) or a bare account, in DOMAIN (default
        `settings.domain`). `NotSupported` without an ACCOUNT identifier, or when the domain
        is not a NetBIOS name."""
        if IdKind.ACCOUNT not in identifiers:
            raise NotSupported(f"{_SYSTEM} is searched by account name")
        value = identifiers[IdKind.ACCOUNT]
        if "\\" in value:
            domain: str | None = value.split("\\", 1)[0]
        else:
            domain = identifiers.get(IdKind.DOMAIN)
        if domain is not None and not is_netbios_domain(domain):
            # e.g. a DNS name: looking it up would find no one and so prove nothing
            raise NotSupported(f"{_SYSTEM} is searched by NetBIOS domain and account name")
        account = self._account(value, domain)
        if account is None:
            return Verification(self.name, absent=True, detail="no CM user for the account")
        deadline = self._deadline(timeout)
        with self._locked(deadline):
            users = [self._with_profiles(u, deadline) for u in self._find(*account, deadline)]
        if not users:
            return Verification(self.name, absent=True, detail="no CM user for the account")
        now = self._clock()
        remaining: list[ObjectRef] = []
        kept: list[tuple[_Profile, _Certificate]] = []
        for user in users:
            valid, stale = _split(user, now)
            if _manual(user, stale):
                remaining.append(ObjectRef(self.name, user.ref_id))
            kept += valid
        residuals = _residuals(kept)
        if remaining:
            detail = "CM keeps a user record or profile without a valid certificate"
        else:
            detail = "CM keeps profiles only until their certificates expire"
        return Verification(
            self.name,
            absent=not remaining,
            remaining=tuple(remaining),
            residuals=tuple(residuals),
            detail=detail,
        )

    def health(self, *, timeout: float) -> Health:
        """An authenticated `GET /profiletemplates`; never raises."""
        try:
            deadline = self._deadline(timeout)
            with self._locked(deadline):
                data = self._get(("profiletemplates",), None, deadline)
        except ConnectorError as exc:
            return Health(self.name, False, str(exc))
        count = len(data) if isinstance(data, list) else 0
        return Health(self.name, True, f"CM REST API answered ({count} profile templates)")

    def close(self) -> None:
        self._session.close()

    # -- lookups -----------------------------------------------------------------

    def _deadline(self, timeout: float) -> _Deadline:
        return _Deadline(min(timeout, self.settings.timeout))

    @contextmanager
    def _locked(self, deadline: _Deadline) -> Iterator[None]:
        if not self._lock.acquire(timeout=deadline.left()):
            raise TimedOut(f"{_SYSTEM} did not answer in time (busy)")
        try:
            yield
        finally:
            self._lock.release()

    def _account(self, value: str, domain: str | None) -> tuple[str, str] | None:
        """(domain, account) to look up, or None for a value no account can have."""
        if "\\" in value:
            domain, value = value.split("\\", 1)
        domain = domain or self.settings.domain
        if not (is_account_name(value) and is_netbios_domain(domain)):
            return None
        return domain, value

    def _find(self, domain: str, account: str, deadline: _Deadline) -> list[_User]:
        params = {"domain": domain, "samaccountname": account}
        data = self._get(("users",), params, deadline)
        users = [_parse_user(item) for item in self._items(data, "users")]
        # Whatever the server's own matching did, only this exact account counts.
        wanted = (domain.lower(), account.lower())
        return [u for u in users if (u.domain.lower(), u.account.lower()) == wanted]

    def _user(self, ref: ObjectRef, timeout: float) -> _User:
        account = self._account(ref.id, None) if ref.system == self.name else None
        if account is None or "\\" not in ref.id:
            raise NotFound("not a reference to a CM user")
        deadline = self._deadline(timeout)
        with self._locked(deadline):
            users = self._find(*account, deadline)
            if not users:
                raise NotFound("no CM user has that account")
            return self._with_profiles(users[0], deadline)

    def _with_profiles(self, user: _User, deadline: _Deadline) -> _User:
        profiles: list[_Profile] = []
        for route in ("profiles", "smartcards"):
            data = self._get((route,), {"targetuser": user.uuid}, deadline)
            for item in self._items(data, route):
                found = _parse_profile(item, route == "smartcards")
                if found is None or found[1] != user.uuid:
                    continue  # another user's profile: the caller's own, if the server ignored us
                pid = found[0]
                certs = self._get((route, pid, "certificates"), None, deadline, missing_ok=True)
                if certs is _MISSING:
                    continue  # the profile went between the two calls
                parsed = tuple(_parse_certificate(c) for c in self._items(certs, "certificates"))
                profiles.append(_Profile(pid, route == "smartcards", *found[2:], parsed))
        return _User(user.uuid, user.domain, user.account, tuple(profiles))

    def _items(self, data: Any, what: str) -> list[Any]:
        if data is None:  # 204 No Content
            return []
        if not isinstance(data, list):
            raise ConnectorError(f"{_SYSTEM}: unexpected answer for {what}: not a list")
        if len(data) > self.settings.max_hits:
            raise ConnectorError(f"{_SYSTEM}: more than max_hits {what} in one answer")
        return data

    # -- wire ---------------------------------------------------------------------

    def _get(
        self,
        segments: tuple[str, ...],
        params: Mapping[str, str] | None,
        deadline: _Deadline,
        *,
        missing_ok: bool = False,
    ) -> Any:
        """GET one API route -> parsed JSON, None for 204, `_MISSING` for an allowed 404."""
        url = "/".join((self._api, *(quote(s, safe="") for s in segments)))
        what = segments[0]
        with http_errors(_SYSTEM, what):
            left = deadline.left()
            with self._session.get(
                url, params=params, timeout=(left, left), stream=True, allow_redirects=False
            ) as resp:
                status = resp.status_code
                if status == 204:
                    return None
                if status in (401, 403):
                    raise Denied(f"{_SYSTEM} refused the bot's credentials (HTTP {status})")
                if status == 404 and missing_ok:
                    return _MISSING
                if status == 404:
                    raise ConnectorError(
                        f"{_SYSTEM}: HTTP 404 for {what}: is the REST API enabled "
                        "(Clm.WebApi.Enabled)?"
                    )
                if status != 200:
                    raise ConnectorError(f"{_SYSTEM}: HTTP {status} for {what}")
                body = bytearray()
                for chunk in resp.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise ConnectorError(f"{_SYSTEM}: the answer for {what} is too large")
                    deadline.left()
        try:
            return _json_loads(bytes(body))
        except ValueError:
            raise ConnectorError(f"{_SYSTEM}: the answer for {what} is not JSON") from None

    # -- mapping ------------------------------------------------------------------

    def _hit(self, user: _User) -> Hit:
        certs = [c for p in user.profiles for c in p.certificates]
        attributes = {
            "profiles": tuple(p.summary() for p in user.profiles),
            "certificates": tuple(c.summary() for c in certs),
        }
        return Hit(
            ref=ObjectRef(self.name, user.ref_id),
            label=f"{user.ref_id} (CM: {len(user.profiles)} profiles, {len(certs)} certificates)",
            identifiers={IdKind.ACCOUNT: user.account, IdKind.DOMAIN: user.domain},
            attributes={k: v for k, v in attributes.items() if v},
        )


_MISSING: Any = object()


def _split(user: _User, now: datetime) -> tuple[list[tuple[_Profile, _Certificate]], int]:
    """(each unexpired certificate with its profile, how many profiles hold none)."""
    valid: list[tuple[_Profile, _Certificate]] = []
    stale = 0
    for p in user.profiles:
        held = [(p, c) for c in p.certificates if c.not_after and c.not_after > now]
        valid += held
        stale += not held
    return valid, stale


def _manual(user: _User, stale: int) -> tuple[ManualStep, ...]:
    """The step asking a person to remove what CM keeps without a valid certificate: `stale`
    profiles, and the user record itself when no profile holds one. () when nothing is."""
    n = len(user.profiles)
    if n == 0:
        detail = "CM keeps a user record with no profile; remove it in the CM portal"
    elif stale == n:
        them = "a profile" if n == 1 else f"{n} profiles"
        detail = f"CM keeps a user record and {them} {_NO_VALID}; remove them in the CM portal"
    elif stale:
        them, it = ("a profile", "it") if stale == 1 else (f"{stale} profiles", "them")
        detail = (
            f"CM keeps {them} {_NO_VALID}; remove {it} in the CM portal, and leave the profiles "
            "holding a valid certificate: they stay until it expires"
        )
    else:
        return ()
    return (ManualStep(ManualTask.ERASE_BY_HAND, detail),)


def _residuals(valid: list[tuple[_Profile, _Certificate]]) -> tuple[ResidualCopy, ...]:
    """One residual copy per UTC expiry day (the day the approver sees), dated by the last
    certificate to expire that day, counting the certificates and saying their kind: never a
    serial, thumbprint, profile id or account (these texts reach channels and outlive the
    scrub)."""
    days: dict[date, list[tuple[_Profile, _Certificate]]] = {}
    for p, c in valid:
        if c.not_after is not None:  # always: a valid certificate has a stated expiry
            days.setdefault(c.not_after.date(), []).append((p, c))
    copies = []
    for day in sorted(days):
        certs = days[day]
        expires = max(c.not_after for _, c in certs if c.not_after)
        copies.append(ResidualCopy(_describe(certs), expires=expires))
    return tuple(copies)


def _describe(certs: list[tuple[_Profile, _Certificate]]) -> str:
    """E.g. "1 smart-card certificate (CM profile), kept until it expires"."""
    n, cards = len(certs), sum(p.smartcard for p, _ in certs)
    plural = "s" if n > 1 else ""
    if cards == n:
        what = f"{n} smart-card certificate{plural}"
    elif cards == 0:
        what = f"{n} software certificate{plural}"
    else:
        what = f"{n} certificates, {cards} smart-card and {n - cards} software"
    profiles = "CM profiles" if len({p.id for p, _ in certs}) > 1 else "CM profile"
    until = "they expire" if n > 1 else "it expires"
    return f"{what} ({profiles}), kept until {until}"


def _json_loads(body: bytes) -> Any:
    return json.loads(body.decode("utf-8-sig"))  # IIS may send a BOM


def _guid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _bad(what: str) -> ConnectorError:
    return ConnectorError(f"{_SYSTEM}: unexpected answer: not a {what}")


def _parse_user(item: Any) -> _User:
    if not isinstance(item, dict):
        raise _bad("CM user")
    uid, domain, account = _guid(item.get("Uuid")), item.get("Domain"), item.get("SamAccountName")
    if uid is None or not isinstance(domain, str) or not isinstance(account, str) or not account:
        raise _bad("CM user")
    return _User(uid, domain, account)


def _parse_profile(item: Any, smartcard: bool) -> tuple[str, str, str, str] | None:
    """(id, assigned user, template, status) of a profile or smart card."""
    what = "smart card" if smartcard else "profile"
    if not isinstance(item, dict):
        raise _bad(what)
    pid, owner = _guid(item.get("Uuid")), _guid(item.get("AssignedUserUuid"))
    if pid is None:
        raise _bad(what)
    if owner is None:
        return None
    template = _guid(item.get("ProfileTemplateUuid")) or "unknown"
    status = item.get("Status")
    return pid, owner, template, str(status) if isinstance(status, int | str) else "unknown"


def _parse_certificate(item: Any) -> _Certificate:
    if not isinstance(item, dict) or not isinstance(item.get("SerialNumber"), str):
        raise _bad("certificate")
    thumbprint, template = item.get("Thumbprint"), item.get("TemplateCommonName")
    return _Certificate(
        item["SerialNumber"],
        thumbprint if isinstance(thumbprint, str) else "",
        template if isinstance(template, str) else "",
        _when(item.get("NotAfter")),
    )


def _when(value: Any) -> datetime | None:
    """NotAfter as an aware UTC datetime; naive means UTC. None when absent, unparsable or
    .NET's DateTime.MinValue (a field that was never set)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.year <= 1:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
