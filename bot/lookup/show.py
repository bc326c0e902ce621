"""`/mim show`: one person's details in every system that holds them, audited.

The metaverse (when configured) adds what only it knows: the source of
authority and last change of each attribute, the connected systems (lineage)
and the deletion rule. Other systems give their record's attributes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.audit import AuditLog
from bot.audit.records import AuditOutcome
from bot.lookup.calls import Call, Outcome, start
from bot.lookup.search import SearchService
from bot.lookup.subjects import (
    AmbiguousSubject,
    NobodyMatches,
    Subject,
    SystemsUnavailable,
    group_hits,
)
from bot.permissions.roles import Actor
from connectors.base import Capability, Connector, ObjectRef, Query, Record
from connectors.capabilities import shows_lineage
from connectors.errors import NotSupported
from connectors.lineage import MetaverseView

__all__ = ["PersonView", "ShowService", "SystemRecord"]


@dataclass(frozen=True)
class SystemRecord:
    system: str
    label: str
    outcome: Outcome
    record: Record | None = None
    lineage: MetaverseView | None = None  # a system that `ShowsLineage` (the metaverse)
    message: str = ""


@dataclass(frozen=True)
class PersonView:
    subject: Subject
    systems: tuple[SystemRecord, ...]  # those that hold the person, and those that did not answer
    absent: tuple[SystemRecord, ...] = ()  # those that answered: nothing about them


@dataclass
class ShowService:
    search: SearchService
    connectors: Mapping[str, Connector]
    audit: AuditLog
    timeout: float = 5.0

    def show(
        self,
        query: Query,
        *,
        actor: Actor,
        command: str = "show",
        progress: Callable[[tuple[SystemRecord, ...]], None] | None = None,
    ) -> PersonView:
        """Resolve to one person, then read each system's object (the search and the read
        are audited). `progress` hears of the systems as their answers come in: those read
        with the search at once, then each read.

        A system that finds and reads in one call (`SearchesRecords`) is asked once: its
        search gives the record of its one hit (`records=1`: two hits in one system are
        two people, which show refuses), and only the other systems are read, each for the
        hit the merge gave the person. A record of a hit that is not theirs is dropped
        with the search result."""
        result = self.search.find(query, actor=actor, command=command, records=1)
        matches = group_hits(result)
        if not matches:
            silent = [r.label for r in result.systems if r.outcome.silent]
            if silent:  # "nobody" would be false: an access request must not read it so
                raise SystemsUnavailable(
                    f"Nobody matches in the systems that answered, but {', '.join(silent)} "
                    "did not answer: try again before telling anyone there is no data."
                )
            raise NobodyMatches(query, creating=False)
        if len(matches) > 1:
            raise AmbiguousSubject(matches, query)
        match = matches[0]
        read = {ref: c for r in result.systems for ref, c in r.records.items()}
        records = self._read_all([hit.ref for hit in match.hits], read, progress)
        missing = tuple(
            SystemRecord(r.system, r.label, r.outcome, message=r.message)
            for r in result.systems
            if not r.outcome.answered
        )
        holding = {hit.ref.system for hit in match.hits}
        absent = tuple(
            SystemRecord(r.system, r.label, Outcome.NOT_FOUND)
            for r in result.systems
            if r.outcome.answered and r.system not in holding
        )
        subject = match.subject()
        self.audit.record(
            actor=actor.user_id,
            roles=actor.role_names,
            action="read",
            outcome=AuditOutcome.OK,
            subject_key=self.search.subject_key(query),
            detail={
                "systems": {r.system: r.outcome.value for r in records},
                **({"command": command} if command != "show" else {}),
            },
        )
        return PersonView(subject, records + missing, absent)

    def _read_all(
        self,
        refs: list[ObjectRef],
        read: Mapping[ObjectRef, Call[Record]],
        progress: Callable[[tuple[SystemRecord, ...]], None] | None = None,
    ) -> tuple[SystemRecord, ...]:
        """Every system's record, in the order of `refs`: those `read` with the search as
        they are, the others read at once, under one deadline (a hung system is reported
        as timed out and keeps its thread until its own socket timeout, not the answer).
        `progress` hears of the records already read first, together."""
        known = {ref: read[ref] for ref in refs if ref in read and self._uses_record(ref)}
        todo = [ref for ref in refs if ref not in known]
        out = {ref: _record(call) for ref, call in known.items()}
        pool = ThreadPoolExecutor(max_workers=max(1, len(todo)), thread_name_prefix="show")
        try:
            pending = [
                start(self.connectors[ref.system], self._reader(ref), what="read", pool=pool)
                for ref in todo
            ]
            deadline = time.monotonic() + self.timeout
            if out and progress is not None:  # one answer, told once, while the reads run
                progress(tuple(out.values()))
            for ref, p in zip(todo, pending, strict=True):
                out[ref] = _record(p.wait(deadline))
                if progress is not None:
                    progress((out[ref],))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return tuple(out[ref] for ref in refs)

    def _uses_record(self, ref: ObjectRef) -> bool:
        """Whether what show gives of that system is its record (a read's): not for a system
        that shows its lineage view instead."""
        connector = self.connectors.get(ref.system)
        return connector is not None and shows_lineage(connector) is None

    def _reader(self, ref: ObjectRef):  # type: ignore[no-untyped-def]
        connector = self.connectors[ref.system]
        lineage = shows_lineage(connector)

        def read() -> Record | MetaverseView:
            if lineage is not None:
                return lineage.show(ref, timeout=self.timeout)
            if Capability.READ in connector.capabilities:
                return connector.read(ref, timeout=self.timeout)
            raise NotSupported("cannot read details")

        return read


def _record(call: Call[Record] | Call[Record | MetaverseView]) -> SystemRecord:
    """A system's read (or lineage view) as show gives it."""
    value = call.value
    return SystemRecord(
        call.system,
        call.label,
        call.outcome if value is None else Outcome.FOUND,
        record=value if isinstance(value, Record) else None,
        lineage=value if isinstance(value, MetaverseView) else None,
        message=call.message,
    )
