"""The HR system as a folder of CSV exports (a common HR feed to MIM), read only.

The newest file matching `pattern` is the HR data (feeds drop a dated file per run); it
is parsed with the csv module once per change of name, size or modification time. A
file modified less than `settle_seconds` ago may still be being written: it is skipped
for the newest older one, unless no other file matches (then it is all there is).

A file that cannot be parsed exactly is refused whole, never read in part: a header
with an empty or repeated column name; a row with more or fewer fields than the header;
a quote left open, or a character after a closing one; a line break inside a key or
identifier field; a line break inside any other field, or a record that does not take
exactly one physical line (a stray carriage return splitting a row, a field spanning
lines), unless `multiline` says the export holds multi-line fields (then a record may
take several lines, never less than one).
Each is an error naming the line or column, never a value, and `health` reports it; so
`verify_absent` never answers "absent" from a file it could not read. A key held by more
than one row is refused rather than guessed.
`read` returns the mapping's `shown` columns only (by default not every column).
Nothing is ever written: the erasure plan is a manual step in the HR system itself, and
the export files keep the person until the feed's next run replaces them, which
`verify_absent` then checks.
"""

from __future__ import annotations

import codecs
import csv
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

import pydantic.dataclasses
from pydantic import Field

from connectors.base import (
    Capability,
    DeletePlan,
    Health,
    Hit,
    IdKind,
    ObjectRef,
    Query,
    Record,
    StepResult,
    Verification,
)
from connectors.datamap import SystemInventory
from connectors.doctor import Check
from connectors.errors import ConnectorError, NotFound, NotSupported, Unreachable
from connectors.hr.doctor import csv_doctor
from connectors.hr.inventory import csv_inventory
from connectors.hr.mapping import (
    HrMapping,
    Matcher,
    erase_by_hand,
    hit_from_row,
    not_unique,
    record_from_row,
    search_plan,
    verify_plan,
)
from connectors.hr.sweeps import POPULATIONS, csv_ended, csv_holds
from connectors.spec import SETTINGS
from connectors.spelling import spellings
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule

__all__ = ["HrCsvConnector", "HrCsvSettings"]

Row = Mapping[str, str]


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class HrCsvSettings:
    kind: Literal["csv"] = "csv"
    folder: Path  # where the export files are; the newest matching `pattern` is read
    mapping: HrMapping
    pattern: str = "*.csv"
    delimiter: str = ","
    encoding: str = "utf-8-sig"  # Excel and most HR exports write a byte-order mark
    # A file modified less than this ago may still be being written and is skipped for
    # the newest older one (read anyway when it is the only file).
    settle_seconds: float = Field(default=5.0, ge=0, le=3600)
    # The export holds quoted fields with line breaks (an address, a note); otherwise a
    # record that does not take exactly one line is a malformed file and is refused.
    multiline: bool = False
    management_agent: str | None = None
    label: str = "HR"
    name: str = "hr"
    max_hits: int = Field(default=200, ge=1)

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise ValueError("delimiter must be one character")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {self.encoding!r}") from None


