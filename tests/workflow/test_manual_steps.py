"""Manual steps are typed and owned: the kind of work comes from the connector's plan, the
role that may mark it done from policy, and the announcement names that role's people."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.config import PolicyConfig, RoleMembers, parse_config
from bot.errors import ConfigError, NotAllowed, RequestStateError
from bot.frontends.console import blocks_to_text
from bot.frontends.dispatch import run_command
from bot.frontends.slack_notifier import SlackNotifier
from bot.permissions.roles import Actor, Role
from bot.render.requests import approval_message, manual_step_message
from bot.services import build_services
from bot.workflow.requests import StepState
from connectors.base import (
    RANK_SOURCE,
    DeletePlan,
    IdKind,
    ManualStep,
    ManualTask,
    PlanAction,
    ResidualCopy,
    Verification,
)
from connectors.memory import MemoryConnector
from tests.support.keys import CHAIN_KEY
from tests.support.slack_stub import MockSlack
from tests.workflow.test_erasure import APPROVER, JDOE, REQUESTER, Recorder, jane, make_world

HR_OPERATOR = Actor("UHROP", frozenset({Role.HR_OPERATOR}))
ANOTHER_REQUESTER = Actor("UREQ2", frozenset({Role.REQUESTER}))
HR_POLICY = PolicyConfig(manual_step_roles={"erase_at_source": "hr_operator"})


class Plans(MemoryConnector):
    """A memory system whose plan carries the given manual work, action or notes."""

    def __init__(self, *args, manual=(), action=None, notes=(), residuals=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.manual, self.action, self.notes, self.residuals = manual, action, notes, residuals
        self.management_agent: str | None = None

    def plan_delete(self, ref, *, timeout):
        plan = super().plan_delete(ref, timeout=timeout)
        return DeletePlan(
            plan.ref,
            self.action or plan.action,
            plan.summary,
            residuals=self.residuals,
            manual=self.manual,
            authority_rank=plan.authority_rank,
            notes=self.notes,
        )


def hr(**kwargs) -> Plans:
    system = Plans(
        "hr",
        "HR",
        [jane()],
        manual=(ManualStep(ManualTask.ERASE_AT_SOURCE, "deletion is not allowed in app.yaml"),),
        action=PlanAction.NONE,
        authority_rank=RANK_SOURCE,
        **kwargs,
    )
    system.management_agent = "HR"
    return system


def test_an_erase_at_source_step_belongs_to_the_role_policy_names(engine):
    source = hr()
    w = make_world(engine, source, MemoryConnector("ad", "AD", [jane()]), policy=HR_POLICY)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    first = request.steps[0]
    assert (first.system, first.action, first.task) == (
        "hr",
        PlanAction.MANUAL,
        ManualTask.ERASE_AT_SOURCE,
    )
    assert first.assigned_role == "hr_operator"
    assert first.summary.startswith("Erase the person in HR, the source of authority, first: ")
    w.decisions.approve(request.id, actor=APPROVER)
    with pytest.raises(NotAllowed):  # the requester's role no longer owns it
        w.decisions.step_done(request.id, first.seq, actor=REQUESTER)
    source.people.clear()  # what the HR operator does in HR
    done = w.decisions.step_done(request.id, first.seq, actor=HR_OPERATOR)
    assert done.steps[0].state is StepState.DONE and done.steps[0].done_by == "UHROP"
    assert w.store.get(request.id).status.value == "completed"


def test_a_kind_policy_does_not_name_stays_with_the_requester(engine):
    privileged = ManualStep(ManualTask.CONFIRM_PRIVILEGED, "privileged account")
    w = make_world(engine, Plans("pam", "PAM", [jane()], manual=(privileged,)), policy=HR_POLICY)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    (manual,) = [s for s in request.steps if s.manual]
    assert (manual.task, manual.assigned_role) == (ManualTask.CONFIRM_PRIVILEGED, "requester")
    w.decisions.approve(request.id, actor=APPROVER)
    with pytest.raises(NotAllowed):
        w.decisions.step_done(request.id, manual.seq, actor=HR_OPERATOR)
    w.decisions.step_done(request.id, manual.seq, actor=REQUESTER)


def test_the_erase_at_source_steps_come_first_whatever_the_order_systems_answer(engine):
    sync = Plans(
        "mimsync",
        "Metaverse",
        [jane()],
        manual=(
            ManualStep(ManualTask.CONFIRM_SYNC, "a pending export has not run yet"),
            ManualStep(ManualTask.ERASE_AT_SOURCE, "Payroll is the source", about="Payroll"),
        ),
        action=PlanAction.WAIT,
        authority_rank=200,
    )
    w = make_world(engine, sync, policy=HR_POLICY)
    tasks = [s.task for s in w.erasure.request(JDOE, actor=REQUESTER, reason=None).steps]
    assert tasks == [ManualTask.ERASE_AT_SOURCE, ManualTask.CONFIRM_SYNC, None]


def sync_asking_for(ma: str) -> Plans:
    return Plans(
        "mimsync",
        "Metaverse",
        [jane()],
        manual=(ManualStep(ManualTask.ERASE_AT_SOURCE, f"{ma} is the source", about=ma),),
        action=PlanAction.WAIT,
        authority_rank=200,
    )


def test_the_metaverse_asks_for_no_source_step_the_sources_connector_plans(engine):
    w = make_world(engine, hr(), sync_asking_for("HR"), policy=HR_POLICY)
    steps = w.erasure.request(JDOE, actor=REQUESTER, reason=None).steps
    assert [(s.system, s.task) for s in steps] == [
        ("hr", ManualTask.ERASE_AT_SOURCE),
        ("mimsync", None),
    ]


def test_the_metaverse_source_step_stays_when_that_source_holds_nothing(engine):
    empty_hr = hr()
    empty_hr.people.clear()
    w = make_world(engine, empty_hr, sync_asking_for("HR"))
    steps = w.erasure.request(JDOE, actor=REQUESTER, reason=None).steps
    assert [(s.system, s.task) for s in steps] == [
        ("mimsync", ManualTask.ERASE_AT_SOURCE),
        ("mimsync", None),
    ]


def test_another_sources_step_is_not_dropped(engine):
    w = make_world(engine, hr(), sync_asking_for("Payroll"))
    steps = w.erasure.request(JDOE, actor=REQUESTER, reason=None).steps
    assert [(s.system, s.task) for s in steps][:2] == [
        ("hr", ManualTask.ERASE_AT_SOURCE),
        ("mimsync", ManualTask.ERASE_AT_SOURCE),
    ]


class ReflectsAd(Plans):
    """Certificate Management: keeps the certificates until they expire, by design."""

    def verify_absent(self, identifiers, *, timeout):
        return Verification(self.name, absent=True, residuals=self.residuals)


def test_a_plan_with_nothing_to_do_keeps_its_notes_and_residual_copies(engine):
    expiry = datetime(2027, 3, 1, tzinfo=UTC)
    cm = ReflectsAd(
        "certmgmt",
        "Certificate Management",
        [jane()],
        action=PlanAction.NONE,
        notes=("CM reflects AD",),
        residuals=(ResidualCopy("certificate 01AB", expires=expiry),),
    )
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), cm)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    info = request.steps[-1]
    assert (info.system, info.action, info.state) == (
        "certmgmt",
        PlanAction.NONE,
        StepState.SKIPPED,
    )
    text = str(approval_message(request).blocks)
    assert "CM reflects AD" in text and "certificate 01AB" in text and "2027-03-01" in text
    assert "1. *ad*" in text and "2. *certmgmt*" not in text  # a note, not a numbered step
    w.decisions.approve(request.id, actor=APPROVER)
    finished = w.store.get(request.id)
    assert finished.status.value == "completed_with_residuals"
    assert [r.description for r in finished.residuals] == ["certificate 01AB"]
    assert "apply_delete" not in cm.calls
    # Looked for again once the certificate should be gone, by the account CM keys it by.
    (check,) = w.store.residuals.of(request.id)
    assert (check.system, check.kind, check.ref) == ("certmgmt", IdKind.ACCOUNT, "1")
    assert check.due_at > expiry
    w.clock.now = check.due_at + timedelta(hours=1)
    w.residuals.reverify_residuals(owner="checker")
    assert w.store.residuals.of(request.id)  # still kept: looked for again tomorrow
    cm.residuals = ()  # expired and gone from CM
    w.clock.now += timedelta(days=2)
    assert w.residuals.reverify_residuals(owner="checker") == [request.id]
    assert not w.store.residuals.of(request.id)


def test_nothing_but_notes_is_nothing_to_erase(engine):
    cm = Plans("certmgmt", "CM", [jane()], action=PlanAction.NONE, notes=("reflects AD",))
    w = make_world(engine, cm)
    with pytest.raises(RequestStateError, match="No system holds anything to erase"):
        w.erasure.request(JDOE, actor=REQUESTER, reason=None)


def test_the_announcement_mentions_the_roles_people_and_groups(engine):
    w = make_world(engine, hr(), policy=HR_POLICY)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    step = request.steps[0]
    owners = RoleMembers(users=("UHROP",), usergroups=("SHRTEAM",))
    text = str(manual_step_message(request, step, owners).blocks)
    assert "<@UHROP>" in text and "<!subteam^SHRTEAM>" in text and "hr_operator" in text
    assert "<@UREQ>" not in text
    for none in (RoleMembers(), None):  # no one holds it, or the role is not configured
        nobody = str(manual_step_message(request, step, none).blocks)
        assert "nobody holds this role yet" in nobody and "<@UREQ>" not in nobody


def test_a_step_the_requester_owns_mentions_the_requester(engine):
    privileged = ManualStep(ManualTask.CONFIRM_PRIVILEGED, "privileged")
    w = make_world(engine, Plans("pam", "PAM", [jane()], manual=(privileged,)))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    text = str(manual_step_message(request, request.steps[0], RoleMembers(users=("UX1",))).blocks)
    assert "<@UREQ>" in text and "<@UX1>" not in text


def test_policy_refuses_an_unknown_kind_or_role(engine):
    with pytest.raises(ValueError, match="unknown manual step 'erase_everything'"):
        PolicyConfig(manual_step_roles={"erase_everything": "approver"})
    with pytest.raises(ConfigError, match=r"policy\.manual_step_roles\.erase_at_source"):
        make_world(engine, policy=PolicyConfig(manual_step_roles={"erase_at_source": "hr"}))


def test_slack_announces_the_step_in_the_thread_to_the_roles_people(engine):
    raw = {
        "slack": {"bot_token": "${T}", "signing_secret": "${S}"},
        "roles": {"hr_operator": {"users": ["UHROP"], "usergroups": ["SHRTEAM"]}},
        "audit": {"subject_key": "${K}", "chain_key": "${C}"},
    }
    environ = {"T": "xoxb-t", "S": "s", "K": "subject-key-0123456789", "C": CHAIN_KEY}
    config = parse_config(raw, environ=environ)
    w = make_world(engine, hr(), policy=HR_POLICY)
    request = replace(
        w.erasure.request(JDOE, actor=REQUESTER, reason=None),
        channel="CAPPROVALS",
        message_ts="1700000000.000100",
    )
    stub = MockSlack().start()
    try:
        notifier = SlackNotifier.from_config(
            WebClient(token="xoxb-t", base_url=stub.api_url), config
        )
        notifier.manual_step(request, request.steps[0])
        (posted,) = stub.wait_for("chat.postMessage")
        assert posted.body["thread_ts"] == "1700000000.000100"
        blocks = str(posted.body["blocks"])
        assert "<@UHROP>" in blocks and "<!subteam^SHRTEAM>" in blocks
        assert "<@UREQ>" not in blocks
    finally:
        stub.stop()


def test_an_hr_operator_marks_the_hr_step_done_through_the_command(tmp_path):
    """Only the owner's role: no requester, approver or auditor role besides."""
    raw = {
        "slack": {"bot_token": "${T}", "signing_secret": "${S}"},
        "roles": {
            "requester": {"users": ["UREQ"]},
            "approver": {"users": ["UAPP"]},
            "hr_operator": {"users": ["UHROP"]},
            "viewer": {"users": ["UVIEW"]},
        },
        "policy": {"manual_step_roles": {"erase_at_source": "hr_operator"}},
        "audit": {
            "url": f"sqlite:///{tmp_path / 'a.db'}",
            "subject_key": "${K}",
            "chain_key": "${C}",
        },
    }
    environ = {"T": "xoxb-t", "S": "s", "K": "subject-key-0123456789", "C": CHAIN_KEY}
    source = hr()
    services = build_services(
        parse_config(raw, environ=environ),
        connectors=[source, MemoryConnector("ad", "AD", [jane()])],
        notifier=Recorder(),
    )
    said: list[str] = []

    def run(user: str, text: str) -> str:
        run_command(
            text, user_id=user, services=services, respond=lambda r: said.append(blocks_to_text(r))
        )
        return said[-1]

    try:
        assert "REQ-2026-0001 created" in run("UREQ", "delete jdoe left")
        run("UAPP", "approve REQ-2026-0001")
        status = run("UHROP", "status REQ-2026-0001")  # whom to erase, while the step is open
        assert "Jane Doe" in status and "for hr_operator" in status
        assert "needs the" in run("UVIEW", "done REQ-2026-0001 1")  # the gate still holds
        assert "is for the hr_operator role" in run("UREQ", "done REQ-2026-0001 1")
        source.people.clear()  # the HR operator erases the person in HR
        run("UHROP", "done REQ-2026-0001 1")
        assert services.requests.get("REQ-2026-0001").status.value == "completed"
        # Once the step is done the request is no longer theirs to read.
        assert "your own requests only" in run("UHROP", "status REQ-2026-0001")
    finally:
        services.close()
