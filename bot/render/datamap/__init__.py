"""The data map (`python -m bot datamap`, GDPR Art. 30) written out: Markdown, one
self-contained HTML page with the diagram, the flat record as CSV, an XLSX workbook, and
the JSON form; and its summary in Slack. The same map always gives the same bytes."""

from __future__ import annotations

import enum

from bot.ops.datamap.model import DataMap
from bot.render.datamap.diagram import NEEDS_DOT, DiagramUnavailable, diagram_svg
from bot.render.datamap.html import html_page
from bot.render.datamap.markdown import markdown
from bot.render.datamap.slack import datamap_summary
from bot.render.datamap.tables import csv_bytes, xlsx_bytes

__all__ = [
    "FILE_SUFFIX",
    "MEDIA_TYPE",
    "NEEDS_DOT",
    "DiagramUnavailable",
    "Format",
    "datamap_summary",
    "diagram_svg",
    "render",
]


class Format(enum.StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


FILE_SUFFIX: dict[Format, str] = {
    Format.MARKDOWN: ".md",
    Format.HTML: ".html",
    Format.CSV: ".csv",
    Format.XLSX: ".xlsx",
    Format.JSON: ".json",
}

MEDIA_TYPE: dict[Format, str] = {
    Format.MARKDOWN: "text/markdown; charset=utf-8",
    Format.HTML: "text/html; charset=utf-8",
    Format.CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.JSON: "application/json",
}


def render(map: DataMap, fmt: Format) -> bytes:
    """The map in one format. Raises DiagramUnavailable for HTML without Graphviz."""
    match Format(fmt):
        case Format.MARKDOWN:
            return markdown(map).encode("utf-8")
        case Format.HTML:
            return html_page(map).encode("utf-8")
        case Format.CSV:
            return csv_bytes(map)
        case Format.XLSX:
            return xlsx_bytes(map)
        case Format.JSON:
            return map.to_json().encode("utf-8")
    raise ValueError(f"unknown data map format: {fmt}")
