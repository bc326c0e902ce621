"""`doctor` for the MIM Sync connector: what it assumes about the sync database, checked
read-only on the live one (connectors/doctor.py).

Each check reads schema and configuration only: table and column names (SQLAlchemy's
inspector), object type and attribute names, management agent names, the session's
isolation level. The only rows touched are one object id (does any object of the person
type exist?) and attribute names in the value tables; no value of anyone is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable
from connectors.mimsync import schema as q
from connectors.mimsync.server_config import (
    ManagementAgent,
    MvSchema,
    SyncConfig,
    SyncConfigError,
    deletion_trigger,
    mv_schema_of,
    parse_database_config,
    read_config_dir,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from connectors._shared.sql import Session
    from connectors.mimsync.settings import MimSyncSettings


class MimSyncConnector(Protocol):
    """What the checks use of the connector (connectors/mimsync/connector.py): its
    settings and a read session. A protocol, so that the connector may import this."""

    settings: MimSyncSettings

    def _session(
        self, timeout: float, *, committed: bool = False
    ) -> AbstractContextManager[Session]: ...


__all__ = ["SEARCH_ROLES", "isolation_check", "run_doctor"]

TABLES = "the sync database has the tables and columns the bot reads"
LOCKS = "reads take no shared locks (SQL Server: READ UNCOMMITTED)"
# The identifier roles a search uses (schema.IDENTIFIER_COLUMNS), as a person says them;
# mail and upn stand in for each other (a MAIL_OR_UPN search reads both).
SEARCH_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("account name", ("account",)),
    ("display name", ("display_name",)),
    ("mail or UPN", ("mail", "upn")),
    ("employee ID", ("employee_id",)),
)
# sys.dm_exec_sessions.transaction_isolation_level (learn.microsoft.com, "sys.dm_exec_sessions":
# 0 unspecified, 1 ReadUncommitted, 2 ReadCommitted, 3 RepeatableRead, 4 Serializable,
# 5 Snapshot). Everyone may read their own session's row, without VIEW SERVER STATE.
_LEVELS = {
    0: "unspecified",
    1: "READ UNCOMMITTED",
    2: "READ COMMITTED",
    3: "REPEATABLE READ",
    4: "SERIALIZABLE",
    5: "SNAPSHOT",
}
_OWN_SESSION_LEVEL = sa.text(
    "SELECT transaction_isolation_level FROM sys.dm_exec_sessions WHERE session_id = @@SPID"
)
_TYPES_SHOWN = 20


@dataclass
class _Clock:
    deadline: float

    def left(self) -> float:
        return self.deadline - time.monotonic()


def isolation_check(level: int | None) -> Check:
    """The lock check from a SQL Server session's `transaction_isolation_level`."""
    found = _LEVELS.get(level, f"level {level}") if level is not None else "no session row"
    if level == 1:
        return ok(LOCKS, f"the bot's session reads at {found}")
    return wrong(
        LOCKS,
        f"the bot's session reads at {found}: its reads take shared locks a sync run waits for",
        "something resets the connection's isolation level (an ODBC DSN option, a proxy): "
        "the connector sets READ UNCOMMITTED on each connection it opens; remove the override",
    )


def run_doctor(connector: MimSyncConnector, *, timeout: float) -> list[Check]:
    """Every check, in reading order; never raises for the database's errors."""
    clock = _Clock(time.monotonic() + timeout)
    settings = connector.settings
    checks: list[Check] = []
    found = _database(connector, clock)
    if isinstance(found, Check):  # no database to ask: say so once, then the folder
        checks.append(found)
        db: _Db | None = None
    else:
        db = found
        checks.append(db.tables_check)
        checks.append(_step(clock, LOCKS, lambda: _locks(connector, clock)))
        checks.append(
            _step(
                clock,
                f"the metaverse holds objects of type '{settings.person_type}'",
                lambda: _person_type(connector, clock, db),
            )
        )
        checks.append(db.roles_check)
    mv_schema, config_check, config = _configuration(connector, clock, db)
    if settings.personal_attributes:
        checks.append(_personal(connector, clock, db, mv_schema))
    checks.append(config_check)
    if config is not None:
        checks.append(_deletion_rule(config, settings.person_type))
    return checks


