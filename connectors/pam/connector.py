"""MIM Privileged Access Management (the MIMPAM module) over WinRM: find, read and remove PAM users.

A PAM user is two objects in PAM's MIM Service, one for the user-forest (CORP) account
(`SourceUserResourceId`) and one for its shadow account in the PRIV forest
(`PrivUserResourceId`; MIMDocs pam/step-6-transition-group-to-pam.md), plus that shadow
account in PRIV's AD. It is found by its source account name and domain (`Get-PAMUser
-SourceAccountName`, the domain compared in the script, case-insensitively). Its `ObjectRef` id
is its `PrivUserResourceId` (a GUID), which no rename changes; `read` and the removal find the
user by it. Each operation is a script in connectors/pam/scripts/pam_*.ps1 run by
`PowerShellRunner`: values reach PowerShell only as data, and the scripts compare names again,
exactly, whatever the cmdlet's own matching does.

Removing one takes it off every PAM role's candidates first (Remove-PAMUser refuses a role
candidate: MIMDocs reference/version-history.md, 4.5.26.0), then checks that the PAM user, both
MIM Service objects and the PRIV account are gone: what is still there, or could not be told,
fails the step with what to check, never reported as done. A privileged account is erased only
after a person confirms it with the PAM owner: the plan carries a warning, which the erasure
runner makes a manual step.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pydantic.dataclasses
from pydantic import Field

from connectors._shared import ceip as telemetry
from connectors._shared.names import is_account_name, is_netbios_domain
from connectors._shared.powershell import PowerShellRunner, WinRmSettings
from connectors.base import (
    RANK_TARGET,
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
    StepResult,
    Verification,
)
from connectors.datamap import KeptCopy, SystemInventory, held
from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, NotFound, NotSupported, TimedOut
from connectors.spec import SETTINGS
from connectors.spelling import spellings
from connectors.telemetry import CeipReading

__all__ = ["PamConnector", "PamSettings"]

# Attribute names `find <attribute>=<value>` may use for the source account name.
ACCOUNT_ATTRIBUTES = frozenset({"samaccountname", "accountname", "sourceaccountname"})
SUMMARY = "Remove the PAM user (its PRIV shadow account)"
WARNING = (
    "The person has a privileged (PAM) account: confirm with the PAM owner before it is removed"
)
_FIELDS = (
    "id",
    "source_user_id",
    "source_account_name",
    "source_domain",
    "source_display_name",
    "priv_account_name",
    "priv_upn",
    "priv_display_name",
)
# The data map (`inventory`): what `read` shows of a PAM user, its role memberships included.
INVENTORY_ATTRIBUTES = (
    "SourceAccountName",
    "SourceDomain",
    "SourceDisplayName",
    "SourceUserResourceId",
    "PrivAccountName",
    "PrivUserPrincipalName",
    "PrivDisplayName",
    "PrivUserResourceId",
    "PAMRoles",
)
TECHNOLOGY = "PowerShell over WinRM (MIMPAM)"
KEPT = KeptCopy(
    "the PRIV shadow account (in PRIV's Active Directory) and the PAM user's two MIM Service"
    " objects (SourceUserResourceId, PrivUserResourceId)",
    "until the erasure removes them",
    "removed by the erasure (Remove-PAMUser, once a person has confirmed with the PAM owner),"
    " then checked gone",
)
# Remove-PAMUser refuses a role candidate with a clear error from this build on (VH 4.5.26.0).
CANDIDATE_CHECK_VERSION = (4, 5, 26, 0)
# A DNS domain name: labels of letters, digits and hyphens (RFC 1123), at least two of them.
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# What the removal checks afterwards, as the step's error names it.
_LEFT = {
    "pam_user": "the PAM user (Get-PAMUser still returns it)",
    "priv_object": "its PRIV-account object in PAM's MIM Service (PrivUserResourceId)",
    "source_object": "its source-user object in PAM's MIM Service (SourceUserResourceId)",
    "priv_account": "its shadow account in PRIV's Active Directory (PrivAccountSID)",
}


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class PamSettings:
    """Where MIMPAM runs and which user forest its PAM users come from.

    `source_domain` is that forest's domain as PAM stores it in each PAM user's SourceDomain:
    a NetBIOS name (`CORP`, as New-PAMUser.md describes -SourceDomain) or a DNS name
    (`CONTOSO.LOCAL`, as its example and MIMDocs step 6 pass it), compared case-insensitively;
    `doctor` lists the forms PAM holds. `timeout` caps every call's deadline (seconds): the
    caller's, when shorter, applies. Raises `ValueError` for a domain that can be neither,
    and for WinRM credentials that cannot make a second hop: Remove-PAMUser removes the
    PRIV account from the PRIV forest's domain controller, a third machine (PSD
    Remove-PAMUser.md; pypsrp#57: only CredSSP or Kerberos delegation carry the session's
    credentials on), so without them every erasure would fail at its PAM step.
    """

    winrm: WinRmSettings
    source_domain: str
    label: str = "MIM PAM"
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    name: str = "pam"

    def __post_init__(self) -> None:
        if not is_domain_name(self.source_domain):
            raise ValueError(
                "source_domain must be the user forest's NetBIOS or DNS name, e.g. CORP or"
                " corp.contoso.com"
            )
        if not self.winrm.delegates:
            raise ValueError(
                "winrm: the PAM removal writes to the PRIV domain controller, a second hop:"
                " set transport: credssp, or transport: kerberos with kerberos_delegation: true"
                f" (the {self.winrm.transport} transport does not delegate)"
            )


def is_domain_name(name: str) -> bool:
    """Whether `name` can be a domain as PAM stores a SourceDomain: a NetBIOS name or a DNS
    name of two labels or more (at most 253 characters)."""
    if is_netbios_domain(name):
        return True
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
    )


@dataclass(frozen=True)
class _PamUser:
    id: str  # PrivUserResourceId
    source_user_id: str  # SourceUserResourceId ("" when PAM gives none)
    source_account_name: str
    source_domain: str
    source_display_name: str
    priv_account_name: str
    priv_upn: str
    priv_display_name: str
    roles: tuple[str, ...] = ()
    only_candidate_of: tuple[str, ...] = ()

    @property
    def priv_domain(self) -> str:
        """The PRIV domain, from PrivUserPrincipalName's suffix; "" without one. Never the
        WinRM account's domain: that is PRIV only if the bot runs as a PRIV account."""
        name, at, suffix = self.priv_upn.rpartition("@")
        return suffix if at and name else ""

    @property
    def priv_account(self) -> str:
        return self.priv_upn or self.priv_account_name


