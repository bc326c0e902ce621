"""What happened to a request, as frozen values: the domain returns them, the store audits
them, the notifier tells people about them, and only the render layer turns them into text.

Each event names who caused it (`actor`: a Slack user id, or a runner's name with the
role "system") and carries no free text that reaches the audit chain: notes and reasons
travel for the thread message only, and the audit keeps their length.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.audit import Entry
from bot.audit.records import AuditOutcome
from bot.workflow.reports import VerificationReport
from bot.workflow.requests import ReminderKind, RequestKind

__all__ = [
    "SYSTEM_ROLES",
    "ApprovalGiven",
    "Cancelled",
    "Event",
    "Expired",
    "Exported",
    "Extended",
    "Rejected",
    "Reminded",
    "RequestCreated",
    "ResidualChecked",
    "ResidualOutcome",
    "RetryStarted",
    "StepDone",
    "StepFailed",
    "StepStarted",
    "StepWaiting",
    "Verified",
    "audit_entry",
]

SYSTEM_ROLES: tuple[str, ...] = ("system",)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to one request, caused by `actor`."""

    actor: str
    roles: tuple[str, ...] = SYSTEM_ROLES
    request_id: str | None = None  # None until the store allocates it (creation)


@dataclass(frozen=True, kw_only=True)
class RequestCreated(Event):
    kind: RequestKind
    steps: tuple[tuple[str, str], ...]  # (system, action) per planned step


@dataclass(frozen=True, kw_only=True)
class Exported(Event):
    """An access package went to the requester: each system's outcome, how many files,
    and the package's SHA-256 (what was sent can be proved; the package is not kept)."""

    systems: tuple[tuple[str, str], ...]  # (system, outcome)
    files: int
    sha256: str
    complete: bool  # every system holding or not holding the person answered


@dataclass(frozen=True, kw_only=True)
class Reminded(Event):
    """The deadline clock reminded the requester (and the thread) of the due date."""

    kind: ReminderKind
    due_at: datetime
    days_left: int  # negative once overdue


@dataclass(frozen=True, kw_only=True)
class ApprovalGiven(Event):
    missing: int = 0  # approvals still needed after this one; 0: the request is approved


@dataclass(frozen=True, kw_only=True)
class Rejected(Event):
    note: str


@dataclass(frozen=True, kw_only=True)
class Cancelled(Event):
    note: str
    was: str  # the status it was closed from


@dataclass(frozen=True, kw_only=True)
class Extended(Event):
    note: str
    months: int
    due_at: datetime


@dataclass(frozen=True, kw_only=True)
class Expired(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class RetryStarted(Event):
    new_steps: int  # steps added for approved objects that came back
    unapproved: int  # other live objects answering to the person, left untouched


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    seq: int
    system: str


@dataclass(frozen=True, kw_only=True)
class StepWaiting(Event):
    seq: int
    system: str


@dataclass(frozen=True, kw_only=True)
class StepDone(Event):
    seq: int
    system: str
    already_absent: bool = False
    manual: bool = False  # marked done by a person (attested, not checked)


@dataclass(frozen=True, kw_only=True)
class StepFailed(Event):
    seq: int
    system: str
    error: str  # safe text: a connector's error class or code, never a value
    audited_error: str | None = None  # what the chain keeps, when shorter than `error`


@dataclass(frozen=True, kw_only=True)
class Verified(Event):
    report: VerificationReport


class ResidualOutcome(enum.Enum):
    GONE = "gone"
    STILL_PRESENT = "still_present"
    NOT_CHECKED = "not_checked"  # the system could not be asked: looked for again tomorrow


@dataclass(frozen=True, kw_only=True)
class ResidualChecked(Event):
    system: str
    attempt: int
    outcome: ResidualOutcome
    at: datetime = field(default_factory=lambda: datetime.min)


def audit_entry(event: Event, subject_key: str | None) -> Entry:
    """The one place an event becomes its audit record (action names are the chain's API)."""
    action, outcome, detail = _audit_fields(event)
    return Entry(
        actor=event.actor,
        roles=list(event.roles),
        action=action,
        outcome=outcome,
        subject_key=subject_key,
        request_id=event.request_id,
        detail=detail,
    )


OK = AuditOutcome.OK


def _audit_fields(event: Event) -> tuple[str, AuditOutcome, dict[str, Any]]:
    match event:
        case RequestCreated(kind=kind, steps=steps):
            return (
                "request_created",
                OK,
                {
                    "kind": kind,
                    "steps": [{"system": s, "action": a} for s, a in steps],
                },
            )
        case Exported(systems=systems, files=files, sha256=digest, complete=complete):
            return (
                "package_sent",
                OK if complete else AuditOutcome.INCOMPLETE,
                {"systems": dict(systems), "files": files, "sha256": digest},
            )
        case Reminded(kind=kind, days_left=days):
            return "reminder", OK, {"kind": kind, "days_left": days}
        case ApprovalGiven(missing=missing):
            return "approval", OK, {"missing": missing}
        case Rejected(note=note):
            return "rejection", OK, {"note_length": len(note)}
        case Cancelled(note=note, was=was):
            return "cancelled", OK, {"note_length": len(note), "was": was}
        case Extended(note=note, months=months):
            return "extended", OK, {"months": months, "note_length": len(note)}
        case Expired():
            return "expired", OK, {}
        case RetryStarted(new_steps=new, unapproved=unapproved):
            return "retry", OK, {"new_steps": new, "unapproved": unapproved}
        case StepStarted(seq=seq, system=system):
            return "step_start", OK, {"seq": seq, "system": system}
        case StepWaiting(seq=seq, system=system):
            return "step_wait", OK, {"seq": seq, "system": system}
        case StepDone(seq=seq, manual=True):
            return "step_end", OK, {"seq": seq, "state": "done", "manual": True}
        case StepDone(seq=seq, system=system, already_absent=absent):
            return "step_end", OK, {"seq": seq, "system": system, "already_absent": absent}
        case StepFailed(seq=seq, system=system, error=error, audited_error=audited):
            return (
                "step_end",
                AuditOutcome.FAILED,
                {"seq": seq, "system": system, "error": audited or error},
            )
        case Verified(report=report):
            return (
                "verification",
                AuditOutcome.FAILED if report.failing else OK,
                {
                    "systems": report.audit_systems(),
                },
            )
        case ResidualChecked(system=system, attempt=attempt, outcome=outcome):
            return (
                "residuals_checked",
                OK if outcome is ResidualOutcome.GONE else AuditOutcome(outcome.value),
                {
                    "system": system,
                    "attempt": attempt,
                },
            )
    raise TypeError(f"no audit record for {type(event).__name__}")
