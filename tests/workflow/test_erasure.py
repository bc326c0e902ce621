"""The erasure workflow (bot/workflow/erasure.py, runner.py, store/) over in-memory
connectors, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot import render
from bot.audit import AuditLog, SubjectKeyer
from bot.audit.schema import audit_events
from bot.config import PolicyConfig
from bot.database import create_engine, migrate
from bot.errors import AlreadyDecided, AlreadyOpen, NotAllowed, NotFound, RequestStateError
from bot.lookup.search import SearchService
from bot.lookup.subjects import AmbiguousSubject, SystemsUnavailable
from bot.permissions.roles import Actor, Role
from bot.render import events as render_events
from bot.render import requests as render_requests
from bot.workflow.decisions import DecisionService
from bot.workflow.erasure import ErasureService
from bot.workflow.events import Event, ResidualChecked, ResidualOutcome, StepDone, StepStarted
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.requests import Request, Status, Step, StepState, add_calendar_month
from bot.workflow.residual_checks import ResidualChecker
from bot.workflow.runner import Runner
from bot.workflow.store import RequestStore
from connectors.base import (
    DeletePlan,
    IdKind,
    ManualStep,
    ManualTask,
    PlanAction,
    Query,
    QueryKind,
    ResidualCopy,
)
from connectors.errors import ConnectorError, Unreachable
from connectors.memory import MemoryConnector, Person
from tests.support.clock import Clock
from tests.support.keys import CHAIN_KEY


def at_source(detail: str) -> ManualStep:
    return ManualStep(ManualTask.ERASE_AT_SOURCE, detail)


REQUESTER = Actor("UREQ", frozenset({Role.REQUESTER}))
APPROVER = Actor("UAPP", frozenset({Role.APPROVER}))
APPROVER2 = Actor("UAPP2", frozenset({Role.APPROVER}))
VIEWER = Actor("UVIEW", frozenset({Role.VIEWER}))
JDOE = Query(QueryKind.NAME, "jdoe")


def jane(pid: str = "1") -> Person:
    return Person(
        pid,
        {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe", IdKind.MAIL: "jane@example.test"},
    )


def someone(n: int) -> Person:
    """Another person, account p<n>: requests about different people are independent."""
    return Person(
        f"p{n}",
        {IdKind.ACCOUNT: f"p{n}", IdKind.DISPLAY_NAME: f"Person {n}", IdKind.MAIL: f"p{n}@x.test"},
    )


def query(n: int) -> Query:
    return Query(QueryKind.NAME, f"p{n}")


@dataclass
class Recorder:
    """The Notifier the front ends implement, recording what people would be told."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def approval_requested(self, request: Request):
        self.calls.append(("approval_requested", request.id))
        return ("CAPPROVALS", "1700000000.000100")

    def request_updated(self, request: Request) -> None:
        self.calls.append(("request_updated", request.status.value))

    def event(self, request: Request, event: Event) -> None:
        self.calls.append(("thread", render_events.event_text(request, event)))

    def manual_step(self, request: Request, step: Step) -> None:
        self.calls.append(("manual_step", str(step.seq)))

    def finished(self, request: Request) -> None:
        self.calls.append(("finished", request.status.value))

    def of(self, kind: str) -> list[str]:
        return [v for k, v in self.calls if k == kind]


class FlakyDelete(MemoryConnector):
    """Fails `apply_delete` with a transient error the first `failures` times."""

    def __init__(self, *args, failures: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    def apply_delete(self, plan: DeletePlan, *, timeout: float):
        if self.failures:
            self.failures -= 1
            raise Unreachable("connection refused")
        return super().apply_delete(plan, timeout=timeout)


@dataclass
class World:
    erasure: ErasureService
    decisions: DecisionService
    residuals: ResidualChecker
    runner: Runner
    store: RequestStore
    audit: AuditLog
    notifier: Recorder
    clock: Clock
    connectors: dict[str, MemoryConnector]


def make_world(
    engine,
    *connectors: MemoryConnector,
    approvals: int = 1,
    clock: Clock | None = None,
    policy: PolicyConfig | None = None,
) -> World:
    clock = clock or Clock()
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    keyer = SubjectKeyer("test-subject-key-0123456789")
    store = RequestStore(engine, clock=clock, audit=audit)
    notifier = Recorder()
    told = AuditedNotifier(notifier, audit)
    by_name = {c.name: c for c in connectors}
    runner = Runner(
        store=store,
        connectors=by_name,
        notifier=told,
        attempts=3,
        backoff_seconds=0.01,
    )
    search = SearchService(list(connectors), audit=audit, keyer=keyer, timeout=2)
    policy = policy or PolicyConfig(erasure_approvals=approvals)
    erasure = ErasureService(
        store=store,
        search=search,
        connectors=by_name,
        keyer=keyer,
        notifier=told,
        policy=policy,
    )
    decisions = DecisionService(
        store=store,
        notifier=told,
        policy=policy,
        execute=runner.run,
        replanners={"erasure": erasure.replan_copies},
    )
    residuals = ResidualChecker(store=store, connectors=by_name, notifier=told)
    return World(erasure, decisions, residuals, runner, store, audit, notifier, clock, by_name)


def test_request_is_planned_recorded_and_posted(engine):
    hr = MemoryConnector("hr", "HR", [jane()], authority_rank=10)
    ad = MemoryConnector("ad", "AD", [jane("g1")], authority_rank=50)
    w = make_world(engine, ad, hr)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason="Art. 17 request")
    assert request.id == "REQ-2026-0001"
    assert request.status is Status.AWAITING_APPROVAL
    assert request.due_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)  # one calendar month
    assert [s.system for s in request.steps] == ["hr", "ad"]  # source of authority first
    assert request.subject.display_name == "Jane Doe"
    assert (request.channel, request.message_ts) == ("CAPPROVALS", "1700000000.000100")
    actions = [e.action for e in w.audit.events()]
    assert actions[:3] == ["delete", "request_created", "notify"]


