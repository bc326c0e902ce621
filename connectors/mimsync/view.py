"""What `/mim show` and the erasure plan say about a metaverse object: the views (their
types are in connectors/lineage.py, re-exported here) built from the sync database's rows,
and the plan's texts.

Names of management agents and operations only: no personal data goes into plan
warnings or notes (they reach the approvals channel and the audit store).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.base import ManualStep, ManualTask
from connectors.lineage import (
    AttributeKind,
    AttributeView,
    ConnectorState,
    ConnectorView,
    DeletionRuleView,
    MetaverseView,
)
from connectors.mimsync import schema as q
from connectors.mimsync.server_config import (
    DeletionKind,
    SyncConfig,
    deletion_meaning,
    deletion_trigger,
)

__all__ = [
    "AttributeKind",
    "AttributeView",
    "ConnectorView",
    "DeletionRuleView",
    "MetaverseView",
    "connector_view",
    "deletion_view",
    "plan_notes",
    "plan_warnings",
    "utc",
]


def utc(value: datetime | None) -> datetime | None:
    """The engine stores naive UTC datetimes."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def connector_view(config: SyncConfig, c: Any) -> ConnectorView:
    ma = config.mas.get(c.ma_id)
    action = ma.deprovisioning.value if ma and ma.deprovisioning else None
    return ConnectorView(
        ma_name=c.ma_name,
        ma_type=c.ma_type,
        cs_object_id=str(c.cs_object_id),
        rdn=c.rdn,
        joined=bool(c.is_connector),
        state=ConnectorState(q.CONNECTOR_STATES.get(c.connector_state or 0, "unknown")),
        lineage_date=utc(c.lineage_date),
        pending_import=q.OPERATIONS.get(c.import_operation) if c.import_operation else None,
        pending_export=q.OPERATIONS.get(c.export_operation) if c.export_operation else None,
        deprovisioning=action,
    )


def deletion_view(config: SyncConfig, object_type: str) -> DeletionRuleView:
    rule = config.deletion_rule(object_type)
    mas = (rule.src_mas or rule.exclude_mas) if rule else ()
    return DeletionRuleView(
        kind=rule.kind if rule else None,
        management_agents=tuple(config.ma_name(m) for m in mas),
        trigger=deletion_trigger(config, rule),
        meaning=deletion_meaning(config, rule),
    )


def plan_warnings(config: SyncConfig, rule: Any, connectors: list[Any]) -> tuple[ManualStep, ...]:
    """What a person must do or confirm; MA names and operations only, no personal data."""
    warnings: list[str] = []
    manual: list[ManualStep] = []
    joined = {c.ma_id for c in connectors if c.is_connector}
    sources = (
        set(rule.src_mas) & joined if rule and rule.kind is DeletionKind.DECLARED_ANY else set()
    )
    for ma_id in sorted(sources, key=str):
        # First of all steps: otherwise its next import re-provisions everything erased.
        name = config.ma_name(ma_id)
        manual.append(
            ManualStep(
                ManualTask.ERASE_AT_SOURCE,
                f"{name} is the source of authority: erase the person "
                "there first, or provisioning re-creates the accounts",
                about=name,
            )
        )
    if rule is None:
        warnings.append("no metaverse deletion rule is known: the object may never be deleted")
    elif rule.kind is DeletionKind.DECLARED_ANY and not joined & set(rule.src_mas):
        names = ", ".join(config.ma_name(m) for m in rule.src_mas)
        warnings.append(f"no {names} connector is joined, so the deletion rule cannot fire")
    elif rule.kind is DeletionKind.SCRIPTED:
        warnings.append("a rules extension decides: confirm the trigger with the IAM engineer")
    for c in connectors:
        if c.export_operation:
            op = q.OPERATIONS.get(c.export_operation, "unknown")
            warnings.append(f"{c.ma_name}: a pending export ({op}) has not run yet")
        ma = config.mas.get(c.ma_id)
        if (
            c.is_connector
            and ma
            and ma.deprovisioning
            and ma.deprovisioning.value in _ACT
            and c.ma_id not in sources
        ):
            text = _DEPROVISION_TEXT[ma.deprovisioning.value].format(ma=c.ma_name)
            manual.append(ManualStep(ManualTask.CONFIRM_SYNC, text, about=c.ma_name))
    return (*manual, *(ManualStep(ManualTask.CONFIRM_SYNC, w) for w in warnings))


def plan_notes(config: SyncConfig, connectors: list[Any]) -> tuple[str, ...]:
    """Deprovisioning that needs nobody: the sync engine deletes those objects itself."""
    notes = []
    for c in connectors:
        ma = config.mas.get(c.ma_id)
        if c.is_connector and ma and ma.deprovisioning and ma.deprovisioning.value not in _ACT:
            notes.append(_DEPROVISION_TEXT[ma.deprovisioning.value].format(ma=c.ma_name))
    return tuple(notes)


# Deprovisioning actions that leave something for a person to erase.
_ACT = frozenset({"make-normal-disconnector", "make-explicit-disconnector", "scripted"})


_DEPROVISION_TEXT = {
    "delete-object": "{ma} deletes its object when the metaverse object is deleted",
    "make-normal-disconnector": "{ma} keeps its object as a disconnector: erase it there",
    "make-explicit-disconnector": "{ma} keeps its object as an explicit disconnector: "
    "erase it there",
    "scripted": "{ma}: a rules extension decides what happens to its object",
}
