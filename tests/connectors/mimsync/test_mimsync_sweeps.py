"""Retention sweeps in the metaverse on SQLite and the real PostgreSQL, over the invented
sync database: the persons no longer joined to a management agent and unchanged since a
rule's cutoff, paged by object_id."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa

from connectors.base import IdKind
from connectors.capabilities import finds_stale
from connectors.errors import NotSupported
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from connectors.sweeps import Population, StaleRule
from demo import sample_sync as gen
from tests.support.postgres import fresh_database

N = 120
T = 10.0
AGE = timedelta(days=365)
PEOPLE = gen.persons(N)
# Persons the sample has only in HR (no AD account: 7, and every i % 17 == 3 past 9) and only
# in AD (none in HR: 8, and every i % 23 == 5 past 9).
NOT_IN_AD = sorted(str(p.object_id) for p in PEOPLE if "AD" not in p.mas)
NOT_IN_HR = sorted(str(p.object_id) for p in PEOPLE if "HR" not in p.mas)
ALL_DONE = gen.BASE + timedelta(days=1) + AGE  # every sample date is older than its cutoff
UNJOINED = StaleRule("gone", "mimsync", Population.UNJOINED, AGE, agent="CORP AD")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sync') / 'sync.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_admin_url"))
    engine = sa.create_engine(url)
    gen.load(engine, N)
    yield engine
    engine.dispose()


def connector(engine: sa.Engine, **settings: object) -> MimSyncConnector:
    return MimSyncConnector(MimSyncSettings(url=str(engine.url), **settings), engine=engine)


@pytest.fixture
def mim(engine: sa.Engine) -> Iterator[MimSyncConnector]:
    c = connector(engine)
    yield c
    c.close()


def ids(candidates) -> list[str]:
    return [c.ref.id for c in candidates]


def test_the_metaverse_finds_the_unjoined(mim: MimSyncConnector) -> None:
    assert finds_stale(mim) is mim and mim.populations == {Population.UNJOINED}


def test_persons_no_longer_joined_to_the_agent_are_found(mim: MimSyncConnector) -> None:
    found = list(mim.stale(UNJOINED, now=ALL_DONE.replace(tzinfo=UTC), timeout=T))
    assert sorted(ids(found)) == NOT_IN_AD and len(NOT_IN_AD) == 7
    by_id = {c.ref.id: c for c in found}
    seven = by_id[str(gen.person(7).object_id)]  # HR only in the sample
    assert seven.ref.system == "mimsync"
    assert seven.identifiers[IdKind.MV_OBJECT_ID] == seven.ref.id
    assert seven.identifiers[IdKind.EMPLOYEE_ID] == "100007"
    assert seven.identifiers[IdKind.ACCOUNT] == gen.person(7).account
    assert IdKind.MAIL not in seven.identifiers  # no AD, no mail
    assert seven.label == f"{gen.person(7).display} ({gen.person(7).account})"
    assert seven.since == (gen.BASE + timedelta(minutes=7, seconds=9)).replace(tzinfo=UTC)
    # Groups named like people are not persons; the HR-joined ones are not "not in HR".
    hr = list(mim.stale(replace(UNJOINED, agent="HR"), now=ALL_DONE, timeout=T))
    assert sorted(ids(hr)) == NOT_IN_HR


def test_a_person_changed_since_the_cutoff_is_not_yet_stale(mim: MimSyncConnector) -> None:
    # Person i was last changed at BASE + i minutes (+9 s): a cutoff at 50 minutes keeps
    # the persons up to 49.
    now = gen.BASE + timedelta(minutes=50) + AGE
    found = ids(mim.stale(UNJOINED, now=now.replace(tzinfo=UTC), timeout=T))
    assert sorted(found) == sorted(str(gen.person(i).object_id) for i in (7, 20, 37))
    assert list(mim.stale(UNJOINED, now=gen.BASE + AGE, timeout=T)) == []


def test_every_page_is_read_once_in_object_id_order(engine: sa.Engine) -> None:
    mim = connector(engine, page_size=2)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        found = ids(mim.stale(UNJOINED, now=ALL_DONE, timeout=T))
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
        mim.close()
    assert sorted(found) == NOT_IN_AD and len(set(found)) == len(found)
    pages = [s for s in statements if "NOT (EXISTS" in s or "NOT EXISTS" in s]
    assert len(pages) == 4  # 7 persons in pages of 2


@pytest.mark.parametrize(
    "agent", ["No such MA", "CORP AD' OR '1'='1", "%", "CORP%", "corp ad\x00", "", None]
)
def test_an_agent_the_sync_service_does_not_have_is_refused(mim: MimSyncConnector, agent) -> None:
    with pytest.raises(NotSupported) as info:
        mim.stale(replace(UNJOINED, agent=agent), now=ALL_DONE, timeout=T)  # at the call
    if agent == "No such MA":
        assert "'No such MA'" in str(info.value)
    if agent and "'" in agent:
        assert agent not in str(info.value)


def test_another_population_is_refused(mim: MimSyncConnector) -> None:
    for population in (Population.ENDED, Population.DISABLED, Population.INACTIVE):
        with pytest.raises(NotSupported):
            mim.stale(replace(UNJOINED, population=population), now=ALL_DONE, timeout=T)


def test_the_sweep_statement_binds_every_value_on_sql_server(mim: MimSyncConnector) -> None:
    from sqlalchemy.dialects import mssql

    from connectors.mimsync import schema as q

    with mim._session(T) as s:
        schema = mim._schema_for(s)
    compiled = q.unjoined_stmt(schema, page=500, after=True).compile(dialect=mssql.dialect())
    assert set(compiled.params) >= {"object_type", "ma_id", "cutoff", "after"}
    text = str(compiled)
    assert "NOT (EXISTS (SELECT" in text and "ORDER BY mms_metaverse.object_id" in text
    assert "'" not in text  # no literal: every value is a parameter
