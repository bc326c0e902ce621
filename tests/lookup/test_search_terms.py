"""Search that does not miss (issue 8): spellings, names, literal stars, refusals that say
what was searched for, and a demo directory that answers like a real one.

The parser's part is in test_commands.py, the AD filters in test_ad_filters.py, and the
real directory (Samba) in test_ad.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.commands.parser import parse
from bot.lookup.calls import Outcome
from bot.lookup.search import SearchResult, SystemResult
from bot.lookup.subjects import (
    AmbiguousSubject,
    ImpreciseSubject,
    NobodyMatches,
    SystemsUnavailable,
    single_subject,
)
from connectors.base import Hit, IdKind, ObjectRef, Query, QueryKind
from connectors.memory import MemoryConnector, Person
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from connectors.spelling import spellings
from demo import sample_sync as gen
from tests.support.paths import REPO as ROOT

T = 10.0
RSQUO, LDQUO, RDQUO = "\u2019", "\u201c", "\u201d"


# -- spellings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jdoe", ("jdoe",)),
        ("O'Brien", ("O'Brien", f"O{RSQUO}Brien")),
        ("d'Arcy O'Neill", ("d'Arcy O'Neill", f"d{RSQUO}Arcy O{RSQUO}Neill")),
        ('John "Jack" Smith', ('John "Jack" Smith', f"John {LDQUO}Jack{RDQUO} Smith")),
        (f"O{RSQUO}Brien", (f"O{RSQUO}Brien",)),  # only what the parser gives is re-spelt
    ],
)
def test_a_value_with_a_quote_has_a_typographic_spelling(value, expected):
    assert spellings(value) == expected


# -- the in-memory connector (the domain tests' directory) -----------------------


def person(pid: str, account: str, given: str, surname: str) -> Person:
    return Person(
        pid,
        {IdKind.ACCOUNT: account, IdKind.DISPLAY_NAME: f"{given} {surname}"},
        {"givenName": (given,), "sn": (surname,)},
    )


MEMORY = MemoryConnector(
    "ad",
    "AD",
    [
        person("1", "jsmith", "John", "Smith"),
        person("2", "jsmith2", "John", "Smith"),
        person("3", "sobrien", "Se\u00e1n", f"O{RSQUO}Brien"),  # held typographic
        person("4", "star", "Al*", "Star"),
        person("5", "pct", "100%", "Proof"),
    ],
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query(QueryKind.NAME, "Smith"), ["jsmith", "jsmith2"]),
        (Query(QueryKind.NAME, "john"), ["jsmith", "jsmith2"]),
        (Query(QueryKind.NAME, "John Smith"), ["jsmith", "jsmith2"]),
        (Query(QueryKind.NAME, "Smith John"), ["jsmith", "jsmith2"]),
        (Query(QueryKind.NAME, "jsmith"), ["jsmith"]),
        (Query(QueryKind.NAME, "Smit"), []),
        (Query(QueryKind.NAME, "Se\u00e1n O'Brien"), ["sobrien"]),
        (Query(QueryKind.NAME, "O'Brien"), ["sobrien"]),
        (Query(QueryKind.PREFIX, "Se\u00e1n O'B"), ["sobrien"]),
        (Query(QueryKind.NAME, "Al* Star"), ["star"]),
        (Query(QueryKind.NAME, "Al"), []),
        (Query(QueryKind.PREFIX, "Al*"), ["star"]),
        (Query(QueryKind.PREFIX, "A*"), []),
        (Query(QueryKind.NAME, "100%"), ["pct"]),
        (Query(QueryKind.NAME, "10_%"), []),
    ],
)
def test_memory_connector_searches_as_a_directory_does(query, expected):
    hits = MEMORY.search(query, timeout=1)
    assert sorted(h.identifiers[IdKind.ACCOUNT] for h in hits) == expected


# -- the metaverse: both spellings; `*`, `%` and `_` are literal ------------------


@pytest.fixture(scope="module")
def mim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MimSyncConnector]:
    engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp('sync') / 'sync.db'}")
    gen.load(engine, 30)
    with engine.begin() as conn:  # one person as an HR feed may spell them
        conn.execute(
            sa.text("UPDATE mms_metaverse SET displayName = :d WHERE accountName = 'sobrien'"),
            {"d": f"Se\u00e1n O{RSQUO}Brien"},
        )
        conn.execute(
            sa.text("UPDATE mms_metaverse SET displayName = 'Anna* Beth' WHERE accountName = 'a_b'")
        )
    connector = MimSyncConnector(MimSyncSettings(url=str(engine.url)), engine=engine)
    yield connector
    connector.close()
    engine.dispose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query(QueryKind.NAME, "Se\u00e1n O'Brien"), ["sobrien"]),  # straight finds typographic
        (Query(QueryKind.NAME, f"Se\u00e1n O{RSQUO}Brien"), ["sobrien"]),
        (Query(QueryKind.PREFIX, "Se\u00e1n O'"), ["sobrien"]),
        (Query(QueryKind.NAME, "Anna* Beth"), ["a_b"]),
        (Query(QueryKind.PREFIX, "Anna* B"), ["a_b"]),
        (Query(QueryKind.PREFIX, "A*n"), []),  # the * is a character, not a wildcard
        (Query(QueryKind.NAME, "pct%admin"), ["pct%admin"]),
        (Query(QueryKind.NAME, "pct_admin"), []),
        (Query(QueryKind.NAME, "a_b"), ["a_b"]),
        (Query(QueryKind.NAME, "a%"), []),
    ],
)
def test_metaverse_search_takes_every_character_literally_in_both_spellings(mim, query, expected):
    hits = mim.search(query, timeout=T)
    assert [h.identifiers[IdKind.ACCOUNT] for h in hits] == expected


# -- refusals say what was searched for ------------------------------------------


def result(query: Query, *hits: Hit, silent: bool = False) -> SearchResult:
    systems = [SystemResult("ad", "AD", Outcome.FOUND if hits else Outcome.NOT_FOUND, tuple(hits))]
    if silent:
        systems.append(SystemResult("hr", "HR", Outcome.UNREACHABLE))
    return SearchResult(query, tuple(systems))


def hit(n: int, account: str, display: str) -> Hit:
    ids = {IdKind.ACCOUNT: account, IdKind.DISPLAY_NAME: display}
    return Hit(ObjectRef("ad", str(n)), f"{display} ({account})", ids)


def refusal(query: Query, *hits: Hit, silent: bool = False) -> str:
    with pytest.raises(
        (NobodyMatches, AmbiguousSubject, ImpreciseSubject, SystemsUnavailable)
    ) as e:
        single_subject(result(query, *hits, silent=silent))
    return e.value.user_message()


def test_delete_with_an_unquoted_name_says_it_searched_for_the_first_word():
    cmd = parse("delete John Smith left")
    message = refusal(cmd.query)
    assert message.startswith('Nobody matches "John" in any system. Nothing was created.')
    assert 'Only "John" was searched for: quote a name with spaces' in message
    assert "`" not in message and "*" not in message  # plain text: render adds the markup


def test_a_quoted_name_gets_no_quoting_hint():
    message = refusal(parse('delete "John Smith" left').query)
    assert message == 'Nobody matches "John Smith" in any system. Nothing was created.'


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (Query(QueryKind.MAIL_OR_UPN, "j@x.test"), '"j@x.test"'),
        (Query(QueryKind.EMPLOYEE_ID, "0042"), '"0042"'),
        (Query(QueryKind.ATTRIBUTE, "Sales", attribute="department"), 'department="Sales"'),
    ],
)
def test_every_refusal_names_the_term(query, shown):
    assert refusal(query).startswith(f"Nobody matches {shown} in any system.")
    assert "quote a name" not in refusal(query)
    two = (hit(1, "a", "A"), hit(2, "b", "B"))
    assert refusal(query, *two).startswith(f"{shown} matches 2 people:")
    assert refusal(query, silent=True).startswith(f"Cannot plan safely for {shown}: HR did not")


def test_several_namesakes_are_listed_with_the_term_and_the_hint():
    message = refusal(parse("delete John").query, hit(1, "js1", "John Smith"), hit(2, "js2", "J S"))
    assert message.startswith('"John" matches 2 people:\n• John Smith (js1) (ad)')
    assert 'Only "John" was searched for' in message


def test_an_erasure_found_by_a_part_of_the_name_asks_for_the_account():
    message = refusal(parse("delete Smith left").query, hit(1, "jsmith", "John Smith"))
    assert message == (
        '"Smith" matches one person by a part of the name only: John Smith (jsmith). '
        "Nothing was created. An erasure needs a precise identifier: "
        "/mim delete jsmith [reason]."
    )


JOHN = hit(1, "jsmith", "John Smith")
SEAN = hit(2, "sobrien", f"Se\u00e1n O{RSQUO}Brien")


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("jsmith", JOHN),
        ("JSMITH", JOHN),
        ('"John Smith"', JOHN),
        ("'Se\u00e1n O\u2019Brien'", SEAN),  # folded to O'Brien; the directory holds O\u2019Brien
        ('"Se\u00e1n O\'Brien"', SEAN),
    ],
)
def test_an_erasure_by_account_or_whole_display_name_resolves(term, found):
    query = parse(f"delete {term} left").query
    assert single_subject(result(query, found)).hits == (found,)


# -- the demo's directory answers like a real one --------------------------------


def demo(*lines: str, tmp_path: Path) -> str:
    script = tmp_path / "script.txt"
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "demo", "--script", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def answers(out: str) -> dict[str, str]:
    """Each command's answer, by the command line."""
    blocks: dict[str, str] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("[UDEMOADMIN] /mim "):
            current = line.removeprefix("[UDEMOADMIN] /mim ")
            blocks[current] = ""
        elif current is not None:
            blocks[current] += line + "\n"
    return blocks


