"""LDAP filters built from user input keep their structure whatever the input (RFC 4515)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.operation.search import parse_filter

from connectors.ad import PERSON_FILTER, AdConnector, AdSettings
from connectors.base import Query, QueryKind
from connectors.errors import NotSupported

CONNECTOR = AdConnector(
    AdSettings(
        url="ldaps://unused", bind_dn="x", password="x", base_dn="DC=x", attributes=("department",)
    )
)


def leaves(node) -> int:
    if not node.elements:
        return 1
    return sum(leaves(e) for e in node.elements)


def structure(kind, value, attribute=None):
    text = PERSON_FILTER.format(CONNECTOR._term_filter(Query(kind, value, attribute)))
    tree = parse_filter(
        text, None, auto_escape=False, auto_encode=True, validator=None, check_names=False
    )
    return text, leaves(tree)


BASELINE = {
    kind: structure(kind, "plain")[1] for kind in QueryKind if kind is not QueryKind.ATTRIBUTE
}


@given(st.sampled_from(sorted(BASELINE, key=lambda k: k.value)), st.text(min_size=1, max_size=60))
def test_any_value_yields_the_same_filter_structure(kind, value):
    _, n = structure(kind, value)
    assert n == BASELINE[kind]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("*)(objectClass=*", "\\2a\\29\\28objectClass=\\2a"),
        ("back\\slash", "back\\5cslash"),
        ("nul\x00", "nul\\00"),
        ("Zoë (Ops)", "Zoë \\28Ops\\29"),
    ],
)
def test_special_characters_are_escaped(value, escaped):
    text, _ = structure(QueryKind.NAME, value)
    assert f"(sAMAccountName={escaped})" in text


def test_prefix_keeps_exactly_one_wildcard_per_clause():
    text, _ = structure(QueryKind.PREFIX, "a*(b")
    assert text.count("*") == 3  # one per attribute, none from the input
    assert "a\\2a\\28b*" in text


def test_unknown_attribute_is_not_searched():
    with pytest.raises(NotSupported):
        CONNECTOR._term_filter(Query(QueryKind.ATTRIBUTE, "x", "unicodePwd"))


def test_configured_attribute_is_searchable_case_insensitively():
    assert (
        CONNECTOR._term_filter(Query(QueryKind.ATTRIBUTE, "Sales", "DEPARTMENT"))
        == "(department=Sales)"
    )
