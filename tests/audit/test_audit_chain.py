"""The keyed, witnessed audit chain (issue 8, part 4): what a database writer without the
chain key can do to the chain, and that `verify` names the first event it touched, on
SQLite and PostgreSQL; the migration of chains written before the key; checkpoints,
witnesses and the daily schedule; `python -m bot audit verify`."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.audit import (
    EDITED,
    MISSING,
    AuditLog,
    ChainBroken,
    Checkpoint,
)
from bot.audit.records import UNLINKED_PLAIN
from bot.audit.schema import audit_checkpoints, audit_events, audit_head
from bot.audit.witness import CheckpointSchedule, FileWitness, checkpoint_text, parse_checkpoint
from bot.config import parse_config
from bot.database import create_engine, migrate
from bot.errors import ConfigError
from bot.frontends.cli import main
from tests.support.clock import Clock
from tests.support.keys import CHAIN_KEY

GENESIS = "0" * 64


def write(audit: AuditLog, n: int) -> None:
    for i in range(n):
        audit.record(actor="U1", roles=["viewer"], action="find", outcome="ok", subject_key=f"k{i}")


@pytest.fixture
def audit(engine: sa.Engine) -> AuditLog:
    log = AuditLog(engine, chain_key=CHAIN_KEY)
    write(log, 6)
    return log


# -- what an attacker without the key does --------------------------------------------


def rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(sa.select(audit_events).order_by(audit_events.c.seq))
        ]


def head(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(audit_head)).one()._mapping)


def plain_hash(prev: str, row: dict[str, Any]) -> str:
    """The pre-0005 event hash, written out again here (not imported), so the test
    catches a change in how old events are checked."""
    at = row["at"]
    at_text = at.astimezone(UTC).replace(tzinfo=None).isoformat() if at.tzinfo else at.isoformat()
    fields = {
        "seq": row["seq"],
        "at": at_text,
        "actor": row["actor"],
        "roles": row["roles"],
        "action": row["action"],
        "request_id": row["request_id"],
        "subject_key": row["subject_key"],
        "outcome": row["outcome"],
        "detail": row["detail"],
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


def rewrite(
    engine: sa.Engine, events: list[dict[str, Any]], start: int, *, head_too: bool = True
) -> None:
    """Replace the chain with `events`, re-linked and re-hashed from `events[start]` on
    the only way a writer without the key can (plain SHA-256), and the head moved to the
    last (its MAC kept: it cannot be recomputed)."""
    prev = events[start - 1]["hash"] if start else GENESIS
    for e in events[start:]:
        e["prev_hash"], e["hash"] = prev, plain_hash(prev, e)
        prev = e["hash"]
    with engine.begin() as conn:
        conn.execute(sa.delete(audit_events))
        conn.execute(sa.insert(audit_events), events)
        if head_too:
            conn.execute(sa.update(audit_head).values(seq=events[-1]["seq"], hash=prev))


def forged(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor": "UEVIL",
        "roles": "approver",
        "action": "approve",
        "request_id": "REQ-2026-0009",
        "subject_key": None,
        "outcome": "ok",
        "detail": "{}",
        "prev_hash": GENESIS,
        "hash": GENESIS,
    }


def sql(engine: sa.Engine, text: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(text), params)


# -- tamper cases ---------------------------------------------------------------------


def test_an_intact_chain_verifies_and_checks_its_checkpoint(audit):
    cp = audit.checkpoint()
    report = audit.verify([cp])
    assert (report.ok, report.events, report.keyed_from, report.checkpoint) == (True, 6, 1, cp)


def test_an_edited_event_is_named(audit, engine):
    sql(engine, "UPDATE audit_events SET actor = 'UEVIL' WHERE seq = 3")
    report = audit.verify()
    assert [(p.seq, p.text) for p in report.problems] == [(3, EDITED)]


def test_an_edit_rehashed_without_the_key_is_named_at_the_edit(audit, engine):
    """The issue's attack: edit, recompute the chain and the head. Without the key every
    recomputed hash is wrong from the edit on, and the head no longer matches its MAC."""
    events = rows(engine)
    events[3]["outcome"] = "denied"
    rewrite(engine, events, 3)
    report = audit.verify()
    assert report.first_bad_seq == 4
    assert report.problems[0].line() == f"BROKEN at events 4..6: {EDITED}"
    assert [p.where for p in report.problems] == ["event", "head"]


def test_a_deleted_event_is_named(audit, engine):
    sql(engine, "DELETE FROM audit_events WHERE seq = 4")
    report = audit.verify()
    assert [(p.seq, p.text) for p in report.problems] == [(4, MISSING)]


def test_a_deletion_relinked_without_the_key_names_the_missing_event(audit, engine):
    events = [e for e in rows(engine) if e["seq"] != 4]
    rewrite(engine, events, 3)
    report = audit.verify()
    assert report.first_bad_seq == 4
    assert report.problems[0].line() == f"BROKEN at event 4: {MISSING}"


def test_a_deletion_renumbered_without_the_key_names_where_the_chain_differs(audit, engine):
    events = [e for e in rows(engine) if e["seq"] != 4]
    for e in events[3:]:
        e["seq"] -= 1
    rewrite(engine, events, 3)
    report = audit.verify()
    assert report.first_bad_seq == 4
    assert report.problems[0].text == EDITED


def test_an_inserted_event_is_named_not_the_one_after_it(audit, engine):
    """ "event 52 missing" when 51 was forged, before: now the forged one is named."""
    events = rows(engine)
    for e in events[2:]:
        e["seq"] += 1
    events.insert(2, forged(3))
    rewrite(engine, events, 2)
    report = audit.verify()
    assert report.first_bad_seq == 3
    assert report.problems[0].seq == 3 and report.problems[0].text == EDITED


def test_an_event_forged_after_the_head_is_named(audit, engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(audit_events), [forged(7)])
    report = audit.verify()
    assert report.first_bad_seq == 7
    assert {p.seq for p in report.problems} == {7}


def test_truncation_with_the_head_rewritten_is_caught_by_the_head_mac(audit, engine):
    cut = rows(engine)[3]
    sql(engine, "DELETE FROM audit_events WHERE seq > 4")
    sql(engine, "UPDATE audit_head SET seq = 4, hash = :h", h=cut["hash"])
    report = audit.verify()
    assert not report.ok
    assert [p.where for p in report.problems] == ["head"]
    assert "does not match its MAC" in report.problems[0].text


def test_truncation_to_a_replayed_old_head_is_named_by_the_checkpoint(engine):
    """The strongest truncation: the head put back as it was at event 4 (a genuine row,
    MAC and all, e.g. from a backup). Only a witness knows event 6 existed."""
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write(audit, 4)
    old_head = head(engine)
    write(audit, 2)
    cp = audit.checkpoint()
    sql(engine, "DELETE FROM audit_events WHERE seq > 4")
    with engine.begin() as conn:
        conn.execute(sa.update(audit_head).values(**old_head))
    assert audit.verify().ok  # nothing in the database can tell
    report = audit.verify([parse_checkpoint(f"{cp.seq}:{cp.hash}")])
    assert report.first_bad_seq == 5
    assert report.problems[0].line() == (
        "BROKEN at events 5..6: missing: the checkpoint at event 6 (--checkpoint) says event 6 "
        "existed"
    )


def test_checkpoints_recorded_in_the_database_count_too(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write(audit, 3)
    CheckpointSchedule(audit, []).now()
    old_head = head(engine)
    write(audit, 2)
    CheckpointSchedule(audit, []).now()
    sql(engine, "DELETE FROM audit_events WHERE seq > 3")
    with engine.begin() as conn:
        conn.execute(sa.update(audit_head).values(**old_head))
    assert audit.verify().first_bad_seq == 4


def test_a_rewritten_head_is_named(audit, engine):
    sql(engine, "UPDATE audit_head SET hash = :h", h="e" * 64)
    report = audit.verify()
    assert [p.line() for p in report.problems] == [
        "BROKEN at the head: its hash does not match event 6",
        "BROKEN at the head: (event 6) does not match its MAC: rewritten without the chain key",
    ]


def test_a_deleted_head_row_is_named_not_a_traceback(audit, engine):
    sql(engine, "DELETE FROM audit_head")
    report = audit.verify()
    assert not report.ok
    assert [p.line() for p in report.problems] == [
        "BROKEN at the head: missing: the chain's head row was deleted"
    ]


def test_a_head_moved_forward_names_the_events_it_claims(audit, engine):
    sql(engine, "UPDATE audit_head SET seq = 8")
    report = audit.verify()
    assert report.first_bad_seq == 7
    assert report.problems[0].line() == "BROKEN at events 7..8: missing: the head is at event 8"


def test_moving_where_the_keyed_part_begins_is_detected(audit, engine):
    sql(engine, "UPDATE audit_head SET keyed_from = 4")
    report = audit.verify()
    assert report.first_bad_seq == 1  # events 1..3 are keyed, not plain
    assert any(p.where == "head" for p in report.problems)


def test_a_checkpoint_that_differs_names_its_event(audit):
    cp = audit.sign(4, "a" * 64, datetime.now(UTC), source="test")
    report = audit.verify([cp])
    assert report.first_bad_seq == 4
    assert "differs from the checkpoint at event 4" in report.problem


def test_a_forged_checkpoint_is_reported(audit):
    real = audit.checkpoint()
    fake = Checkpoint(real.seq, "b" * 64, real.at, real.mac, "witness")
    report = audit.verify([fake])
    assert [p.where for p in report.problems] == ["checkpoint"]
    assert report.first_bad_seq is None


def test_a_chain_read_while_it_grows_is_intact(engine):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write(audit, 20)
    stop = threading.Event()
    errors: list[Exception] = []

    def grow() -> None:
        while not stop.is_set():
            try:
                write(audit, 1)
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

    t = threading.Thread(target=grow)
    t.start()
    try:
        reports = [audit.verify() for _ in range(5)]
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert all(r.ok for r in reports), [r.problems for r in reports]


def test_another_key_cannot_verify_or_sign(audit, engine):
    other = AuditLog(engine, chain_key="another-chain-key-0123456789abcdef")
    assert other.verify().first_bad_seq == 1
    with pytest.raises(ChainBroken):
        other.checkpoint()


# -- migration of chains written before the key ---------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path):
    """A database at revision 0004 holding three events chained the old way."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    migrate(engine, "0004")
    prev = GENESIS
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    old = sa.table(
        "audit_head", sa.column("id"), sa.column("seq"), sa.column("hash")
    )  # 0004's head
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            row = forged(seq) | {
                "actor": "U1",
                "action": "find",
                "roles": "viewer",
                "at": t0 + timedelta(minutes=seq),
                "prev_hash": prev,
            }
            row["hash"] = plain_hash(prev, row)
            conn.execute(sa.insert(audit_events), [row])
            prev = row["hash"]
        conn.execute(sa.update(old).where(old.c.id == 1).values(seq=3, hash=prev))
    migrate(engine)
    yield engine
    engine.dispose()


