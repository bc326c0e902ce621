"""Rectification in Active Directory: replace (or clear) configured personal-data
attributes of one user, by objectGUID, and read them back.

Only attributes in the connector's `attributes` setting can be written, and never those
that name or key the account (sAMAccountName, userPrincipalName, the DN-valued manager,
multi-valued proxyAddresses): changing those is an account operation, not a correction.
Values go to ldap3 as data (LDAP modify has no filter syntax to escape); a value an
attribute of this kind cannot hold (control characters, over 1024 characters) is refused
before anything is sent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import ldap3

from connectors.base import Change, ObjectRef, StepResult, UpdatePlan
from connectors.errors import NotFound, NotSupported
from connectors.ldap_support import ldap_errors
from connectors.read_back import Messages, apply_and_read_back

__all__ = ["AdUpdater"]

# What names, keys or joins the account: changing it is an account operation (a rename,
# a mailbox move, an HR join), not a correction.
NOT_WRITABLE = frozenset(
    {"samaccountname", "userprincipalname", "manager", "proxyaddresses", "distinguishedname",
     "objectguid", "objectsid", "whenchanged", "cn", "name", "mail", "employeeid",
     "employeenumber"}
)  # fmt: skip
MAX_VALUE = 1024
NOTE = (
    "AD is changed directly: if AD is not this attribute's source of authority, the next "
    "sync writes the source's value back"
)

Borrow = Callable[[], AbstractContextManager[ldap3.Connection]]
Lookup = Callable[..., dict[str, Any] | None]


class AdUpdater:
    """Args: the configured personal-data `attributes`; `connection` borrows a bound
    connection; `lookup(conn, guid, attrs, timeout)` finds the live user in scope."""

    def __init__(self, attributes: tuple[str, ...], *, connection: Borrow, lookup: Lookup) -> None:
        self._writable = {a.lower(): a for a in attributes if a.lower() not in NOT_WRITABLE}
        self._borrow = connection
        self._lookup = lookup

    def plan(self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float) -> UpdatePlan:
        wanted = self._wanted(changes)
        with self._borrow() as conn, ldap_errors():
            if self._lookup(conn, ref.id, [], timeout) is None:
                raise NotFound("no Active Directory user has that objectGUID")
        names = ", ".join(c.attribute for c in wanted)
        return UpdatePlan(
            ref, wanted, f"Update {len(wanted)} attribute(s) of the AD user ({names})", (NOTE,)
        )

    def apply(self, plan: UpdatePlan, *, timeout: float) -> StepResult:
        wanted = self._wanted(plan.changes)  # a stored plan is checked again
        attrs = [c.attribute for c in wanted]
        with self._borrow() as conn, ldap_errors():

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

    def _wanted(self, changes: tuple[Change, ...]) -> tuple[Change, ...]:
        if not changes:
            raise NotSupported("no attribute to change")
        out: dict[str, Change] = {}
        for change in changes:
            name = self._writable.get(change.attribute.lower())
            if name is None:
                raise NotSupported(f"{_shown(change.attribute)} cannot be changed in AD here")
            value = change.value
            if value is not None and (
                len(value) > MAX_VALUE
                or any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)
            ):
                raise NotSupported(f"the value for {name} cannot be stored in AD")
            if name in out and out[name].value != value:
                raise NotSupported(f"two different values for {name}")
            out[name] = Change(name, value)
        return tuple(out.values())


def _differing(entry: Mapping[str, Any], changes: tuple[Change, ...]) -> tuple[Change, ...]:
    return tuple(c for c in changes if _value(entry, c.attribute) != (c.value or None))


def _value(entry: Mapping[str, Any], attribute: str) -> str | None:
    raw = entry.get("raw_attributes", {}).get(attribute) or []
    return raw[0].decode("utf-8", "replace") if raw else None


def _shown(name: str) -> str:
    """An attribute name for a message, or a stand-in if it could be a typed value."""
    return (
        name
        if name.isascii() and name.replace("-", "").isalnum() and len(name) < 64
        else ("that attribute")
    )
