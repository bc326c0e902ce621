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
from collections.abc import Callable
from typing import Any, TypeVar

from bot.audit import AuditLog
from bot.audit.records import AuditOutcome
from bot.errors import AuditUnavailable
from bot.logs import log_failure
from bot.workflow.events import Event, Reminded
from bot.workflow.notifications.digest import Digest
from bot.workflow.notifications.notify import MessageRef, Notifier
from bot.workflow.requests import Request, Step

__all__ = ["AuditedNotifier"]

log = logging.getLogger(__name__)
T = TypeVar("T")
ACTOR = "notifier"


class AuditedNotifier:
    """A `Notifier` that audits each message and never raises."""

    def __init__(self, inner: Notifier, audit: AuditLog) -> None:
        self.inner = inner
        self.audit = audit

    def approval_requested(self, request: Request) -> MessageRef | None:
        """The message's reference, or None when it was not posted (no channel, or failed)."""
        ok, ref = self._send("approval_requested", request, self.inner.approval_requested)
        return ref if ok else None

    def request_updated(self, request: Request) -> bool:
        return self._send("request_updated", request, self.inner.request_updated)[0]

    def event(self, request: Request, event: Event) -> bool:
        """A reply in the request's thread about `event` (audited as "thread")."""
        return self._send("thread", request, lambda r: self.inner.event(r, event))[0]

    def manual_step(self, request: Request, step: Step) -> bool:
        return self._send("manual_step", request, lambda r: self.inner.manual_step(r, step))[0]

    def finished(self, request: Request) -> bool:
        return self._send("finished", request, self.inner.finished)[0]

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
        result: Any = None
        try:
            result = call(request)
        except Exception as exc:  # noqa: BLE001 - boundary: a message must not undo the work
            log_failure(log, "notification %s for %s failed", exc, what, request.id)
            self._record(what, request, ok=False)
            return False, result
        self._record(what, request, ok=True)
        return True, result

    def _record(self, what: str, request: Request, *, ok: bool) -> None:
        try:
            self.audit.record(
                actor=ACTOR,
                roles=["system"],
                action="notify",
                outcome=AuditOutcome.OK if ok else AuditOutcome.FAILED,
                request_id=request.id,
                subject_key=request.subject_keys[0] if request.subject_keys else None,
                detail={"what": what, "status": request.status.value},
            )
        except AuditUnavailable:
            # The message is out (or not) either way; the store's own failure is logged.
            log.error("notification %s for %s could not be audited", what, request.id)
