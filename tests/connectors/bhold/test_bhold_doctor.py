"""BHOLD's `doctor`: the server's own ?WSDL against the one zeep reads, the configured attribute
types in GetInfo `attributetypes`, and that the account can read users; read-only, within its
timeout, never raising. Each fault is put into the stand-in (demo/bhold_stub.py,
demo/bhold_fixture.py): another WSDL served, an attribute type removed, a refusal or a hang;
the connector is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from connectors._shared.http import HttpSettings
from connectors.bhold.connector import HEALTH_FILTER, BholdConnector, BholdSettings
from connectors.capabilities import self_checks
from connectors.doctor import Check, Verdict
from demo.bhold_fixture import BholdState, seed_people
from demo.bhold_stub import BASIC_USER, BholdStub
from demo.estate import DemoEstate
from tests.connectors.bhold import wsdl_variants
from tests.support.ports import closed_port

T = 5.0
TYPES = {"mail": "Email", "employee_id": "EmployeeID", "display_name": "DisplayName"}
PEOPLE = [("jdoe", "Jane Doe", "Jane", "Doe", "jane@example.test", "4711")]
WSDL_CHECK = "BHOLD serves its WSDL"
OPERATIONS = "BHOLD's WSDL offers GetInfo and ExecuteXml"
GETINFO_PARAMS = "BHOLD's GetInfo parameters match the connector's WSDL"
GETINFO_RESULT = "BHOLD's GetInfo result matches the connector's WSDL"
SCRIPT_PARAMS = "BHOLD's ExecuteXml parameters match the connector's WSDL"
SCRIPT_RESULT = "BHOLD's ExecuteXml result matches the connector's WSDL"
TYPES_CHECK = "BHOLD has the configured attribute types"
USERS_CHECK = "The account can read BHOLD users"
ALL = [
    WSDL_CHECK,
    OPERATIONS,
    GETINFO_PARAMS,
    GETINFO_RESULT,
    SCRIPT_PARAMS,
    SCRIPT_RESULT,
    TYPES_CHECK,
    USERS_CHECK,
]


@pytest.fixture(scope="module")
def stub() -> Iterator[BholdStub]:
    with BholdStub() as s:
        yield s


@pytest.fixture
def state(stub: BholdStub) -> Iterator[BholdState]:
    """Fresh state, traffic log and the shipped WSDL for each test; faults never outlive it."""
    stub.state = BholdState()
    stub.wsdl = wsdl_variants.SHIPPED
    seed_people(stub.state, PEOPLE)
    stub.seen.clear()
    yield stub.state
    stub.release()
    stub.wsdl = wsdl_variants.SHIPPED


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


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(set(names)) == len(names)
    return {c.name: c for c in checks}


def not_ok(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks if c.verdict is not Verdict.OK}


def test_every_check_is_ok_against_the_demo_estate(tmp_path: Path) -> None:
    estate = DemoEstate(tmp_path)
    try:
        connectors = estate.connectors()
        try:
            (bhold,) = [c for c in connectors if c.name == "bhold"]
            doctor = self_checks(bhold)
            assert doctor is not None  # what `python -m bot doctor` asks
            checks = doctor.doctor(timeout=T)
        finally:
            for c in connectors:
                c.close()
    finally:
        estate.close()
    assert [c.name for c in checks] == ALL
    assert not_ok(checks) == {}
    assert "Email, EmployeeID, DisplayName" in by_name(checks)[TYPES_CHECK].detail


def test_doctor_writes_nothing_and_reads_no_person(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    before = state.snapshot()
    checks = bhold.doctor(timeout=T)
    assert not_ok(checks) == {}
    assert state.snapshot() == before
    assert set(stub.operations()) == {"GetInfo"}  # no ExecuteXml
    sent = [tuple(c.text or "" for c in etree.fromstring(s.body)[0][0]) for s in stub.seen]
    assert sorted(sent) == [("attributetypes", "", "", ""), ("users", HEALTH_FILTER, "", "")]
    assert all("Jane" not in c.detail and "jdoe" not in c.detail for c in checks)


SCRIPT_ALL = {OPERATIONS, SCRIPT_PARAMS, SCRIPT_RESULT}
WSDL_FAULTS: list[tuple[str, Callable[[], bytes], set[str], str]] = [
    ("renamed parameter", wsdl_variants.renamed_script_parameter, {SCRIPT_PARAMS}, "script"),
    ("XML result type", wsdl_variants.xml_result, {SCRIPT_RESULT}, "ExecuteXmlResult (xml)"),
    ("renamed GetInfo one", wsdl_variants.renamed_getinfo_parameter, {GETINFO_PARAMS}, "param1"),
    ("missing operation", wsdl_variants.without_execute_xml, SCRIPT_ALL, "no ExecuteXml"),
    ("another namespace", wsdl_variants.other_namespace, {OPERATIONS}, "http://tempuri.org/"),
]


@pytest.mark.parametrize(
    ("served", "names", "shown"),
    [f[1:] for f in WSDL_FAULTS],
    ids=[f[0] for f in WSDL_FAULTS],
)
def test_each_difference_in_the_servers_wsdl_is_wrong_with_its_fix(
    stub: BholdStub,
    bhold: BholdConnector,
    state: BholdState,
    served: Callable[[], bytes],
    names: set[str],
    shown: str,
) -> None:
    stub.wsdl = served()
    checks = bhold.doctor(timeout=T)

    faults = not_ok(checks)
    assert set(faults) == names
    assert all(c.verdict is Verdict.WRONG for c in faults.values())
    assert any(shown in c.detail for c in faults.values())
    for check in faults.values():
        if check.name == OPERATIONS:
            assert "bhold.service.url" in check.fix
        else:  # the server's own description is the fix
            assert f"{stub.https_url}?WSDL" in check.fix and "bhold.wsdl" in check.fix
    assert [c.name for c in checks] == ALL


def test_a_wsdl_that_cannot_be_fetched_cannot_tell(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    stub.wsdl = b"<html>Service Unavailable</html>"
    (first, *rest) = bhold.doctor(timeout=T)
    assert (first.name, first.verdict) == (WSDL_CHECK, Verdict.WRONG)
    assert "?WSDL" in first.fix
    assert [c.name for c in rest] == [TYPES_CHECK, USERS_CHECK]


def test_a_missing_attribute_type_is_named_with_its_setting(
    bhold: BholdConnector, state: BholdState
) -> None:
    state.remove_attribute_type("EmployeeID")
    faults = not_ok(bhold.doctor(timeout=T))
    assert set(faults) == {TYPES_CHECK}
    check = faults[TYPES_CHECK]
    assert check.verdict is Verdict.WRONG
    assert "attribute_types.employee_id (EmployeeID)" in check.detail
    assert "attribute_types.employee_id" in check.fix and "mail" not in check.fix


def test_no_attribute_types_listed_cannot_tell(bhold: BholdConnector, state: BholdState) -> None:
    for name in TYPES.values():
        state.remove_attribute_type(name)
    check = by_name(bhold.doctor(timeout=T))[TYPES_CHECK]
    assert check.verdict is Verdict.CANNOT_TELL and "attributetypes" in check.fix


def test_an_attribute_type_named_by_its_id_is_found(stub: BholdStub, state: BholdState) -> None:
    email = state.add_attribute_type("Email")
    c = BholdConnector(settings(stub, attribute_types={"mail": str(email)}))
    try:
        assert not_ok(c.doctor(timeout=T)) == {}
    finally:
        c.close()


def test_no_attribute_types_configured_is_ok(stub: BholdStub, state: BholdState) -> None:
    c = BholdConnector(settings(stub, attribute_types={}))
    try:
        check = by_name(c.doctor(timeout=T))[TYPES_CHECK]
    finally:
        c.close()
    assert check.verdict is Verdict.OK and "account only" in check.detail


def test_refused_credentials_are_wrong_for_reading_users(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    stub.fail("auth", times=10, operation="GetInfo")
    checks = by_name(bhold.doctor(timeout=T))
    assert checks[USERS_CHECK].verdict is Verdict.WRONG
    assert "password" in checks[USERS_CHECK].fix
    assert checks[TYPES_CHECK].verdict is Verdict.CANNOT_TELL


def test_a_fault_reading_users_cannot_tell(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    stub.fail("fault", times=10, operation="GetInfo")
    checks = by_name(bhold.doctor(timeout=T))
    assert checks[USERS_CHECK].verdict is Verdict.CANNOT_TELL
    assert "SOAP fault" in checks[USERS_CHECK].detail


def test_a_hung_bhold_is_reported_within_the_timeout(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    stub.fail("hang", times=10, seconds=10, operation="GetInfo")
    started = time.monotonic()
    checks = by_name(bhold.doctor(timeout=1.0))
    assert time.monotonic() - started < 2.0
    assert checks[TYPES_CHECK].verdict is Verdict.CANNOT_TELL
    assert checks[USERS_CHECK].verdict is Verdict.CANNOT_TELL


def test_an_unreachable_bhold_cannot_tell_and_never_raises(
    stub: BholdStub, state: BholdState
) -> None:
    s = settings(stub)
    dead = replace(s.http, url=f"https://127.0.0.1:{closed_port()}/BHOLD/Core/b1scriptservice.asmx")
    c = BholdConnector(replace(s, http=dead))
    try:
        checks = c.doctor(timeout=T)
    finally:
        c.close()
    assert [c.name for c in checks] == [WSDL_CHECK, TYPES_CHECK, USERS_CHECK]
    assert {c.verdict for c in checks} == {Verdict.CANNOT_TELL}
    assert all(c.fix for c in checks)