def test_a_second_open_request_for_the_same_person_is_refused_with_the_open_ones_id(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    first = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    by_mail = Query(QueryKind.MAIL_OR_UPN, "jane@example.test")  # the same person, found again
    with pytest.raises(AlreadyOpen, match=first.id) as refused:
        w.erasure.request(by_mail, actor=APPROVER2, reason=None)
    assert refused.value.request_id == first.id
    assert w.store.ids() == [first.id]
    # Once it ends (here withdrawn), a new request for the person may be made.
    w.decisions.cancel(first.id, actor=REQUESTER, note="asked twice")
    assert w.erasure.request(JDOE, actor=REQUESTER, reason=None).id == "REQ-2026-0002"


def test_warnings_become_manual_steps_first(engine):
    class Warns(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            plan = super().plan_delete(ref, timeout=timeout)
            return DeletePlan(
                plan.ref,
                plan.action,
                plan.summary,
                manual=(
                    ManualStep(
                        ManualTask.ERASE_AT_SOURCE,
                        "HR is the source of authority: delete there first",
                    ),
                ),
            )

    w = make_world(engine, Warns("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert [(s.action, s.assigned_role) for s in request.steps] == [
        (PlanAction.MANUAL, "requester"),
        (PlanAction.DELETE, None),
    ]


@pytest.mark.parametrize(
    ("people", "error"),
    [
        ([], NotFound),
        (
            [jane("1"), Person("2", {IdKind.ACCOUNT: "jdoe2", IdKind.DISPLAY_NAME: "jdoe"})],
            AmbiguousSubject,
        ),
    ],
)
def test_no_request_unless_exactly_one_person(engine, people, error):
    w = make_world(engine, MemoryConnector("ad", "AD", people))
    with pytest.raises(error):
        w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert w.store.ids() == []
    assert w.notifier.calls == []


def test_ambiguity_lists_the_people_found():
    ad = MemoryConnector(
        "ad", "AD", [jane("1"), Person("2", {IdKind.ACCOUNT: "jdoe2", IdKind.DISPLAY_NAME: "jdoe"})]
    )
    engine = create_engine("sqlite://")
    migrate(engine)
    w = make_world(engine, ad)
    with pytest.raises(AmbiguousSubject) as info:
        w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert "matches 2 people" in info.value.user_message()
    assert "Jane Doe" in info.value.user_message()
    engine.dispose()


def test_a_silent_system_stops_planning(engine):
    down = MemoryConnector("hr", "HR")
    down.fail["search"] = Unreachable("down")
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), down)
    with pytest.raises(SystemsUnavailable, match="HR did not answer"):
        w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert w.store.ids() == []


def test_happy_path_runs_verifies_notifies_and_scrubs(engine):
    ad = MemoryConnector("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason="left in 2024")
    w.decisions.approve(request.id, actor=APPROVER)
    done = w.store.get(request.id)
    assert done.status is Status.COMPLETED
    assert ad.people == {}
    assert [s.state for s in done.steps] == [StepState.DONE]
    assert done.report.systems["ad"].absent is True
    assert done.subject is None and done.reason is None  # scrubbed
    assert all(s.plan is None for s in done.steps)  # and the objectGUIDs in the plans
    assert done.subject_keys  # kept
    assert w.notifier.of("finished") == ["completed"]
    assert "Approved by <@UAPP>." in w.notifier.of("thread")
    actions = [e.action for e in w.audit.events(request_id=request.id)]
    for expected in (
        "request_created",
        "approval",
        "step_start",
        "step_end",
        "verification",
        "notify",
    ):
        assert expected in actions
    assert w.audit.verify().ok


def test_self_approval_is_refused(engine):
    both = Actor("UREQ", frozenset({Role.REQUESTER, Role.APPROVER}))
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=both, reason=None)
    with pytest.raises(NotAllowed, match="another approver"):
        w.decisions.approve(request.id, actor=both)
    assert w.store.get(request.id).status is Status.AWAITING_APPROVAL


def test_non_approver_is_refused(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    with pytest.raises(NotAllowed):
        w.decisions.approve(request.id, actor=VIEWER)


def test_double_click_gives_one_decision(engine):
    ad = MemoryConnector("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    with pytest.raises(AlreadyDecided, match="already completed") as lost:
        w.decisions.approve(request.id, actor=APPROVER)
    assert lost.value.decided_by == "UAPP"
    # Who decided is a live mention in the refusal; the domain's text holds no markup.
    assert render.error(lost.value).text.endswith("already completed by <@UAPP>.")
    assert ad.calls.count("apply_delete") == 1


def test_concurrent_approvers_give_one_decision_and_one_execution(engine):
    ad = MemoryConnector("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def click(actor):
        barrier.wait()
        try:
            w.decisions.approve(request.id, actor=actor)
            outcomes.append("won")
        except RequestStateError as exc:
            outcomes.append(str(exc))

    threads = [
        threading.Thread(target=click, args=(a,))
        for a in (APPROVER, APPROVER2, APPROVER, APPROVER2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert ad.calls.count("apply_delete") == 1
    assert w.store.get(request.id).status is Status.COMPLETED


def test_policy_can_ask_for_two_approvals(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), approvals=2)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    first = w.decisions.approve(request.id, actor=APPROVER)
    assert first.approvals_missing == 1
    assert w.store.get(request.id).status is Status.AWAITING_APPROVAL
    with pytest.raises(RequestStateError, match="already approved"):
        w.decisions.approve(request.id, actor=APPROVER)
    w.decisions.approve(request.id, actor=APPROVER2)
    assert w.store.get(request.id).status is Status.COMPLETED


def test_rejection_with_a_reason(engine):
    ad = MemoryConnector("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.reject(request.id, actor=APPROVER, note="legal hold")
    rejected = w.store.get(request.id)
    assert (rejected.status, rejected.decided_by, rejected.decision_note) == (
        Status.REJECTED,
        "UAPP",
        "legal hold",
    )
    with pytest.raises(AlreadyDecided, match="already rejected"):
        w.decisions.approve(request.id, actor=APPROVER2)
    assert "apply_delete" not in ad.calls
    assert rejected.subject is None and rejected.reason is None  # scrubbed: keys only
    assert all(s.plan is None for s in rejected.steps)
    assert rejected.subject_keys


def test_approval_expires(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.clock.now += timedelta(hours=73)
    with pytest.raises(RequestStateError, match="expired"):
        w.decisions.approve(request.id, actor=APPROVER)
    expired = w.store.get(request.id)
    assert expired.status is Status.EXPIRED
    assert expired.subject is None
    assert "expired" in w.notifier.of("request_updated")


def test_transient_errors_are_retried(engine):
    ad = FlakyDelete("ad", "AD", [jane()], failures=2)
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    done = w.store.get(request.id)
    assert done.status is Status.COMPLETED
    assert done.steps[0].attempts == 1  # one claim; tenacity retried inside it


def test_failed_step_then_retry_completes(engine):
    ad = FlakyDelete("ad", "AD", [jane()], failures=5)
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    failed = w.store.get(request.id)
    assert failed.status is Status.FAILED
    assert failed.steps[0].state is StepState.FAILED
    assert "connection refused" in failed.steps[0].error
    assert w.notifier.of("finished") == ["failed"]
    with pytest.raises(NotAllowed):
        w.decisions.retry(request.id, actor=REQUESTER)
    ad.failures = 0
    w.decisions.retry(request.id, actor=APPROVER)
    assert w.store.get(request.id).status is Status.COMPLETED


def test_a_dead_runners_step_is_taken_over_and_done_steps_are_not_repeated(engine):
    hr = MemoryConnector("hr", "HR", [jane()], authority_rank=10)
    ad = MemoryConnector("ad", "AD", [jane("g")], authority_rank=50)
    w = make_world(engine, hr, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.execute = lambda _id: None  # approve without running: a runner "crashes" below
    w.decisions.approve(request.id, actor=APPROVER)
    w.store.decisions.start_running(request.id)
    # A first runner finishes step 1, claims step 2, and dies holding the lease.
    assert w.store.steps.claim(request.id, 1, "dead", timedelta(seconds=30))
    hr.apply_delete(w.store.get(request.id).steps[0].plan, timeout=1)
    done = StepDone(actor="dead", request_id=request.id, seq=1, system="hr")
    w.store.steps.done(request.id, 1, "dead", "done", done)
    assert w.store.steps.claim(request.id, 2, "dead", timedelta(seconds=30))
    # While the lease holds, another runner leaves it alone.
    assert w.runner.run(request.id).status is Status.RUNNING
    assert "apply_delete" not in ad.calls
    w.clock.now += timedelta(seconds=31)
    finished = w.runner.run(request.id)
    assert finished.status is Status.COMPLETED
    assert hr.calls.count("apply_delete") == 1  # step 1 was not repeated
    assert [s.attempts for s in finished.steps] == [1, 2]


def test_a_step_change_and_its_audit_event_commit_together_or_not_at_all(engine):
    ad = MemoryConnector("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.execute = lambda _id: None
    w.decisions.approve(request.id, actor=APPROVER)
    w.store.decisions.start_running(request.id)
    head = w.audit.verify().events
    # Occupy the chain's next place: the append fails inside the claim's transaction.
    with engine.begin() as conn:
        conn.execute(
            sa.insert(audit_events).values(
                seq=head + 1, at=w.clock.now, actor="x", roles="", action="x", outcome="x",
                detail="{}", prev_hash="x", hash="x",
            )
        )  # fmt: skip
    start = StepStarted(actor="runner-1", request_id=request.id, seq=1, system="ad")
    with pytest.raises(sa.exc.IntegrityError):
        w.store.steps.claim(request.id, 1, "runner-1", timedelta(seconds=30), start)
    (step,) = w.store.get(request.id).steps
    assert (step.state, step.attempts) == (StepState.PENDING, 0)  # not claimed unaudited
    with engine.begin() as conn:
        conn.execute(sa.delete(audit_events).where(audit_events.c.seq == head + 1))
    assert w.store.steps.claim(request.id, 1, "runner-1", timedelta(seconds=30), start)
    report = w.audit.verify()
    assert (report.ok, report.events) == (True, head + 1)
    assert w.audit.events(request_id=request.id)[-1].action == "step_start"


def test_manual_step_waits_for_done_by_the_assigned_role(engine):
    class Warns(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            plan = super().plan_delete(ref, timeout=timeout)
            return DeletePlan(
                plan.ref,
                plan.action,
                plan.summary,
                manual=(at_source("Delete in the HR system first"),),
            )

    ad = Warns("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    waiting = w.store.get(request.id)
    assert waiting.status is Status.RUNNING
    assert w.notifier.of("manual_step") == ["1"]
    assert "apply_delete" not in ad.calls
    w.runner.run(request.id)
    assert w.notifier.of("manual_step") == ["1"]  # announced once
    with pytest.raises(NotAllowed):
        w.decisions.step_done(request.id, 1, actor=VIEWER)
    w.decisions.step_done(request.id, 1, actor=REQUESTER)
    done = w.store.get(request.id)
    assert done.status is Status.COMPLETED
    assert done.steps[0].done_by == "UREQ"


def test_verification_failure_fails_the_request(engine):
    class Stubborn(MemoryConnector):
        def apply_delete(self, plan, *, timeout):
            self._enter("apply_delete")
            from connectors.base import StepResult

            return StepResult(plan.ref, done=True)  # claims success, deletes nothing

    w = make_world(engine, Stubborn("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    failed = w.store.get(request.id)
    assert failed.status is Status.FAILED
    assert failed.report.failed_step == "verification in ad"
    assert failed.subject is not None  # not scrubbed until it really completes


class Foresees(MemoryConnector):
    """Plans a residual copy; its verification sees another one, or cannot run."""

    def __init__(self, *args, seen: tuple[ResidualCopy, ...], down: bool = False, **kw) -> None:
        super().__init__(*args, **kw)
        self.seen, self.down = seen, down

    def plan_delete(self, ref, *, timeout):
        plan = super().plan_delete(ref, timeout=timeout)
        return replace(plan, residuals=(ResidualCopy("copy until the next sync"),))

    def verify_absent(self, identifiers, *, timeout):
        if self.down:
            raise Unreachable("connection refused")
        return replace(super().verify_absent(identifiers, timeout=timeout), residuals=self.seen)


def test_what_verification_sees_replaces_the_residuals_the_plan_foresaw(engine):
    seen = (
        ResidualCopy("tombstone", datetime(2026, 7, 30, tzinfo=UTC)),
        ResidualCopy("run history until cleared"),  # no date: it names its own end
    )
    w = make_world(engine, Foresees("ad", "AD", [jane()], seen=seen))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    done = w.store.get(request.id)
    assert done.status is Status.COMPLETED_WITH_RESIDUALS
    assert [r.description for r in done.residuals] == ["tombstone", "run history until cleared"]
    lines = [
        line
        for block in render_requests.finished_message(done).blocks
        for line in block.get("text", {}).get("text", "").splitlines()
    ]
    assert "• tombstone — until 2026-07-30" in lines
    assert "• run history until cleared" in lines  # no "until" without a date

    w = make_world(engine, Foresees("ad", "AD", [jane("2")], seen=()))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status is Status.COMPLETED  # the copy is gone


def test_an_unverified_system_keeps_the_residuals_its_plan_foresaw(engine):
    w = make_world(engine, Foresees("ad", "AD", [jane()], seen=(), down=True))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    failed = w.store.get(request.id)
    assert failed.report.failed_step == "verification in ad"
    assert [r.description for r in failed.report.residuals] == ["copy until the next sync"]


class SlackDown(Recorder):
    """Every post or update fails the way slack_sdk does when Slack cannot be reached."""

    def __init__(self, *failing: str) -> None:
        super().__init__()
        self.failing = set(failing)

    def __getattribute__(self, name: str):
        if name in object.__getattribute__(self, "failing"):

            def down(*_args: object) -> None:
                raise ConnectionError("slack.com unreachable")

            return down
        return object.__getattribute__(self, name)


def world_with(engine, notifier: Recorder, *connectors: MemoryConnector) -> World:
    w = make_world(engine, *connectors)
    told = AuditedNotifier(notifier, w.audit)
    w.runner.notifier = w.erasure.notifier = w.decisions.notifier = told
    w.notifier = notifier
    return w


def test_an_approval_message_slack_refused_leaves_a_request_approvers_can_decide(engine):
    w = world_with(engine, SlackDown("approval_requested"), MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert request.status is Status.AWAITING_APPROVAL and request.message_ts is None
    assert f"/mim approve {request.id}" in render_requests.request_created(request).text
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status is Status.COMPLETED
    failed = [e for e in w.audit.events(request_id=request.id) if e.outcome == "failed"]
    assert [(e.action, e.detail["what"]) for e in failed] == [("notify", "approval_requested")]


def test_a_message_slack_refused_never_undoes_or_hides_a_decision(engine):
    w = world_with(engine, SlackDown("thread"), MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    decision = w.decisions.reject(request.id, actor=APPROVER, note="legal hold")
    assert decision.won and decision.request.status is Status.REJECTED
    assert w.notifier.of("request_updated") == ["rejected"]  # the redraw still went out


def test_one_failed_redraw_does_not_stop_the_other_expiries(engine):
    class FirstRedrawFails(Recorder):
        def request_updated(self, request: Request) -> None:
            if not self.of("request_updated"):
                self.calls.append(("request_updated", "failed"))
                raise ConnectionError("slack.com unreachable")
            super().request_updated(request)

    w = world_with(engine, FirstRedrawFails(), MemoryConnector("ad", "AD", [jane(), someone(2)]))
    first = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    second = w.erasure.request(query(2), actor=REQUESTER, reason=None)
    w.clock.now += timedelta(hours=73)
    assert sorted(w.decisions.expire_stale()) == sorted([first.id, second.id])
    assert w.notifier.of("request_updated") == ["failed", "expired"]
    assert len(w.notifier.of("thread")) == 2


def test_a_manual_step_whose_post_failed_is_announced_on_the_next_round(engine):
    class Warns(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            plan = super().plan_delete(ref, timeout=timeout)
            return replace(
                plan,
                manual=(at_source("erase the person in HR first"),),
            )

    class FirstAnnouncementFails(Recorder):
        def manual_step(self, request: Request, step: Step) -> None:
            if not self.of("manual_step"):
                self.calls.append(("manual_step", "failed"))
                raise ConnectionError("slack.com unreachable")
            super().manual_step(request, step)

    w = world_with(engine, FirstAnnouncementFails(), Warns("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.notifier.of("manual_step") == ["failed"]
    w.runner.run(request.id)
    w.runner.run(request.id)
    assert w.notifier.of("manual_step") == ["failed", "1"]  # once more, then never again


def test_a_connector_crash_fails_the_step_without_escaping(engine):
    class Crashes(MemoryConnector):
        def apply_delete(self, plan, *, timeout):
            raise KeyError("bug")

    w = make_world(engine, Crashes("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    failed = w.store.get(request.id)
    assert failed.status is Status.FAILED
    assert failed.steps[0].error == "internal error (KeyError)"


def test_request_ids_stay_unique_under_concurrency(engine):
    store = RequestStore(engine)
    w = make_world(engine, MemoryConnector("ad", "AD", [someone(n) for n in range(6)]))
    ids: list[str] = []

    def create(n: int) -> None:
        ids.append(w.erasure.request(query(n), actor=REQUESTER, reason=None).id)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 6
    assert len(store.ids()) == 6


def test_concurrent_requests_for_one_person_create_exactly_one(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    created: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(5)

    def create() -> None:
        barrier.wait()
        try:
            created.append(w.erasure.request(JDOE, actor=REQUESTER, reason=None).id)
        except AlreadyOpen as exc:
            refused.append(exc.request_id)

    threads = [threading.Thread(target=create) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert refused == created * 4


def test_calendar_month():
    assert add_calendar_month(datetime(2026, 1, 31)) == datetime(2026, 2, 28)
    assert add_calendar_month(datetime(2026, 12, 15)) == datetime(2027, 1, 15)


def test_unknown_request_is_not_found(engine):
    w = make_world(engine)
    with pytest.raises(NotFound):
        w.decisions.approve("REQ-2026-9999", actor=APPROVER)


def test_errors_never_leave_half_a_request(engine):
    class CannotPlan(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            raise ConnectorError("insufficientAccessRights")

    w = make_world(engine, CannotPlan("ad", "AD", [jane()]))
    with pytest.raises(RequestStateError, match="Cannot plan for AD"):
        w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar() == 0


def test_a_wait_that_never_ends_fails_after_the_limit(engine):
    class DeletionRuleNeverRuns(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            return DeletePlan(ref, PlanAction.WAIT, "wait for the deletion rule")

        def apply_delete(self, plan, *, timeout):
            from connectors.base import StepResult

            return StepResult(plan.ref, done=False, detail="waiting for the deletion rule")

    w = make_world(engine, DeletionRuleNeverRuns("mv", "MV", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    waiting = w.store.get(request.id)
    assert waiting.status is Status.RUNNING
    assert waiting.steps[0].state is StepState.WAITING
    w.clock.now += timedelta(days=8)
    failed = w.runner.run(request.id)
    assert failed.status is Status.FAILED
    assert "still waiting after 7 days" in failed.steps[0].error
    assert w.notifier.of("finished") == ["failed"]


def test_a_wait_counts_from_its_own_start_is_audited_once_and_restarts_on_retry(engine):
    class SlowHrThenWait(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            return DeletePlan(
                ref,
                PlanAction.WAIT,
                "wait for the deletion rule",
                manual=(at_source("erase in HR"),),
            )

        def apply_delete(self, plan, *, timeout):
            from connectors.base import StepResult

            return StepResult(plan.ref, done=False, detail="waiting for the deletion rule")

    w = make_world(engine, SlowHrThenWait("mv", "MV", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    w.clock.now += timedelta(days=8)  # HR took longer than the wait limit
    w.decisions.step_done(request.id, 1, actor=REQUESTER)
    for _ in range(5):  # the worker polls the wait
        w.clock.now += timedelta(days=1)
        assert w.runner.run(request.id).status is Status.RUNNING
    actions = [e.action for e in w.audit.events(request_id=request.id)]
    assert (actions.count("step_start"), actions.count("step_wait")) == (1, 1)
    w.clock.now += timedelta(days=3)  # 8 days since the wait began
    assert w.runner.run(request.id).status is Status.FAILED
    w.decisions.retry(request.id, actor=APPROVER)
    w.clock.now += timedelta(days=6)
    assert w.runner.run(request.id).status is Status.RUNNING  # the clock restarted


def test_two_threads_of_one_runner_verify_once_and_tell_once(engine):
    entered, gate = threading.Event(), threading.Event()

    class SlowCheck(MemoryConnector):
        def verify_absent(self, identifiers, *, timeout):
            entered.set()
            gate.wait(5)
            return super().verify_absent(identifiers, timeout=timeout)

    ad = SlowCheck("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.execute = lambda _id: None
    w.decisions.approve(request.id, actor=APPROVER)
    first = threading.Thread(target=w.runner.run, args=(request.id,))
    first.start()
    try:
        assert entered.wait(5)
        assert w.runner.run(request.id).status is Status.VERIFYING  # the same runner's name
    finally:
        gate.set()
        first.join(5)
    assert w.store.get(request.id).status is Status.COMPLETED
    assert ad.calls.count("verify_absent") == 1
    assert w.notifier.of("finished") == ["completed"]


def test_every_system_that_can_check_is_checked_not_only_those_with_a_step(engine):
    hr = MemoryConnector("hr", "HR", [])  # held nothing when the plan was made

    class LateSync(MemoryConnector):
        def apply_delete(self, plan, *, timeout):
            result = super().apply_delete(plan, timeout=timeout)
            hr.people["late"] = jane("late")  # a sync brought a copy in meanwhile
            return result

    w = make_world(engine, LateSync("ad", "AD", [jane()]), hr)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert [s.system for s in request.steps] == ["ad"]
    w.decisions.approve(request.id, actor=APPROVER)
    failed = w.store.get(request.id)
    assert failed.status is Status.FAILED
    assert failed.report.failed_step == "verification in hr"


def test_the_outcome_says_which_steps_were_done_by_hand_and_not_checked(engine):
    class Warns(MemoryConnector):
        def plan_delete(self, ref, *, timeout):
            plan = super().plan_delete(ref, timeout=timeout)
            return replace(
                plan,
                manual=(at_source("erase the person in HR first"),),
            )

    w = make_world(engine, Warns("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    done = w.decisions.step_done(request.id, 1, actor=REQUESTER)
    assert done.status is Status.COMPLETED
    text = render_requests.finished_message(done).blocks[0]["text"]["text"]
    assert "• *ad*: absent" in text
    assert "step 1 (by hand): done by <@UREQ>, attested, not checked by mimbot" in text


def test_retry_after_the_approved_object_came_back_erases_it_and_nothing_else(engine):
    class Restored(MemoryConnector):
        """Someone restores the deleted account from the Recycle Bin (same objectGUID), and
        the leaver's mail is now an alias on their manager's account."""

        comebacks = 1

        def apply_delete(self, plan, *, timeout):
            result = super().apply_delete(plan, timeout=timeout)
            if self.comebacks:
                self.comebacks -= 1
                self.people[plan.ref.id] = jane(plan.ref.id)
                self.people["manager"] = Person(
                    "manager", {IdKind.ACCOUNT: "mboss", IdKind.MAIL: "jane@example.test"}
                )
            return result

    ad = Restored("ad", "AD", [jane()])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    failed = w.store.get(request.id)
    assert (failed.status, failed.report.failed_step) == (Status.FAILED, "verification in ad")
    assert [s.state for s in failed.steps] == [StepState.DONE]  # no failed step to reset

    w.decisions.retry(request.id, actor=APPROVER)
    again = w.store.get(request.id)
    assert [s.state for s in again.steps] == [StepState.DONE, StepState.DONE]
    assert "1" not in ad.people  # the approved object, erased again
    assert "manager" in ad.people  # nobody approved erasing the manager
    assert again.status is Status.FAILED  # and verification still says so
    assert "1 other live object(s)" in w.notifier.of("thread")[-1]
    first_retry = next(e for e in w.audit.events(request_id=request.id) if e.action == "retry")
    assert first_retry.detail == {"new_steps": 1, "unapproved": 1}


def test_a_failed_request_can_be_cancelled_by_an_approver_and_is_scrubbed(engine):
    ad = FlakyDelete("ad", "AD", [jane()], failures=5)
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason="left")
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status is Status.FAILED
    with pytest.raises(NotAllowed, match="Only an approver can cancel a failed"):
        w.decisions.cancel(request.id, actor=REQUESTER, note="never mind")
    cancelled = w.decisions.cancel(request.id, actor=APPROVER, note="erased in AD by hand")
    assert cancelled.status is Status.CANCELLED
    assert cancelled.subject is None and cancelled.reason is None
    assert all(s.plan is None for s in cancelled.steps)
    assert w.notifier.of("request_updated")[-1] == "cancelled"
    (event,) = [e for e in w.audit.events(request_id=request.id) if e.action == "cancelled"]
    assert event.detail == {"note_length": 20, "was": "failed"}
    ad.failures = 0
    with pytest.raises(RequestStateError):
        w.decisions.retry(request.id, actor=APPROVER)  # closed for good
    assert w.runner.resume_all() == []


def test_a_requester_may_withdraw_only_their_own_undecided_request(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    other = Actor("UOTHER", frozenset({Role.REQUESTER}))
    with pytest.raises(NotAllowed):
        w.decisions.cancel(request.id, actor=other, note="not mine")
    assert w.decisions.cancel(request.id, actor=REQUESTER, note="asked by mistake").status is (
        Status.CANCELLED
    )
    with pytest.raises(RequestStateError):
        w.decisions.approve(request.id, actor=APPROVER)


def test_a_due_date_is_extended_once_by_an_approver_before_it_passes(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane(), someone(2)]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    assert request.due_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)  # 31 Jan + 1 month
    with pytest.raises(NotAllowed):
        w.decisions.extend(request.id, actor=REQUESTER, note="complex")
    extended = w.decisions.extend(request.id, actor=APPROVER, note="records in three archives")
    assert extended.due_at == datetime(2026, 4, 28, 10, 0, tzinfo=UTC)
    assert "tell the data subject" in w.notifier.of("thread")[-1]
    with pytest.raises(RequestStateError, match="extended already"):
        w.decisions.extend(request.id, actor=APPROVER, note="again")
    (event,) = [e for e in w.audit.events(request_id=request.id) if e.action == "extended"]
    assert event.detail == {"months": 2, "note_length": len("records in three archives")}

    late = w.erasure.request(query(2), actor=REQUESTER, reason=None)
    w.clock.now += timedelta(days=40)
    with pytest.raises(RequestStateError, match="past its due date"):
        w.decisions.extend(late.id, actor=APPROVER, note="too late")


def test_residual_copies_are_looked_for_again_once_they_should_be_gone(engine):
    tombstone_until = datetime(2026, 7, 30, 10, 0, tzinfo=UTC)

    class Tombstones(MemoryConnector):
        """Deleted objects stay findable by objectGUID until garbage collection."""

        collected = False
        asked: list[dict] = []

        def verify_absent(self, identifiers, *, timeout):
            self.asked.append(dict(identifiers))
            seen = super().verify_absent(identifiers, timeout=timeout)
            if self.collected:
                return seen
            return replace(seen, residuals=(ResidualCopy("AD tombstone", tombstone_until),))

    guid = "6f1c8a52-0000-4000-8000-000000000001"
    ad = Tombstones("ad", "AD", [Person(guid, {**jane().identifiers, IdKind.OBJECT_GUID: guid})])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status is Status.COMPLETED_WITH_RESIDUALS
    (check,) = w.store.residuals.of(request.id)
    assert (check.system, check.ref, check.kind) == ("ad", guid, IdKind.OBJECT_GUID)
    assert check.due_at == tombstone_until + timedelta(days=1)

    w.clock.now = tombstone_until  # not yet: the next garbage collection may not have run
    assert w.residuals.reverify_residuals() == []
    w.clock.now = tombstone_until + timedelta(days=2)
    assert w.residuals.reverify_residuals() == []  # still there: told once, looked at daily
    assert ad.asked[-1] == {IdKind.OBJECT_GUID: guid}
    assert "still there after their expiry date" in w.notifier.of("thread")[-1]
    ad.collected = True
    w.clock.now += timedelta(days=1)
    assert w.residuals.reverify_residuals() == [request.id]
    assert "Residual copies in ad are gone" in w.notifier.of("thread")[-1]
    assert w.store.residuals.of(request.id) == []  # and the objectGUID with it
    outcomes = [
        e.outcome for e in w.audit.events(request_id=request.id) if e.action == "residuals_checked"
    ]
    assert outcomes == ["still_present", "ok"]
    assert w.audit.verify().ok


def test_a_residual_check_is_held_by_one_checker_at_a_time(engine):
    until = datetime(2026, 7, 30, 10, 0, tzinfo=UTC)

    class Tombstone(MemoryConnector):
        def verify_absent(self, identifiers, *, timeout):
            seen = super().verify_absent(identifiers, timeout=timeout)
            return replace(seen, residuals=(ResidualCopy("AD tombstone", until),))

    guid = "6f1c8a52-0000-4000-8000-000000000002"
    ad = Tombstone("ad", "AD", [Person(guid, {**jane().identifiers, IdKind.OBJECT_GUID: guid})])
    w = make_world(engine, ad)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    w.clock.now = until + timedelta(days=2)
    a = w.store.residuals.claim("checker-a", timedelta(minutes=10))
    assert a is not None and a.ref == guid
    assert w.store.residuals.claim("checker-b", timedelta(minutes=10)) is None
    w.clock.now += timedelta(minutes=11)  # checker A stalled past its lease
    b = w.store.residuals.claim("checker-b", timedelta(minutes=10))
    assert b == a
    gone = ResidualChecked(actor="system", system="ad", attempt=1, outcome=ResidualOutcome.GONE)
    assert not w.store.residuals.done(a, "checker-a", gone)  # A lost it: no double report
    assert w.store.residuals.done(b, "checker-b", gone)
    assert w.store.residuals.of(request.id) == []


def test_an_approver_cannot_close_their_own_failed_request_alone(engine):
    both = Actor("UBOTH", frozenset({Role.REQUESTER, Role.APPROVER}))
    w = make_world(engine, FlakyDelete("ad", "AD", [jane()], failures=5))
    request = w.erasure.request(JDOE, actor=both, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status is Status.FAILED
    with pytest.raises(NotAllowed, match="another approver must close it"):
        w.decisions.cancel(request.id, actor=both, note="handled elsewhere")
    assert w.decisions.cancel(request.id, actor=APPROVER, note="handled elsewhere").status is (
        Status.CANCELLED
    )
