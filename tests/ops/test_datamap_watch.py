"""The weekly data map watch, on a real (SQLite) store: the first map is the baseline, a
map is taken again only when due, what changed is posted once (whichever replica), and
nothing is posted when nothing changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.audit import AuditLog
from bot.database import create_engine, migrate
from bot.ops.datamap.diff import ChangeKind, MapChange
from bot.ops.datamap.model import AttributeRow, DataMap
from bot.ops.datamap.watch import DatamapWatch
from connectors.datamap import Category
from tests.support.clock import Clock

CHAIN_KEY = "watch-chain-key-0123456789abcdef0123456789"


class Poster:
    def __init__(self) -> None:
        self.posted: list[list[MapChange]] = []

    def datamap_changed(self, found):
        self.posted.append(list(found))


def test_the_watch_posts_what_changed_once_a_week(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    migrate(engine)
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    clock = Clock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    current = {"map": DataMap(generated=clock())}
    poster = Poster()

    def watch() -> DatamapWatch:  # a replica: its own watch over the same store
        return DatamapWatch(
            engine, lambda: current["map"], poster, audit, every=timedelta(days=7), clock=clock
        )

    assert watch().tick() == []  # the baseline
    current["map"] = replace(
        current["map"], attributes=(AttributeRow("HR", "salary", Category.EMPLOYMENT),)
    )
    clock.now += timedelta(days=3)
    assert watch().tick() == []  # not due
    clock.now += timedelta(days=4)
    found = watch().tick()
    assert found == [MapChange(ChangeKind.ATTRIBUTE, "new: salary in HR")]
    assert watch().tick() == []  # another replica, the same day: taken already
    assert poster.posted == [found]
    clock.now += timedelta(days=7)
    assert watch().tick() == []  # no change: nothing posted
    assert len(poster.posted) == 1
    notices = [e for e in audit.events() if e.action == "notify"]
    assert [e.detail for e in notices] == [{"what": "datamap_changed", "changes": 1}]