def test_an_old_chain_is_kept_and_continued_keyed(old_engine):
    before = rows(old_engine)
    audit = AuditLog(old_engine, chain_key=CHAIN_KEY)
    write(audit, 2)
    after = rows(old_engine)
    assert [(e["hash"], e["prev_hash"]) for e in after[:3]] == [
        (e["hash"], e["prev_hash"]) for e in before
    ]  # not re-hashed
    assert after[3]["prev_hash"] == before[2]["hash"]  # the first keyed event links on
    report = audit.verify([audit.checkpoint()])
    assert (report.ok, report.events, report.keyed_from) == (True, 5, 4)


def test_an_old_chain_with_no_keyed_event_yet_verifies(old_engine):
    audit = AuditLog(old_engine, chain_key=CHAIN_KEY)
    assert head(old_engine)["mac"] is None
    assert audit.verify().ok
    assert audit.checkpoint().seq == 3  # pins the last plain hash


def test_an_edit_in_the_unkeyed_part_is_named(old_engine):
    audit = AuditLog(old_engine, chain_key=CHAIN_KEY)
    write(audit, 2)
    sql(old_engine, "UPDATE audit_events SET actor = 'UEVIL' WHERE seq = 2")
    report = audit.verify()
    assert [(p.seq, p.text) for p in report.problems] == [(2, EDITED)]


