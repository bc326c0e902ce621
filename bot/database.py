"""The bot's own database: one engine with timeouts, schema kept current by Alembic.

A store that hangs must turn into a refusal, not a hung bot. Each dialect gets the
timeouts it has: SQLite a busy (lock) timeout; PostgreSQL a connect timeout and
server-side statement and lock timeouts. A server that is frozen outright (stopped,
or a network that drops packets) cannot enforce its own timeouts, so on PostgreSQL
a watchdog also shuts the socket of a connection held past its deadline: the
blocked call then fails like a lost connection, and its thread is free again.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

__all__ = ["ConnectionDeadline", "create_engine", "migrate"]

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, *, timeout: float | None = 5.0) -> sa.Engine:
    """An engine for the audit/request database. `timeout` bounds how long one use of a
    connection may take (seconds); None for tools that read or migrate at length."""
    if url.startswith("sqlite"):
        busy = timeout if timeout is not None else 30
        engine = sa.create_engine(url, connect_args={"timeout": busy, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if timeout is None or not url.startswith("postgresql"):
        return sa.create_engine(url, pool_pre_ping=True)
    # One use of a connection stays within `timeout`: waiting for a pooled connection and
    # connecting share it; a statement or lock the server holds ends before the watchdog.
    ms = int(timeout * 800)
    engine = sa.create_engine(
        url,
        # The pre-ping would run before the watchdog is armed, and hang on a frozen
        # server: a connection found dead fails one use and is replaced instead.
        pool_pre_ping=False,
        pool_timeout=timeout / 2,  # waiting for a free pooled connection
        pool_recycle=300,
        connect_args={
            "connect_timeout": max(2, round(timeout / 2)),  # libpq's least is 2 s
            "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
            "keepalives": 1,
            "keepalives_idle": 30,
        },
    )
    ConnectionDeadline(timeout).watch(engine)
    return engine


class ConnectionDeadline:
    """Shuts the socket of a pooled connection checked out for longer than `seconds`
    (the server's own timeouts, set shorter, fire first while it still answers)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._heap: list[tuple[float, int, int]] = []  # (deadline, token, fd)
        self._armed: dict[int, int] = {}  # id(dbapi connection) -> token
        self._live: set[int] = set()
        self._lock = threading.Lock()
        self._tokens = itertools.count()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, engine: sa.Engine) -> None:
        sa.event.listen(engine.pool, "checkout", self._checkout)
        for name in ("checkin", "invalidate", "close", "soft_invalidate"):
            sa.event.listen(engine.pool, name, self._release)

    def _checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        try:
            fd = dbapi_conn.fileno()
        except Exception:  # noqa: BLE001 - a connection without a socket: nothing to guard
            return
        with self._lock:
            token = next(self._tokens)
            self._armed[id(dbapi_conn)] = token
            self._live.add(token)
            heapq.heappush(self._heap, (time.monotonic() + self.seconds, token, fd))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="db-deadline")
                self._thread.start()
        self._wake.set()

    def _release(self, dbapi_conn: Any, *_: Any) -> None:
        if dbapi_conn is None:
            return
        with self._lock:
            token = self._armed.pop(id(dbapi_conn), None)
            if token is not None:
                self._live.discard(token)

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._heap and (
                    self._heap[0][1] not in self._live or self._heap[0][0] <= now
                ):
                    _, token, fd = heapq.heappop(self._heap)
                    if token in self._live:  # still held: past its deadline
                        self._live.discard(token)
                        _shut(fd)
                wait = self._heap[0][0] - now if self._heap else None
            self._wake.wait(wait)
            self._wake.clear()


def _shut(fd: int) -> None:
    # Shutting down a duplicate of the descriptor ends the connection it shares, so the
    # thread blocked on it returns an error; the pool then discards the connection.
    log.error("audit store did not answer in time: its connection is closed")
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent; safe at every start)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
