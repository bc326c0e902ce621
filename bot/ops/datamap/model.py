"""The data map as data: one table per question the guidance asks, in its order, and its
JSON form (what `datamap --since` compares with). Built by bot/ops/datamap/build.py,
written out by bot/render/datamap/. No person's data is ever in it: attribute names,
system names, counts, periods and the configuration's own words."""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.datamap import Category

__all__ = [
    "ART30_FIELDS",
    "NOT_STATED",
    "Art30",
    "AttributeRow",
    "AuthorityRow",
    "DataMap",
    "Edge",
    "EdgeKind",
    "Finding",
    "FindingKind",
    "RetentionRow",
    "SharingRow",
    "SystemKind",
    "SystemRow",
]

NOT_STATED = "not stated"


class SystemKind(enum.StrEnum):
    CONNECTOR = "bot connector"  # the bot reaches it itself
    AGENT = "management agent"  # the Sync Service reaches it
    BOTH = "connector and management agent"
    METAVERSE = "metaverse"  # the Sync Service's own store


@dataclass(frozen=True)
class SystemRow:
    """Systems and technology: one row per connected system."""

    name: str  # the connector's name, or the MA's name when only the Sync Service reaches it
    label: str
    kind: SystemKind
    technology: str = ""  # what the bot reaches it with; "" when only an MA does
    ma_type: str | None = None  # the MA's type in the Sync Service (AD, Extensible2, ...)
    agent: str | None = None  # the MA's name, where it has one
    version: str | None = None
    persons: int | None = None
    external: bool = False  # a third party's system (datamap.external, or the MA's description)
    description: str | None = None  # the MA's own description


@dataclass(frozen=True)
class AttributeRow:
    """Personal data per system: one row per attribute a system holds."""

    system: str  # SystemRow.label
    attribute: str  # as that system names it
    category: Category
    how: str = ""  # "read by the bot", "imported into the metaverse as displayName", ...
    # The metaverse attributes it flows into or is exported from (the Sync Service's flows).
    mv_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthorityRow:
    """The authoritative source of one metaverse attribute."""

    mv_attribute: str
    category: Category
    source: str  # an MA's name, "manual precedence (rules extension)", "equal precedence", "none"
    kind: str  # ranked | equal | manual | none
    copies: tuple[str, ...] = ()  # the other systems that hold it (lower precedence, exports)


@dataclass(frozen=True)
class SharingRow:
    """One export flow of a personal attribute to a connected system."""

    mv_attribute: str  # the metaverse attribute(s) it is computed from, comma-separated
    category: Category
    to: str  # the MA's (system's) label
    cd_attribute: str
    mapping: str  # direct | scripted | constant | sync-rule
    external: bool = False


@dataclass(frozen=True)
class RetentionRow:
    """The retention and deletion plan: one row per thing that keeps personal data."""

    system: str
    what: str
    period: str
    erasure: str  # what an erasure request does about it
    days: int | None = None


class FindingKind(enum.StrEnum):
    NO_SOURCE = "no source of authority"
    EXTERNAL_EXPORT = "personal data exported to an external system"
    NO_DELETION_RULE = "no deletion rule"
    UNDATED = "kept with no date"
    UNREADABLE = "could not be read"
    NOT_ESTABLISHED = "not established"  # what a system's inventory could not tell
    NOT_STATED = "Art. 30 column not stated"


@dataclass(frozen=True)
class Finding:
    """What needs a decision."""

    kind: FindingKind
    system: str
    subject: str  # the attribute, flow or column concerned ("" for the system as a whole)
    text: str


class EdgeKind(enum.StrEnum):
    IMPORT = "import"  # system -> metaverse
    EXPORT = "export"  # metaverse -> system


@dataclass(frozen=True)
class Edge:
    """A personal-data flow for the diagram: how many attributes, and whether the source
    system is authoritative for any of them (imports) or the target external (exports)."""

    source: str  # SystemRow.name
    target: str  # SystemRow.name
    kind: EdgeKind
    attributes: int
    authoritative: bool = False
    external: bool = False


# The Art. 30(1) columns configuration cannot know, in the order the map shows them.
ART30_FIELDS = (
    ("controller", "Controller (name and contact)"),
    ("purposes", "Purposes of the processing"),
    ("legal_basis", "Legal basis"),
    ("data_subjects", "Categories of data subjects"),
    ("recipients", "Categories of recipients"),
    ("security_measures", "Technical and organisational security measures"),
)


@dataclass(frozen=True)
class Art30:
    """From app.yaml's `datamap:` section; None where it is not stated."""

    controller: str | None = None
    purposes: str | None = None
    legal_basis: str | None = None
    data_subjects: str | None = None
    recipients: str | None = None
    security_measures: str | None = None

    def rows(self) -> list[tuple[str, str]]:
        """(heading, text or "not stated") in ART30_FIELDS order."""
        return [(title, getattr(self, key) or NOT_STATED) for key, title in ART30_FIELDS]


@dataclass(frozen=True)
class DataMap:
    """The whole map. Rows are sorted, so the same estate gives the same map."""

    generated: datetime
    systems: tuple[SystemRow, ...] = ()
    attributes: tuple[AttributeRow, ...] = ()
    authorities: tuple[AuthorityRow, ...] = ()
    sharing: tuple[SharingRow, ...] = ()  # external first
    retention: tuple[RetentionRow, ...] = ()
    findings: tuple[Finding, ...] = ()
    edges: tuple[Edge, ...] = ()
    art30: Art30 = field(default_factory=Art30)

    def persons(self) -> dict[str, int | None]:
        return {s.label: s.persons for s in self.systems}

    def to_json(self) -> str:
        """The JSON form: stable key order, one map per line-diffable document."""
        return json.dumps(_plain(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DataMap:
        """A map written by `to_json` (raises ValueError for anything else)."""
        try:
            raw = json.loads(text)
            return cls(
                generated=datetime.fromisoformat(raw["generated"]),
                systems=tuple(_row(SystemRow, r) for r in raw["systems"]),
                attributes=tuple(_row(AttributeRow, r) for r in raw["attributes"]),
                authorities=tuple(_row(AuthorityRow, r) for r in raw["authorities"]),
                sharing=tuple(_row(SharingRow, r) for r in raw["sharing"]),
                retention=tuple(_row(RetentionRow, r) for r in raw["retention"]),
                findings=tuple(_row(Finding, r) for r in raw["findings"]),
                edges=tuple(_row(Edge, r) for r in raw["edges"]),
                art30=Art30(**raw["art30"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"not a data map written by mimbot ({exc.__class__.__name__})"
            ) from None


_KIND_OF = {SystemRow: SystemKind, Finding: FindingKind, Edge: EdgeKind}


def _row(cls: type, raw: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in raw.items() if k in names}
    if "category" in values:
        values["category"] = Category(values["category"])
    if "kind" in values and cls in _KIND_OF:
        values["kind"] = _KIND_OF[cls](values["kind"])
    for key in ("copies", "mv_attributes"):
        if key in values:
            values[key] = tuple(values[key])
    return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