def test_a_rehashed_unkeyed_part_breaks_at_the_first_keyed_event(old_engine):
    audit = AuditLog(old_engine, chain_key=CHAIN_KEY)
    write(audit, 2)
    events = rows(old_engine)
    events[1]["actor"] = "UEVIL"
    unkeyed = events[:3]
    rewrite(old_engine, unkeyed, 1, head_too=False)  # SHA-256 recomputed: each looks fine
    with old_engine.begin() as conn:
        conn.execute(sa.insert(audit_events), events[3:])
    report = audit.verify()
    assert [(p.seq, p.text) for p in report.problems] == [(4, UNLINKED_PLAIN)]


def test_a_fresh_database_is_keyed_from_the_first_event(engine):
    assert head(engine)["keyed_from"] == 1


# -- checkpoints, witnesses, schedule -------------------------------------------------


def test_checkpoint_text_and_token_round_trip(audit):
    cp = audit.checkpoint()
    text = checkpoint_text(cp)
    assert f"event {cp.seq}" in text and cp.token() in text
    back = parse_checkpoint(cp.token().upper())
    assert back == cp and audit.authentic(back)
    assert parse_checkpoint(f"{cp.seq}:{cp.hash}").mac is None
    for bad in ("6", f"6:{cp.hash[:-1]}", f"x:{cp.hash}", f"6:{cp.hash}:20260101T000000Z"):
        with pytest.raises(ValueError):
            parse_checkpoint(bad)


