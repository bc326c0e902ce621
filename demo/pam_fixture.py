"""Fixture MIM PAM state behind the WS-Management stand-in (demo/wsman_stub.py).

    pam = PamFixture()
    jdoe = pam.add("jdoe", "Jane Doe", roles=("CorpAdmins",))
    pam.install(stub)     # answers pam_get_user, pam_read_user, pam_remove_user

Each handler does what its script in connectors/scripts/ does on a MIM PAM server, from the
arguments the stub decoded: exact, case-insensitive account and domain matches, a resource id
that must parse as a GUID (PowerShell's `[guid]` cast fails with the value in its message, as
here), `Remove-PAMUser` removing the user from every role. `calls` records (script, args).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from demo.wsman_stub import PowerShellError, WsmanStub

__all__ = ["PamFixture", "PamUser"]


@dataclass
class PamUser:
    source_account_name: str
    source_display_name: str
    source_domain: str = "CORP"
    priv_account_name: str = ""
    priv_display_name: str = ""
    priv_domain: str = "PRIV"
    roles: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        self.priv_account_name = self.priv_account_name or (
            f"{self.source_domain}.{self.source_account_name}"
        )
        self.priv_display_name = self.priv_display_name or f"{self.source_display_name} (PRIV)"

    def output(self, *, with_roles: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "source_account_name": self.source_account_name,
            "source_domain": self.source_domain,
            "source_display_name": self.source_display_name,
            "priv_account_name": self.priv_account_name,
            "priv_domain": self.priv_domain,
            "priv_display_name": self.priv_display_name,
        }
        if with_roles:
            out["roles"] = list(self.roles)
        return out


class PamFixture:
    """PAM users by resource id; `install(stub)` wires the handlers."""

    def __init__(self, users: list[PamUser] | None = None) -> None:
        self.users: dict[str, PamUser] = {u.id: u for u in users or []}
        self.calls: list[tuple[str, Any]] = []
        self.removed: list[str] = []

    def add(
        self, account: str, display: str, domain: str = "CORP", *, roles: tuple[str, ...] = ()
    ) -> PamUser:
        user = PamUser(account, display, domain, roles=roles)
        self.users[user.id] = user
        return user

    def install(self, stub: WsmanStub) -> PamFixture:
        stub.handlers["pam_get_user"] = self.get_user
        stub.handlers["pam_read_user"] = self.read_user
        stub.handlers["pam_remove_user"] = self.remove_user
        return self

    # -- the scripts --------------------------------------------------------------

    def get_user(self, args: Any) -> list[dict[str, Any]]:
        self.calls.append(("pam_get_user", args))
        names = {str(n).casefold() for n in args["names"]}
        domain = str(args["domain"]).casefold()
        return [
            u.output()
            for u in self.users.values()
            if u.source_account_name.casefold() in names and u.source_domain.casefold() == domain
        ]

    def read_user(self, args: Any) -> dict[str, Any] | None:
        self.calls.append(("pam_read_user", args))
        user = self.users.get(_guid(args["id"]))
        return user.output(with_roles=True) if user else None

    def remove_user(self, args: Any) -> dict[str, bool]:
        self.calls.append(("pam_remove_user", args))
        user = self.users.pop(_guid(args["id"]), None)
        if user is not None:
            self.removed.append(user.id)
        return {"removed": user is not None}


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
