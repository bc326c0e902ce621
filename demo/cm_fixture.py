"""Fixture MIM Certificate Management state behind the WS-Management stand-in (demo/wsman_stub.py).

    cm = CmFixture()
    jdoe = cm.add_user("jdoe", guid="...")            # an AD user (objectGUID) in CORP
    card = cm.add_card(jdoe, certificates=[("1B00...", expiry)])
    cm.install(stub)     # answers certmgmt_find, certmgmt_doctor and certmgmt_inventory
    cm.retire(card)      # what a person does in the CM portal

Each handler does what its script in connectors/certmgmt/scripts/ does on a CM server, as the
product documents it (the pages are cited in those scripts):
- a CM user is the AD user's objectGUID (Using the Management Agent for Certificate
  Management, jj590240): accounts resolve through AD (`NTAccount.Translate`, then the entry
  bound by SID), exactly and case-insensitively; a name AD does not know is `unresolved`;
  a GUID whose AD account is gone still finds the cards CM keeps for it (`delete_account`);
- `FindSmartcards(assignedUsersUuid)` gives the user's smart cards in every status;
  `FindRequests(targetUsersUuid)` the requests naming each software profile (NewProfileUuid),
  read with `GetProfile`; a card or profile of another user is never returned;
- retiring a card or revoking a profile changes its status (Retired, Disabled): CM deletes
  nothing ("Deleting from the MIM CM database is not supported", mim-privacy-compliance.md);
- certificates carry NotAfter in UTC with its zone, as the script converts it.
A GUID the script casts with `[guid]` that is not one fails as the cast does. `doctor` faults:
`missing_assemblies`, `no_templates` (the account reads none), `api_fails`, `no_ad`.
`calls` records (script, args).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.wsman_stub import PowerShellError, WsmanStub

__all__ = ["CmCard", "CmCertificate", "CmFixture", "CmUser"]

SMARTCARD_TEMPLATE = "a039b4d0-5ce8-4eff-8651-181c6576fda3"
SOFTWARE_TEMPLATE = "8f31803f-8afc-49bb-911d-402ec264b589"
VERSION = "4.6.607.0"  # a MIM 2016 SP2 CM build number, as FileVersion reports it
FAULTS = frozenset({"missing_assemblies", "no_templates", "api_fails", "no_ad"})


@dataclass
class CmCertificate:
    serial: str
    not_after: datetime | None  # aware
    thumbprint: str = field(default_factory=lambda: uuid.uuid4().hex.upper()[:40])
    template: str = "SmartcardLogon"

    def output(self) -> dict[str, str]:
        when = self.not_after.astimezone(UTC).isoformat() if self.not_after else ""
        return {
            "serial": self.serial,
            "thumbprint": self.thumbprint,
            "template": self.template,
            "not_after": when,
        }


@dataclass
class CmCard:
    """A smart card, or (`smartcard` False) a software profile."""

    user_uuid: str
    smartcard: bool
    certificates: list[CmCertificate]
    status: str = "Active"
    template: str = SMARTCARD_TEMPLATE
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def output(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "status": self.status,
            "template": self.template,
            "certificates": [c.output() for c in self.certificates],
        }


@dataclass
class CmUser:
    account: str
    domain: str = "CORP"
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    in_ad: bool = True


class CmFixture:
    """CM users (AD accounts) and their cards; `install(stub)` wires the handlers."""

    def __init__(self) -> None:
        self.users: dict[str, CmUser] = {}
        self.cards: dict[str, CmCard] = {}
        self.calls: list[tuple[str, Any]] = []
        self.faults: set[str] = set()
        self.templates = 2

    def install(self, stub: WsmanStub) -> CmFixture:
        stub.handlers["certmgmt_find"] = self.find
        stub.handlers["certmgmt_doctor"] = self.doctor
        stub.handlers["certmgmt_inventory"] = self.inventory
        return self

    # -- state ---------------------------------------------------------------------

    def add_user(self, account: str, domain: str = "CORP", *, guid: str | None = None) -> CmUser:
        user = CmUser(account, domain, str(uuid.UUID(guid)) if guid else str(uuid.uuid4()))
        self.users[user.guid] = user
        return user

    def add_card(
        self,
        user: CmUser,
        *,
        smartcard: bool = True,
        certificates: Sequence[tuple[str, datetime | None]] = (),
        status: str = "Active",
    ) -> CmCard:
        certs = [
            CmCertificate(s, when, template="SmartcardLogon" if smartcard else "User")
            for s, when in certificates
        ]
        template = SMARTCARD_TEMPLATE if smartcard else SOFTWARE_TEMPLATE
        card = CmCard(user.guid, smartcard, certs, status, template)
        self.cards[card.uuid] = card
        return card

    def retire(self, card: CmCard) -> None:
        """Retire a smart card or revoke a profile, as a person does in the CM portal: the
        record stays, its status changes."""
        card.status = "Retired" if card.smartcard else "Disabled"

    def retire_all(self, user: CmUser) -> None:
        for card in self.cards.values():
            if card.user_uuid == user.guid:
                self.retire(card)

    def delete_account(self, user: CmUser) -> None:
        """The AD account is deleted: CM keeps its cards under the objectGUID."""
        user.in_ad = False

    def seed_demo(
        self, people: Iterable[tuple[str, str]], *, expires: datetime | None = None
    ) -> list[CmUser]:
        """One user per (account, objectGUID) in CORP, each with one smart card holding one
        logon certificate that expires at `expires` (default: a year from now)."""
        expires = expires or datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
        users = []
        for n, (account, guid) in enumerate(people):
            user = self.add_user(account, guid=guid)
            self.add_card(user, certificates=[(f"1B0000B0{n:06X}AFA01313FB77AC0001", expires)])
            users.append(user)
        return users

    # -- the scripts --------------------------------------------------------------

    def find(self, args: Any) -> dict[str, Any]:
        self.calls.append(("certmgmt_find", args))
        domain = str(args["domain"]).casefold()
        chosen: dict[str, CmUser | None] = {}
        unresolved = []
        for name in args.get("names") or []:
            name = str(name)
            user = next(
                (
                    u
                    for u in self.users.values()
                    if u.in_ad
                    and u.account.casefold() == name.casefold()
                    and u.domain.casefold() == domain
                ),
                None,
            )
            if user is None:
                unresolved.append(name)
            else:
                chosen[user.guid] = user
        for g in args.get("guids") or []:
            guid = _guid(g)
            if guid not in chosen:
                chosen[guid] = self.users.get(guid)
        found = []
        for guid, user in chosen.items():
            cards = [c for c in self.cards.values() if c.user_uuid == guid]
            if not cards:
                continue
            account = user.account if user is not None and user.in_ad else ""
            found.append(
                {
                    "uuid": guid,
                    "domain": str(args["domain"]),
                    "account": account,
                    "smartcards": [c.output() for c in cards if c.smartcard],
                    "profiles": [c.output() for c in cards if not c.smartcard],
                }
            )
        return {"users": found, "unresolved": unresolved}

    def doctor(self, args: Any) -> dict[str, Any]:
        self.calls.append(("certmgmt_doctor", args))
        missing = "missing_assemblies" in self.faults
        assemblies = [
            {
                "name": name,
                "found": not missing,
                "loaded": not missing,
                "version": "" if missing else VERSION,
                "error": "",
            }
            for name in ("Microsoft.Clm.Shared", "Microsoft.Clm.Provision")
        ]
        templates: int | None = None
        error = ""
        if not missing:
            if "api_fails" in self.faults:
                error = "System.Runtime.Remoting.RemotingException"
            else:
                templates = 0 if "no_templates" in self.faults else self.templates
        no_ad = "no_ad" in self.faults
        return {
            "assemblies": assemblies,
            "templates": templates,
            "templates_error": error,
            "ad": not no_ad,
            "ad_error": "System.Runtime.InteropServices.COMException" if no_ad else "",
        }

    def inventory(self, args: Any) -> dict[str, Any]:
        """certmgmt_inventory.ps1: whether Microsoft.Clm.Provision.dll is in `bin` and its
        FileVersion (read from the file, as `doctor` reports it); nothing about a person."""
        self.calls.append(("certmgmt_inventory", args))
        if not isinstance(args, dict) or not isinstance(args.get("bin"), str):
            raise PowerShellError("System.ArgumentException", "no bin", "InvalidArgument")
        found = "missing_assemblies" not in self.faults
        return {"found": found, "version": VERSION if found else ""}


def _guid(value: Any) -> str:
    """As `[guid][string]$g` in the script: a GUID, or the cast's error quoting it."""
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
