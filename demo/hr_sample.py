"""A small HR source for the demo and the tests: an `employees` table (any SQLAlchemy
database) or a CSV export of it, holding the sample estate's people.

Column names are the kind an HR system has, not MIM's, so the connector's mapping is
exercised: `emp_no` (key), `login`, `full_name`, `email`, plus personal data the bot
must show and erase (`birth_date`, `home_phone`, `department`).

The table also has what a retention sweep reads (`LEAVER_COLUMNS`): `end_date` (DATE,
NULL while employed) and `legal_hold` (text, NULL or a reason such as a case number).
They are not in `COLUMNS` (what the mapping shows and a CSV export holds by default), so
a table or export without leavers looks as before. `LEAVERS` are invented people who left
years ago, one of them on hold; the demo estate may add them to its table.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from connectors.base import IdKind
from connectors.hr.mapping import HrMapping

__all__ = [
    "COLUMNS",
    "LEAVERS",
    "LEAVER_COLUMNS",
    "MAPPING",
    "TABLE_COLUMNS",
    "Employee",
    "create_table",
    "write_csv",
]

COLUMNS = ("emp_no", "login", "full_name", "email", "department", "birth_date", "home_phone")
LEAVER_COLUMNS = ("end_date", "legal_hold")  # a retention rule's column, and a hold's
TABLE_COLUMNS = (*COLUMNS, *LEAVER_COLUMNS)
MAPPING = HrMapping(
    key="emp_no",
    identifiers={
        IdKind.EMPLOYEE_ID: "emp_no",
        IdKind.ACCOUNT: "login",
        IdKind.DISPLAY_NAME: "full_name",
        IdKind.MAIL: "email",
    },
    columns=COLUMNS,  # listed: by default `show` reads the identifier and search columns only
    search_columns=("department",),
)


@dataclass(frozen=True)
class Employee:
    emp_no: str
    login: str
    full_name: str
    email: str
    department: str = "Finance"
    birth_date: date = date(1980, 5, 17)
    home_phone: str = "+44 20 7946 0000"
    end_date: date | None = None  # the last day of employment; None while employed
    legal_hold: str | None = None  # why the record must be kept (a case), or None

    def row(self) -> dict[str, object]:
        return {c: getattr(self, c) for c in TABLE_COLUMNS}


# Invented leavers, HR only (no account elsewhere any more): end dates years in the past,
# so a rule of a year or two finds them; one is on hold for a legal case.
LEAVERS = (
    Employee("900001", "lv-hwright", "Harriet Wright", "", "Sales", end_date=date(2021, 3, 31)),
    Employee("900002", "lv-okaya", "Obi Okaya", "", "Logistics", end_date=date(2022, 9, 30)),
    Employee(
        "900003",
        "lv-mfontaine",
        "Mireille Fontaine",
        "",
        "Legal",
        end_date=date(2023, 6, 30),
        legal_hold="litigation 2026-044",
    ),
)


def table(metadata: sa.MetaData, name: str = "employees") -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("emp_no", sa.String(16), primary_key=True),
        sa.Column("login", sa.String(64)),
        sa.Column("full_name", sa.Unicode(256)),
        sa.Column("email", sa.String(256)),
        sa.Column("department", sa.Unicode(128)),
        sa.Column("birth_date", sa.Date),
        sa.Column("home_phone", sa.String(32)),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("legal_hold", sa.Unicode(256), nullable=True),
    )


def create_table(engine: sa.Engine, people: Iterable[Employee], name: str = "employees") -> None:
    """Create the table (replacing one of that name) and insert `people`."""
    metadata = sa.MetaData()
    t = table(metadata, name)
    metadata.drop_all(engine, tables=[t])
    metadata.create_all(engine, tables=[t])
    rows = [p.row() for p in people]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(t), rows)


def write_csv(
    path: Path,
    people: Sequence[Employee],
    *,
    delimiter: str = ",",
    columns: Sequence[str] = COLUMNS,
) -> Path:
    """An HR export file, as the feed writes it (UTF-8 with a byte-order mark): `columns`
    (`TABLE_COLUMNS` for one with the leavers' end dates and holds; an unset one empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        for p in people:
            writer.writerow({c: "" if v is None else v for c, v in p.row().items()})
    return path
