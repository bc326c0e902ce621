"""MimSyncConnector.search on SQLite and on a real PostgreSQL, over the invented metaverse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

import pytest
import sqlalchemy as sa

from connectors.base import Connector, IdKind, Query, QueryKind
from connectors.errors import ConnectorError, NotSupported
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings, UnknownAttribute
from demo import sample_sync as gen
from tests.support.postgres import fresh_database

N = 120
T = 10.0  # per-call timeout, seconds
INJECTIONS = ("' OR 1=1 --", "*)(", "') OR ('1'='1", "'; DROP TABLE mms_metaverse; --", "%", "_")


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


@pytest.fixture(scope="module")
def mim(engine: sa.Engine) -> Iterator[MimSyncConnector]:
    connector = MimSyncConnector(MimSyncSettings(url=str(engine.url)), engine=engine)
    yield connector
    connector.close()


def accounts(
    mim: MimSyncConnector, kind: QueryKind, value: str, attribute: str | None = None
) -> list[str]:
    return [
        h.identifiers.get(IdKind.ACCOUNT, "")
        for h in mim.search(Query(kind, value, attribute), timeout=T)
    ]


def test_connector_satisfies_the_protocol(mim: MimSyncConnector) -> None:
    assert isinstance(mim, Connector)


def test_name_finds_by_account_or_exact_display_name(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.NAME, "sobrien") == ["sobrien"]
    assert accounts(mim, QueryKind.NAME, "Seán O'Brien") == ["sobrien"]
    assert accounts(mim, QueryKind.NAME, "Seán O") == []


def test_groups_with_the_same_name_are_not_persons(mim: MimSyncConnector) -> None:
    # A group in the fixture has accountName "zangstrom" too.
    hits = mim.search(Query(QueryKind.NAME, "zangstrom"), timeout=T)
    assert [h.identifiers[IdKind.MV_OBJECT_ID] for h in hits] == [str(gen.person(0).object_id)]


def test_mail_or_upn_finds_by_either(mim: MimSyncConnector) -> None:
    p = gen.person(2)
    assert accounts(mim, QueryKind.MAIL_OR_UPN, p.mail or "") == ["lzolc"]
    assert accounts(mim, QueryKind.MAIL_OR_UPN, p.upn or "") == ["lzolc"]


def test_employee_id_finds_exactly(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.EMPLOYEE_ID, "100005") == ["a_b"]
    assert accounts(mim, QueryKind.EMPLOYEE_ID, "10000") == []


def test_prefix_matches_display_name_or_account(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.PREFIX, "Łukasz Ż*") == ["lzolc"]
    assert accounts(mim, QueryKind.PREFIX, "hpre*") == ["hprehire"]


def test_prefix_percent_and_underscore_match_literally(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.PREFIX, "100%*") == ["pct%admin"]  # not "100x Proof"
    assert accounts(mim, QueryKind.PREFIX, "pct%*") == ["pct%admin"]
    assert accounts(mim, QueryKind.PREFIX, "a_*") == ["a_b"]  # not "axb"
    assert accounts(mim, QueryKind.PREFIX, "Anna_*") == ["a_b"]  # not "AnnaxBeth"


def test_prefix_brackets_and_backslash_match_literally(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.PREFIX, "Ida [Test]\\B*") == ["ida[x]"]
    assert accounts(mim, QueryKind.PREFIX, "ida[*") == ["ida[x]"]
    assert accounts(mim, QueryKind.PREFIX, "ida[y*") == []


def test_bare_star_or_empty_value_finds_nothing(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.PREFIX, "*") == []
    assert accounts(mim, QueryKind.NAME, "") == []
    assert accounts(mim, QueryKind.NAME, "sobrien\x00") == []


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("kind", [k for k in QueryKind if k is not QueryKind.ATTRIBUTE])
def test_injection_looking_input_finds_nothing(
    mim: MimSyncConnector, kind: QueryKind, value: str
) -> None:
    hits = mim.search(Query(kind, value), timeout=T)
    # "%"/"_" as a prefix are literal: no display name or account starts with them.
    assert hits == []
    assert accounts(mim, QueryKind.NAME, "sobrien") == ["sobrien"]  # table still there


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_looking_attribute_value_finds_nothing(mim: MimSyncConnector, value: str) -> None:
    assert mim.search(Query(QueryKind.ATTRIBUTE, value, "mail"), timeout=T) == []
    assert mim.search(Query(QueryKind.ATTRIBUTE, value, "proxyAddresses"), timeout=T) == []


def test_attribute_search_on_a_customer_column_any_case(mim: MimSyncConnector) -> None:
    expected = sorted(p.account for p in gen.persons(N) if p.cost_centre == "CC-0012")
    assert sorted(accounts(mim, QueryKind.ATTRIBUTE, "CC-0012", "extensionCostCentre")) == expected
    assert sorted(accounts(mim, QueryKind.ATTRIBUTE, "CC-0012", "EXTENSIONCOSTCENTRE")) == expected


def test_attribute_search_on_a_number_column(mim: MimSyncConnector) -> None:
    assert accounts(mim, QueryKind.ATTRIBUTE, "500003", "extensionBadgeNumber") == ["pct%admin"]
    assert accounts(mim, QueryKind.ATTRIBUTE, "5000O3", "extensionBadgeNumber") == []
    assert accounts(mim, QueryKind.ATTRIBUTE, "9" * 40, "extensionBadgeNumber") == []


def test_attribute_search_on_a_multivalued_attribute(mim: MimSyncConnector) -> None:
    p = gen.person(1)
    assert accounts(mim, QueryKind.ATTRIBUTE, p.proxy_addresses[1], "proxyAddresses") == ["sobrien"]


def test_unknown_attribute_is_a_clear_error(mim: MimSyncConnector) -> None:
    with pytest.raises(UnknownAttribute, match="no attribute 'shoeSize'"):
        mim.search(Query(QueryKind.ATTRIBUTE, "44", "shoeSize"), timeout=T)


def test_unknown_attribute_with_sql_in_its_name_is_refused_and_not_echoed(
    mim: MimSyncConnector,
) -> None:
    name = 'mail" = mail OR "1'
    with pytest.raises(UnknownAttribute) as info:
        mim.search(Query(QueryKind.ATTRIBUTE, "x", name), timeout=T)
    assert name not in str(info.value)
    assert isinstance(info.value, ConnectorError)


def test_binary_attribute_is_not_searchable(mim: MimSyncConnector) -> None:
    with pytest.raises(NotSupported, match="objectSid"):
        mim.search(Query(QueryKind.ATTRIBUTE, "AQUA", "objectSid"), timeout=T)


def test_hit_carries_identifiers_and_modified(mim: MimSyncConnector) -> None:
    p = gen.person(1)
    (hit,) = mim.search(Query(QueryKind.NAME, "sobrien"), timeout=T)
    assert hit.ref.system == "mimsync" and hit.ref.id == str(p.object_id)
    assert hit.label == "Seán O'Brien (sobrien)"
    assert hit.identifiers == {
        IdKind.MV_OBJECT_ID: str(p.object_id),
        IdKind.ACCOUNT: "sobrien",
        IdKind.DOMAIN: "CORP",
        IdKind.MAIL: p.mail,
        IdKind.UPN: p.upn,
        IdKind.EMPLOYEE_ID: "100001",
        IdKind.DISPLAY_NAME: "Seán O'Brien",
    }
    assert hit.modified is not None and hit.modified.tzinfo is UTC


def test_hits_are_capped_at_max_hits(engine: sa.Engine) -> None:
    settings = MimSyncSettings(url=str(engine.url), max_hits=3)
    with MimSyncConnector(settings, engine=engine) as mim:
        hits = mim.search(Query(QueryKind.PREFIX, "Anna*"), timeout=T)
    assert len(hits) == 3
    assert all(h.label.startswith("Anna") for h in hits)
