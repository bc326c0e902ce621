"""Source attributes of import flows: which connector-space attribute an MV attribute comes from.

Rectification writes a corrected metaverse value to the authoritative MA under the
connector-space name; that name can only be followed through a direct mapping of
exactly one attribute (MV firstName <- HR FirstName / AD givenName).
SQLite only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import ObjectRef
from connectors.mimsync.connector import AttributeView, MimSyncConnector, MimSyncSettings
from connectors.mimsync.server_config import (
    Authority,
    ImportFlow,
    PrecedenceKind,
    SyncConfig,
    load_config_dir,
    parse_database_config,
)
from connectors.mimsync.view import AttributeKind
from demo import sample_sync as gen

N = 12
T = 10.0
HR, AD, FIM, BHOLD = (gen.MAS[k].id for k in ("HR", "AD", "FIM", "BHOLD"))
A = uuid.UUID("11111111-1111-1111-1111-111111111111")
B = uuid.UUID("22222222-2222-2222-2222-222222222222")
C = uuid.UUID("33333333-3333-3333-3333-333333333333")


def db_config() -> SyncConfig:
    """The configuration as the connector parses it from `mms_server_configuration`."""
    (row,) = gen.table_rows([])["mms_server_configuration"]()
    mas = [(r[0], r[1], r[2], r[9]) for r in gen.table_rows([])["mms_management_agent"]()]
    return parse_database_config(row[2], row[4], mas)


# ---------------------------------------------------------------- sample estate


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp('sync') / 'sync.db'}")
    gen.load(engine, N)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=["database", "folder"])
def mim(
    request: pytest.FixtureRequest, engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MimSyncConnector]:
    """A connector reading the configuration from the database XML, or from a svrexport folder."""
    folder = None
    if request.param == "folder":
        folder = gen.write_config_dir(tmp_path_factory.mktemp("export"))
    settings = MimSyncSettings(url=str(engine.url), server_config_dir=folder)
    with MimSyncConnector(settings, engine=engine) as connector:
        yield connector


def attrs(mim: MimSyncConnector, i: int) -> dict[str, AttributeView]:
    view = mim.show(ObjectRef("mimsync", str(gen.person(i).object_id)), timeout=T)
    return {a.name: a for a in view.attributes}


def test_direct_flow_names_the_source_attribute_of_the_authoritative_ma(
    mim: MimSyncConnector,
) -> None:
    a = attrs(mim, 1)  # HR, AD, MIM Service, BHOLD
    assert (a["firstName"].source, a["firstName"].source_attribute) == ("HR", "FirstName")
    assert (a["lastName"].source, a["lastName"].source_attribute) == ("HR", "LastName")
    assert (a["employeeID"].source, a["employeeID"].source_attribute) == ("HR", "EmployeeNumber")
    assert (a["accountName"].source, a["accountName"].source_attribute) == (
        "CORP AD",
        "sAMAccountName",
    )
    assert (a["mail"].source, a["mail"].source_attribute) == ("CORP AD", "mail")
    assert a["proxyAddresses"].kind is AttributeKind.MULTI
    assert a["proxyAddresses"].source_attribute == "proxyAddresses"


def test_rename_follows_the_ma_that_is_authoritative_for_this_person(
    mim: MimSyncConnector,
) -> None:
    p = gen.person(8)
    assert p.mas == ("AD", "FIM")  # a contractor: no HR connector
    a = attrs(mim, 8)
    assert (a["firstName"].source, a["firstName"].source_attribute) == ("CORP AD", "givenName")
    assert (a["lastName"].source, a["lastName"].source_attribute) == ("CORP AD", "sn")
    # HR's flow is scripted, but AD's (the authority here) is direct.
    assert (a["displayName"].source, a["displayName"].source_attribute) == (
        "CORP AD",
        "displayName",
    )


def test_no_source_attribute_when_the_flow_transforms_the_value(mim: MimSyncConnector) -> None:
    a = attrs(mim, 1)
    # HR's displayName flow is scripted (!DisplayName): the value is computed.
    assert (a["displayName"].source, a["displayName"].source_attribute) == ("HR", None)
    # domain is a constant (#CORP): nothing in AD holds it.
    assert (a["domain"].source, a["domain"].source_attribute) == ("CORP AD", None)
    # Manual precedence: no MA is named, so neither is an attribute.
    assert (a["department"].source, a["department"].source_attribute) == (None, None)


def test_equal_precedence_follows_the_contributing_flow(mim: MimSyncConnector) -> None:
    assert attrs(mim, 1)["extensionCostCentre"].source_attribute == "CostCentre"  # from HR
    bhold = attrs(mim, 3)["extensionCostCentre"]  # person 3's value came from BHOLD
    assert (bhold.source, bhold.source_attribute) == ("BHOLD", "costCentre")


def test_database_and_folder_name_the_same_source_attributes(
    engine: sa.Engine, tmp_path: Path
) -> None:
    folder = load_config_dir(gen.write_config_dir(tmp_path))
    assert folder.precedence == db_config().precedence
    views = []
    for config_dir in (None, tmp_path):
        settings = MimSyncSettings(url=str(engine.url), server_config_dir=config_dir)
        with MimSyncConnector(settings, engine=engine) as mim:
            views.append({i: attrs(mim, i) for i in (1, 3, 7, 8)})
    assert views[0] == views[1]


def test_sample_flows_carry_their_source_attributes(tmp_path: Path) -> None:
    for config in (load_config_dir(gen.write_config_dir(tmp_path)), db_config()):
        for spec in gen.FLOWS:
            rule = config.precedence_for("person", spec.attribute)
            assert rule is not None
            expected = tuple(
                () if s.startswith("#") else (s.lstrip("!@"),) for _, s in spec.sources
            )
            assert tuple(f.source_attributes for f in rule.flows) == expected, spec.attribute
        mail = config.precedence_for("person", "mail")
        assert mail is not None
        assert [f.mapping for f in mail.flows] == ["direct-mapping", "sync-rule-mapping"]
        # A sync-rule flow says what it reads, but that is not followed for a write.
        assert config.authority("person", "mail", {FIM}) == Authority(
            "MIM Service", PrecedenceKind.RANKED, "MIM Service", None
        )
        assert config.authority("person", "firstName", {AD, FIM}).source_attribute == "givenName"
        assert config.authority("person", "firstName", set()).source_attribute is None


# ---------------------------------------------------------------- hand-written XML

FLOWS_XML = f"""
<import-attribute-flow xmlns="urn:example:default-namespace">
 <import-flow-set mv-object-type="person">
  <import-flows mv-attribute="firstName" type="ranked">
   <import-flow src-ma="{{{A}}}" cd-object-type="user" id="{{{uuid.uuid5(A, "1")}}}">
    <direct-mapping><src-attribute> givenName </src-attribute></direct-mapping>
   </import-flow>
  </import-flows>
  <import-flows mv-attribute="displayName" type="ranked">
   <import-flow src-ma="{{{B}}}" cd-object-type="person" id="{{{uuid.uuid5(B, "2")}}}">
    <scripted-mapping>
     <src-attribute>sn</src-attribute>
     <src-attribute>givenName</src-attribute>
     <script-context>cd.person:sn,givenName-&gt;mv.person:displayName</script-context>
    </scripted-mapping>
   </import-flow>
   <import-flow src-ma="{{{A}}}" cd-object-type="user" id="{{{uuid.uuid5(A, "3")}}}">
    <direct-mapping><src-attribute>displayName</src-attribute></direct-mapping>
   </import-flow>
  </import-flows>
  <import-flows mv-attribute="domain" type="ranked">
   <import-flow src-ma="{{{A}}}" cd-object-type="user" id="{{{uuid.uuid5(A, "4")}}}">
    <constant-mapping><constant-value>CORP</constant-value></constant-mapping>
   </import-flow>
  </import-flows>
  <import-flows mv-attribute="distinguishedName" type="ranked">
   <import-flow src-ma="{{{A}}}" cd-object-type="user" id="{{{uuid.uuid5(A, "5")}}}">
    <direct-mapping><src-attribute intrinsic="true">dn</src-attribute></direct-mapping>
   </import-flow>
  </import-flows>
  <import-flows mv-attribute="employeeType" type="ranked">
   <import-flow src-ma="{{{C}}}" cd-object-type="person" id="{{{uuid.uuid5(C, "6")}}}">
    <sync-rule-mapping mapping-type="expression" sync-rule-id="{{{uuid.uuid5(C, "sr")}}}">
     <sync-rule-value><export-flow><dest>employeeType</dest><src><attr/></src>
      <fn id="Guid"/></export-flow></sync-rule-value>
    </sync-rule-mapping>
   </import-flow>
  </import-flows>
 </import-flow-set>
