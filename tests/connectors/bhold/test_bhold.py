"""The BHOLD connector over zeep and requests, against the loopback BHOLD script web service
(demo/bhold_stub.py) answering from fixture state (demo/bhold_fixture.py).

What is tested is what reaches the wire (GetInfo filters, ExecuteXml scripts), how answers are
read, and the errors. The connector contract suite
(tests/connectors/test_connector_contract.py) runs here too, over a `world` of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from lxml import etree

from connectors._shared.http import HttpSettings
from connectors.base import (
    RANK_TARGET,
    Connector,
    DeletePlan,
    Hit,
    IdKind,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
)
from connectors.bhold.connector import BholdConnector, BholdSettings
from connectors.bhold.soap_text import ScriptOutcome, delete_script, like_escape, script_outcome
from connectors.errors import ConnectorError, Denied, NotFound, NotSupported, TimedOut
from demo.bhold_fixture import BholdState, like, seed_people
from demo.bhold_stub import BASIC_USER, NTLM_USER, BholdStub
from tests.connectors.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.connectors.test_connector_contract import Subject, World, only_hit
from tests.support.ports import closed_port
from tests.support.stalled import stalled_body_url

T = 5.0
SECRET = "jane.o'doe-4711"
TYPES = {"mail": "Email", "employee_id": "EmployeeID", "display_name": "DisplayName"}
PEOPLE = [
    ("ct-zoe", "Zoë Contract", "Zoë", "Contract", "zoe.contract@example.test", "880001"),
    ("ct-other", "Otto Other", "Otto", "Other", "otto.other@example.test", "880002"),
    ("a_b", "Anna Under", "Anna", "Under", "a_b@example.test", "880003"),
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


def basic(stub: BholdStub) -> HttpSettings:
    return HttpSettings(
        url=stub.https_url,
        auth="basic",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_file=Path(stub.ca_file),
    )


def settings(stub: BholdStub, **kw: object) -> BholdSettings:
    values: dict = {"http": basic(stub), "domain": "CORP", "attribute_types": TYPES, **kw}
    return BholdSettings(**values)


@pytest.fixture
def bhold(stub: BholdStub, state: BholdState) -> Iterator[BholdConnector]:
    c = BholdConnector(settings(stub))
    yield c
    c.close()


@pytest.fixture
def people(state: BholdState) -> dict[str, int]:
    return seed_people(state, PEOPLE)


def bodies(stub: BholdStub, operation: str) -> list[etree._Element]:
    """The Body's operation element of each request of `operation` that reached the stub."""
    out = []
    for seen in stub.seen:
        if seen.operation == operation:
            root = etree.fromstring(seen.body)
            out.append(root[0][0])
    return out


def getinfo_args(stub: BholdStub) -> list[tuple[str, ...]]:
    return [
        tuple(c.text or "" for c in body)  # functionName, parameter1..3
        for body in bodies(stub, "GetInfo")
    ]


# -- the contract suite ----------------------------------------------------------------


@pytest.fixture
def world(stub: BholdStub, state: BholdState) -> Iterator[World]:
    seed_people(state, PEOPLE[:2])
    s = settings(stub)
    c = BholdConnector(s)
    counter = iter(range(1, 1000))

    def fresh() -> Hit:
        n = next(counter)
        person = (f"ct-del{n}", f"Dora Delete{n}", "Dora", f"Delete{n}", "", str(881000 + n))
        seed_people(state, [person])
        return only_hit(c, Query(QueryKind.NAME, f"ct-del{n}"))

    @contextmanager
    def too_slow() -> Iterator[tuple[Connector, float]]:
        stub.fail("hang", times=2, seconds=5)
        try:
            yield c, 0.5
        finally:
            stub.release()

    dead = replace(s.http, url=f"https://127.0.0.1:{closed_port()}/BHOLD/Core/b1scriptservice.asmx")
    yield World(
        c,
        Subject("ct-zoe", "zoe.contract@example.test", "880001", "Zoë Contract", "Zoë Con"),
        ObjectRef("bhold", "999999"),
        fresh,
        unreachable=lambda: BholdConnector(replace(s, http=dead)),
        too_slow=too_slow,
    )
    c.close()


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain", ["", "   ", "CORP\\X", "corp.example", "A" * 16, "C\x00", "C|RP"]
)
def test_a_domain_that_cannot_be_a_netbios_name_is_refused(stub: BholdStub, domain: str) -> None:
    with pytest.raises(ValueError, match="NetBIOS"):
        BholdSettings(http=basic(stub), domain=domain, attribute_types={})


