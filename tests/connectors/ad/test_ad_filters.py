"""LDAP filters built from user input keep their structure whatever the input (RFC 4515)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.operation.search import parse_filter
from ldap3.utils.conv import escape_filter_chars

from connectors.ad.connector import PERSON_FILTER, AdConnector, AdSettings
from connectors.base import Query, QueryKind
from connectors.errors import NotSupported
from connectors.spelling import spellings

CONNECTOR = AdConnector(
    AdSettings(
        url="ldaps://unused", bind_dn="x", password="x", base_dn="DC=x", attributes=("department",)
    )
)


def leaves(node) -> int:
    if not node.elements:
        return 1
    return sum(leaves(e) for e in node.elements)


def tree(kind, value, attribute=None):
    text = PERSON_FILTER.format(CONNECTOR._term_filter(Query(kind, value, attribute)))
    return text, parse_filter(
        text, None, auto_escape=False, auto_encode=False, validator=None, check_names=False
    )


def structure(kind, value, attribute=None):
    text, root = tree(kind, value, attribute)
    return text, leaves(root)


def assertions(node):
    """(attribute, value) of each leaf; a substring leaf gives its initial part."""
    if not node.elements:
        a = node.assertion
        return [(a["attr"], a.get("value", a.get("initial")).decode())]  # still escaped
    return [pair for e in node.elements for pair in assertions(e)]


PERSON_LEAVES = structure(QueryKind.EMPLOYEE_ID, "1")[1] - 1  # objectClass user, not computer
BASELINE = {
    kind: structure(kind, "plain")[1] - PERSON_LEAVES
    for kind in QueryKind
    if kind is not QueryKind.ATTRIBUTE
}


@given(st.sampled_from(sorted(BASELINE, key=lambda k: k.value)), st.text(min_size=1, max_size=60))
def test_any_value_yields_the_same_filter_structure(kind, value):
    """One clause per spelling (the value, and its typographic form if it holds a quote),
    each shaped like a plain value's; every leaf carries one spelling, escaped."""
    forms = spellings(value)
    _, root = tree(kind, value)
    assert leaves(root) == PERSON_LEAVES + BASELINE[kind] * len(forms)
    if not value.strip():
        return  # search() sends no filter for a blank value: ldap3 would strip it to (a=*)
    escaped = {escape_filter_chars(f).strip() for f in forms}  # ldap3 strips each value
    carried = set()
    for attribute, v in assertions(root):
        if attribute == "objectClass":
            continue
        v = v.removeprefix("=") if attribute == "anr" else v
        v = v.removeprefix("smtp:") if attribute == "proxyAddresses" else v
        v = v.strip()
        assert v in escaped
        carried.add(v)
    assert carried == escaped


def test_a_name_is_also_resolved_by_the_directory_exactly():
    text, _ = structure(QueryKind.NAME, "John Smith")
    assert text == (
        "(&(objectClass=user)(!(objectClass=computer))"
        "(|(sAMAccountName=John Smith)(displayName=John Smith)(cn=John Smith)(anr==John Smith)))"
    )


def test_a_value_with_an_apostrophe_is_searched_in_both_spellings():
    text, _ = structure(QueryKind.NAME, "O'Brien")
    assert "(anr==O'Brien)" in text and "(anr==O\u2019Brien)" in text
    assert text.count("sAMAccountName=") == 2


def test_a_star_inside_a_name_is_a_literal_character():
    text, _ = structure(QueryKind.NAME, "Al* Star")
    assert "(anr==Al\\2a Star)" in text and "*" not in text.replace("objectClass", "")


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
