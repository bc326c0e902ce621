"""Durable execution of approved requests: steps in order, verification, notifications.

Each step is claimed through the database with a lease before it runs and
recorded when it ends, so several replicas can share the work, a dead
process's step is taken over once its lease runs out, and a restarted bot
resumes without repeating a finished step (connectors' deletes are idempotent,
so a step interrupted mid-call may safely run again). Transient errors
(unreachable, timed out) are retried with exponential backoff (tenacity).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.logs import log_failure
from bot.lookup.calls import Call, call, not_configured
from bot.workflow.events import StepDone, StepFailed, StepStarted, StepWaiting, Verified
from bot.workflow.holds import HoldStore
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.reports import SystemCheck, VerificationReport
from bot.workflow.requests import (
    TERMINAL,
    Request,
    RequestKind,
    ResidualCheck,
    Status,
    Step,
    StepState,
)
from bot.workflow.store import RequestStore
from connectors.base import (
    Capability,
    Connector,
    DeletePlan,
    IdKind,
    PlanAction,
    ResidualCopy,
    StepResult,
    UpdatePlan,
    Verification,
)
from connectors.capabilities import updates
from connectors.errors import ConnectorError, NotSupported, TimedOut, Unreachable

__all__ = ["Runner"]

log = logging.getLogger(__name__)

TRANSIENT = (Unreachable, TimedOut)


@dataclass
class Runner:
    store: RequestStore
    connectors: Mapping[str, Connector]
    notifier: AuditedNotifier
    lease: timedelta = timedelta(seconds=60)
    attempts: int = 3
    backoff_seconds: float = 0.5
    timeout: float = 10.0
    wait_limit: timedelta = timedelta(days=7)  # a WAIT step (deletion rule) fails after this
    owner: str = field(default_factory=lambda: f"runner-{uuid.uuid4().hex[:8]}")
    on_completed: Callable[[], object] | None = None  # e.g. publish an audit checkpoint
    holds: HoldStore | None = None  # a person put on hold stops before the first step

    def run(self, request_id: str) -> Request:
        """Advance one request as far as it can go now; return it as it stands."""
        request = self.store.get(request_id)
        if request.status is Status.APPROVED:
            # Only the status moved: no need to read the request again, unless another
            # runner moved it first.
            moved = self.store.decisions.start_running(request_id)
            request = (
                replace(request, status=Status.RUNNING) if moved else self.store.get(request_id)
            )
        if request.status is Status.RUNNING:
            if not self._run_steps(request):
                return self.store.get(request_id)
            request = replace(request, status=Status.VERIFYING)  # _run_steps moved it
        if request.status is Status.VERIFYING:
            return self._verify(request)
        return request

    def resume_all(self) -> list[str]:
        """Pick up every unfinished request (at start, and periodically)."""
        ids = self.store.runnable()
        for request_id in ids:
            try:
                self.run(request_id)
            except Exception as exc:  # noqa: BLE001 - one broken request must not stop others
                log_failure(log, "runner: request %s could not advance", exc, request_id)
        return ids

    # -- steps ------------------------------------------------------------------

    def _run_steps(self, request: Request) -> bool:
        """Run pending steps in order. False when blocked (manual, failed, or taken)."""
        if self._on_hold(request):
            return False
        for step in request.steps:
            if step.state in (StepState.DONE, StepState.SKIPPED):
                continue
            if step.manual:
                if step.announced_at is None:
                    self._announce(request, step)
                return False
            # A wait re-checked every poll is one step, not thousands of audited starts.
            start = (
                None
                if step.state is StepState.WAITING
                else StepStarted(
                    actor=self.owner, request_id=request.id, seq=step.seq, system=step.system
                )
            )
            if not self.store.steps.claim(request.id, step.seq, self.owner, self.lease, start):
                return False  # another runner holds it, or it failed
            if not self._run_step(request, step):
                return False
            self.notifier.request_updated(self.store.get(request.id))
        return self.store.decisions.start_verifying(request.id)

    def _on_hold(self, request: Request) -> bool:
        """An erasure whose person was put on hold after its approval (GDPR Art. 17(3))
        fails at its first step, before anything is erased; once a step has run, the
        erasure goes on (stopping half-way would leave the person half-erased)."""
        if self.holds is None or request.kind is not RequestKind.ERASURE:
            return False
        if any(s.state not in (StepState.PENDING, StepState.SKIPPED) for s in request.steps):
            return False  # a step has run: finish, rather than leave the person half-erased
        pending = [s for s in request.steps if s.state is StepState.PENDING]
        hold = self.holds.held(request.subject_keys) if pending else None
        if hold is None:
            return False
        first = pending[0]
        error = (
            f"the person was put on hold on {hold.when} (GDPR Art. 17(3)): nothing was erased;"
            " an approver lifts it with /mim unhold, then retries"
        )
        event = StepFailed(
            actor=self.owner, request_id=request.id, seq=first.seq, system=first.system,
            error=error, audited_error="on hold",
        )  # fmt: skip
        if self.store.steps.claim(request.id, first.seq, self.owner, self.lease):
            self._fail(request, event)
        return True

    def _announce(self, request: Request, step: Step) -> None:
        # Post each manual step once, even with several runners: the claim makes one
        # runner the poster; a failed post leaves it unannounced for the next round.
        if not self.store.steps.claim(request.id, step.seq, self.owner, self.lease):
            return
        posted = self.notifier.manual_step(request, step)
        self.store.steps.release(request.id, step.seq, self.owner, announced=posted)

    def _run_step(self, request: Request, step: Step) -> bool:
        """Run a claimed step (its start is audited with the claim); record how it ended."""
        connector = self.connectors.get(step.system)
        where = {
            "actor": self.owner,
            "request_id": request.id,
            "seq": step.seq,
            "system": step.system,
        }
        if connector is None or step.plan is None:
            applied: Call[StepResult] = not_configured(step.system)
        else:
            applied = call(
                connector, lambda: self._apply(connector, step), what="step", timeout=self.timeout
            )
        result = applied.value
        if result is None:
            self._fail(request, StepFailed(**where, error=applied.reason))
            return False
        if not result.done and step.action is PlanAction.UPDATE:
            # A value that does not read back will not change by waiting: a sync or a
            # policy undoes it, and retrying would fight it. A person looks.
            self._fail(request, StepFailed(**where, error=result.detail or "not read back"))
            return False
        if not result.done and self._waited_too_long(step):
            limit = self.wait_limit / timedelta(hours=1)
            waited = f"{limit / 24:g} days" if limit >= 24 else f"{limit:g} hours"
            error = f"still waiting after {waited}: {result.detail or 'no progress'}"
            self._fail(request, StepFailed(**where, error=error, audited_error="wait limit"))
            return False
        if not result.done:  # waiting on something else (e.g. a deletion rule): later
            waiting = None if step.state is StepState.WAITING else StepWaiting(**where)
            self.store.steps.wait(
                request.id, step.seq, self.owner, result.detail or "waiting", waiting
            )
            return False
        detail = "already absent" if result.already_absent else (result.detail or "done")
        end = StepDone(**where, already_absent=result.already_absent)
        self.store.steps.done(request.id, step.seq, self.owner, detail, end)
        return True

    def _fail(self, request: Request, event: StepFailed) -> None:
        self.store.steps.fail(request.id, event.seq, self.owner, event)
        self._finished(self.store.get(request.id))

    def _waited_too_long(self, step: Step) -> bool:
        """Counted from the step's first run (or its retry), not from the approval:
        manual steps before it may well take longer than the limit."""
        since = step.started_at or self.store.clock()
        return self.store.clock() - since > self.wait_limit

    def _apply(self, connector: Connector, step: Step) -> StepResult:
        """The connector's idempotent apply, retried with backoff on transient errors."""
        assert step.plan is not None
        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=30),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:  # the claim set a fresh lease
                    self.store.steps.renew(step.request_id, step.seq, self.owner, self.lease)
                if isinstance(step.plan, UpdatePlan) and (u := updates(connector)) is not None:
                    return u.apply_update(step.plan, timeout=self.timeout)
                if isinstance(step.plan, DeletePlan):
                    return connector.apply_delete(step.plan, timeout=self.timeout)
                raise NotSupported(f"{connector.label} cannot carry out this step")
        raise ConnectorError("no attempt made")  # pragma: no cover - reraise=True raises

    # -- verification -----------------------------------------------------------

    def _verify(self, request: Request) -> Request:
        lease_until = self.store.clock() + self.lease
        if not self.store.decisions.claim_verification(request.id, self.owner, lease_until):
            return self.store.get(request.id)
        subject = request.subject
        # Every system that can check, not only those with a step: a copy found nowhere
        # at planning (a Recycle Bin object, a late sync) must not go unreported.
        planned = {s.system for s in request.steps if not s.manual}
        systems = sorted(
            planned | {n for n, c in self.connectors.items() if Capability.VERIFY in c.capabilities}
        )
        if request.kind is not RequestKind.ERASURE:  # a correction was read back by its own step
            systems = []
        checks: dict[str, SystemCheck] = {}
        # What a plan foresaw stands until its system is checked; then what the check
        # saw replaces it (a tombstone with its real date, a metaverse object now gone).
        foreseen: dict[str, list[ResidualCopy]] = {}
        for step in request.steps:
            if isinstance(step.plan, DeletePlan):
                foreseen.setdefault(step.system, []).extend(step.plan.residuals)
        residuals = [r for system, rs in foreseen.items() if system not in systems for r in rs]
        later: list[ResidualCheck] = []  # dated copies: look again once they should be gone
        failing: str | None = None
        for system in systems:
            seen = self._check(system, subject.identifiers if subject else None)
            check = seen.value
            if check is None:
                checks[system] = SystemCheck(absent=None, detail=seen.reason)
                residuals += foreseen.get(system, [])
                failing = failing or system
                continue
            checks[system] = SystemCheck(
                absent=check.absent, detail=check.detail, remaining=len(check.remaining)
            )
            residuals += list(check.residuals)
            later += _checks_after(request, system, check.residuals)
            if not check.absent and not check.remaining and system not in planned:
                # Nothing found, nothing planned, but absence not provable (CM by an account
                # AD no longer has: it keeps a deleted account's cards by objectGUID): named
                # as what may be left, rather than failing an erasure that did its part.
                label = self.connectors[system].label
                residuals.append(ResidualCopy(f"{label}, not proven clean: {check.detail}"))
                continue
            if not check.absent:
                failing = failing or system
        report = VerificationReport(
            systems=checks,
            residuals=tuple(_dedupe(residuals)),
            failed_step=f"verification in {failing}" if failing else None,
        )
        event = Verified(actor=self.owner, request_id=request.id, report=report)
        ended = self.store.decisions.conclude(request.id, event, checks=later)
        done = self.store.get(request.id)
        if ended:  # else another runner ended it, and told people
            self._finished(done)
            if self.on_completed is not None and done.status in TERMINAL:
                self.on_completed()
        return done

    def _check(self, system: str, identifiers: Mapping[IdKind, str] | None) -> Call[Verification]:
        connector = self.connectors.get(system)
        if connector is None or identifiers is None:
            return not_configured(system, "cannot verify: connector or identifiers missing")
        return call(
            connector,
            lambda: connector.verify_absent(identifiers, timeout=self.timeout),
            what="verification",
            timeout=self.timeout,
        )

    # -- notifications ----------------------------------------------------------

    def _finished(self, request: Request) -> None:
        self.notifier.request_updated(request)
        self.notifier.finished(request)


