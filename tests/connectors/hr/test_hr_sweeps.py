"""Retention sweeps in HR on SQLite, the real PostgreSQL and CSV exports: the leavers past a
rule's cutoff (end dates compared as days, paged by key) and the rows on hold."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import IdKind
from connectors.capabilities import finds_stale, knows_holds
from connectors.errors import NotSupported
from connectors.hr.csv_files import HrCsvConnector, HrCsvSettings
from connectors.hr.mapping import HrMapping
from connectors.hr.sql import HrConnector, HrSettings
from connectors.hr.sweeps import is_set
from connectors.sweeps import HoldQuery, Population, StaleRule
from demo.hr_sample import LEAVERS, MAPPING, TABLE_COLUMNS, Employee, create_table, write_csv
from tests.support.postgres import fresh_database

T = 5.0
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
TWO_YEARS = timedelta(days=730)  # cutoff 2024-12-01 09:30 UTC: the day 2024-12-01
STAFF = [
    Employee("880001", "sw-anna", "Anna Staff", "anna@example.test"),
    Employee("880002", "sw-ben", "Ben Staff", "ben@example.test", legal_hold=""),
    # Left recently, and on the cutoff day itself: neither is old enough.
    Employee("880003", "sw-cleo", "Cleo Recent", "", end_date=date(2026, 10, 31)),
    Employee("880004", "sw-dev", "Dev Boundary", "", end_date=date(2024, 12, 1)),
    # The day before the cutoff's day is old enough.
    Employee("880005", "sw-eve", "Eve Before", "", end_date=date(2024, 11, 30), legal_hold="No"),
]
OLD = ["900001", "900002", "900003", "880005"]
HOLD_VALUES = {
    "litigation 2026-044": True,
    "yes": True,
    "TRUE": True,
    "1": True,
    "N/A": True,  # not one of the unset words: held (in doubt, held)
    None: False,
    "": False,
    "   ": False,
    "No": False,
    "n": False,
    "FALSE": False,
    "0": False,
}
ENDED = StaleRule("leavers", "hr", Population.ENDED, TWO_YEARS, column="end_date")
HOSTILE = (
    "end_date; DROP TABLE employees",
    "end_date) OR (1=1",
    "end_date' --",
    'end_date"',
    "*",
    "",
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hr_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hr.db'}"
    return fresh_database(request.getfixturevalue("postgres_admin_url"))


def sql(url: str, people: list[Employee], **overrides: object) -> HrConnector:
    engine = sa.create_engine(url)
    create_table(engine, people)
    engine.dispose()
    return HrConnector(HrSettings(url=url, table="employees", mapping=MAPPING, **overrides))


@pytest.fixture
def hr(hr_url: str) -> Iterator[HrConnector]:
    c = sql(hr_url, [*STAFF, *LEAVERS])
    yield c
    c.close()


def csv_connector(folder: Path, people: list[Employee]) -> HrCsvConnector:
    write_csv(folder / "hr.csv", people, columns=TABLE_COLUMNS)
    return HrCsvConnector(HrCsvSettings(folder=folder, mapping=MAPPING, settle_seconds=0))


Source = HrConnector | HrCsvConnector


def held(c: Source, column: str, kind: IdKind = IdKind.EMPLOYEE_ID) -> list[str]:
    return [i[kind] for i in c.on_hold(HoldQuery(column=column), timeout=T)]


@pytest.fixture(params=["sql", "csv"])
def source(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[HrConnector | HrCsvConnector]:
    if request.param == "sql":
        c: HrConnector | HrCsvConnector = sql(f"sqlite:///{tmp_path / 'hr.db'}", [*STAFF, *LEAVERS])
    else:
        c = csv_connector(tmp_path, [*STAFF, *LEAVERS])
    yield c
    c.close()


def keys(candidates) -> list[str]:
    return [c.ref.id for c in candidates]


def test_both_kinds_find_stale_and_know_holds(source) -> None:
    assert finds_stale(source) is source and knows_holds(source) is source
    assert source.populations == {Population.ENDED}


def test_the_leavers_past_the_cutoff_day_are_found(source) -> None:
    found = list(source.stale(ENDED, now=NOW, timeout=T))
    assert sorted(keys(found)) == sorted(OLD)
    by_key = {c.ref.id: c for c in found}
    harriet = by_key["900001"]
    assert harriet.ref.system == "hr"
    assert harriet.since == datetime(2021, 3, 31, tzinfo=UTC)
    assert harriet.label == "Harriet Wright (lv-hwright)"
    assert harriet.identifiers == {
        IdKind.EMPLOYEE_ID: "900001",
        IdKind.ACCOUNT: "lv-hwright",
        IdKind.DISPLAY_NAME: "Harriet Wright",
    }  # the empty mail is no identifier
    # A day later the boundary's leaver is old enough too; the recent one still is not.
    later = list(source.stale(ENDED, now=NOW + timedelta(days=1), timeout=T))
    assert sorted(keys(later)) == sorted([*OLD, "880004"])


def test_the_table_is_read_page_by_page_in_key_order(hr_url: str) -> None:
    hr = sql(hr_url, [*STAFF, *LEAVERS], page_size=2)
    statements: list[str] = []
    sa.event.listen(hr._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        found = keys(hr.stale(ENDED, now=NOW, timeout=T))
        assert found == sorted(OLD)  # keyset by emp_no, each row once
        pages = [s for s in statements if "mimbot_end_date" in s]
        assert len(pages) == 3  # 2 + 2 + an empty last page
        sweep = hr.stale(ENDED, now=NOW, timeout=T)
        assert next(sweep).ref.id == "880005"
        sweep.close()  # a caller may stop: nothing is held between pages
        held = [
            i[IdKind.EMPLOYEE_ID] for i in hr.on_hold(HoldQuery(column="legal_hold"), timeout=T)
        ]
        assert held == ["900003"]
    finally:
        hr.close()


@pytest.mark.parametrize("column", [*HOSTILE, "nope", None])
def test_a_column_the_table_does_not_have_is_refused(source, column) -> None:
    rule = replace(ENDED, column=column)
    with pytest.raises(NotSupported) as info:
        source.stale(rule, now=NOW, timeout=T)  # at the call, before the first candidate
    if column == "nope":
        assert "'nope'" in str(info.value)
    with pytest.raises(NotSupported):
        source.on_hold(HoldQuery(column=column), timeout=T)
    # Nothing ran: the table and its rows are all there.
    assert len(list(source.stale(ENDED, now=NOW, timeout=T))) == len(OLD)


def test_a_column_spelled_in_another_case_is_the_tables(source) -> None:
    rule = replace(ENDED, column="END_DATE")
    assert sorted(keys(source.stale(rule, now=NOW, timeout=T))) == sorted(OLD)


def test_another_population_or_a_group_hold_is_refused(source) -> None:
    for population in (Population.DISABLED, Population.INACTIVE, Population.UNJOINED):
        with pytest.raises(NotSupported):
            source.stale(replace(ENDED, population=population), now=NOW, timeout=T)
    with pytest.raises(NotSupported):
        source.on_hold(HoldQuery(group="CN=Legal hold,DC=corp"), timeout=T)


def test_holds_are_the_rows_whose_column_is_set(tmp_path: Path, hr_url: str) -> None:
    people = [
        Employee(f"77{i:04d}", f"sw-h{i}", f"Held {i}", "", legal_hold=value)
        for i, value in enumerate(HOLD_VALUES)
    ]
    expected = sorted(p.emp_no for p, h in zip(people, HOLD_VALUES.values(), strict=True) if h)
    hr = sql(hr_url, people, page_size=3)
    exports = csv_connector(tmp_path, people)
    try:
        for c in (hr, exports):
            held = [
                i[IdKind.EMPLOYEE_ID] for i in c.on_hold(HoldQuery(column="legal_hold"), timeout=T)
            ]
            assert sorted(held) == expected, type(c).__name__
    finally:
        hr.close()
        exports.close()
    assert [is_set(v) for v in HOLD_VALUES] == list(HOLD_VALUES.values())
    assert is_set(True) and not is_set(False) and not is_set(0) and is_set(2)


def test_the_demo_leaver_on_hold_is_held(source) -> None:
    assert held(source, "legal_hold", IdKind.ACCOUNT) == ["lv-mfontaine"]


def _odd_table(url: str, end_type: sa.types.TypeEngine, values: list[object]) -> HrConnector:
    """A table whose end-date column has its own type and values, one row each."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = sa.Table(
        "leavers",
        metadata,
        sa.Column("emp_no", sa.String(16), primary_key=True),
        sa.Column("login", sa.String(64)),
        sa.Column("left_on", end_type),
        sa.Column("hold_flag", sa.Boolean),
        sa.Column("hold_count", sa.Integer),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table),
            [
                {"emp_no": f"{i:03d}", "login": f"odd{i}", "left_on": v, "hold_flag": i % 2 == 0,
                 "hold_count": i % 3}
                for i, v in enumerate(values)
            ],
        )  # fmt: skip
    engine.dispose()
    mapping = HrMapping(key="emp_no", identifiers={IdKind.ACCOUNT: "login"})
    return HrConnector(HrSettings(url=url, table="leavers", mapping=mapping))


