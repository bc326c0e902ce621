"""The MIM Sync connector's answers for the data map (connectors/datamap.py): the
metaverse's flows and rule for persons (`SyncMap`) and what the metaverse itself holds
(`SystemInventory`). Built here from configuration, names and one count; the connector
does the reading. No value of any person goes into either.

Where the Sync Service keeps a person's data beyond the metaverse object, after
[MS-UPSDBDAP] v20120705 (copy: lithnet/miis-client
`src/Lithnet.Miiserver.Client/Docs/mms-specifications.pdf`):
- §2.2.5.1 `mms_connectorspace`: each management agent's own copy of the object (its
  hologram), a disconnector's included, until an import from that system removes it;
- §2.2.5.13, §2.2.5.16, §2.2.5.17 `mms_run_history`, `mms_step_history` (`step_xml`,
  `sync_errors_xml`) and `mms_step_object_details` (one row per connector-space object a
  run step processed, with its `cs_dn`): the run history, which has no date of its own.
  It goes when an operator clears runs (Synchronization Service Manager's Clear Runs, the
  WMI `MIIS_Server.ClearRuns` method: "permanently removes the stored run histories",
  learn.microsoft.com previous-versions ... identity-lifecycle-manager/ms698220).
- §2.2.5.15 `mms_server_configuration` keeps no product version: only
  `fixed_schema_version_number` (always 301) and a configuration change counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from connectors.datamap import (
    AgentInfo,
    ExportFlow,
    ImportSource,
    KeptCopy,
    SyncMap,
    SystemInventory,
    held,
)
from connectors.mimsync.server_config import (
    ManagementAgent,
    MvSchema,
    SyncConfig,
    deletion_trigger,
)

__all__ = [
    "CONNECTOR_SPACE",
    "NO_VERSION",
    "RUN_HISTORY",
    "build_inventory",
    "build_sync_map",
    "deletion_text",
    "person_attributes",
    "technology",
]

RUN_HISTORY = KeptCopy(
    what=(
        "sync run history: each run step's detail per connector-space object processed"
        " (mms_run_history, mms_step_history, mms_step_object_details)"
    ),
    period="until the run history is cleared (Clear Runs)",
    erasure="nothing: clear the run history by policy",
)
CONNECTOR_SPACE = KeptCopy(
    what=(
        "each management agent's copy of the person in its connector space"
        " (mms_connectorspace), a disconnector's too"
    ),
    period="no date: until an import from that system sees the person gone",
    erasure="erasing the person in each connected system, then its next import, removes it",
)
NO_VERSION = (
    "version: the sync database keeps no product version (mms_server_configuration has"
    " only its schema number and a configuration change counter)"
)


def technology(dialect: str) -> str:
    """How the bot reaches the metaverse: "... (SQLAlchemy, mssql)"."""
    return f"SQL to the Sync Service database (SQLAlchemy, {dialect})"


def deletion_text(config: SyncConfig, person_type: str) -> str:
    """The person deletion rule in words: "declared-any: deleting the HR connector
    triggers it", or the connector's sentence for no known rule."""
    rule = config.deletion_rule(person_type)
    trigger = deletion_trigger(config, rule)
    return trigger if rule is None else f"{rule.kind}: {trigger}"


def _agents_in_order(agents: Iterable[ManagementAgent]) -> list[ManagementAgent]:
    return sorted(agents, key=lambda a: (a.name.casefold(), str(a.ma_id)))


def person_attributes(
    columns: Iterable[str],
    mv_schema: MvSchema,
    config: SyncConfig,
    agents: Iterable[ManagementAgent],
    person_type: str,
) -> tuple[str, ...]:
    """The metaverse attributes of persons as the connector knows them, once each
    (case-insensitively, first spelling kept): the `mms_metaverse` columns (single-valued),
    then those only the schema names for the person class, those import flows fill and
    those export flows read (multi-valued and reference attributes have no column)."""
    seen: dict[str, str] = {}

    def add(names: Iterable[str]) -> None:
        for name in names:
            if name:
                seen.setdefault(name.lower(), name)

    add(columns)
    add(mv_schema.class_attributes(person_type))
    add(p.mv_attribute for p in config.precedence.get(person_type.lower(), {}).values())
    for agent in _agents_in_order(agents):
        for flow in agent.exports:
            if flow.mv_object_type.lower() == person_type.lower():
                add(n for n in flow.src_attributes if n not in flow.intrinsic_sources)
    return tuple(seen.values())


def _imports(config: SyncConfig, person_type: str) -> tuple[ImportSource, ...]:
    sources = []
    for rule in config.precedence.get(person_type.lower(), {}).values():
        agents = tuple(
            (config.ma_name(f.ma_id), ", ".join(f.source_attributes) or None) for f in rule.flows
        )
        sources.append(ImportSource(rule.mv_attribute, rule.kind, agents))
    return tuple(sources)


def _exports(agents: Sequence[ManagementAgent], person_type: str) -> tuple[ExportFlow, ...]:
    return tuple(
        ExportFlow(agent.name, flow.cd_attribute, flow.src_attributes, flow.mapping.value)
        for agent in agents
        for flow in agent.exports
        if flow.mv_object_type.lower() == person_type.lower()
    )


def build_sync_map(
    *,
    person_type: str,
    columns: Iterable[str],
    mv_schema: MvSchema,
    config: SyncConfig,
    agents: Mapping[object, ManagementAgent],
) -> SyncMap:
    """The `SyncMap` of `config` (precedence and deletion rule) and `agents` (every MA with
    its description and export flows), for objects of `person_type`."""
    ordered = _agents_in_order(agents.values())
    rule = config.deletion_rule(person_type)
    return SyncMap(
        person_type=person_type,
        mv_attributes=person_attributes(columns, mv_schema, config, ordered, person_type),
        agents=tuple(
            AgentInfo(
                a.name,
                a.ma_type,
                a.description,
                a.deprovisioning.value if a.deprovisioning else None,
            )
            for a in ordered
        ),
        imports=_imports(config, person_type),
        exports=_exports(ordered, person_type),
        deletion_kind=rule.kind if rule else None,
        deletion_text=deletion_text(config, person_type),
    )


def build_inventory(
    *,
    system: str,
    label: str,
    dialect: str,
    attributes: Iterable[str],
    persons: int,
    deletion: str | None,
    notes: Iterable[str] = (),
) -> SystemInventory:
    """The metaverse's `SystemInventory`: its person attributes, how many persons, and what
    keeps their data with no date. `deletion` is the deletion rule's text (None when the
    configuration could not be read: a note then says why)."""
    mv_object = KeptCopy(
        what="the person's metaverse object (mms_metaverse and its attribute tables)",
        period="until the deletion rule runs",
        erasure=deletion or "the deletion rule could not be read",
    )
    return SystemInventory(
        system=system,
        label=label,
        technology=technology(dialect),
        attributes=held(attributes),
        persons=persons,
        version=None,
        kept=(mv_object, CONNECTOR_SPACE, RUN_HISTORY),
        notes=(*notes, NO_VERSION),
    )
