"""The data map's reads of the metaverse: `sync_map` (MAs, precedence, export flows,
deletion rule) and `inventory` (person attributes, a count, what keeps data), on SQLite
and a real PostgreSQL, with the configuration from a svrexport folder and from the
database; and the export flow parser on hand-written MA XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import ObjectRef
from connectors.capabilities import describes_data, maps_metaverse
from connectors.datamap import Category, ExportFlow, ImportSource, SyncMap
from connectors.errors import TimedOut
from connectors.lineage import DeletionKind, PrecedenceKind
from connectors.mimsync import schema as q
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from connectors.mimsync.server_config import (
    ExportMapping,
    SyncConfigError,
    database_agent,
    parse_ma_file,
)
from demo import sample_sync as gen
from tests.support.postgres import fresh_database

N = 40
T = 10.0
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ROADS = ["database", "folder"]
MA = uuid.UUID("9c3614f6-f975-4f32-9504-c821cbe36471")


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """The demo estate's sync database plus the external Payroll Partner MA."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sync') / 'sync.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_admin_url"))
    engine = sa.create_engine(url)
    gen.load(engine, N, extra_mas=(gen.PAYROLL,))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gen.write_config_dir(tmp_path_factory.mktemp("export"), extra_mas=(gen.PAYROLL,))


def connector(engine: sa.Engine, road: str, folder: Path | None = None) -> MimSyncConnector:
    config_dir = folder if road == "folder" else None
    return MimSyncConnector(
        MimSyncSettings(url=str(engine.url), server_config_dir=config_dir), engine=engine
    )


@pytest.fixture(scope="module", params=ROADS)
def sync_map(request: pytest.FixtureRequest, engine: sa.Engine, folder: Path) -> SyncMap:
    with connector(engine, request.param, folder) as mim:
        return mim.sync_map(timeout=T)


def ref(i: int) -> ObjectRef:
    return ObjectRef("mimsync", str(gen.person(i).object_id))


def person_values() -> set[str]:
    """Every name, account, mail, UPN and employee number of the sample people."""
    values: set[str] = set()
    for p in gen.persons(N):
        values.update({p.first, p.last, p.display, p.account, p.mail or "", p.upn or ""})
        values.add(p.employee_id or "")
    return {v for v in values if v}


# ---------------------------------------------------------------- sync_map


def test_the_connector_maps_the_metaverse_and_describes_its_data(engine: sa.Engine) -> None:
    with connector(engine, "database") as mim:
        assert maps_metaverse(mim) is mim
        assert describes_data(mim) is mim


def test_every_ma_with_its_type_description_and_deprovisioning(sync_map: SyncMap) -> None:
    agents = {a.name: a for a in sync_map.agents}
    assert sorted(agents) == sorted(
        ["HR", "CORP AD", "MIM Service", "BHOLD", "PRIV AD", "Payroll Partner"]
    )
    payroll = agents["Payroll Partner"]
    assert payroll.ma_type == "Extensible2"
    assert payroll.description is not None and payroll.description.startswith("External:")
    assert payroll.deprovisioning == "make-normal-disconnector"
    assert agents["CORP AD"].ma_type == "AD"
    assert agents["CORP AD"].deprovisioning == "delete-object"
    assert agents["PRIV AD"].deprovisioning == "make-explicit-disconnector"
    assert agents["HR"].description == gen.MAS["HR"].description


def test_import_precedence_names_the_mas_and_source_attributes_highest_first(
    sync_map: SyncMap,
) -> None:
    imports = {i.mv_attribute: i for i in sync_map.imports}
    assert imports["displayName"] == ImportSource(
        "displayName", PrecedenceKind.RANKED, (("HR", "DisplayName"), ("CORP AD", "displayName"))
    )
    assert imports["accountName"].agents == (("CORP AD", "sAMAccountName"), ("HR", "UserID"))
    assert imports["department"].kind is PrecedenceKind.MANUAL
    assert imports["extensionCostCentre"].kind is PrecedenceKind.EQUAL
    assert imports["domain"].agents == (("CORP AD", None),)  # a constant reads nothing
    assert imports["mail"].agents == (("CORP AD", "mail"), ("MIM Service", "Email"))
    assert len(sync_map.imports) == len(gen.FLOWS)


