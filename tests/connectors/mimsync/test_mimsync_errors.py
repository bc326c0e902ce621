"""Library errors become connectors.errors ones: provoked for real on PostgreSQL and SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import Query, QueryKind
from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from demo import sample_sync as gen
from tests.support.ports import closed_port, silent_port
from tests.support.postgres import fresh_database

SECRET = "Secret.Value-4711@example.test"  # must never appear in an error message
QUERY = Query(QueryKind.MAIL_OR_UPN, SECRET)


@pytest.fixture
def silent() -> Iterator[int]:
    with silent_port() as port:
        yield port


def search_error(url: str, *, timeout: float = 2.0) -> tuple[ConnectorError, float]:
    with MimSyncConnector(MimSyncSettings(url=url)) as mim:
        started = time.monotonic()
        with pytest.raises(ConnectorError) as info:
            mim.search(QUERY, timeout=timeout)
        elapsed = time.monotonic() - started
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is not None  # chained to the library error
    return info.value, elapsed


@pytest.fixture(scope="module")
def loaded_pg(postgres_admin_url: str) -> str:
    url = fresh_database(postgres_admin_url)
    engine = sa.create_engine(url)
    gen.load(engine, 20)
    engine.dispose()
    return url


@pytest.mark.postgres
def test_closed_port_is_unreachable_quickly() -> None:
    error, elapsed = search_error(f"postgresql+psycopg://mim@127.0.0.1:{closed_port()}/sync")
    assert type(error) is Unreachable
    assert "cannot reach the database" in str(error)
    assert elapsed < 2


@pytest.mark.postgres
def test_a_silent_server_times_out_on_connect(silent: int) -> None:
    error, elapsed = search_error(f"postgresql+psycopg://mim@127.0.0.1:{silent}/sync", timeout=1)
    assert type(error) is TimedOut
    assert elapsed < 5  # libpq's minimum connect_timeout is 2 s


@pytest.mark.postgres
@pytest.mark.parametrize("own_engine", [True, False], ids=["own-engine", "shared-engine"])
def test_a_blocked_query_times_out(loaded_pg: str, own_engine: bool) -> None:
    # A server default of 8 s only stops a regression from hanging the test.
    url = sa.make_url(loaded_pg).update_query_dict({"options": "-c statement_timeout=8000"})
    engine = sa.create_engine(url)
    other = sa.create_engine(loaded_pg)  # the locker must not take the connector's connection
    shared = None if own_engine else engine
    with MimSyncConnector(MimSyncSettings(url=url), engine=shared) as mim:
        # Same timeout as the blocked call: a limit cached but not really in force would show.
        mim.search(QUERY, timeout=0.5)  # also reflects the schema before the lock
        with other.connect() as locker:
            locker.execute(sa.text("LOCK TABLE mms_metaverse IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            with pytest.raises(TimedOut) as info:
                mim.search(QUERY, timeout=0.5)
            elapsed = time.monotonic() - started
            locker.rollback()
        assert mim.search(Query(QueryKind.NAME, "sobrien"), timeout=5)  # usable again
        # The caller's connections carry no limit or read-only mode from the connector.
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "8s"
            conn.exec_driver_sql("CREATE TEMP TABLE still_writable (x int)")
    engine.dispose()
    other.dispose()
    assert 0.4 < elapsed < 3
    assert "57014" in str(info.value) and SECRET not in str(info.value)


@pytest.mark.postgres
def test_own_engine_reads_are_read_only_with_the_call_timeout(loaded_pg: str) -> None:
    seen: list[tuple[str, str]] = []
    with MimSyncConnector(MimSyncSettings(url=loaded_pg)) as mim:

        @sa.event.listens_for(mim._engine, "after_cursor_execute")
        def probe(conn: sa.Connection, *_: object) -> None:
            if not seen:
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                cursor.execute(
                    "SELECT current_setting('statement_timeout'), "
                    "current_setting('transaction_read_only')"
                )
                seen.append(cursor.fetchone())

        mim.search(QUERY, timeout=1.5)
    assert seen == [("1500ms", "on")]


@pytest.mark.postgres
def test_a_role_without_select_permission_is_denied(loaded_pg: str) -> None:
    admin = sa.create_engine(loaded_pg)
    with admin.begin() as conn:
        conn.execute(sa.text("DROP ROLE IF EXISTS mim_noread"))
        conn.execute(sa.text("CREATE ROLE mim_noread LOGIN"))
    admin.dispose()
    url = sa.make_url(loaded_pg).set(username="mim_noread")
    error, _ = search_error(url.render_as_string(hide_password=False))
    assert type(error) is Denied and "42501" in str(error)


@pytest.mark.postgres
def test_an_unknown_login_is_denied(loaded_pg: str) -> None:
    url = sa.make_url(loaded_pg).set(username="nobody_here")
    error, _ = search_error(url.render_as_string(hide_password=False))
    assert type(error) is Denied


@pytest.mark.postgres
def test_a_database_without_sync_tables_is_a_clear_error(postgres_url: str) -> None:
    error, _ = search_error(postgres_url)
    assert type(error) is ConnectorError
    assert "MIM Sync table is missing" in str(error)


def test_sqlite_file_that_cannot_be_opened_is_unreachable(tmp_path: Path) -> None:
    error, _ = search_error(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    assert type(error) is Unreachable


def test_health_reports_instead_of_raising(tmp_path: Path) -> None:
    with MimSyncConnector(MimSyncSettings(url=f"sqlite:///{tmp_path / 'no' / 'x.db'}")) as mim:
        health = mim.health(timeout=2)
    assert not health.ok and "cannot reach the database" in health.detail


def test_health_reports_a_broken_configuration_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    engine = sa.create_engine(url)
    gen.load(engine, 3)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "MV.XML").write_text("<saved-mv-configuration>")
    settings = MimSyncSettings(url=url, server_config_dir=tmp_path / "export")
    with MimSyncConnector(settings, engine=engine) as mim:
        health = mim.health(timeout=2)
    missing = MimSyncSettings(url=url, server_config_dir=tmp_path / "absent")
    with MimSyncConnector(missing, engine=engine) as mim:
        absent = mim.health(timeout=2)
    engine.dispose()
    assert not health.ok and "MV.XML: not well-formed XML" in health.detail
    assert not absent.ok and "cannot read the server configuration folder" in absent.detail


def test_an_invalid_url_is_a_connector_error() -> None:
    with pytest.raises(ValueError, match=r"not a database URL \(ArgumentError\)"):
        MimSyncSettings(url="not a url")
    # A URL object SQLAlchemy cannot connect with is the connector's error, not a crash.
    with pytest.raises(ConnectorError, match="NoSuchModuleError"):
        MimSyncConnector(MimSyncSettings(url=sa.make_url("nosuchdialect://h/db")))
