"""Retention batches as approvers and requesters use them, on the demo estate: a sweep
proposes one batch (its first people by name, every one in a file in its thread, the
held one kept out); another approver approves it once and each person becomes their own
approved erasure, linked to the batch, with no message of their own; the batch ends with
its one summary redrawn. Dropping people, rejecting, expiry, a hold placed after the
sweep, bad input, who may see a batch, and approval by whoever ran the sweep."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.errors import RequestStateError
from bot.permissions.roles import Actor, Role
from bot.workflow.batch.model import BatchStatus, Place
from bot.workflow.requests import Status
from tests.support.demo_bot import DemoBot

ADMIN, APPROVER, VIEWER = "UDEMOADMIN", "UDEMOAPPROVER", "UDEMOVIEW"
BATCH = "BATCH-2026-0001"


def hr_accounts(bot: DemoBot) -> set[str]:
    engine = sa.create_engine(bot.estate.hr_url)
    try:
        with engine.connect() as conn:
            return set(conn.exec_driver_sql("SELECT login FROM employees").scalars())
    finally:
        engine.dispose()


def test_one_approval_erases_each_person_as_their_own_request(bot):
    answer = bot.run(ADMIN, "sweep")
    assert f"Batch {BATCH} proposes erasing 2 person(s)." in answer
    posted = bot.channels.text()
    assert "1. Harriet Wright (leavers, since 2021-03-31)" in posted
    assert "Mireille Fontaine (lv-mfontaine) (leavers): on hold: on hold in HR" in posted
    assert f"[thread {BATCH}] file {BATCH}-people.csv (3 people" in posted
    assert bot.services.requests.runnable() == []  # nobody is erased before the approval

    before = len(bot.channels.text())
    assert f"You approved {BATCH}" in bot.run(APPROVER, f"approve {BATCH}")
    told = bot.channels.text()[before:]
    batch = bot.services.requests.batches.get(BATCH)
    assert batch.status is BatchStatus.DONE and batch.decided_by == APPROVER
    ids = bot.services.requests.of_batch(BATCH)
    assert len(ids) == 2
    for request in bot.services.requests.many(ids):
        assert request.batch_id == BATCH and request.approvals == (APPROVER,)
        assert request.requester == ADMIN and request.subject is None  # scrubbed: ended
        assert request.status is Status.COMPLETED_WITH_RESIDUALS
    assert {"lv-hwright", "lv-okaya"}.isdisjoint(hr_accounts(bot))
    assert "lv-mfontaine" in hr_accounts(bot)  # on hold in HR: kept
    # One message for the batch, redrawn; nothing per person: no DM, no thread, no post.
    assert "DM to" not in told and "#notifications" not in told and "[thread REQ" not in told
    assert told.count(f"[#approvals, message {BATCH} updated]") == 2  # running, then done
    assert "Progress: 2 erased, 0 failed, 0 running, 0 not started, 0 to start (of 2)" in told
    assert f"file {BATCH}-people.csv deleted: the batch ended" in told  # the names go too
    # Names and identifiers are scrubbed once the batch ends; its audit keys stay.
    members = bot.services.requests.batches.members(BATCH)
    assert all(m.label is None and m.query is None for m in members)
    actions = [e.action for e in bot.services.audit.events() if e.request_id == BATCH]
    assert actions[:1] == ["batch_proposed"]
    assert {"batch_approved", "batch_done"} <= set(actions)
    approvals = [e for e in bot.services.audit.events() if e.action == "approval"]
    assert {e.request_id for e in approvals} == set(ids)
    assert all(e.actor == APPROVER for e in approvals)


def test_whoever_ran_the_sweep_cannot_approve_its_batch():
    bot = DemoBot.start(users={ADMIN: ["approver"]})  # requester and approver at once
    try:
        bot.run(ADMIN, "sweep")
        answer = bot.run(ADMIN, f"approve {BATCH}")
        assert "You ran this sweep; another approver must approve its batch." in answer
        assert "another approver must drop" not in answer
        assert "another approver must change its batch" in bot.run(ADMIN, f"drop {BATCH} 1")
        assert bot.services.requests.batches.get(BATCH).status is BatchStatus.AWAITING_APPROVAL
        assert bot.services.requests.of_batch(BATCH) == []
    finally:
        bot.close()


def test_people_dropped_before_approval_are_not_erased(bot):
    bot.run(ADMIN, "sweep")
    answer = bot.run(APPROVER, f"drop {BATCH} 1")
    assert f"Dropped 1 person(s) from {BATCH}: 1." in answer
    assert "proposes nobody with those numbers" in bot.run(APPROVER, f"drop {BATCH} 1 99")
    bot.run(APPROVER, f"approve {BATCH}")
    batch = bot.services.requests.batches.get(BATCH)
    assert batch.count(Place.DROPPED) == 1 and batch.count(Place.STARTED) == 1
    assert "lv-hwright" in hr_accounts(bot) and "lv-okaya" not in hr_accounts(bot)
    assert "can be dropped only before it is approved" in bot.run(APPROVER, f"drop {BATCH} 2")


def test_a_hold_placed_after_the_sweep_stops_that_person_before_anything_is_erased(bot):
    bot.run(ADMIN, "sweep")
    bot.run(APPROVER, "hold 900001 litigation 2026-060")  # Harriet Wright
    bot.run(APPROVER, f"approve {BATCH}")
    (held,) = bot.services.requests.batches.members(BATCH, [Place.NOT_STARTED])
    assert held.note == "on hold since the sweep (GDPR Art. 17(3))"
    assert "lv-hwright" in hr_accounts(bot) and "lv-okaya" not in hr_accounts(bot)
    assert "1 not started" in bot.run(APPROVER, f"status {BATCH}")


def test_a_rejected_batch_erases_nobody_and_forgets_the_names(bot):
    bot.run(ADMIN, "sweep")
    assert f"You rejected {BATCH}" in bot.run(APPROVER, f"reject {BATCH} not this quarter")
    assert f"file {BATCH}-people.csv deleted: the batch ended" in bot.channels.text()
    assert bot.services.requests.batches.get(BATCH).status is BatchStatus.REJECTED
    assert all(m.label is None for m in bot.services.requests.batches.members(BATCH))
    assert f"{BATCH} was rejected by {APPROVER} already" in bot.run(APPROVER, f"approve {BATCH}")
    assert {"lv-hwright", "lv-okaya"} <= hr_accounts(bot)


def test_an_unapproved_batch_expires_as_a_request_does(bot):
    bot.run(ADMIN, "sweep")
    bot.later(days=4)  # past the 72 hours approvals wait
    assert bot.services.requests.batches.get(BATCH).status is BatchStatus.EXPIRED
    assert "was expired" in bot.run(APPROVER, f"approve {BATCH}")


def test_pause_and_resume_say_what_they_can_do(bot):
    bot.run(ADMIN, "sweep")
    assert "only a running batch can be paused" in bot.run(APPROVER, f"pause {BATCH}")
    assert "only a paused batch can be resumed" in bot.run(APPROVER, f"resume {BATCH}")
    bot.services.batches.execute = lambda _id: None  # approved, and paused before its drive
    bot.services.batches.approve(BATCH, actor=Actor(APPROVER, frozenset({Role.APPROVER})))
    assert "is paused: no new erasure starts" in bot.run(APPROVER, f"pause {BATCH}")
    bot.services.batch_driver.resume_all()  # the worker's round: a paused batch stays
    assert bot.services.requests.of_batch(BATCH) == []
    bot.services.batches.execute = bot.services.batch_driver.start
    assert "runs again" in bot.run(APPROVER, f"resume {BATCH}")
    assert bot.services.requests.batches.get(BATCH).status is BatchStatus.DONE


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        (APPROVER, "approve BATCH-26-1", "not a request id"),
        (APPROVER, f"drop {BATCH}", "Which people? Give their numbers"),
        (APPROVER, f"drop {BATCH} 1 x", "Which people? Give their numbers"),
        (APPROVER, f"drop {BATCH} ²", "Which people? Give their numbers"),
        (APPROVER, "pause REQ-2026-0001", "That is not a batch id (like BATCH-2026-0001)."),
        (APPROVER, f"done {BATCH} 1", "A batch cannot be given to done"),
        (APPROVER, f"reject {BATCH}", "Say why it is rejected."),
        (APPROVER, f"approve {BATCH} now", "Too many words."),
        (APPROVER, "approve BATCH-2026-0042", "There is no batch BATCH-2026-0042."),
        (VIEWER, f"approve {BATCH}", "needs the approver role"),
        (ADMIN, f"approve {BATCH}", "Only approvers decide a batch"),
        (ADMIN, f"drop {BATCH} 1", "Only approvers decide a batch"),
    ],
)
def test_bad_batch_commands_get_a_short_answer_and_change_nothing(bot, user, text, expected):
    bot.run(ADMIN, "sweep")
    assert expected in bot.run(user, text)
    batch = bot.services.requests.batches.get(BATCH)
    assert batch.status is BatchStatus.AWAITING_APPROVAL and batch.count(Place.PROPOSED) == 2


def test_a_batch_names_people_only_to_approvers_auditors_and_who_ran_the_sweep(bot):
    bot.run(ADMIN, "sweep")
    assert "Harriet Wright" in bot.run(APPROVER, f"status {BATCH}")
    assert "Harriet Wright" in bot.run(ADMIN, f"status {BATCH}")
    other = DemoBot.start(users={"UOTHERREQ": ["requester"]})
    try:
        other.run(ADMIN, "sweep")
        answer = other.run("UOTHERREQ", f"status {BATCH}")
        assert "Only approvers, auditors and who ran the sweep see a batch." in answer
        assert "Harriet" not in answer
    finally:
        other.close()


def test_nobody_due_proposes_no_batch(bot):
    bot.run(ADMIN, "sweep")
    bot.run(APPROVER, f"approve {BATCH}")
    answer = bot.run(ADMIN, "sweep")
    assert "Nobody is due, so no batch was proposed." in answer
    assert bot.services.requests.batches.ids(list(BatchStatus)) == [BATCH]


def test_a_second_sweep_does_not_propose_people_an_open_batch_holds(bot):
    bot.run(ADMIN, "sweep")
    answer = bot.run(ADMIN, "sweep")
    assert "Nobody is due, so no batch was proposed." in answer
    assert "2 already in an open batch" in answer and answer.count(BATCH) == 2
    bot.run(APPROVER, f"reject {BATCH} wrong rule")
    assert "Batch BATCH-2026-0002 proposes erasing 2 person(s)." in bot.run(ADMIN, "sweep")


def test_the_member_file_neutralises_every_cell_a_spreadsheet_would_run():
    from bot.render.batches import member_list_csv
    from bot.workflow.batch.model import BatchMember

    hostile = [" =HYPERLINK(1)", "\uff1dSUM(A1)", "+1", "@x", "\tcmd", "-2", "Ann"]
    members = [
        BatchMember("BATCH-2026-0001", i, "leavers", Place.PROPOSED, label, None)
        for i, label in enumerate(hostile, 1)
    ]
    rows = member_list_csv(members).decode().splitlines()[1:]
    names = [row.split(",")[2] for row in rows]
    assert all(n.startswith("'") for n in names[:-1]) and names[-1] == "Ann"


def test_a_batch_paused_after_its_last_person_started_still_ends_and_forgets(bot, monkeypatch):
    bot.run(ADMIN, "sweep")
    services = bot.services
    services.batches.execute = lambda _id: None
    services.batches.approve(BATCH, actor=Actor(APPROVER, frozenset({Role.APPROVER})))
    with monkeypatch.context() as m:  # the pause lands between the last start and the end
        m.setattr(services.batches, "settle", lambda *a, **k: False)
        services.batch_driver.drive(BATCH)
    assert "is paused" in bot.run(APPROVER, f"pause {BATCH}")  # the tick settles it
    batch = services.requests.batches.get(BATCH)
    assert batch.status is BatchStatus.DONE
    assert all(m.label is None for m in services.requests.batches.members(BATCH))


def test_an_approval_after_the_window_closed_is_refused_even_unswept(bot):
    bot.run(ADMIN, "sweep")
    bot.clock.later(4)  # past the window, before any tick expired it
    with pytest.raises(RequestStateError, match="expired before it was decided"):
        bot.services.batches.approve(BATCH, actor=Actor(APPROVER, frozenset({Role.APPROVER})))
    assert bot.services.requests.of_batch(BATCH) == []
