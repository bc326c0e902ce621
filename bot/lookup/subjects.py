"""Subject resolution: which hits are the same person, and is the term one person?

Hits from different systems are joined when they share a strong identifier
(UPN, mail, employee ID, objectGUID, MV object id), or an account name that no
other identifier both hold contradicts: an account is unique only within its
domain, so EMEA\asmith (Anna, anna@) and an AD asmith (Alan, alan@) stay two
people. (Values that differ between systems for one person, such as a UPN
suffix, do not split a person joined by mail or employee ID.) Two hits from the
same system are never merged: two AD accounts sharing a mail are two people,
shown side by side, never merged silently. When in doubt the people stay apart:
an erasure then asks for a precise identifier instead of erasing the wrong one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from bot.errors import MimbotError, NotFound
from bot.lookup.search import SearchResult
from connectors.base import Hit, IdKind, ObjectRef, Query, QueryKind
from connectors.spelling import spellings

__all__ = [
    "AmbiguousSubject",
    "ImpreciseSubject",
    "Match",
    "NobodyMatches",
    "Subject",
    "SystemsUnavailable",
    "group_hits",
    "searched_for",
    "single_subject",
]


@dataclass(frozen=True)
class Subject:
    """The one person a request is about: what an approver needs, and every identifier known."""

    display_name: str
    account: str | None
    identifiers: Mapping[IdKind, str] = field(default_factory=dict)
    refs: tuple[ObjectRef, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _SUBJECT.dump_python(self, mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subject:
        return _SUBJECT.validate_python(data)


_SUBJECT: TypeAdapter[Subject] = TypeAdapter(Subject)


STRONG = (
    IdKind.ACCOUNT,
    IdKind.UPN,
    IdKind.MAIL,
    IdKind.EMPLOYEE_ID,
    IdKind.OBJECT_GUID,
    IdKind.MV_OBJECT_ID,
    IdKind.MIM_OBJECT_ID,
)


@dataclass(frozen=True)
class Match:
    """One person as several systems see them."""

    hits: tuple[Hit, ...]

    @property
    def label(self) -> str:
        return self.hits[0].label

    def subject(self) -> Subject:
        ids: dict[IdKind, str] = {}
        for hit in self.hits:
            for kind, value in hit.identifiers.items():
                ids.setdefault(kind, value)
        return Subject(
            display_name=ids.get(IdKind.DISPLAY_NAME) or self.label,
            account=ids.get(IdKind.ACCOUNT),
            identifiers=ids,
            refs=tuple(h.ref for h in self.hits),
        )


def searched_for(query: Query) -> str:
    """The term a refusal names, quoted as the caller would type it (plain text: the
    render layer escapes it)."""
    if query.kind is QueryKind.ATTRIBUTE:
        return f'{query.attribute}="{query.value}"'
    return f'"{query.value}*"' if query.kind is QueryKind.PREFIX else f'"{query.value}"'


def _quote_hint(query: Query | None) -> str:
    """One word of a name, unquoted, is all that was searched for: `delete John Smith left`
    searches "John" (the rest is the reason). Say so, and how to ask for the whole name."""
    if query is None or query.kind is not QueryKind.NAME or " " in query.value:
        return ""
    return (
        f"\nOnly {searched_for(query)} was searched for: quote a name with spaces, "
        'e.g. /mim delete "Jane Doe" [reason].'
    )


class AmbiguousSubject(MimbotError):
    """The term matches several people; the message lists them for the caller only."""

    def __init__(self, matches: Sequence[Match], query: Query | None = None) -> None:
        self.matches = tuple(matches)
        self.query = query
        lines = "\n".join(
            f"• {m.label} ({', '.join(sorted({h.ref.system for h in m.hits}))})"
            for m in matches[:20]
        )
        more = f"\n…and {len(matches) - 20} more" if len(matches) > 20 else ""
        what = searched_for(query) if query else "That"
        super().__init__(
            f"{what} matches {len(matches)} people:\n{lines}{more}\n"
            "Use a precise identifier: account name, mail, UPN or employee ID." + _quote_hint(query)
        )


class NobodyMatches(NotFound):
    """No system holds anyone matching the term; the message names the term."""

    def __init__(self, query: Query, *, creating: bool = True) -> None:
        self.query = query
        super().__init__(
            f"Nobody matches {searched_for(query)} in any system."
            + (" Nothing was created." if creating else "")
            + _quote_hint(query)
        )


class ImpreciseSubject(MimbotError):
    """One person matches, but only by a part of their name (the directory's name
    resolution: a given name, a surname, "surname given"). Such a match may leave out a
    system that holds the person under that name's other parts (the metaverse searches
    account and display name only), so an erasure asks for the person's own identifier."""

    def __init__(self, match: Match, query: Query) -> None:
        self.match = match
        self.query = query
        account = match.subject().account
        how = (
            f"/mim delete {account} [reason]"
            if account
            else "an account name, mail, UPN or employee ID"
        )
        super().__init__(
            f"{searched_for(query)} matches one person by a part of the name only: "
            f"{match.label}. Nothing was created. An erasure needs a precise identifier: "
            f"{how}."
        )


