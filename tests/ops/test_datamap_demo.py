"""The demo estate's data map, checked cell by cell, and every format of it searched for
every name, account, mail and employee number of the estate's people: none is there."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from bot.ops.datamap.model import DataMap, FindingKind
from bot.render.datamap import Format, render
from bot.services import datamap_of
from demo.estate import DemoEstate, demo_config

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    workdir = Path(tmp_path_factory.mktemp("datamap-demo"))
    estate = DemoEstate(workdir)
    connectors = estate.connectors()
    try:
        yield estate, datamap_of(demo_config(workdir), connectors, now=NOW)
    finally:
        for c in connectors:
            c.close()
        estate.close()


def test_systems_and_technology(demo):
    _, m = demo
    assert [
        (s.label, s.kind.value, s.agent, s.ma_type, s.persons, s.external) for s in m.systems
    ] == [
        ("MIM Sync metaverse", "metaverse", None, None, 50, False),
        ("Active Directory", "connector and management agent", "CORP AD", "AD", 47, False),
        ("BHOLD", "connector and management agent", "BHOLD", "Extensible2", 35, False),
        ("HR", "connector and management agent", "HR", "Extensible2", 51, False),  # 3 leavers
        ("MIM Service", "connector and management agent", "MIM Service", "FIM", None, False),
        ("Certificate Management", "bot connector", None, None, None, False),
        ("MIM PAM", "bot connector", None, None, 3, False),
        ("PRIV AD", "management agent", "PRIV AD", "AD", None, False),
    ]
    technology = {s.label: s.technology for s in m.systems}
    assert technology["Active Directory"] == "LDAP over TLS (ldap3)"
    assert technology["HR"] == "SQL (SQLAlchemy, sqlite) table employees"
    assert technology["MIM PAM"] == "PowerShell over WinRM (MIMPAM)"


def test_the_source_of_authority_per_attribute(demo):
    _, m = demo
    assert [(a.mv_attribute, a.source, a.kind, a.copies) for a in m.authorities] == [
        ("accountName", "Active Directory", "ranked", ("BHOLD", "HR", "MIM Service")),
        ("department", "manual precedence (rules extension)", "manual",
         ("Active Directory", "BHOLD", "HR", "MIM Service")),
        ("displayName", "HR", "ranked", ("Active Directory", "BHOLD", "MIM Service")),
        ("domain", "Active Directory", "ranked", ("MIM Service",)),
        ("employeeID", "HR", "ranked", ("Active Directory", "MIM Service")),
        ("extensionBadgeNumber", "HR", "ranked", ()),
        ("extensionCostCentre", "equal precedence (BHOLD, HR)", "equal", ()),
        ("firstName", "HR", "ranked", ("Active Directory", "MIM Service")),
        ("lastName", "HR", "ranked", ("Active Directory", "MIM Service")),
        ("mail", "Active Directory", "ranked", ("MIM Service",)),
        ("manager", "Active Directory", "ranked", ()),
        ("objectSid", "Active Directory", "ranked", ()),
        ("proxyAddresses", "Active Directory", "ranked", ()),
        ("userPrincipalName", "Active Directory", "ranked", ()),
    ]  # fmt: skip


def test_sharing_every_export_flow(demo):
    _, m = demo
    assert [(r.to, r.cd_attribute, r.mv_attribute, r.mapping, r.external) for r in m.sharing] == [
        ("Active Directory", "department", "department", "direct", False),
        ("Active Directory", "description", "department, employeeID", "scripted", False),
        ("Active Directory", "displayName", "displayName", "direct", False),
        ("Active Directory", "employeeID", "employeeID", "direct", False),
        ("Active Directory", "givenName", "firstName", "direct", False),
        ("Active Directory", "sn", "lastName", "direct", False),
        ("BHOLD", "DefaultAlias", "accountName", "direct", False),
        ("BHOLD", "OrgUnit", "department", "scripted", False),
        ("BHOLD", "description", "displayName", "sync-rule", False),
        ("MIM Service", "AccountName", "accountName", "direct", False),
        ("MIM Service", "Department", "department", "direct", False),
        ("MIM Service", "DisplayName", "displayName", "direct", False),
        ("MIM Service", "Domain", "domain", "direct", False),
        ("MIM Service", "Email", "mail", "direct", False),
        ("MIM Service", "EmployeeID", "employeeID", "direct", False),
        ("MIM Service", "FirstName", "firstName", "direct", False),
        ("MIM Service", "LastName", "lastName", "direct", False),
    ]


def test_the_retention_and_deletion_plan(demo):
    _, m = demo
    rows = {(r.system, r.what): (r.period, r.days) for r in m.retention}
    deprovisioning = "its object when the metaverse object is deleted: deprovisioning"
    assert rows[("MIM Service", "Requests and SSPR data about a deleted Person")] == (
        "30 days (RetentionPeriod)", 30,
    )  # fmt: skip
    assert rows[("HR", "its retention, as configured")] == (
        "6 years after the employment ends",
        None,
    )
    assert rows[("PRIV AD", deprovisioning)] == ("make-explicit-disconnector", None)
    assert rows[("Active Directory", deprovisioning)] == ("delete-object", None)
    assert rows[("Certificate Management", "each certificate CM issued")][0] == (
        "until each certificate expires"
    )
    tombstone = next(r for r in m.retention if r.what.startswith("deleted user: tombstone"))
    assert (tombstone.system, tombstone.period, tombstone.days) == (
        "Active Directory",
        "180 days",
        180,
    )
    assert len(m.retention) == 16


def test_the_findings(demo):
    _, m = demo
    decide = [
        (f.kind, f.system, f.subject)
        for f in m.findings
        if f.kind is not FindingKind.NOT_ESTABLISHED
    ]
    assert decide == [
        (FindingKind.NOT_STATED, "Art. 30", "Categories of data subjects"),
        (FindingKind.NOT_STATED, "Art. 30", "Categories of recipients"),
        (FindingKind.NOT_STATED, "Art. 30", "Technical and organisational security measures"),
        (FindingKind.UNDATED, "Certificate Management", "retired smart cards and revoked profiles"),
        (FindingKind.UNDATED, "MIM Sync metaverse",
         "each management agent's copy of the person in its connector space (mms_connectorspace),"
         " a disconnector's too"),
    ]  # fmt: skip
    stated = dict(m.art30.rows())
    assert stated["Controller (name and contact)"] == "Contoso Ltd (demo), privacy@contoso.example"


def test_the_map_is_the_same_twice_and_reads_back(demo, tmp_path):
    estate, m = demo
    connectors = estate.connectors()
    try:
        again = datamap_of(demo_config(tmp_path), connectors, now=NOW)
    finally:
        for c in connectors:
            c.close()
    assert again.to_json() == m.to_json()
    assert DataMap.from_json(m.to_json()) == m


@pytest.mark.parametrize("fmt", list(Format))
def test_no_persons_data_in_any_format(demo, fmt):
    estate, m = demo
    data = render(m, fmt)
    if fmt is Format.XLSX:  # what a reader sees: every sheet's name and cell
        book = openpyxl.load_workbook(io.BytesIO(data))
        text = " ".join(
            [ws.title for ws in book.worksheets]
            + [str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row]
        )
    else:  # the page's own stylesheet ("width: 100%") names no one
        text = re.sub(r"<style>.*?</style>", "", data.decode("utf-8-sig"), flags=re.S)
        # Read back as a reader would: HTML's entities and Markdown's escapes undone, so an
        # escaped "O'Brien" cannot hide.
        text = html.unescape(text).replace("\\", "")
    values = set()
    for p in estate.people:
        values |= {p.first, p.last, f"{p.first} {p.last}", p.account, p.mail, p.upn, p.employee_id}
    leaked = sorted(
        v
        for v in values
        if v and re.search(rf"(?<!\w){re.escape(v)}(?!\w)", text, flags=re.IGNORECASE)
    )
    assert leaked == []


def test_the_readmes_diagram_is_the_demo_estates(demo):
    # README.md shows docs/datamap-demo.svg: it must be what the demo draws today.
    from bot.render.datamap import diagram_svg
    from tests.support.paths import REPO

    _, m = demo
    committed = (REPO / "docs" / "datamap-demo.svg").read_bytes()
    # What is drawn (every box and arrow, with its words), not where: Graphviz places text
    # by the fonts a machine has.
    assert _drawn(diagram_svg(m)) == _drawn(committed), (
        "redraw it: python -c 'from tests.ops.test_datamap_demo import redraw; redraw()'"
    )


def _drawn(svg: bytes) -> list[tuple[str, str, tuple[str, ...]]]:
    import xml.etree.ElementTree as ET

    ns = "{http://www.w3.org/2000/svg}"
    groups = ET.fromstring(svg).iter(f"{ns}g")
    return sorted(
        (
            g.get("class") or "",
            g.findtext(f"{ns}title") or "",
            tuple(t.text or "" for t in g.iter(f"{ns}text")),
        )
        for g in groups
        if g.get("class") != "graph"
    )


def redraw() -> None:
    """Write docs/datamap-demo.svg from the demo estate (for the README)."""
    import tempfile

    from bot.render.datamap import diagram_svg
    from tests.support.paths import REPO

    with tempfile.TemporaryDirectory() as workdir:
        estate = DemoEstate(Path(workdir))
        connectors = estate.connectors()
        try:
            m = datamap_of(demo_config(Path(workdir)), connectors, now=NOW)
            (REPO / "docs" / "datamap-demo.svg").write_bytes(diagram_svg(m))
        finally:
            for c in connectors:
                c.close()
            estate.close()
