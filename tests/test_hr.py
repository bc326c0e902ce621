"""The HR source of authority: a SQL table (SQLite and the real PostgreSQL) and a folder of
CSV exports. Search and read by the configured mapping, values only as data, deletion
only when allowed (one row, one transaction, read back), and the contract suite."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import (
    RANK_SOURCE,
    Capability,
    Connector,
    IdKind,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
)
from connectors.errors import ConnectorError, NotFound, NotSupported, TimedOut, Unreachable
from connectors.hr import HrConnector, HrSettings
from connectors.hr_csv import HrCsvConnector, HrCsvSettings
from connectors.hr_source import HrMapping
from demo.hr_sample import MAPPING, Employee, create_table, write_csv
from tests.support.ports import closed_port
from tests.support.postgres import fresh_database
from tests.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.test_connector_contract import Subject, World, only_hit

T = 5.0
ZOE = Employee("880001", "ct-zoe", "Zoë Contract", "ct-zoe@example.test")
OTTO = Employee("880002", "ct-other", "Otto Other", "otto@example.test", department="Sales")
WILD = Employee("880003", "a_b", "Anna Wild", "a_b@example.test")  # `_` and `%` are data
QUOTE = Employee("880004", "sobrien", "Seán O\u2019Brien", "sobrien@example.test")


def people() -> list[Employee]:
    return [ZOE, OTTO, WILD, QUOTE]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hr_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hr.db'}"
    return fresh_database(request.getfixturevalue("postgres_admin_url"))


def sql_connector(url: str, **overrides: object) -> HrConnector:
    engine = sa.create_engine(url)
    create_table(engine, people())
    engine.dispose()
    return HrConnector(HrSettings(url=url, table="employees", mapping=MAPPING, **overrides))


@pytest.fixture
def hr(hr_url: str) -> Iterator[HrConnector]:
    c = sql_connector(hr_url, allow_delete=True)
    yield c
    c.close()


@pytest.fixture
def hr_csv(tmp_path: Path) -> Iterator[HrCsvConnector]:
    write_csv(tmp_path / "exports" / "hr-2026-11-30.csv", people())
    c = HrCsvConnector(HrCsvSettings(folder=tmp_path / "exports", mapping=MAPPING))
    yield c
    c.close()


def accounts(c: Connector, kind: QueryKind, value: str, attribute: str | None = None) -> list[str]:
    return sorted(
        h.identifiers[IdKind.ACCOUNT] for h in c.search(Query(kind, value, attribute), timeout=T)
    )


# -- both kinds ----------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "csv"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connector]:
    if request.param == "csv":
        write_csv(tmp_path / "exports" / "hr-2026-11-30.csv", people())
        c: Connector = HrCsvConnector(HrCsvSettings(folder=tmp_path / "exports", mapping=MAPPING))
    elif request.param == "sqlite":
        c = sql_connector(f"sqlite:///{tmp_path / 'hr.db'}")
    else:
        c = sql_connector(fresh_database(request.getfixturevalue("postgres_admin_url")))
    yield c
    c.close()


@pytest.mark.parametrize(
    ("kind", "value", "attribute", "found"),
    [
        (QueryKind.NAME, "CT-ZOE", None, ["ct-zoe"]),
        (QueryKind.NAME, "zoë contract", None, ["ct-zoe"]),
        (QueryKind.MAIL_OR_UPN, "Otto@Example.test", None, ["ct-other"]),
        (QueryKind.EMPLOYEE_ID, "880003", None, ["a_b"]),
        (QueryKind.PREFIX, "ct-*", None, ["ct-other", "ct-zoe"]),
        (QueryKind.PREFIX, "a_*", None, ["a_b"]),
        (QueryKind.PREFIX, "a%*", None, []),  # a % typed is a percent sign, not a wildcard
        (QueryKind.PREFIX, "ax*", None, []),  # `_` is literal: "a_b" does not start with "ax"
        (QueryKind.NAME, "s%", None, []),
        (QueryKind.NAME, "Seán O'Brien", None, ["sobrien"]),  # both apostrophes searched
        (QueryKind.ATTRIBUTE, "sales", "department", ["ct-other"]),
        (QueryKind.ATTRIBUTE, "880001", "emp_no", ["ct-zoe"]),
        (QueryKind.ATTRIBUTE, "ct-zoe@example.test", "mail", ["ct-zoe"]),
        (QueryKind.NAME, "", None, []),
        (QueryKind.NAME, "ct-zoe\x00", None, []),
    ],
)
def test_search_by_the_mapping(source, kind, value, attribute, found):
    assert accounts(source, kind, value, attribute) == found


def test_a_hit_carries_the_mapped_identifiers(source):
    (hit,) = source.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
    assert hit.ref == ObjectRef("hr", "880001")
    assert hit.label == "Zoë Contract (ct-zoe)"
    assert hit.identifiers == {
        IdKind.EMPLOYEE_ID: "880001",
        IdKind.ACCOUNT: "ct-zoe",
        IdKind.DISPLAY_NAME: "Zoë Contract",
        IdKind.MAIL: "ct-zoe@example.test",
    }


def test_a_column_not_mapped_is_not_searched(source):
    with pytest.raises(NotSupported):
        source.search(Query(QueryKind.ATTRIBUTE, "1980-05-17", "birth_date"), timeout=T)


def test_read_returns_every_personal_column(source):
    record = source.read(ObjectRef("hr", "880002"), timeout=T)
    assert record.attributes["birth_date"].values == ("1980-05-17",)
    assert record.attributes["home_phone"].values == ("+44 20 7946 0000",)
    assert record.attributes["department"].source == "hr"
    with pytest.raises(NotFound):
        source.read(ObjectRef("hr", "999999"), timeout=T)
    with pytest.raises(NotFound):
        source.read(ObjectRef("ad", "880002"), timeout=T)


def test_the_plan_comes_first_as_the_source_of_authority(hr_csv, hr_url):
    read_only = sql_connector(hr_url)
    try:
        for c in (hr_csv, read_only):
            plan = c.plan_delete(ObjectRef("hr", "880001"), timeout=T)
            assert (plan.action, plan.authority_rank) == (PlanAction.NONE, RANK_SOURCE)
            assert [m.task for m in plan.manual] == [ManualTask.ERASE_AT_SOURCE]
            assert Capability.DELETE not in c.capabilities
            with pytest.raises(NotSupported):
                c.apply_delete(plan, timeout=T)
    finally:
        read_only.close()


# -- SQL ----------------------------------------------------------------------


def rows(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.text("SELECT emp_no FROM employees")).scalars())
    finally:
        engine.dispose()


def test_an_allowed_delete_removes_exactly_that_row(hr, hr_url):
    plan = hr.plan_delete(ObjectRef("hr", "880003"), timeout=T)
    assert (plan.action, plan.authority_rank, plan.manual) == (PlanAction.DELETE, RANK_SOURCE, ())
    result = hr.apply_delete(plan, timeout=T)
    assert (result.done, result.already_absent) == (True, False)
    assert rows(hr_url) == ["880001", "880002", "880004"]
    again = hr.apply_delete(plan, timeout=T)
    assert (again.done, again.already_absent) == (True, True)
    assert hr.verify_absent({IdKind.ACCOUNT: "a_b"}, timeout=T).absent
    assert not hr.verify_absent({IdKind.EMPLOYEE_ID: "880001"}, timeout=T).absent


def test_a_key_that_is_not_unique_deletes_nothing(hr_url):
    c = sql_connector(hr_url, allow_delete=True)
    engine = sa.create_engine(hr_url)
    with engine.begin() as conn:  # a view over two systems can repeat a key
        conn.execute(sa.text("CREATE TABLE staff (emp_no VARCHAR(16), login VARCHAR(64))"))
        conn.execute(sa.text("INSERT INTO staff VALUES ('7', 'x1'), ('7', 'x2')"))
    engine.dispose()
    mapping = HrMapping(key="emp_no", identifiers={IdKind.ACCOUNT: "login"})
    dup = HrConnector(replace(c.settings, table="staff", mapping=mapping))
    plan = dup.plan_delete(ObjectRef("hr", "7"), timeout=T)
    with pytest.raises(ConnectorError, match="matched 2 rows; nothing was deleted"):
        dup.apply_delete(plan, timeout=T)
    assert len(dup.search(Query(QueryKind.PREFIX, "x*"), timeout=T)) == 2
    dup.close()
    c.close()


def test_a_missing_column_is_one_clear_error(hr_url):
    mapping = replace(MAPPING, search_columns=("cost_centre",))
    c = sql_connector(hr_url)
    broken = HrConnector(replace(c.settings, mapping=mapping))
    with pytest.raises(ConnectorError, match="the table has no column cost_centre"):
        broken.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
    health = broken.health(timeout=T)
    assert not health.ok and "cost_centre" in health.detail
    missing = HrConnector(replace(c.settings, table="no_such_table"))
    with pytest.raises(ConnectorError, match="does not exist"):
        missing.read(ObjectRef("hr", "880001"), timeout=T)
    for x in (c, broken, missing):
        x.close()


def test_a_view_is_read_like_a_table(hr_url):
    c = sql_connector(hr_url)
    engine = sa.create_engine(hr_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE VIEW current_staff AS SELECT * FROM employees"))
    engine.dispose()
    view = HrConnector(replace(c.settings, table="current_staff"))
    assert accounts(view, QueryKind.EMPLOYEE_ID, "880004") == ["sobrien"]
    assert view.health(timeout=T).ok
    view.close()
    c.close()


def test_an_integer_key_is_compared_as_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'int.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE people (id INTEGER PRIMARY KEY, login TEXT)"))
        conn.execute(sa.text("INSERT INTO people VALUES (42, 'answer')"))
    engine.dispose()
    mapping = HrMapping(key="id", identifiers={IdKind.ACCOUNT: "login", IdKind.EMPLOYEE_ID: "id"})
    c = HrConnector(HrSettings(url=url, table="people", mapping=mapping, allow_delete=True))
    (hit,) = c.search(Query(QueryKind.EMPLOYEE_ID, "42"), timeout=T)
    assert hit.ref.id == "42" and c.read(hit.ref, timeout=T).attributes["login"].values == (
        "answer",
    )
    assert c.apply_delete(c.plan_delete(hit.ref, timeout=T), timeout=T).done
    assert c.search(Query(QueryKind.EMPLOYEE_ID, "42"), timeout=T) == []
    c.close()


@pytest.mark.postgres
def test_reads_are_read_only_and_bounded_on_postgres(postgres_admin_url):
    url = fresh_database(postgres_admin_url)
    c = sql_connector(url)
    with c._session(T) as s:  # the transaction every read runs in
        assert s.conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "on"
        assert s.conn.execute(sa.text("SHOW statement_timeout")).scalar() == "5s"
    c.close()


@pytest.mark.postgres
def test_a_slow_statement_times_out_on_postgres(postgres_admin_url):
    url = fresh_database(postgres_admin_url)
    c = sql_connector(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a view that takes two seconds per read
        conn.execute(sa.text("CREATE VIEW slow AS SELECT e.* FROM employees e, pg_sleep(2) AS s"))
    engine.dispose()
    slow = HrConnector(replace(c.settings, table="slow"))
    started = time.monotonic()
    with pytest.raises(TimedOut):
        slow.search(Query(QueryKind.NAME, "ct-zoe"), timeout=0.5)
    assert time.monotonic() - started < 1.9
    slow.close()
    c.close()


def test_an_unreachable_database_is_unreachable():
    url = f"postgresql+psycopg://hr@127.0.0.1:{closed_port()}/hr"
    c = HrConnector(HrSettings(url=url, table="employees", mapping=MAPPING))
    with pytest.raises(Unreachable):
        c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
    assert not c.health(timeout=T).ok
    c.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from([*"ab_%'\"\\;-*()[]<>&\u2019 \n", "Robert'); DROP TABLE employees;--"]),
        max_size=12,
    ).map("".join)
)
def test_sql_metacharacters_are_data(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("fuzz")
    c = _fuzz_connector(folder)
    for kind in (QueryKind.NAME, QueryKind.PREFIX, QueryKind.MAIL_OR_UPN):
        term = value + "*" if kind is QueryKind.PREFIX else value
        found = {h.identifiers[IdKind.ACCOUNT] for h in c.search(Query(kind, term), timeout=T)}
        expected = _expected(kind, value)
        assert found == expected, (kind, value)
    assert len(rows(c.settings.url)) == 4  # nothing was dropped or changed
    c.close()


def _fuzz_connector(folder: Path) -> HrConnector:
    return sql_connector(f"sqlite:///{folder / 'hr.db'}")


def _expected(kind: QueryKind, value: str) -> set[str]:
    """What an exact (case-insensitive) comparison in Python finds."""
    value = value.strip()
    if not value:
        return set()
    forms = {value.casefold(), value.replace("'", "\u2019").casefold()}
    out = set()
    for p in people():
        cells = [p.email] if kind is QueryKind.MAIL_OR_UPN else [p.login, p.full_name]
        for cell in (c.casefold() for c in cells):
            prefix = kind is QueryKind.PREFIX
            if any(cell.startswith(f) for f in forms) if prefix else cell in forms:
                out.add(p.login)
    return out


# -- CSV ----------------------------------------------------------------------


def test_the_newest_export_is_the_one_read(tmp_path):
    folder = tmp_path / "exports"
    old = write_csv(folder / "hr-2026-11-29.csv", people())
    new = write_csv(folder / "hr-2026-11-30.csv", [OTTO], delimiter=";")
    os.utime(old, (1, 1))
    c = HrCsvConnector(HrCsvSettings(folder=folder, mapping=MAPPING, delimiter=";"))
    assert accounts(c, QueryKind.PREFIX, "ct-*") == ["ct-other"]  # ZOE left in the new file
    assert c.verify_absent({IdKind.ACCOUNT: "ct-zoe"}, timeout=T).absent
    write_csv(new, people(), delimiter=";")  # the file changes: read again
    os.utime(new, (time.time() + 5, time.time() + 5))
    assert accounts(c, QueryKind.PREFIX, "ct-*") == ["ct-other", "ct-zoe"]
    assert not c.verify_absent({IdKind.ACCOUNT: "ct-zoe"}, timeout=T).absent


def test_a_csv_problem_is_one_clear_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    c = HrCsvConnector(HrCsvSettings(folder=folder, mapping=MAPPING))
    with pytest.raises(Unreachable, match="no export file"):
        c.search(Query(QueryKind.NAME, "x"), timeout=T)
    (folder / "hr.csv").write_text("emp_no,login\n1,x\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match="no column department, email, full_name"):
        c.search(Query(QueryKind.NAME, "x"), timeout=T)
    (folder / "hr.csv").write_bytes(b"emp_no,login\n\xff\xfe\n")
    with pytest.raises(ConnectorError, match="cannot read the export"):
        c.search(Query(QueryKind.NAME, "x"), timeout=T)
    assert not c.health(timeout=T).ok


def test_a_mapping_must_identify_a_person():
    with pytest.raises(ValueError, match="account or employee_id"):
        HrMapping(key="id", identifiers={IdKind.MAIL: "email"})


# -- the contract suite ---------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hr.db'}"
        dead = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_admin_url"))
        dead = f"postgresql+psycopg://hr@127.0.0.1:{closed_port()}/hr"
    c = sql_connector(url, allow_delete=True)
    counter = itertools.count(10)
    engine = sa.create_engine(url)

    def fresh():
        n = next(counter)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO employees (emp_no, login, full_name, email) "
                    "VALUES (:no, :login, :name, :mail)"
                ),
                {
                    "no": str(881000 + n),
                    "login": f"ct-del{n}",
                    "name": f"Dora Delete{n}",
                    "mail": f"ct-del{n}@example.test",
                },
            )
        return only_hit(c, Query(QueryKind.NAME, f"ct-del{n}"))

    @contextmanager
    def too_slow() -> Iterator[tuple[Connector, float]]:
        yield c, 1e-6  # the deadline passes before the first statement

    yield World(
        c,
        Subject("ct-zoe", "ct-zoe@example.test", "880001", "Zoë Contract", "Zoë Con"),
        ObjectRef("hr", "404404"),
        fresh,
        unreachable=lambda: HrConnector(replace(c.settings, url=dead)),
        too_slow=too_slow,
    )
    engine.dispose()
    c.close()