class PamConnector:
    """PAM users of one MIM PAM deployment, through MIMPAM on its server. Thread-safe."""

    capabilities = frozenset(
        {Capability.SEARCH, Capability.READ, Capability.DELETE, Capability.VERIFY}
    )

    def __init__(self, settings: PamSettings, runner: PowerShellRunner | None = None) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self._runner = runner or PowerShellRunner(
            replace(settings.winrm, name=f"{self.name}-winrm")
        )

    # -- Connector interface ------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """PAM users whose source account is `query.value` in `source_domain`.

        `NotSupported` for a mail address, employee ID, prefix or another attribute: PAM
        users are keyed by account name. A value no account can have (blank, longer than 20
        characters, or holding a character sAMAccountName refuses) finds no one and sends
        nothing.
        """
        if query.kind is QueryKind.ATTRIBUTE:
            if (query.attribute or "").casefold() not in ACCOUNT_ATTRIBUTES:
                raise NotSupported("PAM is searched by account name")
        elif query.kind is not QueryKind.NAME:
            raise NotSupported("PAM is searched by account name")
        users = self._find(query.value, [self.settings.source_domain], timeout)
        return [self._hit(u) for u, _ in users]

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        """`SearchesRecords`: the hits `search` gives, each with the record `read` gives when
        there are at most `limit`: one `pam_get_user`, which then also reads the users' PAM
        roles as `pam_read_user` does (a record is None when it could not: `read` then says
        why). `NotSupported` and nothing sent as for `search`."""
        if query.kind is QueryKind.ATTRIBUTE:
            if (query.attribute or "").casefold() not in ACCOUNT_ATTRIBUTES:
                raise NotSupported("PAM is searched by account name")
        elif query.kind is not QueryKind.NAME:
            raise NotSupported("PAM is searched by account name")
        users = self._find(query.value, [self.settings.source_domain], timeout, records=limit)
        return [
            HitRecord(
                self._hit(u),
                self._record(ObjectRef(self.name, u.id), u) if with_roles else None,
            )
            for u, with_roles in users
        ]

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """The PAM user's source and PRIV account names, display names, both MIM Service
        object ids and the PAM roles it is a candidate of (names only); `NotFound` when there
        is no such PAM user."""
        return self._record(ref, self._user(ref, timeout))

    def _record(self, ref: ObjectRef, user: _PamUser) -> Record:
        attrs = {
            "SourceAccountName": user.source_account_name,
            "SourceDomain": user.source_domain,
            "SourceDisplayName": user.source_display_name,
            "SourceUserResourceId": user.source_user_id,
            "PrivAccountName": user.priv_account_name,
            "PrivUserPrincipalName": user.priv_upn,
            "PrivDomain": user.priv_domain,
            "PrivDisplayName": user.priv_display_name,
            "PrivUserResourceId": user.id,
        }
        attributes = {k: AttributeValue((v,), source=self.name) for k, v in attrs.items() if v}
        if user.roles:
            attributes["PAMRoles"] = AttributeValue(user.roles, source=self.name)
        return Record(ref=ref, attributes=attributes)

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Remove-PAMUser, ranked with the other target systems, with a warning that makes a
        person confirm with the PAM owner first; `NotFound` when there is no such user. The
        notes name the PAM roles the user is taken off, and any it is the only candidate of
        (the removal refuses those: a person gives the role another candidate first)."""
        user = self._user(ref, timeout)
        notes: tuple[str, ...] = ()
        if user.roles:
            notes += (f"Taken off PAM roles first: {', '.join(user.roles)}",)
        if user.only_candidate_of:
            notes += (
                "The only candidate of PAM role(s) "
                f"{', '.join(user.only_candidate_of)}: give each another candidate, or take"
                " the user off it by hand, before the removal (which refuses otherwise)",
            )
        return DeletePlan(
            ref,
            PlanAction.DELETE,
            SUMMARY,
            manual=(ManualStep(ManualTask.CONFIRM_PRIVILEGED, WARNING),),
            authority_rank=RANK_TARGET,
            notes=notes,
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """Take the user off each PAM role's candidates (`Set-PAMRole -Candidates` with the
        others), `Remove-PAMUser -Force`, then check that the PAM user, both MIM Service
        objects and the PRIV account are gone. Done only when every check says gone (the
        detail names the roles changed); a PAM user already gone is `already_absent` once its
        PRIV-account object is confirmed gone too. `ConnectorError` naming what is still there,
        or what could not be told and what to check, otherwise; and when a role has no other
        candidate (nothing is removed then)."""
        user_id = self._id(plan.ref)
        data = self._run("pam_remove_user", {"id": user_id}, timeout)
        if not isinstance(data, dict) or not isinstance(data.get("removed"), bool):
            raise ConnectorError("pam_remove_user: unexpected output: no removed flag")
        refused = data.get("refused")
        if refused is not None:
            roles = ", ".join(_names("pam_remove_user", data.get("roles")))
            changed = _names("pam_remove_user", data.get("changed"))
            if refused == "only_candidate":
                raise ConnectorError(
                    f"pam_remove_user: the PAM user is the only candidate of PAM role(s) {roles}:"
                    " give each another candidate or take the user off it by hand, then retry;"
                    " nothing was changed"
                )
            if refused == "still_candidate":
                took = f"; taken off {', '.join(changed)}" if changed else ""
                raise ConnectorError(
                    f"pam_remove_user: Set-PAMRole left the PAM user a candidate of {roles}{took};"
                    " nothing was removed: take the user off by hand, then retry"
                )
            raise ConnectorError("pam_remove_user: unexpected output: an unknown refusal")
        removed: bool = data["removed"]
        roles_changed = _names("pam_remove_user", data.get("roles"))
        remaining, unchecked = data.get("remaining"), data.get("unchecked") or {}
        expected = set(_LEFT) if removed else {"pam_user", "priv_object"}
        if (
            not isinstance(remaining, dict)
            or not expected <= remaining.keys()
            or not all(remaining[k] is None or isinstance(remaining[k], bool) for k in expected)
            or not isinstance(unchecked, dict)
        ):
            raise ConnectorError("pam_remove_user: unexpected output: no after-check")
        took = f"; taken off PAM roles {', '.join(roles_changed)}" if roles_changed else ""
        done = "Remove-PAMUser ran" + took if removed else "there was no such PAM user"
        left = [_LEFT[k] for k in _LEFT if k in expected and remaining[k] is True]
        if left:
            raise ConnectorError(
                f"pam_remove_user: {done}, but these are still there: {'; '.join(left)}."
                " Remove them on the PAM server, then retry"
            )
        untold = [k for k in _LEFT if k in expected and remaining[k] is None]
        if untold:
            why = "; ".join(f"{_LEFT[k]}: {_reason(unchecked.get(k))}" for k in untold)
            raise ConnectorError(
                f"pam_remove_user: {done}, but could not confirm that these are gone: {why}."
                f" {_CHECK_BY_HAND.get(untold[0], '')}".rstrip()
            )
        if not removed:
            return StepResult(
                plan.ref, done=True, already_absent=True,
                detail="no such PAM user, and no PRIV-account object in PAM's MIM Service",
            )  # fmt: skip
        return StepResult(
            plan.ref,
            done=True,
            detail="PAM user removed: both MIM Service objects and the PRIV account are gone"
            + took,
        )

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Absent when no PAM user has the ACCOUNT identifier in `source_domain` nor in the
        DOMAIN identifier's domain (another system may spell the forest NetBIOS where PAM
        stores its DNS name, or the other way round: both are looked in, and a namesake
        found is reported rather than missed); `NotSupported` without an ACCOUNT identifier."""
        account = identifiers.get(IdKind.ACCOUNT)
        if account is None:
            raise NotSupported("PAM is searched by account name")
        domains = [self.settings.source_domain]
        other = identifiers.get(IdKind.DOMAIN)
        if other and is_domain_name(other) and other.casefold() != domains[0].casefold():
            domains.append(other)
        left = tuple(ObjectRef(self.name, u.id) for u, _ in self._find(account, domains, timeout))
        detail = "no PAM user for the account" if not left else "the PAM user is still there"
        return Verification(self.name, absent=not left, remaining=left, detail=detail)

    def health(self, *, timeout: float) -> Health:
        health = self._runner.health(timeout=self._deadline(timeout))
        return Health(self.name, health.ok, health.detail)

    def close(self) -> None:
        self._runner.close()

    # -- SelfChecks -------------------------------------------------------------

    def doctor(self, *, timeout: float) -> list[Check]:
        """What this connector relies on, read-only: Windows PowerShell 5.1 over WinRM and
        credentials that reach the PRIV domain controller (Remove-PAMUser writes there: a
        second hop), then `pam_doctor.ps1`: MIMPAM loads and is 4.5.26.0 or later, PAM roles
        are readable, PAM holds users of `source_domain` in that form, and FIMAutomation reads
        PAM's MIM Service (the removal's after-check). Within `timeout` overall."""
        deadline = time.monotonic() + timeout
        checks = self._runner.doctor(need_second_hop=True, timeout=self._deadline(timeout))
        names = (
            "MIMPAM module loads",
            "MIMPAM is 4.5.26.0 or later",
            "PAM roles are readable (Get-PAMRole)",
            f"PAM holds users of the source domain {self.settings.source_domain}",
            "FIMAutomation reads PAM's MIM Service (to confirm removals)",
        )
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimedOut("pam_doctor: no time left")
            data = self._run("pam_doctor", {}, left)
            if not isinstance(data, dict):
                raise ConnectorError("pam_doctor: unexpected output")
        except ConnectorError as exc:
            why = f"{exc.__class__.__name__}: {exc}"
            fix = f"check WinRM on {self.settings.winrm.endpoint} and run doctor again"
            return checks + [cannot_tell(n, why, fix) for n in names]
        return checks + _doctor_checks(data, self.settings.source_domain, names)

    # -- DescribesData -----------------------------------------------------------

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What PAM holds, for the data map: the PAM user's attributes `read` shows (its
        role memberships included), how many PAM users (Get-PAMUser with no filter, counted
        on the server: only the number leaves it), MIMPAM's version, and the PRIV account
        and two MIM Service objects each PAM user is until the erasure removes them. One
        read-only `pam_inventory` script; users it cannot list are a note naming the error's
        type. `ConnectorError`s as the other methods raise them."""
        data = self._run("pam_inventory", {}, timeout)
        if not isinstance(data, dict):
            raise ConnectorError("pam_inventory: unexpected output: not a result")
        version = data.get("version")
        users = data.get("users") if isinstance(data.get("users"), dict) else {}
        notes: tuple[str, ...] = ()
        persons: int | None = None
        if users.get("error"):
            notes = (f"the PAM users could not be counted ({str(users['error'])[:200]})",)
        else:
            count = users.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ConnectorError("pam_inventory: unexpected output: no PAM user count")
            persons = count
        return SystemInventory(
            system=self.name,
            label=self.label,
            technology=TECHNOLOGY,
            attributes=held(INVENTORY_ATTRIBUTES),
            persons=persons,
            version=version[:100] if isinstance(version, str) and version else None,
            kept=(KEPT,),
            notes=notes,
        )

    # -- MimServerTelemetry -----------------------------------------------------

    def telemetry_endpoint(self) -> str:
        """PAM's server's WinRM endpoint."""
        return self.settings.winrm.endpoint

    def read_ceip(self, *, timeout: float) -> CeipReading:
        """PAM's server's CEIP values (connectors/_shared/ceip.py)."""
        return telemetry.read_ceip(self._runner, timeout=self._deadline(timeout))

    def disable_ceip(self, *, timeout: float) -> CeipReading:
        """Every CEIP value on PAM's server set to 0, read back."""
        return telemetry.disable_ceip(self._runner, timeout=self._deadline(timeout))

    # -- wire -------------------------------------------------------------------

    def _deadline(self, timeout: float) -> float:
        return min(timeout, self.settings.timeout)

    def _run(self, script: str, args: Mapping[str, Any], timeout: float) -> Any:
        try:
            return self._runner.run(script, args, timeout=self._deadline(timeout))
        except ConnectorError:
            raise
        except (TypeError, ValueError) as exc:  # the arguments or the script name: a bug here
            raise ConnectorError(
                f"{script}: cannot build the call ({exc.__class__.__name__})"
            ) from exc

    def _find(
        self, account: str, domains: list[str], timeout: float, *, records: int = 0
    ) -> list[tuple[_PamUser, bool]]:
        """The PAM users with that source account in `domains`, each with whether the script
        read its PAM roles too (asked for with `records`: when it found at most that many)."""
        if not is_account_name(account):
            return []  # no account can have it: nothing is sent
        args: dict[str, Any] = {"names": list(spellings(account)), "domains": domains}
        if records > 0:
            args["records"] = records
        data = self._run("pam_get_user", args, timeout)
        if data is None:
            return []
        items = data if isinstance(data, list) else [data]  # PowerShell unrolls one item
        users: dict[str, tuple[_PamUser, bool]] = {}
        for item in items:
            user = _parse("pam_get_user", item)
            users[user.id] = (user, records > 0 and "roles" in item)  # _parse: a dict
        return sorted(users.values(), key=lambda u: (u[0].source_account_name.casefold(), u[0].id))

    def _user(self, ref: ObjectRef, timeout: float) -> _PamUser:
        user_id = self._id(ref)
        data = self._run("pam_read_user", {"id": user_id}, timeout)
        if data is None:
            raise NotFound("no PAM user has that id")
        user = _parse("pam_read_user", data)
        if user.id != user_id:
            raise ConnectorError("pam_read_user: unexpected output: another user's id")
        return user

    def _id(self, ref: ObjectRef) -> str:
        """The PAM user's resource id (a GUID); `NotFound` for anything else."""
        if ref.system != self.name:
            raise NotFound("not a reference to a PAM user")
        try:
            return str(uuid.UUID(ref.id))
        except (ValueError, TypeError, AttributeError):
            raise NotFound("no PAM user has that id") from None

    def _hit(self, user: _PamUser) -> Hit:
        ids = {
            IdKind.ACCOUNT: user.source_account_name,
            IdKind.DOMAIN: user.source_domain,
        }
        if user.source_display_name:
            ids[IdKind.DISPLAY_NAME] = user.source_display_name
        account = f"{user.source_domain}\\{user.source_account_name}"
        name = user.source_display_name
        label = f"{name} ({account}, PAM)" if name else f"{account} (PAM)"
        attributes = {
            k: (v,)
            for k, v in (
                ("PrivAccountName", user.priv_account_name),
                ("PrivDisplayName", user.priv_display_name),
                ("PrivUserResourceId", user.id),
                ("SourceUserResourceId", user.source_user_id),
            )
            if v
        }
        return Hit(
            ref=ObjectRef(self.name, user.id),
            label=label,
            identifiers=ids,
            attributes=attributes,
            location=user.priv_account,
        )


