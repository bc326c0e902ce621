"""Deciding a request of any kind, after it was made: approve, reject, a manual step
done, retry, cancel, extend, and the expiry of an approval window nobody used.

Who may do each is `bot/permissions/authz.py`; what each means for the request's status is the
store's compare-and-set (`bot/workflow/store/decisions.py`), which audits it in the same
transaction. What happens next (the steps) is `bot/workflow/runner.py`, scheduled by `execute`.
A retry of an erasure first re-plans its live copies (`ErasureService.replan_copies`),
given here as the kind's replanner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.config import PolicyConfig
from bot.errors import AlreadyDecided, NotFound, RequestStateError
from bot.permissions.authz import Authorizer
from bot.permissions.roles import Actor
from bot.workflow.events import (
    ApprovalGiven,
    Cancelled,
    Expired,
    Extended,
    Rejected,
    RetryStarted,
    StepDone,
)
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.requests import (
    TERMINAL,
    PlannedStep,
    Request,
    RequestKind,
    Status,
    add_calendar_month,
)
from bot.workflow.store import Decision, RequestStore

__all__ = ["DecisionService", "Replanner"]

UNDECIDED = frozenset({Status.PLANNED, Status.AWAITING_APPROVAL})

# A failed request's new steps before a retry, and how many live objects nobody approved.
Replanner = Callable[[Request], tuple[list[PlannedStep], int]]


@dataclass
class DecisionService:
    store: RequestStore
    notifier: AuditedNotifier  # audits each message; a failed one never raises
    policy: PolicyConfig
    execute: Callable[[str], None]  # schedules the runner for a request id
    authz: Authorizer = field(default=None)  # type: ignore[assignment]  # default: from policy
    replanners: Mapping[RequestKind, Replanner] = field(default_factory=dict)  # by request kind

    def __post_init__(self) -> None:
        if self.authz is None:
            self.authz = Authorizer.from_config(None, four_eyes=self.policy.four_eyes)

    def approve(self, request_id: str, *, actor: Actor) -> Decision:
        request = self._decidable(request_id, actor)
        event = ApprovalGiven(**_by(actor))
        decision = self.store.decisions.approve(request_id, event)
        if not decision.won:
            return self._lost(decision, actor)
        missing = decision.approvals_missing
        self.notifier.event(
            decision.request, replace(event, request_id=request_id, missing=missing)
        )
        if decision.request.status is Status.APPROVED:
            self.notifier.request_updated(decision.request)
            self.execute(request.id)
        return decision

    def reject(self, request_id: str, *, actor: Actor, note: str) -> Decision:
        self._decidable(request_id, actor)
        event = Rejected(**_by(actor), request_id=request_id, note=note)
        decision = self.store.decisions.reject(request_id, event)
        if not decision.won:
            return self._lost(decision, actor)
        self.notifier.event(decision.request, event)
        self.notifier.request_updated(decision.request)
        return decision

    def step_done(self, request_id: str, seq: int, *, actor: Actor) -> Request:
        request = self.store.get(request_id)
        step = next((s for s in request.steps if s.seq == seq and s.manual), None)
        if step is None:
            raise NotFound(f"{request_id} has no manual step {seq}.")
        self.authz.require_step_done(actor, step)
        if request.status not in (Status.APPROVED, Status.RUNNING):
            raise RequestStateError(
                f"{request_id} is {request.status.value}; steps wait for approval."
            )
        done = StepDone(
            **_by(actor), request_id=request_id, seq=seq, system=step.system, manual=True
        )
        if not self.store.steps.complete_manual(request_id, seq, done):
            raise RequestStateError(f"Step {seq} of {request_id} is already done.")
        self.notifier.event(request, done)
        self.execute(request_id)
        return self.store.get(request_id)

    def retry(self, request_id: str, *, actor: Actor) -> Request:
        request = self.store.get(request_id)
        self.authz.require_retry(actor, request)
        if request.status is not Status.FAILED:
            raise RequestStateError(f"{request_id} is {request.status.value}, not failed.")
        if request.kind is RequestKind.ACCESS:  # nothing to re-run: the export reads again
            raise RequestStateError(
                f"{request_id} is an access request: run the same /mim export again to read "
                f"what was missing, or an approver closes it with /mim cancel {request_id} "
                "<reason>."
            )
        replan = self.replanners.get(request.kind)
        added, unapproved = replan(request) if replan else ([], 0)
        event = RetryStarted(
            **_by(actor), request_id=request_id, new_steps=len(added), unapproved=unapproved
        )
        if not self.store.decisions.retry(request_id, event, add_steps=added):
            request = self.store.get(request_id)
            raise RequestStateError(f"{request_id} is {request.status.value}, not failed.")
        request = self.store.get(request_id)
        self.notifier.event(request, event)
        self.execute(request_id)
        return request

    def cancel(self, request_id: str, *, actor: Actor, note: str) -> Request:
        """Close a request nobody will finish: one awaiting approval (its requester may
        withdraw it) or a failed one (an approver decides it was handled elsewhere)."""
        request = self.store.get(request_id)
        self.authz.require_cancel(actor, request)
        closable = set(UNDECIDED) | ({Status.FAILED} if self.authz.decides(actor) else set())
        if request.status not in closable:
            raise RequestStateError(
                f"{request_id} is {request.status.value}: "
                + (
                    "only approvers can cancel a failed request."
                    if request.status is Status.FAILED
                    else "only a request not yet decided, or a failed one, can be cancelled."
                )
            )
        event = Cancelled(**_by(actor), request_id=request_id, note=note, was=request.status.value)
        if not self.store.decisions.cancel(request_id, closable, event):
            raise RequestStateError(f"{request_id} changed meanwhile; look at its status.")
        request = self.store.get(request_id)
        self.notifier.event(request, event)
        self.notifier.request_updated(request)
        return request

    def extend(self, request_id: str, *, actor: Actor, note: str) -> Request:
        """GDPR Art. 12(3): the due date may move once, by up to two further months, with
        reasons, decided before the original due date. The requester must tell the
        data subject; the thread says so."""
        request = self.store.get(request_id)
        self.authz.require_extend(actor, request)
        months = self.policy.extension_months
        if not months:
            raise RequestStateError("Policy allows no extension of due dates.")
        first_due = add_calendar_month(request.received_at, self.policy.deadline_months)
        if request.status in TERMINAL:
            raise RequestStateError(f"{request_id} is {request.status.value}: nothing to extend.")
        if request.due_at > first_due:
            raise RequestStateError(f"{request_id} was extended already; it can be once.")
        if self.store.clock() > request.due_at:
            raise RequestStateError(f"{request_id} is past its due date: it cannot be extended.")
        event = Extended(
            **_by(actor),
            request_id=request_id,
            note=note,
            months=months,
            due_at=add_calendar_month(first_due, months),
        )
        if not self.store.decisions.extend(request_id, request.due_at, event):
            raise RequestStateError(f"{request_id} changed meanwhile; look at its status.")
        request = self.store.get(request_id)
        self.notifier.event(request, event)
        self.notifier.request_updated(request)
        return request

    def expire_stale(self) -> list[str]:
        """Approval windows that ran out: mark expired and redraw their messages."""
        event = Expired(actor="system")
        expired = self.store.decisions.expire(event)
        for request_id in expired:
            request = self.store.get(request_id)
            self.notifier.request_updated(request)
            self.notifier.event(request, replace(event, request_id=request_id))
        return expired

    def _decidable(self, request_id: str, actor: Actor) -> Request:
        request = self.store.get(request_id)
        self.authz.require_decide(actor, request)
        if request.status is Status.AWAITING_APPROVAL and request.expires_at <= self.store.clock():
            self.expire_stale()
            raise RequestStateError(f"{request_id} expired before it was decided.")
        return request

    def _lost(self, decision: Decision, actor: Actor) -> Decision:
        request = decision.request
        if request.status is Status.AWAITING_APPROVAL and actor.user_id in request.approvals:
            raise RequestStateError("You have already approved this request.")
        raise AlreadyDecided(request.id, request.status.value, request.decided_by)


def _by(actor: Actor) -> dict[str, Any]:
    """The fields every event a person causes carries."""
    return {"actor": actor.user_id, "roles": tuple(actor.role_names)}
