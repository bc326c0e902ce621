"""The inbox against a model of its promises (bot/frontends/inbox.py), with Hypothesis
driving acks, replays, claims by several answerers, takeovers, answers and the clock:
an entry is held by one answerer at a time, an answered entry never comes back, a
replayed trigger gets no entry, and whatever nobody answers is owed once its lease or
the grace after its ack has passed, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bot.database import create_engine, migrate
from bot.frontends.inbox import EntryKind, Inbox, New
from tests.support.clock import Clock

LEASE = timedelta(seconds=30)
GRACE = timedelta(seconds=5)
OWNERS = ("serve-a", "serve-b", "worker")


@dataclass
class Held:
    received: object
    owner: str | None = None
    until: object = None
    attempts: int = 0


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_inbox_keeps_its_promises(store, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'inbox.db'}"
        if store == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    migrate(engine)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM inbox")
                conn.exec_driver_sql("DELETE FROM handled_triggers")
            self.clock = Clock()
            self.box = Inbox(engine, clock=self.clock, lease=LEASE)
            self.model: dict[str, Held] = {}
            self.triggers: set[str] = set()

        def lease(self, held: Held, owner: str) -> None:
            held.owner, held.until = owner, self.clock.now + LEASE
            held.attempts += 1

        def stale(self, held: Held) -> bool:
            now = self.clock.now
            if held.until is not None:
                return held.until < now
            return held.received <= now - GRACE

        @rule(triggers=st.lists(st.sampled_from(["T1", "T2", "T3", "T4", None]), max_size=4))
        def ack(self, triggers):
            new = [New(EntryKind.COMMAND, "U1", "find user p1", "https://r", t) for t in triggers]
            ids = self.box.put_many(new)
            seen = set(self.triggers)
            for trigger, entry_id in zip(triggers, ids, strict=True):
                if trigger is not None and trigger in seen:
                    assert entry_id is None, "a replayed trigger got an entry"
                    continue
                assert entry_id is not None
                seen.add(trigger)
                self.model[entry_id] = Held(self.clock.now)
            self.triggers = {t for t in seen if t is not None}

        @rule(owner=st.sampled_from(OWNERS), pick=st.integers(0, 50))
        def claim(self, owner, pick):
            if not self.model:
                return
            entry_id = sorted(self.model)[pick % len(self.model)]
            held = self.model[entry_id]
            free = held.until is None or held.until < self.clock.now
            entry = self.box.claim(entry_id, owner)
            assert (entry is not None) == free, "a claim disagreed with the lease"
            if entry is not None:
                held.owner, held.until, held.attempts = (
                    owner,
                    self.clock.now + LEASE,
                    held.attempts + 1,
                )
                assert entry.attempts == held.attempts

        @rule(owner=st.sampled_from(OWNERS), limit=st.integers(0, 4))
        def take_over(self, owner, limit):
            owed = sorted((h.received, i) for i, h in self.model.items() if self.stale(h))
            taken = self.box.take_owed(owner, limit=limit, unclaimed=GRACE)
            assert len(taken) == min(limit, len(owed))
            assert {e.id for e in taken} <= {i for _, i in owed}, "took what was held"
            oldest = sorted(r for r, _ in owed)[: len(taken)]
            assert sorted(e.received_at for e in taken) == oldest, "not the oldest first"
            for entry in taken:
                held = self.model[entry.id]
                held.owner, held.until, held.attempts = (
                    owner,
                    self.clock.now + LEASE,
                    held.attempts + 1,
                )

        @rule(pick=st.integers(0, 50))
        def answered(self, pick):
            held_ids = sorted(i for i, h in self.model.items() if h.owner is not None)
            if not held_ids:
                return
            entry_id = held_ids[pick % len(held_ids)]
            self.box.done(entry_id)
            del self.model[entry_id]
            assert self.box.claim(entry_id, "late") is None, "an answered entry came back"

        @rule(seconds=st.sampled_from([1, 4, 6, 29, 31]))
        def time_passes(self, seconds):
            self.clock.now += timedelta(seconds=seconds)

        @invariant()
        def one_row_per_unanswered_entry(self):
            assert self.box.pending() == len(self.model)

    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=200 if store == "sqlite" else 40,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        engine.dispose()