def _parse(script: str, item: Any) -> _PamUser:
    """One user from a script's output; `ConnectorError` (never quoting it) when malformed."""
    if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in _FIELDS):
        raise ConnectorError(f"{script}: unexpected output: not a PAM user")
    try:
        user_id = str(uuid.UUID(item["id"]))
        source_id = str(uuid.UUID(item["source_user_id"])) if item["source_user_id"] else ""
    except ValueError:
        raise ConnectorError(f"{script}: unexpected output: a PAM user without its id") from None
    if not item["source_account_name"]:
        raise ConnectorError(f"{script}: unexpected output: a PAM user without its account")
    roles = _names(script, item.get("roles"))
    only = _names(script, item.get("only_candidate_of"))
    fields = {f: item[f] for f in _FIELDS if f not in ("id", "source_user_id")}
    return _PamUser(
        id=user_id, source_user_id=source_id, roles=roles, only_candidate_of=only, **fields
    )


def _names(script: str, value: Any) -> tuple[str, ...]:
    """PAM role names from a script's output (configuration, not personal data), sorted."""
    names = value or []
    if isinstance(names, str):  # PowerShell unrolls a one-item array
        names = [names]
    if not isinstance(names, list) or not all(isinstance(r, str) for r in names):
        raise ConnectorError(f"{script}: unexpected output: PAM roles are not names")
    return tuple(sorted(names, key=str.casefold))


