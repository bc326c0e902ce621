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
from bot.lookup.calls import Outcome, start
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
        progress: Callable[[SystemRecord], None] | None = None,
    ) -> PersonView:
        """Resolve to one person, then read each system's object (the search and the read
        are audited). `progress` hears of each system as its answer comes in."""
        result = self.search.find(query, actor=actor, command=command)
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
        records = self._read_all([hit.ref for hit in match.hits], progress)
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
        self, refs: list[ObjectRef], progress: Callable[[SystemRecord], None] | None = None
    ) -> tuple[SystemRecord, ...]:
        """Every system's record at once, under one deadline: a hung system is reported
        as timed out and keeps its thread until its own socket timeout, not the answer."""
        pool = ThreadPoolExecutor(max_workers=max(1, len(refs)), thread_name_prefix="show")
        try:
            pending = [
                start(self.connectors[ref.system], self._reader(ref), what="read", pool=pool)
                for ref in refs
            ]
            deadline = time.monotonic() + self.timeout
            out = []
            for p in pending:
                call = p.wait(deadline)
                value = call.value
                record = SystemRecord(
                    call.system,
                    call.label,
                    call.outcome if value is None else Outcome.FOUND,
                    record=value if isinstance(value, Record) else None,
                    lineage=value if isinstance(value, MetaverseView) else None,
                    message=call.message,
                )
                out.append(record)
                if progress is not None:
                    progress(record)
            return tuple(out)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

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
