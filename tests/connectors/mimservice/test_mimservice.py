"""The MIM Service connector over pywinrm's real transport, against the loopback WS-Management
stand-in answering from fixture MIM Service state (demo/mimservice_fixture.py).

The `.ps1` scripts are not executed here (no Windows): what is tested is the XPath and the
arguments the connector sends, how it reads the answers, and its errors. The connector
contract suite (tests/connectors/test_connector_contract.py) runs here too, over a `world`
of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors._shared.powershell import PowerShellRunner
from connectors.base import (
    RANK_AGGREGATE,
    RANK_TARGET,
    Connector,
    DeletePlan,
    IdKind,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
)
from connectors.errors import ConnectorError, Denied, NotFound, NotSupported, Unreachable
from connectors.mimservice.connector import (
    REQUESTS_BY_TARGET,
    MimServiceConnector,
    MimServiceSettings,
    literal,
    xpath,
)
from demo.mimservice_fixture import (
    AttributeValueArrayList,
    MimServiceFixture,
    RmaObject,
    UniqueIdentifier,
    parse_xpath,
)
from demo.wsman_stub import PowerShellError, WsmanStub
from tests.connectors.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.connectors.test_connector_contract import Subject, World, only_hit
from tests.support.ports import closed_port, stub_winrm

T = 5.0
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = "Jane.O'Doe-4711@example.test"
MISSING = ObjectRef("mimservice", "0b7e2f6a-7c1d-4c55-9d2a-5b0f3e1e4711")


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


def seed(fixture: MimServiceFixture) -> dict[str, str]:
    ids = {
        "zoe": fixture.add_person(
            AccountName="ct-zoe",
            DisplayName="Zoë Contract",
            Email="zoe.contract@example.test",
            EmployeeID="880001",
            Domain="LAB",
            AuthNWFRegistered=["2b6c0d4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f"],
            msidmOneTimePasswordMobilePhone="+44 7700 900123",
            ProxyAddressCollection=None,
        ),
        "other": fixture.add_person(
            AccountName="ct-other",
            DisplayName="Otto Other",
            Email="otto.other@example.test",
            EmployeeID="880002",
        ),
        "obrien": fixture.add_person(
            AccountName="obrien", DisplayName="Seán O'Brien", EmployeeID="880003"
        ),
        "quoted": fixture.add_person(
            AccountName="quoted", DisplayName='Bob "the Builder" Jones', EmployeeID="880004"
        ),
    }
    fixture.add_request(ids["zoe"], age_days=3)
    fixture.add_request(ids["zoe"], age_days=1)
    return ids


@pytest.fixture
def mim(stub: WsmanStub) -> MimServiceFixture:
    fixture = MimServiceFixture(clock=lambda: NOW)
    fixture.install(stub)
    return fixture


@pytest.fixture(params=["fimautomation", "lithnetrma"])
def connector(request: pytest.FixtureRequest, stub: WsmanStub) -> Iterator[MimServiceConnector]:
    settings = MimServiceSettings(
        stub_winrm(stub.https_endpoint, stub.ca_file), module=request.param
    )
    c = MimServiceConnector(settings, clock=lambda: NOW)
    yield c
    c.close()


# -- the contract suite ----------------------------------------------------------------


@pytest.fixture
def world(stub: WsmanStub) -> Iterator[World]:
    """Function-scoped: other tests here install their own handlers on the shared stub."""
    fixture = MimServiceFixture()
    fixture.install(stub)
    seed(fixture)
    settings = MimServiceSettings(stub_winrm(stub.https_endpoint, stub.ca_file))
    c = MimServiceConnector(settings)
    counter = iter(range(1, 1000))

    def fresh() -> Any:
        n = next(counter)
        fixture.add_person(
            AccountName=f"ct-del{n}", DisplayName=f"Dora Delete{n}", EmployeeID=str(881000 + n)
        )
        return only_hit(c, Query(QueryKind.NAME, f"ct-del{n}"))

    @contextmanager
    def too_slow() -> Iterator[tuple[Connector, float]]:
        stub.fail("mimservice_search", "hang")
        stub.fail("ping", "hang")
        try:
            yield c, 1.0
        finally:
            stub.release()

    dead = stub_winrm(f"https://127.0.0.1:{closed_port()}/wsman", stub.ca_file)
    yield World(
        c,
        Subject("ct-zoe", "zoe.contract@example.test", "880001", "Zoë Contract", "Zoë Con"),
        MISSING,
        fresh,
        unreachable=lambda: MimServiceConnector(replace(settings, winrm=dead)),
        too_slow=too_slow,
    )
    c.close()


# -- XPath -------------------------------------------------------------------------------


def test_literals_take_the_quote_the_value_does_not_hold() -> None:
    assert literal("jdoe") == "'jdoe'"
    assert literal("O'Brien") == '"O\'Brien"'
    assert literal('say "hi"') == "'say \"hi\"'"
    with pytest.raises(NotSupported, match="both quote kinds"):
        literal("both ' and \"")


def test_the_fixture_parses_exactly_the_forms_the_connector_writes() -> None:
    text = xpath("Person", [("=", "Email", "a@b"), ("starts-with", "DisplayName", "O'B")])
    assert text == "/Person[Email = 'a@b' or starts-with(DisplayName, \"O'B\")]"
    assert parse_xpath(text) == (
        "Person",
        [("=", "Email", "a@b"), ("starts-with", "DisplayName", "O'B")],
    )
    assert parse_xpath("/SystemResourceRetentionConfiguration") == (
        "SystemResourceRetentionConfiguration",
        [],
    )
    for bad in (
        "/Person[Email='a']",
        "/Person[Email = 'a' and AccountName = 'b']",
        "/Person[Email = 'a' or ]",
        "/Person[Email = 'it''s']",
        "/Person[unicodePwd = 'x']",
        "/Group[DisplayName = 'x']",
        "/Person[Email = 'a'",
        "/Request[Target=/Person[AccountName = 'x']]",
    ):
        with pytest.raises(PowerShellError, match="XPath"):
            parse_xpath(bad)


# -- search ------------------------------------------------------------------------------

SEARCHES = [
    (Query(QueryKind.MAIL_OR_UPN, "ZOE.contract@example.test"), ["Email"]),
    (Query(QueryKind.EMPLOYEE_ID, "880001"), ["EmployeeID"]),
    (Query(QueryKind.NAME, "ct-zoe"), ["AccountName", "DisplayName"]),
    (Query(QueryKind.NAME, "zoë contract"), ["AccountName", "DisplayName"]),
    (Query(QueryKind.PREFIX, "Zoë C"), ["starts-with(DisplayName", "starts-with(AccountName"]),
    (Query(QueryKind.PREFIX, "ct-zo"), ["starts-with(DisplayName", "starts-with(AccountName"]),
    (Query(QueryKind.ATTRIBUTE, "880001", attribute="employeeid"), ["EmployeeID"]),
    (Query(QueryKind.ATTRIBUTE, "zoe.contract@example.test", attribute="mail"), ["Email"]),
]


@pytest.mark.parametrize(("query", "terms"), SEARCHES, ids=lambda v: getattr(v, "value", ""))
def test_every_kind_of_search_finds_the_person(
    connector: MimServiceConnector,
    mim: MimServiceFixture,
    stub: WsmanStub,
    query: Query,
    terms: list[str],
) -> None:
    ids = seed(mim)
    (hit,) = connector.search(query, timeout=T)
    assert hit.ref == ObjectRef("mimservice", ids["zoe"])
    assert hit.label == "Zoë Contract (ct-zoe)"
    assert hit.identifiers == {
        IdKind.ACCOUNT: "ct-zoe",
        IdKind.DOMAIN: "LAB",
        IdKind.MAIL: "zoe.contract@example.test",
        IdKind.EMPLOYEE_ID: "880001",
        IdKind.DISPLAY_NAME: "Zoë Contract",
        IdKind.MIM_OBJECT_ID: ids["zoe"],
    }
    sent = mim.calls[-1][1]["xpath"]
    assert sent.startswith("/Person[") and all(t in sent for t in terms)


def test_quotes_choose_the_delimiter_and_both_kinds_are_refused(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ids = seed(mim)
    (hit,) = connector.search(Query(QueryKind.NAME, "Seán O'Brien"), timeout=T)
    assert hit.ref.id == ids["obrien"]
    assert 'DisplayName = "Seán O\'Brien"' in mim.calls[-1][1]["xpath"]
    assert "DisplayName = 'Seán O\u2019Brien'" in mim.calls[-1][1]["xpath"]  # typographic too
    (hit,) = connector.search(Query(QueryKind.PREFIX, 'Bob "the'), timeout=T)
    assert hit.ref.id == ids["quoted"]
    assert "starts-with(DisplayName, 'Bob \"the')" in mim.calls[-1][1]["xpath"]
    sent = len(stub.scripts)
    with pytest.raises(NotSupported, match="both quote kinds: search by account, mail"):
        connector.search(Query(QueryKind.NAME, 'O\'Brien "x"'), timeout=T)
    assert len(stub.scripts) == sent  # refused before anything was sent


def test_a_prefix_holding_the_services_wildcard_is_refused(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    seed(mim)
    with pytest.raises(NotSupported, match="wildcard"):
        connector.search(Query(QueryKind.PREFIX, "%"), timeout=T)


def test_hits_the_service_over_matches_are_dropped(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    """A LIKE wildcard the real service might honour in `_` never widens a search."""
    seed(mim)
    everyone = lambda args: [  # noqa: E731 -- a service that matches too much
        {"id": pid, "attributes": {k: [str(v)] for k, v in p.items() if isinstance(v, str)}}
        for pid, p in mim.persons.items()
    ]
    stub.handlers["mimservice_search"] = everyone
    assert connector.search(Query(QueryKind.PREFIX, "ct_"), timeout=T) == []
    assert [h.label for h in connector.search(Query(QueryKind.PREFIX, "ct-o"), timeout=T)] == [
        "Otto Other (ct-other)"
    ]


HOSTILE = [
    "jdoe",
    "O'Brien",
    'say "hi"',
    "$(Remove-Item C:\\ -Recurse)",
    "`whoami`",
    "a; Stop-Computer",
    "line1\nline2\r\n'); exit 0 #",
    "' or 1=1 or '",
    '" or starts-with(AccountName,"%") or "',
    "]/Person[",
    "x" * 2000,
]


def test_hostile_input_reaches_the_wire_only_as_data(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    seed(mim)
    start = len(stub.scripts)
    for value in HOSTILE:
        assert connector.search(Query(QueryKind.NAME, value), timeout=T) == []
    runs = stub.scripts[start:]
    assert [r.name for r in runs] == ["mimservice_search"] * len(HOSTILE)
    args_line = re.compile(r"FromBase64String\('[A-Za-z0-9+/=]*'\)")
    shapes = {args_line.sub("<ARGS>", r.text).encode() for r in runs}
    assert len(shapes) == 1  # the script text is byte-identical whatever the term
    for value, run in zip(HOSTILE, runs, strict=True):
        assert value not in run.text.replace(run.args["xpath"], "")
        assert parse_xpath(run.args["xpath"])[1][0][2] == value  # the value, intact, as data


def test_hostile_input_reaches_search_records_only_as_data(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    """The search that also reads sends the same script with the term as data, and the
    Request filter as the connector's own constant template, whatever the term."""
    seed(mim)
    start = len(stub.scripts)
    for value in HOSTILE:
        assert connector.search_records(Query(QueryKind.NAME, value), limit=1, timeout=T) == []
    runs = stub.scripts[start:]
    assert [r.name for r in runs] == ["mimservice_search"] * len(HOSTILE)
    args_line = re.compile(r"FromBase64String\('[A-Za-z0-9+/=]*'\)")
    assert len({args_line.sub("<ARGS>", r.text).encode() for r in runs}) == 1
    for value, run in zip(HOSTILE, runs, strict=True):
        assert run.args["requests_xpath"] == REQUESTS_BY_TARGET and run.args["records"] == 1
        assert value not in run.text.replace(run.args["xpath"], "")
        assert parse_xpath(run.args["xpath"])[1][0][2] == value


