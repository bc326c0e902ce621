"""A retention sweep: whom the retention rules would erase now. Each rule's system finds
its population (`FindsStale`: leavers past an end date, accounts disabled or not signed
in, metaverse persons left behind); each candidate is resolved to one person across the
estate as `/mim delete` resolves a subject; people on hold (GDPR Art. 17(3): the hold
store, an AD group, an HR column, app.yaml's list) and people with an open request are
kept out and said so; a candidate who resolves to several people is listed, never
proposed. Nothing is erased or created here: the sweep says who is due and why.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.audit import AuditLog, SubjectKeyer
from bot.audit.records import AuditOutcome
from bot.errors import HoldsUnreadable, UsageError
from bot.logs import log_failure
from bot.lookup.search import SearchService
from bot.lookup.subjects import AmbiguousSubject, NobodyMatches, SystemsUnavailable, single_subject
from bot.permissions.roles import Actor
from bot.workflow.holds import HoldStore
from bot.workflow.store import RequestStore
from bot.workflow.subject_keys import hold_keys, naming_values, subject_keys
from connectors.base import Connector, IdKind, Query, QueryKind
from connectors.capabilities import finds_stale, knows_holds
from connectors.errors import ConnectorError, NotSupported
from connectors.sweeps import Candidate, HoldQuery, StaleRule

__all__ = ["MemberState", "RuleOutcome", "Sweep", "SweepMember", "SweepService"]

log = logging.getLogger(__name__)

USAGE = "/mim sweep [rule]"  # bot/commands/table.py's line (the domain does not import it)


class MemberState(enum.StrEnum):
    PROPOSED = "proposed for erasure"
    HELD = "on hold"
    OPEN = "a request is already open"
    BATCHED = "already in an open batch"
    AMBIGUOUS = "resolves to several people"
    NOBODY = "not found across the estate"
    UNANSWERED = "not every system answered"


@dataclass(frozen=True)
class SweepMember:
    """One candidate as the sweep judged it. `label` names the person (private answers
    only); `note` says why it is not proposed (the hold's source, the open request)."""

    rule: str
    label: str
    state: MemberState
    note: str = ""
    subject_key: str | None = None  # the audit key, for who-saw-whom
    since: datetime | None = None
    query: Query | None = None  # how a batch resolves them again, as a delete would


@dataclass(frozen=True)
class RuleOutcome:
    rule: StaleRule
    found: int
    error: str | None = None  # safe text: the system's error class, never a value


@dataclass(frozen=True)
class Sweep:
    at: datetime
    rules: tuple[RuleOutcome, ...]
    members: tuple[SweepMember, ...]

    def of(self, state: MemberState) -> list[SweepMember]:
        return [m for m in self.members if m.state is state]


class SweepService:
    def __init__(
        self,
        *,
        connectors: Sequence[Connector],
        rules: Sequence[StaleRule],
        hold_query: HoldQuery,
        listed_holds: Sequence[str],
        holds: HoldStore,
        search: SearchService,
        store: RequestStore,
        keyer: SubjectKeyer,
        audit: AuditLog,
        clock: Callable[[], datetime],
        timeout: float = 30.0,
    ) -> None:
        self.by_name = {c.name: c for c in connectors}
        self.connectors, self.rules, self.hold_query = connectors, tuple(rules), hold_query
        self.listed_holds, self.holds, self.search = tuple(listed_holds), holds, search
        self.store, self.keyer, self.audit, self.clock = store, keyer, audit, clock
        self.timeout = timeout
        self._cache_lock = threading.Lock()
        self._system_cache: tuple[float, dict[str, str] | None] = (0.0, None)

    def sweep(self, *, actor: Actor, rule: str | None = None) -> Sweep:
        """Every rule (or the one named), judged now; audited (`sweep`, with the counts)."""
        rules = self._rules(rule)
        now = self.clock()
        held = self._held_keys()
        members: list[SweepMember] = []
        outcomes: list[RuleOutcome] = []
        seen: set[str] = set()
        for r in rules:
            found, error = 0, None
            try:
                for candidate in self._stale(r, now):
                    found += 1
                    member = replace(
                        self._judge(r, candidate, held, actor), query=_query(candidate.identifiers)
                    )
                    key = member.subject_key
                    if key is not None and key in seen:
                        continue  # two rules found the same person: judged once
                    if key is not None:
                        seen.add(key)
                    members.append(member)
            except ConnectorError as exc:
                log_failure(log, "sweep: rule %s could not be run", exc, r.name)
                error = f"{type(exc).__name__}: {exc}"
            outcomes.append(RuleOutcome(r, found, error))
        sweep = Sweep(now, tuple(outcomes), tuple(members))
        self.audit.record(
            actor=actor.user_id,
            roles=actor.role_names,
            action="retention_sweep",
            outcome=AuditOutcome.OK
            if all(o.error is None for o in outcomes)
            else AuditOutcome.PARTIAL,
            detail={
                "rules": {o.rule.name: {"found": o.found, "failed": o.error is not None}
                          for o in outcomes},
                "states": {s.name.lower(): len(sweep.of(s)) for s in MemberState},
                "shown": sorted(k for m in members if (k := m.subject_key)),
            },
        )  # fmt: skip
        return sweep

    def hold_of(self, keys: Sequence[str], *, fresh_within: float = 0.0) -> str | None:
        """Where a hold on the person these keys name comes from (an AD group, an HR
        column, app.yaml's list, /mim hold), or None; `MimbotError` when a system's holds
        cannot be read (not knowing must not erase). A batch's erasures take the systems'
        holds as read at most `fresh_within` seconds ago (one read per minute, not one
        per person); /mim hold is read fresh every time."""
        held = self._held_keys(fresh_within=fresh_within)
        return next((held[k] for k in keys if k in held), None)

    # -- parts ----------------------------------------------------------------

    def _rules(self, name: str | None) -> tuple[StaleRule, ...]:
        if not self.rules:
            raise UsageError(
                "No retention rule is configured (retention.rules in app.yaml).", USAGE
            )
        if name is None:
            return self.rules
        chosen = tuple(r for r in self.rules if r.name.casefold() == name.casefold())
        if not chosen:
            known = ", ".join(r.name for r in self.rules)
            raise UsageError(f"No retention rule is named that. The rules: {known}.", USAGE)
        return chosen

    def _stale(self, rule: StaleRule, now: datetime) -> Iterable[Candidate]:
        finder = finds_stale(self.by_name[rule.system])
        if finder is None:  # refused at start-up; kept for a connector replaced since
            raise ConnectorError(f"{rule.system} answers no retention rule")
        return finder.stale(rule, now=now, timeout=self.timeout)

    def _held_keys(self, *, fresh_within: float = 0.0) -> dict[str, str]:
        """Every key on hold, with where the hold comes from (for approvers)."""
        held = dict.fromkeys(self.holds.held_keys(), "held with /mim hold")
        held |= {self.keyer.key(v): "listed in retention.holds" for v in self.listed_holds}
        with self._cache_lock:
            taken, cached = self._system_cache
            if fresh_within and cached is not None and time.monotonic() - taken < fresh_within:
                return {**cached, **held}
        systems = self._system_holds()
        with self._cache_lock:
            self._system_cache = (time.monotonic(), systems)
        return {**systems, **held}

    def _system_holds(self) -> dict[str, str]:
        """The keys an AD group or an HR column holds, read from the systems now."""
        held: dict[str, str] = {}
        if self.hold_query.group or self.hold_query.column:
            for c in self.connectors:
                source = knows_holds(c)
                if source is None:
                    continue
                try:
                    for identifiers in source.on_hold(self.hold_query, timeout=self.timeout):
                        for value in naming_values(identifiers):
                            held.setdefault(self.keyer.key(value), f"on hold in {c.label}")
                except NotSupported:
                    continue  # it holds no hold of that kind (a group for HR)
                except ConnectorError as exc:
                    # Not knowing who is held must not erase them: the sweep stops.
                    raise HoldsUnreadable(
                        f"The holds in {c.label} could not be read ({type(exc).__name__}),"
                        " so nobody is proposed. Try again when it answers."
                    ) from exc
        return held

    def _judge(
        self, rule: StaleRule, candidate: Candidate, held: Mapping[str, str], actor: Actor
    ) -> SweepMember:
        since = candidate.since
        # The candidate's own keys first: a hold must count even when the person cannot
        # be resolved across the estate.
        own = {self.keyer.key(v) for v in naming_values(candidate.identifiers)}
        hit = next((held[k] for k in own if k in held), None)
        label = candidate.label or candidate.ref.id
        if hit is not None:
            return SweepMember(rule.name, label, MemberState.HELD, hit, since=since)
        query = _query(candidate.identifiers)
        if query is None:
            return SweepMember(rule.name, label, MemberState.NOBODY, "no identifier", since=since)
        try:
            match = single_subject(self.search.find(query, actor=actor, command="sweep"))
        except AmbiguousSubject as exc:
            return SweepMember(
                rule.name, label, MemberState.AMBIGUOUS, exc.user_message(), since=since
            )
        except NobodyMatches:
            return SweepMember(rule.name, label, MemberState.NOBODY, since=since)
        except SystemsUnavailable:
            return SweepMember(rule.name, label, MemberState.UNANSWERED, since=since)
        subject = match.subject()
        keys = subject_keys(self.keyer, subject)
        label = subject.display_name or subject.account or label
        audit_key = keys.subject[0]
        named = hold_keys(self.keyer, subject, keys)
        hit = next((held[k] for k in named if k in held), None)
        if hit is not None:
            return SweepMember(rule.name, label, MemberState.HELD, hit, audit_key, since)
        already = self.store.open_for(keys.person)
        if already:
            return SweepMember(rule.name, label, MemberState.OPEN, already, audit_key, since)
        batch = self.store.batches.proposed_in(audit_key)
        if batch:
            return SweepMember(rule.name, label, MemberState.BATCHED, batch, audit_key, since)
        return SweepMember(rule.name, label, MemberState.PROPOSED, "", audit_key, since)


def _query(identifiers: Mapping[IdKind, str]) -> Query | None:
    """The identifier that names one person best, as a `delete` would be typed."""
    for kind, query_kind in (
        (IdKind.EMPLOYEE_ID, QueryKind.EMPLOYEE_ID),
        (IdKind.MAIL, QueryKind.MAIL_OR_UPN),
        (IdKind.UPN, QueryKind.MAIL_OR_UPN),
        (IdKind.ACCOUNT, QueryKind.NAME),
    ):
        value = identifiers.get(kind)
        if value and (query_kind is not QueryKind.EMPLOYEE_ID or value.isdigit()):
            return Query(query_kind, value)
    return None
