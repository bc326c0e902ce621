"""Typed state: JSON columns, a `waiting` step state and `announced_at` instead of
sentinel strings in `detail`, and the verification report under `systems`.

Existing rows are carried over: the JSON texts are re-read and written back in the
shapes the pydantic models read (object references as {system, id}).

Revision ID: 0004
Revises: 0003
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, column, nullable) of every column that held hand-written JSON text.
JSON_COLUMNS = (
    ("requests", "subject_keys", False),
    ("requests", "subject", True),
    ("requests", "plan", False),
    ("requests", "result", True),
    ("request_steps", "plan", True),
)
KEYS = {"requests": ("id",), "request_steps": ("request_id", "seq")}
JSON = sa.JSON(none_as_null=True)  # None is SQL NULL (a scrubbed subject), not 'null'


def upgrade() -> None:
    bind = op.get_bind()
    if "announced_at" not in {c["name"] for c in sa.inspect(bind).get_columns("request_steps")}:
        op.add_column("request_steps", sa.Column("announced_at", sa.DateTime(timezone=True)))
    steps = sa.table(
        "request_steps",
        sa.column("state", sa.String),
        sa.column("action", sa.String),
        sa.column("detail", sa.Text),
        sa.column("attempts", sa.Integer),
        sa.column("announced_at", sa.DateTime(timezone=True)),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("finished_at", sa.DateTime(timezone=True)),
    )
    # "announced" in detail meant: the manual step's Done button was posted.
    bind.execute(
        steps.update()
        .where(steps.c.detail == "announced")
        .values(
            announced_at=sa.func.coalesce(steps.c.finished_at, steps.c.started_at),
            detail=None,
        )
    )
    # A pending automated step that ran and kept a detail was waiting (a deletion rule).
    bind.execute(
        steps.update()
        .where(
            steps.c.state == "pending",
            steps.c.attempts > 0,
            steps.c.detail.is_not(None),
            steps.c.action != "manual",
        )
        .values(state="waiting")
    )
    for table, column, nullable in JSON_COLUMNS:
        _to_json(bind, table, column, nullable)


def _to_json(bind: Any, table: str, column: str, nullable: bool) -> None:
    """Text column to JSON: a new column, filled, then renamed over the old one (the same
    steps on SQLite, which cannot change a type in place, and PostgreSQL). SQLite commits
    each DDL statement at once, so every step checks whether a broken run did it."""
    columns = {c["name"]: c for c in sa.inspect(bind).get_columns(table)}
    staged = f"{column}_json"
    if staged in columns and column not in columns:  # broken off after the drop
        op.alter_column(table, staged, new_column_name=column, existing_type=JSON)
        return
    if staged in columns:  # broken off while filling: start again
        op.drop_column(table, staged)
    elif isinstance(columns[column]["type"], sa.JSON):  # done by a broken-off run
        return
    keys = KEYS[table]
    old = sa.table(table, sa.column(column, sa.Text), *(sa.column(k) for k in keys))
    rows = bind.execute(sa.select(old.c[column], *(old.c[k] for k in keys))).all()
    # SQLite adds a NOT NULL column only with a default (every old row has a value).
    default = None if nullable else sa.text("'[]'")
    op.add_column(table, sa.Column(staged, JSON, nullable=nullable, server_default=default))
    new = sa.table(table, sa.column(staged, JSON), *(sa.column(k) for k in keys))
    for row in rows:
        text = row[0]
        value = _reshape(table, column, json.loads(text)) if text else None
        bind.execute(
            new.update()
            .where(*(new.c[k] == row[i + 1] for i, k in enumerate(keys)))
            .values({staged: value})
        )
    op.drop_column(table, column)
    op.alter_column(table, staged, new_column_name=column, existing_type=JSON)
    if default is not None and bind.dialect.name != "sqlite":
        op.alter_column(table, column, server_default=None, existing_type=JSON)


def _reshape(table: str, column: str, value: Any) -> Any:
    """Old hand-written shapes to the ones the models read."""
    if column == "subject" and isinstance(value, dict):
        value["refs"] = [_ref(r) for r in value.get("refs", [])]
    elif column == "plan" and table == "request_steps" and isinstance(value, dict):
        value["ref"] = _ref(value.get("ref"))
    elif column == "result" and isinstance(value, dict):
        value = {
            "systems": value.get("verification", {}),
            "residuals": value.get("residuals", []),
            "failed_step": value.get("failed_step"),
        }
    return value


def _ref(ref: Any) -> Any:
    return {"system": ref[0], "id": ref[1]} if isinstance(ref, list) else ref


def downgrade() -> None:
    raise NotImplementedError("0004 is not reversible: restore the database from a backup")