def test_datetime_end_dates_are_compared_by_day(hr_url: str) -> None:
    values = [
        datetime(2024, 11, 30, 23, 59, 59),  # the day before the cutoff's day: found
        datetime(2024, 12, 1, 0, 0, 0),  # the cutoff's day: not yet
        datetime(2024, 12, 1, 8, 0, 0),  # before the cutoff's time, on its day: not yet
        None,
    ]
    hr = _odd_table(hr_url, sa.DateTime, values)
    try:
        rule = replace(ENDED, column="left_on")
        found = list(hr.stale(rule, now=NOW, timeout=T))
        assert keys(found) == ["000"]
        assert found[0].since == datetime(2024, 11, 30, tzinfo=UTC)
    finally:
        hr.close()


def test_typed_hold_columns_flag_and_number(hr_url: str) -> None:
    hr = _odd_table(hr_url, sa.Date, [None] * 6)
    try:
        assert held(hr, "hold_flag", IdKind.ACCOUNT) == ["odd0", "odd2", "odd4"]
        assert held(hr, "hold_count", IdKind.ACCOUNT) == ["odd1", "odd2", "odd4", "odd5"]
    finally:
        hr.close()


def test_iso_text_end_dates_on_sqlite(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    values = [
        "2020-01-31",
        "2020-01-31T17:00:00",
        " 2020-01-31",  # a leading space: not ISO, never a candidate
        "31/01/2020",
        "",
        "n/a",
        "2020-13-45",  # ISO's shape, no date: skipped, counted in a warning
        "2026-01-31",
        20200131,
    ]
    hr = _odd_table(f"sqlite:///{tmp_path / 'hr.db'}", sa.Unicode(32), values)
    try:
        with caplog.at_level(logging.WARNING, logger="connectors.hr.sweeps"):
            found = list(hr.stale(replace(ENDED, column="left_on"), now=NOW, timeout=T))
        assert keys(found) == ["000", "001"]
        assert [c.since for c in found] == [datetime(2020, 1, 31, tzinfo=UTC)] * 2
        assert "1 end date(s)" in caplog.text and "2020-13" not in caplog.text
    finally:
        hr.close()


@pytest.mark.postgres
def test_a_text_end_date_column_on_postgresql_is_refused(postgres_admin_url: str) -> None:
    hr = _odd_table(fresh_database(postgres_admin_url), sa.Unicode(32), ["2020-01-31"])
    try:
        with pytest.raises(NotSupported, match="not a DATE or DATETIME"):
            hr.stale(replace(ENDED, column="left_on"), now=NOW, timeout=T)
    finally:
        hr.close()


def test_a_csv_end_date_that_is_no_iso_date_is_never_a_candidate(tmp_path: Path) -> None:
    header = ",".join(TABLE_COLUMNS)
    rows = [
        "1,a,A,,Sales,1980-01-01,+44,2020-01-31,",
        "2,b,B,,Sales,1980-01-01,+44,31/01/2020,",
        "3,c,C,,Sales,1980-01-01,+44,2020-02-30,",
        "4,d,D,,Sales,1980-01-01,+44,,",
    ]
    (tmp_path / "hr.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    c = HrCsvConnector(HrCsvSettings(folder=tmp_path, mapping=MAPPING, settle_seconds=0))
    assert keys(c.stale(ENDED, now=NOW, timeout=T)) == ["1"]
