"""A request that needs approval, stored and posted: what an erasure and a correction
share once their steps are planned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from bot.config import PolicyConfig
from bot.permissions.roles import Actor
from bot.workflow.events import ApprovalGiven, RequestCreated
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.requests import PlannedStep, Request, Status, Subject, add_calendar_month
from bot.workflow.store import RequestStore
from bot.workflow.subject_keys import SubjectKeys

__all__ = ["store_request", "submit_for_approval"]


def submit_for_approval(
    store: RequestStore,
    notifier: AuditedNotifier,
    policy: PolicyConfig,
    *,
    kind: str,
    actor: Actor,
    subject: Subject,
    keys: SubjectKeys,
    steps: Sequence[PlannedStep],
    reason: str | None,
    approvals: int,
) -> Request:
    """Store the request (audited as created; `AlreadyOpen` if one of its kind is open for
    the person) with its due date, and post it to the approvers."""
    request = store_request(
        store, policy, kind=kind, actor=actor, subject=subject, keys=keys, steps=steps,
        reason=reason, approvals=approvals,
    )  # fmt: skip
    # The message shows the status it will have once posted. Without it (no channel,
    # or Slack failed) the request still awaits approval: `/mim approve` decides it,
    # and expiry scrubs it, rather than it sitting unseen in PLANNED.
    posted = notifier.approval_requested(replace(request, status=Status.AWAITING_APPROVAL))
    store.decisions.posted(request.id, posted)
    return store.get(request.id)


def store_request(
    store: RequestStore,
    policy: PolicyConfig,
    *,
    kind: str,
    actor: Actor,
    subject: Subject,
    keys: SubjectKeys,
    steps: Sequence[PlannedStep],
    reason: str | None,
    approvals: int,
    batch: tuple[str, ApprovalGiven] | None = None,
) -> Request:
    """Store the request with its due date and approval window, audited as created; a
    retention batch's member (`batch`) is stored approved by the batch's approval."""
    now = store.clock()
    return store.create(
        requester=actor.user_id,
        reason=reason,
        subject=subject,
        keys=keys,
        steps=steps,
        approvals_needed=approvals,
        due_at=add_calendar_month(now, policy.deadline_months),
        expires_at=now + timedelta(hours=policy.approval_expires_hours),
        event=RequestCreated(
            actor=actor.user_id,
            roles=tuple(actor.role_names),
            kind=kind,
            steps=tuple((s.system, s.action.value) for s in steps),
        ),
        batch=batch,
    )
