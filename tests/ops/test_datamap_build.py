"""The data map's builder over connector doubles that describe their systems: which row
each answer becomes, where the source of authority and the sharing come from, what is a
finding, and that one silent system hides no other's rows."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ops.datamap.build import build_datamap
from bot.ops.datamap.model import Art30, EdgeKind, FindingKind, SystemKind
from connectors.datamap import (
    AgentInfo,
    Category,
    ExportFlow,
    ImportSource,
    KeptCopy,
    SyncMap,
    SystemInventory,
    held,
)
from connectors.errors import Unreachable
from connectors.lineage import DeletionKind, PrecedenceKind
from connectors.memory import MemoryConnector

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Describing(MemoryConnector):
    def __init__(
        self,
        name: str,
        label: str,
        inventory: SystemInventory | Exception,
        agent: str | None = None,
    ):
        super().__init__(name, label)
        self._inventory, self.management_agent = inventory, agent

    def inventory(self, *, timeout: float) -> SystemInventory:
        if isinstance(self._inventory, Exception):
            raise self._inventory
        return self._inventory


class Metaverse(Describing):
    def __init__(self, smap: SyncMap):
        super().__init__(
            "mimsync",
            "MIM Sync metaverse",
            inv("mimsync", "Metaverse", ["displayName", "mail", "department", "nickname"], 12),
        )
        self.smap = smap

    def sync_map(self, *, timeout: float) -> SyncMap:
        return self.smap


def inv(
    name: str, label: str, attributes: list[str], persons: int | None = None, kept=()
) -> SystemInventory:
    return SystemInventory(
        name, label, f"{label} tech", held(attributes), persons, kept=tuple(kept)
    )


SMAP = SyncMap(
    person_type="person",
    mv_attributes=("department", "displayName", "mail", "nickname"),
    agents=(
        AgentInfo("HR MA", "Extensible2", None, "delete-object"),
        AgentInfo("CORP AD", "AD", None, "make-explicit-disconnector"),
        AgentInfo("Payroll", "Extensible2", "External: the payroll provider", None),
    ),
    imports=(
        ImportSource(
            "displayName",
            PrecedenceKind.RANKED,
            (("HR MA", "full_name"), ("CORP AD", "displayName")),
        ),
        ImportSource("mail", PrecedenceKind.EQUAL, (("HR MA", "email"), ("CORP AD", "mail"))),
        ImportSource("department", PrecedenceKind.MANUAL, (("HR MA", "dept"),)),
    ),
    exports=(
        ExportFlow("CORP AD", "displayName", ("displayName",), "direct"),
        ExportFlow("Payroll", "name", ("displayName",), "direct"),
        ExportFlow("Payroll", "country", (), "constant"),
    ),
    deletion_kind=DeletionKind.DECLARED_ANY,
    deletion_text="declared-any: deleting the HR connector triggers it",
)


def estate(**overrides):
    hr = Describing(
        "hr", "HR", inv("hr", "HR", ["emp_no", "full_name", "email"], 50), agent="HR MA"
    )
    ad = Describing(
        "ad", "Active Directory",
        inv("ad", "Active Directory", ["sAMAccountName", "mail"], 48,
            kept=[KeptCopy("deleted user: tombstone", "180 days", "until collected", 180)]),
        agent="CORP AD",
    )  # fmt: skip
    cm = Describing(
        "certmgmt", "Certificate Management",
        inv("certmgmt", "Certificate Management", ["certificates"], None,
            kept=[KeptCopy("retired smart cards", "kept for good", "retired by hand"),
                  KeptCopy("certificates", "until each certificate expires", "retired by hand")]),
    )  # fmt: skip
    systems = {"hr": hr, "ad": ad, "cm": cm, "mv": Metaverse(SMAP), **overrides}
    return [s for s in systems.values() if s is not None]


def test_systems_join_connectors_to_their_management_agents():
    m = build_datamap(estate(), now=NOW)
    rows = {s.label: s for s in m.systems}
    assert rows["MIM Sync metaverse"].kind is SystemKind.METAVERSE
    assert (rows["HR"].kind, rows["HR"].agent, rows["HR"].ma_type) == (
        SystemKind.BOTH,
        "HR MA",
        "Extensible2",
    )
    assert rows["Certificate Management"].kind is SystemKind.CONNECTOR
    assert rows["Payroll"].kind is SystemKind.AGENT and rows["Payroll"].external  # its description
    assert not rows["HR"].external
    assert rows["HR"].persons == 50 and rows["Certificate Management"].persons is None
    assert m.systems[0].kind is SystemKind.METAVERSE


def test_external_systems_may_also_be_named_in_the_configuration():
    m = build_datamap(estate(), now=NOW, external=("active directory",))
    assert {s.label for s in m.systems if s.external} == {"Active Directory", "Payroll"}


def test_the_source_of_authority_per_attribute_and_who_copies_it():
    m = build_datamap(estate(), now=NOW)
    rows = {a.mv_attribute: a for a in m.authorities}
    assert (rows["displayName"].source, rows["displayName"].kind) == ("HR", "ranked")
    assert rows["displayName"].copies == ("Active Directory", "Payroll")  # lower rank, exports
    assert rows["mail"].source == "equal precedence (Active Directory, HR)"
    assert rows["department"].source == "manual precedence (rules extension)"
    assert (rows["nickname"].source, rows["nickname"].kind) == ("none", "none")
    assert rows["mail"].category is Category.CONTACT
    findings = {(f.kind, f.subject) for f in m.findings}
    assert (FindingKind.NO_SOURCE, "nickname") in findings


def test_sharing_lists_external_transfers_first_and_no_constants():
    m = build_datamap(estate(), now=NOW)
    assert [(r.to, r.cd_attribute, r.external) for r in m.sharing] == [
        ("Payroll", "name", True),
        ("Active Directory", "displayName", False),
    ]
    external = [f for f in m.findings if f.kind is FindingKind.EXTERNAL_EXPORT]
    assert [(f.system, f.subject) for f in external] == [("Payroll", "displayName -> name")]


def test_personal_data_per_system_merges_what_the_bot_reads_and_the_flows():
    m = build_datamap(estate(), now=NOW)
    rows = {(a.system, a.attribute): a for a in m.attributes}
    assert (
        rows[("HR", "full_name")].how
        == "imported into the metaverse as displayName; read by the bot"
    )
    assert rows[("Payroll", "name")].how == "exported from the metaverse's displayName"
    assert rows[("MIM Sync metaverse", "mail")].how == "in the metaverse"
    assert ("Payroll", "country") not in rows  # a constant holds no one's data


def test_the_retention_plan_and_what_has_no_date():
    m = build_datamap(estate(), now=NOW, retention_statements={"hr": "7 years after leaving"})
    rows = {(r.system, r.what): r for r in m.retention}
    assert rows[("Active Directory", "deleted user: tombstone")].days == 180
    assert rows[("HR", "its retention, as configured")].period == "7 years after leaving"
    assert rows[
        ("MIM Sync metaverse", "the person's metaverse object: deletion rule")
    ].period.startswith("declared-any")
    deprovisioning = "its object when the metaverse object is deleted: deprovisioning"
    assert "explicit disconnector" in rows[("Active Directory", deprovisioning)].erasure
    assert rows[("Payroll", deprovisioning)].period == "not configured"
    findings = {(f.kind, f.system, f.subject) for f in m.findings}
    assert (FindingKind.UNDATED, "Certificate Management", "retired smart cards") in findings
    assert (FindingKind.UNDATED, "Certificate Management", "certificates") not in findings
    assert (FindingKind.NO_DELETION_RULE, "Payroll", "deprovisioning") in findings


def test_a_silent_system_is_a_finding_and_hides_nothing_else():
    broken = Describing("bhold", "BHOLD", Unreachable("no route"))
    m = build_datamap(estate(bhold=broken), now=NOW)
    unreadable = [f for f in m.findings if f.kind is FindingKind.UNREADABLE]
    assert [(f.system, f.subject) for f in unreadable] == [("BHOLD", "inventory")]
    assert "no route" in unreadable[0].text
    assert {"HR", "Active Directory"} <= {s.label for s in m.systems}


def test_art30_columns_not_stated_are_findings():
    m = build_datamap(estate(), now=NOW, art30=Art30(controller="Contoso Ltd, dpo@contoso.example"))
    stated = dict(m.art30.rows())
    assert stated["Controller (name and contact)"] == "Contoso Ltd, dpo@contoso.example"
    assert stated["Legal basis"] == "not stated"
    missing = {f.subject for f in m.findings if f.kind is FindingKind.NOT_STATED}
    assert "Legal basis" in missing and "Controller (name and contact)" not in missing


def test_the_diagrams_edges_mark_authority_and_external():
    m = build_datamap(estate(), now=NOW)
    edges = {(e.kind, e.source, e.target): e for e in m.edges}
    assert edges[(EdgeKind.IMPORT, "hr", "mimsync")].authoritative
    assert edges[(EdgeKind.IMPORT, "hr", "mimsync")].attributes == 3
    assert not edges[(EdgeKind.IMPORT, "ad", "mimsync")].authoritative
    assert edges[(EdgeKind.EXPORT, "mimsync", "ma:Payroll")].external


def test_the_same_estate_gives_the_same_map_byte_for_byte():
    first = build_datamap(estate(), now=NOW).to_json()
    again = build_datamap(list(reversed(estate())), now=NOW).to_json()
    assert first == again


def test_what_changed_since_an_earlier_map_most_urgent_first():
    from dataclasses import replace

    from bot.ops.datamap.diff import ChangeKind, changes
    from bot.ops.datamap.model import DataMap

    before = build_datamap(estate(), now=NOW)
    flows = (*SMAP.exports, ExportFlow("Payroll", "mobile", ("mobile",), "direct"))
    imports = (
        ImportSource("displayName", PrecedenceKind.RANKED, (("CORP AD", "displayName"),)),
        *SMAP.imports[1:],
    )
    after = build_datamap(
        estate(mv=Metaverse(replace(SMAP, exports=flows, imports=imports))), now=NOW
    )
    assert changes(before, DataMap.from_json(before.to_json())) == []
    found = [(c.kind, c.text) for c in changes(DataMap.from_json(before.to_json()), after)]
    assert found[0] == (ChangeKind.EXTERNAL_FLOW, "new: mobile -> Payroll.mobile")
    assert (ChangeKind.SOURCE, "displayName: HR -> Active Directory") in found
    assert (ChangeKind.ATTRIBUTE, "new: mobile in Payroll") in found


def test_an_external_ma_in_a_real_sync_configuration_is_a_transfer_to_a_third_party(tmp_path):
    """The MIM Sync connector over the sample sync database with the test-only Payroll
    Partner MA ("External: ..." in its description) and its export flows: every personal
    flow to it is listed first, each a finding; naming it in datamap.external is the same."""
    import sqlalchemy as sa

    from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
    from demo import sample_sync as gen

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    gen.load(engine, 20, extra_mas=(gen.PAYROLL,))
    folder = gen.write_config_dir(tmp_path / "export", extra_mas=(gen.PAYROLL,))
    sync = MimSyncConnector(
        MimSyncSettings(url=str(engine.url), server_config_dir=folder), engine=engine
    )
    try:
        m = build_datamap([sync], now=NOW)
        again = build_datamap([sync], now=NOW, external=(gen.PAYROLL.name,))
    finally:
        sync.close()
        engine.dispose()
    payroll = next(s for s in m.systems if s.label == gen.PAYROLL.name)
    assert payroll.kind is SystemKind.AGENT and payroll.external
    personal = [f for f in gen.PAYROLL.exports if f.kind != "constant"]
    transfers = [r for r in m.sharing if r.external]
    assert len(transfers) == len(personal) and transfers == list(m.sharing[: len(transfers)])
    assert {r.cd_attribute for r in transfers} == {f.cd_attribute for f in personal}
    found = [f for f in m.findings if f.kind is FindingKind.EXTERNAL_EXPORT]
    assert len(found) == len(personal) and all(f.system == gen.PAYROLL.name for f in found)
    assert again.sharing == m.sharing
    export = next(e for e in m.edges if e.target == payroll.name)
    assert (export.kind, export.external) == (EdgeKind.EXPORT, True)
