"""A retention batch as values. Its status:

    awaiting_approval → running ⇄ paused → done
    awaiting_approval → rejected | expired

"done" means every member was started (or could not be) and every erasure ended or
failed; a failed one stays listed for Retry, and a retry done later redraws the summary.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.workflow.requests import Status
from connectors.base import Query

__all__ = ["Batch", "BatchMember", "BatchStatus", "BatchSummary", "Place", "Progress"]


class BatchStatus(enum.Enum):
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    REJECTED = "rejected"
    EXPIRED = "expired"


ENDED = frozenset({BatchStatus.DONE, BatchStatus.REJECTED, BatchStatus.EXPIRED})


class Place(enum.StrEnum):
    """Where a member stands in its batch."""

    PROPOSED = "proposed"  # to be erased once the batch runs
    KEPT_OUT = "kept_out"  # the sweep kept them out (on hold, open, several people, ...)
    DROPPED = "dropped"  # an approver took them out before approving
    STARTED = "started"  # its erasure exists (request_id)
    NOT_STARTED = "not_started"  # at run time: on hold now, gone, nothing to erase, ...


@dataclass(frozen=True)
class BatchMember:
    batch_id: str
    seq: int
    rule: str
    place: Place
    label: str | None  # the person's name: None once the batch ended (scrubbed)
    query: Query | None  # how the member is resolved, as a /mim delete would be typed
    note: str | None = None  # why kept out or not started (no personal data)
    subject_key: str | None = None
    since: datetime | None = None
    request_id: str | None = None
    claim: str | None = None  # the lease a driver's lane holds it by, while it starts it
    attempts: int = 0  # tries that met a system not answering


@dataclass(frozen=True)
class Batch:
    id: str
    status: BatchStatus
    version: int
    requester: str
    rules: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    places: Mapping[Place, int]  # how many members stand where
    rule_counts: Mapping[str, int] = field(default_factory=dict)  # proposed, per rule
    decided_by: str | None = None
    decided_at: datetime | None = None
    channel: str | None = None
    message_ts: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def count(self, place: Place) -> int:
        return self.places.get(place, 0)

    @property
    def size(self) -> int:
        """The people it erases: proposed, started or found not startable at run time."""
        return sum(self.count(p) for p in (Place.PROPOSED, Place.STARTED, Place.NOT_STARTED))


@dataclass(frozen=True)
class Progress:
    """A batch's erasures by where they stand, and when the rest should be done."""

    statuses: Mapping[Status, int]
    pending: int  # members not started yet
    eta: timedelta | None  # None until something finished, or when nothing is left

    def of(self, *statuses: Status) -> int:
        return sum(self.statuses.get(s, 0) for s in statuses)

    @property
    def erased(self) -> int:
        return self.of(Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS)

    @property
    def failed(self) -> int:
        return self.of(Status.FAILED)

    @property
    def running(self) -> int:
        return self.of(Status.APPROVED, Status.RUNNING, Status.VERIFYING)


@dataclass(frozen=True)
class BatchSummary:
    """What the batch's one message shows: the batch, the first people (by name, while
    awaiting approval), those kept out, the failed (for Retry), progress, and what each
    system does to every person."""

    batch: Batch
    shown: tuple[BatchMember, ...]  # the first proposed people
    kept_out: tuple[BatchMember, ...]  # the first kept out or dropped, with the reason
    failed: tuple[tuple[str, str | None], ...]  # (request id, label) of failed erasures
    progress: Progress | None  # None while awaiting approval
    systems: tuple[tuple[str, str], ...]  # (system label, what it does to each person)
