"""SQL helpers shared by SQL connectors: error mapping, per-call deadlines, SQL Server URLs.

`sql_errors()` maps SQLAlchemy/DBAPI exceptions to `connectors.errors` (httpx's
`map_httpcore_exceptions`, for SQL); messages carry the error class and SQLSTATE,
never SQL parameters or values.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable

__all__ = [
    "Session",
    "connect_deadline",
    "database_url",
    "limit_connect_time",
    "mssql_url",
    "query_timeout",
    "sql_errors",
    "with_password",
]

# The deadline of the connector call running in this thread (None outside one).
_CONNECT_DEADLINE: ContextVar[float | None] = ContextVar("sql_connect_deadline", default=None)


def _on_connect(dialect: sa.Dialect, _rec: Any, _cargs: list[Any], cparams: dict[str, Any]) -> None:
    """Give each new DB connection the remaining time of the call that opens it."""
    deadline = _CONNECT_DEADLINE.get()
    if deadline is None:
        return
    remaining = max(deadline - time.monotonic(), 0.001)
    if dialect.driver == "psycopg":
        cparams["connect_timeout"] = max(2, math.ceil(remaining))  # libpq minimum is 2 s
    elif dialect.driver == "pyodbc":
        cparams["timeout"] = max(1, math.ceil(remaining))  # ODBC login timeout


def limit_connect_time(engine: sa.Engine) -> None:
    """New connections of `engine` get the remaining time of the call opening them.
    Harmless on a shared engine: it acts only inside `connect_deadline`."""
    if not event.contains(engine, "do_connect", _on_connect):
        event.listen(engine, "do_connect", _on_connect)


@contextmanager
def connect_deadline(deadline: float) -> Iterator[None]:
    """Connections opened inside must connect by `deadline` (`time.monotonic()`)."""
    token = _CONNECT_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _CONNECT_DEADLINE.reset(token)


def query_timeout(conn: sa.Connection, timeout: float) -> None:
    """SQL Server (pyodbc): the query timeout of this connection, whole seconds."""
    dbapi = conn.connection.dbapi_connection
    dbapi.timeout = max(1, math.ceil(timeout))  # type: ignore[union-attr]


class Session:
    """One connection for one call: runs statements while the call's deadline lasts."""

    def __init__(self, conn: sa.Connection, deadline: float, timeout: float, system: str):
        self.conn, self.deadline, self.timeout, self.system = conn, deadline, timeout, system

    def rows(self, stmt: sa.Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
        if time.monotonic() > self.deadline:
            raise TimedOut(f"{self.system}: the call exceeded its {self.timeout:g} s deadline")
        return list(self.conn.execute(stmt, params).all())


def mssql_url(
    host: str,
    port: int,
    database: str,
    user: str,
    password: str,
    driver: str = "ODBC Driver 18 for SQL Server",
    **extra: str,
) -> sa.URL:
    """A `mssql+pyodbc` URL; the dialect brace-quotes values containing `;` or `{`.

    `extra` become ODBC keywords, e.g. `Encrypt="yes"`, `TDS_Version="7.4"` (FreeTDS).
    """
    return sa.URL.create(
        "mssql+pyodbc",
        username=user,
        password=password,
        host=host,
        port=port,
        database=database,
        query={"driver": driver, **extra},
    )


_TIMEOUT_CODES = frozenset({"57014", "55P03", "HYT00", "HYT01", "SQLITE_BUSY", "SQLITE_LOCKED"})
_DENIED_CODES = frozenset({"42501", "28000", "28P01", "SQLITE_READONLY", "SQLITE_PERM"})
# SQL Server native errors under SQLSTATE 42000: permission denied / cannot open database.
_MSSQL_DENIED = re.compile(r"\((229|230|262|297|300|916|4060)\)")
# libpq reports refused logins without a SQLSTATE; recognise them by their text.
_PG_LOGIN_REFUSED = re.compile(
    r"password authentication failed|role \".*\" does not exist|no pg_hba\.conf entry"
)


def _code(orig: BaseException | None) -> str | None:
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    if code is None and orig is not None and orig.args and isinstance(orig.args[0], str):
        first = orig.args[0]  # pyodbc: (sqlstate, message)
        code = first if len(first) == 5 and first.isalnum() else None
    return code


def _translate(system: str, exc: sa.exc.DBAPIError) -> ConnectorError:
    orig = exc.orig
    code = _code(orig)
    detail = type(orig).__name__ + (f" {code}" if code else "")
    text = str(orig)  # inspected only, never copied into our message
    if code in _TIMEOUT_CODES or "timeout expired" in text or "timed out" in text:
        return TimedOut(f"{system}: the database did not answer in time ({detail})")
    denied = code in _DENIED_CODES or (code == "42000" and _MSSQL_DENIED.search(text))
    if denied or (code is None and _PG_LOGIN_REFUSED.search(text)):
        return Denied(f"{system}: the database refused the service account ({detail})")
    connection_lost = (
        exc.connection_invalidated
        or (code or "").startswith("08")
        or code in {"57P01", "57P02", "57P03", "3D000", "SQLITE_CANTOPEN"}
        # psycopg reports a failed connection attempt without a SQLSTATE
        or (code is None and isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError))
    )
    if connection_lost:
        return Unreachable(f"{system}: cannot reach the database ({detail})")
    return ConnectorError(f"{system}: database error ({detail})")


@contextmanager
def sql_errors(system: str = "mimsync") -> Iterator[None]:
    """Translate SQLAlchemy/DBAPI exceptions into `connectors.errors` ones, chained.

    Messages carry the error class and SQLSTATE only, never SQL parameters or values.
    """
    try:
        yield
    except sa.exc.TimeoutError as exc:  # connection pool exhausted
        raise TimedOut(f"{system}: no database connection free in time") from exc
    except sa.exc.NoSuchTableError as exc:
        raise ConnectorError(f"{system}: a MIM Sync table is missing (wrong database?)") from exc
    except sa.exc.DBAPIError as exc:
        raise _translate(system, exc) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise ConnectorError(f"{system}: database error ({type(exc).__name__})") from exc


def database_url(text: str) -> str:
    """A URL SQLAlchemy can read; its problem named in one line, never the URL itself
    (it may hold a user name or host the log should not)."""
    try:
        sa.make_url(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same mistake
        raise ValueError(f"not a database URL ({type(exc).__name__})") from None
    return text


def with_password(url: str | sa.URL, password: str | None) -> sa.URL:
    """`url` with `password` set apart from it (app.yaml keeps the two apart, so the
    password needs no URL quoting); `url` as it is when there is none."""
    parsed = sa.make_url(url)
    return parsed.set(password=password) if password else parsed
