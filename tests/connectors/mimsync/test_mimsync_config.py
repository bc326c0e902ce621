"""Parsing precedence, deletion rules and deprovisioning from svrexport files and DB XML."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.errors import ConnectorError
from connectors.mimsync.server_config import (
    DeletionKind,
    Deprovisioning,
    ManagementAgent,
    PrecedenceKind,
    SyncConfig,
    SyncConfigError,
    database_agent,
    deletion_meaning,
    deletion_trigger,
    load_config_dir,
    parse_database_config,
)
from demo import sample_sync as gen

HR, AD, FIM, BHOLD, PAM = (gen.MAS[k].id for k in ("HR", "AD", "FIM", "BHOLD", "PAM"))
A = uuid.UUID("11111111-1111-1111-1111-111111111111")
B = uuid.UUID("22222222-2222-2222-2222-222222222222")


def db_config(deletion: gen.DeletionSpec = gen.DELETION) -> SyncConfig:
    """The configuration from the database's columns, MAs with their descriptions and
    export flows (as the data map reads them)."""
    (row,) = gen.table_rows([], deletion=deletion)["mms_server_configuration"]()
    parsed = parse_database_config(row[2], row[4], ())
    # mms_management_agent: ma_id, ma_name, ma_type, ..., ma_description (8),
    # provisioning_cleanup_xml (9), export_attribute_flow_xml (10)
    rows = gen.table_rows([])["mms_management_agent"]()
    mas = {r[0]: database_agent(r[0], r[1], r[2], r[8], r[9], r[10]) for r in rows}
    return SyncConfig(parsed.precedence, parsed.deletion_rules, mas)


def test_folder_and_database_give_the_same_configuration(tmp_path: Path) -> None:
    folder = load_config_dir(gen.write_config_dir(tmp_path))
    assert folder == db_config()


def test_ranked_order_is_document_order(tmp_path: Path) -> None:
    config = load_config_dir(gen.write_config_dir(tmp_path))
    display = config.precedence_for("person", "displayName")
    assert display is not None and display.kind is PrecedenceKind.RANKED
    assert [f.ma_id for f in display.flows] == [HR, AD]
    assert [f.mapping for f in display.flows] == ["scripted-mapping", "direct-mapping"]
    assert config.precedence_for("PERSON", "DISPLAYNAME") == display  # case-insensitive
    assert config.precedence_for("group", "displayName") is None


def test_ma_names_types_and_deprovisioning_from_ma_files(tmp_path: Path) -> None:
    config = load_config_dir(gen.write_config_dir(tmp_path))
    assert {m.name for m in config.mas.values()} == {
        "HR",
        "CORP AD",
        "MIM Service",
        "BHOLD",
        "PRIV AD",
    }
    assert config.mas[HR].ma_type == "Extensible2"
    assert config.mas[AD].deprovisioning is Deprovisioning.DELETE_OBJECT
    assert config.mas[PAM].deprovisioning is Deprovisioning.MAKE_EXPLICIT_DISCONNECTOR
    assert config.mas[HR].deprovisioning is Deprovisioning.MAKE_NORMAL_DISCONNECTOR


def test_authority_ranked_takes_the_highest_connected_ma(tmp_path: Path) -> None:
    config = load_config_dir(gen.write_config_dir(tmp_path))
    assert config.authority("person", "displayName", {HR, AD}).ma_name == "HR"
    assert config.authority("person", "displayName", {AD}).ma_name == "CORP AD"
    assert config.authority("person", "mail", {HR, AD, FIM}).ma_name == "CORP AD"
    assert config.authority("person", "mail", {HR, FIM}).ma_name == "MIM Service"
    nobody = config.authority("person", "displayName", {BHOLD})
    assert nobody.ma_name is None and nobody.kind is PrecedenceKind.RANKED


def test_authority_equal_uses_lineage_when_known(tmp_path: Path) -> None:
    config = load_config_dir(gen.write_config_dir(tmp_path))
    flow = gen.FLOW_BY_ATTRIBUTE["extensionCostCentre"]
    assert (
        config.authority(
            "person", "extensionCostCentre", {HR, BHOLD}, flow.flow_id("BHOLD")
        ).ma_name
        == "BHOLD"
    )
    assert (
        config.authority("person", "extensionCostCentre", {HR, BHOLD}, flow.flow_id("HR")).ma_name
        == "HR"
    )
    unknown = config.authority("person", "extensionCostCentre", {HR, BHOLD}, None)
    assert (unknown.ma_name, unknown.text) == (None, "equal precedence")


def test_authority_manual_and_missing_flow(tmp_path: Path) -> None:
    config = load_config_dir(gen.write_config_dir(tmp_path))
    manual = config.authority("person", "department", {HR, AD})
    assert (manual.ma_name, manual.text) == (None, "manual precedence (rules extension)")
    assert config.authority("person", "shoeSize", {HR}).kind is None


def test_sync_rule_flows_accept_the_sync_rule_id_as_lineage(tmp_path: Path) -> None:
    config = load_config_dir(gen.write_config_dir(tmp_path))
    mail = config.precedence_for("person", "mail")
    assert mail is not None
    assert gen.gid("sr", "mail") in mail.flows[1].lineage_ids
    assert mail.flows[1].mapping == "sync-rule-mapping"


def test_deletion_rule_kinds(tmp_path: Path) -> None:
    any_rule = db_config().deletion_rule("person")
    assert any_rule is not None and any_rule.kind is DeletionKind.DECLARED_ANY
    assert any_rule.src_mas == (HR,)
    last = db_config(gen.DeletionSpec("declared-last", exclude_mas=("PAM", "BHOLD"))).deletion_rule(
        "person"
    )
    assert last is not None and last.kind is DeletionKind.DECLARED_LAST
    assert last.exclude_mas == (PAM, BHOLD)
    scripted = db_config(gen.DeletionSpec("scripted")).deletion_rule("person")
    assert scripted is not None and scripted.kind is DeletionKind.SCRIPTED
    assert db_config().deletion_rule("group").kind is DeletionKind.DECLARED_LAST  # type: ignore[union-attr]


def test_deletion_texts_name_the_mas() -> None:
    config = db_config(gen.DeletionSpec("declared-last", exclude_mas=("PAM",)))
    rule = config.deletion_rule("person")
    assert deletion_trigger(config, rule) == (
        "removing the last connector triggers it (PRIV AD connectors do not count)"
    )
    assert "not counting PRIV AD" in deletion_meaning(config, rule)
    assert deletion_trigger(config, None) == "no deletion rule is known for this object type"
    assert "cannot say" in deletion_meaning(config, None)


MV_WITH_NAMESPACE = """<?xml version="1.0" encoding="utf-16"?>
<saved-mv-configuration xmlns="urn:example:any-default-namespace">
 <mv-data>
  <schema><dsml:dsml xmlns:dsml="http://www.dsml.org/DSML"><dsml:directory-schema/></dsml:dsml></schema>
  <import-attribute-flow>
   <import-flow-set mv-object-type="person">
    <!-- a comment between flows -->
    <import-flows mv-attribute="mail" type="ranked">
     <import-flow src-ma="{22222222-2222-2222-2222-222222222222}" cd-object-type="user"
                  id="{33333333-3333-3333-3333-333333333333}">
      <direct-mapping><src-attribute>mail</src-attribute></direct-mapping></import-flow>
     <import-flow src-ma="{11111111-1111-1111-1111-111111111111}" cd-object-type="person"
                  id="{44444444-4444-4444-4444-444444444444}">
      <direct-mapping><src-attribute>Email</src-attribute></direct-mapping></import-flow>
    </import-flows>
   </import-flow-set>
  </import-attribute-flow>
  <mv-deletion>
   <mv-deletion-rule mv-object-type="person" type="declared"
                     id="{55555555-5555-5555-5555-555555555555}">
    <exclude-ma>{22222222-2222-2222-2222-222222222222}</exclude-ma></mv-deletion-rule>
  </mv-deletion>
 </mv-data>
