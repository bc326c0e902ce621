"""`inventory` for both kinds of HR source: what HR holds about persons, for the data map
(connectors/datamap.py). From the mapping, the table's or export's column names and a
count of rows: no row's value is read into it (the SQL count is `COUNT(*)`; the CSV count
is the parsed export's length, whose values stay in the connector).

The version is the database's (`PostgreSQL 16.4`), where the driver reports it: the HR
product behind the table or the export is not visible to the bot.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from connectors.datamap import KeptCopy, SystemInventory, held
from connectors.errors import ConnectorError, Unreachable
from connectors.hr.mapping import HrMapping

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager
    from pathlib import Path

    from connectors._shared.sql import Session

__all__ = ["csv_inventory", "sql_inventory"]

# The products' own names for SQLAlchemy's dialect names.
_PRODUCTS = {
    "postgresql": "PostgreSQL",
    "mssql": "SQL Server",
    "sqlite": "SQLite",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "oracle": "Oracle",
}


class _SqlSettings(Protocol):
    table: str
    mapping: HrMapping
    allow_delete: bool


class HrConnector(Protocol):
    """What the SQL inventory uses of connectors/hr/sql.py's connector."""

    name: str
    label: str

    @property
    def settings(self) -> _SqlSettings: ...

    def _session(
        self, timeout: float, *, write: bool = False
    ) -> AbstractContextManager[Session]: ...

    def _reflect(self, s: Session) -> sa.Table: ...


class _CsvSettings(Protocol):
    folder: Path
    pattern: str
    encoding: str
    delimiter: str
    mapping: HrMapping


class HrCsvConnector(Protocol):
    """What the CSV inventory uses of connectors/hr/csv_files.py's connector."""

    name: str
    label: str

    @property
    def settings(self) -> _CsvSettings: ...

    def newest_export(self) -> Path: ...

    def exports(self) -> list[Path]: ...

    def _rows(self) -> list[Mapping[str, str]]: ...


def _columns(mapping: HrMapping, available: Iterable[str]) -> list[str]:
    """What the mapping reads: the key, identifiers, columns and search columns, and every
    column of the source when `columns` is `*`."""
    every = list(available) if mapping.every_column else []
    return [*sorted(mapping.wanted()), *every]


def sql_inventory(connector: HrConnector, *, timeout: float) -> SystemInventory:
    """The table's inventory. A table that cannot be reached, does not exist or lacks a
    configured column raises, as a search would; a count that does not finish in time
    (a slow view) is left unknown with a note."""
    s = connector.settings
    deadline = time.monotonic() + timeout
    with connector._session(timeout) as session:
        table = connector._reflect(session)
        dialect = session.conn.dialect.name
        version = _server_version(session.conn)
    notes: list[str] = []
    persons: int | None = None
    left = deadline - time.monotonic()
    if left <= 0:
        notes.append(f"the rows were not counted: no time left within {timeout:g} s")
    else:
        try:
            with connector._session(left) as session:
                persons = int(session.rows(sa.select(sa.func.count()).select_from(table))[0][0])
        except Unreachable:
            raise
        except ConnectorError as exc:  # sql_errors' texts name the error, never a value
            notes.append(f"the rows were not counted ({type(exc).__name__}: {exc})")
    row = f"the person's row in {s.table}"
    kept = (
        KeptCopy(row, "until the erasure deletes it", "deleted by the erasure")
        if s.allow_delete
        else KeptCopy(row, "until erased by hand in HR", "erased by hand (manual step)")
    )
    return SystemInventory(
        system=connector.name,
        label=connector.label,
        technology=f"SQL (SQLAlchemy, {dialect}) table {s.table}",
        attributes=held(_columns(s.mapping, table.c.keys())),
        persons=persons,
        version=version,
        kept=(kept,),
        notes=tuple(notes),
    )


def _server_version(conn: sa.Connection) -> str | None:
    info = conn.dialect.server_version_info
    if not info:
        return None
    name = conn.dialect.name
    return f"{_PRODUCTS.get(name, name)} {'.'.join(str(p) for p in info)}"


def csv_inventory(connector: HrCsvConnector, *, timeout: float) -> SystemInventory:
    """The export folder's inventory. No export file (or no folder) raises `Unreachable`,
    as a search would; an export that cannot be parsed leaves the count unknown, with the
    parser's note (a line or column number, never a value). A local file: `timeout` is not
    needed to bound it."""
    s = connector.settings
    newest = connector.newest_export()  # Unreachable when there is none
    files = len(connector.exports())
    notes = [
        f"{files} export file(s) match {s.pattern}; the newest is read"
        + ("" if files > 1 else ", and no older one is there now")
    ]
    header: list[str] = []
    if s.mapping.every_column:
        try:
            header = _header(newest, s)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            notes.append(f"the export's header could not be read ({type(exc).__name__})")
    persons: int | None = None
    try:
        persons = len(connector._rows())  # parsed once per change of the file
    except Unreachable:
        raise
    except ConnectorError as exc:  # the connector's parse errors name lines, never values
        notes.append(f"the rows were not counted ({exc})")
    return SystemInventory(
        system=connector.name,
        label=connector.label,
        technology=f"CSV exports in {s.folder} matching {s.pattern}",
        attributes=held(_columns(s.mapping, header)),
        persons=persons,
        kept=(
            KeptCopy(
                "the person's record in HR, read from its newest export",
                "until erased by hand in HR",
                "erased by hand in HR (manual step); the next export must no longer hold it",
            ),
            KeptCopy(
                f"the HR feed's older export files in {s.folder}",
                "no date",
                "kept until the feed removes them (no date)",
            ),
        ),
        notes=tuple(notes),
    )


def _header(path: Path, s: _CsvSettings) -> list[str]:
    with path.open(newline="", encoding=s.encoding) as f:
        return next(csv.reader(f, delimiter=s.delimiter), [])  # as the parser names them