def test_checkpoint_mac_covers_seq_hash_and_time(audit):
    cp = audit.checkpoint()
    expected = hmac.new(
        CHAIN_KEY.encode(),
        f"mimbot-audit-checkpoint:{cp.seq}:{cp.hash}:{cp.stamp}".encode(),
        hashlib.sha256,
    ).hexdigest()
    assert cp.mac == expected
    later = Checkpoint(cp.seq, cp.hash, cp.at + timedelta(seconds=1), cp.mac)
    assert not audit.authentic(later)


def test_file_witness_appends_and_reads_back_the_latest(audit, tmp_path):
    witness = FileWitness(tmp_path / "w.jsonl")
    assert witness.latest() is None
    first = audit.checkpoint()
    witness.publish(first)
    start = witness.path.read_bytes()
    write(audit, 1)
    second = audit.checkpoint()
    witness.publish(second)
    assert witness.path.read_bytes().startswith(start)
    assert witness.latest() == second
    with witness.path.open("ab") as f:
        f.write(b'{"seq": 9, "ha')  # a write cut short by a crash
    witness.publish(second)
    found, bad = witness.read()
    assert (found, bad) == ([first, second, second], [3])


def test_a_checkpoint_is_not_signed_over_a_broken_head(audit, engine):
    sql(engine, "UPDATE audit_head SET hash = :h", h="e" * 64)
    with pytest.raises(ChainBroken):
        audit.checkpoint()
    assert CheckpointSchedule(audit, []).now() is None


class Failing:
    name = "broken"

    def publish(self, checkpoint: Checkpoint) -> None:
        raise OSError("down")


def test_daily_checkpoint_once_a_day_then_again_the_next(audit, tmp_path):
    clock = Clock(datetime(2026, 3, 1, 0, 5, tzinfo=UTC))
    witness = FileWitness(tmp_path / "w.jsonl")
    schedule = CheckpointSchedule(audit, [witness], clock=clock)
    assert schedule.due()
    assert schedule.tick() is not None
    assert not schedule.due() and schedule.tick() is None
    clock.now += timedelta(days=1)
    assert schedule.tick() is not None
    assert len(witness.read()[0]) == 2


def test_a_chain_rewritten_since_the_last_checkpoint_is_not_signed_again(audit, engine, tmp_path):
    # A database writer without the key re-hashes everything as "never keyed" and drops
    # the stored checkpoints: the file witness still holds yesterday's, and the schedule
    # checks the chain against it before it signs today's.
    clock = Clock(datetime(2026, 3, 1, 0, 5, tzinfo=UTC))
    witness = FileWitness(tmp_path / "w.jsonl")
    schedule = CheckpointSchedule(audit, [witness], clock=clock)
    assert schedule.tick() is not None
    sql(engine, "DELETE FROM audit_checkpoints")
    sql(engine, "UPDATE audit_events SET outcome = 'rewritten' WHERE seq = 3")
    clock.now += timedelta(days=1)
    assert schedule.tick() is None
    assert len(witness.read()[0]) == 1
    assert not audit.verify(checkpoints=witness.read()[0]).ok


def test_a_daily_checkpoint_no_witness_took_is_tried_again(audit, tmp_path):
    clock = Clock(datetime(2026, 3, 1, 0, 5, tzinfo=UTC))
    schedule = CheckpointSchedule(audit, [Failing()], clock=clock)
    assert schedule.tick() is None
    assert schedule.due()
    witness = FileWitness(tmp_path / "w.jsonl")
    schedule = CheckpointSchedule(audit, [Failing(), witness], clock=clock)
    assert schedule.tick() is not None and not schedule.due()
    with audit._engine.connect() as conn:
        assert conn.execute(sa.select(audit_checkpoints.c.published_to)).scalars().all() == [
            witness.name
        ]


def test_replicas_publish_the_daily_checkpoint_once(engine, tmp_path):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write(audit, 2)
    witness = FileWitness(tmp_path / "w.jsonl")
    clock = Clock(datetime(2026, 3, 1, 0, 5, tzinfo=UTC))
    barrier = threading.Barrier(4)
    results: list[object] = []

    def replica() -> None:
        schedule = CheckpointSchedule(AuditLog(engine, chain_key=CHAIN_KEY), [witness], clock=clock)
        barrier.wait()
        results.append(schedule.tick())

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(witness.read()[0]) == 1


