"""SQL Server without a SQL Server: every statement compiled for mssql, the ODBC side for real.

The connector runs against SQLite while a listener records each statement it
issues; each is then compiled with the mssql+pyodbc dialect and checked for
bound parameters. FreeTDS (unixODBC + tdsodbc) gives a real pyodbc driver for
the connection-string and error-mapping tests.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc

from connectors.base import IdKind, ObjectRef, Query, QueryKind
from connectors.errors import ConnectorError, TimedOut, Unreachable
from connectors.mimsync.connector import (
    MimSyncConnector,
    MimSyncSettings,
    engine_options,
    mssql_url,
    read_isolation,
)
from demo import sample_sync as gen

SENTINEL = "Zz'Sentinel%_[x]--"  # a value that must only ever travel as a parameter
T = 10.0


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[MimSyncConnector, list[tuple[Any, dict[str, Any]]]]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    gen.load(engine, 12)
    seen: list[tuple[Any, dict[str, Any]]] = []

    @sa.event.listens_for(engine, "before_execute")
    def record(conn: Any, clause: Any, multiparams: Any, params: Any, options: Any) -> None:
        if isinstance(clause, sa.sql.ClauseElement):
            merged = dict(params or {})
            for p in multiparams or ():
                merged.update(p)
            seen.append((clause, merged))

    with MimSyncConnector(MimSyncSettings(url=str(engine.url)), engine=engine) as mim:
        yield mim, seen
    engine.dispose()


def exercise(mim: MimSyncConnector) -> None:
    """Call every method with the sentinel wherever a value goes."""
    for kind in QueryKind:
        attribute = "mail" if kind is QueryKind.ATTRIBUTE else None
        mim.search(
            Query(kind, SENTINEL + ("*" if kind is QueryKind.PREFIX else ""), attribute), timeout=T
        )
    mim.search(Query(QueryKind.ATTRIBUTE, SENTINEL, "proxyAddresses"), timeout=T)
    mim.search(Query(QueryKind.ATTRIBUTE, "42", "extensionBadgeNumber"), timeout=T)
    with pytest.raises(ConnectorError):
        mim.search(Query(QueryKind.ATTRIBUTE, SENTINEL, SENTINEL), timeout=T)
    ref = ObjectRef("mimsync", str(gen.person(1).object_id))
    mim.show(ref, timeout=T)
    mim.read(ref, timeout=T)
    plan = mim.plan_delete(ref, timeout=T)
    mim.apply_delete(plan, timeout=T)
    ids = {k: SENTINEL for k in (IdKind.ACCOUNT, IdKind.MAIL, IdKind.UPN, IdKind.EMPLOYEE_ID)}
    mim.verify_absent({**ids, IdKind.MV_OBJECT_ID: str(gen.gid("gone"))}, timeout=T)
    mim.health(timeout=T)
    mim.sync_map(timeout=T)  # the data map's reads: the MA details, the count of persons
    mim.inventory(timeout=T)


def mssql_dialect() -> sa.Dialect:
    """The dialect as an engine configures it: pyodbc's qmark paramstyle (no connection made)."""
    return mssql_pyodbc.dialect(paramstyle="qmark")


def test_every_statement_compiles_for_sql_server_with_bound_values(recorded: Any) -> None:
    mim, seen = recorded
    exercise(mim)
    dialect = mssql_dialect()
    kinds = set()
    for clause, params in seen:
        compiled = clause.compile(dialect=dialect)
        sql = str(compiled)
        bound = compiled.construct_params(params)
        kinds.add(sql.split()[0])
        assert "Sentinel" not in sql, sql
        assert "'person'" not in sql and "4711" not in sql, sql
        if any(isinstance(v, str) and "Sentinel" in v for v in bound.values()):
            assert "?" in sql and ":value" not in sql  # pyodbc's qmark placeholders
    assert kinds == {"SELECT"}  # read-only: no INSERT/UPDATE/DELETE, ever
    values = [v for _, params in seen for v in params.values()]
    assert SENTINEL in values  # exact searches
    assert "Zz'Sentinel\\%\\_\\[x]--%" in values  # the prefix, escaped for LIKE incl. [
    assert len(seen) >= 15


def test_like_statements_declare_their_escape_character(recorded: Any) -> None:
    mim, seen = recorded
    mim.search(Query(QueryKind.PREFIX, "ida[*"), timeout=T)
    sql = str(seen[-1][0].compile(dialect=mssql_dialect()))
    assert "LIKE ? ESCAPE '\\'" in sql
    assert sql.count("?") == 3  # object_type and the pattern twice (display name, account)
    assert "TOP" in sql  # max_hits as TOP, not LIMIT