</saved-mv-configuration>
"""

MA_FILE = """<saved-ma-configuration><ma-data><id>{{{id}}}</id><name>{name}</name>
<category>AD</category><provisioning-cleanup type="scripted"/></ma-data></saved-ma-configuration>"""


def test_namespaces_utf16_lowercase_file_names_and_known_mas(tmp_path: Path) -> None:
    (tmp_path / "mv.xml").write_bytes(MV_WITH_NAMESPACE.encode("utf-16"))
    (tmp_path / "ma-b.xml").write_text(MA_FILE.format(id=str(B).lower(), name="Forest B"))
    known = [ManagementAgent(A, "Named in the database", "Extensible2")]
    config = load_config_dir(tmp_path, known_mas=known)
    mail = config.precedence_for("person", "mail")
    assert mail is not None and [f.ma_id for f in mail.flows] == [B, A]
    assert config.authority("person", "mail", {A}).ma_name == "Named in the database"
    assert config.authority("person", "mail", {A, B}).ma_name == "Forest B"
    assert config.mas[B].deprovisioning is Deprovisioning.SCRIPTED
    rule = config.deletion_rule("person")
    assert rule is not None and rule.kind is DeletionKind.DECLARED and rule.exclude_mas == (B,)


def test_an_ma_without_a_name_anywhere_is_shown_by_guid() -> None:
    config = SyncConfig()
    assert config.ma_name(A) == "MA {11111111-1111-1111-1111-111111111111}"


@pytest.mark.parametrize(
    ("mv_xml", "message"),
    [
        ("<saved-mv-configuration><mv-data>", "MV.XML: not well-formed XML"),
        (
            '<x><import-flow-set><import-flows type="best"/></import-flow-set></x>',
            "unknown precedence type",
        ),
        (
            "<x><import-flow-set><import-flows>"
            '<import-flow src-ma="HR"/></import-flows></import-flow-set></x>',
            "not a GUID",
        ),
        ('<x><mv-deletion-rule type="whenever"/></x>', "unknown deletion rule type"),
    ],
)
def test_malformed_configuration_is_a_connector_error(
    tmp_path: Path, mv_xml: str, message: str
) -> None:
    (tmp_path / "MV.XML").write_text(mv_xml)
    with pytest.raises(SyncConfigError, match=message) as info:
        load_config_dir(tmp_path)
    assert isinstance(info.value, ConnectorError)


def test_a_folder_without_mv_xml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError, match=r"no MV\.XML"):
        load_config_dir(tmp_path)


def test_an_ma_file_without_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MV.XML").write_text("<saved-mv-configuration/>")
    (tmp_path / "MA-x.XML").write_text(
        f"<saved-ma-configuration><ma-data><id>{{{A}}}</id></ma-data></saved-ma-configuration>"
    )
    with pytest.raises(SyncConfigError, match=r"MA-x\.XML: <ma-data> has no <name>"):
        load_config_dir(tmp_path)


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + "]><x>&h;</x>"
    )
    (tmp_path / "MV.XML").write_text(bomb)
    with pytest.raises(SyncConfigError, match="not well-formed"):
        load_config_dir(tmp_path)


def test_ma_files_named_by_guid_or_renamed_are_read_and_other_xml_left_alone(
    tmp_path: Path,
) -> None:
    """svrexport names each MA's file by the MA's GUID; MIMDSC renames them
    Connector_<name>.xml. Any *.xml holding <ma-data> is an MA file, whatever its name."""
    (tmp_path / "MV.XML").write_bytes(MV_WITH_NAMESPACE.encode("utf-16"))
    (tmp_path / f"{{{str(A).upper()}}}.xml").write_text(MA_FILE.format(id=A, name="Forest A"))
    (tmp_path / "Connector_Forest B.xml").write_text(MA_FILE.format(id=B, name="Forest B"))
    (tmp_path / "notes.xml").write_text("<notes>kept beside the export</notes>")
    config = load_config_dir(tmp_path)
    assert {m: ma.name for m, ma in config.mas.items()} == {A: "Forest A", B: "Forest B"}
    assert config.authority("person", "mail", {A}).ma_name == "Forest A"


def test_the_demo_export_is_named_by_guid(tmp_path: Path) -> None:
    folder = gen.write_config_dir(tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    by_guid = [f"MA-{{{str(m.id).upper()}}}.XML" for m in gen.MAS.values()]
    assert names == sorted(["MV.XML", *by_guid])
    assert {ma.name for ma in load_config_dir(folder).mas.values()} == {
        m.name for m in gen.MAS.values()
    }


def test_two_files_saying_different_things_of_one_ma_are_refused(tmp_path: Path) -> None:
    (tmp_path / "MV.XML").write_text("<saved-mv-configuration/>")
    (tmp_path / f"{{{A}}}.xml").write_text(MA_FILE.format(id=A, name="Forest A"))
    (tmp_path / "Connector_Forest A.xml").write_text(MA_FILE.format(id=A, name="Forest A"))
    assert load_config_dir(tmp_path).mas[A].name == "Forest A"  # the same again: fine
    (tmp_path / "Connector_Forest A.xml").write_text(MA_FILE.format(id=A, name="Renamed"))
    with pytest.raises(SyncConfigError, match="describe the same management agent"):
        load_config_dir(tmp_path)
