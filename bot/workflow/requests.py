"""Data-subject requests as values: status machine, steps, subject, and their JSON forms.

    planned → awaiting_approval → approved → running → verifying →
        completed | completed_with_residuals | failed
    awaiting_approval → rejected | expired;  failed → approved (Retry);  any open → cancelled

The database side (compare-and-set moves, step leases, residual checks) is `bot/workflow/store/`.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from bot.lookup.subjects import Subject
from bot.permissions.roles import Role
from bot.workflow.reports import VerificationReport
from connectors.base import (
    DeletePlan,
    IdKind,
    ManualTask,
    PlanAction,
    ResidualCopy,
    UpdatePlan,
)

__all__ = [
    "OPEN",
    "TERMINAL",
    "PlannedStep",
    "ReminderKind",
    "Request",
    "RequestKind",
    "ResidualCheck",
    "Status",
    "Step",
    "StepState",
    "Subject",
    "add_calendar_month",
    "plan_from_json",
    "plan_to_json",
]


class RequestKind(enum.StrEnum):
    """The data subject's right a request serves."""

    ERASURE = "erasure"  # GDPR Art. 17
    ACCESS = "access"  # Art. 15: /mim export
    RECTIFICATION = "rectification"  # Art. 16: /mim update


class ReminderKind(enum.StrEnum):
    """The deadline clock's reminders (bot/workflow/deadlines.py), least urgent first."""

    WEEK = "7d"
    TWO_DAYS = "2d"
    OVERDUE = "overdue"


class Status(enum.Enum):
    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    RUNNING = "running"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    COMPLETED_WITH_RESIDUALS = "completed_with_residuals"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {
        Status.COMPLETED,
        Status.COMPLETED_WITH_RESIDUALS,
        Status.REJECTED,
        Status.EXPIRED,
        Status.CANCELLED,
    }
)
OPEN = frozenset(Status) - TERMINAL


class StepState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # ran, and waits on another system (a deletion rule): re-checked
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ResidualCheck:
    """After `due_at` (a residual copy's expiry), look for the object by `ref` again."""

    request_id: str
    system: str
    ref: str  # the object's reference (objectGUID): no name, deleted once verified gone
    kind: IdKind  # what `ref` is searched as
    due_at: datetime
    attempts: int = 0


@dataclass(frozen=True)
class PlannedStep:
    """One step of a plan before it is stored: automated (with a DeletePlan) or manual."""

    system: str
    action: PlanAction
    summary: str
    plan: DeletePlan | UpdatePlan | None = None
    assigned_role: Role | None = None  # manual steps: who may press Done
    task: ManualTask | None = None  # manual steps: what kind of work


@dataclass(frozen=True)
class Step:
    request_id: str
    seq: int
    system: str
    action: PlanAction
    summary: str
    state: StepState
    attempts: int
    plan: DeletePlan | UpdatePlan | None = None
    assigned_role: Role | None = None
    task: ManualTask | None = None  # manual steps; None for those stored before 0007
    error: str | None = None
    done_by: str | None = None
    detail: str | None = None  # for people: what the step did, or what it waits for
    started_at: datetime | None = None
    finished_at: datetime | None = None
    announced_at: datetime | None = None  # manual steps: when the Done button was posted

    @property
    def manual(self) -> bool:
        return self.action is PlanAction.MANUAL


@dataclass(frozen=True)
class Request:
    id: str
    kind: RequestKind
    status: Status
    version: int
    requester: str
    reason: str | None
    received_at: datetime
    due_at: datetime
    expires_at: datetime
    subject_keys: tuple[str, ...]
    subject: Subject | None  # None once scrubbed after completion
    approvals_needed: int
    approvals: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    steps: tuple[Step, ...] = ()
    report: VerificationReport | None = None  # once verified
    batch_id: str | None = None  # the retention batch it belongs to (bot/workflow/batch/)

    @property
    def residuals(self) -> list[ResidualCopy]:
        return list(self.report.residuals) if self.report else []


def plan_to_json(plan: DeletePlan | UpdatePlan) -> dict[str, Any]:
    if isinstance(plan, UpdatePlan):
        return _UPDATE.dump_python(plan, mode="json")
    return _PLAN.dump_python(plan, mode="json")


def plan_from_json(data: Mapping[str, Any], action: PlanAction) -> DeletePlan | UpdatePlan:
    """A step's stored plan: an update's (its action, or a manual correction's changes),
    else an erasure's."""
    if action is PlanAction.UPDATE or "changes" in data:
        return _UPDATE.validate_python(data)
    return _PLAN.validate_python(data)


# pydantic validates the connectors' plain dataclasses: they stay free of it.
_PLAN: TypeAdapter[DeletePlan] = TypeAdapter(DeletePlan)
_UPDATE: TypeAdapter[UpdatePlan] = TypeAdapter(UpdatePlan)


def add_calendar_month(moment: datetime, months: int = 1) -> datetime:
    """GDPR's "one month": the same day next month, or that month's last day (31 Jan → 28 Feb)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
