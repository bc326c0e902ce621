"""Every notification audited, and none able to undo the work it reports.

The workflow tells people through this wrapper around the front end's Notifier:
each message is recorded as a `notify` event (what, delivered or not), and a
failure (Slack down, the bot not in the channel) is logged by class and
swallowed, because by then the change it reports is committed: telling the
user "nothing was changed" would be false. Methods return whether the message
went out, so callers can try again later (a manual step's announcement).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from bot.audit import AuditLog
from bot.audit.records import AuditOutcome
from bot.errors import AuditUnavailable
from bot.logs import log_failure
from bot.workflow.batch.model import Batch, BatchMember, BatchSummary
from bot.workflow.events import Event, Reminded
from bot.workflow.notifications.digest import Digest
from bot.workflow.notifications.notify import MessageRef, Notifier
from bot.workflow.requests import Request, Step

__all__ = ["AuditedNotifier"]

log = logging.getLogger(__name__)
T = TypeVar("T")
ACTOR = "notifier"


class AuditedNotifier:
    """A `Notifier` that audits each message and never raises.

    A retention batch's erasures have no message of their own: their redraws and thread
    replies are not sent, their end goes to `member_finished` (the batch's summary), and
    a manual step is asked for in the batch's thread (`batch_thread`)."""

    def __init__(self, inner: Notifier, audit: AuditLog) -> None:
        self.inner = inner
        self.audit = audit
        self.member_finished: Callable[[Request], object] | None = None
        self.batch_thread: Callable[[str], MessageRef | None] | None = None

    def approval_requested(self, request: Request) -> MessageRef | None:
        """The message's reference, or None when it was not posted (no channel, or failed)."""
        ok, ref = self._send("approval_requested", request, self.inner.approval_requested)
        return ref if ok else None

    def request_updated(self, request: Request) -> bool:
        if request.batch_id is not None:
            return False  # a batch's erasure has no message to redraw
        return self._send("request_updated", request, self.inner.request_updated)[0]

    def event(self, request: Request, event: Event) -> bool:
        """A reply in the request's thread about `event` (audited as "thread")."""
        if request.batch_id is not None:
            return False  # no thread of its own; the audit chain has the event
        return self._send("thread", request, lambda r: self.inner.event(r, event))[0]

    def manual_step(self, request: Request, step: Step) -> bool:
        if request.batch_id is not None:
            try:
                where = self.batch_thread(request.batch_id) if self.batch_thread else None
            except Exception as exc:  # noqa: BLE001 - boundary: a message must not undo work
                log_failure(log, "the thread of %s could not be read", exc, request.batch_id)
                where = None
            if where is None:
                return False  # announced once the batch's message is out
            request = replace(request, channel=where[0], message_ts=where[1])
        return self._send("manual_step", request, lambda r: self.inner.manual_step(r, step))[0]

    def finished(self, request: Request) -> bool:
        if request.batch_id is not None:
            # One summary per batch, not a DM and a channel post per person.
            if self.member_finished is not None:
                try:
                    self.member_finished(request)
                except Exception as exc:  # noqa: BLE001 - a message must not undo the work
                    log_failure(log, "the summary of %s failed", exc, request.batch_id)
            return True
        return self._send("finished", request, self.inner.finished)[0]

    def batch_requested(self, summary: BatchSummary) -> MessageRef | None:
        ok, ref = self._send_batch(
            "batch_requested", summary.batch, lambda: self.inner.batch_requested(summary)
        )
        return ref if ok else None

    def batch_updated(self, summary: BatchSummary) -> bool:
        return self._send_batch(
            "batch_updated", summary.batch, lambda: self.inner.batch_updated(summary)
        )[0]

    def batch_list(self, batch: Batch, members: Sequence[BatchMember]) -> str | None:
        """The file's id, or None when it was not posted."""
        ok, file_id = self._send_batch(
            "batch_list", batch, lambda: self.inner.batch_list(batch, members)
        )
        return file_id if ok else None

    def batch_list_removed(self, batch: Batch, file_id: str) -> bool:
        return self._send_batch(
            "batch_list_removed", batch, lambda: self.inner.batch_list_removed(batch, file_id)
        )[0]

    def reminder(self, request: Request, event: Reminded) -> bool:
        return self._send("reminder", request, lambda r: self.inner.reminder(r, event))[0]

    def digest(self, digest: Digest) -> bool:
        """The daily digest (audited as a `notify` of what = digest, with its counts)."""
        ok = True
        try:
            self.inner.digest(digest)
        except Exception as exc:  # noqa: BLE001 - boundary: a message must not undo the work
            log_failure(log, "the daily digest failed", exc)
            ok = False
        try:
            self.audit.record(
                actor=ACTOR,
                roles=["system"],
                action="notify",
                outcome=AuditOutcome.OK if ok else AuditOutcome.FAILED,
                detail={
                    "what": "digest",
                    "overdue": len(digest.overdue),
                    "due_soon": len(digest.due_soon),
                },
            )
        except AuditUnavailable:
            log.error("the daily digest could not be audited")
        return ok

    def _send(self, what: str, request: Request, call: Callable[[Request], T]) -> tuple[bool, T]:
        key = request.subject_keys[0] if request.subject_keys else None
        return self._deliver(what, request.id, key, request.status.value, lambda: call(request))

    def _send_batch(self, what: str, batch: Batch, call: Callable[[], T]) -> tuple[bool, T]:
        return self._deliver(what, batch.id, None, batch.status.value, call)

    def _deliver(
        self, what: str, about: str, subject_key: str | None, status: str, call: Callable[[], T]
    ) -> tuple[bool, T]:
        """Send, and audit it as a `notify` of `what` about a request or a batch."""
        result: Any = None
        ok = True
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - boundary: a message must not undo the work
            log_failure(log, "notification %s for %s failed", exc, what, about)
            ok = False
        try:
            self.audit.record(
                actor=ACTOR,
                roles=["system"],
                action="notify",
                outcome=AuditOutcome.OK if ok else AuditOutcome.FAILED,
                request_id=about,
                subject_key=subject_key,
                detail={"what": what, "status": status},
            )
        except AuditUnavailable:
            # The message is out (or not) either way; the store's own failure is logged.
            log.error("notification %s for %s could not be audited", what, about)
        return ok, result
