"""Fan-out search: every enabled connector in parallel, each under a deadline.

Policy lives here, wire protocol in the connectors. Each system's answer is
an explicit `Outcome`; one system failing or hanging never hides the others.
The audit event is written before any result is handed back: if it cannot be
written, nobody sees the data (AuditUnavailable).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from bot.audit import AuditLog, SubjectKeyer
from bot.logs import log_failure
from bot.roles import Actor
from connectors.base import Capability, Connector, Hit, IdKind, Query
from connectors.errors import ConnectorError, Denied, NotSupported, TimedOut, Unreachable

__all__ = ["Outcome", "SearchResult", "SearchService", "SystemResult"]

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed_out"
    DENIED = "denied"
    ERROR = "error"
    SKIPPED = "skipped"  # the system cannot answer this kind of query


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
        started = time.monotonic()
        deadline = started + self.timeout
        futures: list[tuple[Connector, Future[list[Hit]], float]] = []
        for connector in self.connectors:
            t0 = time.monotonic()
            fut = self._pools[connector.name].submit(connector.search, query, timeout=self.timeout)
            futures.append((connector, fut, t0))
        # (Each system runs on the pool, even alone: the deadline must hold for a hung one.)
        results = tuple(self._collect(c, f, t0, deadline) for c, f, t0 in futures)
        result = SearchResult(query=query, systems=results)
        self.audit.record(
            actor=actor.user_id,
            roles=actor.role_names,
            action=command,
            outcome="ok" if any(r.outcome in _ANSWERED for r in results) else "no_answer",
            subject_key=self.subject_key(query),
            detail={
                "query_kind": query.kind.value,
                # A name no system could search by may be a typed value (`find jdoe=x`),
                # and the chain keeps it for ever: only names some system knows.
                "attribute": query.attribute
                if any(r.outcome in _ANSWERED for r in results)
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

    def _collect(
        self, connector: Connector, fut: Future[list[Hit]], t0: float, deadline: float
    ) -> SystemResult:
        name, label = connector.name, connector.label
        try:
            hits = fut.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            # A call still queued behind a hung one never starts; one running keeps its
            # thread until the connector's own socket timeout; the answer waits for neither.
            fut.cancel()
            return SystemResult(
                name,
                label,
                Outcome.TIMED_OUT,
                message="no answer in time",
                seconds=time.monotonic() - t0,
            )
        except TimedOut as exc:
            return self._failed(name, label, Outcome.TIMED_OUT, exc, t0)
        except Unreachable as exc:
            return self._failed(name, label, Outcome.UNREACHABLE, exc, t0)
        except Denied as exc:
            return self._failed(name, label, Outcome.DENIED, exc, t0)
        except NotSupported as exc:
            return SystemResult(
                name, label, Outcome.SKIPPED, message=str(exc), seconds=time.monotonic() - t0
            )
        except ConnectorError as exc:
            return self._failed(name, label, Outcome.ERROR, exc, t0)
        except Exception as exc:  # noqa: BLE001 - boundary: a connector bug hides no other
            log_failure(log, "connector %s raised", exc, name)
            return SystemResult(
                name, label, Outcome.ERROR, message="internal error", seconds=time.monotonic() - t0
            )
        hits_t = tuple(hits[: self.max_hits])
        outcome = Outcome.FOUND if hits_t else Outcome.NOT_FOUND
        return SystemResult(name, label, outcome, hits_t, seconds=time.monotonic() - t0,
                            capped=len(hits) >= self.max_hits)  # fmt: skip

    @staticmethod
    def _failed(
        name: str, label: str, outcome: Outcome, exc: ConnectorError, t0: float
    ) -> SystemResult:
        log.warning("connector %s: %s (%s)", name, outcome.value, exc)
        return SystemResult(name, label, outcome, message=str(exc), seconds=time.monotonic() - t0)


_ANSWERED = (Outcome.FOUND, Outcome.NOT_FOUND)
_KEY_ORDER = (IdKind.ACCOUNT, IdKind.MAIL, IdKind.UPN, IdKind.EMPLOYEE_ID, IdKind.DISPLAY_NAME)
