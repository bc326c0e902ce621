"""Rectification in Active Directory: replace (or clear) personal-data string attributes
of one user, by objectGUID, and read them back.

Only the `writable` attributes (a positive allow-list, apart from `attributes`, which
`show` reads) can be written, and never one that secures, names or keys the account
(`refused_for_writing`: userAccountControl, passwords, SPNs, certificate mappings, any
msDS-*, group membership, logon scripts and home folders, sAMAccountName, mail, ...).
Before anything is written, each attribute is also checked against the directory's own
schema: it must be a single-valued Unicode string (attributeSchema `isSingleValued`
TRUE, `attributeSyntax` 2.5.5.12) that clients may write. Values go to ldap3 as data
(LDAP modify has no filter syntax to escape); a value an attribute of this kind cannot
hold (control characters, longer than the schema's rangeUpper or 1024 characters) is
refused before anything is sent, by the check every updating connector shares
(connectors/_shared/changes.py) and then by the schema's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import ldap3

from connectors._shared.changes import ChangeRules
from connectors._shared.ldap import ldap_errors
from connectors._shared.read_back import Messages, apply_and_read_back
from connectors.ad.schema import SchemaRules
from connectors.base import Change, ObjectRef, StepResult, UpdatePlan
from connectors.errors import NotFound, NotSupported

__all__ = ["DEFAULT_WRITABLE", "AdUpdater", "refused_for_writing"]

# Personal-data strings HR feeds usually flow to AD: names, job, organisation, office,
# phones and postal address. All single-valued Unicode strings in the AD schema.
# (description is multi-valued in the schema; countryCode is an integer.)
DEFAULT_WRITABLE = (
    "givenName",
    "sn",
    "initials",
    "middleName",
    "personalTitle",
    "displayName",
    "title",
    "department",
    "company",
    "physicalDeliveryOfficeName",
    "telephoneNumber",
    "mobile",
    "homePhone",
    "facsimileTelephoneNumber",
    "streetAddress",
    "l",
    "st",
    "postalCode",
    "c",
    "co",
)

# What names, keys or joins the account: changing it is an account operation (a rename,
# a mailbox move, an HR join), not a correction.
NOT_WRITABLE = frozenset(
    {"samaccountname", "userprincipalname", "manager", "proxyaddresses", "distinguishedname",
     "objectguid", "objectsid", "whenchanged", "cn", "name", "mail", "employeeid",
     "employeenumber", "mailnickname", "legacyexchangedn", "targetaddress", "uid",
     "uidnumber", "gidnumber"}
)  # fmt: skip
# What secures the account or decides what it may do: writing any of it is privilege
# escalation or account takeover (Kerberoasting, certificate mapping, delegation,
# shadow credentials, a logon script), however the configuration came to name it.
SECURITY = frozenset(
    {"useraccountcontrol", "unicodepwd", "userpassword", "dbcspwd", "ntpwdhistory",
     "lmpwdhistory", "supplementalcredentials", "pwdlastset", "accountexpires",
     "lockouttime", "badpwdcount", "serviceprincipalname", "altsecurityidentities",
     "member", "memberof", "primarygroupid", "sidhistory", "admincount", "objectclass",
     "objectcategory", "ntsecuritydescriptor", "scriptpath", "homedirectory", "homedrive",
     "profilepath", "logonhours", "userworkstations", "userparameters", "usercertificate",
     "usersmimecertificate", "iscriticalsystemobject", "samaccounttype", "grouptype",
     "dnshostname", "unixhomedirectory", "loginshell", "msnpallowdialin",
     "unixuserpassword", "msnpcallingstationid", "msnpsavedcallingstationid"}
)  # fmt: skip
# Whole families: msDS-* (KeyCredentialLink, AllowedToDelegateTo,
# AllowedToActOnBehalfOfOtherIdentity, ...), mS-DS-ConsistencyGuid (the sync anchor),
# Exchange's and Skype's addressing; Remote Desktop's logon program, home and profile
# paths (msTSInitialProgram runs at an RDP logon, as scriptPath does at a console one);
# RADIUS and dial-in, Unix (SFU) logons, and certificate enrolment (msPKI-*).
SECURITY_PREFIXES = (
    "msds-",
    "ms-ds-",
    "msexch",
    "msrtcsip-",
    "msts",
    "msradius",
    "msnp",
    "mssfu30",
    "mspki",
)
MAX_VALUE = 1024
NOTE = (
    "AD is changed directly: if AD is not this attribute's source of authority, the next "
    "sync writes the source's value back"
)

Borrow = Callable[[], AbstractContextManager[ldap3.Connection]]
Lookup = Callable[..., dict[str, Any] | None]


def refused_for_writing(name: str) -> str | None:
    """Why a correction may never write the AD attribute `name` (None: it may, as far as
    its name says; the schema is checked before writing). Case-insensitive."""
    low = name.lower()
    if low in SECURITY or low.startswith(SECURITY_PREFIXES):
        return "it secures the account or grants access"
    if low in NOT_WRITABLE:
        return "it names or keys the account"
    return None


class AdUpdater:
    """Args: the `writable` allow-list; `connection` borrows a bound connection;
    `lookup(conn, guid, attrs, timeout)` finds the live user in scope; `domain_nc` places
    the schema when the rootDSE does not say where it is."""

    def __init__(
        self,
        writable: Iterable[str],
        *,
        connection: Borrow,
        lookup: Lookup,
        domain_nc: str = "",
    ) -> None:
        self._rules = ChangeRules(
            system="AD",
            allowed={a.casefold(): a for a in writable},
            max_length=MAX_VALUE,
            length=len,  # code points, as the schema's rangeUpper is checked (`_checked`)
            refused=refused_for_writing,  # even when a settings object names it
        )
        self._borrow = connection
        self._lookup = lookup
        self.schema = SchemaRules(domain_nc)  # read once per connector

    def plan(self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float) -> UpdatePlan:
        wanted = self._rules.check(changes)
        with self._borrow() as conn, ldap_errors():
            wanted = self._checked(conn, wanted, timeout)
            if self._lookup(conn, ref.id, [], timeout) is None:
                raise NotFound("no Active Directory user has that objectGUID")
        names = ", ".join(c.attribute for c in wanted)
        return UpdatePlan(
            ref, wanted, f"Update {len(wanted)} attribute(s) of the AD user ({names})", (NOTE,)
        )

    def apply(self, plan: UpdatePlan, *, timeout: float) -> StepResult:
        wanted = self._rules.check(plan.changes)  # a stored plan is checked again
        with self._borrow() as conn, ldap_errors():
            wanted = self._checked(conn, wanted, timeout)
            attrs = [c.attribute for c in wanted]

            def send(entry: dict[str, Any], todo: tuple[Change, ...]) -> None:
                conn.modify(
                    entry["dn"],
                    {
                        c.attribute: [(ldap3.MODIFY_REPLACE, [c.value])]
                        if c.value
                        else [(ldap3.MODIFY_DELETE, [])]
                        for c in todo
                    },
                )

            return apply_and_read_back(
                plan.ref,
                wanted,
                read=lambda: self._lookup(conn, plan.ref.id, attrs, timeout),
                differing=_differing,
                send=send,
                messages=Messages(
                    missing="no Active Directory user has that objectGUID",
                    vanished="the Active Directory user went away during the update",
                    not_shown="AD shows other values for {names}",
                ),
            )

    def _checked(
        self, conn: ldap3.Connection, changes: tuple[Change, ...], timeout: float
    ) -> tuple[Change, ...]:
        """The changes under the schema's spelling, each attribute a single-valued Unicode
        string there and each value within its rangeUpper; `NotSupported` otherwise."""
        rules = self.schema.rules(conn, [c.attribute for c in changes], timeout=timeout)
        out = []
        for change in changes:
            rule = rules.get(change.attribute.lower())
            if rule is None:
                raise NotSupported(f"{change.attribute} is not in the directory's schema")
            why = rule.refusal()
            if why is not None:
                raise NotSupported(f"{why}: a correction writes single-valued strings only")
            value = change.value
            if value is not None and rule.range_upper is not None and len(value) > rule.range_upper:
                raise NotSupported(
                    f"the value for {rule.name} is longer than AD allows "
                    f"({rule.range_upper} characters)"
                )
            out.append(Change(rule.name, value))
        return tuple(out)


def _differing(entry: Mapping[str, Any], changes: tuple[Change, ...]) -> tuple[Change, ...]:
    return tuple(c for c in changes if _value(entry, c.attribute) != (c.value or None))


def _value(entry: Mapping[str, Any], attribute: str) -> str | None:
    raw = entry.get("raw_attributes", {}).get(attribute) or []
    return raw[0].decode("utf-8", "replace") if raw else None