def test_export_flows_of_every_kind_with_their_metaverse_sources(sync_map: SyncMap) -> None:
    exports = {(e.agent, e.cd_attribute): e for e in sync_map.exports}
    payroll = gen.PAYROLL.name
    assert exports[payroll, "WorkEmail"] == ExportFlow(payroll, "WorkEmail", ("mail",), "direct")
    assert exports[payroll, "FullName"].mv_attributes == ("firstName", "lastName")
    assert exports[payroll, "FullName"].mapping == "scripted"
    assert exports[payroll, "Employer"] == ExportFlow(payroll, "Employer", (), "constant")
    assert exports["BHOLD", "description"].mapping == "sync-rule"
    assert exports["CORP AD", "givenName"].mv_attributes == ("firstName",)
    assert exports["MIM Service", "Email"].mv_attributes == ("mail",)
    expected = sum(len(m.exports) for m in (*gen.MAS.values(), gen.PAYROLL))
    assert len(sync_map.exports) == expected
    assert not [e for e in sync_map.exports if e.agent in ("HR", "PRIV AD")]


def test_the_person_attributes_include_multi_valued_and_reference_ones(sync_map: SyncMap) -> None:
    assert sync_map.person_type == "person"
    columns = [name for name, _ in gen.ATTRIBUTES]
    assert list(sync_map.mv_attributes[: len(columns)]) == columns
    assert {"proxyAddresses", "manager"} <= set(sync_map.mv_attributes)
    assert len({a.lower() for a in sync_map.mv_attributes}) == len(sync_map.mv_attributes)


def test_the_deletion_rule_with_its_words(sync_map: SyncMap) -> None:
    assert sync_map.deletion_kind is DeletionKind.DECLARED_ANY
    assert sync_map.deletion_text == "declared-any: deleting the HR connector triggers it"


def test_folder_and_database_give_the_same_map(engine: sa.Engine, folder: Path) -> None:
    maps = []
    for road in ROADS:
        with connector(engine, road, folder) as mim:
            maps.append(mim.sync_map(timeout=T))
    assert maps[0] == maps[1]


def test_no_person_value_in_the_map(sync_map: SyncMap) -> None:
    shown = repr(sync_map)
    assert [v for v in person_values() if v in shown] == []


def test_an_ma_without_a_file_keeps_the_databases_flows(
    engine: sa.Engine, folder: Path, tmp_path: Path
) -> None:
    partial = gen.write_config_dir(tmp_path, extra_mas=(gen.PAYROLL,))
    (partial / f"MA-{{{str(gen.PAYROLL.id).upper()}}}.XML").unlink()
    with connector(engine, "folder", partial) as mim, connector(engine, "folder", folder) as full:
        assert mim.sync_map(timeout=T) == full.sync_map(timeout=T)