# ---------------------------------------------------------------- the database


@dataclass
class _Db:
    tables_check: Check
    roles_check: Check
    metaverse: q.MetaverseSchema | None
    mas: list[tuple[Any, ...]] | None  # mms_management_agent rows, when readable
    has_columns: dict[str, frozenset[str]]  # table -> its columns (lower case)


def _fix_for(exc: ConnectorError) -> str:
    if isinstance(exc, Denied):
        return "give the bot's account db_datareader on the sync database"
    if isinstance(exc, Unreachable | TimedOut):
        return "check connectors.mimsync.url (host, port, database) and the network path to it"
    return "check connectors.mimsync.url names the sync database (FIMSynchronizationService)"


def _database(connector: MimSyncConnector, clock: _Clock) -> _Db | Check:
    """Inspect the tables (one connection); a Check when the database cannot be asked."""
    try:
        with connector._session(max(clock.left(), 0.001)) as s:
            inspector = sa.inspect(s.conn)
            present = {n.lower(): n for n in inspector.get_table_names()}
            has: dict[str, frozenset[str]] = {}
            for table in q.columns_read():
                if table.lower() in present:
                    columns = inspector.get_columns(present[table.lower()])
                    has[table] = frozenset(c["name"].lower() for c in columns)
            tables_check = _tables_check(connector, has)
            metaverse = q.reflect_metaverse(s.conn) if "mms_metaverse" in has else None
            mas = None
            if "ma_name" in has.get("mms_management_agent", frozenset()):
                mas = [tuple(r) for r in s.rows(q.management_agents_stmt())]
    except ConnectorError as exc:
        return cannot_tell(TABLES, f"{type(exc).__name__}: {exc}", _fix_for(exc))
    return _Db(tables_check, _roles(metaverse), metaverse, mas, has)


def _tables_check(connector: MimSyncConnector, has: dict[str, frozenset[str]]) -> Check:
    wanted = q.columns_read()
    if connector.settings.server_config_dir is not None:
        # With an export folder the configuration is read from there, not this table.
        wanted.pop("mms_server_configuration", None)
    missing_tables = sorted(t for t in wanted if t not in has)
    missing_columns = sorted(
        f"{t}.{c}" for t, cols in wanted.items() if t in has for c in cols if c not in has[t]
    )
    if not missing_tables and not missing_columns:
        count = sum(len(c) for c in wanted.values())
        return ok(TABLES, f"{len(wanted)} tables, {count} columns read")
    parts = []
    if missing_tables:
        parts.append(f"no table {', '.join(missing_tables)}")
    if missing_columns:
        parts.append(f"no column {', '.join(missing_columns)}")
    return wrong(
        TABLES,
        "; ".join(parts),
        "point connectors.mimsync.url at the MIM Synchronization Service's own database"
        " (FIMSynchronizationService), not a copy or another product's",
    )


def _roles(metaverse: q.MetaverseSchema | None) -> Check:
    name = "the metaverse has the attributes the bot searches by"
    if metaverse is None:
        return cannot_tell(name, "no mms_metaverse table to read", "see the tables check")
    found, missing = [], []
    for said, roles in SEARCH_ROLES:
        columns = [c for role in roles for c in metaverse.role(role)]
        if columns:
            found.append(f"{said} ({', '.join(columns)})")
        else:
            missing.append(said)
    domain = metaverse.role("domain")
    detail = "; ".join(found) or "none"
    if not domain:
        detail += "; no domain attribute: hits join other systems by account name alone"
    if not missing:
        return ok(name, detail)
    return wrong(
        name,
        f"no metaverse attribute for {', '.join(missing)}; found {detail}",
        "searches by those find nobody in the metaverse: add the attribute to the MV schema"
        f" (names the bot knows: {_known_names(missing)})",
    )


