"""`inventory` of the BHOLD connector, for the data map: the user's core fields, the configured
attribute types by BHOLD's names and the memberships, users counted from `GetInfo users` with
no filter, and nothing kept beyond the user record the erasure deletes; against the stand-in
(demo/bhold_stub.py, demo/bhold_fixture.py), faults put there. No person's value may appear
in what it returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from connectors._shared.http import HttpSettings
from connectors.bhold.connector import NOTHING_KEPT, VISIBLE_ONLY, BholdConnector, BholdSettings
from connectors.capabilities import describes_data
from connectors.datamap import Category, SystemInventory
from connectors.errors import Denied, TimedOut, Unreachable
from demo.bhold_fixture import BholdState, seed_people
from demo.bhold_stub import BASIC_USER, BholdStub
from tests.connectors.bhold import wsdl_variants
from tests.support.ports import closed_port

T = 5.0
TYPES = {"mail": "Email", "employee_id": "EmployeeID", "display_name": "DisplayName"}
PEOPLE = [
    ("jqvist", "Janne Qvistorp", "Janne", "Qvistorp", "janne.q@example.test", "E-7001"),
    ("kzabel", "Karlo Zabelsky", "Karlo", "Zabelsky", "karlo.z@example.test", "E-7002"),
    ("lwyrth", "Lenja Wyrthe", "Lenja", "Wyrthe", "", ""),
]
VALUES = sorted({v for p in PEOPLE for v in p if v} | {f"CORP\\{p[0]}" for p in PEOPLE})


@pytest.fixture(scope="module")
def stub() -> Iterator[BholdStub]:
    with BholdStub() as s:
        yield s


@pytest.fixture
def state(stub: BholdStub) -> Iterator[BholdState]:
    stub.state = BholdState()
    stub.wsdl = wsdl_variants.SHIPPED
    seed_people(stub.state, PEOPLE)
    stub.seen.clear()
    yield stub.state
    stub.release()


def settings(stub: BholdStub, **kw: object) -> BholdSettings:
    http = HttpSettings(
        url=stub.https_url,
        auth="basic",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_file=Path(stub.ca_file),
    )
    values: dict = {"http": http, "domain": "CORP", "attribute_types": TYPES, **kw}
    return BholdSettings(**values)


@pytest.fixture
def bhold(stub: BholdStub, state: BholdState) -> Iterator[BholdConnector]:
    c = BholdConnector(settings(stub))
    yield c
    c.close()


def no_value_in(inventory: SystemInventory) -> None:
    text = repr(inventory).casefold()
    assert [v for v in VALUES if v.casefold() in text] == []


def sent(stub: BholdStub) -> list[tuple[str, ...]]:
    return [tuple(c.text or "" for c in etree.fromstring(s.body)[0][0]) for s in stub.seen]


def test_a_healthy_bhold_is_described(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    assert describes_data(bhold) is bhold
    before = state.snapshot()
    inv = bhold.inventory(timeout=T)
    assert (inv.system, inv.label) == ("bhold", "BHOLD")
    assert inv.technology == "SOAP (zeep) to the BHOLD Core script service"
    assert inv.persons == len(PEOPLE) and inv.version is None
    names = {a.name: a.category for a in inv.attributes}
    assert set(names) == {
        "Description", "Alias", "FirstName", "MiddleName", "LastName", "UUID", "Language",
        "DisplayName", "Email", "EmployeeID", "Roles", "OrgUnits", "Permissions",
    }  # fmt: skip
    assert names["Roles"] is names["OrgUnits"] is names["Permissions"] is Category.ACCESS
    assert names["Email"] is Category.CONTACT and names["Alias"] is Category.IDENTITY
    assert inv.kept == ()
    assert inv.notes == (VISIBLE_ONLY, NOTHING_KEPT)
    no_value_in(inv)
    # Read-only: two GetInfo calls, the schema's and the documented "all users" form.
    assert set(stub.operations()) == {"GetInfo"}
    assert sorted(sent(stub)) == [("attributetypes", "", "", ""), ("users", "", "", "")]
    assert state.snapshot() == before


def test_the_count_follows_bhold(stub: BholdStub, bhold: BholdConnector, state: BholdState) -> None:
    seed_people(state, [("mxoll", "Mika Xoll", "Mika", "Xoll", "", "")])
    assert bhold.inventory(timeout=T).persons == 4
    stub.state = BholdState()
    inv = bhold.inventory(timeout=T)
    assert inv.persons == 0 and VISIBLE_ONLY in inv.notes


def test_an_attribute_type_configured_by_id_is_named_as_bhold_names_it(
    stub: BholdStub, state: BholdState
) -> None:
    email = next(i for i, d in state.snapshot().attribute_types.items() if d == "Email")
    c = BholdConnector(settings(stub, attribute_types={"mail": str(email)}))
    try:
        inv = c.inventory(timeout=T)
    finally:
        c.close()
    names = {a.name for a in inv.attributes}
    assert "Email" in names and str(email) not in names


def test_an_attribute_type_bhold_does_not_list_is_a_note(
    stub: BholdStub, state: BholdState
) -> None:
    c = BholdConnector(settings(stub, attribute_types={**TYPES, "city": "City"}))
    try:
        inv = c.inventory(timeout=T)
    finally:
        c.close()
    assert "City" in {a.name for a in inv.attributes}
    assert "attribute_types.city (City) is not a type BHOLD lists" in inv.notes


def test_no_attribute_types_configured_asks_only_for_the_users(
    stub: BholdStub, state: BholdState
) -> None:
    c = BholdConnector(settings(stub, attribute_types={}))
    try:
        inv = c.inventory(timeout=T)
    finally:
        c.close()
    assert inv.persons == 3 and "Email" not in {a.name for a in inv.attributes}
    assert sent(stub) == [("users", "", "", "")]


def test_a_count_bhold_answers_with_a_fault_is_a_note(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    c = BholdConnector(settings(stub, attribute_types={}))
    stub.fail("fault", operation="GetInfo")
    try:
        inv = c.inventory(timeout=T)
    finally:
        c.close()
    assert inv.persons is None
    assert inv.notes == ("the users could not be counted (ConnectorError)", NOTHING_KEPT)


def test_a_refusal_is_denied(stub: BholdStub, bhold: BholdConnector, state: BholdState) -> None:
    stub.fail("auth", times=5)
    with pytest.raises(Denied):
        bhold.inventory(timeout=T)


def test_an_unreachable_bhold_is_unreachable(stub: BholdStub, state: BholdState) -> None:
    s = settings(stub)
    dead = replace(s.http, url=f"https://127.0.0.1:{closed_port()}/BHOLD/Core/b1scriptservice.asmx")
    c = BholdConnector(replace(s, http=dead))
    try:
        with pytest.raises(Unreachable):
            c.inventory(timeout=T)
    finally:
        c.close()


def test_a_hung_bhold_times_out_within_the_timeout(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    stub.fail("hang", times=5, seconds=10)
    started = time.monotonic()
    with pytest.raises(TimedOut):
        bhold.inventory(timeout=1.5)
    assert time.monotonic() - started < 3.5


def test_an_unexpected_document_is_a_note_not_a_count(stub: BholdStub, state: BholdState) -> None:
    c = BholdConnector(settings(stub, attribute_types={}))
    original = state.get_info
    state.get_info = lambda *a: "<Bhold><Unexpected/></Bhold>"  # type: ignore[method-assign]
    try:
        inv = c.inventory(timeout=T)
    finally:
        state.get_info = original  # type: ignore[method-assign]
        c.close()
    assert inv.persons is None and "the users could not be counted (ConnectorError)" in inv.notes
