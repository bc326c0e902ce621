"""The NetBIOS domain and sAMAccountName rules (connectors/_shared/names.py), one row a case."""

from __future__ import annotations

import pytest

from connectors._shared.names import MAX_ACCOUNT, MAX_NETBIOS, is_account_name, is_netbios_domain

NETBIOS = [
    ("CORP", True),
    ("C", True),
    ("A" * MAX_NETBIOS, True),
    ("A" * (MAX_NETBIOS + 1), False),
    ("", False),
    ("   ", False),
    ("MY CORP", True),
    ("R&D", True),  # allowed for historical domains
    ("CORP-EU_1", True),
    ("ZÜRICH", True),
    *((f"CO{c}RP", False) for c in '\\/:*?"<>|'),
    (".CORP", False),  # never first
    ("CO.RP", False),  # nor anywhere: a DNS name
    ("corp.example", False),
    ("C'RP", False),
    ("CO\x00RP", False),
    ("CO\nRP", False),
    ("CO\tRP", False),
]

ACCOUNT = [
    ("jdoe", True),
    ("j", True),
    ("x" * MAX_ACCOUNT, True),
    ("x" * (MAX_ACCOUNT + 1), False),
    ("", False),
    ("  ", False),
    ("jane doe", True),
    ("jane.o'doe-4711", True),
    ("o\u2019brien", True),
    ("müller", True),
    ("a_b$@#%&!~", True),
    *((f"j{c}doe", False) for c in '"/\\[]:;|=,+*?<>'),
    ("CORP\\jdoe", False),  # a qualified name is split first
    ("jdoe\x00", False),
]


@pytest.mark.parametrize(("name", "valid"), NETBIOS, ids=repr)
def test_netbios_domain_names(name: str, valid: bool) -> None:
    assert is_netbios_domain(name) is valid


@pytest.mark.parametrize(("name", "valid"), ACCOUNT, ids=repr)
def test_account_names(name: str, valid: bool) -> None:
    assert is_account_name(name) is valid