def _reason(value: Any) -> str:
    return value if isinstance(value, str) and value else "no reason given"


# What a person checks by hand when the after-check could not tell (the first untold one).
_CHECK_BY_HAND = {
    "pam_user": "Check with Get-PAMUser on the PAM server.",
    "priv_object": "Check that the FIMAutomation snap-in loads on the PAM server and look the"
    " ids up in PAM's MIM Service.",
    "source_object": "Check that the FIMAutomation snap-in loads on the PAM server and look the"
    " ids up in PAM's MIM Service.",
    "priv_account": "Check in PRIV's Active Directory that the shadow account is gone; the"
    " bot's WinRM credentials must be delegated (credssp, or kerberos with delegation) to"
    " reach a PRIV domain controller.",
}


def _version(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if not 2 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts) + (0,) * (4 - len(parts))


def _doctor_checks(data: dict[str, Any], source_domain: str, names: tuple[str, ...]) -> list[Check]:
    """pam_doctor's answer as checks, one per name, each judged on its own part."""
    loads, version, roles, domain, fim = names
    checks: list[Check] = []
    module = data.get("module") if isinstance(data.get("module"), dict) else {}
    text = module.get("version")
    if not isinstance(text, str) or not text:
        error = _reason(module.get("error"))
        fix = "run the bot against the PAM server, where MIM's PAM component installs MIMPAM"
        checks.append(wrong(loads, f"Import-Module MIMPAM failed: {error}", fix))
        later = "MIMPAM does not load: nothing to check"
        redo = "make MIMPAM load, then run doctor again"
        checks += [cannot_tell(n, later, redo) for n in (version, roles, domain)]
    else:
        checks.append(ok(loads, f"MIMPAM {text}"))
        found = _version(text)
        if found is None:
            checks.append(
                cannot_tell(
                    version, f"MIMPAM reports version {text!r}",
                    "check the MIM build on the PAM server (4.5.26.0 or later)",
                )
            )  # fmt: skip
        elif found >= CANDIDATE_CHECK_VERSION:
            checks.append(ok(version, f"{text}: Remove-PAMUser refuses a role candidate clearly"))
        else:
            checks.append(
                wrong(
                    version,
                    f"{text}: before 4.5.26.0 Remove-PAMUser fails unclearly for a role"
                    " candidate (the bot takes users off roles first, but was checked against"
                    " the 4.5.26.0 behaviour only)",
                    "update MIM on the PAM server to 4.5.26.0 or later",
                )
            )
        checks.append(_roles_check(roles, data.get("roles")))
        checks.append(_domain_check(domain, data.get("source_domains"), source_domain))
    part = data.get("fimautomation") if isinstance(data.get("fimautomation"), dict) else {}
    if isinstance(part.get("count"), int) and part["count"] > 0:
        checks.append(ok(fim, "Export-FIMConfig at http://localhost:5725 reads the schema"))
    else:
        checks.append(
            wrong(
                fim,
                f"Export-FIMConfig at http://localhost:5725 failed: {_reason(part.get('error'))}",
                "the removal's check needs the FIMAutomation snap-in (installed with the MIM"
                " Service) on the PAM server and read access to PAM's MIM Service",
            )
        )
    return checks


