"""Every move of a request's status, each a compare-and-set: double clicks, two approvers
at once or two replicas produce exactly one decision, and its audit event commits with it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa

from bot.workflow.events import (
    ApprovalGiven,
    Cancelled,
    Expired,
    Exported,
    Extended,
    Rejected,
    RetryStarted,
    Verified,
)
from bot.workflow.requests import TERMINAL, PlannedStep, Request, ResidualCheck, Status, StepState
from bot.workflow.schema import request_approvals, request_steps, requests, residual_checks
from bot.workflow.store.base import StoreContext
from bot.workflow.store.rows import insert_steps, read_request

__all__ = ["Decision", "Decisions"]

UNDECIDED = frozenset({Status.PLANNED, Status.AWAITING_APPROVAL})


@dataclass(frozen=True)
class Decision:
    """The result of an approve or reject click."""

    won: bool  # this click made the decision (or added a needed approval)
    request: Request
    approvals_missing: int = 0


class Decisions:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx

    def posted(self, request_id: str, message: tuple[str, str] | None) -> bool:
        """The approval message is out (or could not be posted): the request awaits
        approval either way, so `/mim approve` can decide it and expiry can scrub it."""
        with self.ctx.engine.begin() as conn:
            if message is not None:
                channel, ts = message
                conn.execute(
                    sa.update(requests)
                    .where(requests.c.id == request_id)
                    .values(channel=channel, message_ts=ts)
                )
            return self.ctx.move(conn, request_id, {Status.PLANNED}, Status.AWAITING_APPROVAL)

    def approve(self, request_id: str, event: ApprovalGiven) -> Decision:
        """Record an approval; the one that reaches the needed count approves the request.
        `event` is logged with the number of approvals still missing."""
        now = self.ctx.clock()
        approver = event.actor
        with self.ctx.engine.begin() as conn:
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
            already = conn.execute(
                sa.select(request_approvals.c.approver).where(
                    request_approvals.c.request_id == request_id,
                    request_approvals.c.approver == approver,
                )
            ).first()
            if not locked or already:
                return Decision(False, read_request(conn, request_id))
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
            missing = max(0, needed - count)
            if not missing:
                self.ctx.move(
                    conn,
                    request_id,
                    {Status.AWAITING_APPROVAL},
                    Status.APPROVED,
                    decided_by=approver,
                    decided_at=now,
                )
            self.ctx.log(conn, replace(event, missing=missing), request_id)
            return Decision(True, read_request(conn, request_id), missing)

    def reject(self, request_id: str, event: Rejected) -> Decision:
        with self.ctx.engine.begin() as conn:
            won = self.ctx.move(
                conn,
                request_id,
                {Status.AWAITING_APPROVAL},
                Status.REJECTED,
                event,
                decided_by=event.actor,
                decided_at=self.ctx.clock(),
                decision_note=event.note,
            )
            return Decision(won, read_request(conn, request_id))

    def cancel(self, request_id: str, from_: Iterable[Status], event: Cancelled) -> bool:
        """Close a request for good (scrubbed like every end state); no step runs after."""
        with self.ctx.engine.begin() as conn:
            return self.ctx.move(
                conn,
                request_id,
                from_,
                Status.CANCELLED,
                event,
                decided_by=event.actor,
                decided_at=self.ctx.clock(),
                decision_note=event.note,
                lease_until=None,
            )

    def extend(self, request_id: str, due_at: datetime, event: Extended) -> bool:
        """Move an open request's due date to `event.due_at`, if it is still `due_at`."""
        statement = (
            sa.update(requests)
            .where(
                requests.c.id == request_id,
                requests.c.due_at == due_at,
                requests.c.status.notin_([s.value for s in TERMINAL]),
            )
            .values(
                due_at=event.due_at, version=requests.c.version + 1, updated_at=self.ctx.clock()
            )
        )
        return self.ctx.cas_alone(statement, event, request_id)

    def expire(self, event: Expired) -> list[str]:
        """Mark requests whose approval window has passed as expired; return their ids.
        `event` is logged for each of them."""
        now = self.ctx.clock()
        query = sa.select(requests.c.id).where(
            requests.c.status == Status.AWAITING_APPROVAL.value, requests.c.expires_at <= now
        )
        with self.ctx.engine.connect() as conn:
            candidates = list(conn.execute(query).scalars())
        expired = []
        for request_id in candidates:
            with self.ctx.engine.begin() as conn:
                if self.ctx.move(
                    conn,
                    request_id,
                    {Status.AWAITING_APPROVAL},
                    Status.EXPIRED,
                    replace(event, request_id=request_id),
                    decided_at=now,
                ):
                    expired.append(request_id)
        return expired

    def retry(
        self, request_id: str, event: RetryStarted, add_steps: Sequence[PlannedStep] = ()
    ) -> bool:
        """A failed request goes back to approved; its failed steps to pending, and
        `add_steps` (for copies found at verification) join the end of the plan."""
        with self.ctx.engine.begin() as conn:
            if not self.ctx.move(conn, request_id, {Status.FAILED}, Status.APPROVED):
                return False
            if add_steps:
                last = conn.execute(
                    sa.select(sa.func.max(request_steps.c.seq)).where(
                        request_steps.c.request_id == request_id
                    )
                ).scalar_one()
                insert_steps(conn, request_id, add_steps, first=(last or 0) + 1)
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
            self.ctx.log(conn, event, request_id)
            return True

    def claim_access(self, request_id: str, owner: str, lease_until: datetime) -> bool:
        """One export of an access request at a time: two at once (a double click, two
        replicas) would each send a package while only one could be recorded as sent.
        The lease lets a later export go ahead if this one died."""
        now = self.ctx.clock()
        statement = (
            sa.update(requests)
            .where(
                requests.c.id == request_id,
                requests.c.status.in_([Status.PLANNED.value, Status.FAILED.value]),
                sa.or_(requests.c.lease_until.is_(None), requests.c.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=lease_until)
        )
        return self.ctx.cas_alone(statement, None, request_id)

    def release_access(self, request_id: str, owner: str) -> None:
        """The export that held the request ended without a package sent."""
        with self.ctx.engine.begin() as conn:
            conn.execute(
                sa.update(requests)
                .where(requests.c.id == request_id, requests.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def conclude_access(self, request_id: str, event: Exported) -> bool:
        """An access request's package went out: completed (scrubbed) when every system
        was read, else failed, open until a later export reads the rest or an approver
        closes it. The export's claim is released with it."""
        to = Status.COMPLETED if event.complete else Status.FAILED
        with self.ctx.engine.begin() as conn:
            return self.ctx.move(
                conn,
                request_id,
                {Status.PLANNED, Status.FAILED},
                to,
                event,
                lease_owner=None,
                lease_until=None,
            )

    def start_running(self, request_id: str) -> bool:
        with self.ctx.engine.begin() as conn:
            return self.ctx.move(conn, request_id, {Status.APPROVED}, Status.RUNNING)

    def start_verifying(self, request_id: str) -> bool:
        with self.ctx.engine.begin() as conn:
            return self.ctx.move(conn, request_id, {Status.RUNNING}, Status.VERIFYING)

    def claim_verification(self, request_id: str, owner: str, lease_until: datetime) -> bool:
        """One verifier at a time, even among the threads of one runner (they share its name)."""
        now = self.ctx.clock()
        statement = (
            sa.update(requests)
            .where(
                requests.c.id == request_id,
                requests.c.status == Status.VERIFYING.value,
                sa.or_(requests.c.lease_until.is_(None), requests.c.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=lease_until)
        )
        return self.ctx.cas_alone(statement, None, request_id)

    def conclude(
        self, request_id: str, event: Verified, checks: Sequence[ResidualCheck] = ()
    ) -> bool:
        """End the verification: failed, or completed (scrubbed down to its subject keys)
        with a look scheduled for each residual copy once it should be gone."""
        report = event.report
        status = (
            Status.FAILED
            if report.failing
            else Status.COMPLETED_WITH_RESIDUALS
            if report.residuals
            else Status.COMPLETED
        )
        with self.ctx.engine.begin() as conn:
            moved = self.ctx.move(
                conn,
                request_id,
                {Status.VERIFYING},
                status,
                None,
                result=report.model_dump(mode="json"),
                lease_until=None,
            )
            if not moved:
                return False
            for c in checks if not report.failing else ():
                conn.execute(
                    sa.insert(residual_checks).values(
                        request_id=c.request_id,
                        system=c.system,
                        ref=c.ref,
                        kind=c.kind.value,
                        due_at=c.due_at,
                        attempts=0,
                    )
                )
            self.ctx.log(conn, event, request_id)
            return True
