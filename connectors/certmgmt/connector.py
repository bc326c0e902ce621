"""MIM Certificate Management (CM), read only: a person's smart cards, software profiles and
their certificates, through CM's .NET provisioning API on the CM server over WinRM.

Why not the CM REST API: its controllers (certificate-management-rest-api-service-details.md,
"the full list of controllers") have no user lookup, and its profile and smart-card lists are
the caller's own (get-profile-data.md, get-smartcard-data.md; `targetuser` exists only on
/requests and /profiletemplates, and takes only "current"). A service account cannot find
another person there. The provisioning API can: `FindOperations.FindSmartcards` takes the
assigned users, `FindRequests` the target users (the requests name each software profile,
read with `GetProfile`), `FindCertificates` a smart card or profile (FIM CM SDK, Microsoft.Clm.
Provision; see connectors/certmgmt/scripts/certmgmt_find.ps1 for the pages). A CM user is the
AD user's objectGUID ("Users in FIM CM are not assigned new GUIDs; they use the objectGUID
attribute", Using the Management Agent for Certificate Management, previous-versions/mim/
jj590240), so the `ObjectRef` id is that GUID and `verify_absent` checks by OBJECT_GUID: an
account name alone finds nothing once the AD account is gone, though CM still holds its cards.

UNVERIFIED (lab-test; `doctor` checks it on the live server): the SDK documents the API's
calls from a web application in CM's own IIS site or, for a stand-alone program, over .NET
remoting (FIM CM Provision API Architecture, bb468081; FIM CM Remoting Configuration,
bb468077). A PowerShell session on the CM server is neither; `doctor` runs
`FindAllProfileTemplates` to show whether the calls answer there.

Erasing: CM reflects AD, and "deleting from the MIM CM database is not supported" (MIMDocs
mim-privacy-compliance.md, "Deleting personal data"). The API's retire (`RequestOperations.
InitiateRetire`) starts a request that must then be approved and executed with data
collection: not something to run unattended. So this connector runs nothing (`PlanAction.
NONE`); each smart card or profile still in use is a manual step, done in the CM portal
(`MANUAL_PATH`); a retired card or disabled profile stays in CM by design and is reported as a
residual copy, kept for good. `search` and `read` show what CM still uses for the person.

The REST API is kept for one documented thing: `doctor` asks `GET /profiletemplates`
(get-profile-templates.md) whether the API is on (`Clm.WebApi.Enabled`), when `service` is set.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import PureWindowsPath
from typing import Any

import pydantic.dataclasses
import requests
from pydantic import Field

from connectors._shared.http import HttpSettings, http_errors, open_session
from connectors._shared.names import is_account_name, is_netbios_domain
from connectors._shared.powershell import PowerShellRunner, WinRmSettings
from connectors.base import (
    AttributeValue,
    Capability,
    DeletePlan,
    Health,
    Hit,
    HitRecord,
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
from connectors.datamap import KeptCopy, SystemInventory, held
from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, NotFound, NotSupported
from connectors.spec import SETTINGS
from connectors.spelling import spellings

__all__ = ["CertManagementConnector", "CertManagementSettings"]

ACCOUNT_ATTRIBUTES = frozenset({"samaccountname", "accountname"})
# The CM web's bin folder at its default install path: Web.config's default location is
# %Programfiles%\Microsoft Forefront Identity Manager\2010\Certificate Management\Web
# (FIM CM Remoting Configuration, bb468077); ASP.NET keeps a site's assemblies in its bin.
DEFAULT_BIN = (
    r"C:\Program Files\Microsoft Forefront Identity Manager\2010\Certificate Management\Web\bin"
)
# The CM portal's search, as MIMDocs mim-privacy-compliance.md ("Searching personal data")
# names it; Retire and Revoke are the operations get-profile-state-operations.md lists.
MANUAL_PATH = (
    "CM portal > Find user and view or manage their information > the user > each smart card:"
    " Retire; each software profile: Revoke"
)
# SmartcardStatus / ProfileStatus values after which CM no longer uses the card or profile:
# Disabled ("all certificates ... have been revoked", externalGetUserSmartCards, bb468092)
# and Retired. Any other status, or one this list does not know, is still in use.
ENDED = frozenset({"disabled", "retired"})
SUMMARY = "Nothing to run in Certificate Management: it reflects AD"
SUMMARY_BY_HAND = "Retire the person's smart cards and revoke their profiles in the CM portal"
NOTE = (
    "CM reflects AD, and deleting from the CM database is not supported: retired cards and "
    "revoked profiles stay in CM"
)
KEPT = "Certificate Management keeps retired smart cards and revoked profiles (by design)"
_SYSTEM = "Certificate Management"
# The data map (`inventory`): the profile data CM holds for a user, who is the AD objectGUID.
INVENTORY_ATTRIBUTES = (
    "objectGUID",
    "SmartCards",
    "Profiles",
    "Certificates",
    "CertificateSerialNumber",
    "CertificateThumbprint",
    "CertificateTemplate",
    "CertificateExpiry",
)
TECHNOLOGY = "PowerShell over WinRM (CM provisioning API, Microsoft.Clm.Provision)"
BY_HAND = "retired/revoked by hand in the CM portal (manual step)"
INVENTORY_KEPT = (
    KeptCopy(
        "retired smart cards and revoked profiles",
        "kept for good: deleting from the CM database is not supported (mim-privacy-compliance.md)",
        BY_HAND,
    ),
    KeptCopy("each certificate CM issued", "until each certificate expires", BY_HAND),
)
NO_COUNT = (
    "CM users are not counted: the provisioning API documents no count, and finding every"
    " smart card and profile would read each person's"
)


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class CertManagementSettings:
    """Where CM's server is and which domain its users come from.

    `winrm` reaches the CM server, where the provisioning assemblies are in `bin_path` (the
    CM web's bin folder). `domain` is the NetBIOS name (`CORP`) accounts are looked up in.
    `service` (optional) is the CM site for the REST API check in `doctor`. `timeout` caps
    every call's deadline (seconds); `max_hits` caps the users, cards, profiles and
    certificates accepted from one answer: more is an error, not a silently partial answer.
    Raises `ValueError` for a setting that cannot work.
    """

    winrm: WinRmSettings
    domain: str
    bin_path: str = DEFAULT_BIN
    http: HttpSettings | None = Field(default=None, alias="service")
    label: str = "Certificate Management"
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    max_hits: int = Field(default=200, ge=1)
    name: str = "certmgmt"

    def __post_init__(self) -> None:
        if not is_netbios_domain(self.domain):
            raise ValueError("domain must be the NetBIOS domain name, e.g. CORP")
        path = PureWindowsPath(self.bin_path)
        if not (path.drive and path.root) or "\x00" in self.bin_path:
            raise ValueError(r"bin_path must be an absolute Windows path, e.g. C:\...\Web\bin")


@dataclass(frozen=True)
class _Certificate:
    serial: str
    thumbprint: str
    template: str
    not_after: datetime | None  # aware UTC; None when CM does not say


@dataclass(frozen=True)
class _Holder:
    """A smart card or a software profile."""

    uuid: str
    smartcard: bool
    status: str
    template: str
    certificates: tuple[_Certificate, ...]

    @property
    def ended(self) -> bool:
        return self.status.casefold() in ENDED

    def summary(self) -> str:
        kind = "smart card" if self.smartcard else "software profile"
        return f"{kind} {self.uuid} (template {self.template}, status {self.status})"


@dataclass(frozen=True)
class _User:
    uuid: str  # the AD objectGUID
    domain: str
    account: str  # "" when the AD account is gone
    holders: tuple[_Holder, ...]

    @property
    def live(self) -> tuple[_Holder, ...]:
        return tuple(h for h in self.holders if not h.ended)


@dataclass(frozen=True)
class _Found:
    users: tuple[_User, ...]
    unresolved: tuple[str, ...]  # account names with no AD account


class CertManagementConnector:
    """Smart cards and profiles of CM users, read only, through the provisioning API on the
    CM server. Thread-safe (the runner is)."""

    capabilities = frozenset({Capability.SEARCH, Capability.READ, Capability.VERIFY})

    def __init__(
        self,
        settings: CertManagementSettings,
        runner: PowerShellRunner | None = None,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self._runner = runner or PowerShellRunner(
            replace(settings.winrm, name=f"{self.name}-winrm")
        )
        self._session = session
        if self._session is None and settings.http is not None:
            self._session = open_session(settings.http)

    # -- Connector interface ------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """The CM user whose AD account is `query.value` (`DOMAIN\\account`, or a bare account
        in `settings.domain`) when CM still uses a smart card or profile of theirs.

        `NotSupported` for a mail address, employee ID, prefix or another attribute. A value
        no account can have finds no one and sends nothing."""
        return [found.hit for found in self.search_records(query, limit=0, timeout=timeout)]

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        """`SearchesRecords`: the hits `search` gives, each with the record `read` gives when
        there are at most `limit`. One `certmgmt_find`, as `search`: the script that finds a
        user already returns its smart cards, profiles and certificates, which are all that
        `read` shows (it runs the same script, by the user's objectGUID)."""
        if query.kind is QueryKind.ATTRIBUTE:
            if (query.attribute or "").casefold() not in ACCOUNT_ATTRIBUTES:
                raise NotSupported(f"{_SYSTEM} is searched by account name")
        elif query.kind is not QueryKind.NAME:
            raise NotSupported(f"{_SYSTEM} is searched by account name")
        account = self._account(query.value, None)
        if account is None:
            return []
        found = self._find(names=account[1], guids=(), domain=account[0], timeout=timeout)
        live = [u for u in found.users if u.live]
        with_records = len(live) <= limit
        return [
            HitRecord(self._hit(u), self._record(ObjectRef(self.name, u.uuid), u))
            if with_records
            else HitRecord(self._hit(u))
            for u in live
        ]

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """The user's account, CM user id, smart cards and profiles with their certificates
        (each with its expiry); `NotFound` when CM uses none for that user."""
        return self._record(ref, self._user(ref, timeout))

    def _record(self, ref: ObjectRef, user: _User) -> Record:
        certs = [(h, c) for h in user.holders for c in h.certificates]
        attrs: dict[str, tuple[str, ...]] = {
            "Domain": (user.domain,),
            "SamAccountName": (user.account,) if user.account else (),
            "CmUserUuid": (user.uuid,),
            "SmartCards": tuple(h.summary() for h in user.holders if h.smartcard),
            "Profiles": tuple(h.summary() for h in user.holders if not h.smartcard),
            "Certificates": tuple(f"{_describe(c)} on {h.uuid}" for h, c in certs),
        }
        return Record(
            ref=ref,
            attributes={k: AttributeValue(v, source=self.name) for k, v in attrs.items() if v},
        )

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Nothing to run (`PlanAction.NONE`): a manual step to retire each smart card and
        revoke each profile CM still uses, in the CM portal (`MANUAL_PATH`); what CM keeps
        after that is a residual copy. `NotFound` when CM uses none for that user."""
        user = self._user(ref, timeout)
        return DeletePlan(
            ref,
            PlanAction.NONE,
            summary=SUMMARY_BY_HAND,
            notes=(NOTE,),
            residuals=(ResidualCopy(KEPT),),
            manual=(ManualStep(ManualTask.ERASE_BY_HAND, _manual_detail(user)),),
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """Always `NotSupported`: this connector is read only; a person retires in CM."""
        raise NotSupported(f"{_SYSTEM} is read only: retire and revoke in the CM portal")

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Absent when CM uses no smart card or profile of the AD user with the OBJECT_GUID
        identifier (what it keeps retired or revoked is a residual copy). With an ACCOUNT
        alone (in DOMAIN, default `settings.domain`) the account is looked up in AD first;
        when AD has no such account, or it cannot be one, nothing is proven (`absent=False`):
        CM keeps a deleted account's cards under its objectGUID. `NotSupported` with
        neither."""
        guid = identifiers.get(IdKind.OBJECT_GUID)
        account = identifiers.get(IdKind.ACCOUNT)
        if guid is None and account is None:
            raise NotSupported(f"{_SYSTEM} is checked by the AD objectGUID")
        if guid is not None:
            parsed = _guid(guid)
            if parsed is None:  # no AD user has it, so no CM user either
                return Verification(self.name, absent=True, detail="not an objectGUID")
            found = self._find(
                names="", guids=(parsed,), domain=self.settings.domain, timeout=timeout
            )
        else:
            assert account is not None
            where = self._account(account, identifiers.get(IdKind.DOMAIN))
            if where is None:
                return Verification(self.name, absent=False, detail=_UNPROVEN)
            found = self._find(names=where[1], guids=(), domain=where[0], timeout=timeout)
            if found.unresolved:
                return Verification(self.name, absent=False, detail=_UNPROVEN)
        remaining = tuple(ObjectRef(self.name, u.uuid) for u in found.users if u.live)
        kept = any(h.ended for u in found.users for h in u.holders)
        if remaining:
            detail = "CM still uses a smart card or profile of the person"
        elif kept:
            detail = "CM keeps only retired smart cards or revoked profiles"
        else:
            detail = "no smart card or profile in CM"
        return Verification(
            self.name,
            absent=not remaining,
            remaining=remaining,
            residuals=(ResidualCopy(KEPT),) if kept else (),
            detail=detail,
        )

    def health(self, *, timeout: float) -> Health:
        health = self._runner.health(timeout=self._deadline(timeout))
        return Health(self.name, health.ok, health.detail)

    def doctor(self, *, timeout: float) -> list[Check]:
        """The CM server answers in Windows PowerShell 5.1; the REST API is on (when
        `service` is set); the provisioning assemblies load from `bin_path` (their
        versions); the provisioning API answers the bot's account (profile templates it
        may read); and the session reaches AD for an account's objectGUID, as a search
        does. Read only; never raises for the system's errors."""
        deadline = self._deadline(timeout)
        checks = self._runner.doctor(need_second_hop=False, timeout=deadline)
        if self.settings.http is not None:
            checks.append(self._rest_check(deadline))
        checks += self._server_checks(deadline)
        return checks

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What CM holds, for the data map: smart cards, software profiles and their
        certificates (serial, thumbprint, template, expiry), under the AD objectGUID; no
        count of persons (none is documented); the provisioning assembly's version, read
        from the file by one read-only `certmgmt_inventory` script; retired cards and
        revoked profiles kept for good, and each certificate until it expires.
        `ConnectorError`s as the other methods raise them."""
        data = self._run("certmgmt_inventory", {"bin": self.settings.bin_path}, timeout)
        if not isinstance(data, dict) or not isinstance(data.get("found"), bool):
            raise ConnectorError("certmgmt_inventory: unexpected output: not a result")
        notes = [NO_COUNT]
        version = data.get("version")
        version = version[:100] if isinstance(version, str) and version else None
        if not data["found"]:
            notes.append("Microsoft.Clm.Provision.dll is not in bin_path: its version is unknown")
        return SystemInventory(
            system=self.name,
            label=self.label,
            technology=TECHNOLOGY,
            attributes=held(INVENTORY_ATTRIBUTES),
            version=version if data["found"] else None,
            kept=INVENTORY_KEPT,
            notes=tuple(notes),
        )

    def close(self) -> None:
        self._runner.close()
        if self._session is not None:
            self._session.close()

    # -- lookups -------------------------------------------------------------

    def _deadline(self, timeout: float) -> float:
        return min(timeout, self.settings.timeout)

    def _account(self, value: str, domain: str | None) -> tuple[str, str] | None:
        """(domain, account) to look up, or None for a value no account can have."""
        if "\\" in value:
            domain, value = value.split("\\", 1)
        domain = domain or self.settings.domain
        if not (is_account_name(value) and is_netbios_domain(domain)):
            return None
        return domain, value

    def _user(self, ref: ObjectRef, timeout: float) -> _User:
        guid = _guid(ref.id) if ref.system == self.name else None
        if guid is None or guid != ref.id:
            raise NotFound("not a reference to a CM user")
        found = self._find(names="", guids=(guid,), domain=self.settings.domain, timeout=timeout)
        users = [u for u in found.users if u.uuid == guid and u.live]
        if not users:
            raise NotFound("CM uses no smart card or profile of that user")
        return users[0]

    def _find(self, *, names: str, guids: tuple[str, ...], domain: str, timeout: float) -> _Found:
        args = {
            "bin": self.settings.bin_path,
            "domain": domain,
            "names": list(spellings(names)) if names else [],
            "guids": list(guids),
        }
        data = self._run("certmgmt_find", args, timeout)
        if not isinstance(data, dict) or not isinstance(data.get("users"), list):
            raise ConnectorError("certmgmt_find: unexpected output: no users list")
        users = data["users"]
        if len(users) > self.settings.max_hits:
            raise ConnectorError("certmgmt_find: more than max_hits users in one answer")
        parsed = tuple(self._parse_user(u, domain) for u in users)
        wanted = {g for g in guids}
        typed = {n.casefold() for n in spellings(names)} if names else set()
        # Only the users asked for, whatever the server's own matching did.
        kept = tuple(
            u for u in parsed if u.uuid in wanted or (u.account and u.account.casefold() in typed)
        )
        unresolved = data.get("unresolved") or []
        if not isinstance(unresolved, list):
            raise ConnectorError("certmgmt_find: unexpected output: unresolved is not a list")
        return _Found(kept, tuple(str(n) for n in unresolved))

    def _run(self, script: str, args: Mapping[str, Any], timeout: float) -> Any:
        try:
            return self._runner.run(script, args, timeout=self._deadline(timeout))
        except ConnectorError:
            raise
        except (TypeError, ValueError) as exc:  # the arguments or the script name: a bug here
            raise ConnectorError(
                f"{script}: cannot build the call ({exc.__class__.__name__})"
            ) from exc

    # -- doctor ----------------------------------------------------------------

    def _rest_check(self, timeout: float) -> Check:
        name = "CM REST API enabled (Clm.WebApi.Enabled)"
        assert self.settings.http is not None and self._session is not None
        url = self.settings.http.url.rstrip("/") + "/api/v1.0/profiletemplates"
        try:
            with http_errors(_SYSTEM, "profiletemplates"):
                resp = self._session.get(
                    url,
                    timeout=(timeout, timeout),
                    allow_redirects=False,
                    headers={"Accept": "application/json"},
                )
                status = resp.status_code
                resp.close()
        except ConnectorError as exc:
            return cannot_tell(
                name,
                f"{exc.__class__.__name__}: {exc}",
                f"check that {self.settings.http.url} answers the bot's account",
            )
        if status in (200, 204):
            return ok(name, f"GET /api/v1.0/profiletemplates answered HTTP {status}")
        if status == 404:
            # A documented route: 404 here is the API switched off, not a missing route.
            return wrong(
                name,
                "GET /api/v1.0/profiletemplates answered HTTP 404",
                'set <add key="Clm.WebApi.Enabled" value="true" /> in the CM Web.config'
                " (ClmConfiguration), then run iisreset",
            )
        if status in (401, 403):
            return cannot_tell(
                name,
                f"HTTP {status}: the bot's account was refused",
                "give the bot's account access to the CM site (Windows authentication)",
            )
        return cannot_tell(
            name, f"HTTP {status}", "see the CM event log for the request's correlation ID"
        )

    def _server_checks(self, timeout: float) -> list[Check]:
        assemblies = "CM provisioning assemblies load (Microsoft.Clm.Provision, .Shared)"
        api = "CM provisioning API answers the bot's account (FindAllProfileTemplates)"
        ad = "the CM server's session reaches AD (account to objectGUID)"
        try:
            data = self._run("certmgmt_doctor", {"bin": self.settings.bin_path}, timeout)
        except ConnectorError as exc:
            detail = f"{exc.__class__.__name__}: {exc}"
            fix = f"check WinRM on {self.settings.winrm.endpoint} and the bot account's rights"
            return [cannot_tell(n, detail, fix) for n in (assemblies, api, ad)]
        data = data if isinstance(data, dict) else {}
        rows = [r for r in data.get("assemblies") or [] if isinstance(r, dict)]
        missing = [str(r.get("name")) for r in rows if not r.get("loaded")]
        checks: list[Check] = []
        if rows and not missing:
            versions = ", ".join(f"{r.get('name')} {r.get('version') or '?'}" for r in rows)
            checks.append(ok(assemblies, versions))
        else:
            why = "; ".join(
                f"{r.get('name')}: "
                + ("not found" if not r.get("found") else "not loaded")
                + (f" ({r.get('error')})" if r.get("error") else "")
                for r in rows
                if not r.get("loaded")
            )
            checks.append(
                wrong(
                    assemblies,
                    why or "no answer about the assemblies",
                    "set bin_path to the CM web's bin folder on the CM server"
                    f" (now {self.settings.bin_path})",
                )
            )
        templates = data.get("templates")
        if isinstance(templates, int) and not isinstance(templates, bool) and templates > 0:
            checks.append(ok(api, f"{templates} profile templates readable"))
        elif missing:
            checks.append(
                cannot_tell(api, "the assemblies did not load", "fix the assemblies check first")
            )
        elif templates == 0:
            checks.append(
                wrong(
                    api,
                    "no profile template is readable by the bot's account",
                    "grant the bot's account Read on the CM profile templates (CM permissions)",
                )
            )
        else:
            checks.append(
                wrong(
                    api,
                    f"the call failed: {data.get('templates_error') or 'no answer'}",
                    "run the bot's account on the CM server with CM read permissions; the SDK"
                    " documents in-site calls and .NET remoting (bb468081): lab-test which works",
                )
            )
        if data.get("ad") is True:
            checks.append(ok(ad, "the session's own account resolved to an objectGUID"))
        else:
            checks.append(
                wrong(
                    ad,
                    f"no objectGUID: {data.get('ad_error') or 'not found'}",
                    "the lookup is a second hop from the CM server: use transport credssp, or"
                    " kerberos with kerberos_delegation: true",
                )
            )
        return checks

    # -- mapping ----------------------------------------------------------------

    def _hit(self, user: _User) -> Hit:
        live = user.live
        certs = [c for h in live for c in h.certificates]
        who = f"{user.domain}\\{user.account}" if user.account else user.uuid
        cards = sum(h.smartcard for h in live)
        ids = {IdKind.OBJECT_GUID: user.uuid, IdKind.DOMAIN: user.domain}
        if user.account:
            ids[IdKind.ACCOUNT] = user.account
        attributes = {
            "smart cards": tuple(h.summary() for h in live if h.smartcard),
            "profiles": tuple(h.summary() for h in live if not h.smartcard),
            "certificates": tuple(_describe(c) for c in certs),
        }
        return Hit(
            ref=ObjectRef(self.name, user.uuid),
            label=(
                f"{who} (CM: {cards} smart cards, {len(live) - cards} profiles,"
                f" {len(certs)} certificates)"
            ),
            identifiers=ids,
            attributes={k: v for k, v in attributes.items() if v},
        )

    def _parse_user(self, item: Any, domain: str) -> _User:
        if not isinstance(item, dict):
            raise _bad("CM user")
        uid, account = _guid(item.get("uuid")), item.get("account")
        if uid is None or not isinstance(account, str):
            raise _bad("CM user")
        holders: list[_Holder] = []
        for key, smartcard in (("smartcards", True), ("profiles", False)):
            items = item.get(key) or []
            if not isinstance(items, list) or len(items) > self.settings.max_hits:
                raise _bad(f"{key} list")
            holders += [self._parse_holder(h, smartcard) for h in items]
        return _User(uid, domain, account, tuple(holders))

    def _parse_holder(self, item: Any, smartcard: bool) -> _Holder:
        what = "smart card" if smartcard else "profile"
        if not isinstance(item, dict):
            raise _bad(what)
        hid, status = _guid(item.get("uuid")), item.get("status")
        certs = item.get("certificates") or []
        if hid is None or not isinstance(certs, list) or len(certs) > self.settings.max_hits:
            raise _bad(what)
        template = _guid(item.get("template")) or "unknown"
        return _Holder(
            hid,
            smartcard,
            status if isinstance(status, str) and status else "unknown",
            template,
            tuple(_parse_certificate(c) for c in certs),
        )


_UNPROVEN = (
    "no AD account by that name: CM keeps a deleted account's cards under its objectGUID,"
    " so only the objectGUID can show them gone"
)


def _manual_detail(user: _User) -> str:
    """Plain words and counts only: never an account, an id or a serial."""
    live = user.live
    cards = sum(h.smartcard for h in live)
    parts = []
    if cards:
        parts.append(f"retire {cards} smart card{'s' if cards > 1 else ''}")
    if len(live) - cards:
        n = len(live) - cards
        parts.append(f"revoke {n} software profile{'s' if n > 1 else ''}")
    return f"{' and '.join(parts)} ({MANUAL_PATH})"


def _describe(cert: _Certificate) -> str:
    expiry = cert.not_after.isoformat() if cert.not_after else "unknown"
    return f"{cert.serial} (thumbprint {cert.thumbprint or '-'}, expires {expiry})"


def _guid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _bad(what: str) -> ConnectorError:
    return ConnectorError(f"certmgmt_find: unexpected output: not a {what}")


def _parse_certificate(item: Any) -> _Certificate:
    if not isinstance(item, dict) or not isinstance(item.get("serial"), str):
        raise _bad("certificate")
    thumbprint, template = item.get("thumbprint"), item.get("template")
    return _Certificate(
        item["serial"],
        thumbprint if isinstance(thumbprint, str) else "",
        template if isinstance(template, str) else "",
        _when(item.get("not_after")),
    )


def _when(value: Any) -> datetime | None:
    """not_after as an aware UTC datetime: the script sends it with its zone; one without a
    zone, unparsable, or .NET's DateTime.MinValue is unknown (None)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None or when.year <= 1:
        return None
    return when.astimezone(UTC)