class HrCsvConnector:
    """Search, read and verify the newest HR export file; never writes. For retention
    sweeps, the leavers whose end date (an ISO-8601 cell) is past a rule's cutoff
    (`FindsStale`) and the rows whose hold column is set (`KnowsHolds`)
    (connectors/hr/sweeps.py)."""

    capabilities = frozenset({Capability.SEARCH, Capability.READ, Capability.VERIFY})
    populations: frozenset[Population] = POPULATIONS

    def __init__(self, settings: HrCsvSettings) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self.management_agent = settings.management_agent
        self._cache: tuple[tuple[str, int, int], list[Row]] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._cache = None

    def newest_export(self) -> Path:
        """The file `_rows` reads (the newest settled one); `ConnectorError` when none."""
        return self._newest()[0]

    def export_rows(self) -> list[Row]:
        """Every row of the newest export (cached while the file is unchanged)."""
        return self._rows()

    def parse_export(self, path: Path) -> list[Row]:
        """Every row of `path`, or `ConnectorError` naming what is not exact (uncached)."""
        return self._parse(path)

    def _rows(self) -> list[Row]:
        """The rows of the newest export; parsed again only when the file changed."""
        newest, stat = self._newest()
        stamp = (newest.name, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if self._cache and self._cache[0] == stamp:
                return self._cache[1]
            rows = self._parse(newest)
            self._cache = (stamp, rows)
            return rows

    def exports(self) -> list[Path]:
        """Every export file matching `pattern`, oldest first (the newest is the one read,
        the older ones are what the feed has not removed); `Unreachable` when the folder
        cannot be listed."""
        return [p for p, _ in self._files()]

    def _files(self) -> list[tuple[Path, os.stat_result]]:
        s = self.settings
        try:
            return sorted(
                ((p, p.stat()) for p in Path(s.folder).glob(s.pattern) if p.is_file()),
                key=lambda f: (f[1].st_mtime_ns, f[0].name),
            )
        except OSError as exc:
            raise Unreachable(
                f"{self.name}: cannot list the export folder ({type(exc).__name__})"
            ) from None

    def _newest(self) -> tuple[Path, os.stat_result]:
        s = self.settings
        files = self._files()
        if not files:
            raise Unreachable(f"{self.name}: no export file matches {s.pattern} in the folder")
        settled_by = time.time() - s.settle_seconds  # a younger file may be half written
        settled = [f for f in files if f[1].st_mtime <= settled_by]
        return (settled or files)[-1]

    def _parse(self, path: Path) -> list[Row]:
        try:
            with path.open(newline="", encoding=self.settings.encoding) as f:
                return self._parse_lines(_Lines(f))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectorError(
                f"{self.name}: cannot read the export ({type(exc).__name__})"
            ) from None

    def _parse_lines(self, lines: _Lines) -> list[Row]:
        """Every row, or `ConnectorError` naming the first thing that is not exact."""
        s = self.settings
        # strict: an unclosed quote is an error at the end, not the rest of the file
        # swallowed into one field.
        reader = csv.reader(lines, delimiter=s.delimiter, strict=True)
        start = 1
        try:
            header = next(reader, [])
            self._check_header(header)
            missing = sorted(s.mapping.wanted() - set(header))
            if missing:
                raise ConnectorError(f"{self.name}: the export has no column {', '.join(missing)}")
            identity = s.mapping.identity_columns()
            keys = [i for i, c in enumerate(header) if c in identity]
            rows: list[Row] = []
            start = lines.physical + 1
            for fields in reader:
                self._check_record(fields, len(header), keys, start, lines.physical - start + 1)
                if fields:  # a blank line holds no row
                    rows.append(dict(zip(header, fields, strict=True)))
                start = lines.physical + 1
            return rows
        except csv.Error as exc:
            # The csv module's messages name the problem, never the field's text.
            raise ConnectorError(
                f"{self.name}: line {start} of the export cannot be parsed ({exc})"
            ) from None

    def _check_header(self, header: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, column in enumerate(header, 1):
            if "\r" in column or "\n" in column:
                raise ConnectorError(f"{self.name}: column {i} of the export's header spans lines")
            if not column.strip():
                raise ConnectorError(f"{self.name}: column {i} of the export's header has no name")
            name = column.strip().casefold()
            if name in seen:  # csv.DictReader would silently keep the last one
                raise ConnectorError(
                    f"{self.name}: columns {seen[name]} and {i} of the export's header have "
                    "the same name"
                )
            seen[name] = i

    def _check_record(
        self, fields: list[str], width: int, keys: list[int], line: int, spans: int
    ) -> None:
        where = f"{self.name}: line {line} of the export"
        if spans < 1:  # a line break that is not the file's own (a stray CR) ended it
            raise ConnectorError(f"{where} is split by a stray line break (a malformed export)")
        if fields and len(fields) > width:  # a stray delimiter shifted the row: trust none
            raise ConnectorError(f"{where} has more fields than its header (a malformed export)")
        if fields and len(fields) < width:
            raise ConnectorError(f"{where} has fewer fields than its header (a malformed export)")
        if fields and any("\r" in fields[i] or "\n" in fields[i] for i in keys):
            # Never allowed, multiline or not: a person is found and verified by these.
            raise ConnectorError(f"{where} has a line break in a key or identifier field")
        if not self.settings.multiline and (
            spans > 1 or any("\r" in f or "\n" in f for f in fields)
        ):
            raise ConnectorError(
                f"{where} has a line break inside a field; set multiline if the export "
                "holds multi-line fields"
            )

    def _matches(self, row: Row, matchers: list[Matcher]) -> bool:
        for m in matchers:
            cell = (row.get(m.column) or "").casefold()
            for value in spellings(m.value):
                wanted = value.casefold()
                if cell.startswith(wanted) if m.prefix else cell == wanted:
                    return True
        return False

    def _find(self, matchers: list[Matcher]) -> list[Hit]:
        if not matchers:
            return []
        found = [r for r in self._rows() if self._matches(r, matchers)]
        mapping = self.settings.mapping
        return [hit_from_row(self.name, r, mapping) for r in found[: self.settings.max_hits]]

    def _row(self, ref: ObjectRef) -> Row:
        key = self.settings.mapping.key
        found = [r for r in self._rows() if r.get(key) == ref.id] if ref.system == self.name else []
        if len(found) > 1:
            raise not_unique(self.name, len(found))
        if not found:
            raise NotFound(f"{self.name}: no record has that key")
        return found[0]

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        return self._find(search_plan(query, self.settings.mapping))

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        row = self._row(ref)
        shown = self.settings.mapping.shown(row)
        return record_from_row(self.name, ref, {c: row[c] for c in shown})

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        self._row(ref)
        return erase_by_hand(
            ref,
            self.label,
            "the bot reads HR's export files only; the next export must no longer hold them",
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        raise NotSupported(f"{self.name}: the export files are read only")

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        hits = self._find(verify_plan(identifiers, self.settings.mapping))
        detail = "still in the newest export file" if hits else ""
        return Verification(
            self.name, absent=not hits, remaining=tuple(h.ref for h in hits), detail=detail
        )

    def stale(self, rule: StaleRule, *, now: datetime, timeout: float) -> Iterator[Candidate]:
        """The newest export's rows whose `rule.column` (an ISO-8601 date) is before the
        cutoff's day, by key; `NotSupported` for another population or a column the export
        lacks. The export is read whole, as every call here does: no pages."""
        return csv_ended(self, rule, now=now)

    def on_hold(self, query: HoldQuery, *, timeout: float) -> Iterator[Mapping[IdKind, str]]:
        """The identifiers of each row whose `query.column` is set (not empty, 0, false,
        no or n); `NotSupported` for a group or a column the export lacks."""
        return csv_holds(self, query)

    def doctor(self, *, timeout: float) -> list[Check]:
        """Check, read-only, the newest export: found, its header holds the configured
        columns and the key, it parses, it holds rows (connectors/hr/doctor.py)."""
        return csv_doctor(self, timeout=timeout)

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What the exports hold about persons, for the data map: the mapped columns, the
        newest export's rows counted, and the older export files the feed keeps
        (connectors/hr/inventory.py)."""
        return csv_inventory(self, timeout=timeout)

    def health(self, *, timeout: float) -> Health:
        try:
            rows = self._rows()
        except ConnectorError as exc:
            return Health(self.name, False, str(exc))
        return Health(self.name, True, f"newest export readable ({len(rows)} rows)")


class _Lines:
    """The file's lines for the csv module, counting the physical ones as it reads: lines
    ending as the header line ends (so a lone CR in an LF file ends no line), and a last
    line without an ending."""

    def __init__(self, source: Iterable[str]) -> None:
        self._source = source
        self.physical = 0

    def __iter__(self) -> Iterator[str]:
        ending: str | None = None
        for line in self._source:
            if ending is None:
                ending = _ending(line)
            if not _ending(line) or (ending and line.endswith(ending)):
                self.physical += 1
            yield line


def _ending(line: str) -> str:
    for end in ("\r\n", "\n", "\r"):
        if line.endswith(end):
            return end
    return ""
