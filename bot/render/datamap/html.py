"""The data map as one self-contained HTML file: inline CSS, the diagram as inline SVG,
no script and nothing fetched (its Content-Security-Policy forbids both). Every text
from the map is HTML-escaped."""

from __future__ import annotations

import re
from html import escape

from bot.ops.datamap.model import DataMap
from bot.render.datamap.diagram import diagram_svg
from bot.render.datamap.sections import (
    Cell,
    Part,
    generated_text,
    sections,
    summary,
)

__all__ = ["html_page"]

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #1d1d1d; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left;
  vertical-align: top; white-space: pre-wrap; }
th { background: #f0f0f0; }
td.number { text-align: right; }
h3.transfers { color: #b00000; }
.summary li { margin: 0.2em 0; }
figure { margin: 1em 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
"""

# No script, no fetch: only the inline style runs (and the inline SVG is markup).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

# What an SVG document carries that does not belong inside HTML.
_PROLOG = re.compile(rb"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.IGNORECASE)


def _cell(value: Cell) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, int):
        return f'<td class="number">{value}</td>'
    return f"<td>{escape(value)}</td>"


def _part(part: Part) -> list[str]:
    out: list[str] = []
    if part.heading:
        cls = ' class="transfers"' if part.external else ""
        out.append(f"<h3{cls}>{escape(part.heading)}</h3>")
    if not part.table.rows:
        return [*out, f"<p>{escape(part.empty)}</p>"]
    out.append("<table>")
    out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in part.table.headers) + "</tr>")
    out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in part.table.rows]
    out.append("</table>")
    return out


def html_page(datamap: DataMap) -> str:
    svg = _PROLOG.sub(b"", diagram_svg(datamap)).decode("utf-8").strip()
    counts = summary(datamap)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        "<title>Data map: record of processing (GDPR Art. 30)</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>Data map: record of processing (GDPR Art. 30)</h1>",
        f"<p>Generated {escape(generated_text(datamap))}.</p>",
        '<ul class="summary">',
        *(f"<li>{escape(line)}</li>" for line in counts.lines()),
        "</ul>",
        "<figure>",
        svg,
        "<figcaption>Personal-data flows: bold, a source of authority; dashed red, an "
        "external system (a third party); a wider arrow, more attributes.</figcaption>",
        "</figure>",
    ]
    for section in sections(datamap):
        out.append(f"<h2>{section.number}. {escape(section.title)}</h2>")
        out.append(f"<p>{escape(section.intro)}</p>")
        for part in section.parts:
            out += _part(part)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
