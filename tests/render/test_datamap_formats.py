"""Issue 18: the data map written out. Maps built by hand with hostile text in every
string field (HTML, a table pipe, a formula, a newline, a Slack mention, a Markdown link,
a DOT escape); each format is read back the way its reader would (a Markdown table
parser, an HTML parser, an XML parser, csv, openpyxl, slack_sdk) and checked cell by
cell, for escaping and for the same bytes from the same map."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from slack_sdk.models.blocks import Block

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
from bot.render.datamap import (
    FILE_SUFFIX,
    MEDIA_TYPE,
    NEEDS_DOT,
    DiagramUnavailable,
    Format,
    datamap_summary,
    diagram_svg,
    render,
)
from connectors.datamap import Category

H = "<script>alert(1)</script> | =cmd\n<@U123> [x](javascript:y) *b* `c` \\N &amp;"

HR = f"=HR {H}"  # a label a spreadsheet would run as a formula
CRM = f"+CRM {H}"
MAIL = f"@mail {H}"
EMAIL = f"email {H}"
AGENT = f"HR MA {H}"
WHEN = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def hostile_map() -> DataMap:
    return DataMap(
        generated=WHEN,
        systems=(
            SystemRow(name="mv", label="Metaverse", kind=SystemKind.METAVERSE),
            SystemRow(
                name=f"=hr {H}",
                label=HR,
                kind=SystemKind.BOTH,
                technology=f"SQL {H}",
                ma_type=f"Extensible2 {H}",
                agent=AGENT,
                version=f"1.0 {H}",
                persons=1200,
                description=f"desc {H}",
            ),
            SystemRow(
                name=f"crm {H}",
                label=CRM,
                kind=SystemKind.AGENT,
                ma_type="Extensible2",
                agent=f"CRM MA {H}",
                external=True,
                description=f"third party {H}",
            ),
        ),
        attributes=(
            AttributeRow(HR, MAIL, Category.CONTACT, f"read by the bot {H}"),
            AttributeRow(HR, "employeeID", Category.EMPLOYMENT),
            AttributeRow(HR, "accountName", Category.IDENTITY),
            AttributeRow("Metaverse", MAIL, Category.CONTACT, "metaverse attribute"),
            AttributeRow(CRM, EMAIL, Category.CONTACT, f"exported {H}"),
        ),
        authorities=(AuthorityRow(MAIL, Category.CONTACT, AGENT, f"ranked {H}", (CRM,)),),
        sharing=(
            SharingRow(MAIL, Category.CONTACT, CRM, EMAIL, f"direct {H}", external=True),
            SharingRow("employeeID", Category.EMPLOYMENT, HR, "employeeID", "direct"),
        ),
        retention=(RetentionRow(HR, f"rows {H}", f"until deleted {H}", f"\tdeletes {H}", days=30),),
        findings=(
            Finding(FindingKind.EXTERNAL_EXPORT, CRM, EMAIL, f"=decide {H}"),
            Finding(FindingKind.NOT_STATED, "", "legal_basis", "Legal basis is not stated"),
        ),
        edges=(
            Edge(f"=hr {H}", "mv", EdgeKind.IMPORT, 9, authoritative=True),
            Edge("mv", f"crm {H}", EdgeKind.EXPORT, 1, external=True),
        ),
        art30=Art30(controller=f"ACME {H}", purposes=f"=purposes {H}"),
    )


SYSTEM_ROW_HR = [
    HR,
    f"=hr {H}",
    "connector and management agent",
    f"SQL {H}",
    f"Extensible2 {H}",
    AGENT,
    f"1.0 {H}",
    "1200",
    "no",
    f"desc {H}",
]
FINDING_ROW = ["personal data exported to an external system", CRM, EMAIL, f"=decide {H}"]
RETENTION_ROW = [HR, f"rows {H}", f"until deleted {H}", "30", f"\tdeletes {H}"]
TRANSFER_ROW = [CRM, EMAIL, MAIL, "contact", f"direct {H}"]
TITLES = [
    "1. Systems and technology",
    "2. Personal data per system",
    "3. Authoritative source per attribute",
    "4. Sharing",
    "5. Retention and deletion plan",
    "6. Findings",
    "7. Record of processing (Art. 30)",
]


# --- Markdown -----------------------------------------------------------------------


def md_cells(line: str) -> list[str]:
    """A GFM table row's cells as a reader sees them: backslash escapes undone, <br> a
    line break, split only at unescaped pipes."""
    assert line.startswith("|") and line.endswith("|"), line
    cells, cur, i, body = [], "", 0, line[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            cur += body[i + 1]
            i += 2
            continue
        if ch == "|":
            cells.append(cur)
            cur = ""
        elif body.startswith("<br>", i):
            cur += "\n"
            i += 4
            continue
        elif ch in "<>[]*`_&":
            raise AssertionError(f"unescaped {ch!r} in {line!r}")
        else:
            cur += ch
        i += 1
    cells.append(cur)
    return [c.strip() for c in cells]


def md_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    tables: list[tuple[list[str], list[list[str]]]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            headers = md_cells(lines[i - 1])
            rows = []
            for row in lines[i + 1 :]:
                if not row.startswith("|"):
                    break
                rows.append(md_cells(row))
            tables.append((headers, rows))
    return tables


def test_markdown_tables_keep_every_hostile_cell_whole() -> None:
    text = render(hostile_map(), Format.MARKDOWN).decode("utf-8")
    tables = md_tables(text)
    for headers, rows in tables:
        for row in rows:
            assert len(row) == len(headers), (headers, row)  # no | or newline split a cell
    by_head = {headers[0] + "/" + headers[1]: rows for headers, rows in tables}
    assert SYSTEM_ROW_HR in by_head["System/Name"]
    assert FINDING_ROW in by_head["Finding/System"]
    # A GFM cell is trimmed: the tab that leads the erasure text cannot survive.
    assert [*RETENTION_ROW[:4], RETENTION_ROW[4].strip()] in by_head[
        "System/What keeps personal data"
    ]
    assert [MAIL, "contact", AGENT, f"ranked {H}", CRM] in by_head["Metaverse attribute/Category"]
    art30 = dict((r[0], r[1]) for r in by_head["Art. 30 column/Stated"])
    assert art30["Controller (name and contact)"] == f"ACME {H}"
    assert art30["Purposes of the processing"] == f"=purposes {H}"
    assert art30["Legal basis"] == "not stated"
    # Nothing live outside the cells either: the only raw HTML is <br>.
    assert not re.search(r"(?<!\\)<(?!br>)", text)
    assert "](javascript" not in text.replace("\\]", "")


def test_markdown_order_summary_and_grouping() -> None:
    text = render(hostile_map(), Format.MARKDOWN).decode("utf-8")
    titles = re.findall(r"^## (.+)$", text, re.M)
    assert titles == TITLES
    head = text.split("## 1.")[0]
    assert "Generated 2025-03-04T05:06:07+00:00" in head
    for line in (
        "Connected systems: 2",
        "Personal attributes held (per system): 5",
        "External transfers (to third parties): 1",
        "Findings (need a decision): 2",
    ):
        assert f"- {line}" in head
    # Section 2: a heading per system with its persons count, rows by category.
    assert "### \\=HR" not in text  # Markdown escapes only what needs it
    headings = [h for h in re.findall(r"^### (.+)$", text, re.M) if h.endswith("persons")]
    assert headings[1].startswith("=HR \\<script\\>")
    assert headings[1].endswith(": 1200 persons")
    assert headings[2].startswith("+CRM") and headings[2].endswith(": unknown persons")
    hr_rows = [rows for headers, rows in md_tables(text) if headers[0] == "Category"][1]
    assert [r[0] for r in hr_rows] == ["identity", "contact", "employment"]
    # Section 4: the transfers to third parties come first, under their own heading.
    sharing = text.split("## 4. Sharing")[1].split("## 5.")[0]
    assert sharing.index("### Transfers to third parties") < sharing.index("### Exports")
    first = md_tables(sharing)[0][1]
    assert first == [TRANSFER_ROW]


# --- HTML and the diagram -------------------------------------------------------------


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[list[str]] = []
        self.texts: list[str] = []
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.cells.append([])
        if tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._cell is not None:
            self._cell += data


def test_html_is_self_contained_and_escaped() -> None:
    page = render(hostile_map(), Format.HTML).decode("utf-8")
    parsed = Page()
    parsed.feed(page)
    names = [t for t, _ in parsed.tags]
    assert "script" not in names and "link" not in names and "img" not in names
    assert "iframe" not in names and "object" not in names
    for tag, attrs in parsed.tags:
        for key in attrs:
            assert not key.startswith("on"), (tag, key)
            assert key not in ("src", "href", "xlink:href"), (tag, key)
    assert "svg" in names  # the diagram is inline
    assert names.count("style") == 1
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert "default-src 'none'" in (csp[0]["content"] or "")
    rows = parsed.cells
    hr = [*SYSTEM_ROW_HR[:7], "1200", "no", SYSTEM_ROW_HR[9]]
    assert hr in rows
    assert FINDING_ROW in rows and RETENTION_ROW in rows and TRANSFER_ROW in rows
    h2 = re.findall(r"<h2>(.*?)</h2>", page)
    assert h2 == TITLES
    assert "Generated 2025-03-04T05:06:07+00:00" in page.split("<h2>")[0]


def svg_nodes(svg: bytes) -> dict[str, tuple[set[str], ElementTree.Element]]:
    """The diagram's nodes by their label's first line: (classes, the node's group)."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ElementTree.fromstring(svg)
    nodes = {}
    for g in root.iterfind(".//s:g", ns):
        classes = set((g.get("class") or "").split())
        if "node" in classes:
            texts = [t.text or "" for t in g.iterfind("s:text", ns)]
            nodes[texts[0]] = (classes, g)
    return nodes


def test_the_diagram_shows_every_system_and_marks_external_and_authority() -> None:
    datamap = hostile_map()
    svg = diagram_svg(datamap)
    assert b"<!--" not in svg  # no version comment, no node comments
    assert b"<script" not in svg and b"&lt;script&gt;" in svg
    nodes = svg_nodes(svg)
    ns = "{http://www.w3.org/2000/svg}"
    for system in datamap.systems:
        label = " ".join(system.label.split())  # one line in the picture
        assert label in nodes, label
    crm_classes, crm = svg_nodes(svg)[" ".join(CRM.split())]
    assert "external" in crm_classes
    shape = crm.find(f"{ns}polygon")
    assert shape is not None and shape.get("stroke") == "red" and shape.get("stroke-dasharray")
    assert "external" in [t.text for t in crm.iterfind(f"{ns}text")]
    hr_classes, hr = nodes[" ".join(HR.split())]
    assert "authority" in hr_classes and "external" not in hr_classes
    hr_shape = hr.find(f"{ns}polygon")
    assert hr_shape is not None and hr_shape.get("stroke-width") == "3"
    assert "\\N" in "".join(t.text or "" for t in hr.iterfind(f"{ns}text"))  # DOT escape inert
    mv_classes, _ = nodes["Metaverse"]
    assert "metaverse" in mv_classes and "authority" not in mv_classes
    # Arrows: one per flow, the wider for more attributes; the external one dashed red.
    root = ElementTree.fromstring(svg)
    flows = {
        g.get("class"): g.find(f"{ns}path")
        for g in root.iter(f"{ns}g")
        if "flow" in (g.get("class") or "").split()
    }
    assert set(flows) == {"edge flow import authority", "edge flow export external"}
    imp, exp = flows["edge flow import authority"], flows["edge flow export external"]
    assert imp is not None and exp is not None
    assert float(imp.get("stroke-width") or 1) > float(exp.get("stroke-width") or 1)
    assert exp.get("stroke") == "red"
    # The metaverse sits between the systems that feed it and those it feeds.
    x = {k: float(v[1].find(f"{ns}text").get("x")) for k, v in nodes.items()}  # type: ignore[union-attr]
    assert x[" ".join(HR.split())] < x["Metaverse"] < x[" ".join(CRM.split())]


def test_the_diagram_is_the_same_for_the_same_map() -> None:
    assert diagram_svg(hostile_map()) == diagram_svg(hostile_map())


def test_without_dot_the_html_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no dot on it
    with pytest.raises(DiagramUnavailable) as caught:
        render(hostile_map(), Format.HTML)
    assert caught.value.user_message() == NEEDS_DOT
    assert "apt-get install graphviz" in NEEDS_DOT
    assert render(hostile_map(), Format.MARKDOWN)  # the other formats need no dot


# --- CSV and XLSX ---------------------------------------------------------------------

HR_KEPT = f"rows {H}: until deleted {H}; erasure: \tdeletes {H}"
FLAT = [
    [
        *("system", "attribute", "category", "source of authority", "exported to"),
        *("external", "retention/deletion"),
    ],
    [
        f"'{HR}",
        f"'{MAIL}",
        "contact",
        AGENT,
        f"'{CRM} (external)",
        "no",
        f"rows {H}: until deleted {H}; erasure: \tdeletes {H}",
    ],
    [f"'{HR}", "employeeID", "employment", "", "", "no", HR_KEPT],
    [f"'{HR}", "accountName", "identity", "", "", "no", HR_KEPT],
    ["Metaverse", f"'{MAIL}", "contact", AGENT, f"'{CRM} (external)", "no", ""],
    [f"'{CRM}", EMAIL, "contact", AGENT, "", "yes", ""],
]


def test_csv_is_the_flat_record_with_formulas_neutralised() -> None:
    data = render(hostile_map(), Format.CSV)
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == FLAT


def test_a_cell_starting_with_a_tab_or_minus_is_neutralised_too() -> None:
    datamap = DataMap(
        generated=WHEN,
        attributes=(
            AttributeRow("\tsys", "-attr", Category.OTHER),
            AttributeRow("\rsys", "\uff1dattr", Category.OTHER),  # a full-width =
        ),
    )
    rows = list(csv.reader(io.StringIO(render(datamap, Format.CSV).decode("utf-8-sig"))))
    assert [r[:2] for r in rows[1:]] == [["'\tsys", "'-attr"], ["'\rsys", "'\uff1dattr"]]


def test_xlsx_has_a_sheet_per_section_and_neutral_cells() -> None:
    data = render(hostile_map(), Format.XLSX)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [
        "Summary",
        "1 Systems",
        "2 Personal data",
        "3 Authority",
        "4 Sharing",
        "5 Retention",
        "6 Findings",
        "7 Art. 30",
        "Record of processing",
    ]

    def values(name: str) -> list[list[object]]:
        return [[c.value for c in row] for row in wb[name].iter_rows()]

    flat = [[v if v is not None else "" for v in row] for row in values("Record of processing")]
    assert flat == FLAT
    systems = values("1 Systems")
    hr = next(r for r in systems if r[1] == f"'=hr {H}")
    assert hr[0] == f"'{HR}" and hr[1] == f"'=hr {H}"
    assert hr[7] == 1200  # a number, not text
    persons = values("2 Personal data")
    assert persons[0] == ["System", "Persons", "Category", "Attribute", "How it is held"]
    assert [f"'{HR}", 1200, "contact", f"'{MAIL}", f"read by the bot {H}"] in persons
    sharing = values("4 Sharing")
    assert sharing[1][0] == "yes"  # the external transfers first
    retention = values("5 Retention")
    assert retention[1] == [f"'{HR}", f"rows {H}", f"until deleted {H}", 30, f"'\tdeletes {H}"]
    art30 = values("7 Art. 30")
    assert [
        "Purposes of the processing",
        f"'=purposes {H}",
        "app.yaml: datamap.purposes",
    ] in art30
    summary = dict((r[0], r[1]) for r in values("Summary")[1:])
    assert summary["Systems"] == 2 and summary["Findings (need a decision)"] == 2
    for ws in wb.worksheets:  # no cell became a formula
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate)