def test_a_deletion_rule_no_one_declared_is_said(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    gen.load(engine, 3, deletion=gen.DeletionSpec("declared-last", exclude_mas=("PAM",)))
    with connector(engine, "database") as mim:
        found = mim.sync_map(timeout=T)
    assert found.deletion_kind is DeletionKind.DECLARED_LAST
    assert found.deletion_text == (
        "declared-last: removing the last connector triggers it (PRIV AD connectors do not count)"
    )
    engine.dispose()


# ---------------------------------------------------------------- the export flow parser

TINY = f"""<saved-ma-configuration server="SYNC01">
 <ma-data>
  <id>{{{str(MA).upper()}}}</id>
  <name>TinyHR</name>
  <category>Delimited</category>
  <export-attribute-flow>
   <export-flow-set cd-object-type="person" mv-object-type="person">
    <export-flow cd-attribute="HireDate" id="{{8F126381-AAEE-4BDE-8635-2CBA79A3B2F2}}"
                 suppress-deletions="true">
     <scripted-mapping>
      <src-attribute intrinsic="true">object-id</src-attribute>
      <script-context>cd.person:HireDate&lt;-mv.person:&lt;object-id&gt;</script-context>
     </scripted-mapping>
    </export-flow>
    <export-flow cd-attribute="Status" id="{{8345B507-D998-44AE-A458-C02E40C249D9}}">
     <constant-mapping><constant-value>SECRET-CONSTANT</constant-value></constant-mapping>
    </export-flow>
    <export-flow cd-attribute="Initial" id="{{9A04846E-F36B-4EBC-A9AB-CBA40D3136DE}}"
                 suppress-deletions="false">
     <scripted-mapping>
      <src-attribute>Alias</src-attribute>
      <src-attribute>FirstName</src-attribute>
      <src-attribute>LastName</src-attribute>
      <script-context>cd.person:Initial&lt;-mv.person:Alias,FirstName,LastName</script-context>
     </scripted-mapping>
    </export-flow>
    <export-flow cd-attribute="JobTitle" id="{{6182F688-7ADD-4E88-9BEE-A48F503CA8FE}}"
                 suppress-deletions="false">
     <direct-mapping><src-attribute>Title</src-attribute></direct-mapping>
    </export-flow>
   </export-flow-set>
   <export-flow-set cd-object-type="group" mv-object-type="group">
    <export-flow cd-attribute="member" id="{{11111111-2222-3333-4444-555555555555}}">
     <direct-mapping><src-attribute>member</src-attribute></direct-mapping>
    </export-flow>
   </export-flow-set>
  </export-attribute-flow>
  <provisioning-cleanup type="declared">
   <action>make-normal-disconnector</action>
  </provisioning-cleanup>
  <description>  </description>
 </ma-data>
</saved-ma-configuration>
"""


def test_the_parser_reads_direct_scripted_and_constant_flows() -> None:
    ma = parse_ma_file(TINY, "MA-TinyHR.XML")
    assert ma.description is None  # blank, as MIMDSC's test exports have it
    flows = {f.cd_attribute: f for f in ma.exports}
    assert flows["JobTitle"].mapping is ExportMapping.DIRECT
    assert flows["JobTitle"].src_attributes == ("Title",)
    assert flows["Initial"].mapping is ExportMapping.SCRIPTED
    assert flows["Initial"].src_attributes == ("Alias", "FirstName", "LastName")
    assert flows["HireDate"].src_attributes == ("object-id",)
    assert flows["HireDate"].intrinsic_sources == {"object-id"}
    assert flows["HireDate"].suppress_deletions is True
    assert flows["Status"].mapping is ExportMapping.CONSTANT
    assert flows["Status"].src_attributes == ()
    assert "SECRET-CONSTANT" not in repr(ma)  # a constant's value is not kept
    assert flows["member"].mv_object_type == "group"
    assert flows["JobTitle"].flow_id == uuid.UUID("6182F688-7ADD-4E88-9BEE-A48F503CA8FE")


def test_the_database_column_gives_the_same_flows() -> None:
    root = ET.fromstring(TINY)
    column = ET.tostring(next(root.iter("export-attribute-flow")), encoding="unicode")
    from_db = database_agent(MA, "TinyHR", "Delimited", "", None, column)
    assert from_db.exports == parse_ma_file(TINY, "MA-TinyHR.XML").exports


def _flow(body: str, attrs: str = 'cd-attribute="x"', flow_set: str = "") -> str:
    flow_set = flow_set or 'cd-object-type="user" mv-object-type="person"'
    return (
        f'<export-attribute-flow><export-flow-set {flow_set}><export-flow {attrs} id="{{{MA}}}">'
        f"{body}</export-flow></export-flow-set></export-attribute-flow>"
    )


DIRECT = "<direct-mapping><src-attribute>mail</src-attribute></direct-mapping>"
MALFORMED = {
    "two sources in a direct mapping": (
        _flow(
            "<direct-mapping><src-attribute>a</src-attribute>"
            "<src-attribute>b</src-attribute></direct-mapping>"
        ),
        "direct mapping of 2 attributes",
    ),
    "no cd-attribute": (_flow(DIRECT, attrs='cd-attribute=""'), "without a cd-attribute"),
    "no mapping": (_flow(""), "has 0 mappings"),
    "two mappings": (_flow(DIRECT + DIRECT), "has 2 mappings"),
    "an unknown mapping": (_flow("<dn-part-mapping/>"), "unknown mapping kind"),
    "no object types": (_flow(DIRECT, flow_set='cd-object-type="user"'), "object types"),
    "suppress-deletions not a boolean": (
        _flow(DIRECT, attrs='cd-attribute="x" suppress-deletions="maybe"'),
        "suppress-deletions",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_flow_is_a_clear_error_naming_the_part(case: str) -> None:
    xml, words = MALFORMED[case]
    with pytest.raises(SyncConfigError, match=words) as raised:
        database_agent(MA, "Payroll Partner", "Extensible2", None, None, xml)
    assert "export_attribute_flow_xml (Payroll Partner)" in str(raised.value)


def test_a_malformed_flow_in_the_database_stops_the_map_not_the_rest(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    gen.load(engine, 5, extra_mas=(gen.PAYROLL,))
    ma = q.management_agent
    bad = _flow("<direct-mapping/>")
    with engine.begin() as conn:
        conn.execute(
            ma.update().where(ma.c.ma_id == gen.PAYROLL.id).values(export_attribute_flow_xml=bad)
        )
    with connector(engine, "database") as mim:
        with pytest.raises(SyncConfigError, match=r"Payroll Partner.*direct mapping of 0"):
            mim.sync_map(timeout=T)
        inventory = mim.inventory(timeout=T)  # the count and columns still stand
        assert inventory.persons == 5
        assert any("could not be read" in n and "Payroll Partner" in n for n in inventory.notes)
        assert inventory.kept[0].erasure == "the deletion rule could not be read"
        assert mim.show(ref(1), timeout=T).label  # show and erasure plans are unaffected
    engine.dispose()


def test_a_malformed_flow_in_an_ma_file_is_named_and_show_still_works(
    engine: sa.Engine, tmp_path: Path
) -> None:
    folder = gen.write_config_dir(tmp_path, extra_mas=(gen.PAYROLL,))
    file = folder / f"MA-{{{str(gen.PAYROLL.id).upper()}}}.XML"
    text = file.read_text(encoding="utf-8")
    file.write_text(text.replace('cd-attribute="WorkEmail"', 'cd-attribute=""'), encoding="utf-8")
    with connector(engine, "folder", folder) as mim:
        with pytest.raises(SyncConfigError, match=f"{file.name} \\(Payroll Partner\\)"):
            mim.sync_map(timeout=T)
        assert mim.show(ref(1), timeout=T).label  # the erasure's reads need no export flow


# ---------------------------------------------------------------- inventory


@pytest.mark.parametrize("road", ROADS)
def test_inventory_counts_persons_and_names_what_keeps_data(
    engine: sa.Engine, folder: Path, road: str
) -> None:
    with connector(engine, road, folder) as mim:
        inventory = mim.inventory(timeout=T)
        expected_attributes = mim.sync_map(timeout=T).mv_attributes
    assert inventory.system == "mimsync"
    assert inventory.persons == N  # the two groups are not persons
    assert inventory.technology == (
        f"SQL to the Sync Service database (SQLAlchemy, {engine.dialect.name})"
    )
    assert inventory.version is None
    assert any(n.startswith("version:") for n in inventory.notes)
    names = {a.name: a.category for a in inventory.attributes}
    assert set(names) == set(expected_attributes)
    assert names["mail"] is Category.CONTACT
    assert names["proxyAddresses"] is Category.CONTACT
    kept = {k.what.split(" (")[0]: k for k in inventory.kept}
    history = next(k for k in inventory.kept if "mms_step_history" in k.what)
    assert history.period == "until the run history is cleared (Clear Runs)"
    assert history.erasure == "nothing: clear the run history by policy"
    assert history.days is None
    assert any("mms_connectorspace" in k.what for k in inventory.kept)
    mv_object = kept["the person's metaverse object"]
    assert mv_object.period == "until the deletion rule runs"
    assert mv_object.erasure == "declared-any: deleting the HR connector triggers it"


def test_inventory_carries_no_persons_value(engine: sa.Engine) -> None:
    with connector(engine, "database") as mim:
        shown = repr(mim.inventory(timeout=T))
    assert [v for v in person_values() if v in shown] == []


def test_inventory_of_an_empty_metaverse_counts_none(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    gen.load(engine, 0)
    with connector(engine, "database") as mim:
        assert mim.inventory(timeout=T).persons == 0
    engine.dispose()


def test_inventory_and_map_stay_within_the_timeout(engine: sa.Engine) -> None:
    with connector(engine, "database") as mim:
        with pytest.raises(TimedOut):
            mim.inventory(timeout=1e-9)
        with pytest.raises(TimedOut):
            mim.sync_map(timeout=1e-9)


def test_doctor_checks_the_columns_the_map_reads() -> None:
    read = q.columns_read()["mms_management_agent"]
    assert {"ma_description", "export_attribute_flow_xml"} <= read
