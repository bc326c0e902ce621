"""BHOLD rectification: `plan_update` / `apply_update` send one ExecuteXml `Userupdate`
(connectors/bhold/update.py, connectors/bhold/soap_text.py) to the loopback BHOLD script web
service (demo/bhold_stub.py), and read the values back.

What is tested is which names map to which Userupdate parameter, what is refused before
anything is sent, the script on the wire (one function, a numeric UserID, values as attribute
data), the read back, and the errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lxml import etree

from connectors._shared.http import HttpSettings
from connectors.base import Capability, Change, ObjectRef, StepResult, UpdatePlan
from connectors.bhold.connector import BholdConnector, BholdSettings
from connectors.bhold.soap_text import BholdUser, is_xml_text, update_element
from connectors.bhold.update import MAX_VALUE, apply, wanted
from connectors.capabilities import Updates
from connectors.errors import ConnectorError, Denied, NotFound, NotSupported
from demo.bhold_fixture import BholdState, seed_people
from demo.bhold_stub import BASIC_USER, BholdStub

T = 5.0
SECRET = "jane.o'doe-4711"
PEOPLE = [
    ("jdoe", "Jane Doe", "Jane", "Doe", "jane@example.test", "4711"),
    ("oother", "Otto Other", "Otto", "Other", "otto@example.test", "4712"),
]


@pytest.fixture(scope="module")
def stub() -> Iterator[BholdStub]:
    with BholdStub() as s:
        yield s


@pytest.fixture
def state(stub: BholdStub) -> Iterator[BholdState]:
    """Fresh BHOLD state and traffic log for each test; faults never outlive it."""
    stub.state = BholdState()
    stub.seen.clear()
    yield stub.state
    stub.release()


@pytest.fixture
def bhold(stub: BholdStub, state: BholdState) -> Iterator[BholdConnector]:
    http = HttpSettings(
        url=stub.https_url,
        auth="basic",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_file=Path(stub.ca_file),
    )
    c = BholdConnector(BholdSettings(http=http, domain="CORP", attribute_types={}))
    yield c
    c.close()


@pytest.fixture
def people(stub: BholdStub, state: BholdState) -> dict[str, int]:
    ids = seed_people(state, PEOPLE)
    stub.seen.clear()
    return ids


def ref(uid: int | str) -> ObjectRef:
    return ObjectRef("bhold", str(uid))


def scripts(stub: BholdStub) -> list[etree._Element]:
    """The `<functions>` element of each ExecuteXml that reached the stand-in."""
    out = []
    for seen in stub.seen:
        if seen.operation == "ExecuteXml":
            root = etree.fromstring(seen.body)
            (functions,) = [e for e in root.iter() if etree.QName(e).localname == "functions"]
            out.append(functions)
    return out


def names(state: BholdState, uid: int) -> tuple[str, str, str, str]:
    user = state.user(uid)
    assert user is not None
    return user.description, user.firstname, user.middlename, user.lastname


# -- the plan ------------------------------------------------------------------------------


def test_bhold_declares_and_implements_updates(bhold: BholdConnector) -> None:
    assert Capability.UPDATE in bhold.capabilities
    assert isinstance(bhold, Updates)


@pytest.mark.parametrize(
    ("attribute", "parameter"),
    [
        ("description", "description"),
        ("DESCRIPTION", "description"),
        ("displayName", "description"),
        ("firstName", "firstName"),
        ("givenname", "firstName"),
        ("middleName", "middleName"),
        ("lastName", "lastName"),
        ("sn", "lastName"),
        ("Surname", "lastName"),
    ],
)
def test_the_plan_maps_each_name_to_its_userupdate_parameter(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], attribute: str, parameter: str
) -> None:
    plan = bhold.plan_update(ref(people["jdoe"]), (Change(attribute, SECRET),), timeout=T)

    assert plan.ref == ref(people["jdoe"])
    assert plan.changes == (Change(parameter, SECRET),)
    assert plan.summary == f"Update 1 attribute(s) of the BHOLD user ({parameter})"
    assert stub.operations() == ["GetInfo"]  # the user is read, nothing is changed


def test_the_summary_and_notes_name_the_attributes_and_no_value(
    bhold: BholdConnector, people: dict[str, int]
) -> None:
    changes = (Change("givenName", SECRET), Change("sn", SECRET + "x"))
    plan = bhold.plan_update(ref(people["jdoe"]), changes, timeout=T)

    assert plan.summary == "Update 2 attribute(s) of the BHOLD user (firstName, lastName)"
    assert plan.changes == (Change("firstName", SECRET), Change("lastName", SECRET + "x"))
    assert all(SECRET not in text for text in (plan.summary, *plan.notes))
    assert any("source" in note for note in plan.notes)


@pytest.mark.parametrize("attribute", ["mail", "alias", "userDisabled", "language", "UserID"])
def test_another_attribute_refuses_the_whole_plan_naming_it_and_no_value(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], attribute: str
) -> None:
    changes = (Change("givenName", "Janet"), Change(attribute, SECRET))
    with pytest.raises(NotSupported, match=attribute) as caught:
        bhold.plan_update(ref(people["jdoe"]), changes, timeout=T)

    assert SECRET not in str(caught.value) and "Janet" not in str(caught.value)
    assert stub.seen == []


def test_an_attribute_name_unfit_to_quote_is_not_quoted(
    bhold: BholdConnector, people: dict[str, int]
) -> None:
    with pytest.raises(NotSupported, match="that attribute") as caught:
        bhold.plan_update(ref(people["jdoe"]), (Change("<@U1> x", "v"),), timeout=T)
    assert "<@U1>" not in str(caught.value)


@pytest.mark.parametrize("attribute", ["description", "givenName", "sn"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_only_the_middle_name_may_be_cleared(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], attribute: str, value: object
) -> None:
    with pytest.raises(NotSupported, match="requires"):
        bhold.plan_update(ref(people["jdoe"]), (Change(attribute, value),), timeout=T)  # type: ignore[arg-type]
    assert stub.seen == []


def test_two_changes_of_one_parameter_must_agree() -> None:
    assert wanted((Change("sn", "Doe"), Change("lastName", "Doe"))) == (Change("lastName", "Doe"),)
    with pytest.raises(NotSupported, match="lastName"):
        wanted((Change("sn", "Doe"), Change("surname", "Roe")))
    with pytest.raises(NotSupported):
        wanted(())


# -- values BHOLD cannot take: refused before anything is sent -------------------------------

UNSENDABLE = [
    "Ja\x00ne",
    "\x00",
    "Ja\x1bne",
    "\x1c",  # blank to str.strip(), still not XML
    "Ja\x7f\x08ne",
    "Ja\ud800ne",
    "\ufffe",
    "x" * (MAX_VALUE + 1),
    "\U0001f600" * (MAX_VALUE // 2 + 1),  # two UTF-16 code units each
]


@pytest.mark.parametrize("value", UNSENDABLE, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("attribute", ["givenName", "middleName"])
def test_a_value_xml_cannot_carry_or_too_long_is_refused_before_sending(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], attribute: str, value: str
) -> None:
    target = ref(people["jdoe"])
    with pytest.raises(NotSupported, match="cannot take") as caught:
        bhold.plan_update(target, (Change(attribute, value),), timeout=T)
    assert value not in str(caught.value)
    # A plan built elsewhere is checked again: nothing reaches the wire either.
    forged = UpdatePlan(target, (Change("firstName", value),), "forged")
    with pytest.raises(NotSupported):
        bhold.apply_update(forged, timeout=T)
    assert stub.seen == []


def test_a_value_of_the_longest_length_is_sent(
    bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    value = "Ω" * (MAX_VALUE - 1) + "x"
    plan = bhold.plan_update(ref(people["jdoe"]), (Change("sn", value),), timeout=T)
    assert bhold.apply_update(plan, timeout=T).done
    assert names(state, people["jdoe"])[3] == value


# -- apply: one Userupdate, read back ------------------------------------------------------


def test_apply_changes_the_names_and_reads_them_back(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["jdoe"]
    changes = (Change("givenName", "Janet"), Change("sn", "Doe-Roe"), Change("displayName", "J R"))
    plan = bhold.plan_update(ref(uid), changes, timeout=T)
    before_other = state.user(people["oother"])

    result = bhold.apply_update(plan, timeout=T)

    assert result == StepResult(
        ref(uid), done=True, detail="updated firstName, lastName, description"
    )
    assert names(state, uid) == ("J R", "Janet", "", "Doe-Roe")
    assert state.user(people["oother"]) == before_other
    assert state.memberships(uid) != (set(), set())  # still in its roles and org units
    record = bhold.read(ref(uid), timeout=T)
    assert record.attributes["FirstName"].values == ("Janet",)
    assert record.attributes["LastName"].values == ("Doe-Roe",)
    assert record.attributes["Description"].values == ("J R",)


def test_the_script_on_the_wire_is_one_userupdate_with_a_numeric_id_and_data_values(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int]
) -> None:
    uid = people["jdoe"]
    hostile = 'Jane" name="roledeleteuser'
    changes = (Change("firstName", hostile), Change("lastName", "Doe"))  # Doe: already set
    bhold.apply_update(bhold.plan_update(ref(uid), changes, timeout=T), timeout=T)

    (functions,) = scripts(stub)
    (function,) = list(functions)
    assert len(list(functions.iter("function"))) == 1
    # Only what differs is sent, with the user's language (not optional in the doc).
    assert dict(function.attrib) == {
        "name": "Userupdate",
        "UserID": str(uid),
        "firstName": hostile,
        "language": "1",
    }
    assert function.get("UserID", "").isdigit()
    assert stub.operations() == ["GetInfo", "GetInfo", "ExecuteXml", "GetInfo"]


def test_a_second_apply_finds_the_values_set_and_sends_no_script(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["jdoe"]
    plan = bhold.plan_update(ref(uid), (Change("givenName", "Janet"),), timeout=T)
    assert bhold.apply_update(plan, timeout=T).done
    stub.seen.clear()

    again = bhold.apply_update(plan, timeout=T)

    assert again == StepResult(ref(uid), done=True, already_absent=False, detail="already set")
    assert "ExecuteXml" not in stub.operations()
    assert names(state, uid)[1] == "Janet"


def test_the_middle_name_is_set_and_cleared(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    uid = state.add_user("CORP\\mm", "Mia Mid", firstname="Mia", middlename="Q", lastname="Mid")
    plan = bhold.plan_update(ref(uid), (Change("middleName", "R."),), timeout=T)
    assert any("middle name" in n for n in plan.notes)
    assert bhold.apply_update(plan, timeout=T).done
    assert names(state, uid)[2] == "R."
    assert bhold.read(ref(uid), timeout=T).attributes["MiddleName"].values == ("R.",)

    cleared = bhold.plan_update(ref(uid), (Change("middleName", None),), timeout=T)
    assert bhold.apply_update(cleared, timeout=T).done
    assert names(state, uid) == ("Mia Mid", "Mia", "", "Mid")
    assert scripts(stub)[-1][0].get("middleName") == ""


def test_a_failing_script_leaves_the_user_unchanged_and_raises(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["jdoe"]
    plan = bhold.plan_update(ref(uid), (Change("givenName", "Janet"), Change("sn", "R")), timeout=T)
    before = state.snapshot()
    stub.fail("function", at=0)

    with pytest.raises(ConnectorError, match="rolled it back") as caught:
        bhold.apply_update(plan, timeout=T)

    assert "Userupdate" in str(caught.value) and "Janet" not in str(caught.value)
    assert state.snapshot() == before
    assert names(state, uid) == ("Jane Doe", "Jane", "", "Doe")


def test_a_soap_fault_on_the_script_leaves_the_user_unchanged(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    plan = bhold.plan_update(ref(people["jdoe"]), (Change("givenName", "Janet"),), timeout=T)
    before = state.snapshot()
    stub.fail("fault", operation="ExecuteXml")

    with pytest.raises(ConnectorError, match="SOAP fault"):
        bhold.apply_update(plan, timeout=T)
    assert state.snapshot() == before


def test_refused_credentials_are_denied(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    target = ref(people["jdoe"])
    stub.fail("auth")
    with pytest.raises(Denied):
        bhold.plan_update(target, (Change("givenName", "Janet"),), timeout=T)

    plan = bhold.plan_update(target, (Change("givenName", "Janet"),), timeout=T)
    before = state.snapshot()
    stub.fail("auth", operation="ExecuteXml")
    with pytest.raises(Denied):
        bhold.apply_update(plan, timeout=T)
    assert state.snapshot() == before


# -- NotFound ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        ObjectRef("ad", "104"),
        ObjectRef("bhold", "CORP\\jdoe"),
        ObjectRef("bhold", "%"),
        ObjectRef("bhold", "no_id:104"),
        ObjectRef("bhold", "104 or 1=1"),
        ObjectRef("bhold", ""),
        ObjectRef("bhold", "1" * 19),
    ],
    ids=repr,
)
def test_a_ref_that_cannot_be_a_bhold_user_is_not_found_and_sends_nothing(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], target: ObjectRef
) -> None:
    with pytest.raises(NotFound):
        bhold.plan_update(target, (Change("givenName", "Janet"),), timeout=T)
    with pytest.raises(NotFound):
        bhold.apply_update(UpdatePlan(target, (Change("firstName", "J"),), "x"), timeout=T)
    assert stub.seen == []


def test_a_user_that_does_not_exist_is_not_found(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int]
) -> None:
    with pytest.raises(NotFound):
        bhold.plan_update(ref(999999), (Change("givenName", "Janet"),), timeout=T)
    with pytest.raises(NotFound):
        bhold.apply_update(UpdatePlan(ref(999999), (Change("firstName", "J"),), "x"), timeout=T)
    assert "ExecuteXml" not in stub.operations()


def test_a_user_gone_between_plan_and_apply_is_not_found(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["jdoe"]
    plan = bhold.plan_update(ref(uid), (Change("givenName", "Janet"),), timeout=T)
    bhold.apply_delete(bhold.plan_delete(ref(uid), timeout=T), timeout=T)
    stub.seen.clear()

    with pytest.raises(NotFound):
        bhold.apply_update(plan, timeout=T)
    assert "ExecuteXml" not in stub.operations()


# -- the read back and the language, without a server ---------------------------------------


def user(**fields: str) -> BholdUser:
    base = {"id": "7", "description": "Jane Doe", "firstname": "Jane", "lastname": "Doe"}
    return BholdUser({**base, "language": "1", **fields})


def test_a_value_bhold_does_not_show_afterwards_is_not_done() -> None:
    sent: list[etree._Element] = []
    result = apply(ref(7), (Change("firstName", "Janet"),), lambda: user(), sent.append)

    assert result.done is False and "firstName" in result.detail and "Janet" not in result.detail
    assert len(sent) == 1


def test_a_middle_name_the_record_does_not_show_is_sent_but_not_confirmed() -> None:
    sent: list[etree._Element] = []
    result = apply(ref(7), (Change("middleName", "Q"),), lambda: user(), sent.append)

    assert result.done is False and "middleName" in result.detail
    assert sent[0][0].get("middleName") == "Q"


@pytest.mark.parametrize("language", ["", "English", "1 OR 1"])
def test_no_numeric_language_sends_nothing(language: str) -> None:
    sent: list[etree._Element] = []
    with pytest.raises(ConnectorError, match="language"):
        apply(ref(7), (Change("firstName", "J"),), lambda: user(language=language), sent.append)
    assert sent == []


def test_the_script_builder_takes_numbers_for_ids_and_plain_parameter_names() -> None:
    for uid, language in (("jdoe", "1"), ("7", "English"), ("7 ", "1"), ("", "1")):
        with pytest.raises(ValueError):
            update_element(uid, {"firstName": "J"}, language)
    for values in ({}, {"UserID": "8"}, {"name": "roleadduser"}, {"a b": "x"}, {"language": "2"}):
        with pytest.raises(ValueError):
            update_element("7", values, "1")
    with pytest.raises(ValueError):
        update_element("7", {"firstName": "J\x00"}, "1")


# -- hostile values reach BHOLD as exactly themselves ---------------------------------------

SPECIALS = ["<", "&", "]]>", "'", '"', "%", "_", "[", "\n", "\r", "\t", "Ω", "\u2019", "😀", "a"]
text = st.lists(st.sampled_from(SPECIALS), min_size=1, max_size=6).map("".join) | st.text(
    st.characters(codec="utf-8").filter(is_xml_text), min_size=1, max_size=20
)
required = text.filter(lambda v: bool(v.strip()))
FUZZ = hsettings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(first=required, last=required, description=required, middle=text)
@example(first="<&>", last="]]>", description="\"'%_", middle="\r\n")
@example(first='x" name="roledeleteuser" roleID="1', last="a\nb", description="Ω😀", middle="%")
def test_hostile_values_reach_bhold_as_exactly_themselves(
    stub: BholdStub,
    bhold: BholdConnector,
    state: BholdState,
    people: dict[str, int],
    first: str,
    last: str,
    description: str,
    middle: str,
) -> None:
    uid = people["jdoe"]
    other = state.user(people["oother"])
    memberships = state.memberships(uid)
    stub.seen.clear()
    changes = (
        Change("givenName", first),
        Change("sn", last),
        Change("displayName", description),
        Change("middleName", middle),
    )

    result = bhold.apply_update(bhold.plan_update(ref(uid), changes, timeout=T), timeout=T)

    assert result.done, result.detail
    assert names(state, uid) == (description, first, middle, last)
    for functions in scripts(stub):  # none when an example repeats the values already set
        assert [f.get("name") for f in functions.iter("function")] == ["Userupdate"]
    assert state.user(people["oother"]) == other
    assert state.memberships(uid) == memberships