def test_the_wsdl_ships_next_to_the_connector_and_the_stub_serves_it(stub: BholdStub) -> None:
    s = BholdSettings(http=basic(stub), domain="CORP", attribute_types={})
    assert s.wsdl.is_file() and s.wsdl.parent.name == "wsdl"
    reply = requests.get(f"{stub.https_url}?WSDL", auth=BASIC_USER, verify=stub.ca_file, timeout=T)
    assert reply.status_code == 200 and stub.https_url.encode() in reply.content
    assert b'name="B1ScriptServiceSoap"' in reply.content


# -- search ------------------------------------------------------------------------------

SEARCHES = [
    (Query(QueryKind.NAME, "ct-zoe"), "CORP\\ct-zoe", ""),
    (Query(QueryKind.NAME, "CT-ZOE"), "CORP\\CT-ZOE", ""),
    (Query(QueryKind.NAME, "corp\\ct-zoe"), "corp\\ct-zoe", ""),
    (Query(QueryKind.NAME, "Zoë Contract"), "Zoë Contract", "DisplayName"),
    (Query(QueryKind.PREFIX, "ct-zo"), "CORP\\ct-zo%", ""),
    (Query(QueryKind.PREFIX, "zoë c"), "zoë c%", "DisplayName"),
    (
        Query(QueryKind.MAIL_OR_UPN, "ZOE.contract@example.test"),
        "ZOE.contract@example.test",
        "Email",
    ),
    (Query(QueryKind.EMPLOYEE_ID, "880001"), "880001", "EmployeeID"),
    (Query(QueryKind.ATTRIBUTE, "880001", "employee_id"), "880001", "EmployeeID"),
    (Query(QueryKind.ATTRIBUTE, "ct-zoe", "sAMAccountName"), "CORP\\ct-zoe", ""),
]


@pytest.mark.parametrize(("query", "pattern", "attribute"), SEARCHES, ids=lambda v: str(v)[:30])
def test_each_kind_of_search_sends_its_filter_and_finds_the_user(
    stub: BholdStub,
    bhold: BholdConnector,
    people: dict[str, int],
    query: Query,
    pattern: str,
    attribute: str,
) -> None:
    (hit,) = bhold.search(query, timeout=T)

    assert hit.ref == ObjectRef("bhold", str(people["ct-zoe"]))
    assert hit.label == "Zoë Contract (CORP\\ct-zoe)"
    assert hit.identifiers == {
        IdKind.ACCOUNT: "ct-zoe",
        IdKind.DOMAIN: "CORP",
        IdKind.DISPLAY_NAME: "Zoë Contract",
        IdKind.MAIL: "zoe.contract@example.test",
        IdKind.EMPLOYEE_ID: "880001",
    }
    sent = getinfo_args(stub)
    assert ("users", pattern, attribute, "") in sent
    assert {s[0] for s in sent} == {"attributetypes", "users", "user"}
    assert sent[0][0] == "attributetypes"  # the attribute types are looked up first


