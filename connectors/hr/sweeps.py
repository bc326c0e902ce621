"""Retention sweeps in HR: the leavers whose employment ended before a rule's cutoff
(`Population.ENDED`, the end date in `rule.column`) and the rows on hold (`HoldQuery.column`).

Both kinds of source answer; a column the table or export does not have is refused
(`NotSupported`, naming it), so a name in app.yaml never reaches SQL text other than as a
reflected column of the table.

End dates are compared as days: a row is a candidate when its end date's day is before
the cutoff's day (UTC), so the cutoff day itself is never included.
- SQL: a DATE column compared with the cutoff day, a DATETIME (TIMESTAMP) column with
  midnight of it, both bound parameters. On SQLite, where a column of any declared type
  may hold text, the value is read as text and must look like an ISO-8601 date
  (`YYYY-MM-DD`, optionally followed by a time, as SQLAlchemy and most exports write
  it): compared as text with the cutoff day (ISO dates sort as they compare). A value of
  another form (`31/12/2020`, a number) is never a candidate. A text column on another
  database is refused: the sweep would have to guess its format.
- CSV: the cell must be an ISO-8601 date in the same way; an empty cell is no end date.
A value that has the ISO shape but is not a date (`2024-13-45`) is skipped and counted in
a warning (no value logged). The table is read in pages by its key (keyset: `key > last`),
each page in its own read-only transaction within the timeout; the CSV export is read
whole, as every call of that kind does.

A hold is set when the column holds anything but NULL, an empty (or blank) text, or
`0`, `false`, `no`, `n` (any case): a reason ("litigation 2026-044"), yes, true, 1, a
date all hold. In doubt, held: a hold protects a person from erasure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from connectors.base import IdKind
from connectors.errors import NotSupported
from connectors.hr.mapping import hit_from_row
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule

if TYPE_CHECKING:
    import contextlib

    from connectors._shared.sql import Session
    from connectors.hr.mapping import HrMapping


class _SqlSettings(Protocol):
    mapping: HrMapping
    page_size: int


class HrConnector(Protocol):
    """What the SQL queries use of connectors/hr/sql.py's connector (a protocol, so that the
    connector may import this module)."""

    name: str

    @property
    def settings(self) -> _SqlSettings: ...

    def session(self, timeout: float) -> contextlib.AbstractContextManager[Session]: ...

    def reflect(self, s: Session) -> sa.Table: ...


class _CsvSettings(Protocol):
    mapping: HrMapping


class HrCsvConnector(Protocol):
    """What the CSV queries use of connectors/hr/csv_files.py's connector."""

    name: str

    @property
    def settings(self) -> _CsvSettings: ...

    def export_rows(self) -> list[Mapping[str, str]]: ...


__all__ = [
    "POPULATIONS",
    "UNSET",
    "csv_ended",
    "csv_holds",
    "ended_condition",
    "hold_condition",
    "is_set",
    "sql_ended",
    "sql_holds",
]

log = logging.getLogger(__name__)

POPULATIONS = frozenset({Population.ENDED})
# What a hold column holds when no hold is set (compared trimmed, case-insensitively).
UNSET = ("", "0", "false", "no", "n")
_ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"  # SQLite GLOB: YYYY-MM-DD...
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_END = "mimbot_end_date"  # the end date's label in a sweep's SELECT
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .$#-]{0,63}")


def _shown(name: str) -> str:
    """A configured column name for a message (quoted), or nothing when it is odd."""
    return f"'{name}'" if _SAFE_NAME.fullmatch(name) else "of that name"


