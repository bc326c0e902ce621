"""The data map as tables, in the guidance's order: what every format writes out. One
place says what each section holds, so Markdown, HTML and the XLSX sheets cannot drift
apart. Cells are plain text or numbers; each format escapes them its own way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.ops.datamap.model import (
    ART30_FIELDS,
    AttributeRow,
    DataMap,
    SystemKind,
    SystemRow,
)
from connectors.datamap import Category

__all__ = [
    "FLAT_HEADERS",
    "Cell",
    "Part",
    "Section",
    "Summary",
    "Table",
    "flat_rows",
    "generated_text",
    "persons_text",
    "sections",
    "summary",
]

Cell = str | int | None  # None: nothing to say (an empty cell)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Part:
    """A titled table inside a section (a system's attributes, the external transfers)."""

    heading: str | None
    table: Table
    empty: str = "None."  # what a reader sees instead of an empty table
    external: bool = False  # the transfers to third parties: shown so they stand out


@dataclass(frozen=True)
class Section:
    number: int
    title: str
    intro: str
    parts: tuple[Part, ...]
    sheet: str  # the XLSX sheet's name (at most 31 characters, none of []:*?/\)
    flat: Table  # the whole section as one table, for its XLSX sheet


@dataclass(frozen=True)
class Summary:
    systems: int  # connected systems, the metaverse not counted
    attributes: int  # (system, personal attribute) pairs
    transfers: int  # export flows of personal data to external systems
    findings: int

    def lines(self) -> tuple[str, ...]:
        return (
            f"Connected systems: {self.systems}",
            f"Personal attributes held (per system): {self.attributes}",
            f"External transfers (to third parties): {self.transfers}",
            f"Findings (need a decision): {self.findings}",
        )


def summary(datamap: DataMap) -> Summary:
    return Summary(
        systems=sum(1 for s in datamap.systems if s.kind is not SystemKind.METAVERSE),
        attributes=len(datamap.attributes),
        transfers=sum(1 for s in datamap.sharing if s.external),
        findings=len(datamap.findings),
    )


def generated_text(datamap: DataMap) -> str:
    return datamap.generated.isoformat(timespec="seconds")


def persons_text(persons: int | None) -> str:
    return UNKNOWN if persons is None else str(persons)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


_CATEGORY_ORDER = {c: i for i, c in enumerate(Category)}


def _by_category(rows: Iterable[AttributeRow]) -> list[AttributeRow]:
    return sorted(rows, key=lambda r: (_CATEGORY_ORDER[r.category], r.attribute.casefold()))


def _attribute_systems(datamap: DataMap) -> list[tuple[str, SystemRow | None]]:
    """Each system that holds attributes, by label: the systems' order, then any label
    the attribute rows name that no system row has (shown, never dropped)."""
    known = [(s.label, s) for s in datamap.systems]
    labels = {label for label, _ in known}
    extra = sorted({a.system for a in datamap.attributes} - labels)
    return [*known, *((label, None) for label in extra)]


def _systems(datamap: DataMap) -> Section:
    headers = (
        "System",
        "Name",
        "Kind",
        "Technology",
        "MA type",
        "Management agent",
        "Version",
        "Persons",
        "External",
        "Description",
    )
    rows = tuple(
        (
            s.label,
            s.name,
            s.kind.value,
            s.technology or None,
            s.ma_type,
            s.agent,
            s.version,
            UNKNOWN if s.persons is None else s.persons,
            _yes(s.external),
            s.description,
        )
        for s in datamap.systems
    )
    table = Table(headers, rows)
    return Section(
        1,
        "Systems and technology",
        "Every system that holds personal data: what the bot reaches it with, the "
        "management agent the Sync Service reaches it with, and how many persons it holds.",
        (Part(None, table, "No system is configured."),),
        "1 Systems",
        table,
    )


def _personal_data(datamap: DataMap) -> Section:
    parts: list[Part] = []
    flat: list[tuple[Cell, ...]] = []
    by_system: dict[str, list[AttributeRow]] = {}
    for row in datamap.attributes:
        by_system.setdefault(row.system, []).append(row)
    for label, system in _attribute_systems(datamap):
        rows = _by_category(by_system.get(label, ()))
        if not rows and system is not None and system.kind is SystemKind.METAVERSE:
            continue
        persons = system.persons if system is not None else None
        count = UNKNOWN if persons is None else persons
        parts.append(
            Part(
                f"{label}: {persons_text(persons)} persons",
                Table(
                    ("Category", "Attribute", "How it is held"),
                    tuple((r.category.value, r.attribute, r.how or None) for r in rows),
                ),
                "No personal attribute found.",
            )
        )
        flat.extend((label, count, r.category.value, r.attribute, r.how or None) for r in rows)
    return Section(
        2,
        "Personal data per system",
        "The personal attributes each system holds, grouped by category, and how many "
        "persons it holds.",
        tuple(parts) or (Part(None, Table((), ()), "No system holds personal data."),),
        "2 Personal data",
        Table(("System", "Persons", "Category", "Attribute", "How it is held"), tuple(flat)),
    )


def _authority(datamap: DataMap) -> Section:
    table = Table(
        ("Metaverse attribute", "Category", "Source of authority", "Precedence", "Copied by"),
        tuple(
            (a.mv_attribute, a.category.value, a.source, a.kind, ", ".join(a.copies) or None)
            for a in datamap.authorities
        ),
    )
    return Section(
        3,
        "Authoritative source per attribute",
        "Where each personal attribute of the metaverse comes from (the Sync Service's "
        "import precedence), and which other systems hold a copy of it.",
        (Part(None, table, "No metaverse attribute is imported."),),
        "3 Authority",
        table,
    )


_SHARING_HEADERS = ("To", "Attribute there", "From metaverse attribute", "Category", "Mapping")


def _sharing(datamap: DataMap) -> Section:
    def cells(external: bool) -> tuple[tuple[Cell, ...], ...]:
        return tuple(
            (s.to, s.cd_attribute, s.mv_attribute, s.category.value, s.mapping)
            for s in datamap.sharing
            if s.external is external
        )

    parts = (
        Part(
            "Transfers to third parties (external systems)",
            Table(_SHARING_HEADERS, cells(True)),
            "None: no personal attribute is exported to a system marked external.",
            external=True,
        ),
        Part(
            "Exports to the estate's own systems",
            Table(_SHARING_HEADERS, cells(False)),
            "None.",
        ),
    )
    flat = tuple(
        (_yes(s.external), s.to, s.cd_attribute, s.mv_attribute, s.category.value, s.mapping)
        for s in sorted(datamap.sharing, key=lambda s: not s.external)
    )
    return Section(
        4,
        "Sharing",
        "Where the Sync Service sends personal data: transfers to third parties first, "
        "then the estate's own systems.",
        parts,
        "4 Sharing",
        Table(("External", *_SHARING_HEADERS), flat),
    )


def _retention(datamap: DataMap) -> Section:
    table = Table(
        ("System", "What keeps personal data", "Period", "Days", "What an erasure request does"),
        tuple((r.system, r.what, r.period, r.days, r.erasure) for r in datamap.retention),
    )
    return Section(
        5,
        "Retention and deletion plan",
        "How long each system keeps personal data, and what an erasure request does about it.",
        (Part(None, table, "No retention is known."),),
        "5 Retention",
        table,
    )


def _findings(datamap: DataMap) -> Section:
    table = Table(
        ("Finding", "System", "Concerning", "Detail"),
        tuple((f.kind.value, f.system, f.subject or None, f.text) for f in datamap.findings),
    )
    return Section(
        6,
        "Findings",
        "What needs a decision.",
        (Part(None, table, "Nothing needs a decision."),),
        "6 Findings",
        table,
    )


def _art30(datamap: DataMap) -> Section:
    rows: list[tuple[Cell, ...]] = [
        (title, text, f"app.yaml: datamap.{key}")
        for (key, _), (title, text) in zip(ART30_FIELDS, datamap.art30.rows(), strict=True)
    ]
    categories = len({a.category for a in datamap.attributes})
    rows += [
        (
            "Categories of personal data",
            f"See section 2: {len(datamap.attributes)} attributes; categories: {categories}",
            "Each system's schema and the Sync Service's configuration, read by the bot",
        ),
        (
            "Transfers to third parties",
            f"See section 4: export flows to external systems: {summary(datamap).transfers}",
            "The Sync Service's export flows; external per app.yaml datamap.external or "
            "the management agent's description",
        ),
        (
            "Time limits for erasure",
            "See section 5",
            "Each system's retention settings, read by the bot, and the bot's erasure steps",
        ),
    ]
    table = Table(("Art. 30 column", "Stated", "Where it comes from"), tuple(rows))
    return Section(
        7,
        "Record of processing (Art. 30)",
        "The columns of the record that configuration cannot know, as app.yaml's "
        "datamap section states them, and where every other column comes from.",
        (Part(None, table),),
        "7 Art. 30",
        table,
    )


def sections(datamap: DataMap) -> tuple[Section, ...]:
    return (
        _systems(datamap),
        _personal_data(datamap),
        _authority(datamap),
        _sharing(datamap),
        _retention(datamap),
        _findings(datamap),
        _art30(datamap),
    )


FLAT_HEADERS = (
    "system",
    "attribute",
    "category",
    "source of authority",
    "exported to",
    "external",
    "retention/deletion",
)


def _find(datamap: DataMap, name: str) -> SystemRow | None:
    """A system by label, name or MA name: the rows name systems in different ways."""
    folded = name.casefold()
    for s in datamap.systems:
        if folded in (s.label.casefold(), s.name.casefold(), (s.agent or "").casefold()):
            return s
    return None


def _target(datamap: DataMap, label: str) -> str:
    system = _find(datamap, label)
    external = system.external if system is not None else False
    return f"{label} (external)" if external else label


def _mv_attributes(datamap: DataMap, row: AttributeRow, system: SystemRow | None) -> set[str]:
    """The metaverse attributes a system's attribute stands for: the attribute itself in
    the metaverse, what an export flow computes it from, or the metaverse attribute of
    the same name (the usual flow rule: mail -> mail)."""
    names = {a.mv_attribute.casefold(): a.mv_attribute for a in datamap.authorities}
    if row.mv_attributes:  # what the Sync Service's flows say it stands for
        return set(row.mv_attributes)
    found: set[str] = set()
    if system is not None and system.kind is SystemKind.METAVERSE:
        found.add(names.get(row.attribute.casefold(), row.attribute))
    for flow in datamap.sharing:
        if flow.to == row.system and flow.cd_attribute.casefold() == row.attribute.casefold():
            found.update(p.strip() for p in flow.mv_attribute.split(",") if p.strip())
    if row.attribute.casefold() in names:
        found.add(names[row.attribute.casefold()])
    return found


def flat_rows(datamap: DataMap) -> tuple[tuple[str, ...], ...]:
    """The record of processing as one table: a row per (system, personal attribute)."""
    sources: dict[str, str] = {a.mv_attribute: a.source for a in datamap.authorities}
    out: list[tuple[str, ...]] = []
    for row in datamap.attributes:
        system = _find(datamap, row.system)
        mv = sorted(_mv_attributes(datamap, row, system))
        authority = sorted({sources[m] for m in mv if m in sources})
        exported = sorted(
            {
                _target(datamap, flow.to)
                for flow in datamap.sharing
                if flow.to != row.system
                and {p.strip() for p in flow.mv_attribute.split(",")} & set(mv)
            }
        )
        kept = [r for r in datamap.retention if r.system == row.system]
        out.append(
            (
                row.system,
                row.attribute,
                row.category.value,
                "; ".join(authority),
                ", ".join(exported),
                _yes(system.external if system is not None else False),
                "; ".join(f"{r.what}: {r.period}; erasure: {r.erasure}" for r in kept),
            )
        )
    return tuple(out)
