"""Fan-out search: every enabled connector in parallel, each under a deadline.

Policy lives here, wire protocol in the connectors. Each system's answer is
an explicit `Outcome`; one system failing or hanging never hides the others.
The audit event is written before any result is handed back: if it cannot be
written, nobody sees the data (AuditUnavailable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from bot.audit import AuditLog, SubjectKeyer
from bot.audit.records import AuditOutcome
from bot.lookup.calls import Call, Outcome, Pending, answered, start
from bot.permissions.roles import Actor
from connectors.base import (
    Capability,
    Connector,
    Hit,
    HitRecord,
    IdKind,
    ObjectRef,
    Query,
    QueryKind,
    Record,
)
from connectors.capabilities import searches_records

__all__ = ["SearchResult", "SearchService", "SystemResult"]

log = logging.getLogger(__name__)

# The second hop asks account-only systems about at most this many accounts: a term
# that names a handful of people, not a prefix that lists a department.
SECOND_HOP_ACCOUNTS = 5


@dataclass(frozen=True)
class SystemResult:
    system: str
    label: str
    outcome: Outcome
    hits: tuple[Hit, ...] = ()
    message: str = ""  # safe text: error class or code, never the term
    seconds: float = 0.0
    capped: bool = False  # the system returned as many hits as a search may: maybe more
    # `find(records=)`: the records the system read with its search, by hit (each a read's
    # Call: found, or refused over the size cap); a hit without one is read on its own.
    records: Mapping[ObjectRef, Call[Record]] = field(default_factory=dict)
    # The second hop: each account this system was asked by, with the label of the
    # system that returned it ("by the account sobrien that HR returned").
    asked_by: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SearchResult:
    query: Query
    systems: tuple[SystemResult, ...]

    @property
    def hit_count(self) -> int:
        return sum(len(s.hits) for s in self.systems)


class SearchService:
    """Runs a query on all searchable connectors and audits the search."""

    def __init__(
        self,
        connectors: Sequence[Connector],
        *,
        audit: AuditLog,
        keyer: SubjectKeyer,
        timeout: float = 2.0,
        max_hits_per_system: int = 200,
        executor: ThreadPoolExecutor | None = None,
        workers_per_system: int = 8,
    ) -> None:
        self.connectors = [c for c in connectors if Capability.SEARCH in c.capabilities]
        self._by_name = {c.name: c for c in self.connectors}
        self.audit = audit
        self.keyer = keyer
        self.timeout = timeout
        self.max_hits = max_hits_per_system
        # Threads, not asyncio: ldap3, pyodbc and pywinrm are blocking libraries. A pool
        # per system: calls to a hung system hold its threads until their socket timeout,
        # and must not queue the healthy systems' calls behind them.
        self._pools = {
            c.name: executor
            or ThreadPoolExecutor(
                max_workers=workers_per_system, thread_name_prefix=f"fanout-{c.name}"
            )
            for c in self.connectors
        }

    def find(
        self, query: Query, *, actor: Actor, command: str = "find", records: int = 0
    ) -> SearchResult:
        """Search every system; write the audit event; return per-system results.

        `records` > 0: a system that finds and reads in one call (`SearchesRecords`: one
        trip to a slow system instead of two) also gives the record of each hit when it
        finds at most that many (`SystemResult.records`), for a caller that reads them next
        (`show`, an export). The hits, their merging and the audit are the same either way;
        a record is only ever the caller's to use or drop."""
        deadline = time.monotonic() + self.timeout
        # Each system runs on its pool, even alone: the deadline must hold for a hung one.
        pending = [self._start(c, query, records) for c in self.connectors]
        results = tuple(self._result(p.wait(deadline)) for p in pending)
        results = self._second_hop(results, records)
        result = SearchResult(query=query, systems=results)
        self.audit.record(
            actor=actor.user_id,
            roles=actor.role_names,
            action=command,
            outcome=AuditOutcome.OK
            if any(r.outcome.answered for r in results)
            else AuditOutcome.NO_ANSWER,
            subject_key=self.subject_key(query),
            detail={
                "query_kind": query.kind.value,
                # A name no system could search by may be a typed value (`find jdoe=x`),
                # and the chain keeps it for ever: only names some system knows.
                "attribute": query.attribute
                if any(r.outcome.answered for r in results)
                else ("unknown" if query.attribute else None),
                "systems": {
                    r.system: {"outcome": r.outcome.value, "hits": len(r.hits)} for r in results
                },
                # Whose data was shown, not only what was typed: `department=Sales` shows
                # many people, and each must be able to learn who looked at them.
                "shown": sorted({self.hit_key(h) for r in results for h in r.hits}),
            },
        )
        return result

    def close(self) -> None:
        """Wait for calls still running past their deadline (bounded by connector timeouts)."""
        for pool in {id(p): p for p in self._pools.values()}.values():
            pool.shutdown(wait=True)

    def hit_key(self, hit: Hit) -> str:
        """The key of the identifier a person is best known by (as `audit subject` asks)."""
        ids = hit.identifiers
        best = next((ids[k] for k in _KEY_ORDER if ids.get(k)), hit.ref.id)
        return self.keyer.key(best)

    def subject_key(self, query: Query) -> str:
        term = f"{query.attribute}={query.value}" if query.attribute else query.value
        return self.keyer.key(term)

    def _start(self, connector: Connector, query: Query, records: int) -> Pending[list[Any]]:
        """The search of `connector` on its pool: with `records`, the one call that finds
        and reads, where the connector has it (its records held to the size cap one by one,
        in `_result`, so an oversized record never hides the hits)."""
        pool, timeout = self._pools[connector.name], self.timeout
        both = searches_records(connector) if records > 0 else None
        if both is None:
            return start(
                connector,
                lambda: connector.search(query, timeout=timeout),
                what="search",
                pool=pool,
            )
        return start(
            connector,
            lambda: both.search_records(query, limit=records, timeout=timeout),
            what="search",
            pool=pool,
            capped=lambda found: [f.hit if isinstance(f, HitRecord) else f for f in found],
        )

    def _second_hop(
        self, results: tuple[SystemResult, ...], records: int = 0
    ) -> tuple[SystemResult, ...]:
        """Ask again, by account, the systems that could not take the term (PAM and
        Certificate Management are searched by account name): `find 100010` or a mail
        finds the account in AD, HR or the metaverse, and a privacy officer would read
        "not searched" as "not there". Only for a few accounts (a term that names a
        handful of people), in parallel, under a deadline of its own."""
        skipped = [r for r in results if r.outcome is Outcome.SKIPPED]
        returned_by: dict[str, tuple[str, str]] = {}  # casefolded → (account, label)
        for r in results:
            if r.outcome is Outcome.FOUND:
                for h in r.hits:
                    if account := h.identifiers.get(IdKind.ACCOUNT):
                        returned_by.setdefault(account.casefold(), (account, r.label))
        accounts = sorted(account for account, _ in returned_by.values())
        if not skipped or not accounts or len(accounts) > SECOND_HOP_ACCOUNTS:
            return results
        deadline = time.monotonic() + self.timeout
        pending = {
            r.system: [
                self._start(self._by_name[r.system], Query(QueryKind.NAME, a), records)
                for a in accounts
            ]
            for r in skipped
        }
        again = {system: [p.wait(deadline) for p in calls] for system, calls in pending.items()}
        return tuple(
            self._merged(r, again[r.system], returned_by) if r.system in again else r
            for r in results
        )

    def _merged(
        self,
        first: SystemResult,
        calls: list[Call[list[Any]]],
        returned_by: Mapping[str, tuple[str, str]],
    ) -> SystemResult:
        """One system's answers to the second hop, as one result: its hits for exactly
        those accounts (with the records read with them); a call that failed says so (a
        silent system must not read as "not found"); still skipped when the system cannot
        take an account either."""
        hits: dict[str, Hit] = {}
        records: dict[ObjectRef, Call[Record]] = {}
        for call in calls:
            if call.value is None:
                if call.outcome is Outcome.SKIPPED:
                    continue
                return replace(self._result(call), seconds=first.seconds + call.seconds)
            answer = self._result(call)
            for hit in answer.hits:
                if (hit.identifiers.get(IdKind.ACCOUNT) or "").casefold() in returned_by:
                    hits.setdefault(hit.ref.id, hit)
                    if hit.ref in answer.records:
                        records.setdefault(hit.ref, answer.records[hit.ref])
        if not hits and all(c.outcome is Outcome.SKIPPED for c in calls):
            return first
        found = tuple(hits.values())[: self.max_hits]
        # Found: by the accounts it matched; not found: by every account it was asked.
        matched = {(h.identifiers.get(IdKind.ACCOUNT) or "").casefold() for h in found}
        asked = [v for k, v in sorted(returned_by.items()) if not found or k in matched]
        return SystemResult(
            first.system,
            first.label,
            Outcome.FOUND if found else Outcome.NOT_FOUND,
            found,
            seconds=first.seconds + max((c.seconds for c in calls), default=0.0),
            records={h.ref: records[h.ref] for h in found if h.ref in records},
            asked_by=tuple(asked),
        )

    def _result(self, call: Call[list[Any]]) -> SystemResult:
        """One system's answer: its hits (a list of `Hit`, or of `HitRecord` from a call
        that also read), and the records read with them, each held to the size cap alone
        and kept only when it is the record of its own hit."""
        if call.value is None:
            return SystemResult(
                call.system, call.label, call.outcome, message=call.message, seconds=call.seconds
            )
        found = [f if isinstance(f, HitRecord) else HitRecord(f) for f in call.value]
        kept = found[: self.max_hits]
        hits = tuple(f.hit for f in kept)
        connector = self._by_name[call.system]
        records = {
            f.hit.ref: answered(connector, f.record, what="read", seconds=call.seconds)
            for f in kept
            if f.record is not None and f.record.ref == f.hit.ref
        }
        return SystemResult(
            call.system,
            call.label,
            Outcome.FOUND if hits else Outcome.NOT_FOUND,
            hits,
            seconds=call.seconds,
            capped=len(found) >= self.max_hits,
            records=records,
        )


_KEY_ORDER = (IdKind.ACCOUNT, IdKind.MAIL, IdKind.UPN, IdKind.EMPLOYEE_ID, IdKind.DISPLAY_NAME)
