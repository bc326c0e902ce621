"""The MIM Sync database as SQLAlchemy Core: fixed tables, metaverse reflection, statements.

The fixed tables (`mms_connectorspace`, `mms_csmv_link`, ...) are declared with
the subset of columns the connector reads; the metaverse tables have one column
per MV attribute, which differs per customer, so they are reflected (column
names only) and rebuilt here with known types for the system columns.

Every statement the connector issues is built in this module, from Core
constructs with `bindparam`s: no value and no user-typed name is ever pasted
into SQL text. Statements are cached per schema by the connector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.sql import visitors

__all__ = [
    "CONNECTOR_STATES",
    "IDENTIFIER_COLUMNS",
    "METADATA",
    "OPERATIONS",
    "SYSTEM_COLUMNS",
    "MetaverseSchema",
    "by_id_stmt",
    "columns_read",
    "connectors_stmt",
    "health_stmt",
    "like_prefix",
    "ma_id_stmt",
    "management_agent_details_stmt",
    "management_agents_stmt",
    "metaverse_tables",
    "multivalue_probe_stmt",
    "multivalue_search_stmt",
    "multivalue_stmt",
    "mv_schema_stmt",
    "object_stmt",
    "object_type_probe_stmt",
    "object_types_stmt",
    "person_count_stmt",
    "references_stmt",
    "reflect_metaverse",
    "search_stmt",
    "server_configuration_stmt",
    "unjoined_stmt",
]

METADATA = sa.MetaData()

# Columns of mms_metaverse that are engine bookkeeping, not MV attributes.
SYSTEM_COLUMNS = frozenset(
    {
        "object_id",
        "object_type",
        "last_modification_date",
        "object_type_lineage_id",
        "object_type_lineage_date",
        "is_ref_retry",
        "is_provisioning_retry",
    }
)
CONNECTOR_STATES = {0: "normal", 1: "explicit", 2: "filtered"}
OPERATIONS = {1: "add", 2: "modify", 3: "delete-add", 4: "delete"}

management_agent = sa.Table(
    "mms_management_agent",
    METADATA,
    sa.Column("ma_id", sa.Uuid, primary_key=True),
    sa.Column("ma_name", sa.Unicode(255), nullable=False),
    sa.Column("ma_type", sa.Unicode(64)),
    sa.Column("subtype", sa.Unicode(255)),
    sa.Column("ma_listname", sa.Unicode(255)),
    sa.Column("version_number", sa.Integer),
    sa.Column("creation_date", sa.DateTime),
    sa.Column("modification_date", sa.DateTime),
    sa.Column("ma_description", sa.UnicodeText),
    sa.Column("provisioning_cleanup_xml", sa.UnicodeText),
    # [MS-UPSDBDAP] §2.2.5.6: the MA's export flows, root <export-attribute-flow>.
    sa.Column("export_attribute_flow_xml", sa.UnicodeText),
)

connectorspace = sa.Table(
    "mms_connectorspace",
    METADATA,
    sa.Column("object_id", sa.Uuid, primary_key=True),
    sa.Column("ma_id", sa.Uuid, nullable=False, index=True),
    sa.Column("pobject_id", sa.Uuid),
    sa.Column("rdn", sa.Unicode(876)),
    sa.Column("anchor", sa.LargeBinary(800)),
    sa.Column("partition_id", sa.Uuid),
    sa.Column("is_provisioned", sa.Boolean),
    sa.Column("is_connector", sa.Boolean),
    sa.Column("connector_state", sa.SmallInteger),
    sa.Column("disconnection_modification_date", sa.DateTime),
    sa.Column("last_import_modification_date", sa.DateTime),
    sa.Column("last_export_modification_date", sa.DateTime),
    sa.Column("import_operation", sa.SmallInteger),
    sa.Column("export_operation", sa.SmallInteger),
    sa.Column("is_import_error", sa.Boolean),
    sa.Column("is_export_error", sa.Boolean),
)

csmv_link = sa.Table(
    "mms_csmv_link",
    METADATA,
    sa.Column("mv_object_id", sa.Uuid, nullable=False, index=True),
    sa.Column("cs_object_id", sa.Uuid, nullable=False, index=True),
    sa.Column("lineage_id", sa.Uuid),
    sa.Column("lineage_date", sa.DateTime),
)

multivalue = sa.Table(
    "mms_metaverse_multivalue",
    METADATA,
    sa.Column("object_id", sa.Uuid, nullable=False, index=True),
    # nvarchar(256) as [MS-UPSDBDAP] §2.2.5.10 declares it (the sync database's own spec).
    sa.Column("attribute_name", sa.Unicode(256), nullable=False),
    sa.Column("lineage_id", sa.Uuid),
    sa.Column("lineage_date", sa.DateTime),
    sa.Column("string_value_indexable", sa.Unicode(896)),
    sa.Column("binary_value_indexable", sa.LargeBinary(900)),
    sa.Column("numeric_value", sa.BigInteger),
    sa.Column("string_value_not_indexable", sa.UnicodeText),
    sa.Column("binary_value_not_indexable", sa.LargeBinary),
    sa.Index("ix_mms_metaverse_multivalue_value", "attribute_name", "string_value_indexable"),
)

mv_link = sa.Table(
    "mms_mv_link",
    METADATA,
    sa.Column("object_id", sa.Uuid, nullable=False, index=True),
    sa.Column("attribute_name", sa.Unicode(448), nullable=False),
    sa.Column("lineage_id", sa.Uuid),
    sa.Column("lineage_date", sa.DateTime),
    sa.Column("reference_id", sa.Uuid, nullable=False, index=True),
)

server_configuration = sa.Table(
    "mms_server_configuration",
    METADATA,
    sa.Column("instance_id", sa.Uuid, primary_key=True),
    sa.Column("mv_schema_xml", sa.UnicodeText),
    sa.Column("import_attribute_flow_xml", sa.UnicodeText),
    sa.Column("provisioning_configuration_xml", sa.UnicodeText),
    sa.Column("mv_deletion_rule_xml", sa.UnicodeText),
    sa.Column("mv_extension_dll_xml", sa.UnicodeText),
)


def _system_columns() -> list[sa.Column]:
    return [
        sa.Column("object_id", sa.Uuid, primary_key=True),
        sa.Column("object_type", sa.Unicode(128), nullable=False),
        sa.Column("last_modification_date", sa.DateTime),
        sa.Column("object_type_lineage_id", sa.Uuid),
        sa.Column("object_type_lineage_date", sa.DateTime),
    ]


def metaverse_tables(
    metadata: sa.MetaData, attributes: Sequence[tuple[str, sa.types.TypeEngine]]
) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Declare mms_metaverse and its two lineage tables with the given attribute columns.

    Used by the connector after reflection and by the fixture generator to create them.
    """
    mv = sa.Table(
        "mms_metaverse",
        metadata,
        *_system_columns(),
        *(sa.Column(name, type_) for name, type_ in attributes),
    )
    names = [name for name, _ in attributes]
    guid = _lineage_table(metadata, "mms_metaverse_lineageguid", sa.Uuid, names)
    date = _lineage_table(metadata, "mms_metaverse_lineagedate", sa.DateTime, names)
    return mv, guid, date


