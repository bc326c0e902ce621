"""Erasure end to end: signed Slack requests and clicks into the running bot, the real
Samba AD DC underneath, Slack's Web API as the recording loopback stub."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest

from bot.audit.witness import parse_checkpoint
from bot.frontends.slack_app import REJECT_CALLBACK
from bot.render.requests import ACTION_APPROVE, ACTION_REJECT, ACTION_RETRY
from connectors.base import IdKind, Query, QueryKind
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot

pytestmark = pytest.mark.samba
OU = "SlackErasure"


@pytest.fixture(scope="module")
def ad(samba):
    conn = samba.admin()
    seed_users(
        conn,
        samba.base_dn,
        [
            TestUser(f"se-{name}", "Erin", f"Example {name}", str(9000 + i))
            for i, name in enumerate(
                [
                    "happy",
                    "self",
                    "nonapp",
                    "double",
                    "race",
                    "reject",
                    "expire",
                    "retry",
                    "same1",
                    "same2",
                    "scrub",
                    "cancel",
                ]
            )
        ],
        ou=OU,
    )
    # Two people with the same display name: a term that must be refused.
    dn = f"OU={OU},{samba.base_dn}"
    for account in ("se-same1", "se-same2"):
        conn.search(dn, f"(sAMAccountName={account})", attributes=["distinguishedName"])
        conn.modify(conn.response[0]["dn"], {"displayName": [("MODIFY_REPLACE", ["Sam Same"])]})
    conn.add(f"OU=Quarantine,{dn}", "organizationalUnit")
    conn.unbind()
    return samba


@pytest.fixture
def stub():
    mock = MockSlack(usergroups={"SIAM": []}).start()
    yield mock
    mock.stop()


@pytest.fixture
def bot(tmp_path, stub, ad):
    b = start_bot(tmp_path, stub, ad)
    yield b
    b.stop()


def request_id_of(bot, name="r1") -> str:
    text = bot.answer(name)["text"]
    assert text.startswith("Erasure request REQ-"), text
    return text.split()[2]


def ad_accounts(bot, account):
    ad = next(c for c in bot.services.connectors if c.name == "ad")
    return ad.search(Query(QueryKind.NAME, account), timeout=2)


def posted(stub, channel, timeout=5.0):
    """Messages posted to `channel`, waiting for the first (notifications run in the
    background after the request's status is already final)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r.body for r in stub.calls("chat.postMessage") if r.body.get("channel") == channel]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def executions(bot, request_id):
    return [e for e in bot.services.audit.events(request_id=request_id) if e.action == "step_start"]


def test_pseudonymisation_completes_and_names_the_account_it_keeps(tmp_path, stub, ad):
    quarantine = f"OU=Quarantine,OU={OU},{ad.base_dn}"
    bot = start_bot(tmp_path, stub, ad, connectors__ad__delete_mode="disable_and_scrub",
                    connectors__ad__quarantine_ou=quarantine)  # fmt: skip
    try:
        (hit,) = ad_accounts(bot, "se-scrub")
        bot.slash("delete se-scrub", "UREQ")
        request_id = request_id_of(bot)
        bot.click(ACTION_APPROVE, request_id, "UAPP")
        done = bot.wait_status(request_id, "completed", "completed_with_residuals", "failed")
        checks = bot.services.requests.residuals.of(request_id)
    finally:
        bot.stop()
    assert checks == []  # the kept account is no copy to look for again
    assert done.status.value == "completed_with_residuals", done.report
    guid = hit.identifiers[IdKind.OBJECT_GUID]
    (kept,) = done.residuals
    assert "pseudonymised account in the quarantine OU" in kept.description
    assert guid not in kept.description  # no identifier in what Slack and the audit keep
    conn = ad.admin()
    try:
        conn.search(quarantine, "(sAMAccountName=se-scrub)", attributes=["mail", "displayName"])
        (entry,) = [e for e in conn.response if e["type"] == "searchResEntry"]
    finally:
        conn.unbind()
    assert entry["dn"] == f"CN=pseudonymised-{guid},{quarantine}"
    assert not entry["raw_attributes"].get("displayName")


def test_happy_path_erases_verifies_and_notifies(bot, stub):
    guid = ad_accounts(bot, "se-happy")[0].identifiers[IdKind.OBJECT_GUID]
    status, _, seconds = bot.slash("delete se-happy data subject asked on 2026-11-20", "UREQ")
    assert status == 200 and seconds < 3
    request_id = request_id_of(bot)
    (approval,) = stub.wait_for("chat.postMessage")
    assert approval.body["channel"] == "CAPPROVALS"
    blocks = json.dumps(approval.body["blocks"])
    assert "Erin Example happy" in blocks and "se-happy" in blocks
    assert ACTION_APPROVE in blocks and ACTION_REJECT in blocks
    assert "<@UREQ>" in blocks and "data subject asked" in blocks

    bot.click(ACTION_APPROVE, request_id, "UAPP")
    done = bot.wait_status(request_id, "completed", "completed_with_residuals")
    assert ad_accounts(bot, "se-happy") == []
    tombstone = next(c for c in bot.services.connectors if c.name == "ad").eraser.tombstone(
        guid, timeout=2
    )
    assert tombstone is not None and tombstone.is_deleted
    assert done.status.value == "completed_with_residuals"
    assert any("tombstone" in r.description for r in done.residuals)
    # Looked for again once the tombstone should be gone, by objectGUID only.
    (check,) = bot.services.requests.residuals.of(request_id)
    assert (check.system, check.kind, check.ref) == ("ad", IdKind.OBJECT_GUID, guid)
    assert check.due_at == tombstone.expires + timedelta(days=1)
    ad = next(c for c in bot.services.connectors if c.name == "ad")
    seen = ad.verify_absent({IdKind.OBJECT_GUID: guid}, timeout=2)
    assert seen.absent and seen.residuals  # today the tombstone is still there

    notice = posted(stub, "CNOTIFY")
    assert notice and f"Erasure {request_id} completed" in notice[0]["text"]
    assert "Erin" not in json.dumps(notice)  # no personal data in the notification channel
    # The completion is witnessed: the audit chain's head, signed, outside the database.
    deadline = time.monotonic() + 5
    while not (marks := [p["text"] for p in posted(stub, "CNOTIFY") if "checkpoint" in p["text"]]):
        assert time.monotonic() < deadline, "no audit checkpoint was posted"
        time.sleep(0.05)
    token = marks[-1].rsplit("--checkpoint ", 1)[1].split()[0]
    assert bot.services.audit.verify(checkpoints=[parse_checkpoint(token)]).ok
    dm = posted(stub, "DUREQ")
    assert dm and f"Erasure {request_id} completed" in dm[0]["text"]
    thread_posts = [r.body for r in stub.calls("chat.postMessage") if r.body.get("thread_ts")]
    assert any("Approved by <@UAPP>" in p["text"] for p in thread_posts)
    assert any(f"Erasure {request_id} completed" in p["text"] for p in thread_posts)
    updates = stub.calls("chat.update")
    assert updates and "subject scrubbed" in json.dumps(updates[-1].body["blocks"])
    assert bot.services.audit.verify().ok


def test_self_approval_is_refused(bot, stub):
    bot.slash("delete se-self", "UBOTH")
    request_id = request_id_of(bot)
    bot.click(ACTION_APPROVE, request_id, "UBOTH")
    refusal = bot.answer("click")
    assert refusal["response_type"] == "ephemeral"
    assert "another approver must decide it" in refusal["text"]
    assert bot.services.requests.get(request_id).status.value == "awaiting_approval"
    (denied,) = [e for e in bot.services.audit.events(request_id=request_id)
                 if e.outcome == "denied"]  # fmt: skip
    assert (denied.actor, denied.action) == ("UBOTH", "approve")


def test_non_approver_is_refused(bot, stub):
    bot.slash("delete se-nonapp", "UREQ")
    request_id = request_id_of(bot)
    bot.click(ACTION_APPROVE, request_id, "UVIEW")
    assert "needs the approver role" in bot.answer("click")["text"]
    assert bot.services.requests.get(request_id).status.value == "awaiting_approval"


def test_double_click_executes_once(bot, stub):
    bot.slash("delete se-double", "UREQ")
    request_id = request_id_of(bot)
    bot.click(ACTION_APPROVE, request_id, "UAPP", name="c1")
    bot.click(ACTION_APPROVE, request_id, "UAPP", name="c2")
    bot.wait_status(request_id, "completed", "completed_with_residuals")
    # Both clicks are handled on listener threads: either may get there first.
    answers = [bot.answer(name)["text"] for name in ("c1", "c2")]
    won = [a for a in answers if a == f"You approved {request_id}."]
    assert len(won) == 1
    assert "already" in next(a for a in answers if a not in won)
    assert len(executions(bot, request_id)) == 1


def test_two_approvers_at_once_execute_once(bot, stub):
    bot.slash("delete se-race", "UREQ")
    request_id = request_id_of(bot)
    go = threading.Barrier(2)

    def click(user, name):
        go.wait()
        bot.click(ACTION_APPROVE, request_id, user, name=name)

    threads = [
        threading.Thread(target=click, args=(u, n)) for u, n in (("UAPP", "a1"), ("UAPP2", "a2"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bot.wait_status(request_id, "completed", "completed_with_residuals")
    answers = [bot.answer("a1")["text"], bot.answer("a2")["text"]]
    assert sum("You approved" in a for a in answers) == 1
    assert sum("already" in a for a in answers) == 1
    assert len(executions(bot, request_id)) == 1


def test_a_requester_withdraws_their_request_and_the_message_is_scrubbed(bot, stub):
    bot.slash("delete se-cancel", "UREQ")
    request_id = request_id_of(bot)
    stub.wait_for("chat.postMessage")
    bot.slash(f"cancel {request_id}", "UREQ", name="c0")
    assert "Say why it is cancelled." in bot.answer("c0")["text"]
    bot.slash(f"cancel {request_id} asked by mistake", "UREQ", name="c1")
    answer = bot.answer("c1")
    assert answer["response_type"] == "ephemeral"
    assert f"You cancelled {request_id}" in answer["text"]
    cancelled = bot.wait_status(request_id, "cancelled")
    assert cancelled.subject is None
    (redraw,) = stub.wait_for("chat.update")
    blocks = json.dumps(redraw.body["blocks"])
    assert "se-cancel" not in blocks and "Erin" not in blocks
    assert "Cancelled by <@UREQ>" in blocks and ACTION_APPROVE not in blocks
    assert ad_accounts(bot, "se-cancel")  # nothing was erased


def test_rejection_asks_for_a_reason_in_a_modal(bot, stub):
    bot.slash("delete se-reject", "UREQ")
    request_id = request_id_of(bot)
    bot.click(ACTION_REJECT, request_id, "UAPP")
    (opened,) = stub.wait_for("views.open")
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == REJECT_CALLBACK and view["private_metadata"] == request_id
    empty = {"reason": {"reason": {"type": "plain_text_input", "value": "  "}}}
    status, body, _ = bot.submit_view(REJECT_CALLBACK, request_id, "UAPP", empty)
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert bot.services.requests.get(request_id).status.value == "awaiting_approval"
    filled = {"reason": {"reason": {"type": "plain_text_input", "value": "legal hold"}}}
    bot.submit_view(REJECT_CALLBACK, request_id, "UAPP", filled)
    rejected = bot.wait_status(request_id, "rejected")
    assert rejected.decision_note == "legal hold"
    assert ad_accounts(bot, "se-reject")  # nothing was erased
    stub.wait_for("chat.update")
    assert any(
        "Rejected by <@UAPP>: legal hold" in p.body["text"]
        for p in stub.calls("chat.postMessage")
        if p.body.get("thread_ts")
    )


def test_ambiguous_term_is_refused_and_creates_nothing(bot, stub):
    bot.slash('delete "Sam Same"', "UREQ")
    answer = bot.answer()
    assert answer["response_type"] == "ephemeral"
    assert "matches 2 people" in answer["text"]
    assert stub.calls("chat.postMessage") == []
    assert bot.services.requests.ids() == []


def test_approval_expires(tmp_path, stub, ad):
    bot = start_bot(tmp_path, stub, ad, policy__approval_expires_hours=0.0003)  # ~1 s
    try:
        bot.slash("delete se-expire", "UREQ")
        request_id = request_id_of(bot)
        time.sleep(1.5)
        bot.click(ACTION_APPROVE, request_id, "UAPP")
        assert "expired" in bot.answer("click")["text"]
        assert bot.services.requests.get(request_id).status.value == "expired"
        assert any("expired" in u.body["text"] for u in stub.calls("chat.update"))
        assert ad_accounts(bot, "se-expire")
    finally:
        bot.stop()


def test_ad_down_mid_run_fails_then_retry_completes(tmp_path, stub, ad):
    bot = start_bot(tmp_path, stub, ad, connectors__ad__timeout_seconds=1.0)
    try:
        bot.slash("delete se-retry", "UREQ")
        request_id = request_id_of(bot)
        ad.run("stop")
        try:
            bot.click(ACTION_APPROVE, request_id, "UAPP")
            failed = bot.wait_status(request_id, "failed")
        finally:
            ad.run("start")
        assert failed.steps[0].state.value == "failed"
        notice = posted(stub, "CNOTIFY")
        assert notice and f"Erasure {request_id} failed" in notice[0]["text"]
        assert "step 1" in json.dumps(notice[0]["blocks"])
        assert ACTION_RETRY in json.dumps(notice[0]["blocks"])
        bot.click(ACTION_RETRY, request_id, "UREQ", name="not-approver")
        assert "approver" in bot.answer("not-approver")["text"]
        bot.click(ACTION_RETRY, request_id, "UAPP", name="retry")
        bot.wait_status(request_id, "completed", "completed_with_residuals")
        assert ad_accounts(bot, "se-retry") == []
    finally:
        bot.stop()


def test_status_and_requests_commands(bot, stub):
    bot.slash("delete se-same1", "UREQ")
    request_id = request_id_of(bot)
    bot.slash(f"status {request_id}", "UREQ", name="s1")
    status = bot.answer("s1")
    assert status["response_type"] == "ephemeral"
    assert "awaiting approval" in json.dumps(status["blocks"])
    bot.slash("requests open", "UAPP", name="s2")
    assert request_id in bot.answer("s2")["text"]
    bot.slash(f"status {request_id}", "UVIEW", name="s3")
    assert "needs the" in bot.answer("s3")["text"]