def test_xlsx_bytes_carry_the_maps_date_not_the_clock() -> None:
    first = render(hostile_map(), Format.XLSX)
    assert first == render(hostile_map(), Format.XLSX)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        # the zip format counts seconds in twos
        assert {i.date_time for i in archive.infolist()} == {(2025, 3, 4, 5, 6, 6)}
        core = archive.read("docProps/core.xml").decode()
    assert "2025-03-04T05:06:07Z" in core
    assert core.count("2025-03-04T05:06:07Z") == 2  # created and modified
    wb = openpyxl.load_workbook(io.BytesIO(first))
    assert wb.properties.created == wb.properties.modified == datetime(2025, 3, 4, 5, 6, 7)


def test_a_control_character_does_not_stop_the_xlsx() -> None:
    datamap = DataMap(
        generated=WHEN, attributes=(AttributeRow("s\x00y\x1bs", "a", Category.OTHER),)
    )
    wb = openpyxl.load_workbook(io.BytesIO(render(datamap, Format.XLSX)))
    assert wb["Record of processing"]["A2"].value == "s\ufffdy\ufffds"


# --- JSON, every format, the Slack summary ---------------------------------------------


def test_json_is_the_maps_own_form() -> None:
    data = render(hostile_map(), Format.JSON)
    assert data == hostile_map().to_json().encode("utf-8")
    assert DataMap.from_json(data.decode("utf-8")) == hostile_map()
    assert json.loads(data)["systems"][1]["label"] == HR


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_gives_the_same_bytes_for_the_same_map(fmt: Format) -> None:
    assert render(hostile_map(), fmt) == render(hostile_map(), fmt)
    assert FILE_SUFFIX[fmt].startswith(".") and MEDIA_TYPE[fmt]


