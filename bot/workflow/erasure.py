"""Erasure requests: resolve the subject to one person, plan per system in source-of-
authority order, and submit for approval; after a failed verification, re-plan the copies
that are live again.

Deciding is `bot/workflow/decisions.py` (every kind), execution `bot/workflow/runner.py`,
the later look at residual copies `bot/workflow/residual_checks.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.audit import SubjectKeyer
from bot.config import PolicyConfig
from bot.errors import AlreadyOpen, CannotPlan, HeldElsewhere, OnHold, RequestStateError
from bot.lookup.calls import Outcome, call, verify_call
from bot.lookup.search import SearchService
from bot.lookup.subjects import Match, single_subject
from bot.permissions.roles import Actor
from bot.workflow.events import ApprovalGiven
from bot.workflow.holds import HoldStore
from bot.workflow.manual import ManualOwners, instruction
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.requests import (
    PlannedStep,
    Request,
    RequestKind,
    Status,
    StepState,
    Subject,
)
from bot.workflow.store import RequestStore
from bot.workflow.subject_keys import SubjectKeys, hold_keys, subject_keys
from bot.workflow.submission import store_request, submit_for_approval
from connectors.base import (
    RANK_SOURCE,
    RANK_TARGET,
    Capability,
    Connector,
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
)
from connectors.capabilities import management_agent

__all__ = ["ErasureService"]

UNDECIDED = frozenset({Status.PLANNED, Status.AWAITING_APPROVAL})
# A batch's erasures read the systems' holds (an AD group, an HR column) at most once a
# minute, not once a person; a /mim hold is read fresh for each.
BATCH_HOLDS_AGE = 60.0


class HoldCheck(Protocol):
    def __call__(self, keys: Sequence[str], *, fresh_within: float = 0.0) -> str | None: ...


@dataclass
class ErasureService:
    store: RequestStore
    search: SearchService
    connectors: Mapping[str, Connector]
    keyer: SubjectKeyer
    notifier: AuditedNotifier  # audits each message; a failed one never raises
    policy: PolicyConfig
    timeout: float = 5.0
    holds: HoldStore | None = None  # a person on hold (GDPR Art. 17(3)) is not erased
    # The other sources of holds (an AD group, an HR column, app.yaml's list): the sweep's.
    hold_check: HoldCheck | None = None
    owners: ManualOwners = field(init=False)

    def __post_init__(self) -> None:
        self.owners = ManualOwners(self.policy.manual_step_roles)

    # -- request ----------------------------------------------------------------

    def request(self, query: Query, *, actor: Actor, reason: str | None) -> Request:
        """Resolve to one person, plan, store, and post for approval."""
        subject, keys, steps = self._prepare(query, actor)
        return submit_for_approval(
            self.store,
            self.notifier,
            self.policy,
            kind=RequestKind.ERASURE,
            actor=actor,
            subject=subject,
            keys=keys,
            steps=steps,
            reason=reason,
            approvals=self.policy.erasure_approvals,
        )

    def request_in_batch(
        self, query: Query, *, batch_id: str, requester: Actor, approval: ApprovalGiven
    ) -> Request:
        """A retention batch's member: resolved, checked and planned as a `delete` is
        now (a hold placed since the sweep refuses it), and stored approved by the batch's
        approver; no message of its own (the batch's summary tells)."""
        subject, keys, steps = self._prepare(query, requester, holds_within=BATCH_HOLDS_AGE)
        return store_request(
            self.store,
            self.policy,
            kind=RequestKind.ERASURE,
            actor=requester,
            subject=subject,
            keys=keys,
            steps=steps,
            reason=None,
            approvals=1,
            batch=(batch_id, approval),
        )

    def _prepare(
        self, query: Query, actor: Actor, *, holds_within: float = 0.0
    ) -> tuple[Subject, SubjectKeys, list[PlannedStep]]:
        """Resolve to one person, refuse one on hold or with an erasure open, and plan.
        `holds_within`: the systems' holds may be as old as that (seconds)."""
        result = self.search.find(query, actor=actor, command="delete")
        match = single_subject(result)
        subject = match.subject()
        keys = subject_keys(self.keyer, subject)
        named = hold_keys(self.keyer, subject, keys)
        if self.holds is not None and (hold := self.holds.held(named)):
            raise OnHold(hold.placed_by, hold.when, hold.reason)
        if self.hold_check is not None and (
            source := self.hold_check(named, fresh_within=holds_within)
        ):
            raise HeldElsewhere(source)
        already = self.store.open_for(keys.person)
        if already:  # checked again, atomically, when the request is stored
            raise AlreadyOpen(already)
        steps = self.plan(match)
        if not steps:
            raise RequestStateError(
                "No system holds anything to erase for that person. Nothing was created."
            )
        return subject, keys, steps

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
                raise CannotPlan(
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
        covered = {management_agent(self.connectors[name]) for name in planned}
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
                        assigned_role=self.owners.role(step.task),
                        task=step.task,
                    ),
                )
            )
        return steps

    def replan_copies(self, request: Request) -> tuple[list[PlannedStep], int]:
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
            seen = verify_call(
                self.connectors,
                system,
                request.subject.identifiers,
                what="copy search",
                timeout=self.timeout,
            )
            if seen.value is None:
                raise RequestStateError(
                    f"Cannot look for the copies in {system} ({seen.reason}). Nothing was changed."
                )
            refs += [r for r in seen.value.remaining if r in approved]
            unapproved += sum(r not in approved for r in seen.value.remaining)
        return self._plan(refs, nothing="changed"), unapproved
