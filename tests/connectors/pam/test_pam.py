"""The PAM connector over pywinrm's real transport, against the WS-Management stand-in answering
from fixture PAM state (demo/pam_fixture.py). The .ps1 scripts are not executed here."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from connectors._shared.names import is_account_name
from connectors._shared.powershell import ScriptError, WinRmSettings
from connectors.base import (
    RANK_TARGET,
    Capability,
    Connector,
    DeletePlan,
    IdKind,
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
)
from connectors.errors import ConnectorError, NotFound, NotSupported, TimedOut, Unreachable
from connectors.pam.connector import WARNING, PamConnector, PamSettings
from demo.pam_fixture import PamFixture, PamUser
from demo.wsman_stub import NTLM_USER, PowerShellError, WsmanStub
from tests.support.ports import closed_port

T = 5.0
ARGS_LINE = re.compile(r"FromBase64String\('[A-Za-z0-9+/=]*'\)")
HOSTILE = [
    "O'Brien",
    'say "hi"',
    "both ' and \"",
    "$(Remove-Item C:\\ -Recurse)",
    "`whoami`",
    "a; Stop-Computer",
    "line1\nline2\r\n'); exit 0 #",
    "' or 1=1 or '",
    '" or starts-with(SourceAccountName,"%") or "',
    "*",
    # Hostile, and yet names an account could have (connectors/_shared/names.py): these are sent.
    "$(Stop-Computer)",
    "' -or '1' -eq '1",
    "a'\nexit 0 #",
    "@(whoami)",
]


@pytest.fixture
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def pam(stub: WsmanStub) -> PamFixture:
    fixture = PamFixture(
        [
            PamUser("jdoe", "Jane Doe", roles=("CorpAdmins", "SQL Admins")),
            PamUser("jdoe", "Jane Doe (Other)", "OTHER"),
            PamUser("asmith", "Anna Smith", "OTHER"),
            PamUser("o\u2019brien", "Orla O\u2019Brien", roles=("SQL Admins", "CorpAdmins")),
        ]
    )
    return fixture.install(stub)


def settings(stub: WsmanStub, **kw: object) -> PamSettings:
    winrm = WinRmSettings(
        stub.https_endpoint,
        *NTLM_USER,
        "credssp",
        ca_file=Path(stub.ca_file),
        operation_timeout=1,
        read_timeout=3,
    )
    return PamSettings(winrm=winrm, source_domain="CORP", **kw)  # type: ignore[arg-type]


@pytest.fixture
def connector(stub: WsmanStub, pam: PamFixture) -> Iterator[PamConnector]:
    c = PamConnector(settings(stub))
    yield c
    c.close()


def user(pam: PamFixture, account: str, domain: str = "CORP") -> PamUser:
    (found,) = [
        u
        for u in pam.users.values()
        if (u.source_account_name, u.source_domain) == (account, domain)
    ]
    return found


# -- shape and search ---------------------------------------------------------------


def test_connector_satisfies_the_protocol_and_is_healthy(connector: PamConnector) -> None:
    assert isinstance(connector, Connector)
    assert (connector.name, connector.label) == ("pam", "MIM PAM")
    assert connector.capabilities == {
        Capability.SEARCH,
        Capability.READ,
        Capability.DELETE,
        Capability.VERIFY,
    }
    health = connector.health(timeout=T)
    assert (health.system, health.ok) == ("pam", True) and "MIM01" in health.detail


def test_search_by_account_finds_the_pam_user_of_the_source_domain(
    connector: PamConnector, pam: PamFixture, stub: WsmanStub
) -> None:
    jdoe = user(pam, "jdoe")
    (hit,) = connector.search(Query(QueryKind.NAME, "JDoe"), timeout=T)

    assert hit.ref == ObjectRef("pam", jdoe.id)
    assert dict(hit.identifiers) == {
        IdKind.ACCOUNT: "jdoe",
        IdKind.DOMAIN: "CORP",
        IdKind.DISPLAY_NAME: "Jane Doe",
    }
    assert hit.label == "Jane Doe (CORP\\jdoe, PAM)"
    assert hit.location == "CORP.jdoe@priv.contoso.test"  # its PRIV account
    assert hit.attributes["PrivAccountName"] == ("CORP.jdoe",)
    # both of its MIM Service objects (MIMDocs pam/step-6-transition-group-to-pam.md)
    assert hit.attributes["PrivUserResourceId"] == (jdoe.id,)
    assert hit.attributes["SourceUserResourceId"] == (jdoe.source_user_id,)
    assert stub.scripts[-1].name == "pam_get_user"
    assert stub.scripts[-1].args == {"names": ["JDoe"], "domains": ["CORP"]}


def test_search_by_account_attribute_is_the_same_search(connector: PamConnector) -> None:
    query = Query(QueryKind.ATTRIBUTE, "jdoe", attribute="sAMAccountName")
    assert [h.label for h in connector.search(query, timeout=T)] == ["Jane Doe (CORP\\jdoe, PAM)"]


def test_search_for_an_unknown_account_is_an_empty_list(connector: PamConnector) -> None:
    assert connector.search(Query(QueryKind.NAME, "nobody-4711"), timeout=T) == []


def test_an_account_of_another_domain_is_not_found(connector: PamConnector) -> None:
    assert connector.search(Query(QueryKind.NAME, "asmith"), timeout=T) == []
    (jdoe,) = connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert jdoe.identifiers[IdKind.DOMAIN] == "CORP"  # not its namesake in OTHER
    other = PamConnector(replace(connector.settings, source_domain="OTHER"))
    try:
        (hit,) = other.search(Query(QueryKind.NAME, "asmith"), timeout=T)
    finally:
        other.close()
    assert hit.identifiers[IdKind.DOMAIN] == "OTHER"


def test_a_typographic_apostrophe_is_searched_too(connector: PamConnector) -> None:
    (hit,) = connector.search(Query(QueryKind.NAME, "O'Brien"), timeout=T)
    assert hit.identifiers[IdKind.ACCOUNT] == "o\u2019brien"


@pytest.mark.parametrize(
    "query",
    [
        Query(QueryKind.MAIL_OR_UPN, "jane.doe@example.test"),
        Query(QueryKind.EMPLOYEE_ID, "4711"),
        Query(QueryKind.PREFIX, "Jane"),
        Query(QueryKind.ATTRIBUTE, "jane.doe@example.test", attribute="mail"),
    ],
    ids=lambda q: q.kind.value,
)
def test_other_kinds_of_search_are_not_supported(
    connector: PamConnector, stub: WsmanStub, query: Query
) -> None:
    with pytest.raises(NotSupported, match="PAM is searched by account name"):
        connector.search(query, timeout=T)
    assert stub.scripts == []


@pytest.mark.parametrize("value", ["", "  ", "jdoe\x00", "x" * 10_000, "x" * 21, "j[doe]"])
def test_a_value_that_names_no_account_finds_no_one_and_sends_nothing(
    connector: PamConnector, stub: WsmanStub, value: str
) -> None:
    assert connector.search(Query(QueryKind.NAME, value), timeout=T) == []
    assert stub.scripts == []


def test_hostile_account_values_reach_the_wire_only_as_data(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    for value in HOSTILE:
        hits = connector.search(Query(QueryKind.NAME, value), timeout=T)
        found = [h.identifiers[IdKind.ACCOUNT] for h in hits]
        assert found == (["o\u2019brien"] if value == "O'Brien" else []), value
    runs = [r for r in stub.scripts if r.name == "pam_get_user"]
    sent = [v for v in HOSTILE if is_account_name(v)]  # the others name no account: unsent
    assert len(sent) >= 5
    assert [r.args["names"][0] for r in runs] == sent  # intact, as data
    shapes = {ARGS_LINE.sub("<ARGS>", r.text).encode() for r in runs}
    assert len(shapes) == 1  # byte-identical script text whatever the value
    assert not stub.errors


def test_hostile_account_values_reach_search_records_only_as_data(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    for value in HOSTILE:
        found = connector.search_records(Query(QueryKind.NAME, value), limit=1, timeout=T)
        accounts = [f.hit.identifiers[IdKind.ACCOUNT] for f in found]
        assert accounts == (["o\u2019brien"] if value == "O'Brien" else []), value
    runs = [r for r in stub.scripts if r.name == "pam_get_user"]
    assert [r.args["names"][0] for r in runs] == [v for v in HOSTILE if is_account_name(v)]
    assert all(r.args["records"] == 1 for r in runs)
    assert len({ARGS_LINE.sub("<ARGS>", r.text).encode() for r in runs}) == 1
    assert not stub.errors


# -- search_records: the search that also reads ---------------------------------------------


def test_search_records_reads_the_roles_in_the_search_script(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    (found,) = connector.search_records(Query(QueryKind.NAME, "jdoe"), limit=1, timeout=T)
    assert [r.name for r in stub.scripts] == ["pam_get_user"]  # one trip
    assert found.hit == connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)[0]
    assert found.record == connector.read(found.hit.ref, timeout=T)
    assert found.record.attributes["PAMRoles"].values == ("CorpAdmins", "SQL Admins")
    plain = [r for r in stub.scripts if r.name == "pam_get_user"][1]
    assert "records" not in plain.args  # a search alone reads no roles


def test_roles_the_search_cannot_read_leave_the_record_to_the_read(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    """Get-PAMRole failing inside the search (its try) leaves the users without roles: the
    search still answers, and the read reports the error, as a read always did."""
    pam.roles_readable = False
    (found,) = connector.search_records(Query(QueryKind.NAME, "jdoe"), limit=1, timeout=T)
    assert found.record is None and found.hit.identifiers[IdKind.ACCOUNT] == "jdoe"
    with pytest.raises(ConnectorError, match=r"PermissionDenied|not allowed"):
        connector.read(found.hit.ref, timeout=T)


# -- read and erasure ------------------------------------------------------------------


def test_read_gives_the_accounts_and_the_roles(connector: PamConnector, pam: PamFixture) -> None:
    jdoe = user(pam, "jdoe")
    record = connector.read(ObjectRef("pam", jdoe.id.upper()), timeout=T)
    values = {k: v.values for k, v in record.attributes.items()}
    assert values == {
        "SourceAccountName": ("jdoe",),
        "SourceDomain": ("CORP",),
        "SourceDisplayName": ("Jane Doe",),
        "SourceUserResourceId": (jdoe.source_user_id,),
        "PrivAccountName": ("CORP.jdoe",),
        "PrivUserPrincipalName": ("CORP.jdoe@priv.contoso.test",),
        "PrivDomain": ("priv.contoso.test",),  # the UPN's suffix
        "PrivDisplayName": ("Jane Doe (PRIV)",),
        "PrivUserResourceId": (jdoe.id,),
        "PAMRoles": ("CorpAdmins", "SQL Admins"),
    }
    assert all(v.source == "pam" for v in record.attributes.values())


@pytest.mark.parametrize("ref_id", ["*", "'", "", "Zoë", "x" * 300, "jdoe"])
def test_a_ref_id_that_is_not_a_guid_is_not_found_without_a_call(
    connector: PamConnector, stub: WsmanStub, ref_id: str
) -> None:
    ref = ObjectRef("pam", ref_id)
    with pytest.raises(NotFound):
        connector.read(ref, timeout=T)
    with pytest.raises(NotFound):
        connector.plan_delete(ref, timeout=T)
    assert stub.scripts == []


def test_a_missing_ref_is_not_found(connector: PamConnector) -> None:
    ref = ObjectRef("pam", str(uuid.uuid4()))
    with pytest.raises(NotFound):
        connector.read(ref, timeout=T)
    with pytest.raises(NotFound):
        connector.plan_delete(ref, timeout=T)


def test_the_plan_removes_the_pam_user_after_a_person_confirms(
    connector: PamConnector, pam: PamFixture
) -> None:
    ref = ObjectRef("pam", user(pam, "jdoe").id)
    plan = connector.plan_delete(ref, timeout=T)
    assert (plan.ref, plan.action) == (ref, PlanAction.DELETE)
    assert plan.summary == "Remove the PAM user (its PRIV shadow account)"
    assert plan.manual == (ManualStep(ManualTask.CONFIRM_PRIVILEGED, WARNING),)
    assert "PAM owner" in WARNING
    assert plan.authority_rank == RANK_TARGET
    assert plan.notes == ("Taken off PAM roles first: CorpAdmins, SQL Admins",)
    assert pam.removed == []  # planning changes nothing


def test_apply_verify_and_a_second_apply_is_already_absent(
    connector: PamConnector, pam: PamFixture
) -> None:
    jdoe = user(pam, "jdoe")
    (hit,) = connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    before = connector.verify_absent(hit.identifiers, timeout=T)
    assert (before.absent, before.remaining) == (False, (hit.ref,))

    plan = connector.plan_delete(hit.ref, timeout=T)
    first = connector.apply_delete(plan, timeout=T)
    after = connector.verify_absent(hit.identifiers, timeout=T)
    second = connector.apply_delete(plan, timeout=T)

    assert (first.done, first.already_absent) == (True, False)
    assert pam.removed == [jdoe.id]
    assert (after.system, after.absent, after.remaining) == ("pam", True, ())
    assert (second.done, second.already_absent) == (True, True)
    with pytest.raises(NotFound):
        connector.read(hit.ref, timeout=T)
    assert connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T) == []
    # the namesake in the other domain is untouched
    assert user(pam, "jdoe", "OTHER").source_display_name == "Jane Doe (Other)"


def test_verify_searches_the_identifiers_domain(connector: PamConnector, pam: PamFixture) -> None:
    other = connector.verify_absent({IdKind.ACCOUNT: "asmith", IdKind.DOMAIN: "OTHER"}, timeout=T)
    default = connector.verify_absent({IdKind.ACCOUNT: "asmith"}, timeout=T)
    assert other.remaining == (ObjectRef("pam", user(pam, "asmith", "OTHER").id),)
    assert default.absent


@pytest.mark.parametrize(
    "ids", [{}, {IdKind.MAIL: "jane.doe@example.test"}, {IdKind.DOMAIN: "CORP"}], ids=str
)
def test_verify_without_an_account_is_not_supported(
    connector: PamConnector, ids: dict[IdKind, str]
) -> None:
    with pytest.raises(NotSupported):
        connector.verify_absent(ids, timeout=T)


@pytest.mark.parametrize("account", ["*", "' OR 1=1 --", "x" * 300, "jdoe\x00"], ids=repr)
def test_hostile_identifiers_verify_as_absent(connector: PamConnector, account: str) -> None:
    result = connector.verify_absent({IdKind.ACCOUNT: account}, timeout=T)
    assert (result.absent, result.remaining) == (True, ())


# -- errors --------------------------------------------------------------------------


def test_a_powershell_error_is_a_connector_error_without_the_persons_data(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    secret = "jane.o'doe-4711"

    def fails(args: object) -> object:
        raise PowerShellError(
            "Microsoft.ResourceManagement.WebServices.Exceptions.UnwillingToPerformException",
            f"Get-PAMUser: cannot read the PAM user '{secret}' in CORP",
            "InvalidOperation",
            "GetPAMUser,Microsoft.IdentityManagement.PamCmdlets.GetPAMUser",
        )

    stub.handlers["pam_get_user"] = fails
    with pytest.raises(ConnectorError) as info:
        connector.search(Query(QueryKind.NAME, secret), timeout=T)
    assert isinstance(info.value, ScriptError)
    assert secret.casefold() not in str(info.value).casefold()
    assert "UnwillingToPerformException" in str(info.value)


def test_malformed_output_is_a_connector_error_that_does_not_echo_it(
    connector: PamConnector, stub: WsmanStub
) -> None:
    stub.handlers["pam_get_user"] = lambda args: [{"id": "Jane Doe", "source_account_name": 1}]
    with pytest.raises(ConnectorError, match="unexpected output") as info:
        connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert "Jane" not in str(info.value)
    stub.handlers["pam_remove_user"] = lambda args: "Jane Doe removed"
    plan = DeletePlan(ObjectRef("pam", str(uuid.uuid4())), PlanAction.DELETE, "x")
    with pytest.raises(ConnectorError, match="unexpected output"):
        connector.apply_delete(plan, timeout=T)


def test_one_user_unrolled_by_powershell_is_still_a_list(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    jdoe = user(pam, "jdoe")
    stub.handlers["pam_get_user"] = lambda args: jdoe.output()
    (hit,) = connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert hit.ref.id == jdoe.id


def test_a_hung_script_is_timed_out_within_the_settings_cap(
    stub: WsmanStub, pam: PamFixture
) -> None:
    stub.fail("pam_get_user", "hang")
    c = PamConnector(settings(stub, timeout=1.0))
    started = time.monotonic()
    try:
        with pytest.raises(TimedOut):
            c.search(Query(QueryKind.NAME, "jdoe"), timeout=T)  # the settings' 1 s applies
        assert time.monotonic() - started < 2.0
        assert c.search(Query(QueryKind.NAME, "jdoe"), timeout=T)  # a new lane works
    finally:
        c.close()


def test_an_unreachable_server_is_unreachable_from_every_call(stub: WsmanStub) -> None:
    base = settings(stub)
    dead = replace(
        base, winrm=replace(base.winrm, endpoint=f"https://127.0.0.1:{closed_port()}/wsman")
    )
    c = PamConnector(dead)
    ref = ObjectRef("pam", str(uuid.uuid4()))
    calls = {
        "search": lambda: c.search(Query(QueryKind.NAME, "jdoe"), timeout=2),
        "read": lambda: c.read(ref, timeout=2),
        "plan_delete": lambda: c.plan_delete(ref, timeout=2),
        "apply_delete": lambda: c.apply_delete(DeletePlan(ref, PlanAction.DELETE, "x"), timeout=2),
        "verify_absent": lambda: c.verify_absent({IdKind.ACCOUNT: "jdoe"}, timeout=2),
    }
    try:
        for name, call in calls.items():
            with pytest.raises(Unreachable):
                call()
                pytest.fail(f"{name} answered")
        health = c.health(timeout=2)
    finally:
        c.close()
    assert (health.system, health.ok) == ("pam", False)


@pytest.mark.parametrize(
    "domain",
    ["", "   ", "A" * 16, "CO\\RP", "C'RP", ".CORP", "corp.", "corp..test", "-corp.test",
     "corp_x.test", "a." * 127 + "b", "corp.example.test\x00"],
)  # fmt: skip
def test_settings_refuse_a_domain_that_is_neither_netbios_nor_dns(
    stub: WsmanStub, domain: str
) -> None:
    with pytest.raises(ValueError, match="NetBIOS or DNS"):
        replace(settings(stub), source_domain=domain)


@pytest.mark.parametrize("domain", ["CORP", "corp", "corp.contoso.test", "CONTOSO.LOCAL"])
def test_settings_take_a_netbios_or_a_dns_name(stub: WsmanStub, domain: str) -> None:
    # New-PAMUser.md describes a NetBIOS name; its example and MIMDocs step 6 pass CONTOSO.LOCAL
    assert replace(settings(stub), source_domain=domain).source_domain == domain


def test_a_source_domain_stored_as_a_dns_name_is_found_whatever_its_case(
    stub: WsmanStub, pam: PamFixture
) -> None:
    fqdn = pam.add("pfuller", "Pat Fuller", "CONTOSO.LOCAL")
    c = PamConnector(replace(settings(stub), source_domain="contoso.local"))
    try:
        (hit,) = c.search(Query(QueryKind.NAME, "PFuller"), timeout=T)
        gone = c.verify_absent({IdKind.ACCOUNT: "pfuller"}, timeout=T)
    finally:
        c.close()
    assert hit.ref.id == fqdn.id and hit.identifiers[IdKind.DOMAIN] == "CONTOSO.LOCAL"
    assert hit.label == "Pat Fuller (CONTOSO.LOCAL\\pfuller, PAM)"
    assert gone.remaining == (hit.ref,)


def test_verify_looks_in_the_source_domain_too_when_another_system_spells_it_otherwise(
    stub: WsmanStub, pam: PamFixture
) -> None:
    # AD says CORP; PAM stores the forest's DNS name: the user is found, not missed.
    fqdn = pam.add("pfuller", "Pat Fuller", "CORP.CONTOSO.TEST")
    c = PamConnector(replace(settings(stub), source_domain="corp.contoso.test"))
    try:
        left = c.verify_absent({IdKind.ACCOUNT: "pfuller", IdKind.DOMAIN: "CORP"}, timeout=T)
    finally:
        c.close()
    assert (left.absent, left.remaining) == (False, (ObjectRef("pam", fqdn.id),))
    assert stub.scripts[-1].args["domains"] == ["corp.contoso.test", "CORP"]


def test_the_priv_domain_is_the_upns_suffix_and_never_the_winrm_accounts(
    connector: PamConnector, pam: PamFixture
) -> None:
    bare = pam.add("nupn", "No Upn")
    bare.priv_upn = ""  # a PAM user whose PrivUserPrincipalName is empty
    record = connector.read(ObjectRef("pam", bare.id), timeout=T)
    assert "PrivDomain" not in record.attributes  # unknown, not guessed
    assert "PrivUserPrincipalName" not in record.attributes
    (hit,) = connector.search(Query(QueryKind.NAME, "nupn"), timeout=T)
    assert hit.location == "CORP.nupn"
