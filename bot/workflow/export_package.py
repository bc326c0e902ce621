"""The access package (GDPR Art. 15): one zip a data subject can read and an auditor check.

Per system that holds the person, `<system>.json` (every attribute with all its values,
its source of authority and last change where the system says, and the lineage where it
has one) and `<system>.csv` (one row per value); `README.txt` in plain words (what each
system is for, where its data comes from, what it decides, how long it keeps it; which
systems could not be read); `manifest.json` (request id, time, each system's outcome,
and the SHA-256 of every other file). The zip is built in memory and never written to
disk, so nothing survives a crash or a kill -9: the bot never keeps a package. Folders
that older versions wrote (`mimbot-export-*`) are removed by `remove_stale_folders`.

Every cell of every CSV is neutralised: one a spreadsheet would run as a formula gets a
leading apostrophe (the JSON keeps every value exactly).
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyzipper

from bot.lookup.calls import Outcome
from bot.lookup.show import SystemRecord
from bot.workflow.export_texts import system_text
from connectors.base import Record

__all__ = ["Package", "build_package", "neutral_cell", "remove_stale_folders"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Package:
    name: str  # the zip's file name: `<request_id>.zip`
    data: bytes = field(repr=False)  # the zip itself, only ever in memory
    manifest: Mapping[str, Any]
    files: tuple[str, ...]  # names inside the zip, manifest.json last
    encrypted: bool = False

    @property
    def unread(self) -> list[str]:
        """Labels of the systems that could not be read."""
        systems = self.manifest["systems"]
        return [s["label"] for s in systems.values() if s["outcome"] not in _READ]

    @property
    def reasons(self) -> list[str]:
        """Why each of `unread` could not be read, as safe text (the outcome, or the
        connector's or the size cap's note: never a value)."""
        systems = self.manifest["systems"]
        return [
            s.get("message") or s["outcome"].replace("_", " ")
            for s in systems.values()
            if s["outcome"] not in _READ
        ]


_READ = {Outcome.FOUND.value, Outcome.NOT_FOUND.value}


def build_package(
    *,
    request_id: str,
    created: datetime,
    subject_name: str,
    systems: Sequence[SystemRecord],
    texts: Mapping[str, Mapping[str, str]] | None = None,
    password: str | None = None,
) -> Package:
    """Build `<request_id>.zip` in memory and return it with its manifest; encrypted with
    `password` when one is given."""
    contents: dict[str, bytes] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    for s in sorted(systems, key=lambda s: s.system):
        entry: dict[str, Any] = {"label": s.label, "outcome": s.outcome.value, "files": []}
        if s.record is not None or s.lineage is not None:
            document = _document(s)
            for name, data in (
                (f"{s.system}.json", _json(document)),
                (f"{s.system}.csv", _csv(document["attributes"])),
            ):
                contents[name] = data
                entry["files"].append(name)
        elif s.message:
            entry["message"] = s.message
        outcomes[s.system] = entry
    contents["README.txt"] = _readme(subject_name, request_id, created, systems, texts)
    manifest = {
        "request_id": request_id,
        "created": created.isoformat(),
        "systems": outcomes,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
    }
    contents["manifest.json"] = _json(manifest)
    buffer = io.BytesIO()
    stamp = created.timetuple()[:6]
    if password:  # AES-256 (WinZip AE-x), which 7-Zip and most archive tools read
        with pyzipper.AESZipFile(
            buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as aes:
            aes.setpassword(password.encode())
            for name, data in contents.items():
                info = aes.zipinfo_cls(name, date_time=stamp)  # AES needs its own ZipInfo
                aes.writestr(info, data, pyzipper.ZIP_DEFLATED)
    else:
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in contents.items():
                zf.writestr(zipfile.ZipInfo(name, date_time=stamp), data, zipfile.ZIP_DEFLATED)
    return Package(
        f"{request_id}.zip",
        buffer.getvalue(),
        manifest,
        tuple(contents),
        encrypted=bool(password),
    )


def _document(s: SystemRecord) -> dict[str, Any]:
    """A system's record, or its lineage view (the metaverse), as plain JSON values."""
    if s.record is not None:
        return {
            "system": s.label,
            "object": s.record.ref.id,
            "attributes": _attributes(s.record),
        }
    view = s.lineage
    assert view is not None
    return {
        "system": s.label,
        "object": view.ref.id,
        "attributes": {
            a.name: {
                "values": list(a.values),
                "source": a.stated_source,
                "modified": _plain(a.modified),
            }
            for a in view.attributes
        },
        "lineage": [_plain(c) for c in view.connectors],
        "deletion_rule": _plain(view.deletion_rule),
    }


def _attributes(record: Record) -> dict[str, Any]:
    return {
        name: {
            "values": list(value.values),
            "source": value.source,
            "modified": _plain(value.modified),
        }
        for name, value in sorted(record.attributes.items())
    }