def _known_names(missing: Iterable[str]) -> str:
    roles = dict(SEARCH_ROLES)
    names = [c for said in missing for r in roles[said] for c in q.IDENTIFIER_COLUMNS[r]]
    return ", ".join(names)


def _step(clock: _Clock, name: str, run: Callable[[], Check]) -> Check:
    """One check's database work; its error becomes CANNOT_TELL with the fix."""
    if clock.left() <= 0:
        return cannot_tell(name, "no time left", "run the doctor again with a longer timeout")
    try:
        return run()
    except ConnectorError as exc:
        return cannot_tell(name, f"{type(exc).__name__}: {exc}", _fix_for(exc))


def _locks(connector: MimSyncConnector, clock: _Clock) -> Check:
    with connector._session(max(clock.left(), 0.001)) as s:
        dialect = s.conn.dialect.name
        if dialect != "mssql":
            return ok(LOCKS, f"not SQL Server ({dialect}): no shared-lock concern")
        rows = s.rows(_OWN_SESSION_LEVEL)
    return isolation_check(int(rows[0][0]) if rows and rows[0][0] is not None else None)


def _person_type(connector: MimSyncConnector, clock: _Clock, db: _Db) -> Check:
    person = connector.settings.person_type
    name = f"the metaverse holds objects of type '{person}'"
    if db.metaverse is None:
        return cannot_tell(name, "no mms_metaverse table to read", "see the tables check")
    with connector._session(max(clock.left(), 0.001)) as s:
        if s.rows(q.object_type_probe_stmt(), {"object_type": person}):
            return ok(name, "found")
        types = sorted(str(r[0]) for r in s.rows(q.object_types_stmt(_TYPES_SHOWN)))
    if not types:
        return cannot_tell(
            name,
            "the metaverse is empty",
            "run the sync's imports and synchronisations first, then the doctor again",
        )
    return wrong(
        name,
        f"none; object types present: {', '.join(types)}",
        "set connectors.mimsync.person_type to the metaverse object type that holds people",
    )


def _personal(
    connector: MimSyncConnector, clock: _Clock, db: _Db | None, mv_schema: MvSchema
) -> Check:
    """Each of `personal_attributes` is an MV attribute: a column, in the MV schema, or
    (with no schema to read) held by some object as a multi-valued or reference value."""
    wanted = connector.settings.personal_attributes
    name = "the personal attributes shown exist in the metaverse"
    columns = set(db.metaverse.attributes) if db and db.metaverse else set()
    missing = [a for a in wanted if a.lower() not in columns | mv_schema.attributes]
    if missing and not mv_schema:
        if db is None:
            return cannot_tell(name, "the database cannot be read", "see the database check")
        try:
            missing = [a for a in missing if not _held(connector, clock, a)]
        except ConnectorError as exc:
            return cannot_tell(name, f"{type(exc).__name__}: {exc}", _fix_for(exc))
    if not missing:
        return ok(name, f"{len(wanted)} attributes: {', '.join(wanted)}")
    return wrong(
        name,
        f"not in the metaverse: {', '.join(missing)}",
        "correct connectors.mimsync.personal_attributes to MV attribute names"
        " (Metaverse Designer spells them)",
    )


def _held(connector: MimSyncConnector, clock: _Clock, attribute: str) -> bool:
    link = sa.table("mms_mv_link", sa.column("object_id"), sa.column("attribute_name"))
    probe_ref = (
        sa.select(link.c.object_id)
        .where(link.c.attribute_name == sa.bindparam("attribute"))
        .limit(1)
    )
    with connector._session(max(clock.left(), 0.001)) as s:
        params = {"attribute": attribute}
        return bool(s.rows(q.multivalue_probe_stmt(), params) or s.rows(probe_ref, params))


# ---------------------------------------------------------------- the configuration