def _roles_check(name: str, part: Any) -> Check:
    part = part if isinstance(part, dict) else {}
    if isinstance(part.get("count"), int):
        return ok(name, f"{part['count']} PAM roles")
    return wrong(
        name,
        f"Get-PAMRole failed: {_reason(part.get('error'))}",
        "give the bot's account read access to PAM roles in PAM's MIM Service (it also takes"
        " users off roles' candidates with Set-PAMRole)",
    )


def _domain_check(name: str, part: Any, source_domain: str) -> Check:
    part = part if isinstance(part, dict) else {}
    counts = part.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        return wrong(
            name,
            f"Get-PAMUser failed: {_reason(part.get('error'))}",
            "give the bot's account read access to PAM users in PAM's MIM Service",
        )
    listed = ", ".join(f"{d or '(none)'} ({n})" for d, n in sorted(counts.items()))
    mine = sum(n for d, n in counts.items() if str(d).casefold() == source_domain.casefold())
    if mine:
        return ok(name, f"{mine} PAM users in {source_domain}; source domains: {listed}")
    if not counts:
        return cannot_tell(
            name,
            "PAM has no users yet",
            "run doctor again once a PAM user exists (New-PAMUser)",
        )
    return wrong(
        name,
        f"no PAM user has SourceDomain {source_domain}; PAM's users come from: {listed}",
        "set pam.source_domain to the domain as PAM stores it (one of those listed)",
    )