# A tombstone goes at the first garbage collection (every 12 hours) after its date.
GC_MARGIN = timedelta(days=1)


def _checks_after(
    request: Request, system: str, seen: Sequence[ResidualCopy]
) -> list[ResidualCheck]:
    """One check per object of `system` whose dated residual copies should be gone by
    the last date plus a garbage collection, searched by its reference (objectGUID)."""
    dates = [r.expires for r in seen if r.expires]
    if not dates or request.subject is None:
        return []
    # Only objects this request deleted, or that a system keeps until a date by design
    # (a certificate in Certificate Management, plan NONE): a pseudonymised account stays
    # for good, and looking for it would find it "still there" every day, for ever.
    looked_for = {
        s.plan.ref: s.plan.action
        for s in request.steps
        if s.system == system
        and isinstance(s.plan, DeletePlan)
        and s.plan.action in (PlanAction.DELETE, PlanAction.NONE)
    }
    checks = []
    for ref, action in sorted(looked_for.items(), key=lambda pair: pair[0].id):
        # The identifier the reference is (objectGUID, MV object id): what to search by.
        # A kept-by-design copy is named by its account (DOMAIN\account in CM).
        kind = next((k for k, v in request.subject.identifiers.items() if v == ref.id), None)
        if kind is None and action is PlanAction.NONE:
            kind = IdKind.ACCOUNT
        if kind is not None:
            checks.append(ResidualCheck(request.id, system, ref.id, kind, max(dates) + GC_MARGIN))
    return checks


def _dedupe(residuals: list[ResidualCopy]) -> list[ResidualCopy]:
    seen: dict[tuple[str, object], ResidualCopy] = {}
    for r in residuals:
        seen.setdefault((r.description, r.expires), r)
    return list(seen.values())