def _plain(value: Any) -> Any:
    """Dataclasses, enums and datetimes as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _json(document: Any) -> bytes:
    # default=str: a connector that breaks the str contract (bytes, numbers in a
    # record) still gives a readable package instead of a failed export.
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode()


def _csv(attributes: Mapping[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_row(["attribute", "value", "source", "modified"]))
    for name, a in attributes.items():
        for value in a["values"] or [""]:
            writer.writerow(_row([name, value, a["source"], a["modified"]]))
    return out.getvalue().encode("utf-8-sig")  # with a BOM, so spreadsheets read UTF-8


def _row(cells: Sequence[object]) -> list[str]:
    """Every cell neutralised: an attribute name or a source comes from a connector
    (an HR CSV header, a BHOLD key) and is as hostile as a value."""
    return [neutral_cell(c) for c in cells]


# What starts a formula in Excel, LibreOffice or Google Sheets (OWASP, CSV injection),
# and the full-width and small-form look-alikes: NFKC folds those onto the signs, but
# not the minus sign U+2212, so all are listed.
_FORMULA = frozenset("=+-@\uff1d\ufe66\uff0b\ufe62\uff0d\ufe63\u2212\uff20\ufe6b")


def neutral_cell(value: object) -> str:
    """A cell as text; one a spreadsheet would run as a formula gets a leading
    apostrophe (OWASP's CSV-injection advice). The JSON file keeps every value exactly."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return "'" + text if _is_formula(text) else text


def _is_formula(text: str) -> bool:
    """Whether a spreadsheet could read `text` as a formula: a tab or CR first (some run
    what follows), or a formula sign as the first character that is not blank or a
    control (a spreadsheet may trim a space, LF or NUL), as written or after NFKC
    (U+FF1D is =). Both, since NFKC may also hide a sign: = and U+0338 compose into
    U+2260."""
    if text[:1] in ("\t", "\r"):
        return True
    for form in (text, unicodedata.normalize("NFKC", text)):
        head = _significant(form)[:1]
        if head and (head in _FORMULA or unicodedata.normalize("NFKC", head) in _FORMULA):
            return True
    return False


def _significant(text: str) -> str:
    """`text` from its first character that is neither blank nor a control or format
    character (NUL, LF, a zero-width space, a BOM)."""
    for i, ch in enumerate(text):
        if not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")):
            return text[i:]
    return ""


def remove_stale_folders(folder: Path | None = None) -> int:
    """Remove the `mimbot-export-*` folders, owned by this user, that versions which
    built the package on disk left in `folder` (the temporary directory) when they were
    killed mid-export; return how many. A symlink or another user's folder is left."""
    root = Path(folder or tempfile.gettempdir())
    removed = 0
    try:
        candidates = list(root.glob("mimbot-export-*"))
    except OSError:
        return 0
    for path in candidates:
        try:
            st = path.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            shutil.rmtree(path)
        except OSError as exc:
            log.warning("a stale export folder could not be removed [%s]", type(exc).__name__)
            continue
        removed += 1
    if removed:
        log.warning("removed %d export folder(s) left by an interrupted export", removed)
    return removed


def _readme(
    subject_name: str,
    request_id: str,
    created: datetime,
    systems: Sequence[SystemRecord],
    texts: Mapping[str, Mapping[str, str]] | None,
) -> bytes:
    held = [s for s in systems if s.outcome is Outcome.FOUND]
    unread = [s for s in systems if s.outcome.value not in _READ]
    lines = [
        f"Your personal data: copy for {subject_name}",
        f"Request {request_id}, made {created:%d %B %Y}.",
        "",
        "This package holds a copy of the personal data about you in each system below",
        "(GDPR Article 15). Each system has a .json file (every detail, with where it",
        "comes from and when it last changed) and a .csv file (the same, for a",
        "spreadsheet). manifest.json lists every file with its SHA-256 checksum.",
        "",
    ]
    for s in held:
        t = system_text(s.system, texts)
        lines += [
            f"== {s.label} ({s.system}.json, {s.system}.csv) ==",
            f"What it is for: {t.purpose}",
            f"Where the data comes from: {t.source}",
            f"What it decides: {t.authority}",
            f"How long it is kept: {t.retention}",
            "",
        ]
    absent = [s.label for s in systems if s.outcome is Outcome.NOT_FOUND]
    if absent:
        lines += [f"A search of these systems found nothing about you: {', '.join(absent)}.", ""]
    if unread:
        lines += [
            "NOT INCLUDED: these systems could not be read when this copy was made, so "
            "their data is not in it:",
            *(f"- {s.label} ({s.outcome.value.replace('_', ' ')})" for s in unread),
            "",
        ]
    lines += [
        "Your rights: you may ask us to correct this data (Article 16) or erase it",
        "(Article 17), to restrict its use (Article 18) or object to it (Article 21), and",
        "you may complain to a data protection supervisory authority.",
        "",
    ]
    return "\n".join(lines).encode()
