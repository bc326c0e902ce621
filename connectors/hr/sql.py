"""The HR system as a SQL source: one table or view, reached through any SQLAlchemy URL
(`mssql+pyodbc://…` for SQL Server, `postgresql+psycopg://…`, `sqlite:///…`).

The table is reflected on first use, so a configured column the table lacks is one clear
error naming the column (not the value searched). Every value is a bound parameter;
`LIKE` prefixes are escaped with an explicit `ESCAPE '/'` (`/`, `%`, `_` and `[` typed
are literal: SQL Server reads `[a-z]` as a wildcard, and SQLAlchemy's autoescape leaves
`[` alone). `read` returns the mapping's `shown` columns only (by default not every
column). Reads run in a read-only transaction where the database has one (PostgreSQL).
On SQL Server reads stay READ COMMITTED, without NOLOCK: this is HR's database, not the
sync engine's (whose reads are lock-free, connectors/mimsync), the bot's reads are a few
rows by key, and a dirty read could see an uncommitted delete that is then rolled back
as the person gone (`verify_absent`).
A key matching more than one row is refused by `read` and `plan_delete`.

Deletion happens only when `allow_delete` is set, in one transaction: the rows holding
the key are counted and locked (`FOR UPDATE` on PostgreSQL; `WITH (UPDLOCK, HOLDLOCK)`
on SQL Server; SQLite locks the whole database for a write anyway), the parameterised
DELETE by key runs only when exactly one row holds it, and the transaction rolls back
on a rowcount other than 0 or 1. The driver's rowcount is not trusted alone: with
`SET NOCOUNT ON` or an INSTEAD OF trigger pyodbc reports -1 ("unknown"), accepted only
when the count was 1 and the row is gone when read back in the same transaction. The
row is read back again after commit. Otherwise the plan is a manual step, owned by the
role policy gives "erase at source" steps.

Timeouts (each call's `timeout`, seconds) as in the metaverse connector: the connect
deadline for new connections, `statement_timeout` (PostgreSQL) or the query timeout
(SQL Server) per call.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field
from datetime import datetime
from typing import Any, Literal

import pydantic.dataclasses
import sqlalchemy as sa
from pydantic import Field, field_validator

from connectors._shared.sql import (
    Session,
    connect_deadline,
    database_url,
    limit_connect_time,
    query_timeout,
    sql_errors,
    with_password,
)
from connectors.base import (
    Capability,
    DeletePlan,
    Health,
    Hit,
    IdKind,
    ObjectRef,
    Query,
    Record,
    StepResult,
    Verification,
)
from connectors.datamap import SystemInventory
from connectors.doctor import Check
from connectors.errors import ConnectorError, NotFound, NotSupported, TimedOut
from connectors.hr.doctor import sql_doctor
from connectors.hr.inventory import sql_inventory
from connectors.hr.mapping import (
    HrMapping,
    Matcher,
    delete_plan,
    erase_by_hand,
    hit_from_row,
    not_unique,
    record_from_row,
    search_plan,
    verify_plan,
)
from connectors.hr.sweeps import POPULATIONS, sql_ended, sql_holds
from connectors.spec import SETTINGS
from connectors.spelling import spellings
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule

__all__ = ["HrConnector", "HrSettings", "search_statement"]

_PG_LOCAL = sa.select(sa.func.set_config("statement_timeout", sa.bindparam("ms"), True))
_PG_READ_ONLY = sa.text("SET TRANSACTION READ ONLY")
# The LIKE escape character, and what it escapes: SQL's wildcards, SQL Server's `[`
# (a character class there), and itself.
_ESCAPE = "/"
_LIKE_SPECIAL = str.maketrans({c: _ESCAPE + c for c in (_ESCAPE, "%", "_", "[")})
# SQL Server: hold an update lock on the counted rows until the transaction ends.
_MSSQL_LOCK = "WITH (UPDLOCK, HOLDLOCK)"


def like_prefix(value: str) -> str:
    """A LIKE pattern (with `ESCAPE '/'`) matching what starts with `value`, literally."""
    return value.translate(_LIKE_SPECIAL) + "%"


def _as_text(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    return column if isinstance(column.type, sa.String) else sa.cast(column, sa.String)


def _condition(table: sa.Table, matchers: list[Matcher]) -> sa.ColumnElement[bool]:
    terms = []
    for m in matchers:
        text = _as_text(table.c[m.column])
        for value in spellings(m.value):
            if m.prefix:  # case-insensitive; every character typed is literal
                terms.append(text.ilike(like_prefix(value), escape=_ESCAPE))
            else:
                terms.append(sa.func.lower(text) == value.lower())
    return sa.or_(*terms)


def search_statement(
    table: sa.Table, mapping: HrMapping, matchers: list[Matcher], limit: int
) -> sa.Select[Any]:
    """The SELECT a search runs: the key and identifier columns of matching rows."""
    wanted = {mapping.key, *mapping.identifiers.values()}
    return (
        sa.select(*(table.c[c] for c in sorted(wanted)))
        .where(_condition(table, matchers))
        .order_by(table.c[mapping.key])
        .limit(limit)
    )


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class HrSettings:
    """`table` may be `schema.table`; a view works as well as a table (read only).
    `management_agent` is this source's MA in the Sync Service, so the metaverse's own
    "erase at the source" step is not asked for twice."""

    kind: Literal["sql"] = "sql"
    url: str | sa.URL = field(repr=False)  # any SQLAlchemy URL
    password: str | None = field(default=None, repr=False)  # set apart from the URL
    table: str  # a table or view, optionally schema.table
    mapping: HrMapping
    allow_delete: bool = False
    management_agent: str | None = None
    label: str = "HR"
    name: str = "hr"
    timeout: float = Field(default=5.0, gt=0, le=120, alias="timeout_seconds")
    max_hits: int = Field(default=200, ge=1)
    page_size: int = Field(default=500, ge=1, le=10000)  # rows a sweep reads per page

    def __post_init__(self) -> None:
        if not self.table.strip():
            raise ValueError("table must name a table or view")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | sa.URL) -> str | sa.URL:
        return database_url(v) if isinstance(v, str) else v

    @property
    def engine_url(self) -> sa.URL:
        """The URL the engine connects with: `url` and, when set, `password`."""
        return with_password(self.url, self.password)


class HrConnector:
    """Search, read, verify, and (when allowed) delete rows of the HR table; for retention
    sweeps, the leavers whose end date is past a rule's cutoff (`FindsStale`) and the rows
    whose hold column is set (`KnowsHolds`) (connectors/hr/sweeps.py)."""

    populations: frozenset[Population] = POPULATIONS

    def __init__(self, settings: HrSettings, *, engine: sa.Engine | None = None) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self.management_agent = settings.management_agent
        caps = {Capability.SEARCH, Capability.READ, Capability.VERIFY}
        self.capabilities = frozenset(
            caps | ({Capability.DELETE} if settings.allow_delete else set())
        )
        self._owns_engine = engine is None
        with sql_errors(self.name):
            # hide_parameters: a chained error must not print the values searched.
            self._engine = engine or sa.create_engine(settings.engine_url, hide_parameters=True)
        limit_connect_time(self._engine)
        self._table: sa.Table | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    # -- plumbing -------------------------------------------------------------

    @contextmanager
    def _session(self, timeout: float, *, write: bool = False) -> Iterator[Session]:
        timeout = min(timeout, self.settings.timeout)
        deadline = time.monotonic() + timeout
        with connect_deadline(deadline), sql_errors(self.name), self._engine.begin() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                if not write:
                    conn.execute(_PG_READ_ONLY)
                conn.execute(_PG_LOCAL, {"ms": str(max(1, round(timeout * 1000)))})
            elif dialect == "mssql":
                query_timeout(conn, timeout)
            yield Session(conn, deadline, timeout, self.name)

    def _reflect(self, s: Session) -> sa.Table:
        if self._table is not None:
            return self._table
        schema, _, name = self.settings.table.rpartition(".")
        try:
            table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=s.conn)
        except sa.exc.NoSuchTableError:
            raise ConnectorError(
                f"{self.name}: the configured table or view does not exist"
            ) from None
        missing = sorted(self.settings.mapping.wanted() - set(table.c.keys()))
        if missing:
            raise ConnectorError(f"{self.name}: the table has no column {', '.join(missing)}")
        with self._lock:
            self._table = table
        return table

    def _find(self, matchers: list[Matcher], timeout: float) -> list[Hit]:
        if not matchers:
            return []
        mapping = self.settings.mapping
        with self._session(timeout) as s:
            table = self._reflect(s)
            rows = s.rows(search_statement(table, mapping, matchers, self.settings.max_hits))
        return [hit_from_row(self.name, r._mapping, mapping) for r in rows]

    def _row(self, s: Session, ref: ObjectRef) -> Mapping[str, Any] | None:
        """The row holding the key (None: no row); `not_unique` when several do."""
        table = self._reflect(s)
        columns = [table.c[c] for c in self.settings.mapping.shown(table.c.keys())]
        rows = s.rows(sa.select(*columns).where(self._key(table, ref)))
        if len(rows) > 1:
            raise not_unique(self.name, len(rows))
        return rows[0]._mapping if rows else None

    def _key(self, table: sa.Table, ref: ObjectRef) -> sa.ColumnElement[bool]:
        return _as_text(table.c[self.settings.mapping.key]) == ref.id

    def lock_statement(self, table: sa.Table, ref: ObjectRef) -> sa.Select[Any]:
        """The rows holding the key, locked until the delete transaction ends."""
        return (
            sa.select(table.c[self.settings.mapping.key])
            .where(self._key(table, ref))
            .with_for_update()  # PostgreSQL (and others with FOR UPDATE); mssql ignores it
            .with_hint(table, _MSSQL_LOCK, dialect_name="mssql")
        )

    # -- the connector --------------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        return self._find(search_plan(query, self.settings.mapping), timeout)

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        if ref.system != self.name or "\x00" in ref.id:
            raise NotFound(f"{self.name}: no record has that key")
        with self._session(timeout) as s:
            row = self._row(s, ref)
        if row is None:
            raise NotFound(f"{self.name}: no record has that key")
        return record_from_row(self.name, ref, row)

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        self.read(ref, timeout=timeout)  # NotFound when it is gone
        if not self.settings.allow_delete:
            return erase_by_hand(
                ref, self.label, "the bot may not delete in HR (allow_delete is off in app.yaml)"
            )
        return delete_plan(ref, self.label, "one row, by its key, in one transaction")

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        if not self.settings.allow_delete:
            raise NotSupported(f"{self.name}: deletion is not allowed (allow_delete)")
        ref = plan.ref
        with self._session(timeout, write=True) as s:  # an exception rolls it all back
            table = self._reflect(s)
            found = len(s.rows(self.lock_statement(table, ref)))
            if found > 1:  # a key that is not unique: erase no one rather than others
                raise not_unique(self.name, found)
            if found == 1:
                if time.monotonic() > s.deadline:
                    raise TimedOut(f"{self.name}: no time left to delete")
                deleted = s.conn.execute(sa.delete(table).where(self._key(table, ref))).rowcount
                if deleted == -1:  # unknown (NOCOUNT, a trigger): the row must be gone
                    if s.rows(self.lock_statement(table, ref)):
                        raise ConnectorError(
                            f"{self.name}: the delete reported no row count and the row "
                            "is still there; rolled back"
                        )
                elif deleted not in (0, 1):
                    raise ConnectorError(
                        f"{self.name}: the delete reported {deleted} rows for one key; "
                        "rolled back, nothing was deleted"
                    )
        with self._session(timeout) as s:  # read back, in a transaction of its own
            if self._row(s, ref) is not None:
                return StepResult(ref, done=False, detail="the HR record is still there")
        return StepResult(ref, done=True, already_absent=found == 0, detail="HR record deleted")

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        hits = self._find(verify_plan(identifiers, self.settings.mapping), timeout)
        return Verification(self.name, absent=not hits, remaining=tuple(h.ref for h in hits))

    def doctor(self, *, timeout: float) -> list[Check]:
        """Check, read-only, the table or view: it exists, holds the configured columns and
        the key (and whether the key is declared unique), holds rows (connectors/hr/doctor.py)."""
        return sql_doctor(self, timeout=timeout)

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What the table holds about persons, for the data map: the mapped columns (the
        table's own when `columns` is `*`), its rows counted, and whether the erasure
        deletes a person's row or a person does (connectors/hr/inventory.py)."""
        return sql_inventory(self, timeout=timeout)

    def stale(self, rule: StaleRule, *, now: datetime, timeout: float) -> Iterator[Candidate]:
        """The rows whose `rule.column` end date is before the cutoff's day, keyset-paged by
        the key; `NotSupported` for another population or a column the table lacks or
        cannot compare as a date (connectors/hr/sweeps.py)."""
        return sql_ended(self, rule, now=now, timeout=timeout)

    def on_hold(self, query: HoldQuery, *, timeout: float) -> Iterator[Mapping[IdKind, str]]:
        """The identifiers of each row whose `query.column` is set (not NULL, empty, 0,
        false, no or n); `NotSupported` for a group or a column the table lacks."""
        return sql_holds(self, query, timeout=timeout)

    def session(self, timeout: float) -> contextlib.AbstractContextManager[Session]:
        """A read-only transaction within `timeout` (for connectors/hr/sweeps.py)."""
        return self._session(timeout)

    def reflect(self, s: Session) -> sa.Table:
        """The configured table, reflected once (a missing column is a ConnectorError)."""
        return self._reflect(s)

    def health(self, *, timeout: float) -> Health:
        try:
            with self._session(timeout) as s:
                table = self._reflect(s)
                s.rows(sa.select(table.c[self.settings.mapping.key]).limit(1))
        except ConnectorError as exc:
            return Health(self.name, False, str(exc))
        mode = "delete allowed" if self.settings.allow_delete else "read only"
        return Health(self.name, True, f"table {self.settings.table} readable ({mode})")
