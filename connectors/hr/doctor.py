"""`doctor` for both kinds of HR source: what the connector assumes about the table, view or
export file, checked read-only (connectors/doctor.py). Details name columns, files and
counts, never a value from a row.

A header-only export (or an empty table) is CANNOT_TELL, not WRONG: the file is well
formed and the doctor cannot see HR itself to know whether it is empty. It is not OK
either: from an empty source every erasure's `verify_absent` answers "absent", so the
fix says what to check.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from connectors.doctor import Check, Verdict, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable
from connectors.hr.mapping import HrMapping

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager
    from pathlib import Path

    from connectors._shared.sql import Session


class _SqlSettings(Protocol):
    table: str
    mapping: HrMapping


class HrConnector(Protocol):
    """What the SQL checks use of connectors/hr/sql.py's connector (a protocol, so that the
    connector may import this module)."""

    @property
    def settings(self) -> _SqlSettings: ...

    def _session(
        self, timeout: float, *, write: bool = False
    ) -> AbstractContextManager[Session]: ...


class _CsvSettings(Protocol):
    pattern: str
    encoding: str
    delimiter: str
    mapping: HrMapping


class HrCsvConnector(Protocol):
    """What the CSV checks use of connectors/hr/csv_files.py's connector."""

    @property
    def settings(self) -> _CsvSettings: ...

    def newest_export(self) -> Path: ...

    def parse_export(self, path: Path) -> list[Mapping[str, str]]: ...


__all__ = ["csv_doctor", "sql_doctor"]

_EMPTY_FIX = (
    "check the HR {what}'s last run: while it holds nobody, every erasure is verified"
    " absent from HR"
)


def _columns_check(mapping: HrMapping, have: Iterable[str], where: str) -> Check:
    name = "the configured HR columns exist"
    have = set(have)
    missing = sorted(mapping.wanted() - have)
    if missing:
        return wrong(
            name,
            f"the {where} has no column {', '.join(missing)}",
            "correct key, identifiers, columns or search_columns in connectors.hr to the"
            f" {where}'s column names (they are case-sensitive)",
        )
    return ok(name, f"{len(mapping.wanted())} columns: {', '.join(sorted(mapping.wanted()))}")


def _key_check(mapping: HrMapping, have: Iterable[str], where: str, unique: str) -> Check:
    name = f"the key column '{mapping.key}' is there"
    if mapping.key not in set(have):
        return wrong(
            name,
            f"the {where} has no column {mapping.key}",
            "set connectors.hr.key to the column that identifies one employee",
        )
    return ok(name, unique)


# ---------------------------------------------------------------- SQL


def _sql_fix(exc: ConnectorError) -> str:
    if isinstance(exc, Denied):
        return "give the bot's account SELECT on the HR table or view"
    if isinstance(exc, Unreachable | TimedOut):
        return "check connectors.hr.url (host, port, database) and the network path to it"
    return "check connectors.hr.url and table"


def _uniqueness(inspector: sa.Inspector, name: str, schema: str | None, key: str) -> str:
    """How the database says the key is unique (a view declares nothing)."""
    try:
        if inspector.get_pk_constraint(name, schema).get("constrained_columns") == [key]:
            return "the primary key"
        for u in inspector.get_unique_constraints(name, schema):
            if u.get("column_names") == [key]:
                return "unique (a unique constraint)"
        for i in inspector.get_indexes(name, schema):
            if i.get("unique") and i.get("column_names") == [key]:
                return "unique (a unique index)"
    except (NotImplementedError, sa.exc.SQLAlchemyError):
        pass  # a view, or a dialect that does not say: the connector checks each read
    return "no uniqueness declared (a view?): a key held by several rows is refused when read"


def sql_doctor(connector: HrConnector, *, timeout: float) -> list[Check]:
    settings = connector.settings
    deadline = time.monotonic() + timeout
    table_name = "the HR table or view exists"
    schema, _, name = settings.table.rpartition(".")
    try:
        with connector._session(timeout) as s:
            inspector = sa.inspect(s.conn)
            try:
                table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=s.conn)
            except sa.exc.NoSuchTableError:
                return [
                    wrong(
                        table_name,
                        f"no table or view {settings.table}",
                        "set connectors.hr.table to the HR table or view (schema.table)",
                    )
                ]
            have = list(table.c.keys())
            unique = _uniqueness(inspector, name, schema or None, settings.mapping.key)
            rows = None
            if settings.mapping.key in have and time.monotonic() < deadline:
                rows = s.rows(sa.select(table.c[settings.mapping.key]).limit(1))
    except ConnectorError as exc:
        return [cannot_tell(table_name, f"{type(exc).__name__}: {exc}", _sql_fix(exc))]
    checks = [
        ok(table_name, f"{settings.table}: {len(have)} columns"),
        _columns_check(settings.mapping, have, "table"),
        _key_check(settings.mapping, have, "table", f"{settings.mapping.key}: {unique}"),
    ]
    data = "the HR table holds rows"
    if rows is None:
        why = "no key column to read" if settings.mapping.key not in have else "no time left"
        checks.append(cannot_tell(data, why, "see the key column check"))
    elif not rows:
        checks.append(cannot_tell(data, "the table is empty", _EMPTY_FIX.format(what="feed")))
    else:
        checks.append(ok(data, "at least one row"))
    return checks


# ---------------------------------------------------------------- CSV


def csv_doctor(connector: HrCsvConnector, *, timeout: float) -> list[Check]:
    """The newest export: there, a header with the configured columns, parses, holds rows.
    Local files: `timeout` bounds nothing here (the read is the connector's own)."""
    settings = connector.settings
    files_name = f"an export file matches {settings.pattern}"
    try:
        newest = connector.newest_export()
    except ConnectorError as exc:
        return [
            wrong(
                files_name,
                str(exc),
                "set connectors.hr.folder and pattern to where the HR feed writes its exports",
            )
        ]
    checks = [ok(files_name, f"newest: {newest.name}")]
    try:
        with newest.open(newline="", encoding=settings.encoding) as f:
            header = next(csv.reader(f, delimiter=settings.delimiter, strict=True), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        checks.append(
            wrong(
                "the export's header reads",
                f"{type(exc).__name__} reading the header",
                f"check the export's encoding ({settings.encoding}) and delimiter",
            )
        )
        return checks
    columns = _columns_check(settings.mapping, header, "export")
    checks.append(columns)
    key = settings.mapping.key
    where = f"column {header.index(key) + 1} of the header" if key in header else ""
    checks.append(_key_check(settings.mapping, header, "export", where))
    parse = "the newest export parses"
    if columns.verdict is not Verdict.OK:  # the connector refuses such a file whole
        checks.append(cannot_tell(parse, "not read: columns are missing", "see the columns check"))
        return checks
    try:
        rows = connector.parse_export(newest)
    except ConnectorError as exc:
        checks.append(
            wrong(parse, str(exc), "fix the HR feed's export (the line named), or its settings")
        )
        return checks
    if not rows:
        checks.append(cannot_tell(parse, "a header and no rows", _EMPTY_FIX.format(what="feed")))
    else:
        checks.append(ok(parse, f"{len(rows)} rows"))
    return checks