def _column(system: str, available: Sequence[str], name: str | None, what: str) -> str:
    """The source's own spelling of column `name`; `NotSupported` when it has none."""
    if not name:
        raise NotSupported(f"{system}: {what} needs a column")
    if name in available:
        return name
    folded = [c for c in available if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise NotSupported(f"{system}: there is no column {_shown(name)} for {what}")


def _ended_rule(system: str, rule: StaleRule) -> None:
    if rule.population is not Population.ENDED:
        raise NotSupported(f"{system}: HR cannot find the {rule.population.value} population")


def _cutoff_day(rule: StaleRule, now: datetime) -> date:
    cutoff = rule.cutoff(now)
    return (cutoff if cutoff.tzinfo is None else cutoff.astimezone(UTC)).date()


def _day(value: Any) -> date | None:
    """An end date as a day: a date, a datetime, or text starting with an ISO date."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is None else value.astimezone(UTC)).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO.match(value.strip()):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _since(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def is_set(value: Any) -> bool:
    """Does a hold column's value hold the person (see the module docstring)?"""
    if value is None or value is False:
        return False
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().casefold() not in UNSET


# ---------------------------------------------------------------- SQL


def ended_condition(
    column: sa.ColumnElement[Any], dialect: str, cutoff: date
) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[bool]]:
    """(what to select as the end date, the condition) for an end-date `column`;
    `NotSupported` for a column that holds no date this sweep can compare."""
    if dialect == "sqlite":
        as_text = sa.cast(column, sa.String)  # read as stored: no date parsing of odd text
        shape = as_text.op("GLOB")(sa.bindparam("iso_shape", _ISO_GLOB, type_=sa.String))
        before = as_text < sa.bindparam("cutoff", cutoff.isoformat(), type_=sa.String)
        return as_text, sa.and_(column.is_not(None), shape, before)
    kind = column.type
    if isinstance(kind, sa.DateTime):
        midnight = datetime.combine(cutoff, time())
        if getattr(kind, "timezone", False):
            midnight = midnight.replace(tzinfo=UTC)
        bound = sa.bindparam("cutoff", midnight, type_=kind)
        return column, sa.and_(column.is_not(None), column < bound)
    if isinstance(kind, sa.Date):
        bound = sa.bindparam("cutoff", cutoff, type_=kind)
        return column, sa.and_(column.is_not(None), column < bound)
    raise NotSupported(
        "HR: the end-date column is not a DATE or DATETIME column (text end dates are read"
        " on SQLite only)"
    )


