"""`inventory` of both kinds of HR source, for the data map: a SQL table on SQLite and on the
real PostgreSQL, and a folder of CSV exports. The mapped columns (the source's own for
`columns: ["*"]`), the rows counted, what keeps a person after an erasure, and no value of
any person anywhere in the answer."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.capabilities import describes_data
from connectors.datamap import SystemInventory, category_of
from connectors.errors import ConnectorError, Unreachable
from connectors.hr.csv_files import HrCsvConnector, HrCsvSettings
from connectors.hr.mapping import HrMapping
from connectors.hr.sql import HrConnector, HrSettings
from demo.hr_sample import COLUMNS, MAPPING, TABLE_COLUMNS, Employee, create_table, write_csv
from tests.support.ports import closed_port
from tests.support.postgres import fresh_database

T = 5.0
PEOPLE = [
    Employee(
        f"55{i:04d}",
        f"inv-login{i}",
        f"Peregrine Inventorson{i}",
        f"peregrine{i}@example.test",
        department="Cartography",
        birth_date=date(1971, 3, 9),
        home_phone=f"+44 20 7946 09{i:02d}",
    )
    for i in range(6)
]
MINIMAL = replace(MAPPING, columns=())  # `show` reads the identifiers and search columns
EVERY = replace(MAPPING, columns=("*",))


def values(people: list[Employee]) -> set[str]:
    out = set()
    for p in people:
        out |= {p.emp_no, p.login, p.full_name, p.email, p.department, p.home_phone}
        out.add(p.birth_date.isoformat())
    return out


def inventory(c: HrConnector | HrCsvConnector) -> SystemInventory:
    """`c`'s inventory, with `c` closed after (a pooled connection left to the collector
    would be an unraisable warning)."""
    try:
        return c.inventory(timeout=T)
    finally:
        c.close()


def assert_no_value(inv: SystemInventory, people: list[Employee]) -> None:
    text = repr(asdict(inv)).casefold()
    for v in values(people):
        assert v.casefold() not in text, v


# -- SQL ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hr_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hr.db'}"
    return fresh_database(request.getfixturevalue("postgres_admin_url"))


def sql(url: str, mapping: HrMapping = MAPPING, **overrides: object) -> HrConnector:
    return HrConnector(HrSettings(url=url, table="employees", mapping=mapping, **overrides))


@pytest.fixture
def hr(hr_url: str) -> Iterator[HrConnector]:
    engine = sa.create_engine(hr_url)
    create_table(engine, PEOPLE)
    engine.dispose()
    c = sql(hr_url)
    yield c
    c.close()


def test_the_table_is_named_with_its_dialect_and_its_rows_counted(hr: HrConnector) -> None:
    inv = hr.inventory(timeout=T)
    dialect = hr._engine.dialect.name
    assert inv.technology == f"SQL (SQLAlchemy, {dialect}) table employees"
    assert inv.persons == len(PEOPLE)
    assert (inv.system, inv.label, inv.notes) == ("hr", "HR", ())
    assert_no_value(inv, PEOPLE)


def test_the_database_version_is_the_servers(hr: HrConnector) -> None:
    version = hr.inventory(timeout=T).version
    if hr._engine.dialect.name == "sqlite":
        assert version == f"SQLite {sqlite3.sqlite_version}"
    else:
        assert version is not None and version.startswith("PostgreSQL 1")


def test_the_attributes_are_the_mapped_columns(hr: HrConnector) -> None:
    inv = hr.inventory(timeout=T)
    assert {a.name for a in inv.attributes} == set(COLUMNS)
    assert all(a.category is category_of(a.name) for a in inv.attributes)
    minimal = replace(hr.settings, mapping=MINIMAL)
    names = {a.name for a in inventory(HrConnector(minimal)).attributes}
    assert names == {"emp_no", "login", "full_name", "email", "department"}


def test_every_column_is_the_tables_own(hr_url: str) -> None:
    engine = sa.create_engine(hr_url)
    create_table(engine, PEOPLE)
    with engine.begin() as conn:  # a wide HR view's kind of column, mapped by "*"
        conn.execute(sa.text("ALTER TABLE employees ADD COLUMN salary_band VARCHAR(8)"))
        conn.execute(sa.text("UPDATE employees SET salary_band = 'B7-Q'"))
    engine.dispose()
    inv = inventory(sql(hr_url, EVERY))
    assert {a.name for a in inv.attributes} == {*TABLE_COLUMNS, "salary_band"}
    assert "b7-q" not in repr(asdict(inv)).casefold()


def test_an_empty_table_holds_no_one(hr_url: str) -> None:
    engine = sa.create_engine(hr_url)
    create_table(engine, [])
    engine.dispose()
    assert inventory(sql(hr_url)).persons == 0


def test_what_the_erasure_does_follows_allow_delete(hr: HrConnector) -> None:
    (by_hand,) = hr.inventory(timeout=T).kept
    assert by_hand.erasure == "erased by hand (manual step)"
    assert by_hand.what == "the person's row in employees" and by_hand.days is None
    (deleted,) = inventory(HrConnector(replace(hr.settings, allow_delete=True))).kept
    assert deleted.erasure == "deleted by the erasure"
    assert deleted.period.startswith("until")  # bounded by the erasure: not undated


def test_a_table_that_does_not_exist_raises(hr_url: str) -> None:
    engine = sa.create_engine(hr_url)
    create_table(engine, PEOPLE)
    engine.dispose()
    c = HrConnector(HrSettings(url=hr_url, table="no_such_table", mapping=MAPPING))
    with pytest.raises(ConnectorError, match="does not exist"):
        c.inventory(timeout=T)
    c.close()


def test_an_unreachable_database_raises() -> None:
    c = sql(f"postgresql+psycopg://hr@127.0.0.1:{closed_port()}/hr")
    with pytest.raises(Unreachable):
        c.inventory(timeout=T)
    c.close()


@pytest.mark.postgres
def test_a_count_past_the_timeout_is_unknown_and_the_rest_still_answers(
    postgres_admin_url: str,
) -> None:
    url = fresh_database(postgres_admin_url)
    engine = sa.create_engine(url)
    create_table(engine, PEOPLE)
    with engine.begin() as conn:  # a view that takes three seconds per read
        conn.execute(sa.text("CREATE VIEW slow AS SELECT e.* FROM employees e, pg_sleep(3) AS s"))
    engine.dispose()
    c = HrConnector(HrSettings(url=url, table="slow", mapping=MAPPING))
    started = time.monotonic()
    inv = c.inventory(timeout=1.0)
    assert time.monotonic() - started < 2.5
    c.close()
    assert inv.persons is None
    assert inv.technology.endswith("table slow") and inv.version
    (note,) = inv.notes
    assert note.startswith("the rows were not counted (TimedOut")


def test_the_sql_connector_describes_its_data(hr: HrConnector) -> None:
    assert describes_data(hr) is not None


# -- CSV ---------------------------------------------------------------------------


def exports(folder: Path, **settings: object) -> HrCsvConnector:
    return HrCsvConnector(
        HrCsvSettings(**{"folder": folder, "mapping": MAPPING, "settle_seconds": 0, **settings})
    )


def test_the_newest_export_is_counted_and_the_older_ones_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    older = write_csv(folder / "hr-2026-11-29.csv", PEOPLE[:3])
    newest = write_csv(folder / "hr-2026-11-30.csv", PEOPLE)
    stamp = time.time()
    os.utime(older, (stamp - 86400, stamp - 86400))
    os.utime(newest, (stamp - 60, stamp - 60))
    inv = inventory(exports(folder))
    assert inv.technology == f"CSV exports in {folder} matching *.csv"
    assert inv.persons == len(PEOPLE)  # the newest file's rows, not the older one's
    assert inv.notes == ("2 export file(s) match *.csv; the newest is read",)
    record, files = inv.kept
    assert files.what == f"the HR feed's older export files in {folder}"
    assert (files.period, files.days) == ("no date", None)
    assert files.erasure == "kept until the feed removes them (no date)"
    assert record.erasure.startswith("erased by hand in HR (manual step)")
    assert {a.name for a in inv.attributes} == set(COLUMNS)
    assert inv.version is None
    assert_no_value(inv, PEOPLE)


def test_every_column_is_the_exports_header(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    header = ",".join((*COLUMNS, "bank_iban"))
    row = "550001,inv-x,Peregrine X,p@example.test,Cartography,1971-03-09,+44,GB00TEST"
    (folder / "hr.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    inv = inventory(exports(folder, mapping=EVERY))
    assert {a.name for a in inv.attributes} == {*COLUMNS, "bank_iban"}
    assert inv.persons == 1
    assert "gb00test" not in repr(asdict(inv)).casefold()
    assert inv.notes == ("1 export file(s) match *.csv; the newest is read, and no older one"
                         " is there now",)  # fmt: skip


def test_a_malformed_export_leaves_the_count_unknown_with_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    header = ",".join(COLUMNS)
    good = "550001,inv-x,Peregrine X,p@example.test,Cartography,1971-03-09,+44"
    (folder / "hr.csv").write_text(f"{header}\n{good}\n{good},extra-field\n", encoding="utf-8")
    inv = inventory(exports(folder))
    assert inv.persons is None
    assert inv.notes[1].startswith("the rows were not counted (hr: line 3 of the export")
    assert {a.name for a in inv.attributes} == set(COLUMNS)  # from the mapping still
    text = repr(asdict(inv)).casefold()
    assert "peregrine" not in text and "extra-field" not in text


def test_no_export_raises(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(Unreachable):
        exports(tmp_path / "empty").inventory(timeout=T)
    with pytest.raises(Unreachable):
        exports(tmp_path / "no-such-folder").inventory(timeout=T)


def test_the_csv_connector_describes_its_data(tmp_path: Path) -> None:
    assert describes_data(exports(tmp_path)) is not None
