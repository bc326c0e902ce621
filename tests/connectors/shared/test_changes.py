"""The check of a correction's changes (connectors/_shared/changes.py): its rules, one row each,
and that every updating connector refuses exactly what the check refuses with that
connector's parameters, which are spelled out here so that a change to one shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors._shared.changes import ChangeRules, has_no_control, quotable, utf16_length
from connectors.ad.update import DEFAULT_WRITABLE, AdUpdater, refused_for_writing
from connectors.base import Change, ObjectRef, UpdatePlan
from connectors.bhold import update as bhold_update
from connectors.bhold.soap_text import is_xml_text
from connectors.errors import NotSupported
from connectors.mimservice import update as mimservice_update

SECRET = "jane.o'doe-4711"

RULES = ChangeRules(
    system="Sys",
    allowed={"givenname": "givenName", "sn": "sn", "surname": "sn"},
    max_length=4,
    refused=lambda key: "it keys the account" if key == "mail" else None,
    required=frozenset({"sn"}),
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # The system's spelling, in order; a duplicate that agrees is merged.
        ((Change("GIVENNAME", "Ann"),), (Change("givenName", "Ann"),)),
        (
            (Change("surname", "Doe"), Change("givenName", None)),
            (Change("sn", "Doe"), Change("givenName", None)),
        ),
        ((Change("sn", "Doe"), Change("Surname", "Doe")), (Change("sn", "Doe"),)),
        ((Change("givenName", ""),), (Change("givenName", ""),)),  # kept: no empty_clears
        (
            (Change("givenName", "\U0001f600\U0001f600"),),
            (Change("givenName", "\U0001f600\U0001f600"),),
        ),
        # Refused, naming the attribute and never the value.
        ((), "an update of Sys changes at least one attribute"),
        ((Change("Mail", SECRET),), "Mail is never changed in Sys: it keys the account"),
        ((Change("title", SECRET),), "a correction cannot change title in Sys"),
        ((Change(SECRET, "Ann"),), "a correction cannot change that attribute in Sys"),
        ((Change(42, "Ann"),), "a correction cannot change that attribute in Sys"),
        ((Change("givenName", 42),), "Sys takes text for givenName"),
        ((Change("givenName", "A\nn"),), "Sys cannot take that value of givenName"),
        ((Change("givenName", "A\tn"),), "Sys cannot take that value of givenName"),
        ((Change("givenName", "A\x00"),), "Sys cannot take that value of givenName"),
        ((Change("givenName", "A\x85"),), "Sys cannot take that value of givenName"),
        ((Change("givenName", "A\ud800"),), "Sys cannot take that value of givenName"),
        ((Change("givenName", "Annie"),), "is longer than 4 characters"),
        ((Change("givenName", "\U0001f600\U0001f600x"),), "is longer than 4 characters"),
        ((Change("sn", None),), "Sys requires sn: it cannot be cleared or blank"),
        ((Change("sn", " "),), "Sys requires sn: it cannot be cleared or blank"),
        ((Change("sn", "Doe"), Change("surname", "Roe")), "two changes set sn to different values"),
        ((Change("givenName", ""), Change("givenName", None)), "two changes set givenName to"),
        # One refused change refuses them all.
        ((Change("givenName", "Ann"), Change("mail", "x")), "mail is never changed in Sys"),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_the_shared_rules(changes: tuple[Change, ...], expected: object) -> None:
    if isinstance(expected, tuple):
        assert RULES.check(changes) == expected
        return
    with pytest.raises(NotSupported, match=expected) as caught:
        RULES.check(changes)
    assert SECRET not in str(caught.value) and "Ann" not in str(caught.value)


def test_empty_clears_makes_an_empty_value_a_clear_that_agrees_with_none() -> None:
    rules = ChangeRules(system="Sys", allowed={"city": "City"}, max_length=9, empty_clears=True)
    changes = (Change("City", ""), Change("city", None))
    assert rules.check(changes) == (Change("City", None),)


def test_the_parameters_that_differ_between_systems() -> None:
    assert utf16_length("a\U0001f600") == 3 and len("a\U0001f600") == 2
    assert has_no_control("Ann Doe") and not has_no_control("Ann\tDoe")
    assert has_no_control("\ufffe")  # a noncharacter, not a control: AD and MIM take it
    assert is_xml_text("Ann\tDoe") and not is_xml_text("\ufffe")  # BHOLD's own rule
    assert quotable("msDS-KeyCredentialLink") == "msDS-KeyCredentialLink"
    assert quotable("<@U1> x") == "that attribute"


# -- each connector refuses exactly what the check refuses with its parameters --------------

AD = ChangeRules(
    system="AD",
    allowed={a.casefold(): a for a in DEFAULT_WRITABLE},
    max_length=1024,
    length=len,
    refused=refused_for_writing,
)
BHOLD = ChangeRules(
    system="BHOLD",
    allowed={"description": "description", "displayname": "description", "firstname": "firstName",
             "givenname": "firstName", "middlename": "middleName", "lastname": "lastName",
             "sn": "lastName", "surname": "lastName"},
    max_length=255,
    fits=is_xml_text,
    required=frozenset({"description", "firstName", "lastName"}),
    hint=": only description (displayName), firstName (givenName), middleName and lastName (sn)",
)  # fmt: skip
MIM_REFUSED = {"accountname", "domain", "objectsid", "email", "employeeid", "objectid", "manager"}
MIM = ChangeRules(
    system="the MIM Service",
    allowed={a.casefold(): a for a in mimservice_update.WRITABLE},
    max_length=448,
    refused=lambda key: "it names or keys the Person" if key in MIM_REFUSED else None,
    empty_clears=True,
)


class Reached(Exception):
    """The AD updater went on to the directory: the check let the changes through."""


@contextmanager
def unreachable() -> Iterator[None]:
    raise Reached
    yield  # pragma: no cover


def ad_plan(todo: tuple[Change, ...]) -> object:
    """What the AD updater does with `todo`, planned and applied as a stored plan: refused,
    or on to the directory (its schema check) with nothing refused."""
    updater = AdUpdater(DEFAULT_WRITABLE, connection=unreachable, lookup=lambda *a: None)
    ref = ObjectRef("ad", "7f0c2a8e-0000-4000-8000-000000000001")
    answers = []
    for attempt in (
        lambda: updater.plan(ref, todo, timeout=1),
        lambda: updater.apply(UpdatePlan(ref, todo, "stored"), timeout=1),
    ):
        try:
            attempt()
        except Reached:
            answers.append("reached the directory")
        except NotSupported as exc:
            answers.append(("refused", str(exc)))
    assert answers[0] == answers[1]  # a stored plan is checked as a new one is
    return answers[0]


def ad_check(todo: tuple[Change, ...]) -> object:
    AD.check(todo)
    return "reached the directory"


Check = Callable[[tuple[Change, ...]], object]
# The connector's check, the shared check with its parameters, and its attributes.
CONNECTORS: dict[str, tuple[Check, Check, Iterable[str]]] = {
    "ad": (ad_plan, ad_check, AD.allowed.values()),
    "bhold": (bhold_update.wanted, BHOLD.check, BHOLD.allowed),
    "mimservice": (mimservice_update.wanted, MIM.check, MIM.allowed.values()),
}

OTHERS = ("sAMAccountName", "unicodePwd", "msDS-KeyCredentialLink", "adminCount", "alias", "x y")
NAMES = sorted({*AD.allowed.values(), *BHOLD.allowed, *MIM.allowed.values(), *MIM_REFUSED, *OTHERS})
characters = st.sampled_from([*"aZ é", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85",
                              "\ud800", "\ufffe", "\uffff", "\U0001f600"])  # fmt: skip
LIMITS = (255, 448, 1024)  # BHOLD's, the MIM Service's and AD's; one past each, and in emoji
EMOJI = "\U0001f600"  # two UTF-16 code units, one code point
long_values = [v for n in LIMITS for v in ("x" * n, "x" * (n + 1), EMOJI * (n // 2 + 1), EMOJI * n)]
values = st.one_of(
    st.text(st.sampled_from("aZ é-"), max_size=6),  # fits everywhere (or is blank)
    st.text(characters, max_size=4),
    st.sampled_from([None, "", 42]),
    st.sampled_from(long_values),
)


def spelled(names: Iterable[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(names)).flatmap(
        lambda n: st.sampled_from([n, n.upper(), n.lower()])
    )


def changes(own: Iterable[str]) -> st.SearchStrategy[tuple[Change, ...]]:
    """Mostly the system's own attributes (so that values and duplicates are reached), then
    the others', and names that are none."""
    attributes = st.one_of(*[spelled(own)] * 6, spelled(NAMES), st.text(max_size=8), st.just(42))
    return st.lists(st.builds(Change, attributes, values), max_size=3).map(tuple)


def outcome(check: Check, todo: tuple[Change, ...]) -> object:
    try:
        return check(todo)
    except NotSupported as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("system", sorted(CONNECTORS))
@given(data=st.data())
def test_each_connector_refuses_exactly_what_the_check_refuses(
    system: str, data: st.DataObject
) -> None:
    connector, shared, own = CONNECTORS[system]
    todo = data.draw(changes(own))
    assert outcome(connector, todo) == outcome(shared, todo)