</import-attribute-flow>
"""


@pytest.fixture
def hand() -> SyncConfig:
    return parse_database_config(
        FLOWS_XML, None, [(A, "AD", "AD", None), (B, "HR", "Extensible2", None)]
    )


def flow(config: SyncConfig, attribute: str, index: int = 0) -> ImportFlow:
    rule = config.precedence_for("person", attribute)
    assert rule is not None
    return rule.flows[index]


def test_parser_reads_the_src_attributes_of_each_mapping_kind(hand: SyncConfig) -> None:
    direct = flow(hand, "firstName")
    assert (direct.mapping, direct.source_attributes) == ("direct-mapping", ("givenName",))
    scripted = flow(hand, "displayName")
    assert scripted.mapping == "scripted-mapping"
    assert scripted.source_attributes == ("sn", "givenName")  # all of them, document order
    constant = flow(hand, "domain")
    assert (constant.mapping, constant.source_attributes) == ("constant-mapping", ())
    dn = flow(hand, "distinguishedName")
    assert dn.source_attributes == ("dn",) and dn.intrinsic_sources == {"dn"}
    expression = flow(hand, "employeeType")
    assert (expression.mapping, expression.source_attributes) == ("sync-rule-mapping", ())
    # The lineage ids are read as before.
    assert uuid.uuid5(C, "sr") in expression.lineage_ids


def test_the_same_xml_gives_the_same_flows_from_a_folder(hand: SyncConfig, tmp_path: Path) -> None:
    mv = f"<saved-mv-configuration><mv-data>{FLOWS_XML}</mv-data></saved-mv-configuration>"
    (tmp_path / "mv.xml").write_text(mv, encoding="utf-8")
    assert load_config_dir(tmp_path).precedence == hand.precedence


def test_authority_names_a_source_attribute_only_for_a_single_direct_flow(
    hand: SyncConfig,
) -> None:
    assert hand.authority("person", "firstName", {A}) == Authority(
        "AD", PrecedenceKind.RANKED, "AD", "givenName"
    )
    scripted = hand.authority("person", "displayName", {A, B})
    assert (scripted.ma_name, scripted.source_attribute) == ("HR", None)
    assert hand.authority("person", "displayName", {A}).source_attribute == "displayName"
    assert hand.authority("person", "domain", {A}).source_attribute is None
    assert hand.authority("person", "distinguishedName", {A}).source_attribute is None
    assert hand.authority("person", "employeeType", {C}).source_attribute is None
    assert hand.authority("person", "nothing", {A}).source_attribute is None
    # Existing callers that build these positionally keep working.
    assert Authority(None, None, "no import flow").source_attribute is None
    assert ImportFlow(A, "user", None, "direct-mapping").source_attributes == ()
