"""`doctor` of the MIM Sync connector: every check OK on the demo estate's metaverse (SQLite,
as demo/estate.py wires it) and on PostgreSQL; each fault put into the database or the
export folder (never into the connector) is named by the check it breaks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.doctor import Check, Verdict
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from connectors.mimsync.doctor import LOCKS, TABLES, isolation_check
from demo import sample_sync as gen
from demo.estate import DemoEstate

T = 10.0
PEOPLE = 30


def verdicts(checks: list[Check]) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in checks}


def only_fault(checks: list[Check], name_part: str) -> Check:
    """The one check not OK, which must be the one named; the rest still answer OK."""
    bad = [c for c in checks if c.verdict is not Verdict.OK]
    assert [c.name for c in bad] and all(name_part in c.name for c in bad), checks
    assert len(bad) == 1, bad
    assert bad[0].fix
    return bad[0]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoEstate]:
    estate = DemoEstate(tmp_path)
    yield estate
    estate.close()


def test_every_check_is_ok_on_the_demo_estate(demo: DemoEstate) -> None:
    (sync,) = [c for c in demo.connectors() if isinstance(c, MimSyncConnector)]
    checks = sync.doctor(timeout=T)
    assert all(c.verdict is Verdict.OK for c in checks), checks
    names = [c.name for c in checks]
    assert names[0] == TABLES and LOCKS in names
    assert any("svrexport folder" in n for n in names)
    assert any("deletion rule for 'person'" in n for n in names)
    for c in checks:  # schema and configuration only: no one's name or address
        assert not any(p.account in c.detail or p.display in c.detail for p in demo.people)


@pytest.fixture
def sync_db(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    gen.load(engine, PEOPLE)
    yield engine
    engine.dispose()


def doctor(engine: sa.Engine, **settings: object) -> list[Check]:
    with MimSyncConnector(MimSyncSettings(url=str(engine.url), **settings), engine=engine) as m:  # type: ignore[arg-type]
        return m.doctor(timeout=T)


def test_configuration_from_the_database_and_personal_attributes_are_ok(
    sync_db: sa.Engine,
) -> None:
    checks = doctor(sync_db, personal_attributes=("mail", "proxyAddresses", "manager"))
    assert all(c.verdict is Verdict.OK for c in checks), checks
    assert any("in the database parses" in c.name for c in checks)


@pytest.mark.postgres
def test_every_check_is_ok_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    gen.load(engine, PEOPLE)
    try:
        checks = doctor(engine, server_config_dir=gen.write_config_dir(tmp_path / "export"))
        own = MimSyncConnector(MimSyncSettings(url=postgres_url))  # the connector's own engine
        with own:
            checks += own.doctor(timeout=T)
    finally:
        engine.dispose()
    assert all(c.verdict is Verdict.OK for c in checks), checks
    assert "not SQL Server (postgresql)" in next(c.detail for c in checks if c.name == LOCKS)


def test_a_missing_table_and_column_are_named(sync_db: sa.Engine) -> None:
    with sync_db.begin() as conn:
        conn.exec_driver_sql("DROP TABLE mms_mv_link")
        conn.exec_driver_sql("ALTER TABLE mms_connectorspace DROP COLUMN rdn")
    bad = only_fault(doctor(sync_db), TABLES)
    assert bad.verdict is Verdict.WRONG
    assert "no table mms_mv_link" in bad.detail
    assert "no column mms_connectorspace.rdn" in bad.detail


def test_a_missing_server_configuration_table_is_named_without_an_export(
    sync_db: sa.Engine,
) -> None:
    with sync_db.begin() as conn:
        conn.exec_driver_sql("DROP TABLE mms_server_configuration")
    checks = doctor(sync_db)
    assert verdicts(checks)[TABLES] is Verdict.WRONG
    assert "mms_server_configuration" in next(c.detail for c in checks if c.name == TABLES)
    assert verdicts(checks)["the server configuration in the database parses"] is Verdict.WRONG


def test_an_attribute_searched_by_missing_from_the_metaverse_is_named(
    sync_db: sa.Engine,
) -> None:
    with sync_db.begin() as conn:
        conn.exec_driver_sql('DROP INDEX "ix_mms_metaverse_employeeID"')
        conn.exec_driver_sql('ALTER TABLE mms_metaverse DROP COLUMN "employeeID"')
        conn.exec_driver_sql('ALTER TABLE mms_metaverse_lineageguid DROP COLUMN "employeeID"')
        conn.exec_driver_sql('ALTER TABLE mms_metaverse_lineagedate DROP COLUMN "employeeID"')
    bad = only_fault(doctor(sync_db), "attributes the bot searches by")
    assert bad.verdict is Verdict.WRONG and "employee ID" in bad.detail


def test_a_person_type_the_metaverse_lacks_is_named_with_the_types_it_has(
    sync_db: sa.Engine,
) -> None:
    checks = doctor(sync_db, person_type="employee")
    bad = [c for c in checks if c.verdict is not Verdict.OK]
    assert [c.name for c in bad] == [
        "the metaverse holds objects of type 'employee'",
        "a metaverse deletion rule for 'employee' is known",  # the configuration has none
    ]
    assert bad[0].verdict is Verdict.WRONG
    assert bad[0].detail == "none; object types present: group, person"


def test_an_empty_metaverse_cannot_tell(sync_db: sa.Engine) -> None:
    with sync_db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM mms_metaverse")
    bad = only_fault(doctor(sync_db), "type 'person'")
    assert bad.verdict is Verdict.CANNOT_TELL


def test_a_personal_attribute_not_in_the_metaverse_is_named(
    sync_db: sa.Engine, tmp_path: Path
) -> None:
    wanted = ("mail", "favouriteColour")
    for folder in (None, gen.write_config_dir(tmp_path / "export")):
        bad = only_fault(
            doctor(sync_db, personal_attributes=wanted, server_config_dir=folder),
            "personal attributes",
        )
        assert bad.detail == "not in the metaverse: favouriteColour"


def test_an_export_missing_a_management_agent_is_named(sync_db: sa.Engine, tmp_path: Path) -> None:
    folder = gen.write_config_dir(tmp_path / "export")
    (folder / f"MA-{{{str(gen.MAS['BHOLD'].id).upper()}}}.XML").unlink()
    bad = only_fault(doctor(sync_db, server_config_dir=folder), "svrexport folder")
    assert bad.verdict is Verdict.WRONG
    assert "no file for the server's BHOLD" in bad.detail


def test_an_export_folder_that_does_not_parse_is_named(sync_db: sa.Engine, tmp_path: Path) -> None:
    folder = gen.write_config_dir(tmp_path / "export")
    (folder / "MV.XML").write_text("<saved-mv-configuration><mv-data>")
    bad = only_fault(doctor(sync_db, server_config_dir=folder), "svrexport folder")
    assert "MV.XML: not well-formed XML" in bad.detail
    shutil.rmtree(folder)
    bad = only_fault(doctor(sync_db, server_config_dir=folder), "svrexport folder")
    assert "cannot read the folder" in bad.detail


def test_a_malformed_export_flow_in_an_ma_file_is_named(sync_db: sa.Engine, tmp_path: Path) -> None:
    folder = gen.write_config_dir(tmp_path / "export")
    ad = folder / f"MA-{{{str(gen.MAS['AD'].id).upper()}}}.XML"
    text = ad.read_text(encoding="utf-8")
    ad.write_text(text.replace('cd-attribute="givenName"', 'cd-attribute=""'), encoding="utf-8")
    bad = only_fault(doctor(sync_db, server_config_dir=folder), "svrexport folder")
    assert bad.verdict is Verdict.WRONG
    assert f"{ad.name} (CORP AD): an <export-flow> to user without a cd-attribute" in bad.detail


def test_no_deletion_rule_for_persons_is_named(sync_db: sa.Engine, tmp_path: Path) -> None:
    folder = gen.write_config_dir(tmp_path / "export")
    mv = folder / "MV.XML"
    mv.write_text(
        mv.read_text(encoding="utf-8").replace(
            'mv-object-type="person" id=', 'mv-object-type="account" id='
        ),
        encoding="utf-8",
    )
    bad = only_fault(doctor(sync_db, server_config_dir=folder), "deletion rule")
    assert bad.verdict is Verdict.WRONG


def test_an_unreachable_database_cannot_tell_once_and_the_folder_still_answers(
    tmp_path: Path,
) -> None:
    folder = gen.write_config_dir(tmp_path / "export")
    url = f"sqlite:///{tmp_path / 'missing' / 'sync.db'}"  # a directory that does not exist
    with MimSyncConnector(MimSyncSettings(url=url, server_config_dir=folder)) as mim:
        checks = mim.doctor(timeout=T)
    assert checks[0].name == TABLES and checks[0].verdict is Verdict.CANNOT_TELL
    assert "Unreachable" in checks[0].detail
    assert [c.verdict for c in checks[1:]] == [Verdict.OK, Verdict.OK], checks


@pytest.mark.parametrize(
    ("level", "verdict"),
    [
        (1, Verdict.OK),
        (2, Verdict.WRONG),
        (4, Verdict.WRONG),
        (5, Verdict.WRONG),
        (None, Verdict.WRONG),
    ],
)
def test_sql_servers_session_level_one_is_read_uncommitted(
    level: int | None, verdict: Verdict
) -> None:
    check = isolation_check(level)
    assert check.name == LOCKS and check.verdict is verdict
    if level == 2:
        assert "READ COMMITTED" in check.detail
