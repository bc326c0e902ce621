"""Fixture MIM PAM state behind the WS-Management stand-in (demo/wsman_stub.py).

    pam = PamFixture()
    jdoe = pam.add("jdoe", "Jane Doe", roles=("CorpAdmins",))
    pam.install(stub)     # answers pam_get_user, pam_read_user, pam_remove_user, pam_doctor,
                          # pam_inventory

Each handler does what its script in connectors/pam/scripts/ does on a MIM PAM server, from the
arguments the stub decoded, over a model of the MIMPAM cmdlets the script calls (`get_pam_users`,
`get_pam_roles`, `set_pam_role`, `remove_pam_user`) as their documentation describes them. Each
behaviour the connector relies on cites its source; where the documentation is silent the
model is strict. Sources: PSD = the MIMPAM cmdlet reference (MicrosoftDocs mim-docs-powershell,
mim-cmdlets/MIMPAM/vlatest/<cmdlet>.md); VH = MIMDocs reference/version-history.md; STEP6 =
MIMDocs pam/step-6-transition-group-to-pam.md; PAMPOW = the community module that reads role
candidates and rewrites them with Set-PAMRole.

Faults for tests, all off by default (the demo's estate is a healthy one): `module_version`
(None: MIMPAM does not load), `roles_readable`, `users_readable`, `fimautomation` (the snap-in
the removal's after-check and doctor use), `second_hop` (Remove-PAMUser cannot write to the
PRIV domain), `priv_ldap_readable` (the after-check cannot read PRIV AD) and `keeps` (what
Remove-PAMUser leaves behind: "source_object", "priv_object", "priv_account", "pam_user").
`calls` records (script, args).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from demo.wsman_stub import PowerShellError, WsmanStub

__all__ = ["PRIV_UPN_SUFFIX", "PamFixture", "PamUser"]

# The PRIV forest's DNS name in the demo (MIMDocs' lab uses priv.contoso.local).
PRIV_UPN_SUFFIX = "priv.contoso.test"
_RIDS = itertools.count(1105)
_PRIV_DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"  # any domain SID's form


@dataclass
class PamUser:
    """One PAM user: `id` is its PrivUserResourceId, `source_user_id` its SourceUserResourceId
    (STEP6: each PAM user is two MIM Service objects, the CORP user's and the PRIV account's).
    `roles`: the PAM roles it is seeded as a candidate of (the fixture's roles are the truth
    afterwards). An empty `priv_upn` stays empty (a PAM user without a PrivUserPrincipalName)."""

    source_account_name: str
    source_display_name: str
    source_domain: str = "CORP"
    priv_account_name: str = ""
    priv_display_name: str = ""
    priv_upn: str | None = None
    roles: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source_user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    priv_sid: str = field(
        default_factory=lambda: f"S-1-5-21-1004336348-1177238915-682003330-{next(_RIDS)}"
    )

    def __post_init__(self) -> None:
        # New-PAMUser "generates one from the configuration parameters and the source account
        # name" (PSD New-PAMUser, -PrivAccountName): the demo's configuration prefixes the domain.
        self.priv_account_name = self.priv_account_name or (
            f"{self.source_domain}.{self.source_account_name}"
        )
        self.priv_display_name = self.priv_display_name or f"{self.source_display_name} (PRIV)"
        if self.priv_upn is None:
            self.priv_upn = f"{self.priv_account_name}@{PRIV_UPN_SUFFIX}"

    def output(self) -> dict[str, Any]:
        """As ConvertTo-MimbotPamUser in the scripts writes it."""
        return {
            "id": self.id,
            "source_user_id": self.source_user_id,
            "source_account_name": self.source_account_name,
            "source_domain": self.source_domain,
            "source_display_name": self.source_display_name,
            "priv_account_name": self.priv_account_name,
            "priv_upn": self.priv_upn or "",
            "priv_display_name": self.priv_display_name,
        }


class PamFixture:
    """PAM users by resource id, PAM roles by display name (their candidates' ids, in order),
    the MIM Service's object ids and the PRIV domain's account SIDs; `install(stub)` wires the
    handlers."""

    def __init__(self, users: list[PamUser] | None = None) -> None:
        self.users: dict[str, PamUser] = {}
        self.roles: dict[str, list[str]] = {}
        self.objects: set[str] = set()  # MIM Service ObjectIDs
        self.priv_accounts: set[str] = set()  # PRIV AD accounts, by SID
        self.calls: list[tuple[str, Any]] = []
        self.removed: list[str] = []
        self.module_version: str | None = "4.6.34.0"  # MIM 2016 SP2 (VH)
        self.roles_readable = True
        self.users_readable = True
        self.fimautomation = True
        self.second_hop = True
        self.priv_ldap_readable = True
        self.keeps: set[str] = set()
        for user in users or []:
            self._enrol(user)

    def add(
        self, account: str, display: str, domain: str = "CORP", *, roles: tuple[str, ...] = ()
    ) -> PamUser:
        return self._enrol(PamUser(account, display, domain, roles=roles))

    def _enrol(self, user: PamUser) -> PamUser:
        # New-PAMUser makes both MIM Service objects and the PRIV account (STEP6); New-PAMRole /
        # Set-PAMRole -Candidates make it a candidate (PSD).
        self.users[user.id] = user
        self.objects |= {user.id, user.source_user_id}
        self.priv_accounts.add(user.priv_sid)
        for role in user.roles:
            self.roles.setdefault(role, []).append(user.id)
        return user

    def roles_of(self, user_id: str) -> list[str]:
        return sorted((r for r, c in self.roles.items() if user_id in c), key=str.casefold)

    def install(self, stub: WsmanStub) -> PamFixture:
        stub.handlers["pam_get_user"] = self.get_user
        stub.handlers["pam_read_user"] = self.read_user
        stub.handlers["pam_remove_user"] = self.remove_user
        stub.handlers["pam_doctor"] = self.doctor
        stub.handlers["pam_inventory"] = self.inventory
        return self

    # -- the cmdlets, as documented ----------------------------------------------------

    def get_pam_users(self) -> list[PamUser]:
        """Get-PAMUser with no filter: every PAM user (PSD Get-PAMUser)."""
        self._load()
        if not self.users_readable:
            raise _denied("Get-PAMUser")
        return list(self.users.values())

    def get_pam_roles(self) -> dict[str, list[str]]:
        """Get-PAMRole: every role, with its Candidates (PSD Get-PAMRole; PAMPOW)."""
        self._load()
        if not self.roles_readable:
            raise _denied("Get-PAMRole")
        return {r: list(c) for r, c in self.roles.items()}

    def set_pam_role(self, role: str, candidates: list[str]) -> None:
        """Set-PAMRole -Role -Candidates: the role's candidates become exactly `candidates`
        (PSD Set-PAMRole: "the collection of candidate users which are to be associated with
        the PAM Role"; example 2 adds one by passing the whole list). An empty collection is
        not documented: refused."""
        if not candidates:
            raise PowerShellError(
                "System.Management.Automation.ParameterBindingValidationException",
                "Cannot validate argument on parameter 'Candidates'. The argument is null or"
                " empty.",
                "InvalidData",
                "ParameterArgumentValidationError,Microsoft.IdentityManagement.PamCmdlets.SetPAMRole",
            )
        self.roles[role] = list(candidates)

    def remove_pam_user(self, user: PamUser) -> None:
        """Remove-PAMUser -User -Force: removes the user "from the MIM Service and the PAM
        domain" (PSD Remove-PAMUser). Refuses a user still a candidate of a role: VH 4.5.26.0
        ("Remove-PamUser ... fails ... if the user is linked to a Role as a candidate"; that
        build added client-side validation and a clearer exception, whose text is not
        published: the wording here is the stand-in's, and names no user). Writing to the PAM
        domain is a second hop: without delegation it fails (shared/reference HOP), and here
        it fails before anything is removed (strict: what really happens is not documented)."""
        if any(user.id in c for c in self.roles.values()):
            raise PowerShellError(
                "System.InvalidOperationException",
                "The user cannot be removed because it is a candidate of one or more PAM"
                " roles. Remove the user from the roles' candidates first.",
                "InvalidOperation",
                "RemovePAMUser,Microsoft.IdentityManagement.PamCmdlets.RemovePAMUser",
            )
        if not self.second_hop:
            raise PowerShellError(
                "System.UnauthorizedAccessException",
                "Access is denied.",
                "PermissionDenied",
                "RemovePAMUser,Microsoft.IdentityManagement.PamCmdlets.RemovePAMUser",
            )
        if "pam_user" not in self.keeps:
            del self.users[user.id]
        if "priv_object" not in self.keeps:
            self.objects.discard(user.id)
        if "source_object" not in self.keeps:
            self.objects.discard(user.source_user_id)
        if "priv_account" not in self.keeps:
            self.priv_accounts.discard(user.priv_sid)
        self.removed.append(user.id)

    def _load(self) -> None:
        if self.module_version is None:  # Import-Module MIMPAM, no such module
            raise PowerShellError(
                "System.IO.FileNotFoundException",
                "The specified module 'MIMPAM' was not loaded because no valid module file was"
                " found in any module directory.",
                "ResourceUnavailable",
                "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
            )

    # -- the scripts --------------------------------------------------------------------

    def get_user(self, args: Any) -> list[dict[str, Any]]:
        """pam_get_user.ps1. With `records` (a number), when at most that many users are
        found, each gets its roles as `read_user` gives them, from one Get-PAMRole; when
        that cmdlet fails (the script's try/catch) the users come without them."""
        self.calls.append(("pam_get_user", args))
        # -eq and -contains compare strings case-insensitively (about_Comparison_Operators).
        names = {str(n).casefold() for n in args["names"]}
        domains = {str(d).casefold() for d in args["domains"]}
        found = [
            u
            for u in self.get_pam_users()
            if u.source_account_name.casefold() in names and u.source_domain.casefold() in domains
        ]
        records = args.get("records")
        if records is not None and not (isinstance(records, int) and records > 0):
            raise PowerShellError("System.ArgumentException", "bad records", "InvalidArgument")
        if not records or len(found) > records:
            return [u.output() for u in found]
        try:
            roles = self.get_pam_roles()
        except PowerShellError:
            return [u.output() for u in found]
        return [self._with_roles(u, roles) for u in found]

    def read_user(self, args: Any) -> dict[str, Any] | None:
        self.calls.append(("pam_read_user", args))
        user_id = _guid(args["id"])
        user = next((u for u in self.get_pam_users() if u.id == user_id), None)
        if user is None:
            return None
        return self._with_roles(user, self.get_pam_roles())

    @staticmethod
    def _with_roles(user: PamUser, roles: dict[str, list[str]]) -> dict[str, Any]:
        """ConvertTo-MimbotPamUser's output with the roles the user is a candidate of, and
        those it is the only candidate of (pam_read_user.ps1, pam_get_user.ps1)."""
        mine = sorted((r for r, c in roles.items() if user.id in c), key=str.casefold)
        out = user.output()
        out["roles"] = mine
        out["only_candidate_of"] = [r for r in mine if roles[r] == [user.id]]
        return out

    def remove_user(self, args: Any) -> dict[str, Any]:
        self.calls.append(("pam_remove_user", args))
        user_id = _guid(args["id"])
        user = next((u for u in self.get_pam_users() if u.id == user_id), None)
        changed: list[str] = []
        if user is not None:
            plan = [
                (r, [c for c in cands if c != user_id])
                for r, cands in self.get_pam_roles().items()
                if user_id in cands
            ]
            only = [r for r, others in plan if not others]
            if only:
                return {"removed": False, "refused": "only_candidate", "roles": only}
            for role, others in plan:
                self.set_pam_role(role, others)
                changed.append(role)
            still = [r for r, c in self.get_pam_roles().items() if user_id in c]
            if still:
                return {
                    "removed": False,
                    "refused": "still_candidate",
                    "roles": still,
                    "changed": changed,
                }
            self.remove_pam_user(user)
        remaining: dict[str, bool | None] = {}
        unchecked: dict[str, str] = {}
        ids = {user_id} | ({user.source_user_id} if user else set())
        remaining["pam_user"] = any(
            u.id in ids or u.source_user_id in ids for u in self.get_pam_users()
        )
        if self.fimautomation:
            remaining["priv_object"] = user_id in self.objects
            if user is not None:
                remaining["source_object"] = user.source_user_id in self.objects
        else:
            remaining["priv_object"] = None
            unchecked["priv_object"] = _NO_SNAPIN
            if user is not None:
                remaining["source_object"] = None
                unchecked["source_object"] = _NO_SNAPIN
        if user is not None:
            if self.priv_ldap_readable:
                remaining["priv_account"] = user.priv_sid in self.priv_accounts
            else:
                remaining["priv_account"] = None
                unchecked["priv_account"] = "System.Runtime.InteropServices.COMException"
        return {
            "removed": user is not None,
            "roles": changed,
            "remaining": remaining,
            "unchecked": unchecked,
        }

    def doctor(self, args: Any) -> dict[str, Any]:
        self.calls.append(("pam_doctor", args))
        out: dict[str, Any] = {}
        if self.module_version is None:
            out["module"] = {"error": "System.IO.FileNotFoundException"}
        else:
            out["module"] = {"version": self.module_version}
            try:
                out["roles"] = {"count": len(self.get_pam_roles())}
            except PowerShellError as exc:
                out["roles"] = {"error": exc.type}
            try:
                counts: dict[str, int] = {}
                names: dict[str, str] = {}
                for u in self.get_pam_users():  # Group-Object: case-insensitive, first name
                    key = names.setdefault(u.source_domain.casefold(), u.source_domain)
                    counts[key] = counts.get(key, 0) + 1
                out["source_domains"] = {"counts": counts}
            except PowerShellError as exc:
                out["source_domains"] = {"error": exc.type}
        if self.fimautomation:
            out["fimautomation"] = {"count": 1}
        else:
            out["fimautomation"] = {"error": _NO_SNAPIN}
        return out

    def inventory(self, args: Any) -> dict[str, Any]:
        """pam_inventory.ps1: Import-Module MIMPAM (failing the script when it does not
        load), its version, and `@(Get-PAMUser).Count` (PSD Get-PAMUser: with no filter,
        every PAM user), or the listing's error type."""
        self.calls.append(("pam_inventory", args))
        self._load()
        out: dict[str, Any] = {"version": self.module_version}
        try:
            out["users"] = {"count": len(self.get_pam_users())}
        except PowerShellError as exc:
            out["users"] = {"error": exc.type}
        return out


# Add-PSSnapin for a snap-in that is not installed.
_NO_SNAPIN = "System.Management.Automation.PSArgumentException"


def _denied(cmdlet: str) -> PowerShellError:
    # The MIM Service refuses a read it has no management policy rule for; the exception's
    # exact type and text as MIMPAM surfaces it are not documented.
    short = cmdlet.replace("-", "")
    return PowerShellError(
        "Microsoft.ResourceManagement.WebServices.Exceptions.PermissionDeniedException",
        f"{cmdlet}: the caller is not allowed to read the requested resources.",
        "PermissionDenied",
        f"{short},Microsoft.IdentityManagement.PamCmdlets.{short}",
    )


def _guid(value: Any) -> str:
    """As `[guid][string]$value` in the scripts: a GUID, or the cast's error quoting it."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise PowerShellError(
            "System.Management.Automation.RuntimeException",
            f'Cannot convert value "{value}" to type "System.Guid". Error: "Guid should'
            ' contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)."',
            "InvalidArgument",
            "InvalidCastParseTargetInvocation",
        ) from None
