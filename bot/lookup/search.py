"""Fan-out search: every enabled connector in parallel, each under a deadline.

Policy lives here, wire protocol in the connectors. Each system's answer is
an explicit `Outcome`; one system failing or hanging never hides the others.
The audit event is written before any result is handed back: if it cannot be
written, nobody sees the data (AuditUnavailable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from bot.audit import AuditLog, SubjectKeyer
from bot.audit.records import AuditOutcome
from bot.lookup.calls import Call, Outcome, start
from bot.permissions.roles import Actor
from connectors.base import Capability, Connector, Hit, IdKind, Query, QueryKind

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

    def find(self, query: Query, *, actor: Actor, command: str = "find") -> SearchResult:
        """Search every system; write the audit event; return per-system results."""
        deadline = time.monotonic() + self.timeout
        # Each system runs on its pool, even alone: the deadline must hold for a hung one.
        pending = [
            start(c, _searcher(c, query, self.timeout), what="search", pool=self._pools[c.name])
            for c in self.connectors
        ]
        results = tuple(self._result(p.wait(deadline)) for p in pending)
        results = self._second_hop(results)
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

    def _second_hop(self, results: tuple[SystemResult, ...]) -> tuple[SystemResult, ...]:
        """Ask again, by account, the systems that could not take the term (PAM and
        Certificate Management are searched by account name): `find 100010` or a mail
        finds the account in AD, HR or the metaverse, and a privacy officer would read
        "not searched" as "not there". Only for a few accounts (a term that names a
        handful of people), in parallel, under a deadline of its own."""
        skipped = [r for r in results if r.outcome is Outcome.SKIPPED]
        accounts = sorted(
            {
                h.identifiers[IdKind.ACCOUNT]
                for r in results
                if r.outcome is Outcome.FOUND
                for h in r.hits
                if h.identifiers.get(IdKind.ACCOUNT)
            }
        )
        if not skipped or not accounts or len(accounts) > SECOND_HOP_ACCOUNTS:
            return results
        by_name = {c.name: c for c in self.connectors}
        deadline = time.monotonic() + self.timeout
        pending = {
            r.system: [
                start(
                    by_name[r.system],
                    _searcher(by_name[r.system], Query(QueryKind.NAME, a), self.timeout),
                    what="search",
                    pool=self._pools[r.system],
                )
                for a in accounts
            ]
            for r in skipped
        }
        again = {system: [p.wait(deadline) for p in calls] for system, calls in pending.items()}
        return tuple(
            self._merged(r, again[r.system], accounts) if r.system in again else r for r in results
        )

    def _merged(
        self, first: SystemResult, calls: list[Call[list[Hit]]], accounts: list[str]
    ) -> SystemResult:
        """One system's answers to the second hop, as one result: its hits for exactly
        those accounts; a call that failed says so (a silent system must not read as
        "not found"); still skipped when the system cannot take an account either."""
        wanted = {a.casefold() for a in accounts}
        hits: dict[str, Hit] = {}
        for call in calls:
            if call.value is None:
                if call.outcome is Outcome.SKIPPED:
                    continue
                return replace(self._result(call), seconds=first.seconds + call.seconds)
            for hit in call.value:
                if (hit.identifiers.get(IdKind.ACCOUNT) or "").casefold() in wanted:
                    hits.setdefault(hit.ref.id, hit)
        if not hits and all(c.outcome is Outcome.SKIPPED for c in calls):
            return first
        found = tuple(hits.values())[: self.max_hits]
        return SystemResult(
            first.system,
            first.label,
            Outcome.FOUND if found else Outcome.NOT_FOUND,
            found,
            message="searched by the account the other systems found",
            seconds=first.seconds + max((c.seconds for c in calls), default=0.0),
        )

    def _result(self, call: Call[list[Hit]]) -> SystemResult:
        if call.value is None:
            return SystemResult(
                call.system, call.label, call.outcome, message=call.message, seconds=call.seconds
            )
        hits = tuple(call.value[: self.max_hits])
        outcome = Outcome.FOUND if hits else Outcome.NOT_FOUND
        return SystemResult(
            call.system,
            call.label,
            outcome,
            hits,
            seconds=call.seconds,
            capped=len(call.value) >= self.max_hits,
        )


def _searcher(connector: Connector, query: Query, timeout: float):  # type: ignore[no-untyped-def]
    return lambda: connector.search(query, timeout=timeout)


_KEY_ORDER = (IdKind.ACCOUNT, IdKind.MAIL, IdKind.UPN, IdKind.EMPLOYEE_ID, IdKind.DISPLAY_NAME)
