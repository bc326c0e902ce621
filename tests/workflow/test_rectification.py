"""Rectification requests (GDPR Art. 16): each change routed to its source of authority,
approved in the thread like an erasure, applied durably and read back; an attribute the
bot cannot write at its source becomes a pointer to where it must be changed, with no
write anywhere; no value, old or new, reaches the audit chain."""

from __future__ import annotations

import json

import pytest

from bot.config import PolicyConfig
from bot.errors import NotAllowed, RequestStateError
from bot.permissions.roles import Actor, Role
from bot.workflow.manual import ManualOwners
from bot.workflow.rectification import RectificationService
from bot.workflow.requests import Status
from connectors.base import (
    Capability,
    Change,
    IdKind,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
)
from connectors.lineage import AttributeKind, AttributeView, DeletionRuleView, MetaverseView
from connectors.memory import MemoryConnector, Person
from tests.workflow.test_erasure import APPROVER, REQUESTER, make_world

JDOE = Query(QueryKind.NAME, "jdoe")
HR_OPERATOR = Actor("UHROP", frozenset({Role.HR_OPERATOR}))


def person(**attributes: tuple[str, ...]) -> Person:
    ids = {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe", IdKind.MV_OBJECT_ID: "mv-1"}
    return Person("1", ids, dict(attributes))


class Metaverse(MemoryConnector):
    """The metaverse's answer to `show`: which MA is authoritative for each attribute."""

    capabilities = frozenset({Capability.SEARCH, Capability.READ, Capability.VERIFY})

    def __init__(self, sources: dict[str, str | None], name: str = "mimsync") -> None:
        super().__init__(name, "Metaverse", [person()])
        self.sources = sources
        self.renamed: dict[str, str | None] = {}  # MV name -> source attribute (None: script)

    def show(self, ref: ObjectRef, *, timeout: float) -> MetaverseView:
        """Ranked flows of the same name, unless `renamed` says otherwise; no source: manual
        precedence."""
        attributes = tuple(
            AttributeView(
                k,
                (),
                AttributeKind.SINGLE,
                v,
                v or "manual precedence (rules extension)",
                "ranked" if v else "manual",
                None,
                source_attribute=self.renamed.get(k, k),
            )
            for k, v in self.sources.items()
        )
        rule = DeletionRuleView(None, (), "", "")
        return MetaverseView(ref, "Jane Doe", "person", None, attributes, (), rule)


class ReadOnly(MemoryConnector):
    capabilities = frozenset({Capability.SEARCH, Capability.READ, Capability.VERIFY})


def estate(engine, *, metaverse: str = "mimsync", **policy):
    hr = ReadOnly("hr", "HR", [person(title=("Clerk",), displayName=("Jane Doe",))])
    hr.management_agent = "HR"
    ad = MemoryConnector("ad", "AD", [person(telephoneNumber=("+44 1",), title=("Clerk",))])
    ad.management_agent = "CORP AD"
    sync = Metaverse({"title": "HR", "telephoneNumber": "CORP AD"}, metaverse)
    w = make_world(engine, hr, ad, sync, policy=PolicyConfig(**policy))
    service = RectificationService(
        store=w.store,
        search=w.erasure.search,
        connectors=w.connectors,
        keyer=w.erasure.keyer,
        notifier=w.erasure.notifier,
        policy=w.erasure.policy,
        owners=ManualOwners(w.erasure.policy.manual_step_roles),
    )
    return w, service, hr, ad


def test_each_change_goes_to_its_source_of_authority(engine):
    w, service, hr, ad = estate(engine, manual_step_roles={"correct_at_source": "hr_operator"})
    request = service.request(
        JDOE,
        [Change("telephoneNumber", "+44 2"), Change("title", "Head of HR")],
        actor=REQUESTER,
        reason="moved desk",
    )
    assert request.kind == "rectification" and request.status is Status.AWAITING_APPROVAL
    manual, update = request.steps
    assert (manual.system, manual.action, manual.task) == (
        "hr",
        PlanAction.MANUAL,
        ManualTask.CORRECT_AT_SOURCE,
    )
    assert manual.assigned_role == "hr_operator"
    assert "Change title in HR (title there), its source of authority" in manual.summary
    assert "Head of HR" not in manual.summary  # the value is in the plan, scrubbed later
    assert (update.system, update.action) == ("ad", PlanAction.UPDATE)
    assert update.plan.changes == (Change("telephoneNumber", "+44 2"),)
    # The HR-owned title is written nowhere by the bot, not even downstream in AD.
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status in (Status.APPROVED, Status.RUNNING)
    with pytest.raises(NotAllowed):
        w.decisions.step_done(request.id, manual.seq, actor=REQUESTER)
    w.decisions.step_done(request.id, manual.seq, actor=HR_OPERATOR)  # then AD runs
    assert ad.people["1"].attributes["telephoneNumber"] == ("+44 2",)
    assert ad.people["1"].attributes["title"] == ("Clerk",)
    assert hr.people["1"].attributes["title"] == ("Clerk",)
    assert "apply_update" not in hr.calls and "plan_update" not in hr.calls
    done = w.store.get(request.id)
    assert done.status is Status.COMPLETED
    assert done.subject is None and all(s.plan is None for s in done.steps)  # scrubbed


def test_no_value_reaches_the_audit_chain(engine):
    w, service, _, _ = estate(engine)
    request = service.request(
        JDOE, [Change("telephoneNumber", "+44 20 SECRET")], actor=REQUESTER, reason=None
    )
    w.decisions.approve(request.id, actor=APPROVER)
    chain = json.dumps([e.detail for e in w.audit.events()])
    assert "SECRET" not in chain and "+44 1" not in chain  # neither new nor old
    assert "rectification" in chain


def test_an_attribute_the_metaverse_does_not_hold_is_refused_not_guessed(engine):
    w, service, _, ad = estate(engine)
    ad.people["1"].attributes["givenName"] = ("Jane",)  # AD could take it, downstream
    with pytest.raises(RequestStateError, match="metaverse holds no givenName") as caught:
        service.request(JDOE, [Change("givenName", "Janet")], actor=REQUESTER, reason=None)
    assert "telephoneNumber" in str(caught.value)  # names it as the metaverse does
    assert w.store.ids() == [] and "plan_update" not in ad.calls


def test_manual_precedence_is_a_step_for_a_person_and_writes_nothing(engine):
    _, service, _, ad = estate(engine)
    service.connectors["mimsync"].sources["department"] = None
    ad.people["1"].attributes["department"] = ("Sales",)
    (step,) = service.request(
        JDOE, [Change("department", "HR")], actor=REQUESTER, reason=None
    ).steps
    assert step.action is PlanAction.MANUAL and step.task is ManualTask.CORRECT_AT_SOURCE
    assert "where the sync takes it from (the metaverse names no source" in step.summary
    assert "plan_update" not in ad.calls


def test_a_step_with_no_connector_at_its_source_is_the_metaverses_whatever_its_name(engine):
    _, service, _, _ = estate(engine, metaverse="sync")
    service.connectors["sync"].sources["department"] = None  # manual precedence
    service.connectors["sync"].sources["title"] = "HR Payroll"  # an MA with no connector
    department, title = service.request(
        JDOE, [Change("department", "HR"), Change("title", "Dr")], actor=REQUESTER, reason=None
    ).steps
    assert (department.system, department.action) == ("sync", PlanAction.MANUAL)
    assert (title.system, title.action) == ("sync", PlanAction.MANUAL)
    assert department.plan.ref == title.plan.ref == ObjectRef("sync", "1")
    assert "Change title in HR Payroll" in title.summary


def test_a_source_that_refuses_the_attribute_gets_a_step_for_a_person(engine):
    _, service, _, _ = estate(engine)
    service.connectors["mimsync"].sources["mobile"] = "CORP AD"  # AD holds no mobile
    (step,) = service.request(JDOE, [Change("mobile", "+44 3")], actor=REQUESTER, reason=None).steps
    assert (step.system, step.action) == ("ad", PlanAction.MANUAL)
    assert "Change mobile in AD (mobile there), its source of authority" in step.summary
    # The source's own reason, so the approver sees why a person must do it.
    assert "the bot cannot write it there: ad: mobile is not held here" in step.summary


def test_without_a_metaverse_the_system_that_takes_it_is_written_and_said_so(engine):
    ad = MemoryConnector("ad", "AD", [person(title=("Clerk",))])
    w = make_world(engine, ReadOnly("hr", "HR", [person(title=("Clerk",))]), ad)
    service = RectificationService(
        store=w.store,
        search=w.erasure.search,
        connectors=w.connectors,
        keyer=w.erasure.keyer,
        notifier=w.erasure.notifier,
        policy=w.erasure.policy,
        owners=ManualOwners(),
    )
    (step,) = service.request(JDOE, [Change("title", "Dr")], actor=REQUESTER, reason=None).steps
    assert step.system == "ad" and "no metaverse says where" in str(step.plan.notes)


def test_without_a_metaverse_an_attribute_no_system_takes_creates_nothing(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [person(title=("Clerk",))]))
    service = RectificationService(
        store=w.store,
        search=w.erasure.search,
        connectors=w.connectors,
        keyer=w.erasure.keyer,
        notifier=w.erasure.notifier,
        policy=w.erasure.policy,
        owners=ManualOwners(),
    )
    with pytest.raises(RequestStateError, match="can change shoeSize"):
        service.request(JDOE, [Change("shoeSize", "42")], actor=REQUESTER, reason=None)
    assert w.store.ids() == []


