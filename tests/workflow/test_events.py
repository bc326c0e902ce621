"""Workflow events (bot/workflow/events.py): every event has its audit record, free text never
reaches the chain, and every event told to a thread has an escaped rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.render.events import event_text
from bot.workflow import events as ev
from bot.workflow.reports import SystemCheck, VerificationReport
from bot.workflow.requests import Request, Status

NOTE = "<!channel> see <http://evil.example|here> & ask <@UEVIL>"
AT = datetime(2026, 3, 1, tzinfo=UTC)
BY = {"actor": "UAPP", "roles": ("approver",), "request_id": "REQ-2026-0001"}
SAMPLES: list[ev.Event] = [
    ev.RequestCreated(**BY, kind="erasure", steps=(("ad", "delete"),)),
    ev.Exported(**BY, systems=(("ad", "found"),), files=4, sha256="ab" * 32, complete=True),
    ev.Reminded(**BY, kind="2d", due_at=AT, days_left=2),
    ev.ApprovalGiven(**BY),
    ev.ApprovalGiven(**BY, missing=1),
    ev.Rejected(**BY, note=NOTE),
    ev.Cancelled(**BY, note=NOTE, was="failed"),
    ev.Extended(**BY, note=NOTE, months=2, due_at=AT),
    ev.Expired(actor="system"),
    ev.RetryStarted(**BY, new_steps=1, unapproved=2),
    ev.StepStarted(**BY, seq=1, system="ad"),
    ev.StepWaiting(**BY, seq=2, system="mimsync"),
    ev.StepDone(**BY, seq=1, system="ad", already_absent=True),
    ev.StepDone(**BY, seq=3, system="hr", manual=True),
    ev.StepFailed(**BY, seq=1, system="ad", error="unreachable", audited_error="wait limit"),
    ev.Verified(**BY, report=VerificationReport(systems={"ad": SystemCheck(absent=True)})),
    ev.ResidualChecked(actor="system", system="ad", attempt=1, outcome=ev.ResidualOutcome.GONE),
    ev.ResidualChecked(
        actor="system", system="ad", attempt=2, outcome=ev.ResidualOutcome.STILL_PRESENT
    ),
]
# What the domain tells a request's thread (ErasureService passes these to notifier.event;
# of the steps, only those a person marked done).
THREAD = (
    ev.ApprovalGiven, ev.Rejected, ev.Cancelled, ev.Extended, ev.Expired, ev.RetryStarted,
    ev.StepDone, ev.ResidualChecked,
)  # fmt: skip


def all_event_types() -> set[type]:
    found, todo = set(), [ev.Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub)
            todo.append(sub)
    return found


def test_the_samples_cover_every_event_type():
    assert {type(e) for e in SAMPLES} == all_event_types()


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_has_its_audit_record_without_free_text(event):
    entry = ev.audit_entry(event, "subject-key")
    assert entry.action and entry.outcome
    assert (entry.actor, entry.subject_key) == (event.actor, "subject-key")
    assert "channel" not in json.dumps(dict(entry.detail))  # notes: only their length


def test_audit_actions_are_the_chains_names():
    # The chain's readers (and `audit subject`) search by these names: they must not drift.
    actions = [ev.audit_entry(e, None).action for e in SAMPLES]
    assert actions == [
        "request_created", "package_sent", "reminder", "approval", "approval", "rejection",
        "cancelled", "extended", "expired", "retry", "step_start", "step_wait", "step_end",
        "step_end", "step_end",
        "verification", "residuals_checked", "residuals_checked",
    ]  # fmt: skip


REQUEST = Request(
    id="REQ-2026-0001", kind="erasure", status=Status.AWAITING_APPROVAL, version=1,
    requester="UREQ", reason=None, received_at=AT, due_at=AT, expires_at=AT,
    subject_keys=("k",), subject=None, approvals_needed=1,
)  # fmt: skip


TOLD = [e for e in SAMPLES if isinstance(e, THREAD) and getattr(e, "manual", True)]


@pytest.mark.parametrize("event", TOLD, ids=lambda e: type(e).__name__)
def test_every_thread_event_renders_with_user_text_escaped(event):
    text = event_text(REQUEST, event)
    assert "<!" not in text and "<http" not in text and "<@UEVIL>" not in text
    if getattr(event, "note", None):
        assert "&lt;!channel&gt;" in text and "&amp;" in text
    if event.actor.startswith("U"):
        assert "<@UAPP>" in text  # the bot's own mention stays live


def test_an_event_without_a_thread_message_is_refused_not_printed_raw():
    with pytest.raises(TypeError):
        event_text(REQUEST, ev.StepStarted(**BY, seq=1, system="ad"))
