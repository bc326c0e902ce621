import itertools
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.audit import EDITED, MISSING, AuditLog, SubjectKeyer
from bot.database import create_engine, migrate
from tests.support.keys import CHAIN_KEY


def write_some(audit: AuditLog, n: int = 5) -> None:
    for i in range(n):
        audit.record(
            actor="U1",
            roles=["viewer"],
            action="find",
            outcome="ok",
            subject_key=f"k{i}",
            detail={"systems": {"ad": {"hits": i}}},
        )


def test_events_chain_and_verify(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write_some(audit)
    report = audit.verify()
    assert (report.ok, report.events) == (True, 5)
    events = audit.events()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(events))


def test_an_edited_event_is_detected(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write_some(audit)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'UEVIL' WHERE seq = 3"))
    report = audit.verify()
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.problem == EDITED
    assert len(report.problems) == 1  # the next event still links to the stored hash


def test_an_edited_event_with_recomputed_hash_breaks_the_next_link(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write_some(audit)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET hash = :h WHERE seq = 2"), {"h": "f" * 64})
    report = audit.verify()
    assert not report.ok
    assert report.first_bad_seq == 2
    assert [p.seq for p in report.problems] == [2]  # event 3's broken link is its consequence


def test_a_deleted_event_is_detected(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write_some(audit)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 2"))
    report = audit.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 2, MISSING)
    assert len(report.problems) == 1


def test_deleting_the_newest_event_is_detected(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write_some(audit)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 5"))
    report = audit.verify()
    assert not report.ok
    assert report.first_bad_seq == 5
    assert report.problem == "missing: the head is at event 5"


def test_concurrent_writers_never_fork_the_chain(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    errors = []

    def writer():
        try:
            write_some(audit, 10)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit.verify()
    assert (report.ok, report.events) == (True, 40)


def test_the_chain_needs_a_long_key(engine):
    with pytest.raises(ValueError, match="at least 32"):
        AuditLog(engine, chain_key="short")


def test_subject_key_is_keyed_and_normalised():
    keyer = SubjectKeyer("a-secret-of-enough-length")
    assert keyer.key("JDoe ") == keyer.key("jdoe")
    assert keyer.key("jdoe") != SubjectKeyer("another-secret-long-enough").key("jdoe")
    assert "jdoe" not in keyer.key("jdoe")


def test_migrations_are_idempotent(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() is not None
    engine.dispose()
