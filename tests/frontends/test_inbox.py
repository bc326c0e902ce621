"""The inbox's promises (bot/frontends/inbox.py, answering.py), on SQLite and the real
PostgreSQL: one claim wins, a lapsed lease is taken over, concurrent takers never share
an entry, an answered entry is gone, and a command past its response_url's life is
apologised for by DM, not run."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.audit.schema import audit_events
from bot.config import parse_config
from bot.frontends.answering import MAX_ATTEMPTS, Answering
from bot.frontends.inbox import EntryKind, Inbox, New
from bot.frontends.slack_app import slack_client
from bot.frontends.slack_notifier import SlackNotifier
from bot.services import build_services
from bot.workflow.schema import handled_triggers, inbox
from connectors.base import IdKind
from connectors.memory import MemoryConnector, Person
from tests.support.clock import Clock
from tests.support.slack_stub import MockSlack
from tests.support.waiting import wait_until


def command(i: int, trigger: str | None = None) -> New:
    return New(EntryKind.COMMAND, "UVIEW", f"find user p{i}", f"https://r/{i}", trigger)


def rows(engine: sa.Engine, table: sa.Table = inbox) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def test_a_replayed_trigger_gets_no_entry_and_costs_the_others_none(engine):
    box = Inbox(engine)
    first = box.put_many([command(1, "T1"), command(2, "T2")])
    again = box.put_many([command(3, "T3"), command(1, "T1"), command(4, None)])
    assert None not in first and again[1] is None and again[0] and again[2]
    assert sorted(r.text for r in rows(engine)) == [f"find user p{i}" for i in (1, 2, 3, 4)]
    assert {r.trigger_id for r in rows(engine, handled_triggers)} == {"T1", "T2", "T3"}


def test_one_claim_wins_and_a_lapsed_lease_is_taken_over(engine):
    clock = Clock()
    box = Inbox(engine, clock=clock, lease=timedelta(seconds=30))
    (entry_id,) = box.put_many([command(1)])
    first = box.claim(entry_id, "a")
    assert first is not None and first.attempts == 1
    assert box.claim(entry_id, "b") is None
    assert box.take_owed("b", limit=10, unclaimed=timedelta(0)) == []
    clock.now += timedelta(seconds=31)
    (taken,) = box.take_owed("b", limit=10, unclaimed=timedelta(0))
    assert (taken.id, taken.attempts, taken.text) == (entry_id, 2, "find user p1")
    box.done(entry_id)
    assert rows(engine) == [] and box.claim(entry_id, "c") is None


def test_an_unclaimed_entry_is_owed_only_after_the_grace(engine):
    clock = Clock()
    box = Inbox(engine, clock=clock)
    box.put_many([command(1)])
    assert box.take_owed("w", limit=10, unclaimed=timedelta(seconds=5)) == []
    clock.now += timedelta(seconds=6)
    assert len(box.take_owed("w", limit=10, unclaimed=timedelta(seconds=5))) == 1


def test_concurrent_takers_never_share_an_entry(engine):
    box = Inbox(engine)
    ids = [i for i in box.put_many([command(i) for i in range(120)]) if i]
    taken: dict[str, list[str]] = {}
    errors: list[Exception] = []
    start = threading.Barrier(6)

    def taker(name: str) -> None:
        start.wait()
        mine = taken.setdefault(name, [])
        try:
            while batch := box.take_owed(name, limit=7, unclaimed=timedelta(0)):
                mine += [e.id for e in batch]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=taker, args=(f"t{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    everyone = [i for mine in taken.values() for i in mine]
    assert sorted(everyone) == sorted(ids)  # each taken, none twice
    assert sum(1 for mine in taken.values() if mine) > 1  # they really ran at once


@pytest.fixture
def answering(engine, tmp_path):
    stub = MockSlack().start()
    env = {"BOT": "xoxb-t", "SIGN": "s", "KEY": "k" * 32, "CHAIN": "c" * 40}
    config = parse_config(
        {
            "slack": {"bot_token": "${BOT}", "signing_secret": "${SIGN}", "api_url": stub.api_url},
            "roles": {"viewer": {"users": ["UVIEW"]}},
            "search": {"timeout_seconds": 10},  # a slow directory is waited for
            "audit": {"url": str(engine.url.render_as_string(hide_password=False)),
                      "subject_key": "${KEY}", "chain_key": "${CHAIN}"},
        },
        environ=env,
    )  # fmt: skip
    client = slack_client(config)
    people = [Person("g1", {IdKind.ACCOUNT: "p1", IdKind.DISPLAY_NAME: "Person 1"})]
    services = build_services(
        config,
        connectors=[MemoryConnector("ad", "AD", people)],
        notifier=SlackNotifier(client, approvals_channel=None, notifications_channel=None),
    )
    clock = Clock()
    box = Inbox(services.engine, clock=clock)
    yield Answering(services, client, inbox=box, clock=clock), stub
    services.close()
    stub.stop()


def finds(answering: Answering) -> list[sa.Row]:
    with answering.services.engine.connect() as conn:
        query = sa.select(audit_events).where(
            audit_events.c.action.in_(["find", "command_unanswered"])
        )
        return list(conn.execute(query))


def test_an_entry_is_answered_through_its_response_url_then_forgotten(answering):
    answering, stub = answering
    assert answering.inbox is not None
    (entry_id,) = answering.inbox.put_many(
        [New(EntryKind.COMMAND, "UVIEW", "find user p1", stub.response_url("a1"), "T1")]
    )
    answering.claimed(entry_id)
    (answer,) = stub.wait_for("/response_url/a1")
    assert "Person 1" in str(answer.body) and answer.body["response_type"] == "ephemeral"
    assert answering.inbox.pending() == 0
    assert [r.action for r in finds(answering)] == ["find"]


@pytest.mark.parametrize("why", ["its response_url expired", "it failed too often"])
def test_a_command_that_cannot_be_answered_is_apologised_for_by_dm_and_not_run(answering, why):
    answering, stub = answering
    box = answering.inbox
    assert box is not None
    (entry_id,) = box.put_many(
        [New(EntryKind.COMMAND, "UVIEW", "find user p1", stub.response_url("late"), None)]
    )
    if why == "its response_url expired":
        answering.clock.now += timedelta(minutes=28)  # type: ignore[attr-defined]
        entry = box.claim(entry_id, "me")
    else:
        for _ in range(MAX_ATTEMPTS):
            assert box.claim(entry_id, f"w{_}") is not None
            box.clock.now += box.lease + timedelta(seconds=1)  # type: ignore[attr-defined]
        entry = box.claim(entry_id, "last")
    assert entry is not None
    answering.answer(entry)
    (dm,) = stub.wait_for("chat.postMessage")
    assert "find" in dm.body["text"] and "run it again" in dm.body["text"]
    assert "p1" not in dm.body["text"]  # the verb only, never what was sought
    assert stub.calls("/response_url/late") == []
    assert [r.action for r in finds(answering)] == ["command_unanswered"]
    assert box.pending() == 0


def test_a_burst_of_acks_holds_the_answerers_back_for_at_most_a_while(engine):
    clock = Clock()
    box = Inbox(engine, clock=clock)
    rule = {"burst": 10, "within": timedelta(milliseconds=200), "at_most": timedelta(seconds=1)}
    assert not box.arriving(**rule)  # nothing waits
    for _ in range(9):  # a steady trickle is answered at once
        clock.now += timedelta(milliseconds=20)
        box.put_many([command(1)])
    assert not box.arriving(**rule)
    box.put_many([command(2)])  # the tenth within 200 ms: a burst
    assert box.arriving(**rule)
    clock.now += timedelta(milliseconds=250)
    assert not box.arriving(**rule)  # it is over: answer now
    for _ in range(30):  # a burst that goes on and on
        clock.now += timedelta(milliseconds=40)
        box.put_many([command(3) for _ in range(5)])
    assert not box.arriving(**rule)  # the first has waited over a second


def test_an_answer_slack_refuses_is_not_a_reason_to_run_the_command_again(answering):
    answering, stub = answering
    box = answering.inbox
    assert box is not None
    stub.fail("/response_url/refused", status=500, times=5)
    (entry_id,) = box.put_many(
        [New(EntryKind.COMMAND, "UVIEW", "find user p1", stub.response_url("refused"), None)]
    )
    answering.claimed(entry_id)
    assert stub.calls("/response_url/refused")  # it was tried
    assert box.pending() == 0  # and the command is not run a second time
    assert [r.action for r in finds(answering)] == ["find"]


def test_a_click_without_a_response_url_is_answered_by_dm(answering):
    answering, stub = answering
    box = answering.inbox
    assert box is not None
    (entry_id,) = box.put_many([New(EntryKind.COMMAND, "UVIEW", "find user p1", None, None)])
    answering.claimed(entry_id)
    (dm,) = stub.wait_for("chat.postMessage")
    assert "Person 1" in str(dm.body["blocks"])
    assert box.pending() == 0


def test_this_process_answers_after_its_own_burst_of_acks():
    from bot.frontends.intake import Burst

    now = [0.0]
    burst = Burst(clock=lambda: now[0])
    for _ in range(9):
        now[0] += 0.05
        burst.ack()
    assert not burst.under_way()  # nine in 450 ms: a trickle
    for _ in range(10):
        now[0] += 0.01
        burst.ack()
    assert burst.under_way()  # ten in 100 ms
    now[0] += 0.25
    assert not burst.under_way()  # over


def test_only_a_verb_is_ever_named_for_an_entry():
    from datetime import UTC, datetime

    def entry(text: str, kind: EntryKind = EntryKind.COMMAND):
        from bot.frontends.inbox import Entry

        return Entry("e", kind, "U1", text, None, None, datetime.now(UTC), 1)

    assert entry("find user sobrien").verb == "find"
    assert entry("Sobrien O'Brien").verb == "command"  # a first word that may be a name
    assert entry("note", EntryKind.REJECT).verb == "reject"


def test_a_command_longer_than_its_lease_keeps_it_and_is_answered_once(answering):
    import time as clock

    answering, stub = answering
    box = Inbox(answering.services.engine, lease=timedelta(seconds=2))  # the real clock
    slow = Answering(answering.services, answering.client, inbox=box)
    (directory,) = answering.services.connectors
    search = directory.search

    def five_seconds(query, *, timeout):
        clock.sleep(5)
        return search(query, timeout=timeout)

    directory.search = five_seconds  # type: ignore[method-assign]
    (entry_id,) = box.put_many(
        [New(EntryKind.COMMAND, "UVIEW", "find user p1", stub.response_url("long"), None)]
    )
    worker = threading.Thread(target=slow.claimed, args=(entry_id,))
    worker.start()
    wait_until(lambda: rows(box.engine)[0].lease_owner, what="the worker's claim")
    stolen = []
    while worker.is_alive():  # another process looking for lapsed leases all along
        stolen += box.take_owed("thief", limit=5, unclaimed=timedelta(0))
        clock.sleep(0.1)
    worker.join()
    assert stolen == []  # the lease was renewed while the command ran
    (answer,) = stub.calls("/response_url/long")
    assert "Person 1" in str(answer.body) and box.pending() == 0
