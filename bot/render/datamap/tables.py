"""The data map for spreadsheets: the flat record of processing as CSV (a row per system
and personal attribute), and an XLSX workbook with a sheet per section plus the flat
sheet. A cell a spreadsheet would run as a formula gets a leading apostrophe; numbers
stay numbers. The same map gives the same bytes (the XLSX's dates are the map's)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from bot.ops.datamap.model import DataMap
from bot.render.datamap.sections import (
    FLAT_HEADERS,
    Cell,
    flat_rows,
    generated_text,
    sections,
    summary,
)
from bot.workflow.export_package import neutral_cell

__all__ = ["csv_bytes", "xlsx_bytes"]

FLAT_SHEET = "Record of processing"


def csv_bytes(datamap: DataMap) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180's line ends
    writer.writerow(FLAT_HEADERS)
    writer.writerows([neutral_cell(c) for c in row] for row in flat_rows(datamap))
    return out.getvalue().encode("utf-8-sig")  # with a BOM, so spreadsheets read UTF-8


def _value(cell: Cell) -> str | int | None:
    if cell is None or isinstance(cell, int):
        return cell
    # XML 1.0 cannot hold most control characters: openpyxl refuses them.
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", neutral_cell(cell))


def _sheet(ws: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_value(c) for c in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, even where it still looks like a formula
    ws.freeze_panes = "A2"


def _utc(when: datetime) -> datetime:
    """openpyxl writes document dates as UTC without a zone."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.replace(tzinfo=None, microsecond=0)


def _workbook(datamap: DataMap) -> Workbook:
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "Summary"
    counts = summary(datamap)
    _sheet(
        first,
        ("Data map: record of processing (GDPR Art. 30)", "Value"),
        [
            ("Generated", generated_text(datamap)),
            ("Systems", counts.systems),
            ("Personal attributes held (per system)", counts.attributes),
            ("External transfers (to third parties)", counts.transfers),
            ("Findings (need a decision)", counts.findings),
        ],
    )
    for section in sections(datamap):
        _sheet(wb.create_sheet(section.sheet), section.flat.headers, section.flat.rows)
    _sheet(wb.create_sheet(FLAT_SHEET), FLAT_HEADERS, flat_rows(datamap))
    when = _utc(datamap.generated)
    wb.properties.creator = "mimbot"
    wb.properties.title = "Data map"
    wb.properties.created = when
    wb.properties.modified = when
    return wb


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    """The zip format starts in 1980 and counts seconds in twos."""
    when = max(_utc(when), datetime(1980, 1, 1))
    return (when.year, when.month, when.day, when.hour, when.minute, when.second // 2 * 2)


def xlsx_bytes(datamap: DataMap) -> bytes:
    wb = _workbook(datamap)
    raw = io.BytesIO()
    # ExcelWriter, not Workbook.save: save stamps `modified` with the current time.
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    # openpyxl names each entry with the current time: re-pack with the map's time.
    stamp = _zip_time(datamap.generated)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, source.read(entry.filename))
    return out.getvalue()
