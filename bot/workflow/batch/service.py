"""A retention batch, proposed and decided: a sweep's people become one batch request in
the approvals channel (the first by name, every one in a file in its thread); an approver
other than the one who ran the sweep may drop people and approves it once; it can be
rejected, paused and resumed, its failed erasures retried together; unapproved, it
expires as a request does. Running it is `running.py`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.config import PolicyConfig
from bot.errors import MimbotError, NotAllowed, RequestStateError, UsageError
from bot.permissions.roles import Actor, Role
from bot.workflow.batch.model import (
    ENDED,
    Batch,
    BatchStatus,
    BatchSummary,
    Place,
    Progress,
)
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.requests import Request, Status
from bot.workflow.store import RequestStore
from bot.workflow.store.batches import AlreadyProposed, NewMember
from bot.workflow.sweeps import MemberState, Sweep
from connectors.base import Capability, Connector

__all__ = ["SCHEDULE", "BatchService"]

log = logging.getLogger(__name__)

# Who "ran" a scheduled sweep: no person, so any approver may approve its batch.
SCHEDULE = Actor("retention-schedule", frozenset({Role.REQUESTER}))
SHOWN = 10  # people named in the message; the file in its thread lists them all
DROP_USAGE = "/mim drop <batch-id> <number> [<number> ...]"  # bot/commands/table.py's line


@dataclass
class BatchService:
    store: RequestStore
    notifier: AuditedNotifier
    policy: PolicyConfig
    connectors: Sequence[Connector]
    execute: Callable[[str], object]  # starts (or resumes) a batch's driver
    retry_request: Callable[[str, Actor], object]  # DecisionService.retry, one erasure
    summary_every: timedelta = timedelta(seconds=3)
    _drawing: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- propose ------------------------------------------------------------------

    def propose(self, sweep: Sweep, *, actor: Actor) -> Batch | None:
        """One batch request for the sweep's proposed people (None when there are none),
        with those it kept out and why, posted to the approvals channel."""
        if not sweep.of(MemberState.PROPOSED):
            return None
        members = [
            NewMember(
                rule=m.rule,
                place=Place.PROPOSED if m.state is MemberState.PROPOSED else Place.KEPT_OUT,
                label=m.label,
                query=m.query,
                # A hold's source and an open request's id name nobody; an ambiguity's
                # message lists people, so only its kind is kept.
                note=None
                if m.state is MemberState.PROPOSED
                else m.state.value + (f": {m.note}" if m.note and m.state in _NOTED else ""),
                subject_key=m.subject_key,
                since=m.since,
            )
            for m in sweep.members
        ]
        batches = self.store.batches
        for _ in range(5):
            try:
                batch = batches.create(
                    requester=actor.user_id,
                    roles=actor.role_names,
                    rules=[o.rule.name for o in sweep.rules],
                    members=members,
                    expires_at=self.store.clock()
                    + timedelta(hours=self.policy.approval_expires_hours),
                )
                break
            except AlreadyProposed as exc:  # a sweep at the same time proposed them first
                members = [_batched(m, exc.taken) for m in members]
                if not any(m.place is Place.PROPOSED for m in members):
                    return None
        else:  # pragma: no cover - five sweeps racing for the same people
            raise RequestStateError("Other sweeps are proposing these people; try again.")
        posted = self.notifier.batch_requested(self.summary(batch))
        batches.posted(batch.id, posted)
        batch = batches.get(batch.id)
        if posted is not None:
            batches.file_listed(
                batch.id, self.notifier.batch_list(batch, batches.members(batch.id))
            )
        return batch

    # -- decide -------------------------------------------------------------------

    def approve(self, batch_id: str, *, actor: Actor) -> Batch:
        batch = self._own_refused(batch_id, actor, "approve")
        self._unexpired(batch)
        people = batch.count(Place.PROPOSED)
        moved = self.store.batches.move(
            batch_id, {BatchStatus.AWAITING_APPROVAL}, BatchStatus.RUNNING,
            actor=actor.user_id, roles=actor.role_names, action="batch_approved",
            detail={"people": people}, decided_by=actor.user_id,
            decided_at=self.store.clock(), unexpired=True,
        )  # fmt: skip
        if not moved:
            self._unexpired(self.store.batches.get(batch_id))  # ran out just now
            raise self._moved_on(batch_id)
        self.refresh(batch_id, force=True)
        self.execute(batch_id)
        return self.store.batches.get(batch_id)

    def reject(self, batch_id: str, *, actor: Actor, note: str) -> Batch:
        self._own_refused(batch_id, actor, "reject")
        moved = self.store.batches.move(
            batch_id, {BatchStatus.AWAITING_APPROVAL}, BatchStatus.REJECTED,
            actor=actor.user_id, roles=actor.role_names, action="batch_rejected",
            detail={"note_length": len(note)}, decided_by=actor.user_id,
            decided_at=self.store.clock(),
        )  # fmt: skip
        if not moved:
            raise self._moved_on(batch_id)
        self._ended(batch_id)
        return self.store.batches.get(batch_id)

    def drop(self, batch_id: str, seqs: Sequence[int], *, actor: Actor) -> list[int]:
        """Take people (by their number in the list) out before approving."""
        batch = self._own_refused(batch_id, actor, "change")
        if batch.status is not BatchStatus.AWAITING_APPROVAL:
            raise RequestStateError(
                f"{batch_id} is {_said(batch.status)}: people can be dropped only before it"
                " is approved."
            )
        dropped = self.store.batches.drop(
            batch_id, seqs, actor=actor.user_id, roles=actor.role_names
        )
        if not dropped:
            raise UsageError(f"{batch_id} proposes nobody with those numbers.", DROP_USAGE)
        self.refresh(batch_id, force=True)
        return dropped

    def pause(self, batch_id: str, *, actor: Actor) -> Batch:
        """No new erasure starts; those running finish their step."""
        return self._switch(batch_id, actor, BatchStatus.RUNNING, BatchStatus.PAUSED, "paused")

    def resume(self, batch_id: str, *, actor: Actor) -> Batch:
        batch = self._switch(batch_id, actor, BatchStatus.PAUSED, BatchStatus.RUNNING, "resumed")
        self.execute(batch_id)
        return batch

    def retry(self, batch_id: str, *, actor: Actor) -> tuple[int, int]:
        """Retry every failed erasure of the batch: (retried, refused)."""
        self.store.batches.get(batch_id)
        failed = self.store.of_batch(batch_id, [Status.FAILED])
        if not failed:
            raise RequestStateError(f"No erasure of {batch_id} has failed.")
        retried = refused = 0
        for request_id in failed:
            try:
                self.retry_request(request_id, actor)
                retried += 1
            except MimbotError:  # your own, or it moved on: the others still go
                refused += 1
        if not retried and refused:
            raise NotAllowed("You ran this sweep; another approver must retry its erasures.")
        self.refresh(batch_id, force=True)
        return retried, refused

    def expire_stale(self) -> list[str]:
        expired = []
        for batch_id in self.store.batches.awaiting_past(self.store.clock()):
            if self.store.batches.move(
                batch_id, {BatchStatus.AWAITING_APPROVAL}, BatchStatus.EXPIRED,
                actor="system", roles=["system"], action="batch_expired",
            ):  # fmt: skip
                expired.append(batch_id)
                self._ended(batch_id)
        return expired

    # -- progress -----------------------------------------------------------------

    def member_finished(self, request: Request) -> None:
        """One of the batch's erasures ended (or failed): the batch may be done; the
        summary is redrawn at most every `summary_every`."""
        if request.batch_id is not None:
            self.settle(request.batch_id)

    def settle(self, batch_id: str, *, redraw: bool = False) -> bool:
        """Done once nobody is left to start and no erasure runs; redraw (throttled, or
        at once when it ended, or when `redraw` and it had not ended before). True when
        this call ended it."""
        batch = self.store.batches.get(batch_id)
        progress = self._progress(batch)
        ended = False
        # A batch paused with nobody left to start ends too: its names must not stay.
        live = (BatchStatus.RUNNING, BatchStatus.PAUSED)
        if batch.status in live and not progress.pending and not progress.running:
            ended = self.store.batches.move(
                batch_id, set(live), BatchStatus.DONE, actor="system",
                roles=["system"], action="batch_done",
                detail={"erased": progress.erased, "failed": progress.failed,
                        "not_started": batch.count(Place.NOT_STARTED)},
            )  # fmt: skip
        if ended:
            self._ended(batch_id)
        else:
            self.refresh(batch_id, force=redraw and batch.status not in ENDED)
        return ended

    def _ended(self, batch_id: str) -> None:
        """The batch ended: its file of names goes, and its message is redrawn."""
        self.forget_file(batch_id)
        self.refresh(batch_id, force=True)

    def forget_file(self, batch_id: str) -> None:
        """An ended batch's file of names is deleted from Slack (the worker's round tries
        again if Slack refused)."""
        file_id = self.store.batches.file_of(batch_id)
        batch = self.store.batches.get(batch_id)
        if file_id and batch.status in ENDED and self.notifier.batch_list_removed(batch, file_id):
            self.store.batches.file_listed(batch_id, None)

    def refresh(self, batch_id: str, *, force: bool = False) -> bool:
        """Redraw the batch's message: at once when `force`, else at most every
        `summary_every` whichever replica asks. True when it was sent."""
        due = self.store.batches.summary_due(batch_id, self.summary_every)
        if not (force or due):
            return False
        with self._drawing:  # one redraw at a time here: a stale one never lands last
            summary = self.summary(self.store.batches.get(batch_id))
            sent = self.notifier.batch_updated(summary)
            if (
                sent
                and summary.batch.status not in ENDED
                and (self.store.batches.status(batch_id) in ENDED)
            ):  # it ended while this was drawn (on another replica): draw the end again
                sent = self.notifier.batch_updated(self.summary(self.store.batches.get(batch_id)))
        if not sent:
            self.store.batches.summary_missed(batch_id)  # the worker's round redraws it
        return sent

    def thread(self, batch_id: str) -> tuple[str, str] | None:
        """Where the batch's message is, for its erasures' manual steps."""
        batch = self.store.batches.get(batch_id)
        return (batch.channel, batch.message_ts) if batch.channel and batch.message_ts else None

    def summary(self, batch: Batch) -> BatchSummary:
        b = self.store.batches
        shown = b.members(batch.id, [Place.PROPOSED, Place.STARTED], limit=SHOWN)
        kept = b.members(batch.id, [Place.KEPT_OUT, Place.DROPPED, Place.NOT_STARTED], limit=SHOWN)
        progress = None
        failed: list[tuple[str, str | None]] = []
        if batch.status not in (BatchStatus.AWAITING_APPROVAL, BatchStatus.REJECTED,
                                BatchStatus.EXPIRED):  # fmt: skip
            failed_ids = self.store.of_batch(batch.id, [Status.FAILED])[:SHOWN]
            labels = b.labels(failed_ids)
            failed = [(i, labels.get(i)) for i in failed_ids]
            progress = self._progress(batch)
        return BatchSummary(
            batch=batch,
            shown=tuple(shown),
            kept_out=tuple(kept),
            failed=tuple(failed),
            progress=progress,
            systems=tuple(_does(c) for c in self.connectors),
        )

    # -- parts --------------------------------------------------------------------

    def _progress(self, batch: Batch) -> Progress:
        """The batch's erasures by status, and an ETA: the rest at the rate so far (people
        finished, erased, failed or not started, per second since the approval)."""
        statuses = self.store.batch_statuses(batch.id)
        counted = Progress(statuses, batch.count(Place.PROPOSED), None)
        finished = counted.erased + counted.failed + batch.count(Place.NOT_STARTED)
        left = counted.pending + counted.running
        if batch.started_at is None or not finished or not left:
            return counted
        elapsed = self.store.clock() - batch.started_at
        return replace(counted, eta=elapsed / finished * left)

    def _own_refused(self, batch_id: str, actor: Actor, what: str) -> Batch:
        batch = self.store.batches.get(batch_id)
        if self.policy.four_eyes and actor.user_id == batch.requester:
            raise NotAllowed(f"You ran this sweep; another approver must {what} its batch.")
        return batch

    def _unexpired(self, batch: Batch) -> None:
        if batch.status is BatchStatus.AWAITING_APPROVAL and batch.expires_at <= self.store.clock():
            self.expire_stale()
            raise RequestStateError(f"{batch.id} expired before it was decided.")

    def _moved_on(self, batch_id: str) -> RequestStateError:
        batch = self.store.batches.get(batch_id)
        by = f" by {batch.decided_by}" if batch.decided_by else ""
        return RequestStateError(f"{batch_id} was {_said(batch.status)}{by} already.")

    def _switch(
        self, batch_id: str, actor: Actor, from_: BatchStatus, to: BatchStatus, verb: str
    ) -> Batch:
        batch = self.store.batches.get(batch_id)
        if not self.store.batches.move(
            batch_id, {from_}, to, actor=actor.user_id, roles=actor.role_names,
            action=f"batch_{verb}",
        ):  # fmt: skip
            raise RequestStateError(
                f"{batch_id} is {_said(batch.status)}: only a {_said(from_)} batch can be {verb}."
            )
        self.refresh(batch_id, force=True)
        return self.store.batches.get(batch_id)


_NOTED = frozenset({MemberState.HELD, MemberState.OPEN, MemberState.BATCHED})


def _batched(member: NewMember, taken: dict[str, str]) -> NewMember:
    """A proposed member another batch took meanwhile, kept out and said why."""
    batch = taken.get(member.subject_key or "")
    if member.place is not Place.PROPOSED or batch is None:
        return member
    note = f"{MemberState.BATCHED.value}: {batch}"
    return replace(member, place=Place.KEPT_OUT, note=note)


def _said(status: BatchStatus) -> str:
    return status.value.replace("_", " ")


def _does(connector: Connector) -> tuple[str, str]:
    """What the batch does to each person in a system (the plan is made per person)."""
    caps = connector.capabilities
    if Capability.DELETE in caps:
        return connector.label, "erased where found, then checked gone"
    if Capability.VERIFY in caps:
        return connector.label, "checked for what is left"
    return connector.label, "erased by hand where found (a step in this thread)"
