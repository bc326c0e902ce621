"""The data map as GitHub-flavoured Markdown: a heading per section, a table per part.
Every text from the map is escaped: a `|` cannot split a cell, a newline cannot end a
row, and no `<`, `[`, `*` or backtick can become HTML, a link or formatting."""

from __future__ import annotations

import re

from bot.ops.datamap.model import DataMap
from bot.render.datamap.sections import (
    Cell,
    Part,
    generated_text,
    sections,
    summary,
)

__all__ = ["markdown", "md_escape"]

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that
# start HTML, an entity, a link, emphasis, code or strikethrough, or split a GFM cell.
_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")


def md_escape(text: str) -> str:
    """One line of inert Markdown text; line breaks become <br> (the only HTML written)."""
    lines = [_SPECIAL.sub(r"\\\1", line).strip() for line in text.splitlines()]
    return "<br>".join(line for line in lines if line) if len(lines) > 1 else "".join(lines)


def _cell(value: Cell) -> str:
    return "" if value is None else md_escape(str(value))


def _part(part: Part) -> list[str]:
    out = [f"### {md_escape(part.heading)}", ""] if part.heading else []
    if not part.table.rows:
        return [*out, md_escape(part.empty), ""]
    headers = part.table.headers
    out.append("| " + " | ".join(md_escape(h) for h in headers) + " |")
    out.append("|" + "|".join("---" for _ in headers) + "|")
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in part.table.rows]
    return [*out, ""]


def markdown(datamap: DataMap) -> str:
    counts = summary(datamap)
    out = [
        "# Data map: record of processing (GDPR Art. 30)",
        "",
        f"Generated {md_escape(generated_text(datamap))}.",
        "",
        *(f"- {md_escape(line)}" for line in counts.lines()),
        "",
    ]
    for section in sections(datamap):
        out += [f"## {section.number}. {md_escape(section.title)}", "", md_escape(section.intro)]
        out.append("")
        for part in section.parts:
            out += _part(part)
    return "\n".join(out).rstrip("\n") + "\n"
