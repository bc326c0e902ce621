"""A running retention batch, driven: each proposed member is resolved, checked and
planned as a `delete` would be at that moment, stored as its own approved erasure
(linked to the batch), and run by the runner.

`max_parallel` lanes take members one at a time, so no system is asked by more than
`max_parallel` of the batch's erasures at once (each erasure asks a system one thing at a
time). One driver per batch, by lease, whichever replica: a driver that dies leaves its
lease to run out and its members' leases too, and the next one goes on; a member whose
erasure was stored just before is found by its open request and not started twice.
While a driver is at work the runner's periodic resume leaves the batch's erasures to it
(`RequestStore.runnable`); those that wait on something (a sync) are the resume's again
once it ends.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from bot.errors import (
    AlreadyOpen,
    CannotPlan,
    HeldElsewhere,
    HoldsUnreadable,
    MimbotError,
    OnHold,
    RequestStateError,
)
from bot.logs import log_failure
from bot.lookup.subjects import AmbiguousSubject, NobodyMatches, SystemsUnavailable
from bot.permissions.roles import Actor, Role
from bot.workflow.batch.model import Batch, BatchMember, BatchStatus, Place
from bot.workflow.batch.service import BatchService
from bot.workflow.erasure import ErasureService
from bot.workflow.events import ApprovalGiven
from bot.workflow.runner import Runner
from bot.workflow.store import RequestStore

__all__ = ["BatchDriver"]

log = logging.getLogger(__name__)

# How long a lane may take to resolve, check and plan one person before another may: the
# searches' and plans' deadlines together, with room.
MEMBER_LEASE = timedelta(minutes=10)
# A member whose systems did not all answer is tried again, TRIES times in all, the n-th
# time n x RETRY_AFTER later.
TRANSIENT = (SystemsUnavailable, CannotPlan, HoldsUnreadable)
TRIES = 3
RETRY_AFTER = timedelta(minutes=1)


@dataclass
class BatchDriver:
    store: RequestStore
    erasure: ErasureService
    runner: Runner
    batches: BatchService
    max_parallel: int = 4
    lease: timedelta = timedelta(seconds=60)
    background: bool = False  # the Slack app and the worker: drive on a thread of its own
    owner: str = field(default_factory=lambda: f"batch-{uuid.uuid4().hex[:8]}")
    _threads: dict[str, threading.Thread] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)

    def start(self, batch_id: str) -> None:
        """Drive the batch: inline (the console), or on its own thread if none is."""
        if not self.background:
            self.drive(batch_id)
            return
        with self._lock:
            running = self._threads.get(batch_id)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self._drive_logged, args=(batch_id,), name=f"drive-{batch_id}", daemon=True
            )
            self._threads[batch_id] = thread
            thread.start()

    def resume_all(self) -> None:
        """The worker's round: drive running batches with people left to start, and end
        (and redraw) those whose last erasure finished outside a driver."""
        for batch_id in self.store.batches.ids([BatchStatus.RUNNING, BatchStatus.PAUSED]):
            try:
                batch = self.store.batches.get(batch_id)
                if batch.status is BatchStatus.RUNNING and batch.count(Place.PROPOSED):
                    self.start(batch_id)
                else:
                    self.batches.settle(batch_id)
            except Exception as exc:  # noqa: BLE001 - one broken batch must not stop others
                log_failure(log, "batch %s could not advance", exc, batch_id)
        for batch_id in self.store.batches.summaries_owed():
            self.batches.refresh(batch_id, force=True)
        for batch_id in self.store.batches.files_owed():
            self.batches.forget_file(batch_id)

    def stop(self, timeout: float = 30.0) -> None:
        """No member starts after this; a step under way ends (its lease is durable)."""
        self._stop.set()
        for thread in list(self._threads.values()):
            thread.join(timeout=timeout)

    def drive(self, batch_id: str) -> bool:
        """Start every proposed member, `max_parallel` at a time, until none is left or
        the batch is paused. False when another driver holds the batch."""
        if not self.store.batches.claim_driver(batch_id, self.owner, self.lease):
            return False
        try:
            batch = self.store.batches.get(batch_id)
            requester = Actor(batch.requester, frozenset({Role.REQUESTER}))
            # Each erasure is approved by the batch's approver, with the batch's approval.
            approval = ApprovalGiven(actor=batch.decided_by or "system", roles=(Role.APPROVER,))
            lanes = min(self.max_parallel, max(1, batch.count(Place.PROPOSED)))
            with ThreadPoolExecutor(lanes, thread_name_prefix=f"lane-{batch_id}") as pool:
                for future in [
                    pool.submit(self._lane, batch, requester, approval) for _ in range(lanes)
                ]:
                    future.result()
        finally:
            self.store.batches.release_driver(batch_id, self.owner)
        self.batches.settle(batch_id, redraw=True)  # the summary as the drive left it
        return True

    # -- parts ----------------------------------------------------------------------

    def _drive_logged(self, batch_id: str) -> None:
        try:
            self.drive(batch_id)
        except Exception as exc:  # noqa: BLE001 - boundary of a thread; the worker resumes
            log_failure(log, "batch %s could not be driven", exc, batch_id)

    def _lane(self, batch: Batch, requester: Actor, approval: ApprovalGiven) -> None:
        store = self.store.batches
        while not self._stop.is_set():
            if store.status(batch.id) is not BatchStatus.RUNNING:
                return  # paused (or ended): what runs finishes, nothing new starts
            if not store.claim_driver(batch.id, self.owner, self.lease):
                return  # the lease was lost (this process stalled): another drives it
            member = store.claim_member(batch.id, self.owner, max(self.lease, MEMBER_LEASE))
            if member is None:
                return
            self._start_member(batch, member, requester, approval)

    def _start_member(
        self, batch: Batch, member: BatchMember, requester: Actor, approval: ApprovalGiven
    ) -> None:
        store = self.store.batches
        if member.query is None:
            store.not_started(member, "no identifier to find them by")
            return
        try:
            request = self.erasure.request_in_batch(
                member.query, batch_id=batch.id, requester=requester, approval=approval
            )
        except AlreadyOpen as exc:
            if self.store.get(exc.request_id).batch_id != batch.id:
                store.not_started(member, f"a request is already open: {exc.request_id}")
                return
            request_id = exc.request_id  # stored just before a driver died: it is this one
        except TRANSIENT as exc:
            # A system that does not answer now may in a minute: the person is tried
            # again later, and left out only after `TRIES` (listed, for a delete by hand).
            if member.attempts + 1 >= TRIES:
                store.not_started(member, f"{_why_not(exc)} ({TRIES} tries)")
                self.batches.refresh(batch.id)
            else:
                store.later(member, RETRY_AFTER * (member.attempts + 1))
            return
        except MimbotError as exc:
            store.not_started(member, _why_not(exc))
            self.batches.refresh(batch.id)
            return
        except Exception as exc:  # noqa: BLE001 - one person must not stop the batch
            log_failure(log, "batch %s: member %s could not be planned", exc, batch.id, member.seq)
            store.not_started(member, f"could not be planned ({type(exc).__name__})")
            self.batches.refresh(batch.id)
            return
        else:
            request_id = request.id
        if not store.started(member, request_id):
            # Its lease ran out while it was planned, and another lane took it: that one
            # found this erasure open and linked it. Running it again is harmless.
            log.info("batch %s: member %s was settled by another lane", batch.id, member.seq)
        try:
            self.runner.run(request_id)
        except Exception as exc:  # noqa: BLE001 - it stays runnable: the worker resumes it
            log_failure(log, "runner: request %s could not advance", exc, request_id)


def _why_not(exc: MimbotError) -> str:
    """Why a member could not be started, in words that name nobody (an error's own text
    may quote a hold's reason or list the people a name matched)."""
    match exc:
        case OnHold() | HeldElsewhere():
            return "on hold since the sweep (GDPR Art. 17(3))"
        case AmbiguousSubject():
            return "resolves to several people now"
        case NobodyMatches():
            return "not found across the estate any more"
        case SystemsUnavailable() | CannotPlan():
            return "not every system answered"
        case HoldsUnreadable():
            return "the holds could not be read"
        case RequestStateError():
            return "nothing left to erase"
    return f"could not be started ({type(exc).__name__})"
