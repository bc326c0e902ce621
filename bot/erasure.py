"""Erasure requests: resolve the subject, plan per system, record, and decide (four eyes).

Execution is `bot/runner.py`; what people are told goes through a `Notifier`.
Every step here writes an audit event keyed by the request id and subject keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.audit import SubjectKeyer
from bot.audited_notifier import AuditedNotifier
from bot.authz import Authorizer
from bot.calls import Call, Outcome, call, not_configured
from bot.config import PolicyConfig
from bot.errors import AlreadyDecided, AlreadyOpen, NotFound, RequestStateError
from bot.events import (
    ApprovalGiven,
    Cancelled,
    Expired,
    Extended,
    Rejected,
    ResidualChecked,
    ResidualOutcome,
    RetryStarted,
    StepDone,
)
from bot.manual import ManualOwners, instruction
from bot.requests import TERMINAL, PlannedStep, Request, Status, StepState, add_calendar_month
from bot.roles import Actor
from bot.search import SearchService
from bot.store import Decision, RequestStore
from bot.subject_keys import subject_keys
from bot.subjects import Match, single_subject
from bot.submission import submit_for_approval
from connectors.base import (
    RANK_SOURCE,
    RANK_TARGET,
    Capability,
    Connector,
    IdKind,
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    Verification,
)

__all__ = ["ErasureService"]

UNDECIDED = frozenset({Status.PLANNED, Status.AWAITING_APPROVAL})


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
    authz: Authorizer = field(default=None)  # type: ignore[assignment]  # default: from policy
    owners: ManualOwners = field(init=False)

    def __post_init__(self) -> None:
        if self.authz is None:
            self.authz = Authorizer.from_config(None, four_eyes=self.policy.four_eyes)
        self.owners = ManualOwners(self.policy.manual_step_roles)

    # -- request ----------------------------------------------------------------

    def request(self, query: Query, *, actor: Actor, reason: str | None) -> Request:
        """Resolve to one person, plan, store, and post for approval."""
        result = self.search.find(query, actor=actor, command="delete")
        match = single_subject(result)
        subject = match.subject()
        keys = subject_keys(self.keyer, subject)
        already = self.store.open_for(keys.person)
        if already:  # checked again, atomically, when the request is stored
            raise AlreadyOpen(already)
        steps = self.plan(match)
        if not steps:
            raise RequestStateError(
                "No system holds anything to erase for that person. Nothing was created."
            )
        return submit_for_approval(
            self.store,
            self.notifier,
            self.policy,
            kind="erasure",
            actor=actor,
            subject=subject,
            keys=keys,
            steps=steps,
            reason=reason,
            approvals=self.policy.erasure_approvals,
        )

    def plan(self, match: Match) -> list[PlannedStep]:
        """Steps in source-of-authority order, manual work among them at its system's rank."""
        return self._plan([hit.ref for hit in match.hits], nothing="created")

    def _plan(self, refs: Sequence[ObjectRef], *, nothing: str) -> list[PlannedStep]:
        automated: list[tuple[int, PlannedStep]] = []
        manual: list[tuple[int, Connector, ManualStep]] = []
        # Nothing to do, but something to know (Certificate Management: notes and the
        # certificates kept until they expire): stored as a skipped step with its plan.
        informative: list[PlannedStep] = []
        for ref in refs:
            connector = self.connectors.get(ref.system)
            if connector is None:
                continue
            planned = call(
                connector,
                lambda c=connector, r=ref: c.plan_delete(r, timeout=self.timeout),
                what="plan",
                timeout=self.timeout,
            )
            if planned.outcome is Outcome.NOT_FOUND:
                continue  # gone since the search (or since the copy was seen): nothing to do
            plan = planned.value
            if Capability.DELETE not in connector.capabilities and (
                plan is None or plan.action is not PlanAction.NONE
            ):
                # A system the bot cannot erase in: a person does, and one that could not
                # even be asked is checked by hand rather than stopping every erasure.
                why = "" if planned.outcome is Outcome.SKIPPED else f"not asked: {planned.reason}"
                manual.append((RANK_TARGET, connector, ManualStep(ManualTask.ERASE_BY_HAND, why)))
                continue
            if plan is None:
                raise RequestStateError(
                    f"Cannot plan for {connector.label} ({planned.reason}). Nothing was {nothing}."
                )
            manual += [(plan.authority_rank, connector, m) for m in plan.manual]
            if plan.action is PlanAction.NONE:
                if plan.notes or plan.residuals:
                    informative.append(
                        PlannedStep(connector.name, plan.action, plan.summary, plan=plan)
                    )
            else:
                automated.append(
                    (
                        plan.authority_rank,
                        PlannedStep(connector.name, plan.action, plan.summary, plan=plan),
                    )
                )
        ranked = self._manual_steps(manual, automated) + [(r, 1, s) for r, s in automated]
        # By rank; at one rank the manual work (a confirmation) before the automated step.
        # sorted() is stable, so each group keeps the order its systems answered in.
        steps = [step for _, _, step in sorted(ranked, key=lambda t: (t[0], t[1]))]
        return steps + informative if steps else []

    def _manual_steps(
        self,
        manual: Sequence[tuple[int, Connector, ManualStep]],
        automated: Sequence[tuple[int, PlannedStep]],
    ) -> list[tuple[int, int, PlannedStep]]:
        """Manual steps, each owned by its kind's role, at its rank (erasing at the source
        at the source's). Work the metaverse asks for in a system (erase at the source,
        erase a disconnector) is dropped when that system's own connector has planned a
        step for it (its management agent is the one named)."""
        planned = {s.system for _, s in automated} | {c.name for _, c, _ in manual}
        covered = {getattr(self.connectors[name], "management_agent", None) for name in planned}
        covered.discard(None)
        steps: list[tuple[int, int, PlannedStep]] = []
        for rank, connector, step in manual:
            if step.about and step.about in covered:
                continue
            at_source = step.task is ManualTask.ERASE_AT_SOURCE
            steps.append(
                (
                    RANK_SOURCE if at_source else rank,
                    0,
                    PlannedStep(
                        connector.name,
                        PlanAction.MANUAL,
                        instruction(step, connector.label),
                        assigned_role=self.owners.role(step.task).value,
                        task=step.task,
                    ),
                )
            )
        return steps

    # -- decisions ----------------------------------------------------------------

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
        if request.kind == "access":  # nothing to re-run: the export reads again
            raise RequestStateError(
                f"{request_id} is an access request: run the same /mim export again to read "
                f"what was missing, or an approver closes it with /mim cancel {request_id} "
                "<reason>."
            )
        added, unapproved = self._replan_copies(request) if request.kind == "erasure" else ([], 0)
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

    def reverify_residuals(self, owner: str | None = None, limit: int = 100) -> list[str]:
        """Look again for each residual copy whose time is up (the design's "re-verified
        then"): gone, and the check and its object reference are forgotten; still there,
        and the thread is told once and the look repeats daily."""
        owner = owner or f"checker-{uuid.uuid4().hex[:8]}"  # leases are per checker
        residuals = self.store.residuals
        done = []
        for _ in range(limit):
            check = residuals.claim(owner, lease=timedelta(minutes=10))
            if check is None:
                break
            event = ResidualChecked(
                actor="system",
                request_id=check.request_id,
                system=check.system,
                attempt=check.attempts + 1,
                outcome=ResidualOutcome.GONE,
                at=self.store.clock(),
            )
            looked = self._verify(check.system, {check.kind: check.ref}, "residual check")
            if looked.value is None:
                residuals.later(
                    check,
                    owner,
                    self._tomorrow(),
                    replace(event, outcome=ResidualOutcome.NOT_CHECKED),
                )
                continue
            request = self.store.get(check.request_id)
            if looked.value.absent and not looked.value.residuals:
                if residuals.done(check, owner, event):
                    self.notifier.event(request, event)
                    done.append(check.request_id)
                continue
            still = replace(event, outcome=ResidualOutcome.STILL_PRESENT)
            later = residuals.later(check, owner, self._tomorrow(), still)
            if later and check.attempts == 0:  # the first look that reached the system
                self.notifier.event(request, still)
        return done

    def _verify(
        self, system: str, identifiers: Mapping[IdKind, str], what: str
    ) -> Call[Verification]:
        connector = self.connectors.get(system)
        if connector is None:
            return not_configured(system)
        return call(
            connector,
            lambda: connector.verify_absent(identifiers, timeout=self.timeout),
            what=what,
            timeout=self.timeout,
        )

    def _tomorrow(self) -> datetime:
        return self.store.clock() + timedelta(days=1)

    def _replan_copies(self, request: Request) -> tuple[list[PlannedStep], int]:
        """After a failed verification (no failed step): steps for approved objects that
        are live again (restored from the Recycle Bin, same objectGUID), and the number
        of other live objects, which nobody approved erasing and which are not touched:
        a mail alias moved to a manager's mailbox matches the leaver's mail too."""
        failed_step = any(s.state is StepState.FAILED for s in request.steps)
        if request.subject is None or failed_step or request.report is None:
            return [], 0
        approved = set(request.subject.refs)
        refs: list[ObjectRef] = []
        unapproved = 0
        for system in request.report.still_present():
            if system not in self.connectors:
                continue
            seen = self._verify(system, request.subject.identifiers, "copy search")
            if seen.value is None:
                raise RequestStateError(
                    f"Cannot look for the copies in {system} ({seen.reason}). Nothing was changed."
                )
            refs += [r for r in seen.value.remaining if r in approved]
            unapproved += sum(r not in approved for r in seen.value.remaining)
        return self._plan(refs, nothing="changed"), unapproved

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
