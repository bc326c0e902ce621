"""The access package's CSV files (bot/workflow/export_package.py): no cell, whichever column and
whatever a connector returned, opens in a spreadsheet as a formula; the JSON keeps every
value exactly."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.lookup.calls import Outcome
from bot.lookup.show import SystemRecord
from bot.workflow.export_package import build_package
from connectors.base import AttributeValue, ObjectRef, Record

SIGNS = "=+-@"
LOOK_ALIKES = "\uff1d\ufe66\uff0b\uff0d\uff20"  # full-width = + - @ and small-form =


def package(attributes: dict[str, AttributeValue]) -> dict[str, bytes]:
    record = Record(ObjectRef("hr", "1"), attributes)
    built = build_package(
        request_id="REQ-2026-0001",
        created=datetime(2026, 12, 1, tzinfo=UTC),
        subject_name="Jane Doe",
        systems=[SystemRecord("hr", "HR", Outcome.FOUND, record=record)],
    )
    with zipfile.ZipFile(io.BytesIO(built.data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rows(files: dict[str, bytes]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(files["hr.csv"].decode("utf-8-sig"), newline="")))


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet may do with a cell: a tab or CR first runs what follows; else
    blanks and controls at the start may be trimmed and look-alikes folded (NFKC), so the
    first other character, as written or folded, must not be a formula sign. U+2212
    (minus sign) is counted too, which NFKC does not fold."""
    if cell[:1] in ("\t", "\r"):
        return True
    for form in (cell, unicodedata.normalize("NFKC", cell)):
        for ch in form:
            if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
                continue
            if unicodedata.normalize("NFKC", ch) in SIGNS + "\u2212":
                return True
            break
    return False


def neutral(cell: str, original: str) -> bool:
    """The cell is the original, or the original behind an apostrophe when it could run."""
    if runs_as_formula(original):
        return cell == "'" + original
    return cell == original


@pytest.mark.parametrize(
    "hostile",
    [
        "=1+1",
        " =1+1",
        "\n=1+1",
        "\x00=1+1",
        "\t=1+1",
        "\r=1+1",
        "  \n\t @SUM(A1)",
        "\uff1d1+1",
        "\ufe661+1",
        "\uff0b1",
        "\uff0d1",
        "\uff20SUM(A1)",
        "\u200b=1",  # a zero-width space first
        "=\u0338",  # = with a combining solidus: NFC composes it into another sign
        '=HYPERLINK("http://evil")',
    ],
)
@pytest.mark.parametrize("column", ["attribute", "value", "source"])
def test_a_formula_in_any_column_gets_an_apostrophe(hostile, column):
    name = hostile if column == "attribute" else "note"
    value = hostile if column == "value" else "plain"
    source = hostile if column == "source" else "hr"
    files = package({name: AttributeValue((value,), source=source)})
    header, row = rows(files)
    assert header == ["attribute", "value", "source", "modified"]
    cell = row[["attribute", "value", "source"].index(column)]
    assert cell == "'" + hostile
    document = json.loads(files["hr.json"])  # the JSON keeps it as it came
    assert (name, value, source) in [
        (k, a["values"][0], a["source"]) for k, a in document["attributes"].items()
    ]


def test_plain_values_are_left_as_they_are():
    files = package(
        {"mail": AttributeValue(("a@b.test", "O'Brien", " x", "1-2", "")), "n": AttributeValue(())}
    )
    assert rows(files)[1:] == [
        ["mail", "a@b.test", "", ""],
        ["mail", "O'Brien", "", ""],
        ["mail", " x", "", ""],
        ["mail", "1-2", "", ""],
        ["mail", "", "", ""],
        ["n", "", "", ""],
    ]


def test_values_that_are_not_text_do_not_stop_the_export():
    # The connector contract says str; one that breaks it must not fail an access request.
    odd: tuple[Any, ...] = (-5, 3.5, None, b"=bytes", datetime(2026, 1, 2, tzinfo=UTC))
    files = package({"odd": AttributeValue(odd, source=None)})  # type: ignore[arg-type]
    cells = [row[1] for row in rows(files)[1:]]
    assert cells == ["'-5", "3.5", "", "b'=bytes'", "2026-01-02 00:00:00+00:00"]
    assert json.loads(files["hr.json"])["attributes"]["odd"]["values"][:3] == [-5, 3.5, None]


text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
hostile_text = st.builds(
    lambda pad, sign, rest: pad + sign + rest,
    st.text(alphabet=" \t\r\n\x00\x0b\x0c\u00a0\u200b\u3000\ufeff", max_size=3),
    st.sampled_from(list(SIGNS + LOOK_ALIKES)),
    text,
)
cells = st.one_of(text, hostile_text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        cells,
        st.tuples(st.lists(cells, max_size=3), st.one_of(st.none(), cells)),
        min_size=1,
        max_size=4,
    )
)
def test_no_cell_of_the_csv_runs_as_a_formula(attributes):
    files = package(
        {name: AttributeValue(tuple(v), source=s) for name, (v, s) in attributes.items()}
    )
    expected = [
        [name, value, source or "", ""]
        for name, (values, source) in sorted(attributes.items())  # the package sorts them
        for value in values or [""]
    ]
    got = rows(files)[1:]
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        for cell, original in zip(row, want, strict=True):
            assert neutral(cell, original), (cell, original)
            assert not runs_as_formula(cell), cell