def hold_condition(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[bool]:
    """Rows whose hold `column` is set, by its type (text, a flag, a number, a date)."""
    kind = column.type
    if dialect != "sqlite" and isinstance(kind, sa.Boolean):
        return column.is_(True)
    if dialect != "sqlite" and isinstance(kind, sa.Integer | sa.Numeric):
        return sa.and_(column.is_not(None), column != 0)
    if dialect == "sqlite" or isinstance(kind, sa.String):
        # SQLite: any column may hold text, so every value is tested as text there.
        text = sa.func.lower(sa.func.ltrim(sa.func.rtrim(sa.cast(column, sa.String))))
        return sa.and_(column.is_not(None), text.not_in(UNSET))
    return column.is_not(None)  # a date or anything else: set when present


def sql_ended(
    connector: HrConnector, rule: StaleRule, *, now: datetime, timeout: float
) -> Iterator[Candidate]:
    """The rows of `rule`'s leavers, keyset-paged. The rule is checked against the table at
    the call (`NotSupported` then), the pages are read as the caller consumes them."""
    _ended_rule(connector.name, rule)
    cutoff = _cutoff_day(rule, now)
    with connector.session(timeout) as s:
        table = connector.reflect(s)
        dialect = s.conn.dialect.name
    name = _column(connector.name, list(table.c.keys()), rule.column, "the end date")
    end, condition = ended_condition(table.c[name], dialect, cutoff)

    def candidates() -> Iterator[Candidate]:
        skipped = 0
        mapping = connector.settings.mapping
        for row in _pages(connector, table, [end.label(_END)], condition, timeout):
            day = _day(row[_END])
            if day is None:
                skipped += 1
                continue
            if day >= cutoff:  # the database compared as text or in its own way: not old
                continue
            hit = hit_from_row(connector.name, row, mapping)
            yield Candidate(hit.ref, hit.identifiers, hit.label, since=_since(day))
        if skipped:
            log.warning("%s: %d end date(s) look like ISO but are no date", connector.name, skipped)

    return candidates()


def sql_holds(
    connector: HrConnector, query: HoldQuery, *, timeout: float
) -> Iterator[Mapping[IdKind, str]]:
    """The identifiers of each row whose hold column is set, keyset-paged."""
    if query.group is not None or query.column is None:
        raise NotSupported(f"{connector.name}: HR holds are a column of the table, not a group")
    with connector.session(timeout) as s:
        table = connector.reflect(s)
        dialect = s.conn.dialect.name
    name = _column(connector.name, list(table.c.keys()), query.column, "a hold")
    condition = hold_condition(table.c[name], dialect)
    mapping = connector.settings.mapping
    rows = _pages(connector, table, [], condition, timeout)
    return (hit_from_row(connector.name, row, mapping).identifiers for row in rows)


def _pages(
    connector: HrConnector,
    table: sa.Table,
    extra: list[sa.ColumnElement[Any]],
    condition: sa.ColumnElement[bool],
    timeout: float,
) -> Iterator[Mapping[str, Any]]:
    """Rows matching `condition`, by key, one page per read-only transaction."""
    mapping = connector.settings.mapping
    key = table.c[mapping.key]
    columns = [table.c[c] for c in sorted(mapping.identity_columns())]
    page = connector.settings.page_size
    base = sa.select(*columns, *extra).where(condition).order_by(key).limit(page)
    after: Any = None
    while True:
        later = key > sa.bindparam("after", after, type_=key.type)
        stmt = base if after is None else base.where(later)
        with connector.session(timeout) as s:
            rows = [r._mapping for r in s.rows(stmt)]
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1][mapping.key]


# ---------------------------------------------------------------- CSV


def csv_ended(connector: HrCsvConnector, rule: StaleRule, *, now: datetime) -> Iterator[Candidate]:
    """The newest export's leavers (read whole, as every call of that kind does)."""
    _ended_rule(connector.name, rule)
    cutoff = _cutoff_day(rule, now)
    rows, name = _csv_rows(connector, rule.column, "the end date")
    found: list[Candidate] = []
    skipped = 0
    mapping = connector.settings.mapping
    for row in rows:
        cell = (row.get(name) or "").strip() if name else ""
        if not cell:
            continue
        day = _day(cell)
        if day is None:
            skipped += 1
        elif day < cutoff:
            hit = hit_from_row(connector.name, row, mapping)
            found.append(Candidate(hit.ref, hit.identifiers, hit.label, since=_since(day)))
    if skipped:
        log.warning("%s: %d end date(s) are not ISO-8601 dates", connector.name, skipped)
    return iter(sorted(found, key=lambda c: c.ref.id))


def csv_holds(connector: HrCsvConnector, query: HoldQuery) -> Iterator[Mapping[IdKind, str]]:
    """The identifiers of each row of the newest export whose hold column is set."""
    if query.group is not None or query.column is None:
        raise NotSupported(f"{connector.name}: HR holds are a column of the export, not a group")
    rows, name = _csv_rows(connector, query.column, "a hold")
    mapping = connector.settings.mapping
    held = [r for r in rows if name and is_set(r.get(name))]
    return iter([hit_from_row(connector.name, r, mapping).identifiers for r in held])


def _csv_rows(
    connector: HrCsvConnector, column: str | None, what: str
) -> tuple[list[Mapping[str, str]], str | None]:
    """The newest export's rows and its spelling of `column` (None: no rows to check)."""
    rows = connector.export_rows()
    if not rows:
        return [], None
    return rows, _column(connector.name, list(rows[0]), column, what)