def test_the_demo_directory_keeps_escaped_brackets_and_stars_literal(tmp_path):
    lines = [
        "find user a@b)(cn=*",  # was 47 people: ldap3's mock dropped the escapes
        "find user *)(objectClass=*",
        "find user x)(|(cn=*",
        "find user Ida [Test]\\B*",  # a backslash and a bracket in a prefix
        "find user Ida [Test]\\Back",
        "find user Zo*",
    ]
    got = answers(demo(*lines, tmp_path=tmp_path))
    for line in lines[:3]:
        assert "· 0 hit(s) in 7 system(s)" in got[f"{line}"], got[line]
        assert "Active Directory: not found" in got[line]
    for line in lines[3:5]:
        assert "Ida [Test]\\Back (ida[x]) · Active Directory" in got[line]
    assert "Active Directory: found 3" in got["find user Zo*"]  # Zofia x2, Zoë


def test_the_demo_finds_names_as_people_type_them(tmp_path):
    lines = [
        "find user Se\u00e1n O\u2019Brien",
        "find user Schmidt",
        "find user Schmidt Katarzyna",
        "delete Katarzyna Schmidt left",
        "delete Nobody Here left",
        "delete \u201eNobody Here\u201c left",
    ]
    got = answers(demo(*lines, tmp_path=tmp_path))
    sean = got[lines[0]]
    assert "Seán O'Brien (sobrien) · Active Directory" in sean
    assert "Seán O'Brien (sobrien) · MIM Sync metaverse" in sean
    assert "Active Directory: found 14" in got["find user Schmidt"]  # by surname (anr)
    assert "Katarzyna Schmidt (kschmidt10) · Active Directory" in got[lines[2]]
    assert got[lines[3]].startswith('"Katarzyna" matches 2 people:')
    assert 'Only "Katarzyna" was searched for: quote a name with spaces' in got[lines[3]]
    assert got[lines[4]].startswith('Nobody matches "Nobody" in any system.')
    assert got[lines[5]].startswith(
        'Nobody matches "Nobody Here" in any system. Nothing was created.\n'
    )
