"""Arbitrary terms reach BHOLD only as data, and a wildcard in a term never widens a match.

Each example searches the loopback stand-in (demo/bhold_stub.py) and reads back what reached
the wire: every body parses as XML, the function name is the connector's, the filter is the
term with its LIKE wildcards bracketed, and the hits are exactly the users an exact,
case-insensitive comparison finds. Deletion scripts hold exactly the expected functions, with
numeric IDs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors._shared.http import HttpSettings
from connectors.base import IdKind, Query, QueryKind
from connectors.bhold.connector import BholdConnector, BholdSettings
from connectors.bhold.soap_text import delete_script, is_xml_text, like_escape
from connectors.spelling import spellings
from demo.bhold_fixture import BholdState, like, seed_people
from demo.bhold_stub import BASIC_USER, BholdStub

T = 5.0
ACCOUNTS = ["a_b", "a%b", "a[b]", "a]]>b", "ab", "axb", "a'b", "a&lt;b", "Ωb", "a\\b"]
SPECIALS = ["<", "&", "]]>", "%", "_", "[", "]", "^", "-", "'", '"', "\u2019", "\x00", "\n"]
terms = st.lists(
    st.one_of(st.sampled_from(SPECIALS), st.sampled_from(["a", "b", "A", "x", "Ω", "\\"])),
    max_size=6,
).map("".join) | st.text(max_size=12)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def stub() -> Iterator[BholdStub]:
    with BholdStub() as s:
        seed_people(
            s.state,
            [
                (a, f"User {a}", "", "", f"{a}@example.test", str(7000 + n))
                for n, a in enumerate(ACCOUNTS)
            ],
        )
        yield s


@pytest.fixture(scope="module")
def bhold(stub: BholdStub) -> Iterator[BholdConnector]:
    http = HttpSettings(
        url=stub.https_url,
        auth="basic",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_file=Path(stub.ca_file),
    )
    types = {"mail": "Email", "employee_id": "EmployeeID"}
    c = BholdConnector(BholdSettings(http=http, domain="CORP", attribute_types=types))
    yield c
    c.close()


def sent(stub: BholdStub) -> list[tuple[str, ...]]:
    """(functionName, parameter1, parameter2) of each GetInfo; every body must parse."""
    out = []
    for seen in stub.seen:
        root = etree.fromstring(seen.body)
        call = root[0][0]
        assert etree.QName(call).localname == seen.operation == "GetInfo"
        out.append(tuple(c.text or "" for c in call)[:3])
    return out


def exact(alias: str, value: str, *, prefix: bool) -> bool:
    have, want = alias.casefold(), value.casefold()
    return have.startswith(want) if prefix else have == want


@FUZZ
@given(term=terms, prefix=st.booleans())
@example(term="a_b", prefix=False)  # found, as itself
@example(term="a%b", prefix=False)  # finds CORP\\a%b only, never a_b, ab or axb
@example(term="a_c", prefix=False)
@example(term="a_", prefix=True)
@example(term="a[b]", prefix=False)
@example(term="A]]>B", prefix=False)
@example(term="a'b", prefix=False)
@example(term="a&lt;", prefix=True)
@example(term="corp\\AB", prefix=False)
def test_a_term_is_data_and_never_widens_the_alias_match(
    stub: BholdStub, bhold: BholdConnector, term: str, prefix: bool
) -> None:
    stub.seen.clear()
    kind = QueryKind.PREFIX if prefix else QueryKind.NAME
    hits = bhold.search(Query(kind, term), timeout=T)
    wire = sent(stub)

    usable = bool(term.strip()) and is_xml_text(term)
    wanted_aliases = [s if "\\" in s else f"CORP\\{s}" for s in spellings(term)] if usable else []
    suffix = "%" if prefix else ""
    patterns = [p for f, p, _ in wire if f == "users"]
    assert {f for f, _, _ in wire} <= {"attributetypes", "users", "user"}
    assert "attributetypes" not in [f for f, _, _ in wire][1:]  # listed before any search
    assert all(a == "" for f, _, a in wire if f == "users")
    assert patterns == [like_escape(a) + suffix for a in wanted_aliases]
    for pattern, want in zip(patterns, wanted_aliases, strict=True):
        for account in ACCOUNTS:  # the stand-in's LIKE matches what an exact comparison does
            alias = f"CORP\\{account}"
            assert like(pattern, alias) == exact(alias, want, prefix=prefix)
    found = {h.identifiers[IdKind.ACCOUNT] for h in hits}
    wanted = {a for a in ACCOUNTS for w in wanted_aliases if exact(f"CORP\\{a}", w, prefix=prefix)}
    assert found == wanted


@FUZZ
@given(term=terms)
@example(term="a_b@example.test")
@example(term="a%b@example.test")
@example(term="a_c@example.test")
def test_a_mail_term_is_sent_escaped_and_matches_exactly(
    stub: BholdStub, bhold: BholdConnector, term: str
) -> None:
    stub.seen.clear()
    hits = bhold.search(Query(QueryKind.MAIL_OR_UPN, term), timeout=T)

    usable = bool(term.strip()) and is_xml_text(term)
    forms = spellings(term) if usable else ()
    users = [(p, a) for f, p, a in sent(stub) if f == "users"]
    assert users == [(like_escape(f), "Email") for f in forms]
    assert {h.identifiers[IdKind.MAIL] for h in hits} == {
        f"{a}@example.test"
        for a in ACCOUNTS
        for f in forms
        if exact(f"{a}@example.test", f, prefix=False)
    }


@FUZZ
@given(
    user=st.integers(1, 10**17),
    roles=st.lists(st.integers(0, 10**17), max_size=5),
    units=st.lists(st.integers(0, 10**17), max_size=5),
)
def test_the_deletion_script_holds_exactly_the_functions_with_numeric_ids(
    user: int, roles: list[int], units: list[int]
) -> None:
    script = etree.fromstring(delete_script(str(user), map(str, roles), map(str, units)))

    assert script.tag == "functions"
    assert [dict(f.attrib) for f in script] == [
        *({"name": "roledeleteuser", "userID": str(user), "roleID": str(r)} for r in roles),
        *({"name": "OrgUnitdeleteuser", "userID": str(user), "OrgUnitID": str(u)} for u in units),
    ]


@FUZZ
@given(bad=terms.filter(lambda t: not t.isascii() or not t.isdigit()))
def test_a_script_refuses_any_id_that_is_not_a_number(bad: str) -> None:
    with pytest.raises(ValueError):
        delete_script("12", [bad], [])
    with pytest.raises(ValueError):
        delete_script(bad, [], ["3"])


def test_the_fuzzed_state_is_unchanged(stub: BholdStub) -> None:
    assert isinstance(stub.state, BholdState)
    assert len(stub.state.snapshot().users) == len(ACCOUNTS)
