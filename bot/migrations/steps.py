"""What a migration checks before each step: SQLite commits every DDL statement at once,
so a run that broke off leaves part of its work done, and the next run must skip it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["has_column", "has_index", "has_table"]


def has_table(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def has_column(table: str, column: str) -> bool:
    return column in {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def has_index(table: str, index: str) -> bool:
    return index in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}