@pytest.mark.parametrize(
    ("term", "pattern"),
    [("a%b", "CORP\\a[%]b"), ("a_b", "CORP\\a[_]b"), ("a[b]", "CORP\\a[[]b]"), ("a\\b", "a\\b")],
)
def test_wildcards_in_a_term_are_sent_bracketed_and_match_only_themselves(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], term: str, pattern: str
) -> None:
    hits = bhold.search(Query(QueryKind.NAME, term), timeout=T)

    assert [h.identifiers[IdKind.ACCOUNT] for h in hits] == (["a_b"] if term == "a_b" else [])
    assert ("users", pattern, "", "") in getinfo_args(stub)


def test_every_answer_is_compared_again_when_bhold_matches_loosely(
    bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    state.loose = True  # `users` answers with everyone

    assert [
        h.identifiers[IdKind.ACCOUNT] for h in bhold.search(Query(QueryKind.NAME, "a_b"), timeout=T)
    ] == ["a_b"]
    assert bhold.search(Query(QueryKind.NAME, "axb"), timeout=T) == []
    assert bhold.search(Query(QueryKind.MAIL_OR_UPN, "nobody@example.test"), timeout=T) == []
    prefix = bhold.search(Query(QueryKind.PREFIX, "ct-"), timeout=T)
    assert sorted(h.identifiers[IdKind.ACCOUNT] for h in prefix) == ["ct-other", "ct-zoe"]


def test_typographic_apostrophes_are_searched_too(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    seed_people(state, [("obrien", "Seán O\u2019Brien", "Seán", "O\u2019Brien", "", "")])
    (hit,) = bhold.search(Query(QueryKind.NAME, "Seán O'Brien"), timeout=T)
    assert hit.identifiers[IdKind.ACCOUNT] == "obrien"


def test_an_unmapped_kind_of_search_is_not_supported_and_sends_nothing(
    stub: BholdStub, state: BholdState
) -> None:
    c = BholdConnector(settings(stub, attribute_types={}))
    try:
        for query in (
            Query(QueryKind.MAIL_OR_UPN, "a@b.test"),
            Query(QueryKind.EMPLOYEE_ID, "4711"),
            Query(QueryKind.ATTRIBUTE, "x", "department"),
        ):
            with pytest.raises(NotSupported):
                c.search(query, timeout=T)
        with pytest.raises(NotSupported):
            c.verify_absent({IdKind.MAIL: "a@b.test"}, timeout=T)
    finally:
        c.close()
    assert stub.seen == []


def test_max_hits_caps_the_users_read(stub: BholdStub, state: BholdState) -> None:
    seed_people(state, [(f"many{n}", f"Many {n}", "", "", "", "") for n in range(5)])
    c = BholdConnector(settings(stub, max_hits=2))
    try:
        assert len(c.search(Query(QueryKind.PREFIX, "many"), timeout=T)) == 2
    finally:
        c.close()
    assert [a[0] for a in getinfo_args(stub)].count("user") == 2


# -- read --------------------------------------------------------------------------------


def test_read_gives_names_list_values_roles_units_and_permissions(
    bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["ct-zoe"]
    extra = state.add_role("Payroll clerk", ["Approve payslips"])
    state.join(uid, roles=[extra])
    record = bhold.read(ObjectRef("bhold", str(uid)), timeout=T)
    values = {k: v.values for k, v in record.attributes.items()}

    assert values["Alias"] == ("CORP\\ct-zoe",)
    assert values["Description"] == values["DisplayName"] == ("Zoë Contract",)
    assert (values["FirstName"], values["LastName"]) == (("Zoë",), ("Contract",))
    assert values["Email"] == ("zoe.contract@example.test",)
    assert values["UUID"] == (state.user(uid).uuid,)
    assert set(values["Roles"]) == {"Employee", "Payroll clerk"}
    assert values["OrgUnits"] == ("Staff",)
    assert set(values["Permissions"]) == {"Read intranet", "Approve payslips"}
    assert all(v.source == "bhold" for v in record.attributes.values())


def test_search_records_reads_with_the_search_and_asks_for_the_user_once(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    query = Query(QueryKind.NAME, "ct-zoe")
    (found,) = bhold.search_records(query, limit=1, timeout=T)
    asked = [a[:2] for a in getinfo_args(stub)]
    uid = str(people["ct-zoe"])
    # The search's own `user` record serves the read: memberships are all it adds.
    assert [f for f, _ in asked].count("user") == 1
    assert [f for f, _ in asked][-3:] == ["userroles", "userunits", "userpermissions"]
    assert all(p == uid for f, p in asked if f.startswith("user") and f != "users")
    assert found.hit == bhold.search(query, timeout=T)[0]
    assert found.record == bhold.read(found.hit.ref, timeout=T)


def test_memberships_the_search_cannot_read_leave_the_record_to_the_read(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    """A membership call BHOLD faults inside search_records leaves that record out: the
    hits still answer, and a read reports the fault as a read did. A fault in the search's
    own calls fails the call, as it fails a search."""
    query = Query(QueryKind.NAME, "ct-zoe")
    answered = bhold.search(query, timeout=T)
    stub.fail("fault", operation="GetInfo")  # the next GetInfo: the search's `users`
    with pytest.raises(ConnectorError, match="SOAP fault"):
        bhold.search_records(query, limit=1, timeout=T)
    get_info = state.get_info

    def faulting(function: str, *params: str) -> str:  # the service faults on userroles
        if function == "userroles":
            raise ValueError("the stand-in answers this with a SOAP fault")
        return get_info(function, *params)

    state.get_info = faulting  # type: ignore[method-assign]
    (found,) = bhold.search_records(query, limit=1, timeout=T)
    assert found.hit == answered[0] and found.record is None
    with pytest.raises(ConnectorError, match="SOAP fault"):
        bhold.read(found.hit.ref, timeout=T)


@pytest.mark.parametrize("ref_id", ["CORP\\ct-zoe", "%", "1e3", "-1", "\uff11\uff12", "no_id:12"])
def test_a_ref_that_is_not_a_number_is_not_found_without_a_request(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int], ref_id: str
) -> None:
    with pytest.raises(NotFound):
        bhold.read(ObjectRef("bhold", ref_id), timeout=T)
    with pytest.raises(NotFound):
        bhold.apply_delete(
            DeletePlan(ObjectRef("bhold", ref_id), PlanAction.DELETE, "x"), timeout=T
        )
    assert stub.seen == []


# -- erasure -----------------------------------------------------------------------------


def test_the_plan_runs_after_the_sources_with_a_note_on_provisioning(
    bhold: BholdConnector, people: dict[str, int]
) -> None:
    plan = bhold.plan_delete(ObjectRef("bhold", str(people["ct-zoe"])), timeout=T)

    assert plan.action is PlanAction.DELETE and plan.manual == ()
    assert plan.authority_rank == RANK_TARGET + 20
    assert any("provisioning re-creates" in n for n in plan.notes)
    assert "1 role(s) and 1 org unit(s)" in plan.summary


def test_a_user_in_no_org_unit_is_planned_with_a_manual_step(
    bhold: BholdConnector, state: BholdState
) -> None:
    uid = state.add_user("CORP\\loner", "Lone Ranger")
    plan = bhold.plan_delete(ObjectRef("bhold", str(uid)), timeout=T)
    assert [m.task for m in plan.manual] == [ManualTask.ERASE_BY_HAND]


def test_delete_removes_every_role_then_every_unit_by_number_and_the_user_goes(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["ct-zoe"]
    unit2, role2 = state.add_unit("Finance"), state.add_role("Auditor")
    state.join(uid, roles=[role2], units=[unit2])
    roles, units = state.memberships(uid)
    ref = ObjectRef("bhold", str(uid))
    plan = bhold.plan_delete(ref, timeout=T)

    first = bhold.apply_delete(plan, timeout=T)
    second = bhold.apply_delete(plan, timeout=T)

    assert (first.done, first.already_absent) == (True, False)
    assert (second.done, second.already_absent) == (True, True)
    assert state.user(uid) is None
    (script,) = bodies(stub, "ExecuteXml")
    functions = [(f.get("name"), dict(f.attrib)) for f in script.iter("function")]
    assert functions == [
        *(
            ("roledeleteuser", {"name": "roledeleteuser", "userID": str(uid), "roleID": str(r)})
            for r in sorted(roles)
        ),
        *(
            (
                "OrgUnitdeleteuser",
                {"name": "OrgUnitdeleteuser", "userID": str(uid), "OrgUnitID": str(u)},
            )
            for u in sorted(units)
        ),
    ]
    assert state.user(people["ct-other"]) is not None  # others keep the shared role and unit
    assert state.memberships(people["ct-other"]) != (set(), set())
    with pytest.raises(NotFound):
        bhold.read(ref, timeout=T)
    assert bhold.verify_absent({IdKind.ACCOUNT: "ct-zoe"}, timeout=T).absent


def test_duplicate_aliases_never_put_a_name_in_the_script(
    stub: BholdStub, bhold: BholdConnector, state: BholdState
) -> None:
    unit, role = state.add_unit("Staff"), state.add_role("Employee")
    state.add_attribute_type("DisplayName")
    first = state.add_user("CORP\\dup", "Dup One", units=[unit], roles=[role])
    second = state.add_user("CORP\\dup", "Dup Two", units=[unit], roles=[role])

    hits = bhold.search(Query(QueryKind.NAME, "dup"), timeout=T)
    assert sorted(h.ref.id for h in hits) == sorted([str(first), str(second)])
    plan = bhold.plan_delete(ObjectRef("bhold", str(second)), timeout=T)
    assert bhold.apply_delete(plan, timeout=T).done

    assert state.user(second) is None
    assert state.user(first) is not None and state.memberships(first) == ({role}, {unit})
    (script,) = bodies(stub, "ExecuteXml")
    ids = [v for f in script.iter("function") for k, v in f.attrib.items() if k != "name"]
    assert ids and all(v.isdigit() for v in ids)


def test_a_function_failing_midway_rolls_the_script_back(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["ct-zoe"]
    before = state.snapshot()
    plan = bhold.plan_delete(ObjectRef("bhold", str(uid)), timeout=T)
    stub.fail("function", at=1)  # the role removal runs, the org unit removal fails

    with pytest.raises(ConnectorError, match="rolled it back") as caught:
        bhold.apply_delete(plan, timeout=T)

    assert state.snapshot() == before
    assert "ct-zoe" not in str(caught.value) and "Injected" not in str(caught.value)


def test_a_user_still_there_after_the_script_fails_the_step_at_once(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    uid = people["ct-zoe"]
    hidden = state.add_unit("Board")
    state.hidden_units.add(hidden)  # outside the service account's view: userunits omits it
    state.join(uid, units=[hidden])
    plan = bhold.plan_delete(ObjectRef("bhold", str(uid)), timeout=T)

    with pytest.raises(ConnectorError, match="portal, then retry") as caught:
        bhold.apply_delete(plan, timeout=T)  # a wait would poll for a week for nothing

    assert type(caught.value) is ConnectorError  # not transient: no retry with backoff
    assert state.memberships(uid) == (set(), {hidden})


def test_script_reports_are_read_as_bhold_writes_them() -> None:
    report = (
        "<Bhold><Script><functions><function name='x'/></functions></Script>"
        "<Function><Name>OrgUnitadd</Name><ExecutedXML><function name='OrgUnitadd'/>"
        "</ExecutedXML><Error Number='5' Description='Violation of UNIQUE KEY jdoe'/></Function>"
        "<Function><Name>roleaddOrgUnit</Name><Error Number='0' Description=''/></Function>"
        "<IDS><ID name='@ID@'>35</ID></IDS></Bhold>"
    )
    outcome, failed, _ = script_outcome(report)
    assert outcome is ScriptOutcome.REFUSED
    assert [(e.function, e.number) for e in failed] == [("OrgUnitadd", 5)]
    for success in ("true", " TRUE ", True, "<Bhold><Script><functions/></Script><IDS/></Bhold>"):
        assert script_outcome(success)[0] is ScriptOutcome.SUCCEEDED
    for refusal in ("false", False, "<Bhold><Function><Name>x</Name></Function></Bhold>"):
        outcome, failed, _ = script_outcome(refusal)
        assert outcome is ScriptOutcome.REFUSED and len(failed) == 1
    unrecognised = (None, "", "  ", "ok", "1", "<done/>", "<Bhold", 0, 1, {"x": 1}, b"true")
    for answer in unrecognised:  # never success: the result's type is not documented
        assert script_outcome(answer)[0] is ScriptOutcome.UNRECOGNISED, answer
    with pytest.raises(ValueError):
        delete_script("12", ["CORP\\role"], [])


# -- errors ------------------------------------------------------------------------------

FAULTS = [("fault", ConnectorError), ("auth", Denied), ("hang", TimedOut)]


@pytest.mark.parametrize(("kind", "error"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_its_error_and_never_quotes_the_term(
    stub: BholdStub, state: BholdState, kind: str, error: type[ConnectorError]
) -> None:
    c = BholdConnector(settings(stub, timeout=0.5))
    stub.fail(kind, times=2, seconds=3)
    try:
        with pytest.raises(ConnectorError) as caught:
            c.search(Query(QueryKind.NAME, SECRET), timeout=T)
        health = c.health(timeout=T)
    finally:
        c.close()
    assert type(caught.value) is error
    assert SECRET not in str(caught.value) and "doe" not in str(caught.value).lower()
    assert not health.ok and SECRET not in health.detail


def test_the_settings_timeout_caps_the_callers(stub: BholdStub, state: BholdState) -> None:
    c = BholdConnector(settings(stub, timeout=0.3))
    stub.fail("hang", seconds=5)
    started = time.monotonic()
    try:
        with pytest.raises(TimedOut):
            c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=30)
    finally:
        c.close()
    assert time.monotonic() - started < 2


def test_a_slow_answer_within_the_deadline_is_an_answer(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int]
) -> None:
    stub.fail("slow", seconds=0.2)
    assert len(bhold.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)) == 1


def test_an_empty_getinfo_result_is_no_match(
    stub: BholdStub, bhold: BholdConnector, people: dict[str, int]
) -> None:
    assert bhold.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)  # attribute types listed
    stub.fail("empty")
    assert bhold.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T) == []
    stub.fail("empty")
    with pytest.raises(NotFound):
        bhold.read(ObjectRef("bhold", str(people["ct-zoe"])), timeout=T)


def test_a_fault_during_the_deletion_is_an_error_and_changes_nothing(
    stub: BholdStub, bhold: BholdConnector, state: BholdState, people: dict[str, int]
) -> None:
    plan = bhold.plan_delete(ObjectRef("bhold", str(people["ct-zoe"])), timeout=T)
    before = state.snapshot()
    stub.fail("fault", operation="ExecuteXml")
    with pytest.raises(ConnectorError, match="SOAP fault"):
        bhold.apply_delete(plan, timeout=T)
    assert state.snapshot() == before


def test_an_answer_that_stops_midway_times_out(stub: BholdStub) -> None:
    """requests raises a read timeout in the body as a ConnectionError: still TimedOut."""
    with stalled_body_url("/BHOLD/Core/b1scriptservice.asmx") as url:
        http = replace(ntlm(stub).http, url=url)
        c = BholdConnector(settings(stub, http=http, timeout=0.5))
        started = time.monotonic()
        try:
            with pytest.raises(ConnectorError) as caught:
                c.search(Query(QueryKind.NAME, SECRET), timeout=T)
        finally:
            c.close()
    assert type(caught.value) is TimedOut
    assert time.monotonic() - started < 2
    wrapped = caught.value.__context__  # what requests raised: the case this test is about
    assert isinstance(wrapped, requests.ConnectionError)
    assert not isinstance(wrapped, requests.Timeout)
    assert SECRET not in str(caught.value)


# -- NTLM --------------------------------------------------------------------------------


def ntlm(stub: BholdStub, password: str = NTLM_USER[1]) -> BholdSettings:
    http = HttpSettings(
        url=stub.url,
        auth="ntlm",
        username=NTLM_USER[0],
        password=password,
        allow_plain_http=True,
    )
    return settings(stub, http=http)


def test_ntlm_authenticates_over_the_stand_in(
    stub: BholdStub, state: BholdState, people: dict[str, int]
) -> None:
    c = BholdConnector(ntlm(stub))
    try:
        (hit,) = c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
        assert c.read(hit.ref, timeout=T).attributes
    finally:
        c.close()
    assert stub.seen and {s.auth for s in stub.seen} == {"ntlm"}
    assert not any(s.tls for s in stub.seen)


def test_a_wrong_ntlm_password_is_denied(stub: BholdStub, state: BholdState) -> None:
    c = BholdConnector(ntlm(stub, password="wrong"))
    try:
        with pytest.raises(Denied):
            c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
        assert not c.health(timeout=T).ok
    finally:
        c.close()
    assert stub.seen == []


# -- the stand-in's LIKE -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("CORP\\j%", "corp\\jdoe", True),
        ("a_c", "abc", True),
        ("a[_]c", "abc", False),
        ("a[_]c", "a_c", True),
        ("a[%]", "a%", True),
        ("a[[]b", "a[b", True),
        ("[a-c]x", "Bx", True),
        ("[^a]x", "ax", False),
        ("a]b", "a]b", True),
    ],
)
def test_the_stand_in_matches_as_sql_server_like(pattern: str, value: str, expected: bool) -> None:
    assert like(pattern, value) is expected


def test_escaped_terms_match_only_themselves_in_the_stand_in() -> None:
    for term in ("a%b", "a_b", "[a]", "[^a]", "%", "_", "[", "]", "a\\b"):
        assert like(like_escape(term), term)
        assert not like(like_escape(term), term + "x")
    assert not like(like_escape("a_b"), "axb") and not like(like_escape("a%b"), "axxb")


@pytest.mark.parametrize(
    "ids",
    [
        {IdKind.ACCOUNT: "ct-zoe"},
        {IdKind.ACCOUNT: "CT-ZOE", IdKind.DOMAIN: "corp"},
        {IdKind.ACCOUNT: "CORP\\ct-zoe"},
        {IdKind.ACCOUNT: "ct-zoe", IdKind.DOMAIN: "corp.example.test\\x"},
        {IdKind.MAIL: "zoe.contract@example.test"},
        {IdKind.UPN: "zoe.contract@example.test"},
        {IdKind.EMPLOYEE_ID: "880001"},
    ],
    ids=lambda ids: "+".join(k.value for k in ids),
)
def test_verify_finds_the_user_by_each_identifier_it_can_search(
    bhold: BholdConnector, people: dict[str, int], ids: dict[IdKind, str]
) -> None:
    result = bhold.verify_absent(ids, timeout=T)
    assert not result.absent
    assert result.remaining == (ObjectRef("bhold", str(people["ct-zoe"])),)


def test_verify_by_a_name_only_is_not_supported(bhold: BholdConnector) -> None:
    with pytest.raises(NotSupported):
        bhold.verify_absent({IdKind.DISPLAY_NAME: "Zoë Contract"}, timeout=T)
