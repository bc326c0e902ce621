"""The deadline clock: reminders 7 and 2 days before the due date and on the day it is
overdue, once each across restarts and replicas; a daily digest; overdue first in lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.audit import AuditLog
from bot.render.deadlines import digest_message, reminder_message
from bot.render.requests import request_list
from bot.workflow.deadlines import DeadlineClock, by_urgency, days_left
from bot.workflow.events import Reminded
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.notifications.digest import Digest
from bot.workflow.requests import Request
from bot.workflow.store import RequestStore
from connectors.memory import MemoryConnector
from tests.support.clock import Clock
from tests.support.keys import CHAIN_KEY
from tests.workflow.test_erasure import (
    APPROVER,
    JDOE,
    REQUESTER,
    Recorder,
    jane,
    make_world,
    query,
    someone,
)


@dataclass
class Told(Recorder):
    reminders: list[tuple[str, str, int]] = field(default_factory=list)
    digests: list[Digest] = field(default_factory=list)

    def reminder(self, request: Request, event: Reminded) -> None:
        self.reminders.append((request.id, event.kind, event.days_left))

    def digest(self, digest: Digest) -> None:
        self.digests.append(digest)


def clock_for(engine, clock: Clock) -> tuple[DeadlineClock, Told]:
    """A deadline clock of its own (as a restarted process or another replica has)."""
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    told = Told()
    store = RequestStore(engine, clock=clock, audit=audit)
    return DeadlineClock(store, AuditedNotifier(told, audit), audit, clock=clock), told


def test_each_reminder_goes_once_at_its_time(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    deadlines, told = clock_for(engine, clock)
    assert deadlines.tick() == []  # a month to go
    clock.now = request.due_at - timedelta(days=7)
    assert deadlines.tick() == [(request.id, "7d")]
    assert deadlines.tick() == []  # once
    clock.now = request.due_at - timedelta(days=2) + timedelta(hours=1)
    assert deadlines.tick() == [(request.id, "2d")]
    clock.now = request.due_at + timedelta(minutes=1)
    assert deadlines.tick() == [(request.id, "overdue")]
    assert told.reminders == [
        (request.id, "7d", 7),
        (request.id, "2d", 2),
        (request.id, "overdue", -1),
    ]
    events = [e for e in w.audit.events() if e.action == "reminder"]
    assert [e.detail["kind"] for e in events] == ["7d", "2d", "overdue"]
    assert all(e.request_id == request.id for e in events)


def test_a_restart_or_a_second_replica_sends_nothing_twice(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    clock.now = request.due_at - timedelta(days=6)
    first, told_first = clock_for(engine, clock)
    second, told_second = clock_for(engine, clock)  # another replica, or after a restart
    assert first.tick() == [(request.id, "7d")]
    assert second.tick() == []
    assert told_second.reminders == [] and len(told_first.reminders) == 1


def test_reminders_missed_while_down_are_not_sent_late(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    deadlines, told = clock_for(engine, clock)
    clock.now = request.due_at + timedelta(days=3)  # the bot was down for weeks
    assert deadlines.tick() == [(request.id, "overdue")]
    assert told.reminders == [(request.id, "overdue", -3)]
    day = f"{request.due_at:%Y%m%d}"
    assert deadlines.store.reminders.sent(request.id) == {
        f"{k}:{day}" for k in ("7d", "2d", "overdue")
    }
    assert deadlines.tick() == []


def test_a_finished_request_is_not_reminded(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    w.decisions.approve(request.id, actor=APPROVER)
    assert w.store.get(request.id).status.value == "completed"
    deadlines, told = clock_for(engine, clock)
    clock.now = request.due_at + timedelta(days=1)
    assert deadlines.tick() == [] and told.reminders == [] and told.digests == []


def test_the_digest_goes_once_a_day_overdue_first_without_names(engine):
    clock = Clock()
    people = [someone(n) for n in (1, 2, 3)]
    w = make_world(engine, MemoryConnector("ad", "AD", people), clock=clock)
    late = w.erasure.request(query(1), actor=REQUESTER, reason=None)
    clock.now += timedelta(days=5)
    soon = w.erasure.request(query(2), actor=REQUESTER, reason=None)
    clock.now += timedelta(days=15)
    later = w.erasure.request(query(3), actor=REQUESTER, reason=None)
    clock.now = late.due_at + timedelta(hours=1)  # 11:00 UTC: after the digest hour
    deadlines, told = clock_for(engine, clock)
    deadlines.tick()
    deadlines.tick()
    (digest,) = told.digests
    assert [r.id for r in digest.overdue] == [late.id]
    assert [r.id for r in digest.due_soon] == [soon.id]
    assert later.id not in {r.id for r in digest.due_soon}
    text = str(digest_message(digest).blocks)
    assert late.id in text and "overdue by" in text and "Person 1" not in text
    clock.now += timedelta(days=1)
    deadlines.tick()
    assert len(told.digests) == 2  # the next day's


def test_requests_list_the_overdue_first(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [someone(1), someone(2)]), clock=clock)
    old = w.erasure.request(query(1), actor=REQUESTER, reason=None)
    clock.now += timedelta(days=40)
    new = w.erasure.request(query(2), actor=REQUESTER, reason=None)
    listed = [w.store.get(i) for i in w.store.ids()]  # newest first
    assert [r.id for r in listed] == [new.id, old.id]
    urgent = by_urgency(listed, clock.now)
    assert [r.id for r in urgent] == [old.id, new.id]
    text = request_list(urgent, "open", clock.now).text
    assert text.index(old.id) < text.index(new.id)
    assert f"overdue by {-days_left(old, clock.now)} day(s)" in text


def test_reminder_texts_name_no_one(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    for kind, days in (("7d", 7), ("overdue", -1)):
        event = Reminded(actor="deadline-clock", kind=kind, due_at=request.due_at, days_left=days)
        text = str(reminder_message(request, event).blocks)
        assert request.id in text and "Jane" not in text and "jdoe" not in text
        assert ("overdue" in text) is (kind == "overdue")


def test_an_extension_starts_the_reminders_again(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    deadlines, told = clock_for(engine, clock)
    clock.now = request.due_at - timedelta(days=6)
    assert deadlines.tick() == [(request.id, "7d")]
    extended = w.decisions.extend(request.id, actor=APPROVER, note="complex estate")
    assert extended.due_at > request.due_at
    clock.now = extended.due_at - timedelta(days=6)
    assert deadlines.tick() == [(request.id, "7d")]  # for the new due date
    assert [kind for _, kind, _ in told.reminders] == ["7d", "7d"]


@dataclass
class Flaky(Told):
    down: bool = True

    def reminder(self, request: Request, event: Reminded) -> None:
        if self.down:
            raise ConnectionError("slack down")
        super().reminder(request, event)


def test_a_reminder_that_did_not_go_out_is_tried_again(engine):
    clock = Clock()
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]), clock=clock)
    request = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    flaky = Flaky()
    store = RequestStore(engine, clock=clock, audit=audit)
    deadlines = DeadlineClock(store, AuditedNotifier(flaky, audit), audit, clock=clock)
    clock.now = request.due_at - timedelta(days=6)
    assert deadlines.tick() == []  # Slack down: not sent, not marked sent
    flaky.down = False
    assert deadlines.tick() == [(request.id, "7d")]
    assert flaky.reminders == [(request.id, "7d", 6)]
