"""The MIM Synchronization Service database (metaverse), read-only.

Reads `mms_metaverse` and its satellites with SQLAlchemy Core (statements in
`connectors.mimsync.schema`) and the precedence / deletion-rule configuration
(`connectors.mimsync.server_config`). It never writes: Microsoft supports no direct
change to the sync database, and removing the metaverse object is the deletion
rule's job (`plan_delete` names the source deletion that triggers it).

Timeouts (each call's `timeout`, seconds) are enforced where the driver allows:
- PostgreSQL: `statement_timeout` and read-only mode. On the connector's own engine
  reads run in autocommit (one round trip each) and both are session settings of
  each pooled connection, set again whenever a call's timeout differs; on an engine
  passed in, they are `SET LOCAL` in the call's transaction, so nothing leaks into
  the caller's connections. libpq `connect_timeout` for new connections.
- SQL Server (pyodbc): ODBC login timeout for new connections and the pyodbc
  query timeout (`Connection.timeout`, whole seconds, rounded up) per call.
- SQLite (tests only): no per-statement limit.
Everywhere, a call issuing several statements raises `TimedOut` once its
deadline has passed between two of them.

Retention sweeps (`FindsStale`, Population.UNJOINED): the persons joined to no object
of a rule's management agent (by name; an unknown one is refused) and unchanged since the
cutoff (`last_modification_date`), read in pages by object_id, each page a read of its own
within the timeout, every value bound (`schema.unjoined_stmt`).

Locks (SQL Server): reads run at READ UNCOMMITTED, so they take no shared locks
and never hold up a sync run writing the same rows (the FIM MVP blog's "Secrets of
the metaverse", part 5: query the sync database with NOLOCK or READ UNCOMMITTED;
aseand/RunScript's MIM.syncservice.funtions.OP.ps1 reads every mms_* table `(nolock)`).
The caveat is dirty reads: a search or show may see a row a running sync has
written but not yet committed, and would have shown it a moment later anyway. The
two answers that close an erasure (`apply_delete`'s "gone", `verify_absent`) read
at READ COMMITTED instead: an uncommitted delete that a failed run rolls back must
not count as gone. Those are a few indexed lookups, holding each shared lock only
while a row is read.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connectors._shared.sql import (
    Session,
    connect_deadline,
    limit_connect_time,
    mssql_url,
    query_timeout,
    sql_errors,
)
from connectors.base import (
    RANK_AGGREGATE,
    AttributeValue,
    Capability,
    DeletePlan,
    Health,
    Hit,
    IdKind,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
    ResidualCopy,
    StepResult,
    Verification,
)
from connectors.datamap import SyncMap, SystemInventory
from connectors.doctor import Check
from connectors.errors import ConnectorError, NotFound, NotSupported
from connectors.lineage import (
    AttributeKind,
    AttributeView,
    ConnectorView,
    DeletionRuleView,
    MetaverseView,
)
from connectors.mimsync import schema as q
from connectors.mimsync.datamap import (
    build_inventory,
    build_sync_map,
    deletion_text,
    person_attributes,
)
from connectors.mimsync.doctor import run_doctor
from connectors.mimsync.server_config import (
    ManagementAgent,
    MvSchema,
    SyncConfig,
    SyncConfigError,
    database_agent,
    deletion_trigger,
    load_config_dir,
    mv_schema_of,
    parse_database_config,
    read_config_dir,
)
from connectors.mimsync.settings import MimSyncSettings
from connectors.mimsync.view import (
    connector_view,
    deletion_view,
    plan_notes,
    plan_warnings,
    utc,
)
from connectors.spelling import spellings
from connectors.sweeps import Candidate, Population, StaleRule

__all__ = [
    "AttributeKind",
    "AttributeView",
    "ConnectorView",
    "DeletionRuleView",
    "MetaverseView",
    "MimSyncConnector",
    "MimSyncSettings",
    "UnknownAttribute",
    "mssql_url",
    "sql_errors",
]


class UnknownAttribute(NotSupported):
    """The metaverse has no attribute of that name: it cannot search by it (reported
    as "not searched", and never logged: the "name" may be a value someone typed)."""


_SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_SAFE_MA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.()-]{0,63}")  # "CORP AD", "HR (SQL)"


# ---------------------------------------------------------------- helpers

_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class _Loaded:
    row: Any
    multivalues: list[Any]
    references: list[Any]
    connectors: list[Any]


# Which MV identifier roles each query kind searches (see mimsync_schema.IDENTIFIER_COLUMNS).
_QUERY_ROLES: Mapping[QueryKind, tuple[str, ...]] = {
    QueryKind.MAIL_OR_UPN: ("mail", "upn"),
    QueryKind.EMPLOYEE_ID: ("employee_id",),
    QueryKind.NAME: ("account", "display_name"),
    QueryKind.PREFIX: ("display_name", "account"),
}
_VERIFY_ROLES: Mapping[IdKind, tuple[str, ...]] = {
    IdKind.ACCOUNT: ("account",),
    IdKind.MAIL: ("mail", "upn"),
    IdKind.UPN: ("upn", "mail"),
    IdKind.EMPLOYEE_ID: ("employee_id",),
}
_HIT_IDS = (
    (IdKind.ACCOUNT, "account"),
    (IdKind.DOMAIN, "domain"),
    (IdKind.MAIL, "mail"),
    (IdKind.UPN, "upn"),
    (IdKind.EMPLOYEE_ID, "employee_id"),
    (IdKind.DISPLAY_NAME, "display_name"),
)
# Own engine: reads run in autocommit, so the limits are session settings, set again only
# when the call's timeout differs from what this pooled connection already has.
_PG_SESSION = sa.select(
    sa.func.set_config("statement_timeout", sa.bindparam("ms"), False),
    sa.func.set_config("default_transaction_read_only", "on", False),
)
# A caller's engine: transaction-local (SET LOCAL), gone when the connection is returned.
_PG_LOCAL = sa.select(
    sa.func.set_config("statement_timeout", sa.bindparam("ms"), True),
    sa.func.set_config("transaction_read_only", "on", True),
)
_PG_TIMEOUT_KEY = "mimsync_statement_timeout_ms"
_MV_RANK = RANK_AGGREGATE  # the metaverse waits for its sources: run after them
_RUN_HISTORY = ResidualCopy("sync run history (mms_step_object_details) until it is cleared")


def _matches_nothing(value: str | int) -> bool:
    """No MV value is empty or holds NUL (which PostgreSQL cannot even bind)."""
    return isinstance(value, str) and (not value or "\x00" in value)


def _shown(name: str) -> str:
    """An attribute name for a message, or nothing if it could be a typed value."""
    return f"'{name}'" if _SAFE_NAME.fullmatch(name) else "of that name"


def _label(ids: Mapping[IdKind, str]) -> str:
    display, account = ids.get(IdKind.DISPLAY_NAME), ids.get(IdKind.ACCOUNT)
    if display and account:
        return f"{display} ({account})"
    return display or account or f"MV object {ids[IdKind.MV_OBJECT_ID]}"


# SQL Server isolation levels, as the SQLAlchemy mssql dialect names them ("Transaction
# Isolation Level", docs.sqlalchemy.org/en/20/dialects/mssql.html: AUTOCOMMIT, READ
# COMMITTED, READ UNCOMMITTED, REPEATABLE READ, SERIALIZABLE, SNAPSHOT).
LOCK_FREE = "READ UNCOMMITTED"
COMMITTED = "READ COMMITTED"


def engine_options(url: sa.URL) -> dict[str, Any]:
    """`create_engine` options for the connector's own engine.

    SQL Server: every connection at READ UNCOMMITTED (no shared locks against a running
    sync; the dialect issues SET TRANSACTION ISOLATION LEVEL on each new connection), in
    a transaction that is rolled back when the call returns it. Elsewhere autocommit:
    each read is one round trip, and nothing to roll back on return to the pool.
    """
    if url.get_backend_name() == "mssql":
        return {"isolation_level": LOCK_FREE}
    return {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}


def read_isolation(dialect: str, *, committed: bool) -> str | None:
    """The isolation level a call reads at on `dialect` (None: the engine's own, where
    reads take no shared locks a writer waits for: PostgreSQL's MVCC, SQLite's file)."""
    if dialect != "mssql":
        return None
    return COMMITTED if committed else LOCK_FREE


class MimSyncConnector:
    """Read-only connector for the MIM Sync metaverse (`mms_*` tables).

    `engine` lets tests pass an engine of their own (then `close()` leaves it open).
    Raises only `connectors.errors.ConnectorError` subclasses.
    """

    capabilities = frozenset(
        {Capability.SEARCH, Capability.READ, Capability.DELETE, Capability.VERIFY}
    )
    populations: frozenset[Population] = frozenset({Population.UNJOINED})

    def __init__(self, settings: MimSyncSettings, *, engine: sa.Engine | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.label = settings.label
        self._owns_engine = engine is None
        with sql_errors(settings.name):
            # hide_parameters: chained SQLAlchemy errors must not print searched values.
            self._engine = engine or sa.create_engine(
                settings.engine_url, hide_parameters=True, **engine_options(settings.engine_url)
            )
        limit_connect_time(self._engine)
        self._lock = threading.Lock()
        self._schema: q.MetaverseSchema | None = None
        self._config: SyncConfig | None = None
        self._stmts: dict[tuple[Any, ...], sa.Select] = {}
        self._multivalued: set[str] = set()

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release the connection pool (only if this connector created the engine)."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> MimSyncConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def refresh(self) -> None:
        """Forget the reflected columns and the configuration (after an MV schema change)."""
        with self._lock:
            self._schema, self._config = None, None
            self._stmts.clear()
            self._multivalued.clear()

    @contextmanager
    def _session(self, timeout: float, *, committed: bool = False) -> Iterator[Session]:
        """One connection for one call; `committed`: SQL Server reads committed data only
        (see the module docstring), otherwise READ UNCOMMITTED there."""
        deadline = time.monotonic() + timeout
        with connect_deadline(deadline), sql_errors(self.name), self._engine.connect() as conn:
            level = read_isolation(conn.dialect.name, committed=committed)
            if level is not None and (committed or not self._owns_engine):
                # Our own engine starts each connection at READ UNCOMMITTED already; a
                # connection changed here gets the engine's level back on its return.
                conn.execution_options(isolation_level=level)
            if conn.dialect.name == "postgresql":
                ms = max(1, round(timeout * 1000))
                if not self._owns_engine:
                    conn.execute(_PG_LOCAL, {"ms": str(ms)})
                elif conn.info.get(_PG_TIMEOUT_KEY) != ms:
                    conn.execute(_PG_SESSION, {"ms": str(ms)})
                    conn.info[_PG_TIMEOUT_KEY] = ms
            elif conn.dialect.name == "mssql":
                query_timeout(conn, timeout)
            yield Session(conn, deadline, timeout, self.name)

    def _schema_for(self, s: Session) -> q.MetaverseSchema:
        schema = self._schema
        if schema is None:
            schema = q.reflect_metaverse(s.conn)
            with self._lock:
                self._schema = schema
        return schema

    def _config_for(self, s: Session) -> SyncConfig:
        config = self._config
        if config is not None:
            return config
        mas = [tuple(r) for r in s.rows(q.management_agents_stmt())]
        folder = self.settings.server_config_dir
        if folder is not None:
            known = parse_database_config(None, None, mas).mas.values()  # type: ignore[arg-type]
            try:
                # No export flows: a malformed one must not stop show or an erasure plan.
                config = load_config_dir(folder, known_mas=known, exports=False)
            except OSError as exc:
                raise SyncConfigError(
                    f"{self.name}: cannot read the server configuration folder ({exc.strerror})"
                ) from exc
        else:
            has = sa.inspect(s.conn).has_table("mms_server_configuration")
            rows = s.rows(q.server_configuration_stmt()) if has else []
            xml = tuple(rows[0]) if rows else (None, None)
            config = parse_database_config(xml[0], xml[1], mas)  # type: ignore[arg-type]
        with self._lock:
            self._config = config
        return config

    def _stmt(self, key: tuple[Any, ...], build: Any) -> sa.Select:
        stmt = self._stmts.get(key)
        if stmt is None:
            stmt = self._stmts[key] = build()
        return stmt

    def _object_id(self, ref: ObjectRef) -> uuid.UUID:
        """`ref.id` as a metaverse object id; `NotFound` if it cannot be one."""
        if ref.system != self.name:
            raise ConnectorError(f"{self.name}: the reference belongs to another system")
        try:
            return uuid.UUID(ref.id)
        except ValueError:
            raise NotFound(f"{self.name}: not a metaverse object id") from None

    # ------------------------------------------------------------ search

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """Persons matching `query`; every value is a bound parameter.

        PREFIX drops trailing `*` and matches `%`, `_`, `[` and any other `*` literally;
        equality compares every character literally. A value with a straight quote or
        apostrophe is also searched in its typographic spelling (`connectors.spelling`;
        one more statement). Comparisons follow the database collation
        (case-insensitive on a MIM SQL Server).
        Raises `UnknownAttribute` for an ATTRIBUTE query naming no MV attribute.
        """
        value = query.value.rstrip("*") if query.kind is QueryKind.PREFIX else query.value
        if _matches_nothing(value) and query.kind is not QueryKind.ATTRIBUTE:
            return []  # the attribute of an ATTRIBUTE query is still checked below
        found: dict[Any, Any] = {}
        with self._session(timeout) as s:
            schema = self._schema_for(s)
            for spelling in spellings(value):
                for row in self._find(s, schema, query, spelling):
                    found.setdefault(row.object_id, row)
        rows = list(found.values())[: self.settings.max_hits]
        hits = [self._hit(schema, r) for r in rows]
        return sorted(hits, key=lambda h: (h.label.casefold(), h.ref.id))

    def _find(self, s: Session, schema: q.MetaverseSchema, query: Query, value: str) -> list[Any]:
        params: dict[str, Any] = {"object_type": self.settings.person_type, "value": value}
        limit = self.settings.max_hits
        if query.kind is QueryKind.ATTRIBUTE:
            return self._find_attribute(s, schema, query.attribute or "", params)
        columns = tuple(c for role in _QUERY_ROLES[query.kind] for c in schema.role(role))
        if not columns:
            return []
        prefix = query.kind is QueryKind.PREFIX
        if prefix:
            params["value"] = q.like_prefix(value)
        stmt = self._stmt(
            ("search", columns, prefix),
            lambda: q.search_stmt(schema, columns, prefix=prefix, limit=limit),
        )
        return s.rows(stmt, params)

    def _find_attribute(
        self, s: Session, schema: q.MetaverseSchema, attribute: str, params: dict[str, Any]
    ) -> list[Any]:
        limit = self.settings.max_hits
        column = schema.resolve(attribute)
        if column is not None:
            col_type = schema.mv.c[column].type
            if isinstance(col_type, sa.Integer):
                if not _INTEGER.fullmatch(params["value"]):  # also: nothing to match
                    return []
                params["value"] = int(params["value"])
            elif not isinstance(col_type, sa.String):
                raise NotSupported(f"{self.name}: attribute {_shown(attribute)} is not searchable")
            if _matches_nothing(params["value"]):
                return []
            stmt = self._stmt(
                ("search", (column,), False),
                lambda: q.search_stmt(schema, (column,), prefix=False, limit=limit),
            )
            return s.rows(stmt, params)
        if attribute and "\x00" not in attribute and self._is_multivalued(s, attribute):
            if _matches_nothing(params["value"]):
                return []
            stmt = self._stmt(("multi",), lambda: q.multivalue_search_stmt(schema, limit=limit))
            return s.rows(stmt, {**params, "attribute": attribute})
        raise UnknownAttribute(
            f"{self.name}: the metaverse has no attribute {_shown(attribute)}"
            " (names are those of the MV schema, e.g. accountName, mail, employeeID)"
        )

    def _is_multivalued(self, s: Session, attribute: str) -> bool:
        if attribute in self._multivalued:
            return True
        if s.rows(q.multivalue_probe_stmt(), {"attribute": attribute}):
            self._multivalued.add(attribute)
            return True
        return False

    def _hit(self, schema: q.MetaverseSchema, row: Any) -> Hit:
        m = row._mapping
        ids = {IdKind.MV_OBJECT_ID: str(m["object_id"])}
        for kind, role in _HIT_IDS:
            for column in schema.role(role):
                value = m[column]
                if value is not None:
                    ids[kind] = value if type(value) is str else _text(value)
                    break
        return Hit(
            ref=ObjectRef(self.name, ids[IdKind.MV_OBJECT_ID]),
            label=_label(ids),
            identifiers=ids,
            modified=utc(m["last_modification_date"]),
        )

    # ------------------------------------------------------------ read / show

    def show(self, ref: ObjectRef, *, timeout: float) -> MetaverseView:
        """One MV object with source of authority, last change, connectors and deletion rule.

        Raises `NotFound` when the object is not in the metaverse.
        """
        oid = self._object_id(ref)
        with self._session(timeout) as s:
            schema = self._schema_for(s)
            config = self._config_for(s)
            loaded = self._load(s, schema, oid, full=True)
        if loaded is None:
            raise NotFound(f"{self.name}: no metaverse object with that id")
        return self._view(ref, schema, config, loaded)

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """All MV attributes of `ref`; `source` = authoritative MA, `modified` = lineage date."""
        view = self.show(ref, timeout=timeout)
        attributes = {
            a.name: AttributeValue(a.values, source=a.stated_source, modified=a.modified)
            for a in view.attributes
        }
        return Record(ref=ref, attributes=attributes, modified=view.modified)

    def _load(
        self, s: Session, schema: q.MetaverseSchema, oid: uuid.UUID, *, full: bool
    ) -> _Loaded | None:
        params = {"object_id": oid}
        rows = s.rows(self._stmt(("object",), lambda: q.object_stmt(schema)), params)
        if not rows:
            return None
        conns = s.rows(self._stmt(("cs",), q.connectors_stmt), params)
        if not full:  # plan_delete needs the object type and the connectors only
            return _Loaded(rows[0], [], [], conns)
        multi = s.rows(self._stmt(("mv",), q.multivalue_stmt), params)
        refs = s.rows(self._stmt(("refs",), lambda: q.references_stmt(schema)), params)
        return _Loaded(rows[0], multi, refs, conns)

    def _view(
        self, ref: ObjectRef, schema: q.MetaverseSchema, config: SyncConfig, loaded: _Loaded
    ) -> MetaverseView:
        row = loaded.row._mapping
        object_type = row["object_type"]
        # (name, kind) -> [values, lineage id of the first value, latest lineage date]
        found: dict[tuple[str, AttributeKind], list[Any]] = {}
        for i, name in enumerate(schema.attributes.values()):
            if (value := row[f"a{i}"]) is not None:
                found[name, AttributeKind.SINGLE] = [
                    [_text(value)],
                    row.get(f"g{i}"),
                    row.get(f"d{i}"),
                ]
        for r in loaded.multivalues:  # columns 1-5: the value columns, one of them filled
            value = next((v for v in tuple(r)[1:6] if v is not None), None)
            if value is not None:
                _collect(found, r.attribute_name, AttributeKind.MULTI, _text(value), r)
        for r in loaded.references:
            target = r.target_display_name or str(r.reference_id)
            _collect(found, r.attribute_name, AttributeKind.REFERENCE, target, r)
        connected = {c.ma_id for c in loaded.connectors if c.is_connector}
        wanted = {a.lower() for a in self.settings.personal_attributes}
        attributes = []
        for (name, kind), (values, lineage, when) in found.items():
            if wanted and name.lower() not in wanted:
                continue
            auth = config.authority(object_type, name, connected, lineage)
            precedence = auth.kind
            attributes.append(
                AttributeView(
                    name,
                    tuple(values),
                    kind,
                    auth.ma_name,
                    auth.text,
                    precedence,
                    utc(when),
                    source_attribute=auth.source_attribute,
                )
            )
        ids = {IdKind.MV_OBJECT_ID: ref.id}
        for id_kind, role in _HIT_IDS:
            values = next(
                (
                    found[c, AttributeKind.SINGLE][0]
                    for c in schema.role(role)
                    if (c, AttributeKind.SINGLE) in found
                ),
                None,
            )
            if values:
                ids[id_kind] = values[0]
        return MetaverseView(
            ref=ref,
            label=_label(ids),
            object_type=object_type,
            modified=utc(row["last_modification_date"]),
            attributes=tuple(attributes),
            connectors=tuple(connector_view(config, c) for c in loaded.connectors),
            deletion_rule=deletion_view(config, object_type),
        )

    # ------------------------------------------------------------ erasure

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Never a direct delete: WAIT for the MV deletion rule, naming what triggers it.

        Raises `NotFound` when the object is not in the metaverse.
        """
        oid = self._object_id(ref)
        with self._session(timeout) as s:
            schema = self._schema_for(s)
            config = self._config_for(s)
            loaded = self._load(s, schema, oid, full=False)
        if loaded is None:
            raise NotFound(f"{self.name}: no metaverse object with that id")
        rule = config.deletion_rule(loaded.row.object_type)
        return DeletePlan(
            ref=ref,
            action=PlanAction.WAIT,
            summary=f"wait for the deletion rule: {deletion_trigger(config, rule)}",
            residuals=(ResidualCopy("metaverse object until the deletion rule runs"),),
            manual=plan_warnings(config, rule, loaded.connectors),
            authority_rank=_MV_RANK,
            notes=plan_notes(config, loaded.connectors),
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """Check only; the sync engine deletes the MV object, this connector never does.

        Returns `done=True, already_absent=True` once the object is gone and
        `done=False` while it is still there (the runner waits and asks again); it
        does not raise for "still present". Database failures raise ConnectorError.
        """
        oid = self._object_id(plan.ref)
        with self._session(timeout, committed=True) as s:
            schema = self._schema_for(s)
            present = s.rows(
                self._stmt(("byid",), lambda: q.by_id_stmt(schema)), {"object_id": oid}
            )
        if not present:
            return StepResult(
                plan.ref, done=True, already_absent=True, detail="the metaverse object is gone"
            )
        return StepResult(plan.ref, done=False, detail="waiting for the metaverse deletion rule")

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Search by every usable identifier until nothing is found or the wait ends.

        Uses MV_OBJECT_ID, ACCOUNT, MAIL, UPN and EMPLOYEE_ID; polls every
        `poll_interval_s` for up to `delete_wait_timeout_s` (each poll gets `timeout`).
        """
        wait_until = time.monotonic() + self.settings.delete_wait_timeout_s
        while True:
            checked, remaining = self._remaining(identifiers, timeout)
            if not checked:
                return Verification(
                    self.name, absent=False, detail="no identifier the metaverse can be searched by"
                )
            if not remaining:
                return Verification(
                    self.name, absent=True, residuals=(_RUN_HISTORY,), detail="not in the metaverse"
                )
            left = wait_until - time.monotonic()
            if left <= 0:
                refs = tuple(ObjectRef(self.name, i) for i in sorted(remaining))
                return Verification(
                    self.name,
                    absent=False,
                    remaining=refs,
                    detail=f"{len(refs)} metaverse object(s) remain: the deletion rule has not run",
                )
            time.sleep(min(self.settings.poll_interval_s, left))

    def _remaining(
        self, identifiers: Mapping[IdKind, str], timeout: float
    ) -> tuple[bool, set[str]]:
        found: set[str] = set()
        checked = False
        with self._session(timeout, committed=True) as s:
            schema = self._schema_for(s)
            for kind, value in identifiers.items():
                if not value or "\x00" in value:
                    continue
                if kind is IdKind.MV_OBJECT_ID:
                    try:
                        params: dict[str, Any] = {"object_id": uuid.UUID(value)}
                    except ValueError:
                        continue
                    stmt = self._stmt(("byid",), lambda: q.by_id_stmt(schema))
                else:
                    columns = tuple(c for r in _VERIFY_ROLES.get(kind, ()) for c in schema.role(r))
                    if not columns:
                        continue
                    params = {"object_type": self.settings.person_type, "value": value}
                    stmt = self._stmt(
                        ("search", columns, False),
                        lambda c=columns: q.search_stmt(  # type: ignore[misc]
                            schema, c, prefix=False, limit=self.settings.max_hits
                        ),
                    )
                checked = True
                found.update(str(r.object_id) for r in s.rows(stmt, params))
        return checked, found

    # ------------------------------------------------------------ retention sweeps

    def stale(self, rule: StaleRule, *, now: datetime, timeout: float) -> Iterator[Candidate]:
        """Persons no longer joined to `rule.agent` (an MA's name) and unchanged since the
        rule's cutoff, as search hits carry them, paged by object_id (each page one read
        within `timeout`). `NotSupported` for another population, no agent, or an MA the
        Sync Service does not have; checked at the call, before the first page."""
        if rule.population is not Population.UNJOINED:
            raise NotSupported(
                f"{self.name}: the metaverse cannot find the {rule.population.value} population"
            )
        if not rule.agent or "\x00" in rule.agent:
            raise NotSupported(f"{self.name}: an unjoined rule names its management agent")
        cutoff = rule.cutoff(now)
        naive = (cutoff if cutoff.tzinfo is None else cutoff.astimezone(UTC)).replace(tzinfo=None)
        with self._session(timeout) as s:
            schema = self._schema_for(s)
            found = s.rows(q.ma_id_stmt(), {"ma_name": rule.agent})
        if len(found) != 1:
            raise NotSupported(
                f"{self.name}: the Sync Service has no management agent "
                + (f"'{rule.agent}'" if _SAFE_MA_NAME.fullmatch(rule.agent) else "of that name")
            )
        params = {"object_type": self.settings.person_type, "ma_id": found[0][0], "cutoff": naive}
        return self._unjoined(schema, params, timeout)

    def _unjoined(
        self, schema: q.MetaverseSchema, params: dict[str, Any], timeout: float
    ) -> Iterator[Candidate]:
        page = self.settings.page_size
        first = q.unjoined_stmt(schema, page=page, after=False)
        later = q.unjoined_stmt(schema, page=page, after=True)
        after: uuid.UUID | None = None
        while True:
            with self._session(timeout) as s:
                if after is None:
                    rows = s.rows(first, params)
                else:
                    rows = s.rows(later, {**params, "after": after})
            for row in rows:
                hit = self._hit(schema, row)
                yield Candidate(hit.ref, hit.identifiers, hit.label, since=hit.modified)
            if len(rows) < page:
                return
            after = rows[-1].object_id

    # ------------------------------------------------------------ the data map

    def sync_map(self, *, timeout: float) -> SyncMap:
        """The metaverse's configuration for persons (`MapsTheMetaverse`): every MA with its
        type, description and deprovisioning action, import precedence, the MAs' export
        flows of persons and the deletion rule; from `server_config_dir` when set, else
        from the database. Configuration and names only. `SyncConfigError` names a part
        that does not parse (a malformed export flow, say)."""
        with self._session(timeout) as s:
            schema = self._schema_for(s)
            config, agents, mv_schema = self._map_config(s)
        return build_sync_map(
            person_type=self.settings.person_type,
            columns=schema.attributes.values(),
            mv_schema=mv_schema,
            config=config,
            agents=agents,
        )

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What the metaverse holds about persons (`DescribesData`): its person attributes,
        how many person objects (a COUNT), and what keeps their data with no date. A
        configuration that does not parse leaves the counts and columns standing and says
        so in a note."""
        person_type = self.settings.person_type
        notes: list[str] = []
        with self._session(timeout) as s:
            schema = self._schema_for(s)
            persons = int(s.rows(q.person_count_stmt(), {"object_type": person_type})[0][0])
            try:
                config, agents, mv_schema = self._map_config(s)
            except SyncConfigError as exc:
                notes.append(f"the configuration could not be read: {exc}")
                config, agents, mv_schema = SyncConfig(), {}, MvSchema({}, frozenset())
        attributes = person_attributes(
            schema.attributes.values(), mv_schema, config, agents.values(), person_type
        )
        return build_inventory(
            system=self.name,
            label=self.label,
            dialect=self._engine.dialect.name,
            attributes=attributes,
            persons=persons,
            deletion=None if notes else deletion_text(config, person_type),
            notes=notes,
        )

    def _map_config(
        self, s: Session
    ) -> tuple[SyncConfig, dict[uuid.UUID, ManagementAgent], MvSchema]:
        """The configuration read afresh for the data map, MAs with their descriptions and
        export flows: from the folder when one is set (the database's row for an MA that
        has no file there), else from the database's columns."""
        known = {
            row[0]: database_agent(*row)  # type: ignore[arg-type]
            for row in (tuple(r) for r in s.rows(q.management_agent_details_stmt()))
        }
        folder = self.settings.server_config_dir
        if folder is not None:
            try:
                read = read_config_dir(folder, known_mas=known.values())
            except OSError as exc:
                raise SyncConfigError(
                    f"{self.name}: cannot read the server configuration folder ({exc.strerror})"
                ) from exc
            return read.config, dict(read.config.mas), read.mv_schema
        xml: tuple[Any, ...] = (None, None)
        mv_schema = MvSchema({}, frozenset())
        if sa.inspect(s.conn).has_table("mms_server_configuration"):
            rows = s.rows(q.server_configuration_stmt())
            xml = tuple(rows[0]) if rows else xml
            schema_rows = s.rows(q.mv_schema_stmt())
            if schema_rows and schema_rows[0][0]:
                mv_schema = mv_schema_of(schema_rows[0][0], "mv_schema_xml")
        parsed = parse_database_config(xml[0], xml[1], ())
        config = SyncConfig(parsed.precedence, parsed.deletion_rules, known)
        return config, known, mv_schema

    def doctor(self, *, timeout: float) -> list[Check]:
        """Check, read-only, what this connector assumes about the sync database: its
        tables and columns, lock-free reads, the person object type and the attributes
        searched by, and the configuration (connectors/mimsync/doctor.py)."""
        return run_doctor(self, timeout=timeout)

    def health(self, *, timeout: float) -> Health:
        """Read one metaverse row, the MV columns and the configuration; never raises."""
        try:
            with self._session(timeout) as s:
                s.rows(q.health_stmt())
                schema = self._schema_for(s)
                config = self._config_for(s)
        except ConnectorError as exc:
            return Health(self.name, ok=False, detail=str(exc))
        source = "folder" if self.settings.server_config_dir else "database"
        return Health(
            self.name,
            ok=True,
            detail=f"metaverse readable: {len(schema.attributes)} attributes, "
            f"{len(config.mas)} management agents, configuration from the {source}",
        )


def _collect(
    found: dict[tuple[str, AttributeKind], list[Any]],
    name: str,
    kind: AttributeKind,
    value: str,
    r: Any,
) -> None:
    """Add one value of a multi-valued or reference attribute; keep the latest lineage date."""
    entry = found.setdefault((name, kind), [[], r.lineage_id, None])
    entry[0].append(value)
    dates = [d for d in (entry[2], r.lineage_date) if d is not None]
    entry[2] = max(dates, default=None)