def odbc_pairs(connection_string: str) -> dict[str, str]:
    """Parse an ODBC connection string: `;`-separated, `{...}` quoting with `}}` escapes."""
    pairs, i = {}, 0
    while i < len(connection_string):
        key_end = connection_string.index("=", i)
        key, i = connection_string[i:key_end], key_end + 1
        if connection_string.startswith("{", i):
            value, i = "", i + 1
            while True:
                close = connection_string.index("}", i)
                value += connection_string[i:close]
                if connection_string.startswith("}}", close):
                    value, i = value + "}", close + 2
                else:
                    i = close + 1
                    break
        else:
            end = connection_string.find(";", i)
            end = len(connection_string) if end < 0 else end
            value, i = connection_string[i:end], end
        pairs[key.upper()] = value
        i += 1 if connection_string.startswith(";", i) else 0
    return pairs


def test_connection_string_brace_quotes_the_password() -> None:
    password = "p;w}d{=x y"
    url = mssql_url(
        "sql01.corp.example",
        1433,
        "FIMSynchronizationService",
        "CORP\\svc-mimbot",
        password,
        driver="FreeTDS",
        TDS_Version="7.4",
    )
    (connection_string,), _ = mssql_pyodbc.dialect().create_connect_args(url)
    assert "PWD={p;w}}d{=x y}" in connection_string
    pairs = odbc_pairs(connection_string)
    assert pairs["PWD"] == password
    assert pairs["DRIVER"] == "FreeTDS"
    assert pairs["SERVER"] == "sql01.corp.example,1433"
    assert pairs["DATABASE"] == "FIMSynchronizationService"
    assert pairs["UID"] == "CORP\\svc-mimbot"
    assert pairs["TDS_VERSION"] == "7.4"
    assert password not in repr(url)  # the URL hides it when printed


def test_the_default_driver_is_microsofts() -> None:
    url = mssql_url("sql01", 1433, "FIMSynchronizationService", "u", "p", Encrypt="yes")
    (connection_string,), _ = mssql_pyodbc.dialect().create_connect_args(url)
    assert odbc_pairs(connection_string)["DRIVER"] == "ODBC Driver 18 for SQL Server"
    assert odbc_pairs(connection_string)["ENCRYPT"] == "yes"


def freetds() -> None:
    pyodbc = pytest.importorskip(
        "pyodbc", reason="pyodbc needs unixODBC (apt-get install unixodbc)"
    )
    if "FreeTDS" not in pyodbc.drivers():
        pytest.skip("FreeTDS ODBC driver not registered (apt-get install tdsodbc)")


def test_pyodbc_lists_the_freetds_driver() -> None:
    freetds()
    import pyodbc

    assert "FreeTDS" in pyodbc.drivers()


def freetds_url(port: int) -> sa.URL:
    return mssql_url(
        "127.0.0.1",
        port,
        "FIMSynchronizationService",
        "svc",
        "p;w",
        driver="FreeTDS",
        TDS_Version="7.4",
    )


def test_freetds_closed_port_is_unreachable() -> None:
    freetds()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        MimSyncConnector(MimSyncSettings(url=freetds_url(port))) as mim,
        pytest.raises(Unreachable, match="08S01") as info,
    ):
        mim.search(Query(QueryKind.NAME, SENTINEL), timeout=2)
    assert SENTINEL not in str(info.value)


def test_freetds_login_timeout_is_the_call_timeout() -> None:
    freetds()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # accepts TCP, never answers the TDS prelogin
        with MimSyncConnector(MimSyncSettings(url=freetds_url(s.getsockname()[1]))) as mim:
            started = time.monotonic()
            with pytest.raises(TimedOut, match="HYT00"):
                mim.search(Query(QueryKind.NAME, SENTINEL), timeout=1)
            elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 4


def test_own_engine_reads_sql_server_at_read_uncommitted() -> None:
    """No shared locks against a running sync: the engine built for an mssql URL sets READ
    UNCOMMITTED on every connection (no server needed: nothing connects here)."""
    with MimSyncConnector(MimSyncSettings(url=freetds_url(1))) as mim:
        dialect = mim._engine.dialect
        # What SQLAlchemy applies to each new connection (SET TRANSACTION ISOLATION LEVEL).
        assert dialect._on_connect_isolation_level == "READ UNCOMMITTED"
        assert "READ UNCOMMITTED" in dialect._isolation_lookup  # type: ignore[attr-defined]
    assert engine_options(freetds_url(1)) == {"isolation_level": "READ UNCOMMITTED"}
    # Elsewhere reads take no shared locks a writer waits for: autocommit, as before.
    assert engine_options(sa.make_url("postgresql+psycopg://u@h/db"))["isolation_level"] == (
        "AUTOCOMMIT"
    )


def test_the_answers_that_close_an_erasure_read_committed_data_only() -> None:
    assert read_isolation("mssql", committed=False) == "READ UNCOMMITTED"
    assert read_isolation("mssql", committed=True) == "READ COMMITTED"
    assert read_isolation("postgresql", committed=True) is None
    assert read_isolation("sqlite", committed=False) is None