@pytest.mark.parametrize("fmt", list(Format))
def test_an_empty_map_renders(fmt: Format) -> None:
    assert render(DataMap(generated=WHEN), fmt)


def all_texts(value: object) -> list[str]:
    if isinstance(value, dict):
        return [
            t
            for k, v in value.items()
            for t in ([v] if k == "text" and isinstance(v, str) else all_texts(v))
        ]
    if isinstance(value, list | tuple):
        return [t for v in value for t in all_texts(v)]
    return []


def test_slack_summary_counts_transfers_and_findings_escaped() -> None:
    reply = datamap_summary(hostile_map())
    assert reply.private
    for block in reply.blocks:
        assert Block.parse(block).to_dict() == block  # slack_sdk's validators run
    texts = [*all_texts(list(reply.blocks)), reply.text]
    joined = "\n".join(texts)
    assert "<@" not in joined and "<script" not in joined
    assert "&lt;@U123&gt;" in joined
    assert "External transfers (to third parties): 1" in joined
    assert "Findings (need a decision): 2" in joined
    assert "=decide" in joined and "email" in joined
    assert "The full map is in your DM as files." in joined


def test_slack_summary_stays_within_slacks_limits() -> None:
    long = "x" * 5000
    datamap = DataMap(
        generated=WHEN,
        sharing=tuple(
            SharingRow(f"a{i}", Category.OTHER, f"ext{i} {long}", "b", "direct", True)
            for i in range(30)
        ),
        findings=tuple(Finding(FindingKind.UNDATED, f"sys{i}", "", long) for i in range(25)),
    )
    reply = datamap_summary(datamap)
    assert len(reply.blocks) <= 50
    for block in reply.blocks:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= 3000
        Block.parse(block).to_dict()
    joined = "\n".join(all_texts(list(reply.blocks)))
    assert "… and 20 more" in joined and "… and 15 more" in joined
    assert "sys9" in joined and "sys10" not in joined


def test_every_format_gives_the_same_bytes_in_another_process() -> None:
    """A set or dict order that changes with the hash seed would change the bytes."""
    import subprocess
    import sys

    script = (
        "import hashlib\n"
        "from tests.render.test_datamap_formats import hostile_map\n"
        "from bot.render.datamap import Format, render\n"
        "print([hashlib.sha256(render(hostile_map(), f)).hexdigest() for f in Format])\n"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
