"""The data map, built from what the connectors say of their systems (`inventory`) and what
the Sync Service maps (`sync_map`): configuration, schemas and counts only. All systems are
asked at once within one deadline; one that does not answer is a finding, and hides no
other's rows. The same estate gives the same map (every table sorted), apart from its date.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.lookup.calls import Call, Outcome, start
from bot.ops.datamap.model import (
    Art30,
    AttributeRow,
    AuthorityRow,
    DataMap,
    Edge,
    EdgeKind,
    Finding,
    FindingKind,
    RetentionRow,
    SharingRow,
    SystemKind,
    SystemRow,
)
from connectors.base import Connector
from connectors.capabilities import describes_data, management_agent, maps_metaverse
from connectors.datamap import (
    AgentInfo,
    ImportSource,
    SyncMap,
    SystemInventory,
    category_of,
)
from connectors.lineage import PrecedenceKind

__all__ = ["TIMEOUT", "build_datamap"]

TIMEOUT = 60.0  # seconds for every system's answers together (counts may page a directory)
_EXTERNAL = re.compile(r"\bexternal\b|\bthird[- ]party\b", re.IGNORECASE)
# What each deprovisioning action means for an erasure (Sync Service: MA properties,
# "Configure Deprovisioning").
_DEPROVISIONING = {
    "delete-object": "deleted in the system by the next export",
    "make-normal-disconnector": "stays in the system, disconnected: an erasure asks for it by hand",
    "make-explicit-disconnector": (
        "stays in the system as an explicit disconnector: an erasure asks for it by hand"
    ),
    "scripted": "a rules extension decides: an erasure asks for it by hand",
}


@dataclass(frozen=True)
class _Answers:
    inventories: list[tuple[Connector, SystemInventory]]
    sync: tuple[Connector, SyncMap] | None
    failed: list[tuple[Connector, str, str]]  # connector, what, reason (safe text)


def build_datamap(
    connectors: Sequence[Connector],
    *,
    now: datetime,
    external: Iterable[str] = (),
    art30: Art30 | None = None,
    timeout: float = TIMEOUT,
    retention_statements: Mapping[str, str] | None = None,
) -> DataMap:
    """The map of `connectors`' estate. `external` names the third parties' systems
    (connector, MA or label, case-insensitive; an MA whose description says "external" is
    one too); `art30` the columns configuration cannot know (app.yaml `datamap:`);
    `retention_statements` what app.yaml says of a system's retention
    (`export.systems.<name>.retention`), by connector name."""
    answers = _ask(connectors, timeout)
    art30 = art30 or Art30()
    external_names = {e.casefold() for e in external}
    systems = _systems(answers, external_names)
    by_agent = {s.agent.casefold(): s for s in systems if s.agent}
    attributes = _attributes(answers, systems, by_agent)
    authorities, no_source = _authorities(answers, by_agent)
    sharing = _sharing(answers, by_agent)
    retention = _retention(answers, systems, by_agent, retention_statements or {})
    findings = _findings(answers, systems, no_source, sharing, retention, art30)
    return DataMap(
        generated=now,
        systems=tuple(systems),
        attributes=tuple(sorted(attributes, key=lambda r: (r.system, r.category, r.attribute))),
        authorities=tuple(sorted(authorities, key=lambda r: r.mv_attribute.casefold())),
        sharing=tuple(
            sorted(sharing, key=lambda r: (not r.external, r.to, r.cd_attribute, r.mv_attribute))
        ),
        retention=tuple(sorted(retention, key=lambda r: (r.system, r.what))),
        findings=tuple(sorted(findings, key=lambda f: (f.kind, f.system, f.subject, f.text))),
        edges=tuple(_edges(answers, systems, by_agent)),
        art30=art30,
    )


# -- asking ---------------------------------------------------------------------------


def _ask(connectors: Sequence[Connector], timeout: float) -> _Answers:
    deadline = time.monotonic() + timeout
    pool = ThreadPoolExecutor(max_workers=max(1, 2 * len(connectors)), thread_name_prefix="datamap")
    pending: list[tuple[Connector, str, Any]] = []
    try:
        for c in connectors:
            if (d := describes_data(c)) is not None:
                pending.append(
                    (
                        c,
                        "inventory",
                        start(c, _bind(d.inventory, timeout), what="datamap", pool=pool),
                    )
                )
            if (m := maps_metaverse(c)) is not None:
                pending.append(
                    (c, "sync map", start(c, _bind(m.sync_map, timeout), what="datamap", pool=pool))
                )
        calls: list[tuple[Connector, str, Call[Any]]] = [
            (c, w, p.wait(deadline)) for c, w, p in pending
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    inventories: list[tuple[Connector, SystemInventory]] = []
    sync: tuple[Connector, SyncMap] | None = None
    failed: list[tuple[Connector, str, str]] = []
    for c, what, call in calls:
        if call.outcome is not Outcome.FOUND or call.value is None:
            reason = (
                f"no answer within {timeout:g} s"
                if call.outcome is Outcome.TIMED_OUT
                else call.reason
            )
            failed.append((c, what, reason))
        elif what == "inventory":
            inventories.append((c, call.value))
        elif sync is None:
            sync = (c, call.value)
    for c in connectors:
        if describes_data(c) is None and maps_metaverse(c) is None:
            failed.append((c, "inventory", "this connector cannot describe what it holds"))
    return _Answers(inventories, sync, failed)


def _bind(method: Callable[..., Any], timeout: float) -> Callable[[], Any]:
    return lambda: method(timeout=timeout)


# -- the tables -------------------------------------------------------------------------


def _is_external(names: Iterable[str | None], description: str | None, external: set[str]) -> bool:
    return any(n and n.casefold() in external for n in names) or bool(
        description and _EXTERNAL.search(description)
    )


def _systems(answers: _Answers, external: set[str]) -> list[SystemRow]:
    agents: dict[str, AgentInfo] = {}
    sync_name = None
    if answers.sync is not None:
        sync_name = answers.sync[0].name
        agents = {a.name.casefold(): a for a in answers.sync[1].agents}
    rows: list[SystemRow] = []
    claimed: set[str] = set()
    for c, inv in answers.inventories:
        agent_name = management_agent(c)
        agent = agents.get(agent_name.casefold()) if agent_name else None
        if agent is not None:
            claimed.add(agent.name.casefold())
        kind = (
            SystemKind.METAVERSE
            if c.name == sync_name
            else SystemKind.BOTH
            if agent is not None
            else SystemKind.CONNECTOR
        )
        rows.append(
            SystemRow(
                name=c.name,
                label=c.label,
                kind=kind,
                technology=inv.technology,
                ma_type=agent.ma_type if agent else None,
                agent=agent.name if agent else None,
                version=inv.version,
                persons=inv.persons,
                external=_is_external(
                    (c.name, c.label, agent.name if agent else None),
                    agent.description if agent else None,
                    external,
                ),
                description=agent.description if agent else None,
            )
        )
    if answers.sync is not None and sync_name not in {r.name for r in rows}:
        c = answers.sync[0]
        rows.append(SystemRow(name=c.name, label=c.label, kind=SystemKind.METAVERSE))
    for key, agent in sorted(agents.items()):
        if key in claimed:
            continue
        rows.append(
            SystemRow(
                name=f"ma:{agent.name}",
                label=agent.name,
                kind=SystemKind.AGENT,
                ma_type=agent.ma_type,
                agent=agent.name,
                external=_is_external((agent.name,), agent.description, external),
                description=agent.description,
            )
        )
    order = {
        SystemKind.METAVERSE: 0,
        SystemKind.BOTH: 1,
        SystemKind.CONNECTOR: 2,
        SystemKind.AGENT: 3,
    }
    return sorted(rows, key=lambda r: (order[r.kind], r.label.casefold()))


def _label_of(by_agent: Mapping[str, SystemRow], agent: str) -> str:
    row = by_agent.get(agent.casefold())
    return row.label if row else agent


def _attributes(
    answers: _Answers, systems: Sequence[SystemRow], by_agent: Mapping[str, SystemRow]
) -> list[AttributeRow]:
    label = {s.name: s.label for s in systems}
    how: dict[tuple[str, str], set[str]] = {}
    names: dict[tuple[str, str], str] = {}
    mv_of: dict[tuple[str, str], set[str]] = {}

    def add(system: str, attribute: str, text: str, mv: Iterable[str] = ()) -> None:
        key = (system, attribute.casefold())
        names.setdefault(key, attribute)
        how.setdefault(key, set()).add(text)
        mv_of.setdefault(key, set()).update(mv)

    sync_name = answers.sync[0].name if answers.sync else None
    for c, inv in answers.inventories:
        text = "in the metaverse" if c.name == sync_name else "read by the bot"
        for a in inv.attributes:
            add(label[c.name], a.name, text, (a.name,) if c.name == sync_name else ())
    if answers.sync is not None:
        smap = answers.sync[1]
        for source in smap.imports:
            for agent, attribute in source.agents:
                if attribute:
                    text = f"imported into the metaverse as {source.mv_attribute}"
                    add(_label_of(by_agent, agent), attribute, text, (source.mv_attribute,))
        for flow in smap.exports:
            if flow.mv_attributes:
                text = f"exported from the metaverse's {', '.join(flow.mv_attributes)}"
                add(_label_of(by_agent, flow.agent), flow.cd_attribute, text, flow.mv_attributes)
    return [
        AttributeRow(
            system,
            names[(system, key)],
            category_of(names[(system, key)]),
            "; ".join(sorted(texts)),
            tuple(sorted(mv_of[(system, key)])),
        )
        for (system, key), texts in how.items()
    ]


def _authorities(
    answers: _Answers, by_agent: Mapping[str, SystemRow]
) -> tuple[list[AuthorityRow], list[str]]:
    if answers.sync is None:
        return [], []
    smap = answers.sync[1]
    exported: dict[str, set[str]] = {}
    for flow in smap.exports:
        for mv in flow.mv_attributes:
            exported.setdefault(mv.casefold(), set()).add(_label_of(by_agent, flow.agent))
    rows: list[AuthorityRow] = []
    seen: set[str] = set()
    for source in smap.imports:
        seen.add(source.mv_attribute.casefold())
        source_text, others = _source(source, by_agent)
        copies = sorted(
            (others | exported.get(source.mv_attribute.casefold(), set())) - {source_text}
        )
        rows.append(
            AuthorityRow(
                source.mv_attribute,
                category_of(source.mv_attribute),
                source_text,
                source.kind.value,
                tuple(copies),
            )
        )
    no_source = [a for a in smap.mv_attributes if a.casefold() not in seen]
    for a in no_source:
        rows.append(
            AuthorityRow(
                a, category_of(a), "none", "none", tuple(sorted(exported.get(a.casefold(), set())))
            )
        )
    return rows, no_source


def _source(source: ImportSource, by_agent: Mapping[str, SystemRow]) -> tuple[str, set[str]]:
    labels = [_label_of(by_agent, agent) for agent, _ in source.agents]
    if source.kind is PrecedenceKind.RANKED and labels:
        return labels[0], set(labels[1:])
    if source.kind is PrecedenceKind.EQUAL:
        return f"equal precedence ({', '.join(sorted(set(labels)))})", set()
    if source.kind is PrecedenceKind.MANUAL:
        return "manual precedence (rules extension)", set(labels)
    return "none", set(labels)


def _sharing(answers: _Answers, by_agent: Mapping[str, SystemRow]) -> list[SharingRow]:
    if answers.sync is None:
        return []
    rows = []
    for flow in answers.sync[1].exports:
        if not flow.mv_attributes:  # a constant: no one's data
            continue
        target = by_agent.get(flow.agent.casefold())
        rows.append(
            SharingRow(
                mv_attribute=", ".join(flow.mv_attributes),
                category=category_of(flow.mv_attributes[0]),
                to=target.label if target else flow.agent,
                cd_attribute=flow.cd_attribute,
                mapping=flow.mapping,
                external=bool(target and target.external),
            )
        )
    return rows


def _retention(
    answers: _Answers,
    systems: Sequence[SystemRow],
    by_agent: Mapping[str, SystemRow],
    statements: Mapping[str, str],
) -> list[RetentionRow]:
    label = {s.name: s.label for s in systems}
    rows: list[RetentionRow] = []
    for c, inv in answers.inventories:
        rows += [RetentionRow(label[c.name], k.what, k.period, k.erasure, k.days) for k in inv.kept]
    for name, text in statements.items():
        if name in label:
            rows.append(RetentionRow(label[name], "its retention, as configured", text, ""))
    if answers.sync is not None:
        c, smap = answers.sync
        rows.append(
            RetentionRow(
                c.label,
                "the person's metaverse object: deletion rule",
                smap.deletion_text or "no deletion rule is known",
                "the erasure waits for the deletion rule, after the source of authority",
            )
        )
        for agent in smap.agents:
            action = agent.deprovisioning
            rows.append(
                RetentionRow(
                    _label_of(by_agent, agent.name),
                    "its object when the metaverse object is deleted: deprovisioning",
                    action or "not configured",
                    _DEPROVISIONING.get(
                        action or "", "nothing happens to it: an erasure asks for it by hand"
                    ),
                )
            )
    return rows


def _findings(
    answers: _Answers,
    systems: Sequence[SystemRow],
    no_source: Sequence[str],
    sharing: Sequence[SharingRow],
    retention: Sequence[RetentionRow],
    art30: Art30,
) -> list[Finding]:
    out: list[Finding] = []
    for c, inv in answers.inventories:
        for note in inv.notes:  # what an inventory could not establish (safe text)
            out.append(Finding(FindingKind.NOT_ESTABLISHED, c.label, "inventory", note))
    for c, what, reason in answers.failed:
        out.append(
            Finding(
                FindingKind.UNREADABLE, c.label, what, f"its {what} could not be read: {reason}"
            )
        )
    metaverse = next((s.label for s in systems if s.kind is SystemKind.METAVERSE), "metaverse")
    for a in no_source:
        out.append(
            Finding(
                FindingKind.NO_SOURCE,
                metaverse,
                a,
                "no import flow: nothing says where it comes from",
            )
        )
    for row in sharing:
        if row.external:
            out.append(
                Finding(
                    FindingKind.EXTERNAL_EXPORT,
                    row.to,
                    f"{row.mv_attribute} -> {row.cd_attribute}",
                    "a transfer to a third party: needs a legal basis and an agreement",
                )
            )
    if answers.sync is not None and answers.sync[1].deletion_kind is None:
        out.append(
            Finding(
                FindingKind.NO_DELETION_RULE,
                metaverse,
                "person",
                "no metaverse deletion rule for persons",
            )
        )
    for row in retention:
        if row.period == "not configured":
            out.append(
                Finding(
                    FindingKind.NO_DELETION_RULE,
                    row.system,
                    "deprovisioning",
                    "no deprovisioning action",
                )
            )
    # What a system keeps after an erasure with neither a number of days nor an end
    # ("until each certificate expires" has one): someone must decide how long.
    label = {s.name: s.label for s in systems}
    for c, inv in answers.inventories:
        for k in inv.kept:
            if k.days is None and not k.period.startswith("until"):
                out.append(Finding(FindingKind.UNDATED, label[c.name], k.what, f"kept: {k.period}"))
    for heading, text in art30.rows():
        if text == "not stated":
            out.append(
                Finding(
                    FindingKind.NOT_STATED,
                    "Art. 30",
                    heading,
                    "set it in app.yaml's datamap: section",
                )
            )
    return out


def _edges(
    answers: _Answers, systems: Sequence[SystemRow], by_agent: Mapping[str, SystemRow]
) -> list[Edge]:
    if answers.sync is None:
        return []
    metaverse = answers.sync[0].name
    smap = answers.sync[1]
    imports: dict[str, set[str]] = {}
    tops: set[str] = set()
    for source in smap.imports:
        for n, (agent, _) in enumerate(source.agents):
            name = (
                by_agent[agent.casefold()].name if agent.casefold() in by_agent else f"ma:{agent}"
            )
            imports.setdefault(name, set()).add(source.mv_attribute.casefold())
            if n == 0 and source.kind is PrecedenceKind.RANKED:
                tops.add(name)
    exports: dict[str, set[str]] = {}
    for flow in smap.exports:
        if flow.mv_attributes:
            name = (
                by_agent[flow.agent.casefold()].name
                if flow.agent.casefold() in by_agent
                else f"ma:{flow.agent}"
            )
            exports.setdefault(name, set()).add(flow.cd_attribute.casefold())
    external = {s.name for s in systems if s.external}
    edges = [
        Edge(
            name,
            metaverse,
            EdgeKind.IMPORT,
            len(attrs),
            authoritative=name in tops,
            external=name in external,
        )
        for name, attrs in imports.items()
    ] + [
        Edge(metaverse, name, EdgeKind.EXPORT, len(attrs), external=name in external)
        for name, attrs in exports.items()
    ]
    return sorted(edges, key=lambda e: (e.kind, e.source, e.target))
