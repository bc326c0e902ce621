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

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import MimbotError, NotFound
from bot.requests import Subject
from bot.search import SearchResult
from connectors.base import Hit, IdKind

__all__ = ["AmbiguousSubject", "Match", "SystemsUnavailable", "group_hits", "single_subject"]

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


class AmbiguousSubject(MimbotError):
    """The term matches several people; the message lists them for the caller only."""

    def __init__(self, matches: Sequence[Match]) -> None:
        self.matches = tuple(matches)
        lines = "\n".join(
            f"• {m.label} ({', '.join(sorted({h.ref.system for h in m.hits}))})"
            for m in matches[:20]
        )
        more = f"\n…and {len(matches) - 20} more" if len(matches) > 20 else ""
        super().__init__(
            f"That matches {len(matches)} people:\n{lines}{more}\n"
            "Use a precise identifier: account name, mail, UPN or employee ID."
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
    silent = [r.label for r in result.systems if r.outcome.silent]
    if silent:
        raise SystemsUnavailable(
            f"Cannot plan safely: {', '.join(silent)} did not answer. Nothing was created; "
            "try again when every system is reachable."
        )
    matches = group_hits(result)
    if not matches:
        raise NotFound("Nobody matches that in any system. Nothing was created.")
    if len(matches) > 1:
        raise AmbiguousSubject(matches)
    return matches[0]
