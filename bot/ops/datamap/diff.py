"""What changed between two data maps (`datamap --since FILE`, and the worker's weekly
watch): a new flow to an external system first, then new and removed systems, attributes,
flows, changed sources of authority and retention. Names, never values."""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from bot.ops.datamap.model import DataMap

__all__ = ["ChangeKind", "MapChange", "changes"]

T = TypeVar("T")


class ChangeKind(enum.StrEnum):
    EXTERNAL_FLOW = "new transfer to an external system"
    SYSTEM = "system"
    ATTRIBUTE = "attribute"
    SOURCE = "source of authority"
    FLOW = "export flow"
    RETENTION = "retention"


@dataclass(frozen=True, order=True)
class MapChange:
    kind: ChangeKind
    text: str


_ORDER = list(ChangeKind)


def changes(old: DataMap, new: DataMap) -> list[MapChange]:
    """Every difference that matters to the record of processing, most urgent first."""
    out: list[MapChange] = []
    out += _added_removed(
        ChangeKind.SYSTEM,
        old.systems,
        new.systems,
        lambda s: s.label.casefold(),
        lambda s: f"{s.label} ({s.kind})",
    )
    old_ext = {s.label.casefold() for s in old.systems if s.external}
    for s in new.systems:
        if (
            s.external
            and s.label.casefold() not in old_ext
            and any(o.label.casefold() == s.label.casefold() for o in old.systems)
        ):
            out.append(MapChange(ChangeKind.SYSTEM, f"{s.label} is now marked external"))
    out += _added_removed(
        ChangeKind.ATTRIBUTE,
        old.attributes,
        new.attributes,
        lambda a: (a.system.casefold(), a.attribute.casefold()),
        lambda a: f"{a.attribute} in {a.system}",
    )
    before = {a.mv_attribute.casefold(): a for a in old.authorities}
    for a in new.authorities:
        was = before.get(a.mv_attribute.casefold())
        if was is not None and was.source != a.source:
            out.append(
                MapChange(ChangeKind.SOURCE, f"{a.mv_attribute}: {was.source} -> {a.source}")
            )
    old_flows = {
        (f.to.casefold(), f.cd_attribute.casefold(), f.mv_attribute.casefold()) for f in old.sharing
    }
    for f in new.sharing:
        key = (f.to.casefold(), f.cd_attribute.casefold(), f.mv_attribute.casefold())
        if key not in old_flows:
            kind = ChangeKind.EXTERNAL_FLOW if f.external else ChangeKind.FLOW
            out.append(MapChange(kind, f"new: {f.mv_attribute} -> {f.to}.{f.cd_attribute}"))
    new_flows = {
        (f.to.casefold(), f.cd_attribute.casefold(), f.mv_attribute.casefold()) for f in new.sharing
    }
    for f in old.sharing:
        if (f.to.casefold(), f.cd_attribute.casefold(), f.mv_attribute.casefold()) not in new_flows:
            out.append(
                MapChange(ChangeKind.FLOW, f"removed: {f.mv_attribute} -> {f.to}.{f.cd_attribute}")
            )
    periods = {(r.system, r.what): r.period for r in old.retention}
    for r in new.retention:
        was = periods.get((r.system, r.what))
        if was is not None and was != r.period:
            out.append(
                MapChange(ChangeKind.RETENTION, f"{r.system}, {r.what}: {was} -> {r.period}")
            )
    return sorted(set(out), key=lambda c: (_ORDER.index(c.kind), c.text))


def _added_removed(
    kind: ChangeKind,
    old: Iterable[T],
    new: Iterable[T],
    key: Callable[[T], Hashable],
    text: Callable[[T], str],
) -> list[MapChange]:
    before = {key(x): x for x in old}
    after = {key(x): x for x in new}
    return [MapChange(kind, f"new: {text(after[k])}") for k in after.keys() - before.keys()] + [
        MapChange(kind, f"removed: {text(before[k])}") for k in before.keys() - after.keys()
    ]
