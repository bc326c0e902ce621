"""The deadline clock: GDPR gives one calendar month (Art. 12(3)), so every open request
is watched against its due date.

Reminders go to the requester (and to the request's thread, where it has one) 7 and 2 days
before the due date and on the day it becomes overdue: once each, across replicas and
restarts (`bot/workflow/store/reminders.py`). A reminder whose time passed while the bot was down
is not sent late: only the most urgent one due is, and those before it are recorded as
passed over. Once a day the notifications channel gets a digest of the overdue and
nearly due requests (ids, kinds and days only: no personal data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.audit import AuditLog
from bot.workflow.events import Reminded
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.notifications.digest import Digest
from bot.workflow.requests import OPEN, ReminderKind, Request
from bot.workflow.store import RequestStore

__all__ = ["REMINDERS", "DeadlineClock", "by_urgency", "days_left"]

# (kind, days before the due date), least urgent first.
REMINDERS: tuple[tuple[ReminderKind, int], ...] = (
    (ReminderKind.WEEK, 7),
    (ReminderKind.TWO_DAYS, 2),
    (ReminderKind.OVERDUE, 0),
)
DUE_SOON_DAYS = 7


def days_left(request: Request, now: datetime) -> int:
    """Whole days until the due date, rounded up; once it has passed, minus the days
    (begun) since: -1 from the first minute overdue."""
    days = (request.due_at - now) / timedelta(days=1)
    return math.ceil(days) if days > 0 else -max(1, math.ceil(-days))


def by_urgency(requests: Sequence[Request], now: datetime) -> list[Request]:
    """Overdue open requests first (most overdue first), then the rest as given."""
    overdue = sorted(
        (r for r in requests if r.status in OPEN and r.due_at <= now), key=lambda r: r.due_at
    )
    return overdue + [r for r in requests if r not in overdue]


@dataclass
class DeadlineClock:
    store: RequestStore
    notifier: AuditedNotifier
    audit: AuditLog
    clock: Callable[[], datetime]
    digest_hour: int = 7  # UTC: the digest goes out at the first tick after this hour

    def tick(self) -> list[tuple[str, str]]:
        """Send what is due now; return (request id, reminder kind) for each sent."""
        now = self.clock()
        requests = self.store.many(self.store.ids(statuses=OPEN, limit=1000))
        sent = []
        for request in requests:
            kind = self._remind(request, now)
            if kind:
                sent.append((request.id, kind))
        if now.hour >= self.digest_hour and self.store.reminders.claim_digest(now.date()):
            self._digest(requests, now)
        return sent

    def _remind(self, request: Request, now: datetime) -> str | None:
        due = [kind for kind, days in REMINDERS if now >= request.due_at - timedelta(days=days)]
        if not due:
            return None
        *passed, latest = due
        # Keyed by the due date too: an extension starts the reminders again.
        key = _keys(request)
        already = self.store.reminders.sent(request.id)
        if key[latest] in already:
            return None
        for kind in passed:  # too late to be useful: recorded, never sent
            if key[kind] not in already:
                self.store.reminders.claim(request.id, key[kind], None)
        event = Reminded(
            actor="deadline-clock",
            request_id=request.id,
            kind=latest,
            due_at=request.due_at,
            days_left=days_left(request, now),
        )
        if not self.store.reminders.claim(request.id, key[latest], event):
            return None  # another replica sent it
        if not self.notifier.reminder(request, event):
            # Not delivered (Slack down): released, so the next tick tries again.
            self.store.reminders.release(request.id, key[latest])
            return None
        return latest

    def _digest(self, requests: Sequence[Request], now: datetime) -> None:
        overdue = tuple(r for r in by_urgency(requests, now) if r.due_at <= now)
        soon = tuple(
            sorted(
                (r for r in requests if now < r.due_at <= now + timedelta(days=DUE_SOON_DAYS)),
                key=lambda r: r.due_at,
            )
        )
        if overdue or soon:  # a quiet day sends nothing
            self.notifier.digest(Digest(now, overdue, soon))


def _keys(request: Request) -> dict[str, str]:
    """Each reminder's claim for this due date, e.g. `2d:20270101` (at most 16 characters)."""
    return {kind: f"{kind}:{request.due_at:%Y%m%d}" for kind, _ in REMINDERS}
