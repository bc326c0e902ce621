"""Erasure requests: resolve the subject, plan per system, record, and decide (four eyes).

Execution is `bot/runner.py`; what people are told goes through a `Notifier`.
Every step here writes an audit event keyed by the request id and subject keys.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.audit import Entry, SubjectKeyer
from bot.audited_notifier import AuditedNotifier
from bot.config import PolicyConfig
from bot.errors import NotAllowed, NotFound, RequestStateError
from bot.logs import log_failure
from bot.request_store import Decision, RequestStore
from bot.requests import TERMINAL, PlannedStep, Request, Status, StepState, add_calendar_month
from bot.roles import Actor, Role
from bot.search import SearchService
from bot.subjects import Match, single_subject
from connectors.base import Capability, Connector, ObjectRef, PlanAction, Query
from connectors.errors import ConnectorError

__all__ = ["ErasureService"]

log = logging.getLogger(__name__)


@dataclass
class ErasureService:
    store: RequestStore
    search: SearchService
    connectors: Mapping[str, Connector]
    keyer: SubjectKeyer
    notifier: AuditedNotifier  # audits each message; a failed one never raises
    policy: PolicyConfig
    execute: Callable[[str], None]  # schedules the runner for a request id
    timeout: float = 5.0

    # -- request ----------------------------------------------------------------

    def request(self, query: Query, *, actor: Actor, reason: str | None) -> Request:
        """Resolve to one person, plan, store, and post for approval."""
        result = self.search.find(query, actor=actor, command="delete")
        match = single_subject(result)
        steps = self.plan(match)
        if not steps:
            raise RequestStateError(
                "No system holds anything to erase for that person. Nothing was created."
            )
        subject = match.subject()
        # The first key (account, else name) is the one audit events carry.
        primary = self.keyer.key(subject.account or subject.display_name)
        keys = [
            primary,
            *sorted({self.keyer.key(v) for v in subject.identifiers.values()} - {primary}),
        ]
        now = self.store.clock()
        request = self.store.create(
            kind="erasure",
            requester=actor.user_id,
            reason=reason,
            subject=subject,
            subject_keys=keys,
            steps=steps,
            approvals_needed=self.policy.erasure_approvals,
            due_at=add_calendar_month(now, self.policy.deadline_months),
            expires_at=now + timedelta(hours=self.policy.approval_expires_hours),
            event=self._event(
                actor, "request_created", None, keys, kind="erasure",
                steps=[{"system": s.system, "action": s.action.value} for s in steps],
            ),
        )  # fmt: skip
        # The message shows the status it will have once posted. Without it (no channel,
        # or Slack failed) the request still awaits approval: `/mim approve` decides it,
        # and expiry scrubs it, rather than it sitting unseen in PLANNED.
        ref = self.notifier.approval_requested(replace(request, status=Status.AWAITING_APPROVAL))
        if ref:
            self.store.attach_message(request.id, *ref)
        else:
            self.store.transition(request.id, {Status.PLANNED}, Status.AWAITING_APPROVAL)
        return self.store.get(request.id)

    def plan(self, match: Match) -> list[PlannedStep]:
        """Steps in source-of-authority order: manual steps (warnings) first."""
        return self._plan([hit.ref for hit in match.hits], nothing="created")

    def _plan(self, refs: Sequence[ObjectRef], *, nothing: str) -> list[PlannedStep]:
        automated: list[tuple[int, PlannedStep]] = []
        manual: list[PlannedStep] = []
        for ref in refs:
            connector = self.connectors.get(ref.system)
            if connector is None:
                continue
            if Capability.DELETE not in connector.capabilities:
                manual.append(
                    PlannedStep(
                        connector.name,
                        PlanAction.MANUAL,
                        f"Erase the person in {connector.label} by hand (no API for it)",
                        assigned_role=Role.REQUESTER.value,
                    )
                )
                continue
            try:
                plan = connector.plan_delete(ref, timeout=self.timeout)
            except ConnectorError as exc:
                raise RequestStateError(
                    f"Cannot plan for {connector.label} ({exc}). Nothing was {nothing}."
                ) from exc
            manual += [
                PlannedStep(
                    connector.name, PlanAction.MANUAL, w, assigned_role=Role.REQUESTER.value
                )
                for w in plan.warnings
            ]
            if plan.action is not PlanAction.NONE:
                automated.append(
                    (
                        plan.authority_rank,
                        PlannedStep(connector.name, plan.action, plan.summary, plan=plan),
                    )
                )
        automated.sort(key=lambda pair: pair[0])
        return manual + [step for _, step in automated]

    # -- decisions ----------------------------------------------------------------

    def approve(self, request_id: str, *, actor: Actor) -> Decision:
        request = self._decidable(request_id, actor)
        approval = self._event(actor, "approval", request_id, request.subject_keys)
        decision = self.store.approve(request_id, actor.user_id, event=approval)
        if not decision.won:
            return self._lost(decision, actor)
        if decision.request.status is Status.APPROVED:
            self.notifier.thread(decision.request, f"Approved by <@{actor.user_id}>.")
            self.notifier.request_updated(decision.request)
            self.execute(request.id)
        else:
            self.notifier.thread(
                decision.request,
                f"Approval by <@{actor.user_id}> recorded; "
                f"{decision.approvals_missing} more needed.",
            )
        return decision

    def reject(self, request_id: str, *, actor: Actor, note: str) -> Decision:
        request = self._decidable(request_id, actor)
        rejection = self._event(
            actor, "rejection", request_id, request.subject_keys, note_length=len(note)
        )
        decision = self.store.reject(request_id, actor.user_id, note, event=rejection)
        if not decision.won:
            return self._lost(decision, actor)
        self.notifier.thread(decision.request, f"Rejected by <@{actor.user_id}>: {note}")
        self.notifier.request_updated(decision.request)
        return decision

    def step_done(self, request_id: str, seq: int, *, actor: Actor) -> Request:
        request = self.store.get(request_id)
        step = next((s for s in request.steps if s.seq == seq and s.manual), None)
        if step is None:
            raise NotFound(f"{request_id} has no manual step {seq}.")
        role = Role(step.assigned_role or Role.REQUESTER.value)
        if role not in actor.roles and Role.ADMIN not in actor.roles:
            raise NotAllowed(f"Step {seq} is for the *{role.value}* role.")
        if request.status not in (Status.APPROVED, Status.RUNNING):
            raise RequestStateError(
                f"{request_id} is {request.status.value}; steps wait for approval."
            )
        done = self._event(
            actor, "step_end", request_id, request.subject_keys, seq=seq, state="done", manual=True
        )
        if not self.store.complete_manual_step(request_id, seq, actor.user_id, event=done):
            raise RequestStateError(f"Step {seq} of {request_id} is already done.")
        self.notifier.thread(request, f"Step {seq} marked done by <@{actor.user_id}>.")
        self.execute(request_id)
        return self.store.get(request_id)

    def retry(self, request_id: str, *, actor: Actor) -> Request:
        if not _approver(actor):
            raise NotAllowed("Retry needs the *approver* role.")
        request = self.store.get(request_id)
        if request.status is not Status.FAILED:
            raise RequestStateError(f"{request_id} is {request.status.value}, not failed.")
        added, unapproved = self._replan_copies(request)
        event = self._event(
            actor, "retry", request_id, (), new_steps=len(added), unapproved=unapproved
        )
        if not self.store.retry(request_id, event=event, add_steps=added):
            request = self.store.get(request_id)
            raise RequestStateError(f"{request_id} is {request.status.value}, not failed.")
        request = self.store.get(request_id)
        more = (
            f" with {len(added)} new step(s) for approved objects that came back" if added else ""
        )
        self.notifier.thread(request, f"Retry started by <@{actor.user_id}>{more}.")
        if unapproved:
            self.notifier.thread(
                request,
                f"{unapproved} other live object(s) answer to this person's identifiers but were "
                "not in the approved plan, so mimbot will not touch them: find out whose they "
                "are (`/mim find`), then raise a new request, or cancel this one.",
            )
        self.execute(request_id)
        return request

    def cancel(self, request_id: str, *, actor: Actor, note: str) -> Request:
        """Close a request nobody will finish: one awaiting approval (its requester may
        withdraw it) or a failed one (an approver decides it was handled elsewhere)."""
        request = self.store.get(request_id)
        approver = _approver(actor)
        if not approver and actor.user_id != request.requester:
            raise NotAllowed("Only the requester or an approver can cancel a request.")
        closable = {Status.PLANNED, Status.AWAITING_APPROVAL} | (
            {Status.FAILED} if approver else set()
        )
        if (
            approver
            and request.status is Status.FAILED
            and self.policy.four_eyes
            and actor.user_id == request.requester
        ):
            raise NotAllowed("You asked for this erasure; another approver must close it.")
        if request.status not in closable:
            raise RequestStateError(
                f"{request_id} is {request.status.value}: "
                + ("only approvers can cancel a failed request." if request.status is Status.FAILED
                   else "only a request not yet decided, or a failed one, can be cancelled.")
            )  # fmt: skip
        event = self._event(
            actor, "cancelled", request_id, request.subject_keys, note_length=len(note),
            was=request.status.value,
        )  # fmt: skip
        if not self.store.cancel(request_id, closable, actor.user_id, note, event=event):
            raise RequestStateError(f"{request_id} changed meanwhile; look at its status.")
        request = self.store.get(request_id)
        self.notifier.thread(request, f"Cancelled by <@{actor.user_id}>: {note}")
        self.notifier.request_updated(request)
        return request

    def extend(self, request_id: str, *, actor: Actor, note: str) -> Request:
        """GDPR Art. 12(3): the due date may move once, by up to two further months, with
        reasons, decided before the original due date. The requester must tell the
        data subject; the thread says so."""
        if not _approver(actor):
            raise NotAllowed("Extending a due date needs the *approver* role.")
        months = self.policy.extension_months
        if not months:
            raise NotAllowed("Policy allows no extension of due dates.")
        request = self.store.get(request_id)
        first_due = add_calendar_month(request.received_at, self.policy.deadline_months)
        if request.status in TERMINAL:
            raise RequestStateError(f"{request_id} is {request.status.value}: nothing to extend.")
        if request.due_at > first_due:
            raise RequestStateError(f"{request_id} was extended already; it can be once.")
        if self.store.clock() > request.due_at:
            raise RequestStateError(f"{request_id} is past its due date: it cannot be extended.")
        due = add_calendar_month(first_due, months)
        event = self._event(
            actor, "extended", request_id, request.subject_keys, months=months,
            note_length=len(note),
        )  # fmt: skip
        if not self.store.extend(request_id, request.due_at, due, event=event):
            raise RequestStateError(f"{request_id} changed meanwhile; look at its status.")
        request = self.store.get(request_id)
        self.notifier.thread(
            request,
            f"Due date extended to {due:%Y-%m-%d} by <@{actor.user_id}>: {note}. "
            f"<@{request.requester}>, tell the data subject of the extension and why.",
        )
        self.notifier.request_updated(request)
        return request

    def reverify_residuals(self, owner: str | None = None, limit: int = 100) -> list[str]:
        """Look again for each residual copy whose time is up (the design's "re-verified
        then"): gone, and the check and its object reference are forgotten; still there,
        and the thread is told once and the look repeats daily."""
        owner = owner or f"checker-{uuid.uuid4().hex[:8]}"  # leases are per checker
        done = []
        for _ in range(limit):
            check = self.store.claim_residual_check(owner, lease=timedelta(minutes=10))
            if check is None:
                break
            what = {"system": check.system, "attempt": check.attempts + 1}
            event = Entry(actor="system", roles=[], action="residuals_checked", detail=what)
            try:
                connector = self.connectors.get(check.system)
                if connector is None:
                    raise ConnectorError("connector not configured")
                seen = connector.verify_absent({check.kind: check.ref}, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - boundary: one check must not stop others
                if not isinstance(exc, ConnectorError):
                    log_failure(log, "residual check in %s raised", exc, check.system)
                self.store.residual_check_later(
                    check, owner, self._tomorrow(), looked=False,
                    event=replace(event, outcome="not_checked"),
                )  # fmt: skip
                continue
            request = self.store.get(check.request_id)
            if seen.absent and not seen.residuals:
                if self.store.residual_check_done(check, owner, event=event):
                    self.notifier.thread(
                        request, f"Residual copies in {check.system} are gone: checked "
                        f"{self.store.clock():%Y-%m-%d}, after they expired.",
                    )  # fmt: skip
                    done.append(check.request_id)
                continue
            later = self.store.residual_check_later(
                check, owner, self._tomorrow(), looked=True,
                event=replace(event, outcome="still_present"),
            )  # fmt: skip
            if later and check.attempts == 0:  # the first look that reached the system
                self.notifier.thread(
                    request, f"Residual copies in {check.system} are still there after their "
                    "expiry date; mimbot looks again every day. Ask the directory team.",
                )  # fmt: skip
        return done

    def _tomorrow(self) -> datetime:
        return self.store.clock() + timedelta(days=1)

    def _replan_copies(self, request: Request) -> tuple[list[PlannedStep], int]:
        """After a failed verification (no failed step): steps for approved objects that
        are live again (restored from the Recycle Bin, same objectGUID), and the number
        of other live objects, which nobody approved erasing and which are not touched:
        a mail alias moved to a manager's mailbox matches the leaver's mail too."""
        failed_step = any(s.state is StepState.FAILED for s in request.steps)
        if request.subject is None or failed_step:
            return [], 0
        failing = [
            system
            for system, v in request.result.get("verification", {}).items()
            if v.get("absent") is False and system in self.connectors
        ]
        approved = set(request.subject.refs)
        refs: list[ObjectRef] = []
        unapproved = 0
        for system in failing:
            try:
                check = self.connectors[system].verify_absent(
                    request.subject.identifiers, timeout=self.timeout
                )
            except ConnectorError as exc:
                raise RequestStateError(
                    f"Cannot look for the copies in {system} ({exc}). Nothing was changed."
                ) from exc
            refs += [r for r in check.remaining if r in approved]
            unapproved += sum(r not in approved for r in check.remaining)
        return self._plan(refs, nothing="changed"), unapproved

    def expire_stale(self) -> list[str]:
        """Approval windows that ran out: mark expired and redraw their messages."""
        expired = self.store.expire(event=Entry(actor="system", roles=[], action="expired"))
        for request_id in expired:
            request = self.store.get(request_id)
            self.notifier.request_updated(request)
            self.notifier.thread(request, "The approval window has passed: request expired.")
        return expired

    def _decidable(self, request_id: str, actor: Actor) -> Request:
        request = self.store.get(request_id)
        if Role.APPROVER not in actor.roles:
            raise NotAllowed("Only the *approver* role can decide erasure requests.")
        if self.policy.four_eyes and actor.user_id == request.requester:
            raise NotAllowed("You asked for this erasure; another approver must decide it.")
        if request.status is Status.AWAITING_APPROVAL and request.expires_at <= self.store.clock():
            self.expire_stale()
            raise RequestStateError(f"{request_id} expired before it was decided.")
        return request

    def _lost(self, decision: Decision, actor: Actor) -> Decision:
        request = decision.request
        if request.status is Status.AWAITING_APPROVAL and actor.user_id in request.approvals:
            raise RequestStateError("You have already approved this request.")
        by = f" by <@{request.decided_by}>" if request.decided_by else ""
        raise RequestStateError(f"{request.id} was already {request.status.value}{by}.")

    def _event(
        self,
        actor: Actor,
        action: str,
        request_id: str | None,
        subject_keys: Sequence[str],
        **detail: object,
    ) -> Entry:
        """An audit event for the store to append with the change it records (a missing
        request id or subject key is filled in by the store)."""
        return Entry(
            actor=actor.user_id,
            roles=actor.role_names,
            action=action,
            request_id=request_id,
            subject_key=_first(subject_keys),
            detail=detail,
        )


def _approver(actor: Actor) -> bool:
    return Role.APPROVER in actor.roles or Role.ADMIN in actor.roles


def _first(keys: Sequence[str]) -> str | None:
    return keys[0] if keys else None