def _configuration(
    connector: MimSyncConnector, clock: _Clock, db: _Db | None
) -> tuple[MvSchema, Check, SyncConfig | None]:
    folder = connector.settings.server_config_dir
    known = _known_mas(db)
    empty = MvSchema({}, frozenset())
    if folder is not None:
        name = "the svrexport folder parses (MV.XML and the MA files)"
        try:
            read = read_config_dir(folder, known_mas=())
        except OSError as exc:
            return (
                empty,
                wrong(
                    name,
                    f"cannot read the folder ({exc.strerror})",
                    "give the bot's account read access to connectors.mimsync.server_config_dir",
                ),
                None,
            )
        except ConnectorError as exc:
            return (
                empty,
                wrong(
                    name,
                    str(exc),
                    "export the configuration again (svrexport) into an empty folder",
                ),
                None,
            )
        names = sorted(ma.name for ma in read.config.mas.values())
        detail = f"{read.mv_file} and {len(read.ma_files)} MA files ({', '.join(names)})"
        absent = sorted(ma.name for ma in known if ma.ma_id not in read.ma_files)
        config = SyncConfig(
            read.config.precedence,
            read.config.deletion_rules,
            {**{ma.ma_id: ma for ma in known}, **read.config.mas},
        )
        if absent:
            return (
                read.mv_schema,
                wrong(
                    name,
                    f"{detail}; no file for the server's {', '.join(absent)}",
                    "the export is older than the server's management agents: run svrexport again",
                ),
                config,
            )
        return read.mv_schema, ok(name, detail), config
    name = "the server configuration in the database parses"
    if db is None:
        unread = cannot_tell(name, "the database cannot be read", "see the database check")
        return empty, unread, None
    if clock.left() <= 0:
        return (
            empty,
            cannot_tell(name, "no time left", "run the doctor again with a longer timeout"),
            None,
        )
    try:
        with connector._session(max(clock.left(), 0.001)) as s:
            config = _database_config(s, db)
            mv_schema = _database_mv_schema(s, db)
    except SyncConfigError as exc:
        return (
            empty,
            wrong(
                name,
                str(exc),
                "the sync database's configuration XML does not parse: export it (svrexport) and"
                " set server_config_dir, and report the part named",
            ),
            None,
        )
    except ConnectorError as exc:
        return empty, cannot_tell(name, f"{type(exc).__name__}: {exc}", _fix_for(exc)), None
    if config is None:
        return (
            empty,
            wrong(
                name,
                "no mms_server_configuration row",
                "point connectors.mimsync.url at the sync database, or set server_config_dir"
                " to a svrexport folder",
            ),
            None,
        )
    detail = f"{len(config.mas)} management agents, precedence for " + ", ".join(
        f"{len(attrs)} {t} attributes" for t, attrs in sorted(config.precedence.items())
    )
    return mv_schema, ok(name, detail), config


def _known_mas(db: _Db | None) -> list[ManagementAgent]:
    if db is None or db.mas is None:
        return []
    return list(parse_database_config(None, None, db.mas).mas.values())  # type: ignore[arg-type]


def _database_config(s: Session, db: _Db) -> SyncConfig | None:
    if "mms_server_configuration" not in db.has_columns:
        return None
    rows = s.rows(q.server_configuration_stmt())
    if not rows:
        return None
    return parse_database_config(rows[0][0], rows[0][1], db.mas or [])


def _database_mv_schema(s: Session, db: _Db) -> MvSchema:
    if "mv_schema_xml" not in db.has_columns.get("mms_server_configuration", frozenset()):
        return MvSchema({}, frozenset())
    rows = s.rows(q.mv_schema_stmt())
    if not rows or not rows[0][0]:
        return MvSchema({}, frozenset())
    return mv_schema_of(rows[0][0], "mv_schema_xml")


def _deletion_rule(config: SyncConfig, person_type: str) -> Check:
    name = f"a metaverse deletion rule for '{person_type}' is known"
    rule = config.deletion_rule(person_type)
    if rule is None:
        return wrong(
            name,
            "none in the configuration",
            "the bot cannot say what removes a person from the metaverse: check the MV"
            " deletion rule in Metaverse Designer and the export or person_type",
        )
    return ok(name, f"{rule.kind}: {deletion_trigger(config, rule)}")
