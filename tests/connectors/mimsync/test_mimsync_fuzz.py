"""Arbitrary text never breaks the connector and never matches rows it should not.

The oracle recomputes each query over the generated persons in Python, with the
backend's comparison rules (exact `=`; LIKE prefix case-folded for ASCII only on
SQLite, case-sensitive on PostgreSQL).
"""

from __future__ import annotations

import string
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import IdKind, Query, QueryKind
from connectors.errors import ConnectorError, NotSupported
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings, UnknownAttribute
from demo import sample_sync as gen
from tests.support.postgres import fresh_database

N = 80
MAX_HITS = 50
PEOPLE = gen.persons(N)
REAL = sorted(
    {
        v
        for p in PEOPLE
        for v in (p.account, p.display, p.mail, p.upn, p.employee_id, p.cost_centre)
        if v
    }
)
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(REAL),
    st.tuples(
        st.sampled_from(REAL),
        st.integers(0, 12),
        st.sampled_from(["", "%", "_", "[", "]", "\\", "'", '"', "*", "%%", "\x00", " OR 1=1 --"]),
    ).map(lambda t: t[0][: t[1]] + t[2]),
)
attributes = st.one_of(
    st.sampled_from([name for name, _ in gen.ATTRIBUTES] + ["proxyAddresses", "PROXYADDRESSES"]),
    st.text(max_size=20),
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def mim(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MimSyncConnector]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'sync.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_admin_url"))
    engine = sa.create_engine(url)
    gen.load(engine, N)
    with MimSyncConnector(MimSyncSettings(url=url, max_hits=MAX_HITS), engine=engine) as connector:
        yield connector
    engine.dispose()


def expected(mim: MimSyncConnector, query: Query) -> set[str]:
    """Accounts the query should find, computed without SQL."""
    v = query.value
    if "\x00" in v:
        return set()
    if query.kind is QueryKind.PREFIX:
        prefix = v.rstrip("*")
        if not prefix:
            return set()
        # SQLite's LIKE folds ASCII letters only; PostgreSQL's LIKE is case-sensitive.
        table = ASCII_LOWER if mim._engine.dialect.name == "sqlite" else {}
        start = prefix.translate(table)
        return {
            p.account
            for p in PEOPLE
            if p.display.translate(table).startswith(start)
            or p.account.translate(table).startswith(start)
        }
    if query.kind is QueryKind.NAME:
        return {p.account for p in PEOPLE if v in (p.account, p.display)} if v else set()
    if query.kind is QueryKind.MAIL_OR_UPN:
        return {p.account for p in PEOPLE if v and v in (p.mail, p.upn)}
    if query.kind is QueryKind.EMPLOYEE_ID:
        return {p.account for p in PEOPLE if v and v == p.employee_id}
    name = query.attribute or ""
    if name.lower() == "proxyaddresses":
        return (
            {p.account for p in PEOPLE if v in p.proxy_addresses}
            if name == "proxyAddresses"
            else set()
        )
    column = next(c for c, _ in gen.ATTRIBUTES if c.lower() == name.lower())
    # A NULL matches no value: not even "None", the text str() would make of it.
    values = {p.account: p.attributes()[column] for p in PEOPLE}
    return {a for a, value in values.items() if v and value is not None and str(value) == v}


def check(mim: MimSyncConnector, query: Query) -> None:
    try:
        hits = mim.search(query, timeout=10)
    except ConnectorError as exc:
        # Only for attribute names the metaverse does not have, or that cannot be searched.
        assert query.kind is QueryKind.ATTRIBUTE
        known = {c.lower() for c, _ in gen.ATTRIBUTES}
        if isinstance(exc, UnknownAttribute):
            assert (query.attribute or "").lower() not in known
        else:
            assert isinstance(exc, NotSupported)
            assert (query.attribute or "").lower() == "objectsid"
        return
    found = [h.identifiers[IdKind.ACCOUNT] for h in hits]
    assert len(found) == len(set(found)) and len(found) <= MAX_HITS
    want = expected(mim, query)
    if len(want) <= MAX_HITS:
        assert set(found) == want, query
    else:
        assert set(found) <= want, query


@FUZZ
@given(kind=st.sampled_from([k for k in QueryKind if k is not QueryKind.ATTRIBUTE]), value=values)
def test_arbitrary_values_match_only_what_they_should(
    mim: MimSyncConnector, kind: QueryKind, value: str
) -> None:
    check(mim, Query(kind, value))


@FUZZ
@given(attribute=attributes, value=values)
def test_arbitrary_attribute_queries_match_only_what_they_should(
    mim: MimSyncConnector, attribute: str, value: str
) -> None:
    check(mim, Query(QueryKind.ATTRIBUTE, value, attribute))