def test_a_second_open_correction_for_the_person_is_refused(engine):
    w, service, _, _ = estate(engine)
    first = service.request(JDOE, [Change("telephoneNumber", "1")], actor=REQUESTER, reason=None)
    with pytest.raises(Exception, match=first.id):
        service.request(JDOE, [Change("telephoneNumber", "2")], actor=REQUESTER, reason=None)
    # An erasure of the same person is a request of another kind: allowed beside it.
    assert w.erasure.request(JDOE, actor=REQUESTER, reason=None).kind == "erasure"


def test_a_renaming_flow_is_followed_back_to_the_source_attribute(engine):
    w, service, _, ad = estate(engine)
    sync = service.connectors["mimsync"]
    sync.sources["firstName"] = "CORP AD"
    sync.renamed["firstName"] = "givenName"  # MV firstName <- AD givenName
    ad.people["1"].attributes["givenName"] = ("Jane",)
    (step,) = service.request(
        JDOE, [Change("firstName", "Janet")], actor=REQUESTER, reason=None
    ).steps
    assert (step.system, step.action) == ("ad", PlanAction.UPDATE)
    assert step.plan.changes == (Change("givenName", "Janet"),)
    w.decisions.approve(step.request_id, actor=APPROVER)
    assert ad.people["1"].attributes["givenName"] == ("Janet",)


def test_a_scripted_flow_is_not_guessed_back_a_person_changes_it(engine):
    _, service, _, ad = estate(engine)
    sync = service.connectors["mimsync"]
    sync.sources["displayName"] = "CORP AD"
    sync.renamed["displayName"] = None  # a rules extension computes it
    ad.people["1"].attributes["displayName"] = ("Jane Doe",)
    (step,) = service.request(
        JDOE, [Change("displayName", "J. Doe")], actor=REQUESTER, reason=None
    ).steps
    assert step.action is PlanAction.MANUAL
    assert "the attribute its import flow reads there" in step.summary
    assert "plan_update" not in ad.calls
