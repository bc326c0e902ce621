"""What the directory's own schema says about an attribute (its attributeSchema object in
the schema naming context): whether a correction may write it at all.

A correction writes single-valued Unicode strings only (`isSingleValued` TRUE,
`attributeSyntax` 2.5.5.12) that clients may set (not `systemOnly`, not constructed),
within the attribute's `rangeUpper`. Security attributes are none of these
(userAccountControl and adminCount are integers, unicodePwd an octet string,
servicePrincipalName and altSecurityIdentities multi-valued, member a DN), so this is the
second line behind the name deny-list in `connectors.ad.update`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars

from connectors._shared.ldap import seconds
from connectors.errors import NotSupported

__all__ = ["AttributeRule", "SchemaRules", "read_rules", "schema_nc"]

UNICODE_STRING = "2.5.5.12"  # attributeSyntax of a Unicode (Directory) String
_FLAG_ATTR_IS_CONSTRUCTED = 0x4  # systemFlags: computed on read, never stored
_ATTRIBUTES = [
    "lDAPDisplayName",
    "isSingleValued",
    "attributeSyntax",
    "systemOnly",
    "systemFlags",
    "rangeUpper",
]


@dataclass(frozen=True)
class AttributeRule:
    """An attribute as the directory's schema defines it."""

    name: str  # lDAPDisplayName, as the schema spells it
    single: bool
    syntax: str
    system_only: bool
    constructed: bool
    range_upper: int | None  # characters, for a string

    def refusal(self) -> str | None:
        """Why a correction may not write it (None: it may)."""
        if self.system_only or self.constructed:
            return f"{self.name} is maintained by the directory itself"
        if not self.single:
            return f"{self.name} is multi-valued in the directory's schema"
        if self.syntax != UNICODE_STRING:
            return f"{self.name} is not a Unicode string in the directory's schema"
        return None


class SchemaRules:
    """The rules of the attributes asked for, read once per connector: the schema changes
    rarely and only by an administrator (an extension is seen after a restart)."""

    def __init__(self, domain_nc: str) -> None:
        self._domain_nc = domain_nc
        self._rules: dict[str, AttributeRule | None] = {}  # None: not in the schema
        self._lock = threading.Lock()

    def rules(
        self, conn: ldap3.Connection, names: list[str], *, timeout: float
    ) -> Mapping[str, AttributeRule | None]:
        """Lower-case name -> its rule, or None when the schema does not define it."""
        with self._lock:
            missing = [n for n in names if n.lower() not in self._rules]
        if missing:
            nc = schema_nc(conn, self._domain_nc, timeout)
            found = read_rules(conn, nc, missing, timeout)
            with self._lock:
                for n in missing:
                    self._rules[n.lower()] = found.get(n.lower())
        with self._lock:
            return {n.lower(): self._rules[n.lower()] for n in names}

    def cached(self) -> frozenset[str]:
        """The lower-case names already read."""
        with self._lock:
            return frozenset(self._rules)


def schema_nc(conn: ldap3.Connection, domain_nc: str, timeout: float) -> str:
    """The schema naming context, from the rootDSE (a BASE search on "")."""
    try:
        conn.search(
            "",
            "(objectClass=*)",
            ldap3.BASE,
            attributes=["schemaNamingContext"],
            time_limit=seconds(timeout),
        )
        raw = next(
            (e["raw_attributes"] for e in conn.response if e.get("type") == "searchResEntry"),
            {},
        )
        value = _first({k.lower(): v for k, v in raw.items()}.get("schemanamingcontext"))
    except (lx.LDAPAttributeError, lx.LDAPNoSuchObjectResult):
        value = ""  # a directory without a readable rootDSE (ldap3's mock)
    # In a single-domain forest the schema sits in the configuration NC under the domain's.
    return value or f"CN=Schema,CN=Configuration,{domain_nc}"


def read_rules(
    conn: ldap3.Connection, nc: str, names: list[str], timeout: float
) -> dict[str, AttributeRule]:
    """The attributeSchema objects of `names` under `nc`, by lower-case lDAPDisplayName;
    a name the schema does not define is left out. `NotSupported` when there is no schema
    to read there."""
    wanted = "".join(f"(lDAPDisplayName={escape_filter_chars(n)})" for n in names)
    try:
        conn.search(
            nc,
            f"(&(objectClass=attributeSchema)(|{wanted}))",
            ldap3.LEVEL,
            attributes=_ATTRIBUTES,
            time_limit=seconds(timeout),
        )
    except lx.LDAPNoSuchObjectResult:
        raise NotSupported("the directory shows no schema to check attributes against") from None
    out: dict[str, AttributeRule] = {}
    for entry in conn.response:
        if entry.get("type") != "searchResEntry":
            continue
        text = {k.lower(): _first(v) for k, v in entry["raw_attributes"].items()}
        name = text.get("ldapdisplayname", "")
        flags, upper = text.get("systemflags", "0"), text.get("rangeupper", "")
        out[name.lower()] = AttributeRule(
            name=name,
            single=text.get("issinglevalued", "").upper() == "TRUE",
            syntax=text.get("attributesyntax", ""),
            system_only=text.get("systemonly", "").upper() == "TRUE",
            constructed=_is_int(flags) and bool(int(flags) & _FLAG_ATTR_IS_CONSTRUCTED),
            range_upper=int(upper) if upper.isdigit() else None,
        )
    return out


def _is_int(text: str) -> bool:
    return text.removeprefix("-").isdigit()


def _first(values: list[Any] | None) -> str:
    if not values:
        return ""
    v = values[0]
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