def test_on_demand_checkpoints_are_published_and_recorded(audit, tmp_path):
    witness = FileWitness(tmp_path / "w.jsonl")
    schedule = CheckpointSchedule(audit, [witness])
    schedule.now()
    write(audit, 1)
    cp = schedule.now()
    assert witness.latest() == cp
    assert [c.seq for c in audit.saved_checkpoints()] == [6, 7]


# -- configuration and the command line -----------------------------------------------

ENV = {"B": "xoxb", "S": "s", "K": "subject-key-0123456789", "C": CHAIN_KEY}


def audit_config(**audit: str) -> dict:
    return {
        "slack": {"bot_token": "${B}", "signing_secret": "${S}"},
        "audit": {"subject_key": "${K}", **audit},
    }


@pytest.mark.parametrize(
    ("audit", "env", "message"),
    [
        ({}, {}, "config: audit.chain_key: Field required"),
        (
            {"chain_key": "${X}"},
            {"X": "short-chain-key"},
            "config: audit.chain_key: must be at least 32 characters",
        ),
        (
            {"chain_key": "${K}"},
            {"K": "x" * 40},
            "config: audit.chain_key: must differ from subject_key",
        ),
        (
            {"chain_key": CHAIN_KEY},
            {},
            "config: audit.chain_key: secret written in clear; use ${ENV_VAR} or chain_key_file",
        ),
    ],
)
def test_chain_key_mistakes_are_one_line_naming_the_key(audit, env, message):
    with pytest.raises(ConfigError) as info:
        parse_config(audit_config(**audit), environ={**ENV, **env})
    assert str(info.value) == message


def test_chain_key_from_a_file_and_the_witness_file(tmp_path):
    (tmp_path / "ck").write_text(CHAIN_KEY + "\n")
    raw = audit_config(chain_key_file=str(tmp_path / "ck"), witness_file="${W}")
    config = parse_config(raw, environ={**ENV, "W": str(tmp_path / "w.jsonl")})
    assert config.audit.chain_key == CHAIN_KEY
    assert config.audit.witness_file == tmp_path / "w.jsonl"


def cli(tmp_path: Path, monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    config = tmp_path / "app.yaml"
    config.write_text(
        "slack: {bot_token: '${B}', signing_secret: '${S}'}\n"
        f"audit: {{url: 'sqlite:///{tmp_path / 'a.db'}', subject_key: '${{K}}', "
        f"chain_key: '${{C}}', witness_file: '{tmp_path / 'w.jsonl'}'}}\n"
    )
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    code = main(["--config", str(config), "audit", "verify", *args])
    return code, capsys.readouterr().out.splitlines()


def test_cli_verify_checks_the_witness_file_and_a_pasted_checkpoint(tmp_path, monkeypatch, capsys):
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    write(audit, 3)
    FileWitness(tmp_path / "w.jsonl").publish(audit.checkpoint())
    old_head = head(engine)
    write(audit, 2)
    pasted = audit.checkpoint()
    code, out = cli(tmp_path, monkeypatch, capsys, "--checkpoint", f"{pasted.seq}:{pasted.hash}")
    assert (code, out[0]) == (0, "OK: 5 event(s), chain intact")
    assert out[-1].startswith("checked against 2 checkpoint(s), the newest at event 5 ")
    # Truncated to a replayed old head: the file's checkpoint (event 3) cannot see it...
    sql(engine, "DELETE FROM audit_events WHERE seq > 3")
    with engine.begin() as conn:
        conn.execute(sa.update(audit_head).values(**old_head))
    engine.dispose()
    code, out = cli(tmp_path, monkeypatch, capsys)
    assert code == 0
    # ... the one pasted from Slack does.
    code, out = cli(tmp_path, monkeypatch, capsys, "--checkpoint", pasted.token())
    assert code == 1
    assert out[0] == (
        "BROKEN at events 4..5: missing: the checkpoint at event 5 of "
        f"{pasted.at:%Y-%m-%d %H:%M} UTC (--checkpoint) says event 5 existed"
    )


def test_cli_refuses_a_malformed_checkpoint(tmp_path, monkeypatch, capsys):
    code, out = cli(tmp_path, monkeypatch, capsys, "--checkpoint", "5:nothex")
    assert code == 2 and out == []


def test_a_store_that_fails_skips_the_checkpoint_without_raising(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated
    schedule = CheckpointSchedule(AuditLog(engine, chain_key=CHAIN_KEY), [])
    assert (schedule.tick(), schedule.now()) == (None, None)
    engine.dispose()