def _lineage_table(
    metadata: sa.MetaData, name: str, type_: type[sa.types.TypeEngine], columns: Iterable[str]
) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("object_id", sa.Uuid, primary_key=True),
        *(sa.Column(c, type_) for c in columns),
    )


# Identifier roles, resolved case-insensitively against the discovered MV columns.
IDENTIFIER_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "account": ("accountname",),
    "domain": ("domain",),
    "display_name": ("displayname",),
    "mail": ("mail", "email"),
    "upn": ("userprincipalname", "upn"),
    "employee_id": ("employeeid",),
}


@dataclass(frozen=True)
class MetaverseSchema:
    """The reflected metaverse: its tables and the attribute columns this customer has."""

    mv: sa.Table
    lineage_guid: sa.Table | None
    lineage_date: sa.Table | None
    attributes: Mapping[str, str]  # lower-cased name -> column name as spelled in the DB
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role -> column names

    def resolve(self, name: str) -> str | None:
        """The column name for an attribute name typed in any case, or None."""
        return self.attributes.get(name.lower())

    def role(self, role: str) -> tuple[str, ...]:
        """Column names that hold an identifier role (e.g. "mail"), possibly empty."""
        return self.roles.get(role, ())


def reflect_metaverse(conn: sa.Connection) -> MetaverseSchema:
    """Discover the MV attribute columns; reads column names and types only."""
    inspector = sa.inspect(conn)
    columns = inspector.get_columns("mms_metaverse")
    attrs = [(c["name"], c["type"]) for c in columns if c["name"].lower() not in SYSTEM_COLUMNS]
    metadata = sa.MetaData()
    mv = sa.Table(
        "mms_metaverse",
        metadata,
        *_system_columns(),
        *(sa.Column(name, type_) for name, type_ in attrs),
    )
    names = [name for name, _ in attrs]
    guid = _reflect_lineage(inspector, metadata, "mms_metaverse_lineageguid", sa.Uuid, names)
    date = _reflect_lineage(inspector, metadata, "mms_metaverse_lineagedate", sa.DateTime, names)
    attributes = {name.lower(): name for name in names}
    roles = {
        role: tuple(attributes[c] for c in candidates if c in attributes)
        for role, candidates in IDENTIFIER_COLUMNS.items()
    }
    return MetaverseSchema(mv, guid, date, attributes, roles)


