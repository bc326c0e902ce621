"""Requests in the database. Every decision is a compare-and-set, so that double clicks,
two approvers at once or two bot replicas produce exactly one decision and one execution.

A change that something should be audited for takes the audit `Entry` and appends it in
the same transaction: the event and the change commit together or not at all.

Steps are claimed with a lease (`lease_owner`, `lease_until`): a replica that dies
leaves a lease that runs out, and another replica takes the step over. A step that
is done is never claimed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.audit import AuditLog, Entry
from bot.errors import NotFound
from bot.requests import (
    TERMINAL,
    PlannedStep,
    Request,
    ResidualCheck,
    Status,
    Step,
    StepState,
    Subject,
    plan_from_json,
    plan_to_json,
)
from bot.requests_schema import (
    request_approvals,
    request_counters,
    request_steps,
    requests,
    residual_checks,
)
from connectors.base import IdKind, PlanAction

__all__ = ["Decision", "RequestStore"]

Clock = Callable[[], datetime]
# A request that ends (completed, rejected, expired, cancelled) keeps only its subject keys
# (HMACs): the person's name, account, identifiers and the free-text reason go.
SCRUBBED: dict[str, Any] = {"subject": None, "reason": None}


@dataclass(frozen=True)
class Decision:
    """The result of an approve or reject click."""

    won: bool  # this click made the decision (or added a needed approval)
    request: Request
    approvals_missing: int = 0


class RequestStore:
    def __init__(
        self, engine: sa.Engine, *, clock: Clock | None = None, audit: AuditLog | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self.audit = audit
        self._years: set[int] = set()  # years whose id counter row exists

    def _log(self, conn: sa.Connection, event: Entry | None, request_id: str) -> None:
        """Append `event` to the audit chain in `conn`'s transaction (last: it locks the head)."""
        if event is None:
            return
        if self.audit is None:
            raise RuntimeError("this RequestStore was built without an audit log")
        if event.subject_key is None:
            keys = conn.execute(
                sa.select(requests.c.subject_keys).where(requests.c.id == request_id)
            ).scalar_one_or_none()
            event = replace(event, subject_key=next(iter(json.loads(keys or "[]")), None))
        self.audit.append(conn, replace(event, request_id=event.request_id or request_id))

    # -- create and read -------------------------------------------------------

    def create(
        self,
        *,
        kind: str,
        requester: str,
        reason: str | None,
        subject: Subject,
        subject_keys: Sequence[str],
        steps: Sequence[PlannedStep],
        approvals_needed: int,
        due_at: datetime,
        expires_at: datetime,
        event: Entry | None = None,
    ) -> Request:
        now = self.clock()
        self._ensure_counter(now.year)
        with self.engine.begin() as conn:
            request_id = self._next_id(conn, now.year)
            conn.execute(
                sa.insert(requests).values(
                    id=request_id,
                    kind=kind,
                    status=Status.PLANNED.value,
                    version=1,
                    requester=requester,
                    reason=reason,
                    received_at=now,
                    due_at=due_at,
                    expires_at=expires_at,
                    subject_keys=json.dumps(list(subject_keys)),
                    subject=json.dumps(subject.to_json()),
                    plan=json.dumps([s.summary for s in steps]),
                    approvals_needed=approvals_needed,
                    updated_at=now,
                )
            )
            _insert_steps(conn, request_id, steps, first=1)
            self._log(conn, event, request_id)
        return self.get(request_id)

    def _ensure_counter(self, year: int) -> None:
        # Its own transaction: a lost race on the first insert of a year is harmless.
        if year in self._years:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(request_counters).values(year=year, last=0))
        except sa.exc.IntegrityError:
            pass
        self._years.add(year)

    def _next_id(self, conn: sa.Connection, year: int) -> str:
        # Compare-and-set on the year's counter: two creators never get the same id.
        for _ in range(100):
            last = conn.execute(
                sa.select(request_counters.c.last).where(request_counters.c.year == year)
            ).scalar_one()
            moved = conn.execute(
                sa.update(request_counters)
                .where(request_counters.c.year == year, request_counters.c.last == last)
                .values(last=last + 1)
            ).rowcount
            if moved == 1:
                return f"REQ-{year}-{last + 1:04d}"
        raise RuntimeError("could not allocate a request id")

    def get(self, request_id: str) -> Request:
        with self.engine.connect() as conn:
            return self._get_in(conn, request_id)

    def ids(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        requester: str | None = None,
        limit: int = 50,
    ) -> list[str]:
        query = sa.select(requests.c.id).order_by(requests.c.received_at.desc()).limit(limit)
        if statuses is not None:
            query = query.where(requests.c.status.in_([s.value for s in statuses]))
        if requester is not None:
            query = query.where(requests.c.requester == requester)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- transitions -----------------------------------------------------------

    def transition(
        self,
        request_id: str,
        from_: Iterable[Status],
        to: Status,
        *,
        event: Entry | None = None,
        **values: Any,
    ) -> bool:
        """Compare-and-set the status; True when this caller moved it (and `event` is logged)."""
        with self.engine.begin() as conn:
            moved = self._cas(conn, request_id, from_, to, **values)
            if moved:
                self._log(conn, event, request_id)
            return moved

    def _cas(
        self,
        conn: sa.Connection,
        request_id: str,
        from_: Iterable[Status],
        to: Status,
        **values: Any,
    ) -> bool:
        """Move the status if it is one of `from_`. Entering an end state scrubs the request
        down to its subject keys: display fields, reason, and the steps' plans, whose
        object references (objectGUID, MV object id) would lead back to residual copies."""
        ends = to in TERMINAL
        moved = conn.execute(
            sa.update(requests)
            .where(requests.c.id == request_id, requests.c.status.in_([s.value for s in from_]))
            .values(
                status=to.value,
                version=requests.c.version + 1,
                updated_at=self.clock(),
                **(SCRUBBED if ends else {}),
                **values,
            )
        ).rowcount == 1  # fmt: skip
        if moved and ends:
            conn.execute(
                sa.update(request_steps)
                .where(request_steps.c.request_id == request_id)
                .values(plan=None)
            )
        return moved

    def attach_message(self, request_id: str, channel: str, ts: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(requests)
                .where(requests.c.id == request_id)
                .values(channel=channel, message_ts=ts)
            )
            self._cas(conn, request_id, {Status.PLANNED}, Status.AWAITING_APPROVAL)

    def approve(self, request_id: str, approver: str, *, event: Entry | None = None) -> Decision:
        """Record an approval; the one that reaches the needed count approves the request.
        `event` is logged with the number of approvals still missing."""
        now = self.clock()
        with self.engine.begin() as conn:
            # Touching the row first takes its lock (PostgreSQL) or the write lock (SQLite):
            # concurrent clicks queue here and re-check the status when they get it.
            locked = conn.execute(
                sa.update(requests)
                .where(
                    requests.c.id == request_id,
                    requests.c.status == Status.AWAITING_APPROVAL.value,
                    requests.c.expires_at > now,
                )
                .values(version=requests.c.version + 1, updated_at=now)
            ).rowcount
            if not locked:
                return Decision(False, self._get_in(conn, request_id))
            already = conn.execute(
                sa.select(request_approvals.c.approver).where(
                    request_approvals.c.request_id == request_id,
                    request_approvals.c.approver == approver,
                )
            ).first()
            if already:
                return Decision(False, self._get_in(conn, request_id))
            conn.execute(
                sa.insert(request_approvals).values(
                    request_id=request_id, approver=approver, at=now
                )
            )
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(request_approvals)
                .where(request_approvals.c.request_id == request_id)
            ).scalar_one()
            needed = conn.execute(
                sa.select(requests.c.approvals_needed).where(requests.c.id == request_id)
            ).scalar_one()
            if count >= needed:
                self._cas(
                    conn,
                    request_id,
                    {Status.AWAITING_APPROVAL},
                    Status.APPROVED,
                    decided_by=approver,
                    decided_at=now,
                )
            missing = max(0, needed - count)
            if event is not None:
                self._log(conn, replace(event, detail={**event.detail, "missing": missing}),
                          request_id)  # fmt: skip
            return Decision(True, self._get_in(conn, request_id), missing)

    def reject(
        self, request_id: str, approver: str, note: str, *, event: Entry | None = None
    ) -> Decision:
        now = self.clock()
        with self.engine.begin() as conn:
            won = self._cas(
                conn,
                request_id,
                {Status.AWAITING_APPROVAL},
                Status.REJECTED,
                decided_by=approver,
                decided_at=now,
                decision_note=note,
            )
            if won:
                self._log(conn, event, request_id)
            return Decision(won, self._get_in(conn, request_id))

    def cancel(
        self,
        request_id: str,
        from_: Iterable[Status],
        user: str,
        note: str,
        *,
        event: Entry | None = None,
    ) -> bool:
        """Close a request for good (scrubbed like every end state); no step runs after."""
        with self.engine.begin() as conn:
            won = self._cas(
                conn, request_id, from_, Status.CANCELLED, decided_by=user,
                decided_at=self.clock(), decision_note=note, lease_until=None,
            )  # fmt: skip
            if won:
                self._log(conn, event, request_id)
            return won

    def extend(
        self, request_id: str, due_at: datetime, new_due: datetime, *, event: Entry | None = None
    ) -> bool:
        """Move an open request's due date, if it is still `due_at` (compare-and-set)."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.update(requests)
                .where(requests.c.id == request_id, requests.c.due_at == due_at,
                       requests.c.status.notin_([s.value for s in TERMINAL]))
                .values(due_at=new_due, version=requests.c.version + 1, updated_at=self.clock())
            ).rowcount == 1  # fmt: skip
            if moved:
                self._log(conn, event, request_id)
            return moved

    def expire(self, request_id: str | None = None, *, event: Entry | None = None) -> list[str]:
        """Mark requests whose approval window has passed as expired; return their ids.
        `event` is logged for each of them."""
        now = self.clock()
        query = sa.select(requests.c.id).where(
            requests.c.status == Status.AWAITING_APPROVAL.value, requests.c.expires_at <= now
        )
        if request_id:
            query = query.where(requests.c.id == request_id)
        with self.engine.connect() as conn:
            candidates = list(conn.execute(query).scalars())
        return [
            r
            for r in candidates
            if self.transition(
                r,
                {Status.AWAITING_APPROVAL},
                Status.EXPIRED,
                event=event,
                decided_at=now,
            )
        ]

    def retry(
        self,
        request_id: str,
        *,
        event: Entry | None = None,
        add_steps: Sequence[PlannedStep] = (),
    ) -> bool:
        """A failed request goes back to approved; its failed steps to pending, and
        `add_steps` (for copies found at verification) join the end of the plan."""
        with self.engine.begin() as conn:
            if not self._cas(conn, request_id, {Status.FAILED}, Status.APPROVED):
                return False
            if add_steps:
                last = conn.execute(
                    sa.select(sa.func.max(request_steps.c.seq)).where(
                        request_steps.c.request_id == request_id
                    )
                ).scalar_one()
                _insert_steps(conn, request_id, add_steps, first=(last or 0) + 1)
            conn.execute(
                sa.update(request_steps)
                .where(
                    request_steps.c.request_id == request_id,
                    request_steps.c.state == StepState.FAILED.value,
                )
                # A retried step starts afresh: a wait counts its limit from the retry.
                .values(
                    state=StepState.PENDING.value,
                    lease_owner=None,
                    lease_until=None,
                    started_at=None,
                    detail=None,
                )
            )
            self._log(conn, event, request_id)
            return True

    # -- steps and leases ------------------------------------------------------

    def claim_step(
        self,
        request_id: str,
        seq: int,
        owner: str,
        lease: timedelta,
        *,
        event: Entry | None = None,
    ) -> bool:
        """Take a pending step, or a running one whose lease ran out (its runner died).
        `started_at` keeps the first claim: a waiting step's limit counts from there."""
        now = self.clock()
        steps = request_steps.c
        return self._update_step(
            request_id, seq, event,
            sa.or_(steps.state == StepState.PENDING.value,
                   sa.and_(steps.state == StepState.RUNNING.value, steps.lease_until < now)),
            state=StepState.RUNNING.value, lease_owner=owner, lease_until=now + lease,
            attempts=steps.attempts + 1, started_at=sa.func.coalesce(steps.started_at, now),
            error=None,
        )  # fmt: skip

    def renew_step(self, request_id: str, seq: int, owner: str, lease: timedelta) -> bool:
        return self._update_step(
            request_id, seq, None, *_held_by(owner), lease_until=self.clock() + lease
        )

    def finish_step(
        self,
        request_id: str,
        seq: int,
        owner: str,
        state: StepState,
        *,
        error: str | None = None,
        detail: str | None = None,
        event: Entry | None = None,
    ) -> bool:
        """Record a step's end; only the lease holder may (a taken-over runner may not)."""
        return self._update_step(
            request_id, seq, event, *_held_by(owner), state=state.value, error=error, detail=detail,
            finished_at=self.clock(), lease_until=None,
        )  # fmt: skip

    def fail_step(
        self, request_id: str, seq: int, owner: str, error: str, *, event: Entry | None = None
    ) -> bool:
        """The lease holder's step failed: the step and its request fail together."""
        with self.engine.begin() as conn:
            failed = _step_cas(
                conn, request_id, seq, *_held_by(owner), state=StepState.FAILED.value,
                error=error, finished_at=self.clock(), lease_until=None,
            )  # fmt: skip
            if failed:
                self._cas(conn, request_id, {Status.RUNNING}, Status.FAILED)
                self._log(conn, event, request_id)
            return failed

    def complete_manual_step(
        self, request_id: str, seq: int, user: str, *, event: Entry | None = None
    ) -> bool:
        now = self.clock()
        return self._update_step(
            request_id, seq, event, request_steps.c.action == PlanAction.MANUAL.value,
            request_steps.c.state == StepState.PENDING.value,
            state=StepState.DONE.value, done_by=user, attempts=1, started_at=now, finished_at=now,
        )  # fmt: skip

    def _update_step(
        self, request_id: str, seq: int, event: Entry | None, *where: Any, **values: Any
    ) -> bool:
        """Compare-and-set on one step: True when `where` held and this caller changed it
        (and then `event` is logged with the change)."""
        with self.engine.begin() as conn:
            won = _step_cas(conn, request_id, seq, *where, **values)
            if won:
                self._log(conn, event, request_id)
            return won

    def claim_request(self, request_id: str, owner: str, lease: timedelta) -> bool:
        """A request-level lease, for the verification phase."""
        now = self.clock()
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    sa.update(requests)
                    .where(
                        requests.c.id == request_id,
                        # Only a request still to verify, and only one verifier at a time,
                        # even among the threads of one runner (they share its name).
                        requests.c.status == Status.VERIFYING.value,
                        sa.or_(requests.c.lease_until.is_(None), requests.c.lease_until < now),
                    )
                    .values(lease_owner=owner, lease_until=now + lease)
                ).rowcount
                == 1
            )

    def finish(
        self,
        request_id: str,
        status: Status,
        result: dict[str, Any],
        *,
        event: Entry | None = None,
        checks: Sequence[ResidualCheck] = (),
    ) -> bool:
        """Complete a verified request, scrubbed down to its subject keys, and schedule
        a look for each residual copy once it should be gone."""
        with self.engine.begin() as conn:
            moved = self._cas(conn, request_id, {Status.VERIFYING}, status,
                              result=json.dumps(result), lease_until=None)  # fmt: skip
            if moved:
                for c in checks:
                    conn.execute(
                        sa.insert(residual_checks).values(
                            request_id=c.request_id, system=c.system, ref=c.ref,
                            kind=c.kind.value, due_at=c.due_at, attempts=0,
                        )
                    )  # fmt: skip
                self._log(conn, event, request_id)
            return moved

    # -- residual checks ---------------------------------------------------------

    def claim_residual_check(self, owner: str, lease: timedelta) -> ResidualCheck | None:
        """The most overdue check no one holds, leased to `owner`; None when none is due.
        One at a time: a lease must not run out while a batch waits on a slow DC."""
        rc = residual_checks.c
        for _ in range(10):  # another checker may win the row between read and claim
            now = self.clock()
            free = sa.and_(rc.due_at <= now,
                           sa.or_(rc.lease_until.is_(None), rc.lease_until < now))  # fmt: skip
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(residual_checks).where(free).order_by(rc.due_at).limit(1)
                ).first()
            if row is None:
                return None
            with self.engine.begin() as conn:
                won = conn.execute(
                    sa.update(residual_checks)
                    .where(_same_check(row), free)
                    .values(lease_owner=owner, lease_until=now + lease)
                ).rowcount == 1  # fmt: skip
            if won:
                return _check(row)
        return None

    def residual_check_done(
        self, check: ResidualCheck, owner: str, *, event: Entry | None = None
    ) -> bool:
        """The copy is gone: forget the check, and with it the object's reference."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                sa.delete(residual_checks).where(
                    _same_check(check), residual_checks.c.lease_owner == owner
                )
            ).rowcount == 1  # fmt: skip
            if gone:
                self._log(conn, event, check.request_id)
            return gone

    def residual_check_later(
        self,
        check: ResidualCheck,
        owner: str,
        due_at: datetime,
        *,
        looked: bool,
        event: Entry | None = None,
    ) -> bool:
        """Look again at `due_at`; `looked` counts an attempt that reached the system."""
        rc = residual_checks.c
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.update(residual_checks)
                .where(_same_check(check), rc.lease_owner == owner)
                .values(due_at=due_at, attempts=rc.attempts + int(looked), lease_owner=None,
                        lease_until=None)
            ).rowcount == 1  # fmt: skip
            if moved:
                self._log(conn, event, check.request_id)
            return moved

    def residual_checks_of(self, request_id: str) -> list[ResidualCheck]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(residual_checks).where(residual_checks.c.request_id == request_id)
            ).all()
        return [_check(r) for r in rows]

    def runnable(self) -> list[str]:
        """Requests a runner should look at: approved, running or verifying."""
        return self.ids(statuses=(Status.APPROVED, Status.RUNNING, Status.VERIFYING), limit=500)

    def _get_in(self, conn: sa.Connection, request_id: str) -> Request:
        row = conn.execute(sa.select(requests).where(requests.c.id == request_id)).first()
        if row is None:
            raise NotFound(f"There is no request {request_id}.")
        approvals = (
            conn.execute(
                sa.select(request_approvals.c.approver)
                .where(request_approvals.c.request_id == request_id)
                .order_by(request_approvals.c.at)
            )
            .scalars()
            .all()
        )
        steps = conn.execute(
            sa.select(request_steps)
            .where(request_steps.c.request_id == request_id)
            .order_by(request_steps.c.seq)
        ).all()
        return _request(row, tuple(approvals), tuple(_step(s) for s in steps))


def _held_by(owner: str) -> tuple[Any, ...]:
    return (request_steps.c.lease_owner == owner,
            request_steps.c.state == StepState.RUNNING.value)  # fmt: skip


def _step_cas(conn: sa.Connection, request_id: str, seq: int, *where: Any, **values: Any) -> bool:
    return conn.execute(
        sa.update(request_steps)
        .where(request_steps.c.request_id == request_id, request_steps.c.seq == seq, *where)
        .values(**values)
    ).rowcount == 1  # fmt: skip


def _same_check(c: Any) -> Any:
    rc = residual_checks.c
    return sa.and_(rc.request_id == c.request_id, rc.system == c.system, rc.ref == c.ref)


def _check(row: Any) -> ResidualCheck:
    due = _utc(row.due_at)
    assert due is not None  # the column is NOT NULL
    return ResidualCheck(row.request_id, row.system, row.ref, IdKind(row.kind), due, row.attempts)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _request(row: Any, approvals: tuple[str, ...], steps: tuple[Step, ...]) -> Request:
    return Request(
        id=row.id,
        kind=row.kind,
        status=Status(row.status),
        version=row.version,
        requester=row.requester,
        reason=row.reason,
        received_at=_utc(row.received_at),
        due_at=_utc(row.due_at),
        expires_at=_utc(row.expires_at),
        subject_keys=tuple(json.loads(row.subject_keys)),
        subject=Subject.from_json(json.loads(row.subject)) if row.subject else None,
        approvals_needed=row.approvals_needed,
        approvals=approvals,
        decided_by=row.decided_by,
        decided_at=_utc(row.decided_at),
        decision_note=row.decision_note,
        channel=row.channel,
        message_ts=row.message_ts,
        steps=steps,
        result=json.loads(row.result) if row.result else {},
    )


def _step(row: Any) -> Step:
    return Step(
        request_id=row.request_id,
        seq=row.seq,
        system=row.system,
        action=PlanAction(row.action),
        summary=row.summary,
        state=StepState(row.state),
        attempts=row.attempts,
        plan=plan_from_json(row.plan) if row.plan else None,
        assigned_role=row.assigned_role,
        error=row.error,
        done_by=row.done_by,
        detail=row.detail,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
    )


def _insert_steps(
    conn: sa.Connection, request_id: str, steps: Sequence[PlannedStep], *, first: int
) -> None:
    for seq, step in enumerate(steps, start=first):
        conn.execute(
            sa.insert(request_steps).values(
                request_id=request_id,
                seq=seq,
                system=step.system,
                action=step.action.value,
                summary=step.summary,
                plan=plan_to_json(step.plan) if step.plan else None,
                assigned_role=step.assigned_role,
                state=StepState.PENDING.value,
                attempts=0,
            )
        )
