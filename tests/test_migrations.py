"""Alembic migrations (bot/migrations/) against the tables the code declares, and the
carry-over of rows written before 0004 (typed state), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.audit.schema import metadata
from bot.database import create_engine, migrate
from bot.workflow.requests import StepState
from bot.workflow.store import RequestStore
from connectors.base import IdKind, ObjectRef, PlanAction


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path):
    url = (
        f"sqlite:///{tmp_path / 'bot.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    yield engine
    engine.dispose()


def test_migrations_produce_exactly_the_declared_tables(empty_engine):
    migrate(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    # alembic_version is Alembic's own table, not ours.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diff == []


OLD_SUBJECT = (
    '{"display_name": "Jane Doe", "account": "jdoe", "identifiers": {"account": "jdoe", '
    '"object_guid": "g1"}, "refs": [["ad", "g1"]]}'
)
OLD_PLAN = (
    '{"ref": ["ad", "g1"], "action": "delete", "summary": "delete jdoe", "residuals": '
    '[{"description": "tombstone", "expires": "2026-07-01T00:00:00+00:00"}], "warnings": [], '
    '"authority_rank": 50}'
)
OLD_RESULT = (
    '{"verification": {"ad": {"absent": false, "detail": "1 live", "remaining": 1}}, '
    '"residuals": [], "failed_step": "verification in ad"}'
)


def test_rows_written_before_typed_state_are_carried_over(empty_engine):
    migrate(empty_engine, "0003")
    with empty_engine.begin() as conn:
        insert = (
            "INSERT INTO requests (id, kind, status, version, requester, received_at, due_at, "
            "expires_at, subject_keys, subject, plan, approvals_needed, updated_at, result) "
            "VALUES (%s)"
        )
        values = [
            "REQ-2026-0001",
            "erasure",
            "failed",
            3,
            "UREQ",
            "2026-01-01 10:00:00",
            "2026-02-01 10:00:00",
            "2026-01-04 10:00:00",
            '["key1", "key2"]',
            OLD_SUBJECT,
            '["delete jdoe"]',
            1,
            "2026-01-01 10:00:00",
            OLD_RESULT,
        ]
        conn.exec_driver_sql(insert % ", ".join(_param(conn) for _ in values), tuple(values))
        step = (
            "INSERT INTO request_steps (request_id, seq, system, action, summary, plan, state, "
            "attempts, detail, started_at, finished_at) VALUES (%s)"
        )
        rows = [
            (
                "REQ-2026-0001",
                1,
                "hr",
                "manual",
                "erase in HR",
                None,
                "pending",
                1,
                "announced",
                "2026-01-02 09:00:00",
                "2026-01-02 09:00:01",
            ),
            (
                "REQ-2026-0001",
                2,
                "ad",
                "delete",
                "delete jdoe",
                OLD_PLAN,
                "pending",
                2,
                "waiting for the deletion rule",
                "2026-01-02 09:00:00",
                None,
            ),
            ("REQ-2026-0001", 3, "mv", "wait", "wait", None, "pending", 0, None, None, None),
        ]
        for row in rows:
            conn.exec_driver_sql(step % ", ".join(_param(conn) for _ in row), row)

    migrate(empty_engine)

    request = RequestStore(empty_engine).get("REQ-2026-0001")
    assert request.subject_keys == ("key1", "key2")
    assert request.subject is not None
    assert request.subject.refs == (ObjectRef("ad", "g1"),)
    assert request.subject.identifiers[IdKind.OBJECT_GUID] == "g1"
    assert request.report is not None and request.report.failing
    assert request.report.still_present() == ["ad"]
    manual, deleting, untouched = request.steps
    assert (manual.state, manual.detail) == (StepState.PENDING, None)
    assert manual.announced_at is not None
    assert (deleting.state, deleting.detail) == (StepState.WAITING, "waiting for the deletion rule")
    assert deleting.plan is not None and deleting.plan.ref == ObjectRef("ad", "g1")
    assert deleting.plan.action is PlanAction.DELETE
    assert deleting.plan.residuals[0].expires is not None
    assert (untouched.state, untouched.announced_at) == (StepState.PENDING, None)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"] == []


def _param(conn: sa.Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def test_0004_finishes_after_a_run_that_broke_off(empty_engine):
    # SQLite commits each DDL statement at once: a run killed half-way leaves some done.
    migrate(empty_engine, "0003")
    with empty_engine.begin() as conn:
        insert = (
            "INSERT INTO requests (id, kind, status, version, requester, received_at, due_at, "
            "expires_at, subject_keys, subject, plan, approvals_needed, updated_at) "
            "VALUES (%s)"
        )
        values = [
            "REQ-2026-0001", "erasure", "completed", 5, "UREQ", "2026-01-01 10:00:00",
            "2026-02-01 10:00:00", "2026-01-04 10:00:00", '["key1"]', None, '["x"]', 1,
            "2026-01-01 10:00:00",
        ]  # fmt: skip
        conn.exec_driver_sql(insert % ", ".join(_param(conn) for _ in values), tuple(values))
        conn.exec_driver_sql("ALTER TABLE request_steps ADD COLUMN announced_at TIMESTAMP")
        conn.exec_driver_sql("ALTER TABLE requests ADD COLUMN subject_keys_json TEXT")
    migrate(empty_engine)
    request = RequestStore(empty_engine).get("REQ-2026-0001")
    assert (request.subject_keys, request.subject) == (("key1",), None)
    with empty_engine.connect() as conn:
        # A scrubbed subject is SQL NULL, not the JSON text 'null'.
        assert conn.exec_driver_sql("SELECT count(*) FROM requests WHERE subject IS NULL").scalar()


def test_0005_and_0006_finish_after_runs_that_broke_off(empty_engine):
    migrate(empty_engine, "0004")
    with empty_engine.begin() as conn:  # what a killed run of each left behind
        conn.exec_driver_sql(
            "ALTER TABLE audit_head ADD COLUMN keyed_from INTEGER NOT NULL DEFAULT 1"
        )
        conn.exec_driver_sql(
            "CREATE TABLE handled_triggers (trigger_id VARCHAR(128) PRIMARY KEY, "
            "at TIMESTAMP NOT NULL)"
        )
    migrate(empty_engine)  # before: "duplicate column name" / "table already exists"
    with empty_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0013"
        columns = {c["name"] for c in sa.inspect(conn).get_columns("requests")}
        assert "open_key" in columns
        assert sa.inspect(conn).has_table("audit_checkpoints")
