"""The data map's diagram: systems as boxes around the metaverse, personal-data flows as
arrows (wider for more attributes), the sources of authority bold, external systems
dashed red. Laid out by Graphviz's `dot`; the same map gives the same SVG bytes."""

from __future__ import annotations

import re

import graphviz

from bot.errors import MimbotError
from bot.ops.datamap.model import DataMap, EdgeKind, SystemKind, SystemRow

__all__ = ["NEEDS_DOT", "DiagramUnavailable", "diagram_svg"]

NEEDS_DOT = "the html format needs Graphviz's dot: apt-get install graphviz"

AUTHORITY = {"penwidth": "3", "style": "bold"}
EXTERNAL = {"color": "red", "fontcolor": "red", "style": "dashed"}
EXTERNAL_AUTHORITY = {**EXTERNAL, "penwidth": "3", "style": "dashed,bold"}


class DiagramUnavailable(MimbotError):
    """Graphviz's `dot` is missing or failed: the HTML map cannot be drawn."""


def _text(text: str) -> str:
    """A label line: one line, backslashes literal (no \\N, \\G, \\l escapes of DOT), and
    & literal (dot reads entities such as &amp; or &#60; even in a plain label)."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("&", "&amp;")


def _label(*lines: str) -> str:
    # graphviz.nohtml: a label that starts with < and ends with > stays text, not an
    # HTML-like label; "\n" between lines is DOT's own line break.
    return graphviz.nohtml("\\n".join(_text(line) for line in lines if line))


def _width(attributes: int) -> str:
    return f"{1 + min(max(attributes, 0), 30) / 3:.1f}"


def _node_lines(system: SystemRow, authority: bool) -> list[str]:
    lines = [system.label]
    if system.kind is SystemKind.METAVERSE:
        lines.append("metaverse (MIM Sync Service)")
    else:
        lines.append(system.technology or system.ma_type or system.kind.value)
    if system.persons is not None:
        lines.append(f"{system.persons} persons")
    if system.external:
        lines.append("external")
    if authority:
        lines.append("source of authority")
    return lines


def _authorities(datamap: DataMap) -> set[str]:
    """The systems (by name) that are the source of authority of any attribute."""
    sources = {a.source.casefold() for a in datamap.authorities}
    marked = {e.source for e in datamap.edges if e.kind is EdgeKind.IMPORT and e.authoritative}
    for s in datamap.systems:
        if {s.name.casefold(), s.label.casefold(), (s.agent or "").casefold()} & sources:
            marked.add(s.name)
    return marked


def graph(datamap: DataMap) -> graphviz.Digraph:
    dot = graphviz.Digraph(
        "datamap",
        engine="dot",
        graph_attr={"rankdir": "LR", "nodesep": "0.4", "ranksep": "1.2", "fontsize": "11"},
        node_attr={"shape": "box", "fontsize": "11", "fontname": "Helvetica"},
        edge_attr={"fontsize": "9", "fontname": "Helvetica"},
    )
    authorities = _authorities(datamap)
    # Node ids are positions, never the map's text: labels carry the names, escaped.
    ids: dict[str, str] = {}
    for i, system in enumerate(datamap.systems):
        ids.setdefault(system.name, f"s{i}")
        authority = system.name in authorities
        style: dict[str, str] = {}
        if system.kind is SystemKind.METAVERSE:
            style = {"shape": "box3d", "style": "filled", "fillcolor": "#e8eef7"}
        elif system.external:
            style = EXTERNAL_AUTHORITY if authority else EXTERNAL
        elif authority:
            style = AUTHORITY
        # The classes say in the SVG itself what the picture shows (and tests read them).
        classes = ["system", system.kind.name.lower()]
        classes += ["external"] * system.external + ["authority"] * authority
        style = {**style, "class": " ".join(classes)}
        dot.node(ids[system.name], _label(*_node_lines(system, authority)), **style)
    for edge in datamap.edges:
        for name in (edge.source, edge.target):
            if name not in ids:  # a flow to a system the rows do not describe: still drawn
                ids[name] = f"s{len(ids)}"
                dot.node(ids[name], _label(name))
    for edge in datamap.edges:
        attrs = {"penwidth": _width(edge.attributes), "class": f"flow {edge.kind.value}"}
        if edge.kind is EdgeKind.EXPORT and edge.external:
            attrs |= {"color": "red", "fontcolor": "red", "style": "dashed"}
            attrs["class"] += " external"
        elif edge.kind is EdgeKind.IMPORT and edge.authoritative:
            attrs |= {"style": "bold"}
            attrs["class"] += " authority"
        noun = "attribute" if edge.attributes == 1 else "attributes"
        dot.edge(
            ids[edge.source],
            ids[edge.target],
            label=_label(f"{edge.kind.value}: {edge.attributes} {noun}"),
            **attrs,
        )
    with dot.subgraph(name="cluster_legend") as legend:
        legend.attr(label="Legend", fontsize="10", fontname="Helvetica", style="dashed")
        legend.node("legend_authority", "source of authority", **AUTHORITY)
        legend.node("legend_external", "external system (third party)", **EXTERNAL)
        legend.node(
            "legend_flow", "arrow: personal-data flow,\\nwider for more attributes", shape="note"
        )
    return dot


# What dot writes that is not the picture: its version, and the comments naming nodes.
_COMMENT = re.compile(rb"<!--.*?-->\s*", re.DOTALL)


def diagram_svg(datamap: DataMap) -> bytes:
    """The diagram as an SVG document, without Graphviz's version or any comment."""
    try:
        svg = graph(datamap).pipe(format="svg", engine="dot")
    except graphviz.ExecutableNotFound:
        raise DiagramUnavailable(NEEDS_DOT) from None
    except graphviz.CalledProcessError as exc:
        raise DiagramUnavailable(
            f"Graphviz's dot failed (exit {exc.returncode}) drawing the data map"
        ) from None
    return _COMMENT.sub(b"", svg)