def test_search_records_reads_the_person_in_the_search_script(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ids = seed(mim)
    start = len(stub.scripts)
    (found,) = connector.search_records(Query(QueryKind.NAME, "ct-zoe"), limit=1, timeout=T)
    (run,) = stub.scripts[start:]  # one trip
    assert run.name == "mimservice_search" and run.args["records"] == 1
    assert found.record == connector.read(ObjectRef("mimservice", ids["zoe"]), timeout=T)
    a = {k: v.values for k, v in found.record.attributes.items()}
    assert a["Requests targeting the person"] == ("2",)  # this Person's Requests only
    assert a["msidmOneTimePasswordMobilePhone"] == ("+44 7700 900123",)  # every attribute
    start = len(stub.scripts)
    assert connector.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T) == [found.hit]
    (plain,) = stub.scripts[start:]  # a search alone asks for no record
    assert "records" not in plain.args and "requests_xpath" not in plain.args


def test_the_request_template_completed_with_a_guid_is_reads_filter() -> None:
    guid = "0b7e2f6a-7c1d-4c55-9d2a-5b0f3e1e4711"
    assert REQUESTS_BY_TARGET.format(guid) == xpath("Request", [("=", "Target", guid)])


def test_search_records_reads_no_one_of_more_persons_than_the_limit(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    seed(mim)
    found = connector.search_records(Query(QueryKind.PREFIX, "ct-"), limit=1, timeout=T)
    assert len(found) == 2 and all(f.record is None for f in found)
    found = connector.search_records(Query(QueryKind.PREFIX, "ct-"), limit=2, timeout=T)
    assert all(f.record is not None for f in found)
    counts = {f.hit.label: f.record.attributes["Requests targeting the person"] for f in found}
    assert {k: v.values for k, v in counts.items()} == {
        "Zoë Contract (ct-zoe)": ("2",),
        "Otto Other (ct-other)": ("0",),
    }


def test_a_record_the_script_could_not_read_is_left_to_read(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    """The script's try/catch: a Request count that fails leaves that Person's record out,
    and the search still answers; `read` then reports the error as a read does."""
    ids = seed(mim)
    search = stub.handlers["mimservice_search"]
    stub.handlers["mimservice_search"] = lambda args: search(
        {**args, "requests_xpath": "/Request[Target = '{1}']"}  # a FormatException, caught
    )
    (found,) = connector.search_records(Query(QueryKind.NAME, "ct-zoe"), limit=1, timeout=T)
    assert found.record is None and found.hit.ref == ObjectRef("mimservice", ids["zoe"])


def test_a_ten_thousand_character_term_is_refused_before_sending(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    sent = len(stub.actions)
    with pytest.raises(ConnectorError, match="too long") as info:
        connector.search(Query(QueryKind.NAME, "x" * 10_000), timeout=T)
    assert "xxxxxxxx" not in str(info.value) and len(stub.actions) == sent


def test_an_attribute_outside_the_allow_list_is_not_supported(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    for attribute in ("ObjectSID", "unicodePwd", "Email] or [1", None):
        with pytest.raises(NotSupported):
            connector.search(Query(QueryKind.ATTRIBUTE, "x", attribute=attribute), timeout=T)


# -- read, plan, apply, verify -------------------------------------------------------------


def test_read_gives_every_attribute_sspr_state_and_the_request_count(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    ids = seed(mim)
    record = connector.read(ObjectRef("mimservice", ids["zoe"].upper()), timeout=T)
    a = {k: v.values for k, v in record.attributes.items()}
    assert a["AccountName"] == ("ct-zoe",) and a["Email"] == ("zoe.contract@example.test",)
    assert a["AuthNWFRegistered"] == ("2b6c0d4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f",)
    assert a["SSPR registration"] == (
        "AuthNWFRegistered: 1 workflow(s)",
        "msidmOneTimePasswordEmailAddress: absent",
        "msidmOneTimePasswordMobilePhone: present",
        "not locked out",
        "AuthNLockoutRegistrationID: absent",
    )
    assert a["Requests targeting the person"] == ("2",)
    assert "ProxyAddressCollection" not in a
    assert all(v.source == "mimservice" for v in record.attributes.values())


def test_sspr_state_shows_lockout_as_counts_never_values(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    """AuthNWFLockedOut and AuthNLockoutRegistrationID (MIMDSC MimSvcPerson.schema.mof) are
    shown with the registration, as counts."""
    guid = mim.add_person(
        AccountName="locked",
        AuthNWFLockedOut=["3c7d1e5f-2a4b-4c6d-8e9f-1a2b3c4d5e6f"],
        AuthNLockoutRegistrationID=["reg-1", "reg-2"],
    )
    record = connector.read(ObjectRef("mimservice", guid), timeout=T)
    state = record.attributes["SSPR registration"].values
    assert state[-2:] == (
        "AuthNWFLockedOut: 1 workflow(s)",
        "AuthNLockoutRegistrationID: 2 value(s)",
    )
    assert not any("reg-1" in line for line in state)


def test_a_missing_or_malformed_ref_is_not_found(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    seed(mim)
    for call in (connector.read, connector.plan_delete):
        with pytest.raises(NotFound):
            call(MISSING, timeout=T)
    sent = len(stub.scripts)
    with pytest.raises(NotFound):
        connector.read(ObjectRef("mimservice", "' or 1=1 or '"), timeout=T)
    assert len(stub.scripts) == sent  # not a GUID: nothing to ask


@pytest.mark.parametrize(("days", "expected"), [(30, 30), (7, 7)])
def test_plan_deletes_with_the_retention_residual(
    connector: MimServiceConnector, mim: MimServiceFixture, days: int, expected: int
) -> None:
    mim.retention_days = days
    ids = seed(mim)
    ref = ObjectRef("mimservice", ids["zoe"])
    plan = connector.plan_delete(ref, timeout=T)
    assert (plan.ref, plan.action, plan.summary) == (
        ref,
        PlanAction.DELETE,
        "Delete the Person in the MIM Service",
    )
    assert RANK_TARGET < plan.authority_rank < RANK_AGGREGATE and plan.manual == ()
    (residual,) = plan.residuals
    assert residual.description == (
        "MIM Service Requests and SSPR data about the person, kept until the retention job"
        " removes them"
    )
    assert residual.expires == NOW + timedelta(days=expected)
    (note,) = plan.notes
    assert f"keeps Requests for {expected} days" in note
    assert "The SQL Agent job FIM_DeleteExpiredSystemObjectsJob purges them" in note


def test_an_unreadable_retention_is_unknown_never_the_default(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    """No visible SystemResourceRetentionConfiguration: the account cannot read it (a
    default install has one), so the period is unknown; 30 is never printed as fact."""
    mim.retention_days = None
    ids = seed(mim)
    plan = connector.plan_delete(ObjectRef("mimservice", ids["zoe"]), timeout=T)
    (residual,) = plan.residuals
    assert residual.expires is None and "when is unknown" in residual.description
    assert "RetentionPeriod is unknown" in plan.notes[0] and "30" not in plan.notes[0]
    with pytest.raises(Denied, match="RetentionPeriod is unknown"):
        connector.retention_period(timeout=T)
    health = connector.health(timeout=T)
    assert not health.ok and "RetentionPeriod is unknown" in health.detail
    assert "30" not in health.detail.split("; ", 1)[1]


def test_apply_then_verify_absent_lists_the_requests_residual(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.retention_days = 10
    ids = seed(mim)
    ref = ObjectRef("mimservice", ids["zoe"])
    (hit,) = connector.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
    before = connector.verify_absent(hit.identifiers, timeout=T)
    assert (before.absent, before.remaining, before.residuals) == (False, (ref,), ())

    plan = connector.plan_delete(ref, timeout=T)
    first = connector.apply_delete(plan, timeout=T)
    second = connector.apply_delete(plan, timeout=T)
    after = connector.verify_absent(hit.identifiers, timeout=T)

    assert (first.done, first.already_absent) == (True, False)
    assert (second.done, second.already_absent) == (True, True)
    assert ids["zoe"] not in mim.persons and ids["other"] in mim.persons
    assert (after.absent, after.remaining) == (True, ())
    (residual,) = after.residuals  # two old Requests and the delete's own
    assert residual.description.startswith("3 MIM Service Requests still target the deleted")
    assert "expiry estimated as completion time plus RetentionPeriod" in residual.description
    assert residual.expires == NOW + timedelta(days=10)  # the newest, completed just now
    with pytest.raises(NotFound):
        connector.read(ref, timeout=T)


def test_verify_after_the_retention_date_says_the_job_has_not_run(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    ids = seed(mim)
    mim.persons.pop(ids["zoe"])
    mim.requests = []
    mim.add_request(ids["zoe"], age_days=40)
    result = connector.verify_absent({IdKind.MIM_OBJECT_ID: ids["zoe"]}, timeout=T)
    (residual,) = result.residuals
    assert result.absent and "past their expiry" in residual.description
    assert "FIM_DeleteExpiredSystemObjectsJob has not removed them" in residual.description
    assert residual.expires == NOW - timedelta(days=10)


def test_no_request_found_after_the_deletion_is_not_called_none_kept(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    """Whether `/Request[Target = '<deleted guid>']` still finds Requests is unverified
    (mim-apis-checked 1.13): finding none says what to check, never "no residual"."""
    ids = seed(mim)
    mim.persons.pop(ids["zoe"])
    mim.requests = []
    result = connector.verify_absent({IdKind.MIM_OBJECT_ID: ids["zoe"]}, timeout=T)
    assert result.absent and result.residuals == ()
    assert "does not show that none is kept" in result.detail
    assert "Portal (Search Requests" in result.detail


def test_each_requests_own_expiration_time_is_its_expiry(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    """A Request's ExpirationTime (REQ: every resource has one) is reported as stated; the
    completion-plus-period estimate is only the fallback."""
    mim.sets_expiration, mim.retention_days = True, 10
    ids = seed(mim)  # Requests completed 3 and 1 days ago
    mim.persons.pop(ids["zoe"])
    (residual,) = connector.verify_absent({IdKind.MIM_OBJECT_ID: ids["zoe"]}, timeout=T).residuals
    assert residual.expires == NOW - timedelta(days=1) + timedelta(days=10)
    assert "(expiry: their ExpirationTime)" in residual.description
    assert "estimated" not in residual.description
    mim.retention_days = None  # stated expiries need no RetentionPeriod
    mim.requests = [{**r, "ExpirationTime": NOW + timedelta(days=2)} for r in mim.requests]
    (residual,) = connector.verify_absent({IdKind.MIM_OBJECT_ID: ids["zoe"]}, timeout=T).residuals
    assert residual.expires == NOW + timedelta(days=2)


def test_without_expiration_time_or_retention_period_the_expiry_is_unknown(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.retention_days = None
    ids = seed(mim)
    mim.persons.pop(ids["zoe"])
    (residual,) = connector.verify_absent({IdKind.MIM_OBJECT_ID: ids["zoe"]}, timeout=T).residuals
    assert residual.expires is None and "when is unknown" in residual.description


def test_verify_searches_every_identifier_and_refuses_what_it_cannot_search(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ids = seed(mim)
    other = ObjectRef("mimservice", ids["other"])
    for key in (
        {IdKind.ACCOUNT: "CT-OTHER"},
        {IdKind.MAIL: "otto.other@example.test"},
        {IdKind.EMPLOYEE_ID: "880002"},
        {IdKind.MIM_OBJECT_ID: ids["other"]},
    ):
        assert connector.verify_absent(key, timeout=T).remaining == (other,)
    sent = len(stub.scripts)
    empty = connector.verify_absent({IdKind.ACCOUNT: "", IdKind.MAIL: "\x00"}, timeout=T)
    assert empty.absent and len(stub.scripts) == sent  # never a bare /Person: everyone
    for nothing in ({}, {IdKind.DISPLAY_NAME: "Otto Other"}, {IdKind.ACCOUNT: "a'b\"c"}):
        with pytest.raises(NotSupported):
            connector.verify_absent(nothing, timeout=T)


# -- errors ------------------------------------------------------------------------------


def test_a_powershell_error_is_a_connector_error_without_the_persons_data(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    def fails(args: Any) -> Any:
        raise PowerShellError(
            "Microsoft.ResourceManagement.Automation.ExportConfigException",
            f"Export-FIMConfig failed for {args['xpath']} (value {SECRET})",
            "InvalidOperation",
            "ExportConfig,Microsoft.ResourceManagement.Automation.ExportConfig",
        )

    stub.handlers["mimservice_search"] = fails
    with pytest.raises(ConnectorError) as info:
        connector.search(Query(QueryKind.MAIL_OR_UPN, SECRET), timeout=T)
    text = str(info.value)
    assert "ExportConfigException" in text
    for fragment in (SECRET, "O'Doe", "Doe-4711", "4711@example"):
        assert fragment.lower() not in text.lower()


def test_an_access_denied_answer_is_denied(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    ids = seed(mim)

    def refuses(args: Any) -> Any:
        raise PowerShellError(
            "Microsoft.ResourceManagement.WebServices.Exceptions.PermissionDeniedException",
            "The MIM Service refused the request: no MPR grants it.",
            "PermissionDenied",
            "ImportConfig",
        )

    stub.handlers["mimservice_delete"] = refuses
    plan = DeletePlan(ObjectRef("mimservice", ids["zoe"]), PlanAction.DELETE, "x")
    with pytest.raises(Denied):
        connector.apply_delete(plan, timeout=T)


def test_unexpected_output_is_a_connector_error(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    stub.handlers["mimservice_search"] = lambda args: [{"attributes": {}}]
    with pytest.raises(ConnectorError, match="unexpected output"):
        connector.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
    stub.handlers["mimservice_retention"] = lambda args: {"periods": ["thirty"]}
    assert not connector.health(timeout=T).ok


def test_an_unreachable_endpoint_is_unreachable(stub: WsmanStub) -> None:
    settings = MimServiceSettings(
        stub_winrm(f"https://127.0.0.1:{closed_port()}/wsman", stub.ca_file)
    )
    with PowerShellRunner(settings.winrm) as runner:
        c = MimServiceConnector(settings, runner)
        with pytest.raises(Unreachable):
            c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=2)
        health = c.health(timeout=2)
    assert (health.system, health.ok) == ("mimservice", False)


def test_health_pings_and_reads_the_retention(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    health = connector.health(timeout=T)
    assert health.ok and "MIM01" in health.detail and "RetentionPeriod 30 days" in health.detail


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"module": "fim"}, ""),
        ({"service_uri": "net.tcp://localhost:5736"}, "must start with one of http://"),
        ({"service_uri": "https://localhost:5725"}, "no public source shows FIMAutomation"),
        ({"module": "lithnetrma", "service_uri": "https://localhost"}, "no https mode"),
        ({"module": "lithnetrma", "service_uri": "pipe://localhost"}, "needs PowerShell 7"),
        ({"module": "lithnetrma", "service_uri": "ftp://x"}, "must start with one of"),
        ({"max_hits": 0}, ""),
        ({"timeout": 0}, ""),
        ({"message_size": 0}, ""),
    ],
)
def test_settings_refuse_what_cannot_work(
    stub: WsmanStub, kwargs: dict[str, Any], why: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(why) if why else None):
        MimServiceSettings(stub_winrm(stub.https_endpoint, stub.ca_file), **kwargs)


def test_lithnet_schemes_that_need_server_setup_are_accepted_with_a_note(stub: WsmanStub) -> None:
    winrm = stub_winrm(stub.https_endpoint, stub.ca_file)
    plain = MimServiceSettings(winrm, module="lithnetrma")
    assert plain.scheme_note == ""
    tcp = MimServiceSettings(winrm, module="lithnetrma", service_uri="net.tcp://localhost:5736")
    assert "net.tcp endpoints enabled" in tcp.scheme_note
    rmc = MimServiceSettings(winrm, module="lithnetrma", service_uri="rmc://localhost:5735")
    assert "proxy service" in rmc.scheme_note


@pytest.mark.parametrize("uri", ["http://mim02.corp.example:5725", "http://10.0.0.5:5725"])
def test_a_remote_service_uri_is_a_second_hop_that_needs_delegation(
    stub: WsmanStub, uri: str
) -> None:
    winrm = replace(stub_winrm(stub.https_endpoint, stub.ca_file), transport="ntlm")
    with pytest.raises(ValueError, match="set winrm transport: credssp, or transport: kerberos"):
        MimServiceSettings(winrm, service_uri=uri)
    for delegating in (
        replace(winrm, transport="credssp"),
        replace(winrm, transport="kerberos", kerberos_delegation=True),
    ):
        assert MimServiceSettings(delegating, service_uri=uri).second_hop
    for local in ("http://localhost:5725", "http://127.0.0.1:5725", "http://[::1]:5725"):
        assert not MimServiceSettings(winrm, service_uri=local).second_hop


def test_message_size_reaches_export_fimconfig_as_data_only_when_set(
    stub: WsmanStub, mim: MimServiceFixture
) -> None:
    winrm = stub_winrm(stub.https_endpoint, stub.ca_file)
    seed(mim)
    for size in (None, 20_000_000):
        c = MimServiceConnector(MimServiceSettings(winrm, message_size=size))
        try:
            c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=T)
        finally:
            c.close()
        args = mim.calls[-1][1]
        assert args.get("message_size") == size and ("message_size" in args) == bool(size)


def test_the_stand_ins_lithnetrma_results_have_the_rmaobject_shape(
    mim: MimServiceFixture,
) -> None:
    """What the LithnetRMA branches read (RmaObject.cs LoadProperties): the attributes are
    the object's own properties, every bound one present, empty ones None or an empty
    AttributeValueArrayList; references are UniqueIdentifier; there is no `Attributes`."""
    ids = seed(mim)
    (zoe,) = mim.search_resources(
        xpath("Person", [("=", "ObjectID", ids["zoe"])]), ["AccountName", "AuthNWFRegistered"]
    )
    assert isinstance(zoe, RmaObject) and not hasattr(zoe, "Attributes")
    props = zoe.properties
    assert list(props) == sorted(props) and "Attributes" not in props
    assert props["AccountName"] == "ct-zoe"
    assert str(props["ObjectID"]) == f"urn:uuid:{ids['zoe']}"
    registered = props["AuthNWFRegistered"]
    assert isinstance(registered, AttributeValueArrayList)
    assert [str(v) for v in registered] == ["urn:uuid:2b6c0d4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f"]
    assert isinstance(registered[0], UniqueIdentifier)
    assert props["Email"] is None  # bound, not fetched
    assert props["ProxyAddressCollection"] == []
    (export,) = mim.export(xpath("Person", [("=", "ObjectID", ids["zoe"])]))
    assert export.ObjectIdentifier == f"urn:uuid:{ids['zoe']}"
    exported = {a.AttributeName for a in export.ResourceManagementAttributes}
    assert "AccountName" in exported and "ProxyAddressCollection" not in exported
