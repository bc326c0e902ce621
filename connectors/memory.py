"""An in-memory connector: the stand-in below `bot/` in domain tests (httpx's MockTransport role).

It implements the same contract as the real connectors, including idempotent
deletes, so the domain (search, requests, runner) is tested for real over it.
Failures are injected per method: `fail["search"] = Unreachable("down")`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from connectors.base import (
    AttributeValue,
    Capability,
    Change,
    DeletePlan,
    Health,
    Hit,
    HitRecord,
    IdKind,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
    StepResult,
    UpdatePlan,
    Verification,
)
from connectors.errors import ConnectorError, NotFound, NotSupported
from connectors.spelling import spellings

__all__ = ["MemoryConnector", "Person", "RecordsMemoryConnector"]


@dataclass
class Person:
    id: str
    identifiers: dict[IdKind, str]
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


# Identifiers many people may share.
_SHARED = frozenset({IdKind.DOMAIN, IdKind.DISPLAY_NAME})


class MemoryConnector:
    """Holds `Person`s in a dict; searches them the way a directory would."""

    capabilities = frozenset(Capability)
    management_agent: str | None = None  # tests name one where they need it

    def __init__(
        self,
        name: str = "memory",
        label: str = "Memory",
        people: list[Person] | None = None,
        *,
        delay: float = 0.0,
        authority_rank: int = 100,
    ) -> None:
        self.name, self.label = name, label
        self.people = {p.id: p for p in people or []}
        self.delay = delay
        self.authority_rank = authority_rank
        self.fail: dict[str, ConnectorError] = {}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def _enter(self, method: str) -> None:
        with self._lock:
            self.calls.append(method)
        if self.delay:
            time.sleep(self.delay)
        if method in self.fail:
            raise self.fail[method]

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        self._enter("search")
        return [self._hit(p) for p in self._matching(query)]

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        self._enter("read")
        return self._record(ref, self._person(ref))

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        self._enter("plan_delete")
        self._person(ref)
        return DeletePlan(
            ref,
            PlanAction.DELETE,
            f"erase the object in {self.label}",
            authority_rank=self.authority_rank,
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        self._enter("apply_delete")
        with self._lock:
            gone = self.people.pop(plan.ref.id, None)
        return StepResult(plan.ref, done=True, already_absent=gone is None)

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        self._enter("verify_absent")
        if not identifiers:
            raise NotSupported("no identifier to search by")
        # As a directory looks a person up: by what names them, never by the domain or
        # display name that others share (ad_erasure searches the same way).
        naming = {k: v for k, v in identifiers.items() if k not in _SHARED}
        left = tuple(
            ObjectRef(self.name, p.id)
            for p in list(self.people.values())
            if any(p.identifiers.get(k) == v for k, v in naming.items())
        )
        return Verification(self.name, absent=not left, remaining=left)

    def plan_update(
        self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float
    ) -> UpdatePlan:
        """Any attribute the object already holds may be written (others: NotSupported)."""
        self._enter("plan_update")
        person = self._person(ref)
        for c in changes:
            if c.attribute not in person.attributes:
                raise NotSupported(f"{self.name}: {c.attribute} is not held here")
        names = ", ".join(c.attribute for c in changes)
        return UpdatePlan(ref, tuple(changes), f"update {names} in {self.label}")

    def apply_update(self, plan: UpdatePlan, *, timeout: float) -> StepResult:
        self._enter("apply_update")
        with self._lock:
            person = self._person(plan.ref)
            before = dict(person.attributes)
            for c in plan.changes:
                person.attributes[c.attribute] = (c.value,) if c.value else ()
        same = before == person.attributes
        return StepResult(plan.ref, done=True, detail="already set" if same else "updated")

    def health(self, *, timeout: float) -> Health:
        self._enter("health")
        return Health(self.name, True, f"{len(self.people)} objects in memory")

    def close(self) -> None:
        pass

    def _matching(self, query: Query) -> list[Person]:
        if not query.value.strip() or "\x00" in query.value:
            return []  # as in a directory: an empty value or one with NUL names no one
        return [p for p in list(self.people.values()) if _matches(p, query)]

    def _record(self, ref: ObjectRef, person: Person) -> Record:
        attrs = {k: AttributeValue(v, source=self.name) for k, v in person.attributes.items()}
        return Record(ref=ref, attributes=attrs)

    def _person(self, ref: ObjectRef) -> Person:
        person = self.people.get(ref.id)
        if person is None:
            raise NotFound(f"{self.name}: no object with that id")
        return person

    def _hit(self, p: Person) -> Hit:
        label = p.identifiers.get(IdKind.DISPLAY_NAME) or p.identifiers.get(IdKind.ACCOUNT) or p.id
        return Hit(
            ObjectRef(self.name, p.id), label, dict(p.identifiers), attributes=dict(p.attributes)
        )


class RecordsMemoryConnector(MemoryConnector):
    """A MemoryConnector that also finds and reads in one call (`SearchesRecords`), as the
    WinRM and BHOLD connectors do: `calls` shows one "search_records" for both. A failure
    injected as `fail["search_records"]` fails the call; one as `fail["read"]` leaves the
    records out (the record part failed: a read then reports it)."""

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        self._enter("search_records")
        people = self._matching(query)
        read = len(people) <= limit and "read" not in self.fail
        return [
            HitRecord(self._hit(p), self._record(ObjectRef(self.name, p.id), p) if read else None)
            for p in people
        ]


def _matches(p: Person, q: Query) -> bool:
    """As a directory compares: case-insensitively, each character literally (`*`, `%`,
    `_` too), the value as given or in its typographic spelling (connectors/spelling.py)."""
    return any(_matches_value(p, q, s.casefold()) for s in spellings(q.value))


def _matches_value(p: Person, q: Query, v: str) -> bool:
    ids = {k: x.casefold() for k, x in p.identifiers.items()}
    if q.kind is QueryKind.MAIL_OR_UPN:
        return v in (ids.get(IdKind.MAIL), ids.get(IdKind.UPN))
    if q.kind is QueryKind.EMPLOYEE_ID:
        return ids.get(IdKind.EMPLOYEE_ID) == v
    if q.kind is QueryKind.PREFIX:
        return any(ids.get(k, "").startswith(v) for k in (IdKind.DISPLAY_NAME, IdKind.ACCOUNT))
    if q.kind is QueryKind.NAME:
        return v in (ids.get(IdKind.ACCOUNT), ids.get(IdKind.DISPLAY_NAME)) or _name_matches(p, v)
    values = p.attributes.get(q.attribute or "", ())
    return v in (x.casefold() for x in values)


def _name_matches(p: Person, v: str) -> bool:
    """AD's exact Ambiguous Name Resolution on the name parts a person holds (attributes
    givenName, sn): either one alone, or "given surname" / "surname given" split at the
    value's first space."""
    given = {x.casefold() for x in p.attributes.get("givenName", ())}
    surname = {x.casefold() for x in p.attributes.get("sn", ())}
    if v in given or v in surname:
        return True
    first, space, rest = v.partition(" ")
    return bool(space) and (
        (first in given and rest in surname) or (first in surname and rest in given)
    )