def _reflect_lineage(
    inspector: sa.Inspector,
    metadata: sa.MetaData,
    name: str,
    type_: type[sa.types.TypeEngine],
    attributes: Sequence[str],
) -> sa.Table | None:
    """A lineage table if it exists, with the attribute columns it really has."""
    if not inspector.has_table(name):
        return None
    have = {c["name"] for c in inspector.get_columns(name)}
    return _lineage_table(metadata, name, type_, [a for a in attributes if a in have])


def like_prefix(value: str) -> str:
    r"""A LIKE pattern matching `value` literally as a prefix, for `ESCAPE '\'`.

    `[` is escaped too: SQL Server treats `[...]` as a character class.
    """
    escaped = (
        value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("[", "\\[")
    )
    return escaped + "%"


def _hit_columns(schema: MetaverseSchema) -> list[sa.ColumnElement]:
    mv = schema.mv
    names = dict.fromkeys(n for cols in schema.roles.values() for n in cols)
    return [mv.c.object_id, mv.c.last_modification_date, *(mv.c[n] for n in names)]


def search_stmt(
    schema: MetaverseSchema, columns: Iterable[str], *, prefix: bool, limit: int
) -> sa.Select:
    """Persons whose attribute in `columns` equals (or starts with) `:value`.

    Bind `object_type` and `value`; for prefix, `value` is a `like_prefix()` pattern.
    """
    mv = schema.mv
    # Untyped: each comparison gives the parameter its column's type (text or number).
    if prefix:
        tests = [mv.c[c].like(sa.bindparam("value"), escape="\\") for c in columns]
    else:
        tests = [mv.c[c] == sa.bindparam("value") for c in columns]
    return (
        sa.select(*_hit_columns(schema))
        .where(mv.c.object_type == sa.bindparam("object_type"), sa.or_(*tests))
        .limit(limit)
    )


def by_id_stmt(schema: MetaverseSchema) -> sa.Select:
    """The MV object `:object_id` (any object type), with the same columns as a search hit."""
    return sa.select(*_hit_columns(schema)).where(
        schema.mv.c.object_id == sa.bindparam("object_id")
    )


def multivalue_search_stmt(schema: MetaverseSchema, *, limit: int) -> sa.Select:
    """Persons with a multi-valued `:attribute` value equal to `:value`."""
    mv = schema.mv
    matching = sa.select(multivalue.c.object_id).where(
        multivalue.c.attribute_name == sa.bindparam("attribute"),
        multivalue.c.string_value_indexable == sa.bindparam("value", type_=sa.Unicode),
    )
    return (
        sa.select(*_hit_columns(schema))
        .where(mv.c.object_type == sa.bindparam("object_type"), mv.c.object_id.in_(matching))
        .limit(limit)
    )


def multivalue_probe_stmt() -> sa.Select:
    """Does any object hold a multi-valued attribute named `:attribute`?"""
    return (
        sa.select(multivalue.c.object_id)
        .where(multivalue.c.attribute_name == sa.bindparam("attribute"))
        .limit(1)
    )


