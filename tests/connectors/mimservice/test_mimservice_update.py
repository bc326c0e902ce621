"""Rectification through the MIM Service connector (connectors/mimservice/update.py) over
pywinrm's real transport, against the loopback WS-Management stand-in answering from fixture
MIM Service state (demo/mimservice_fixture.py). The `.ps1` is not executed here (no Windows):
what is tested is what the connector refuses, the arguments it sends, the script text, how it
reads the Person back, and its errors."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors._shared.powershell import ScriptError, script_text
from connectors.base import Capability, Change, ObjectRef, UpdatePlan
from connectors.capabilities import Updates
from connectors.errors import ConnectorError, Denied, NotFound, NotSupported, TimedOut
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from connectors.mimservice.update import MAX_VALUE, NOT_WRITABLE, WRITABLE
from demo.mimservice_fixture import MimServiceFixture
from demo.wsman_stub import PowerShellError, WsmanStub
from tests.support.ports import stub_winrm

T = 5.0
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = "Jane.O'Doe-4711@example.test"
MISSING = ObjectRef("mimservice", "0b7e2f6a-7c1d-4c55-9d2a-5b0f3e1e4711")
ARGS = re.compile(r"FromBase64String\('([A-Za-z0-9+/=]*)'\)")
HOSTILE = [
    'O\'Brien "the" Builder',
    "$(Remove-Item C:\\ -Recurse)",
    "${env:COMPUTERNAME}",
    "`whoami`",
    "a; Stop-Computer",
    "'); Stop-Computer #",
    '"; exit 0 #',
    "@'\n",  # refused below: a newline; kept out of the applied values
    "' or 1=1 or '",
    "]/Person[",
    "100% <b>&amp;</b>",
    "Zoë Ångström 山田 😀",
]
APPLIED = [v for v in HOSTILE if "\n" not in v]


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def mim(stub: WsmanStub) -> MimServiceFixture:
    fixture = MimServiceFixture(clock=lambda: NOW)
    fixture.install(stub)  # also puts back a handler an earlier test replaced
    return fixture


@pytest.fixture(params=["fimautomation", "lithnetrma"])
def connector(request: pytest.FixtureRequest, stub: WsmanStub) -> Iterator[MimServiceConnector]:
    settings = MimServiceSettings(
        stub_winrm(stub.https_endpoint, stub.ca_file),
        module=request.param,
        management_agent="MIM Service MA",
    )
    c = MimServiceConnector(settings, clock=lambda: NOW)
    yield c
    c.close()


def seed(mim: MimServiceFixture) -> tuple[ObjectRef, ObjectRef]:
    ann = mim.add_person(
        AccountName="up-ann",
        DisplayName="Ann Update",
        FirstName="ann",
        LastName="Update",
        Email="ann.update@example.test",
        EmployeeID="830001",
        City="Leeds",
        JobTitle="Clerk",
    )
    bob = mim.add_person(AccountName="up-bob", DisplayName="Bob Other", City="York")
    return ObjectRef("mimservice", ann), ObjectRef("mimservice", bob)


def updates(stub: WsmanStub, start: int = 0) -> list[Any]:
    return [r for r in stub.scripts[start:] if r.name == "mimservice_update"]


# -- the contract ------------------------------------------------------------------------------


def test_the_connector_updates_and_names_its_management_agent(
    connector: MimServiceConnector,
) -> None:
    assert Capability.UPDATE in connector.capabilities and isinstance(connector, Updates)
    assert connector.management_agent == "MIM Service MA"
    plain = MimServiceSettings(connector.settings.winrm)
    assert plain.management_agent is None
    assert MimServiceConnector(plain, connector.runner).management_agent is None


# -- plan: mapping and refusals ----------------------------------------------------------------


def test_the_plan_uses_mims_spelling_and_names_no_value(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ann, _ = seed(mim)
    start = len(stub.scripts)
    plan = connector.plan_update(
        ann,
        (
            Change("jobtitle", "Head of Payroll"),
            Change("OFFICEPHONE", "+44 20 7946 0101"),
            Change("City", None),
            Change("JobTitle", "Head of Payroll"),  # the same again: one change
        ),
        timeout=T,
    )
    assert plan.ref == ann
    assert plan.changes == (
        Change("JobTitle", "Head of Payroll"),
        Change("OfficePhone", "+44 20 7946 0101"),
        Change("City", None),
    )
    assert plan.summary == (
        "Update 3 attribute(s) of the MIM Service Person (JobTitle, OfficePhone, City)"
    )
    (note,) = plan.notes
    assert "next sync overwrites" in note and "source of authority" in note
    text = plan.summary + " ".join(plan.notes)
    assert "Payroll" not in text and "7946" not in text
    assert [r.name for r in stub.scripts[start:]] == ["mimservice_search"]  # read, no update
    assert mim.persons[ann.id]["JobTitle"] == "Clerk"


def test_every_writable_attribute_can_be_planned(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    ann, _ = seed(mim)
    plan = connector.plan_update(ann, tuple(Change(a.upper(), "x") for a in WRITABLE), timeout=T)
    assert [c.attribute for c in plan.changes] == list(WRITABLE)


@pytest.mark.parametrize(
    "attribute",
    [
        *NOT_WRITABLE,
        "accountname",
        "EMAIL",
        "unicodePwd",
        "ProxyAddressCollection",
        "AuthNWFRegistered",
        "msidmOneTimePasswordMobilePhone",
        "Email] or [1",
        SECRET,
        "",
    ],
)
def test_attributes_that_are_not_corrections_are_refused_naming_no_value(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub, attribute: str
) -> None:
    ann, _ = seed(mim)
    start = len(stub.scripts)
    with pytest.raises(NotSupported) as caught:
        connector.plan_update(ann, (Change(attribute, SECRET),), timeout=T)
    text = str(caught.value)
    assert SECRET.lower() not in text.lower() and "O'Doe" not in text
    if attribute.casefold() in {a.casefold() for a in NOT_WRITABLE}:
        assert "is never changed in the MIM Service: it names or keys the Person" in text
    assert len(stub.scripts) == start  # refused before anything was sent


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ((Change("City", "line1\nline2"),), "control character"),
        ((Change("City", "a\r\nb"),), "control character"),
        ((Change("City", "tab\there"),), "control character"),
        ((Change("City", "nul\x00byte"),), "control character"),
        ((Change("City", "del\x7f"),), "control character"),
        ((Change("City", "\ud800 lone surrogate"),), "control character"),
        ((Change("City", "x" * (MAX_VALUE + 1)),), "longer than 448 characters"),
        ((Change("City", "😀" * (MAX_VALUE // 2) + "x"),), "longer than 448 characters"),
        ((Change("City", "Leeds"), Change("city", "York")), "different values"),
        ((Change("City", 42),), "takes text"),  # type: ignore[arg-type]
        ((), "at least one attribute"),
    ],
    ids=range(11),
)
def test_values_the_service_cannot_take_are_refused_before_sending(
    connector: MimServiceConnector,
    mim: MimServiceFixture,
    stub: WsmanStub,
    changes: tuple[Change, ...],
    match: str,
) -> None:
    ann, _ = seed(mim)
    start = len(stub.scripts)
    with pytest.raises(NotSupported, match=match) as caught:
        connector.plan_update(ann, changes, timeout=T)
    for change in changes:
        if isinstance(change.value, str):
            assert change.value[:6] not in str(caught.value)
    with pytest.raises(NotSupported, match=match):  # a stored plan is checked again
        connector.apply_update(UpdatePlan(ann, changes, "x"), timeout=T)
    assert len(stub.scripts) == start


def test_the_longest_value_the_service_indexes_is_taken(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    ann, _ = seed(mim)
    for value in ("x" * MAX_VALUE, "😀" * (MAX_VALUE // 2)):  # 448 UTF-16 code units each
        plan = connector.plan_update(ann, (Change("Address", value),), timeout=T)
        assert connector.apply_update(plan, timeout=T).done
        assert mim.persons[ann.id]["Address"] == value


def test_a_missing_or_malformed_ref_is_not_found(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    seed(mim)
    change = (Change("City", "Hull"),)
    start = len(stub.scripts)
    for bad in ("' or 1=1 or '", "", "not-a-guid"):
        with pytest.raises(NotFound):
            connector.plan_update(ObjectRef("mimservice", bad), change, timeout=T)
        with pytest.raises(NotFound):
            connector.apply_update(UpdatePlan(ObjectRef("mimservice", bad), change, "x"), timeout=T)
    assert len(stub.scripts) == start  # not a GUID: nothing to ask
    with pytest.raises(NotFound):
        connector.plan_update(MISSING, change, timeout=T)
    with pytest.raises(NotFound):
        connector.apply_update(UpdatePlan(MISSING, change, "x"), timeout=T)
    assert updates(stub, start) == []  # looked for, never updated


def test_a_plan_for_another_system_is_refused(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    ann, _ = seed(mim)
    with pytest.raises(NotSupported, match="not a MIM Service update plan"):
        connector.apply_update(
            UpdatePlan(ObjectRef("ad", ann.id), (Change("City", "Hull"),), "x"), timeout=T
        )


# -- apply: write, read back, idempotence --------------------------------------------------------


def test_a_change_is_written_read_back_and_not_sent_twice(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ann, bob = seed(mim)
    plan = connector.plan_update(
        ann,
        (
            Change("JobTitle", "Head of Payroll"),
            Change("FirstName", "Ann"),
            Change("City", "Leeds"),
        ),
        timeout=T,
    )
    start = len(stub.scripts)
    first = connector.apply_update(plan, timeout=T)
    assert (first.ref, first.done, first.already_absent) == (ann, True, False)
    assert first.detail == "updated JobTitle, FirstName"  # City was already Leeds
    (run,) = updates(stub, start)
    assert run.args["id"] == ann.id and run.args["module"] == connector.settings.module
    assert run.args["changes"] == [
        {"attribute": "JobTitle", "value": "Head of Payroll"},
        {"attribute": "FirstName", "value": "Ann"},  # only the case differed: a correction
    ]
    record = connector.read(ann, timeout=T).attributes
    assert record["JobTitle"].values == ("Head of Payroll",)
    assert record["FirstName"].values == ("Ann",)
    assert mim.persons[bob.id] == {
        "ObjectID": bob.id,
        "AccountName": "up-bob",
        "DisplayName": "Bob Other",
        "City": "York",
    }

    again = len(stub.scripts)
    second = connector.apply_update(plan, timeout=T)
    assert (second.done, second.detail) == (True, "already set")
    assert [r.name for r in stub.scripts[again:]] == ["mimservice_search"]  # no update sent


@pytest.mark.parametrize("cleared", [None, ""])
def test_none_or_empty_clears_the_attribute(
    connector: MimServiceConnector,
    mim: MimServiceFixture,
    stub: WsmanStub,
    cleared: str | None,
) -> None:
    ann, _ = seed(mim)
    plan = connector.plan_update(ann, (Change("city", cleared),), timeout=T)
    assert plan.changes == (Change("City", None),)
    start = len(stub.scripts)
    result = connector.apply_update(plan, timeout=T)
    assert (result.done, result.detail) == (True, "updated City")
    (run,) = updates(stub, start)
    assert run.args["changes"] == [{"attribute": "City", "value": None}]
    assert "City" not in mim.persons[ann.id]
    assert "City" not in connector.read(ann, timeout=T).attributes
    assert connector.apply_update(plan, timeout=T).detail == "already set"
    assert len(updates(stub, start)) == 1


def test_a_service_that_shows_other_values_afterwards_is_not_done(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    """An MPR that needs approval (or a workflow that writes the attribute) leaves the
    Person as it was: the read-back says so, naming attributes, never values."""
    ann, _ = seed(mim)
    stub.handlers["mimservice_update"] = lambda args: {"updated": len(args["changes"])}
    plan = connector.plan_update(
        ann, (Change("JobTitle", SECRET), Change("City", "Leeds")), timeout=T
    )
    result = connector.apply_update(plan, timeout=T)
    assert result.done is False
    assert "shows other values for JobTitle:" in result.detail
    assert "City" not in result.detail and SECRET not in result.detail


# -- values are data -----------------------------------------------------------------------------


def test_hostile_values_reach_the_service_exactly_as_data(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ann, _ = seed(mim)
    start = len(stub.scripts)
    for value in APPLIED:
        plan = connector.plan_update(ann, (Change("Department", value),), timeout=T)
        assert connector.apply_update(plan, timeout=T).detail == "updated Department"
        assert mim.persons[ann.id]["Department"] == value
        assert connector.read(ann, timeout=T).attributes["Department"].values == (value,)
    runs = updates(stub, start)
    assert len(runs) == len(APPLIED)
    for value, run in zip(APPLIED, runs, strict=True):
        assert value not in run.text  # only inside the base64 literal
        assert run.args["changes"] == [{"attribute": "Department", "value": value}]
    shapes = {ARGS.sub("<ARGS>", r.text).encode() for r in runs}
    assert len(shapes) == 1  # the script text is byte-identical whatever the values


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(
        alphabet=st.sampled_from([*"aZ0 '\"$()`;{}@#%&|<>[]\\/*=+,.", "é", "\u2019", "😀"]),
        min_size=1,
        max_size=40,
    )
)
@example("' + $(Get-Date) + '")
@example('"@; `"x`"; ${a}')
@example(" leading and trailing ")
def test_any_printable_value_is_stored_exactly(
    connector: MimServiceConnector, stub: WsmanStub, value: str
) -> None:
    mim = MimServiceFixture(clock=lambda: NOW)
    mim.install(stub)
    ann, _ = seed(mim)
    start = len(stub.scripts)
    plan = connector.plan_update(ann, (Change("OfficeLocation", value),), timeout=T)
    assert connector.apply_update(plan, timeout=T).done
    assert mim.persons[ann.id]["OfficeLocation"] == value
    (run,) = updates(stub, start)
    (literal,) = ARGS.findall(run.text)
    sent = json.loads(base64.b64decode(literal).decode("utf-8"))
    assert sent["changes"] == [{"attribute": "OfficeLocation", "value": value}]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_the_script_text_is_byte_identical_whatever_the_values(value: str) -> None:
    def shape(v: str | None) -> bytes:
        args = {
            "module": "fimautomation",
            "uri": "http://localhost:5725",
            "id": MISSING.id,
            "changes": [{"attribute": "City", "value": v}, {"attribute": "Address", "value": v}],
        }
        text = script_text("mimservice_update", args)
        (literal,) = ARGS.findall(text)
        assert json.loads(base64.b64decode(literal).decode("utf-8")) == args
        return ARGS.sub("<ARGS>", text).encode("utf-8")

    assert shape(value) == shape("jdoe") == shape(None)
    assert value not in ARGS.sub("<ARGS>", script_text("mimservice_update", {"v": value}))


# -- errors ----------------------------------------------------------------------------------------


def test_the_stand_in_refuses_an_unknown_object_id(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    ann, _ = seed(mim)
    args = {
        "module": connector.settings.module,
        "uri": connector.settings.service_uri,
        "id": MISSING.id,
        "changes": [{"attribute": "City", "value": "Hull"}],
    }
    with pytest.raises(ScriptError, match="ResourceNotFoundException"):
        connector.runner.run("mimservice_update", args, timeout=T)
    bad = {**args, "id": ann.id, "changes": [{"attribute": "city", "value": "Hull"}]}
    with pytest.raises(ScriptError, match="InvalidRepresentationException"):
        connector.runner.run("mimservice_update", bad, timeout=T)  # names are case-sensitive


def test_a_cmdlet_error_is_a_connector_error_without_the_value(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ann, _ = seed(mim)

    def fails(args: Any) -> Any:
        value = args["changes"][0]["value"]
        raise PowerShellError(
            "Microsoft.ResourceManagement.Automation.ImportConfigException",
            f"Import-FIMConfig failed: JobTitle '{value}' was refused (…{value[-9:]})",
            "InvalidOperation",
            "ImportConfig,Microsoft.ResourceManagement.Automation.ImportConfig",
        )

    stub.handlers["mimservice_update"] = fails
    plan = connector.plan_update(ann, (Change("JobTitle", SECRET),), timeout=T)
    with pytest.raises(ConnectorError) as caught:
        connector.apply_update(plan, timeout=T)
    text = str(caught.value)
    assert "ImportConfigException" in text and "mimservice_update" in text
    for fragment in (SECRET, "O'Doe", "Doe-4711", "4711@example", "@example.test"):
        assert fragment.lower() not in text.lower()
    assert mim.persons[ann.id]["JobTitle"] == "Clerk"


def test_access_denied_is_denied_and_odd_output_is_an_error(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ann, _ = seed(mim)
    plan = connector.plan_update(ann, (Change("City", "Hull"),), timeout=T)

    def refuses(args: Any) -> Any:
        raise PowerShellError(
            "Microsoft.ResourceManagement.WebServices.Exceptions.PermissionDeniedException",
            "The MIM Service refused the request: no MPR grants it.",
            "PermissionDenied",
            "ImportConfig",
        )

    stub.handlers["mimservice_update"] = refuses
    with pytest.raises(Denied):
        connector.apply_update(plan, timeout=T)
    for odd in (None, [], {"updated": 2}, {"done": True}):
        stub.handlers["mimservice_update"] = lambda args, odd=odd: odd
        with pytest.raises(ConnectorError, match="unexpected output: not an update result"):
            connector.apply_update(plan, timeout=T)


def test_the_three_calls_share_one_deadline(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ann, _ = seed(mim)
    plan = connector.plan_update(ann, (Change("City", "Hull"),), timeout=T)
    stub.fail("mimservice_update", "hang")
    try:
        with pytest.raises(TimedOut):
            connector.apply_update(plan, timeout=1.0)
    finally:
        stub.release()


def test_a_person_gone_before_the_update_is_not_found(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    """Get-Resource throws ResourceNotFoundException (LithnetRMA GetResource.cs), and the
    service faults for a Put on no object: either is `NotFound`, not a plain error."""
    ann, _ = seed(mim)
    plan = connector.plan_update(ann, (Change("City", "Hull"),), timeout=T)
    search = stub.handlers["mimservice_search"]

    def then_deleted(args: Any) -> Any:
        found = search(args)  # the read before the update still sees the Person
        mim.persons.pop(ann.id, None)
        return found

    stub.handlers["mimservice_search"] = then_deleted
    with pytest.raises(NotFound):
        connector.apply_update(plan, timeout=T)