class SystemsUnavailable(MimbotError):
    """Planning an erasure while a system cannot answer would miss that system's data."""


# What must not disagree for a shared account name to join two hits.
_MUST_AGREE = (*STRONG, IdKind.DOMAIN)


def group_hits(result: SearchResult) -> list[Match]:
    """Join hits into people (union-find on shared strong identifiers; an account name
    joins only when nothing else disagrees)."""
    hits = [h for r in result.systems for h in r.hits]
    parent = list(range(len(hits)))
    systems = [{h.ref.system} for h in hits]
    held = [{k: {v.casefold()} for k in _MUST_AGREE if (v := h.identifiers.get(k))} for h in hits]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple[IdKind, str], int] = {}
    for i, hit in enumerate(hits):
        for kind in STRONG:
            value = hit.identifiers.get(kind)
            if not value:
                continue
            key = (kind, value.casefold())
            if key not in seen:
                seen[key] = i
                continue
            a, b = root(seen[key]), root(i)
            if a == b or systems[a] & systems[b]:
                continue
            # An account name is unique only within its domain: on its own it joins two
            # hits only when nothing they both hold (domain, mail, ...) disagrees.
            if kind is IdKind.ACCOUNT and (
                _conflict(held[a], held[b])
                # a domain on one side only: the other could be any domain's namesake
                or (IdKind.DOMAIN in held[a]) != (IdKind.DOMAIN in held[b])
            ):
                continue
            parent[b] = a
            systems[a] |= systems[b]
            for k, values in held[b].items():
                held[a].setdefault(k, set()).update(values)
    groups: dict[int, list[Hit]] = {}
    for i, hit in enumerate(hits):
        groups.setdefault(root(i), []).append(hit)
    return [Match(tuple(g)) for g in groups.values()]


def _conflict(a: dict[IdKind, set[str]], b: dict[IdKind, set[str]]) -> bool:
    return any(not (a[k] & b[k]) for k in a.keys() & b.keys())


def single_subject(result: SearchResult) -> Match:
    """Exactly one person, with every system having answered; else a clear refusal."""
    query = result.query
    silent = [r.label for r in result.systems if r.outcome.silent]
    if silent:
        raise SystemsUnavailable(
            f"Cannot plan safely for {searched_for(query)}: {', '.join(silent)} did not "
            "answer. Nothing was created; try again when every system is reachable."
        )
    matches = group_hits(result)
    if not matches:
        raise NobodyMatches(query)
    if len(matches) > 1:
        raise AmbiguousSubject(matches, query)
    if query.kind is QueryKind.NAME and not _named_exactly(matches[0], query.value):
        raise ImpreciseSubject(matches[0], query)
    return matches[0]


def _named_exactly(match: Match, value: str) -> bool:
    """Some hit's account or display name is the term itself (in either spelling)."""
    forms = {s.casefold() for s in spellings(value)}
    return any(
        (h.identifiers.get(k) or "").casefold() in forms
        for h in match.hits
        for k in (IdKind.ACCOUNT, IdKind.DISPLAY_NAME)
    )