def object_stmt(schema: MetaverseSchema) -> sa.Select:
    """One MV object (`:object_id`) with per-attribute lineage, columns labelled by position.

    Labels: `a<i>` value, `g<i>` lineage GUID, `d<i>` lineage date, for the i-th attribute
    of `schema.attributes`; plus `object_type` and `last_modification_date`.
    """
    mv, guid, date = schema.mv, schema.lineage_guid, schema.lineage_date
    cols: list[sa.ColumnElement] = [mv.c.object_type, mv.c.last_modification_date]
    source: sa.FromClause = mv
    for i, name in enumerate(schema.attributes.values()):
        cols.append(mv.c[name].label(f"a{i}"))
        if guid is not None and name in guid.c:
            cols.append(guid.c[name].label(f"g{i}"))
        if date is not None and name in date.c:
            cols.append(date.c[name].label(f"d{i}"))
    if guid is not None:
        source = source.outerjoin(guid, guid.c.object_id == mv.c.object_id)
    if date is not None:
        source = source.outerjoin(date, date.c.object_id == mv.c.object_id)
    return sa.select(*cols).select_from(source).where(mv.c.object_id == sa.bindparam("object_id"))


def multivalue_stmt() -> sa.Select:
    """All multi-valued attribute values of `:object_id`."""
    m = multivalue
    return (
        sa.select(
            m.c.attribute_name,
            m.c.string_value_indexable,
            m.c.string_value_not_indexable,
            m.c.numeric_value,
            m.c.binary_value_indexable,
            m.c.binary_value_not_indexable,
            m.c.lineage_id,
            m.c.lineage_date,
        )
        .where(m.c.object_id == sa.bindparam("object_id"))
        .order_by(m.c.attribute_name)
    )


def references_stmt(schema: MetaverseSchema) -> sa.Select:
    """Reference attributes (manager, ...) of `:object_id`, with the target's display name."""
    target = schema.mv.alias("target")
    display = schema.role("display_name")
    label = target.c[display[0]] if display else sa.null()
    return (
        sa.select(
            mv_link.c.attribute_name,
            mv_link.c.reference_id,
            mv_link.c.lineage_id,
            mv_link.c.lineage_date,
            label.label("target_display_name"),
        )
        .select_from(mv_link.outerjoin(target, target.c.object_id == mv_link.c.reference_id))
        .where(mv_link.c.object_id == sa.bindparam("object_id"))
        .order_by(mv_link.c.attribute_name)
    )


def connectors_stmt() -> sa.Select:
    """The connector-space objects joined to `:object_id`, with their management agent."""
    cs, link, ma = connectorspace, csmv_link, management_agent
    return (
        sa.select(
            ma.c.ma_id,
            ma.c.ma_name,
            ma.c.ma_type,
            cs.c.object_id.label("cs_object_id"),
            cs.c.rdn,
            cs.c.is_connector,
            cs.c.connector_state,
            cs.c.import_operation,
            cs.c.export_operation,
            cs.c.last_import_modification_date,
            cs.c.last_export_modification_date,
            link.c.lineage_date,
        )
        .select_from(
            link.join(cs, cs.c.object_id == link.c.cs_object_id).join(ma, ma.c.ma_id == cs.c.ma_id)
        )
        .where(link.c.mv_object_id == sa.bindparam("object_id"))
        .order_by(ma.c.ma_name)
    )


def ma_id_stmt() -> sa.Select:
    """The id of the management agent named `:ma_name` (none: no such MA)."""
    ma = management_agent
    return sa.select(ma.c.ma_id).where(ma.c.ma_name == sa.bindparam("ma_name"))


def unjoined_stmt(schema: MetaverseSchema, *, page: int, after: bool) -> sa.Select:
    """Persons (`:object_type`) joined to no connector-space object of the MA `:ma_id` and
    unchanged since `:cutoff` (last_modification_date <= it), the next `page` of them by
    object_id (after `:after` when `after`), with the columns of a search hit.

    Any link to a connector-space object of that MA counts as joined, whatever its
    connector state: a person is "no longer joined" only when the MA holds no link at all.
    """
    mv, cs, link = schema.mv, connectorspace, csmv_link
    joined = (
        sa.select(link.c.mv_object_id)
        .select_from(link.join(cs, cs.c.object_id == link.c.cs_object_id))
        .where(link.c.mv_object_id == mv.c.object_id, cs.c.ma_id == sa.bindparam("ma_id"))
    )
    stmt = sa.select(*_hit_columns(schema)).where(
        mv.c.object_type == sa.bindparam("object_type"),
        mv.c.last_modification_date <= sa.bindparam("cutoff", type_=sa.DateTime),
        ~joined.exists(),
    )
    if after:
        stmt = stmt.where(mv.c.object_id > sa.bindparam("after", type_=sa.Uuid))
    return stmt.order_by(mv.c.object_id).limit(page)


