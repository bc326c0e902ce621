"""Searching BHOLD users: what to ask GetInfo `users` for, and which answers are hits.

A `users` filter is an SQL Server LIKE pattern on the default alias (`CORP\\jdoe`) or on the
attribute named; the term's `%`, `_` and `[` are bracketed (`[%]`, `[_]`, `[[]`), so they match
only themselves. That BHOLD hands the brackets to LIKE as they are is not documented (the
reference shows only `%`), and its match is loose anyway (collation), so every candidate's
`user` record is read and compared again here, exactly and case-insensitively, before it
becomes a hit: the brackets only narrow what BHOLD answers, the comparison decides. A value
that can match no one (blank, too long, not sendable as XML) yields no clause: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from connectors.base import Hit, IdKind, ObjectRef, Query, QueryKind
from connectors.bhold.soap_text import (
    NUMERIC,
    BholdUser,
    Clause,
    Item,
    is_xml_text,
    parse_items,
    parse_user,
)
from connectors.errors import ConnectorError, NotSupported
from connectors.spelling import spellings

__all__ = ["ALIAS_ATTRIBUTES", "MAX_TERM", "UserSearch"]

MAX_TERM = 256  # longer than any alias or attribute value worth sending
# `find <attribute>=` names that mean the account (the default alias).
ALIAS_ATTRIBUTES = frozenset({"alias", "account", "accountname", "samaccountname"})
_ID_KEYS = {IdKind.MAIL: "mail", IdKind.UPN: "mail", IdKind.EMPLOYEE_ID: "employee_id"}

GetInfo = Callable[..., str]  # (function, p1, p2) -> the GetInfoResult, "" for none
# attributetypeid -> the keys a user's KEY/VALUE list may show it under (its id, description)
Keys = Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class UserSearch:
    """How one BHOLD's users are searched: `domain` is the NetBIOS domain of the default
    aliases, `types` maps search names (casefolded) to attributetypeids, at most `max_hits`
    users are read, and hits name the system `system`."""

    system: str
    domain: str
    types: Mapping[str, str]
    max_hits: int

    def clauses(self, query: Query) -> list[Clause]:
        """What to ask `users` for; [] when the value can match no one (nothing is sent).
        `NotSupported` for a kind of search whose attribute is not mapped."""
        types = self.types
        kind, value = query.kind, query.value
        if kind is QueryKind.ATTRIBUTE:
            attribute = (query.attribute or "").casefold()
            if attribute in ALIAS_ATTRIBUTES:
                return self._alias_clauses(value, prefix=False)
            if attribute not in types:
                raise NotSupported("BHOLD is not searched by that attribute")
            return _attribute_clauses(types[attribute], value, prefix=False)
        if kind in (QueryKind.MAIL_OR_UPN, QueryKind.EMPLOYEE_ID):
            key = "mail" if kind is QueryKind.MAIL_OR_UPN else "employee_id"
            if key not in types:
                raise NotSupported(f"BHOLD is not searched by {key.replace('_', ' ')} here")
            return _attribute_clauses(types[key], value, prefix=False)
        prefix = kind is QueryKind.PREFIX
        clauses = self._alias_clauses(value, prefix=prefix)
        if "display_name" in types:
            clauses += _attribute_clauses(types["display_name"], value, prefix=prefix)
        return clauses

    def verify_clauses(self, identifiers: Mapping[IdKind, str]) -> list[Clause]:
        """The ACCOUNT's alias (in DOMAIN, default `domain`), and the MAIL, UPN and
        EMPLOYEE_ID where mapped. `NotSupported` with none of them."""
        types = self.types
        clauses: list[Clause] = []
        searchable = False
        account = identifiers.get(IdKind.ACCOUNT)
        if account is not None:
            searchable = True
            domain = identifiers.get(IdKind.DOMAIN) or ""
            if not _usable(domain) or "\\" in domain:  # none, or not a NetBIOS name: ours
                domain = self.domain
            alias = account if "\\" in account else f"{domain}\\{account}"
            clauses += self._alias_clauses(alias, prefix=False)
        for kind, key in _ID_KEYS.items():
            value = identifiers.get(kind)
            if value is not None and key in types:
                searchable = True
                clauses += _attribute_clauses(types[key], value, prefix=False)
        if not searchable:
            raise NotSupported("BHOLD is searched by account, or by mail or employee ID")
        return clauses

    def hits(self, clauses: list[Clause], get_info: GetInfo, keys: Keys | None = None) -> list[Hit]:
        """Users matching any clause, as hits (`users`, whose `user` records they are)."""
        return [self.hit(user, keys) for user in self.users(clauses, get_info, keys)]

    def users(
        self, clauses: list[Clause], get_info: GetInfo, keys: Keys | None = None
    ) -> list[BholdUser]:
        """Users matching any clause: each `users` answer filtered exactly here, then each
        candidate's `user` record read for its identifiers (and the attribute clauses).
        `keys` names each attributetypeid's list keys (default: the id itself).

        A `users` item without an alias stays a candidate, and a record that shows no alias
        where an alias clause must decide raises `ConnectorError`: unknown is never "no one"
        (an erasure's check of absence relies on it)."""
        names = keys or {}
        candidates: dict[str, Item] = {}
        for clause in dict.fromkeys(clauses):
            items = parse_items(get_info("users", clause.pattern, clause.attribute), "users")
            for item in items:
                if not NUMERIC.fullmatch(item.id):
                    raise ConnectorError("BHOLD answered GetInfo users without numeric ids")
                alias = item.attrs.get("alias")
                if clause.attribute or alias is None or clause.matches(alias):
                    candidates.setdefault(item.id, item)
        users = []
        ordered = sorted(candidates.values(), key=lambda i: (i.description.casefold(), i.id))
        for item in ordered[: self.max_hits]:
            user = parse_user(get_info("user", item.id))
            if user is None or user.id != item.id:  # gone, or hidden, since `users` answered
                continue
            verdicts = [_matches(c, user, names) for c in clauses]
            if any(verdicts):
                users.append(user)
            elif None in verdicts:
                raise ConnectorError(
                    "BHOLD's user record shows no default alias to compare with the search: "
                    "check what GetInfo user answers (python -m bot doctor)"
                )
        return users

    def _alias_clauses(self, value: str, *, prefix: bool) -> list[Clause]:
        """The default alias `DOMAIN\\value`; a value holding a `\\` is a whole alias."""
        if not _usable(value):
            return []
        return [
            Clause("", s if "\\" in s else f"{self.domain}\\{s}", prefix) for s in spellings(value)
        ]

    def hit(self, user: BholdUser, keys: Keys | None = None) -> Hit:
        """The hit of a user `users` found."""
        keys = keys or {}
        domain, sep, account = user.alias.partition("\\")
        if not sep:  # an alias without a domain
            domain, account = "", user.alias
        ids = {IdKind.ACCOUNT: account}
        if domain:
            ids[IdKind.DOMAIN] = domain
        if user.description:
            ids[IdKind.DISPLAY_NAME] = user.description
        types = self.types
        for kind, key in ((IdKind.MAIL, "mail"), (IdKind.EMPLOYEE_ID, "employee_id")):
            values = user.get(*_keys(types[key], keys)) if key in types else []
            if values and values[0]:
                ids[kind] = values[0]
        label = f"{user.description} ({user.alias})" if user.description else user.alias
        return Hit(ref=ObjectRef(self.system, user.id), label=label, identifiers=ids)


def _usable(value: str) -> bool:
    """Whether `value` can match anyone: not blank, not too long, sendable as XML."""
    return bool(value.strip()) and len(value) <= MAX_TERM and is_xml_text(value)


def _attribute_clauses(attribute: str, value: str, *, prefix: bool) -> list[Clause]:
    if not _usable(value):
        return []
    return [Clause(attribute, s, prefix) for s in spellings(value)]


def _keys(attribute: str, keys: Keys) -> frozenset[str]:
    return keys.get(attribute, frozenset()) | {attribute}


def _matches(clause: Clause, user: BholdUser, keys: Keys) -> bool | None:
    """Whether `user` matches `clause`; None when its record shows no alias to compare."""
    if not clause.attribute:
        return clause.matches(user.alias) if user.alias else None
    return any(clause.matches(v) for v in user.get(*_keys(clause.attribute, keys)))
