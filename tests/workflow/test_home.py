"""The App Home tab: what waits on each user (approvals, manual steps) and their own open
requests with days left, published when they open it and refreshed when a request
changes; never more than `/mim requests` shows them (no subject names)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.config import PolicyConfig, RoleMembers
from bot.permissions.authz import DEFAULT_PERMISSIONS, Authorizer
from bot.permissions.roles import Actor, Role
from bot.render.home import home_view
from bot.workflow.home import home_for, users_to_refresh
from connectors.base import ManualStep, ManualTask, PlanAction
from connectors.memory import MemoryConnector
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot
from tests.workflow.test_erasure import APPROVER, JDOE, REQUESTER, jane, make_world
from tests.workflow.test_manual_steps import HR_OPERATOR, Plans

AUTHZ = Authorizer(DEFAULT_PERMISSIONS, step_owners=frozenset({Role.HR_OPERATOR}))
VIEWER = Actor("UVIEW", frozenset({Role.VIEWER}))


def text_of(view: dict) -> str:
    return json.dumps(view, ensure_ascii=False)


def test_each_user_sees_what_waits_on_them(engine):
    source = Plans(
        "hr",
        "HR",
        [jane()],
        manual=(ManualStep(ManualTask.ERASE_AT_SOURCE, "by hand"),),
        action=PlanAction.NONE,
    )
    policy = PolicyConfig(manual_step_roles={"erase_at_source": "hr_operator"})
    w = make_world(engine, source, MemoryConnector("ad", "AD", [jane()]), policy=policy)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)

    approver = home_for(APPROVER, w.store, AUTHZ)
    assert [r.id for r in approver.to_decide] == [request.id] and approver.mine == ()
    requester = home_for(REQUESTER, w.store, AUTHZ)
    assert requester.to_decide == () and [r.id for r in requester.mine] == [request.id]
    viewer = home_for(VIEWER, w.store, AUTHZ)
    assert (viewer.to_decide, viewer.steps, viewer.mine) == ((), (), ())

    w.decisions.approve(request.id, actor=APPROVER)
    assert home_for(APPROVER, w.store, AUTHZ).to_decide == ()  # decided
    hr = home_for(HR_OPERATOR, w.store, AUTHZ)
    assert [(r.id, s.seq) for r, s in hr.steps] == [(request.id, 1)]
    rendered = text_of(home_view(hr))
    assert f"/mim done {request.id} 1" in rendered
    for view in (home_view(approver), home_view(requester), home_view(hr)):
        assert "Jane" not in text_of(view) and "jdoe" not in text_of(view)  # no one named


def test_overdue_requests_come_first_with_their_days(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.clock.now = request.due_at + timedelta(days=2)
    view = home_view(home_for(REQUESTER, w.store, AUTHZ))
    assert ":rotating_light:" in text_of(view) and "overdue by 2 day(s)" in text_of(view)


def test_a_change_refreshes_the_requester_approvers_and_step_owners(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    roles = {
        "approver": RoleMembers(users=("UAPP", "UAPP2")),
        "hr_operator": RoleMembers(users=("UHROP",)),
        "viewer": RoleMembers(users=("UVIEW",)),
    }
    assert users_to_refresh(request, roles) == {"UREQ", "UAPP", "UAPP2"}


@pytest.fixture(scope="module")
def seeded(samba):
    conn = samba.admin()
    seed_users(conn, samba.base_dn, [TestUser("hm-lee", "Lee", "Home", "8201")], ou="HomeTests")
    conn.unbind()
    return samba


@pytest.mark.samba
def test_the_tab_is_published_when_opened_and_refreshed_on_a_change(tmp_path, seeded):
    stub = MockSlack().start()
    bot = start_bot(tmp_path, stub, seeded)
    try:
        bot.slash("delete hm-lee left", "UREQ")
        created = bot.answer()["text"]
        request_id = created.split()[2]
        # The approvers' tabs were refreshed with the new request.
        published = stub.wait_for("views.publish", count=1, timeout=10)
        status, _, _ = bot.event({"type": "app_home_opened", "user": "UAPP", "tab": "home"})
        assert status == 200
        views = stub.wait_for("views.publish", count=len(published) + 1, timeout=10)
        mine = [v for v in views if v.body["user_id"] == "UAPP"]
        view = mine[-1].body["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert view["type"] == "home"
        assert request_id in json.dumps(view) and "Waiting for your decision" in json.dumps(view)
        assert "Lee" not in json.dumps(view) and "hm-lee" not in json.dumps(view)
        before = len(stub.calls("views.publish"))
        bot.event({"type": "app_home_opened", "user": "UVIEW", "tab": "messages"})  # not home
        bot.slash("help", "UVIEW", name="rh")  # once answered, the event was handled too
        bot.answer("rh")
        assert len(stub.calls("views.publish")) == before
        bot.slash("approve " + request_id, "UAPP", name="r2")
        bot.wait_status(request_id, "completed", "completed_with_residuals")
        after = stub.wait_for("views.publish", count=len(views) + 1, timeout=10)
        requester = [v for v in after if v.body["user_id"] == "UREQ"]
        assert requester, "the requester's tab was refreshed"
    finally:
        bot.stop()
        stub.stop()