def server_configuration_stmt() -> sa.Select:
    """The precedence and deletion-rule XML of the (single-row) server configuration."""
    sc = server_configuration
    return sa.select(sc.c.import_attribute_flow_xml, sc.c.mv_deletion_rule_xml).limit(1)


def management_agents_stmt() -> sa.Select:
    """Every management agent with its deprovisioning XML."""
    ma = management_agent
    return sa.select(ma.c.ma_id, ma.c.ma_name, ma.c.ma_type, ma.c.provisioning_cleanup_xml)


def management_agent_details_stmt() -> sa.Select:
    """Every management agent with its description, deprovisioning and export flow XML
    (the data map; [MS-UPSDBDAP] §2.2.5.6 `ma_description`, `export_attribute_flow_xml`)."""
    ma = management_agent
    return sa.select(
        ma.c.ma_id,
        ma.c.ma_name,
        ma.c.ma_type,
        ma.c.ma_description,
        ma.c.provisioning_cleanup_xml,
        ma.c.export_attribute_flow_xml,
    ).order_by(ma.c.ma_name)


def person_count_stmt() -> sa.Select:
    """How many metaverse objects are of type `:object_type` (a count, no row)."""
    mv = sa.table("mms_metaverse", sa.column("object_id"), sa.column("object_type"))
    return sa.select(sa.func.count(mv.c.object_id)).where(
        mv.c.object_type == sa.bindparam("object_type")
    )


def health_stmt() -> sa.Select:
    """Cheap read of the metaverse table: proves connectivity and SELECT permission."""
    mv = sa.table("mms_metaverse", sa.column("object_id"))
    return sa.select(mv.c.object_id).limit(1)


def mv_schema_stmt() -> sa.Select:
    """The metaverse schema (DSML) of the server configuration, for the doctor."""
    return sa.select(server_configuration.c.mv_schema_xml).limit(1)


def object_type_probe_stmt() -> sa.Select:
    """Is there any metaverse object of type `:object_type`? (its id only, or nothing)"""
    mv = sa.table("mms_metaverse", sa.column("object_id"), sa.column("object_type"))
    return sa.select(mv.c.object_id).where(mv.c.object_type == sa.bindparam("object_type")).limit(1)


def object_types_stmt(limit: int) -> sa.Select:
    """Some object types the metaverse holds (schema names, not anyone's data)."""
    mv = sa.table("mms_metaverse", sa.column("object_type"))
    return sa.select(mv.c.object_type).distinct().limit(limit)


def columns_read() -> dict[str, frozenset[str]]:
    """Table -> the columns the connector's statements name, read off the statements
    themselves (so the doctor checks exactly what the connector queries). Metaverse
    attribute columns differ per customer and are not in it; the lineage tables'
    attribute columns neither (only those present are read)."""
    metadata = sa.MetaData()
    mv, guid, date = metaverse_tables(metadata, ())
    schema = MetaverseSchema(mv, guid, date, {})
    statements = (
        search_stmt(schema, ("object_id",), prefix=False, limit=1),
        by_id_stmt(schema),
        multivalue_search_stmt(schema, limit=1),
        multivalue_probe_stmt(),
        object_stmt(schema),
        multivalue_stmt(),
        references_stmt(schema),
        connectors_stmt(),
        ma_id_stmt(),
        unjoined_stmt(schema, page=1, after=True),
        server_configuration_stmt(),
        management_agents_stmt(),
        management_agent_details_stmt(),
        person_count_stmt(),
        health_stmt(),
    )
    found: dict[str, set[str]] = {}
    for stmt in statements:
        for element in visitors.iterate(stmt):
            if not isinstance(element, sa.sql.expression.ColumnClause) or element.table is None:
                continue
            table = element.table
            while isinstance(table, sa.sql.expression.Alias):  # the reference target's alias
                table = table.element
            found.setdefault(table.name, set()).add(element.name)  # type: ignore[attr-defined]
    return {name: frozenset(columns) for name, columns in found.items()}
