"""Database rows to request values and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from bot.errors import NotFound
from bot.permissions.roles import Role
from bot.workflow.reports import VerificationReport
from bot.workflow.requests import (
    PlannedStep,
    Request,
    RequestKind,
    ResidualCheck,
    Status,
    Step,
    StepState,
    Subject,
    plan_from_json,
    plan_to_json,
)
from bot.workflow.schema import request_approvals, request_steps, requests
from bot.workflow.store.base import utc
from connectors.base import IdKind, ManualTask, PlanAction

__all__ = ["check_of", "insert_steps", "read_request", "read_requests"]


def read_request(conn: sa.Connection, request_id: str) -> Request:
    """The request with its approvals and steps, as one consistent read in `conn`."""
    found = read_requests(conn, [request_id])
    if not found:
        raise NotFound(f"There is no request {request_id}.")
    return found[0]


def read_requests(conn: sa.Connection, request_ids: Sequence[str]) -> list[Request]:
    """Several requests in three queries (not three each), in the order of `request_ids`;
    ids with no request are left out."""
    if not request_ids:
        return []
    wanted = list(request_ids)
    rows = {r.id: r for r in conn.execute(sa.select(requests).where(requests.c.id.in_(wanted)))}
    approvals: dict[str, list[str]] = {}
    for request_id, approver in conn.execute(
        sa.select(request_approvals.c.request_id, request_approvals.c.approver)
        .where(request_approvals.c.request_id.in_(wanted))
        .order_by(request_approvals.c.at)
    ):
        approvals.setdefault(request_id, []).append(approver)
    steps: dict[str, list[Any]] = {}
    for step in conn.execute(
        sa.select(request_steps)
        .where(request_steps.c.request_id.in_(wanted))
        .order_by(request_steps.c.seq)
    ):
        steps.setdefault(step.request_id, []).append(step)
    return [_request(rows[i], approvals.get(i, []), steps.get(i, [])) for i in wanted if i in rows]


def _request(row: Any, approvals: Sequence[str], steps: Sequence[Any]) -> Request:
    return Request(
        id=row.id,
        kind=RequestKind(row.kind),
        status=Status(row.status),
        version=row.version,
        requester=row.requester,
        reason=row.reason,
        received_at=utc(row.received_at),  # type: ignore[arg-type]
        due_at=utc(row.due_at),  # type: ignore[arg-type]
        expires_at=utc(row.expires_at),  # type: ignore[arg-type]
        subject_keys=tuple(row.subject_keys),
        subject=Subject.from_json(row.subject) if row.subject else None,
        approvals_needed=row.approvals_needed,
        approvals=tuple(approvals),
        decided_by=row.decided_by,
        decided_at=utc(row.decided_at),
        decision_note=row.decision_note,
        channel=row.channel,
        message_ts=row.message_ts,
        steps=tuple(_step(s) for s in steps),
        report=VerificationReport.model_validate(row.result) if row.result else None,
        batch_id=row.batch_id,
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
        plan=plan_from_json(row.plan, PlanAction(row.action)) if row.plan else None,
        assigned_role=Role(row.assigned_role) if row.assigned_role else None,
        task=ManualTask(row.task) if row.task else None,
        error=row.error,
        done_by=row.done_by,
        detail=row.detail,
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
        announced_at=utc(row.announced_at),
    )


def insert_steps(
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
                task=step.task.value if step.task else None,
                # A plan with nothing to do is there for its notes and residual copies.
                state=(
                    StepState.SKIPPED if step.action is PlanAction.NONE else StepState.PENDING
                ).value,
                attempts=0,
            )
        )


def check_of(row: Any) -> ResidualCheck:
    due = utc(row.due_at)
    assert due is not None  # the column is NOT NULL
    return ResidualCheck(row.request_id, row.system, row.ref, IdKind(row.kind), due, row.attempts)
