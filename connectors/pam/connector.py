"""MIM Privileged Access Management (the MIMPAM module) over WinRM: find, read and remove PAM users.

A PAM user is a MIM Service object in the PRIV forest paired with a shadow account there
(PRIV\\<account>), made for one account of a user forest: it is found by that source
account name and domain (`Get-PAMUser -SourceAccountName -SourceDomain`). Its `ObjectRef`
id is its MIM Service resource id (`PrivUserResourceId`, a GUID), which no rename changes;
`read` and `Remove-PAMUser -Force` find the user by it. Each operation is a script in
connectors/pam/scripts/pam_*.ps1 run by `PowerShellRunner`: values reach PowerShell only as
data, and the scripts compare names again, exactly, whatever the cmdlet's own matching does.

A privileged account is erased only after a person confirms it with the PAM owner: the
plan carries a warning, which the erasure runner makes a manual step.
"""

from __future__ import annotations

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
from connectors.errors import ConnectorError, NotFound, NotSupported
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
    "source_account_name",
    "source_domain",
    "source_display_name",
    "priv_account_name",
    "priv_domain",
    "priv_display_name",
)


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class PamSettings:
    """Where MIMPAM runs and which user forest its PAM users come from.

    `source_domain` is that forest's NetBIOS name (`CORP`), as `-SourceDomain` takes it.
    `timeout` caps every call's deadline (seconds): the caller's, when shorter, applies.
    Raises `ValueError` for a domain that cannot be a NetBIOS name.
    """

    winrm: WinRmSettings
    source_domain: str
    label: str = "MIM PAM"
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    name: str = "pam"

    def __post_init__(self) -> None:
        if not is_netbios_domain(self.source_domain):
            raise ValueError("source_domain must be the user forest's NetBIOS name, e.g. CORP")


@dataclass(frozen=True)
class _PamUser:
    id: str
    source_account_name: str
    source_domain: str
    source_display_name: str
    priv_account_name: str
    priv_domain: str
    priv_display_name: str
    roles: tuple[str, ...] = ()

    @property
    def priv_account(self) -> str:
        return f"{self.priv_domain}\\{self.priv_account_name}"


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
        users = self._find(query.value, self.settings.source_domain, timeout)
        return [self._hit(u) for u in users]

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """The PAM user's source and PRIV account names, display names and the PAM roles it
        is a candidate of (names only); `NotFound` when there is no such PAM user."""
        user = self._user(ref, timeout)
        attrs = {
            "SourceAccountName": user.source_account_name,
            "SourceDomain": user.source_domain,
            "SourceDisplayName": user.source_display_name,
            "PrivAccountName": user.priv_account_name,
            "PrivDomain": user.priv_domain,
            "PrivDisplayName": user.priv_display_name,
        }
        attributes = {k: AttributeValue((v,), source=self.name) for k, v in attrs.items() if v}
        if user.roles:
            attributes["PAMRoles"] = AttributeValue(user.roles, source=self.name)
        return Record(ref=ref, attributes=attributes)

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Remove-PAMUser, ranked with the other target systems, with a warning that makes a
        person confirm with the PAM owner first; `NotFound` when there is no such user."""
        user = self._user(ref, timeout)
        notes = (f"PAM roles: {', '.join(user.roles)}",) if user.roles else ()
        return DeletePlan(
            ref,
            PlanAction.DELETE,
            SUMMARY,
            manual=(ManualStep(ManualTask.CONFIRM_PRIVILEGED, WARNING),),
            authority_rank=RANK_TARGET,
            notes=notes,
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """`Remove-PAMUser -Force`; a PAM user already gone is `already_absent`."""
        user_id = self._id(plan.ref)
        data = self._run("pam_remove_user", {"id": user_id}, timeout)
        if not isinstance(data, dict) or not isinstance(data.get("removed"), bool):
            raise ConnectorError("pam_remove_user: unexpected output: no removed flag")
        removed = data["removed"]
        detail = "PAM user and PRIV shadow account removed" if removed else "no such PAM user"
        return StepResult(plan.ref, done=True, already_absent=not removed, detail=detail)

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Absent when no PAM user has the ACCOUNT identifier in its DOMAIN (default:
        `source_domain`); `NotSupported` without an ACCOUNT identifier."""
        account = identifiers.get(IdKind.ACCOUNT)
        if account is None:
            raise NotSupported("PAM is searched by account name")
        domain = identifiers.get(IdKind.DOMAIN) or self.settings.source_domain
        left = tuple(ObjectRef(self.name, u.id) for u in self._find(account, domain, timeout))
        detail = "no PAM user for the account" if not left else "the PAM user is still there"
        return Verification(self.name, absent=not left, remaining=left, detail=detail)

    def health(self, *, timeout: float) -> Health:
        health = self._runner.health(timeout=self._deadline(timeout))
        return Health(self.name, health.ok, health.detail)

    def close(self) -> None:
        self._runner.close()

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

    def _find(self, account: str, domain: str, timeout: float) -> list[_PamUser]:
        if not (is_account_name(account) and is_netbios_domain(domain)):
            return []  # no account can have it: nothing is sent
        names = list(spellings(account))
        data = self._run("pam_get_user", {"names": names, "domain": domain}, timeout)
        if data is None:
            return []
        items = data if isinstance(data, list) else [data]  # PowerShell unrolls one item
        users = {u.id: u for u in (_parse("pam_get_user", item) for item in items)}
        return sorted(users.values(), key=lambda u: (u.source_account_name.casefold(), u.id))

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
    except ValueError:
        raise ConnectorError(f"{script}: unexpected output: a PAM user without its id") from None
    if not item["source_account_name"]:
        raise ConnectorError(f"{script}: unexpected output: a PAM user without its account")
    roles = item.get("roles") or []
    if isinstance(roles, str):  # PowerShell unrolls a one-item array
        roles = [roles]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ConnectorError(f"{script}: unexpected output: PAM roles are not names")
    fields = {f: item[f] for f in _FIELDS if f != "id"}
    return _PamUser(id=user_id, roles=tuple(sorted(roles, key=str.casefold)), **fields)
