"""What a connector says about its system for the estate's data map (`datamap`, GDPR
Art. 30): which personal attributes it holds, how many persons, what the bot reaches it
with, and what keeps data after an erasure. From configuration, schemas and counts only:
no person's data is read into any of these, and none may appear in them.

Two optional capabilities (connectors/capabilities.py) return these:

    DescribesData      `inventory()` -> `SystemInventory`   every system the bot reaches
    MapsTheMetaverse   `sync_map()`  -> `SyncMap`            the MIM Sync Service: its MAs,
                                                            import precedence, export
                                                            flows and deletion rule
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from connectors.lineage import DeletionKind, PrecedenceKind

__all__ = [
    "AgentInfo",
    "Category",
    "ExportFlow",
    "HeldAttribute",
    "ImportSource",
    "KeptCopy",
    "SyncMap",
    "SystemInventory",
    "category_of",
    "held",
]


class Category(enum.StrEnum):
    """The kinds of personal data the map groups attributes by."""

    IDENTITY = "identity"  # names, accounts, identifiers, photos
    CONTACT = "contact"  # mail, phones, addresses
    EMPLOYMENT = "employment"  # job, department, manager, employee number, dates
    ACCESS = "access"  # groups, roles, org units, permissions, account state
    CREDENTIALS = "credentials"  # certificates, smart cards, SSPR registration, passwords
    OTHER = "other"  # personal but none of the above (a note, a free text)


# Exact names first (lower case), then patterns, first match wins. The names are those
# the connectors and the demo estate use (AD lDAPDisplayNames, metaverse and MIM Service
# attribute names, HR columns); anything else falls to the patterns, then OTHER.
_NAMES: dict[str, Category] = {
    **dict.fromkeys(
        (
            "cn",
            "displayname",
            "givenname",
            "sn",
            "firstname",
            "lastname",
            "middlename",
            "initials",
            "samaccountname",
            "accountname",
            "userprincipalname",
            "upn",
            "objectguid",
            "objectsid",
            "distinguishedname",
            "login",
            "account",
            "alias",
            "thumbnailphoto",
            "jpegphoto",
            "photo",
            "full_name",
            "domain",
            "mailnickname",
            "uid",
            "objectid",
            "description",
            "birth_date",
            "birthdate",
            "gender",
            "personaltitle",  # a form of address (Mr, Dr), not a job
            "sourcedomain",
            "sourceuserresourceid",
            "privuserresourceid",
            "uuid",
            "language",
        ),
        Category.IDENTITY,
    ),
    **dict.fromkeys(
        (
            "mail",
            "email",
            "proxyaddresses",
            "telephonenumber",
            "mobile",
            "mobilephone",
            "officephone",
            "othertelephone",
            "homephone",
            "home_phone",
            "ipphone",
            "pager",
            "facsimiletelephonenumber",
            "streetaddress",
            "address",
            "l",
            "city",
            "st",
            "postalcode",
            "co",
            "c",
            "country",
            "wwwhomepage",
            "physicaldeliveryofficename",
            "officelocation",
        ),
        Category.CONTACT,
    ),
    **dict.fromkeys(
        (
            "title",
            "jobtitle",
            "department",
            "company",
            "manager",
            "employeeid",
            "employeenumber",
            "employeetype",
            "emp_no",
            "costcenter",
            "division",
            "employeestartdate",
            "employeeenddate",
            "hire_date",
            "start_date",
            "end_date",
        ),
        Category.EMPLOYMENT,
    ),
    **dict.fromkeys(
        (
            "memberof",
            "member",
            "useraccountcontrol",
            "roles",
            "orgunits",
            "permissions",
            "accountdisabled",
            "useraccountdisabled",
            "admincount",
            "privaccountname",
            "privdisplayname",
        ),
        Category.ACCESS,
    ),
    **dict.fromkeys(
        (
            "usercertificate",
            "certificates",
            "smartcards",
            "profiles",
            "authnwfregistered",
            "authnwflockedout",
            "authnlockoutregistrationid",
            "msidmonetimepasswordemailaddress",
            "msidmonetimepasswordmobilephone",
            "unicodepwd",
            "userpassword",
        ),
        Category.CREDENTIALS,
    ),
}
_PATTERNS: tuple[tuple[re.Pattern[str], Category], ...] = (
    (re.compile(r"cert|smartcard|password|pwd|authn|otp|sspr"), Category.CREDENTIALS),
    (re.compile(r"group|role|member|orgunit|permission|privilege|entitle"), Category.ACCESS),
    (re.compile(r"mail|phone|mobile|address|street|city|postal|zip|country"), Category.CONTACT),
    (
        re.compile(r"employ|department|dept|title|job|manager|company|cost|hire|salary|payroll"),
        Category.EMPLOYMENT,
    ),
    (re.compile(r"name|account|guid|sid|photo|birth|alias|\bid\b|_id$"), Category.IDENTITY),
)


def category_of(attribute: str) -> Category:
    """The category of a personal attribute, by its name (case-insensitive)."""
    key = attribute.strip().lower()
    if key in _NAMES:
        return _NAMES[key]
    for pattern, category in _PATTERNS:
        if pattern.search(key):
            return category
    return Category.OTHER


@dataclass(frozen=True, order=True)
class HeldAttribute:
    """One attribute a system holds about a person, named as that system names it."""

    name: str
    category: Category


def held(names: object) -> tuple[HeldAttribute, ...]:
    """`HeldAttribute`s for attribute names, once each (case-insensitively), sorted."""
    seen: dict[str, str] = {}
    for name in names:  # type: ignore[attr-defined]
        seen.setdefault(str(name).lower(), str(name))
    return tuple(sorted(HeldAttribute(n, category_of(n)) for n in seen.values()))


@dataclass(frozen=True)
class KeptCopy:
    """Something that keeps a person's data after an erasure, or until a date: a tombstone,
    a retention period, a certificate's lifetime, a run history. `period` is human text
    ("180 days", "until each certificate expires", "no date"); `days` where it is a
    number; `erasure` what an erasure request does about it."""

    what: str
    period: str
    erasure: str
    days: int | None = None


@dataclass(frozen=True)
class SystemInventory:
    """What one system holds, as its connector knows it.

    `technology` is what the bot reaches it with ("LDAP over TLS (ldap3)"), `version` the
    product's where readable. `persons` is how many person objects it holds (None when it
    cannot be counted cheaply or at all). `kept` lists what keeps data after an erasure.
    `notes` say what the inventory could not establish (safe text: no value)."""

    system: str
    label: str
    technology: str
    attributes: tuple[HeldAttribute, ...]
    persons: int | None = None
    version: str | None = None
    kept: tuple[KeptCopy, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentInfo:
    """One management agent of the Sync Service: its name, type (`AD`, `Extensible2`, …),
    the description an administrator gave it, and its deprovisioning action (`delete-object`,
    `make-explicit-disconnector`, …; None when not configured)."""

    name: str
    ma_type: str | None = None
    description: str | None = None
    deprovisioning: str | None = None


@dataclass(frozen=True)
class ImportSource:
    """Where a metaverse attribute comes from: its import precedence and the MAs that flow
    into it, highest precedence first for `RANKED` (each with the source attribute)."""

    mv_attribute: str
    kind: PrecedenceKind
    agents: tuple[tuple[str, str | None], ...]  # (MA name, its source attribute or None)


@dataclass(frozen=True)
class ExportFlow:
    """A metaverse attribute (or several, for a scripted flow) exported to an MA's
    connected system as `cd_attribute`. `mapping` is the flow's kind (direct, scripted,
    constant, sync-rule)."""

    agent: str
    cd_attribute: str
    mv_attributes: tuple[str, ...]
    mapping: str


@dataclass(frozen=True)
class SyncMap:
    """The metaverse's configuration for persons: what the Sync Service knows of where each
    attribute comes from and goes to, and when a person's metaverse object is deleted."""

    person_type: str
    mv_attributes: tuple[str, ...]
    agents: tuple[AgentInfo, ...]
    imports: tuple[ImportSource, ...]
    exports: tuple[ExportFlow, ...]
    deletion_kind: DeletionKind | None  # None: no rule is known for persons
    deletion_text: str  # "declared-any: deleting the HR connector triggers it"
