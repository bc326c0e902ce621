"""Holds (GDPR Art. 17(3)) on the demo estate, as approvers use them: a person on hold
cannot be erased by anyone, found by any of their identifiers; a hold placed after an
erasure's approval stops it before its first step, and once lifted a retry erases;
only approvers place and lift holds, and both are audited."""

from __future__ import annotations

from bot.workflow.requests import Status, StepState

ADMIN, APPROVER, VIEWER = "UDEMOADMIN", "UDEMOAPPROVER", "UDEMOVIEW"


def test_a_person_on_hold_is_not_erased_whoever_asks_by_whatever_identifier(bot):
    placed = bot.run(APPROVER, "hold kschmidt10 litigation 2026-044")
    assert "is on hold since" in placed and "litigation 2026-044" in placed
    for subject in ("kschmidt10", "100010"):  # the account, the employee ID
        refused = bot.run(ADMIN, f"delete {subject} left in 2024")
        assert "is on hold since" in refused and "Nothing was created" in refused
    assert bot.services.requests.runnable() == []
    # One person's hold holds no one else of the domain, nor a namesake.
    assert "created and sent for approval" in bot.run(ADMIN, "delete lschmidt11 left in 2024")
    assert "is no longer on hold" in bot.run(APPROVER, "unhold kschmidt10")
    assert "created and sent for approval" in bot.run(ADMIN, "delete kschmidt10 left in 2024")
    assert "is not on hold: nothing to lift" in bot.run(APPROVER, "unhold kschmidt10")
    events = [e for e in bot.services.audit.events() if e.action.startswith("hold_")]
    assert [(e.action, e.outcome) for e in events] == [
        ("hold_placed", "ok"), ("hold_lifted", "ok"), ("hold_lifted", "failed"),
    ]  # fmt: skip
    assert all(e.subject_key for e in events)  # whom, as a keyed hash


def test_a_hold_placed_after_the_approval_stops_the_erasure_before_its_first_step(bot):
    bot.run(ADMIN, "delete kschmidt10 left in 2024")
    request_id = "REQ-2026-0001"
    bot.run(APPROVER, "hold 100010 litigation 2026-044")  # by another identifier
    # The hold does not refuse the approval: the runner stops the erasure before anything.
    bot.run(APPROVER, f"approve {request_id}")
    request = bot.services.requests.get(request_id)
    assert request.status is Status.FAILED
    first, *rest = [s for s in request.steps if s.state is not StepState.SKIPPED]
    assert first.state is StepState.FAILED and "put on hold" in (first.error or "")
    assert all(s.state is StepState.PENDING for s in rest)  # nothing was erased
    assert "litigation" not in (first.error or "")  # the reason stays out of the error
    bot.run(APPROVER, "unhold kschmidt10")
    bot.run(APPROVER, f"retry {request_id}")
    retried = bot.services.requests.get(request_id)
    assert retried.steps[0].state is StepState.DONE  # HR erased, once lifted


def test_only_approvers_place_and_lift_holds_and_say_why(bot):
    assert "needs the approver role" in bot.run(VIEWER, "hold kschmidt10 because")
    assert "needs the approver role" in bot.run(ADMIN + "X", "unhold kschmidt10")
    assert "Say why" in bot.run(APPROVER, "hold kschmidt10")
    assert "one exact person" in bot.run(APPROVER, "hold ksch* because")


def test_a_person_held_in_a_system_is_not_erased_either(bot):
    # Mireille Fontaine's row in HR has legal_hold set (the demo's retention.holds.hr_column).
    refused = bot.run(ADMIN, "delete 900003 left in 2023")
    assert "That person is on hold in HR (a legal hold)" in refused
    assert "Nothing was created" in refused
    assert bot.services.requests.runnable() == []
    assert "created and sent for approval" in bot.run(ADMIN, "delete 900001 left in 2021")
