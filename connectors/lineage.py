"""The metaverse's view of one object, as `ShowsLineage.show` returns it: each attribute
with its source of authority and last change, the connected systems (lineage) and the
deletion rule. Built by the MIM Sync connector (connectors/mimsync/view.py); read by
`/mim show`, the access package and rectification. Names of management agents and
operations, and the attribute values themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from connectors.base import ObjectRef

__all__ = ["AttributeKind", "AttributeView", "ConnectorView", "DeletionRuleView", "MetaverseView"]


class AttributeKind(enum.Enum):
    SINGLE = "single"
    MULTI = "multi"
    REFERENCE = "reference"


@dataclass(frozen=True)
class AttributeView:
    """One MV attribute: values, who is authoritative for it, and its last change."""

    name: str
    values: tuple[str, ...]
    kind: AttributeKind
    source: str | None  # authoritative MA name, where one can be named
    authority: str  # "HR", "equal precedence", "manual precedence (rules extension)", ...
    precedence: str | None  # "ranked" | "equal" | "manual" | None (no import flow)
    modified: datetime | None  # lineage date: when the value last changed
    # The authoritative MA's connector-space attribute, when its flow is a direct mapping
    # of exactly one attribute (MV firstName <- AD givenName: "givenName"); else None.
    source_attribute: str | None = None

    @property
    def stated_source(self) -> str | None:
        """The source a record or an access package states for the attribute: the
        authoritative MA where one is named; for equal or manual precedence, which have a
        source the configuration cannot name, the metaverse's words for that; else None
        (no import flow, or no connector of a contributing MA: nothing to name)."""
        if self.source or self.precedence not in ("equal", "manual"):
            return self.source
        return self.authority


@dataclass(frozen=True)
class ConnectorView:
    """One connector-space object joined to the MV object (lineage)."""

    ma_name: str
    ma_type: str | None
    cs_object_id: str
    rdn: str | None
    joined: bool
    state: str  # normal | explicit | filtered
    lineage_date: datetime | None
    pending_import: str | None  # add | modify | delete-add | delete | None
    pending_export: str | None
    deprovisioning: str | None  # the MA's action when the MV object is deleted


@dataclass(frozen=True)
class DeletionRuleView:
    kind: str | None  # declared-any | declared-last | scripted | declared | None (unknown)
    management_agents: tuple[str, ...]  # src-ma (declared-any) or exclude-ma (declared-last)
    trigger: str  # "deleting the HR connector triggers it"
    meaning: str  # one sentence: what the rule means for an erasure


@dataclass(frozen=True)
class MetaverseView:
    """Everything `/mim show` needs about one metaverse object."""

    ref: ObjectRef
    label: str
    object_type: str
    modified: datetime | None
    attributes: tuple[AttributeView, ...]
    connectors: tuple[ConnectorView, ...]
    deletion_rule: DeletionRuleView
