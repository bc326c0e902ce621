"""What the BHOLD connector does where BHOLD's documentation is silent (mim-apis-checked.md 5.3,
5.5, 5.6, 5.14, 5.15): every unknown fails safe. An ExecuteXml answer not recognised as
success fails the step with what to check (and a retry reads back what happened); a server
naming ExecuteXml's parameter otherwise faults until its WSDL is put in place; an attribute
type BHOLD does not list is an error, never "no one"; core fields are read from the KEY/VALUE
list too, as the reference's C# sample reads them. Faults live in the stand-in
(demo/bhold_stub.py, demo/bhold_fixture.py), never in the connector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors._shared.http import HttpSettings
from connectors.base import Change, IdKind, ObjectRef, Query, QueryKind
from connectors.bhold.connector import BholdConnector, BholdSettings
from connectors.bhold.search import UserSearch
from connectors.bhold.soap_text import parse_user
from connectors.errors import ConnectorError
from demo.bhold_fixture import BholdState, ReplyShape, seed_people
from demo.bhold_stub import BASIC_USER, BholdStub
from tests.connectors.bhold import wsdl_variants

T = 5.0
TYPES = {"mail": "Email", "employee_id": "EmployeeID", "display_name": "DisplayName"}
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
    stub.state = BholdState()
    stub.wsdl = wsdl_variants.SHIPPED
    stub.seen.clear()
    yield stub.state
    stub.release()
    stub.wsdl = wsdl_variants.SHIPPED


@pytest.fixture
def people(state: BholdState) -> dict[str, int]:
    return seed_people(state, PEOPLE)


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


def ref(uid: int) -> ObjectRef:
    return ObjectRef("bhold", str(uid))


# -- 5.14: attribute types ---------------------------------------------------------------


def test_attribute_types_have_no_defaults(stub: BholdStub) -> None:
    with pytest.raises(ValueError, match="attribute_types"):
        BholdSettings(http=settings(stub).http, domain="CORP")  # type: ignore[call-arg]


def test_a_search_by_an_attribute_type_bhold_does_not_list_is_an_error_not_no_one(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    state.remove_attribute_type("Email")  # BHOLD's `users` would answer "" for it

    for call in (
        lambda: bhold.search(Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), timeout=T),
        lambda: bhold.verify_absent({IdKind.MAIL: "jane@example.test"}, timeout=T),
    ):
        with pytest.raises(ConnectorError, match=r"attribute_types\.mail") as caught:
            call()
        assert "jane" not in str(caught.value)
    assert all(b"<ns0:functionName>users<" not in s.body for s in stub.seen)  # none searched
    # The others still work, and once BHOLD lists it, so does mail: nothing cached the miss.
    assert bhold.search(Query(QueryKind.EMPLOYEE_ID, "4711"), timeout=T)
    state.add_attribute_type("Email")
    assert bhold.search(Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), timeout=T)


def test_attribute_types_are_listed_once(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int]
) -> None:
    for _ in range(3):
        assert bhold.search(Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), timeout=T)
    listed = [s for s in stub.seen if b">attributetypes<" in s.body]
    assert len(listed) == 1


def test_an_attribute_type_given_by_its_id_matches_the_list_key_by_its_name(
    stub: BholdStub, state: BholdState, people: dict[str, int]
) -> None:
    email, employee = state.add_attribute_type("Email"), state.add_attribute_type("EmployeeID")
    c = BholdConnector(
        settings(stub, attribute_types={"mail": str(email), "employee_id": str(employee)})
    )
    try:
        (hit,) = c.search(Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), timeout=T)
        assert c.verify_absent({IdKind.EMPLOYEE_ID: "4711"}, timeout=T).remaining == (hit.ref,)
    finally:
        c.close()
    assert hit.ref == ref(people["jdoe"])
    assert hit.identifiers[IdKind.MAIL] == "jane@example.test"  # list key "Email", id given
    assert hit.identifiers[IdKind.EMPLOYEE_ID] == "4711"


# -- 5.5: ExecuteXml's parameter name ----------------------------------------------------


def test_a_server_naming_the_script_parameter_otherwise_faults_and_nothing_changes(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    stub.wsdl = wsdl_variants.renamed_script_parameter(b"script")
    plan = bhold.plan_delete(ref(people["jdoe"]), timeout=T)
    before = state.snapshot()

    with pytest.raises(ConnectorError, match="SOAP fault"):  # ASMX bound null
        bhold.apply_delete(plan, timeout=T)
    assert state.snapshot() == before


def test_the_servers_wsdl_put_in_place_sends_the_parameter_by_its_name(
    stub: BholdStub, state: BholdState, people: dict[str, int], tmp_path: Path
) -> None:
    stub.wsdl = wsdl_variants.renamed_script_parameter(b"script")
    saved = tmp_path / "b1scriptservice.wsdl"
    saved.write_bytes(stub.wsdl)
    c = BholdConnector(settings(stub, wsdl=saved))
    try:
        plan = c.plan_delete(ref(people["jdoe"]), timeout=T)
        assert c.apply_delete(plan, timeout=T).done
        assert c.doctor(timeout=T)[4].verdict.value == "ok"
    finally:
        c.close()
    assert state.user(people["jdoe"]) is None
    (script,) = [s.body for s in stub.seen if s.operation == "ExecuteXml"]
    assert b"script>" in script and b"xml>" not in script


# -- 5.6: ExecuteXml's result ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["blank", "xml"])
def test_an_update_answered_unrecognisably_is_not_done_and_a_retry_reads_it_back(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int], kind: str
) -> None:
    uid = people["jdoe"]
    plan = bhold.plan_update(ref(uid), (Change("givenName", "Janet"),), timeout=T)
    stub.fail(kind)  # the script runs; its answer is "" or XML where the WSDL says text

    with pytest.raises(ConnectorError, match="not recognised as success") as caught:
        bhold.apply_update(plan, timeout=T)

    assert "doctor" in str(caught.value) and "portal" in str(caught.value)
    assert "Janet" not in str(caught.value)
    user = state.user(uid)
    assert user is not None and user.firstname == "Janet"  # BHOLD did it; nobody assumed so
    again = bhold.apply_update(plan, timeout=T)
    assert (again.done, again.detail) == (True, "already set")


@pytest.mark.parametrize("kind", ["blank", "xml"])
def test_a_deletion_answered_unrecognisably_is_not_done_until_read_back(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int], kind: str
) -> None:
    plan = bhold.plan_delete(ref(people["jdoe"]), timeout=T)
    stub.fail(kind)
    with pytest.raises(ConnectorError, match="not recognised as success"):
        bhold.apply_delete(plan, timeout=T)
    again = bhold.apply_delete(plan, timeout=T)
    assert (again.done, again.already_absent) == (True, True)


def test_a_result_typed_as_xml_in_the_servers_wsdl_is_read_as_the_report(
    stub: BholdStub, state: BholdState, people: dict[str, int], tmp_path: Path
) -> None:
    stub.wsdl = wsdl_variants.xml_result()
    saved = tmp_path / "b1scriptservice.wsdl"
    saved.write_bytes(stub.wsdl)
    c = BholdConnector(settings(stub, wsdl=saved))
    try:
        uid = people["jdoe"]
        plan = c.plan_update(ref(uid), (Change("givenName", "Janet"),), timeout=T)
        assert c.apply_update(plan, timeout=T).done  # the server answers with an element
        stub.fail("function", at=0)  # a refusal, reported as XML, is still a refusal
        plan = c.plan_update(ref(uid), (Change("sn", "Roe"),), timeout=T)
        with pytest.raises(ConnectorError, match="rolled it back"):
            c.apply_update(plan, timeout=T)
    finally:
        c.close()
    user = state.user(uid)
    assert user is not None and (user.firstname, user.lastname) == ("Janet", "Doe")


# -- 5.15: reply shapes ------------------------------------------------------------------


def test_replies_shaped_as_the_reference_sample_reads_them_work_throughout(
    bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    state.shape = ReplyShape.SAMPLE  # `item`, description and alias only in the list
    uid = people["jdoe"]

    (hit,) = bhold.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert hit.ref == ref(uid) and hit.label == "Jane Doe (CORP\\jdoe)"
    assert hit.identifiers[IdKind.ACCOUNT] == "jdoe"
    assert bhold.search(Query(QueryKind.NAME, "Jane Doe"), timeout=T) == [hit]
    record = bhold.read(ref(uid), timeout=T)
    assert record.attributes["Alias"].values == ("CORP\\jdoe",)
    assert record.attributes["Description"].values == ("Jane Doe",)
    assert record.attributes["Roles"].values == ("Employee",)
    plan = bhold.plan_update(ref(uid), (Change("displayName", "Jane Roe"),), timeout=T)
    assert bhold.apply_update(plan, timeout=T).done
    assert not bhold.verify_absent({IdKind.ACCOUNT: "jdoe"}, timeout=T).absent


def test_the_items_attribute_wins_over_the_list_key() -> None:
    user = parse_user(
        '<ITEM id="7" description="Attr"><LIST><ITEM><KEY>bholdDescription</KEY>'
        "<VALUE>Listed</VALUE></ITEM><ITEM><KEY>BHOLDDEFALIAS</KEY><VALUE>CORP\\x</VALUE>"
        "</ITEM></LIST></ITEM>"
    )
    assert user is not None
    assert (user.description, user.alias) == ("Attr", "CORP\\x")


def test_a_record_showing_no_alias_is_an_error_never_absent() -> None:
    """BHOLD's `user` answering without an alias anywhere: the search cannot compare, so it
    says so rather than report no one (a double of GetInfo: the search is under test)."""
    answers = {
        "users": '<ITEMS><ITEM id="7" description="Someone"/></ITEMS>',
        "user": '<ITEM id="7" description="Someone" language="1"><LIST/></ITEM>',
    }
    search = UserSearch("bhold", "CORP", {}, 10)
    clauses = search.verify_clauses({IdKind.ACCOUNT: "jdoe"})
    with pytest.raises(ConnectorError, match="no default alias"):
        search.hits(clauses, lambda fn, *args: answers[fn])
