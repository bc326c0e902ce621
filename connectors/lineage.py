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

__all__ = [
    "AttributeKind",
    "AttributeView",
    "ConnectorState",
    "ConnectorView",
    "DeletionKind",
    "DeletionRuleView",
    "MetaverseView",
    "PrecedenceKind",
]


class PrecedenceKind(enum.StrEnum):
    """How the Sync Service decides between import flows for an attribute."""

    RANKED = "ranked"  # document order of the flows is the rank, first = highest
    EQUAL = "equal"  # the last contributing flow wins
    MANUAL = "manual"  # a rules extension decides


class DeletionKind(enum.StrEnum):
    """The metaverse deletion rule's kind for an object type."""

    DECLARED_ANY = "declared-any"  # delete when a connector of any listed MA is removed
    DECLARED_LAST = "declared-last"  # delete when the last connector (minus exclusions) goes
    SCRIPTED = "scripted"  # rules extension ShouldDeleteFromMV decides
    DECLARED = "declared"  # older ILM spelling, read as declared-last


class ConnectorState(enum.StrEnum):
    """A connector-space object's state in the Sync Service (mms_connectorspace)."""

    NORMAL = "normal"
    EXPLICIT = "explicit"  # an explicit connector: kept joined whatever the filters say
    FILTERED = "filtered"  # a disconnector kept out by a connector filter
    UNKNOWN = "unknown"  # a state this release does not know


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
    precedence: PrecedenceKind | None  # None: no import flow
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
        if self.source or self.precedence not in (PrecedenceKind.EQUAL, PrecedenceKind.MANUAL):
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
    state: ConnectorState
    lineage_date: datetime | None
    pending_import: str | None  # add | modify | delete-add | delete | None
    pending_export: str | None
    deprovisioning: str | None  # the MA's action when the MV object is deleted


@dataclass(frozen=True)
class DeletionRuleView:
    kind: DeletionKind | None  # None: unknown
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
