"""`doctor` of both HR kinds: every check OK on the demo estate's HR table, on PostgreSQL and
on a CSV export; each fault put into the table or the export (never the connector) is named
by the check it breaks, and an empty source is "cannot tell", never OK."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.doctor import Check, Verdict
from connectors.hr.csv_files import HrCsvConnector, HrCsvSettings
from connectors.hr.mapping import HrMapping
from connectors.hr.sql import HrConnector, HrSettings
from demo.estate import DemoEstate
from demo.hr_sample import COLUMNS, MAPPING, Employee, create_table, write_csv
from tests.support.ports import closed_port

T = 5.0
PEOPLE = [
    Employee("880001", "dr-zoe", "Zoë Doctor", "dr-zoe@example.test"),
    Employee("880002", "dr-otto", "Otto Doctor", "dr-otto@example.test"),
]
COLUMNS_CHECK = "the configured HR columns exist"
KEY_CHECK = "the key column 'emp_no' is there"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def not_ok(checks: list[Check]) -> dict[str, Check]:
    bad = {c.name: c for c in checks if c.verdict is not Verdict.OK}
    assert all(c.fix for c in bad.values())
    return bad


def no_person_in(checks: list[Check]) -> None:
    for c in checks:
        for p in PEOPLE:
            assert p.login not in c.detail and p.full_name not in c.detail, c


# ---------------------------------------------------------------- SQL


def test_every_check_is_ok_on_the_demo_estate(tmp_path: Path) -> None:
    estate = DemoEstate(tmp_path)
    try:
        (hr,) = [c for c in estate.connectors() if isinstance(c, HrConnector)]
        checks = hr.doctor(timeout=T)
    finally:
        estate.close()
    assert [c.verdict for c in checks] == [Verdict.OK] * 4, checks
    assert by_name(checks)[KEY_CHECK].detail == "emp_no: the primary key"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hr_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hr.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def sql_doctor(url: str, table: str = "employees", mapping: HrMapping = MAPPING) -> list[Check]:
    hr = HrConnector(HrSettings(url=url, table=table, mapping=mapping))
    try:
        return hr.doctor(timeout=T)
    finally:
        hr.close()


def load(url: str, people: list[Employee] = PEOPLE) -> None:
    engine = sa.create_engine(url)
    create_table(engine, people)
    engine.dispose()


def test_every_check_is_ok_on_a_healthy_table(hr_url: str) -> None:
    load(hr_url)
    checks = sql_doctor(hr_url)
    assert not not_ok(checks), checks
    no_person_in(checks)


def test_a_missing_table_is_named(hr_url: str) -> None:
    load(hr_url)
    (check,) = sql_doctor(hr_url, table="staff")
    assert check.verdict is Verdict.WRONG and check.detail == "no table or view staff"


def test_a_missing_column_is_named(hr_url: str) -> None:
    load(hr_url)
    engine = sa.create_engine(hr_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE employees DROP COLUMN home_phone")
    engine.dispose()
    bad = not_ok(sql_doctor(hr_url))
    assert list(bad) == [COLUMNS_CHECK]
    assert bad[COLUMNS_CHECK].detail == "the table has no column home_phone"


def test_a_key_column_the_table_lacks_is_named(hr_url: str) -> None:
    load(hr_url)
    mapping = HrMapping(key="staff_no", identifiers=dict(MAPPING.identifiers), columns=COLUMNS)
    bad = not_ok(sql_doctor(hr_url, mapping=mapping))
    assert bad["the key column 'staff_no' is there"].verdict is Verdict.WRONG
    assert "staff_no" in bad[COLUMNS_CHECK].detail
    assert bad["the HR table holds rows"].verdict is Verdict.CANNOT_TELL


def test_an_empty_table_cannot_tell(hr_url: str) -> None:
    load(hr_url, [])
    bad = not_ok(sql_doctor(hr_url))
    assert list(bad) == ["the HR table holds rows"]
    assert bad["the HR table holds rows"].verdict is Verdict.CANNOT_TELL


def test_a_view_is_ok_and_says_no_uniqueness_is_declared(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hr.db'}"
    load(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW hr_people AS SELECT * FROM employees")
    engine.dispose()
    checks = sql_doctor(url, table="hr_people")
    assert not not_ok(checks), checks
    assert "no uniqueness declared" in by_name(checks)[KEY_CHECK].detail


def test_an_unreachable_database_cannot_tell_once() -> None:
    url = f"postgresql+psycopg://hr@127.0.0.1:{closed_port()}/hr"
    (check,) = sql_doctor(url)
    assert check.verdict is Verdict.CANNOT_TELL and "Unreachable" in check.detail


# ---------------------------------------------------------------- CSV


def csv_doctor(folder: Path, mapping: HrMapping = MAPPING) -> list[Check]:
    return HrCsvConnector(HrCsvSettings(folder=folder, mapping=mapping, settle_seconds=0)).doctor(
        timeout=T
    )


def test_every_check_is_ok_on_a_healthy_export(tmp_path: Path) -> None:
    write_csv(tmp_path / "hr-20261101.csv", PEOPLE)
    checks = csv_doctor(tmp_path)
    assert not not_ok(checks), checks
    assert by_name(checks)["the newest export parses"].detail == "2 rows"
    assert by_name(checks)["an export file matches *.csv"].detail == "newest: hr-20261101.csv"
    no_person_in(checks)


def test_the_newest_export_is_the_one_checked(tmp_path: Path) -> None:
    old = write_csv(tmp_path / "hr-old.csv", PEOPLE)
    earlier = time.time() - 60
    os.utime(old, (earlier, earlier))
    (tmp_path / "hr-new.csv").write_text("emp_no,login\n880001,dr-zoe\n", encoding="utf-8")
    bad = not_ok(csv_doctor(tmp_path))
    assert "full_name" in bad[COLUMNS_CHECK].detail


def test_a_column_the_export_lacks_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "hr.csv", PEOPLE)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    # The feed stopped writing home_phone (the last column): header and rows without it.
    path.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", encoding="utf-8")
    bad = not_ok(csv_doctor(tmp_path))
    assert list(bad) == [COLUMNS_CHECK, "the newest export parses"]
    assert bad[COLUMNS_CHECK].verdict is Verdict.WRONG
    assert bad[COLUMNS_CHECK].detail == "the export has no column home_phone"
    assert bad["the newest export parses"].verdict is Verdict.CANNOT_TELL


def test_a_missing_key_column_is_named(tmp_path: Path) -> None:
    write_csv(tmp_path / "hr.csv", PEOPLE)
    mapping = HrMapping(key="staff_no", identifiers=dict(MAPPING.identifiers), columns=COLUMNS)
    bad = not_ok(csv_doctor(tmp_path, mapping))
    assert bad["the key column 'staff_no' is there"].verdict is Verdict.WRONG


def test_a_header_only_export_cannot_tell(tmp_path: Path) -> None:
    write_csv(tmp_path / "hr.csv", [])
    bad = not_ok(csv_doctor(tmp_path))
    assert list(bad) == ["the newest export parses"]
    check = bad["the newest export parses"]
    assert check.verdict is Verdict.CANNOT_TELL and check.detail == "a header and no rows"
    assert "verified absent" in check.fix


def test_a_malformed_export_is_named_by_its_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "hr.csv", PEOPLE)
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write("880009,dr-short\r\n")  # the feed's own line ending (csv's \r\n)
    bad = not_ok(csv_doctor(tmp_path))
    assert list(bad) == ["the newest export parses"]
    assert "line 4 of the export has fewer fields" in bad["the newest export parses"].detail


def test_no_export_file_is_named(tmp_path: Path) -> None:
    (check,) = csv_doctor(tmp_path)
    assert check.verdict is Verdict.WRONG and "no export file matches *.csv" in check.detail
