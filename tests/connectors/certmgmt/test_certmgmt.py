"""The Certificate Management connector: its WinRM road (the provisioning API on the CM server,
connectors/certmgmt/scripts/) through pywinrm's real transport to the WS-Management stand-in
answering from fixture CM state (demo/cm_fixture.py); its doctor, with the REST stand-in
(demo/cm_stub.py) for the one REST check; the REST stand-in itself, which answers only what
the CM REST reference documents; and the find script, read with the PowerShell grammar.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import tree_sitter as ts
import tree_sitter_powershell as tsp

from connectors._shared.http import HttpSettings
from connectors._shared.powershell import WinRmSettings
from connectors.base import IdKind, ObjectRef, PlanAction, Query, QueryKind
from connectors.certmgmt.connector import (
    KEPT,
    MANUAL_PATH,
    CertManagementConnector,
    CertManagementSettings,
)
from connectors.doctor import Verdict
from connectors.errors import NotFound, NotSupported
from demo.cm_fixture import CmFixture
from demo.cm_stub import BASIC_USER as CM_USER
from demo.cm_stub import CmStub
from demo.wsman_stub import BASIC_USER, WsmanStub
from tests.support.paths import REPO
from tests.support.ports import closed_port

T = 5.0
VALID = datetime(2027, 3, 31, 12, 0, tzinfo=UTC)
SCRIPTS = REPO / "connectors" / "certmgmt" / "scripts"


@dataclass
class Estate:
    winrm: WsmanStub
    rest: CmStub
    cm: CmFixture
    connector: CertManagementConnector


def make_settings(winrm: WsmanStub, rest: CmStub | None) -> CertManagementSettings:
    runner = WinRmSettings(
        winrm.https_endpoint,
        *BASIC_USER,
        "basic",
        ca_file=Path(winrm.ca_file),
        operation_timeout=1,
        read_timeout=3,
    )
    http = None
    if rest is not None:
        http = HttpSettings(
            url=rest.https_url,
            auth="basic",
            username=CM_USER[0],
            password=CM_USER[1],
            ca_file=Path(rest.ca_file),
        )
    return CertManagementSettings(winrm=runner, domain="CORP", http=http)


@pytest.fixture
def estate() -> Iterator[Estate]:
    with WsmanStub() as winrm, CmStub() as rest:
        cm = CmFixture().install(winrm)
        c = CertManagementConnector(make_settings(winrm, rest))
        yield Estate(winrm, rest, cm, c)
        c.close()


# -- the REST stand-in follows the reference ----------------------------------------


def _get(stub: CmStub, route: str) -> requests.Response:
    return requests.get(
        f"{stub.https_url}/api/v1.0{route}", auth=CM_USER, verify=stub.ca_file, timeout=T
    )


def test_the_rest_stand_in_has_no_user_lookup_and_lists_only_the_callers_own() -> None:
    """certificate-management-rest-api-service-details.md lists no Users controller, and the
    profile and smart-card lists are the caller's: the old connector's `/users` search and
    cross-user `targetuser` find nobody here."""
    with CmStub() as stub:
        assert _get(stub, "/users?domain=CORP&samaccountname=jdoe").status_code == 404
        someone = "8f1590dc-d932-4b66-8e68-2e91c5880780"
        assert _get(stub, f"/profiles?targetuser={someone}").status_code == 204
        assert _get(stub, f"/smartcards?targetuser={someone}").status_code == 204
        assert _get(stub, f"/smartcards/{someone}/certificates").status_code == 403
        assert _get(stub, "/profiletemplates").status_code == 200
        stub.api_enabled = False
        assert _get(stub, "/profiletemplates").status_code == 404


def test_a_search_uses_the_provisioning_api_not_the_rest_api(estate: Estate) -> None:
    user = estate.cm.add_user("jdoe")
    estate.cm.add_card(user, certificates=[("1B01", VALID)])
    hits = estate.connector.search(Query(QueryKind.NAME, "CORP\\JDoe"), timeout=T)
    assert [h.ref for h in hits] == [ObjectRef("certmgmt", user.guid)]
    assert hits[0].identifiers[IdKind.OBJECT_GUID] == user.guid
    assert estate.rest.requests == []  # no /users, no targetuser: the REST API cannot do it
    script, args = estate.cm.calls[-1]
    assert script == "certmgmt_find" and args["names"][0] == "JDoe" and args["domain"] == "CORP"


# -- what CM keeps ---------------------------------------------------------------------


def test_a_card_of_a_deleted_ad_account_is_found_by_its_objectguid_only(estate: Estate) -> None:
    user = estate.cm.add_user("gone")
    estate.cm.add_card(user, certificates=[("1B02", VALID)])
    estate.cm.delete_account(user)
    c = estate.connector
    by_account = c.verify_absent({IdKind.ACCOUNT: "gone"}, timeout=T)
    assert not by_account.absent and "objectGUID" in by_account.detail  # proves nothing
    by_guid = c.verify_absent({IdKind.OBJECT_GUID: user.guid.upper()}, timeout=T)
    assert not by_guid.absent and by_guid.remaining == (ObjectRef("certmgmt", user.guid),)
    assert c.search(Query(QueryKind.NAME, "gone"), timeout=T) == []


def test_plan_is_a_manual_retire_in_the_portal_and_retired_cards_stay_as_a_residual(
    estate: Estate,
) -> None:
    user = estate.cm.add_user("jdoe")
    estate.cm.add_card(user, certificates=[("1B03", VALID)])
    estate.cm.add_card(user, smartcard=False)
    c, ref = estate.connector, ObjectRef("certmgmt", user.guid)
    plan = c.plan_delete(ref, timeout=T)
    assert plan.action is PlanAction.NONE
    (step,) = plan.manual
    assert step.detail.startswith("retire 1 smart card and revoke 1 software profile")
    assert MANUAL_PATH in step.detail and "jdoe" not in step.detail and "1B03" not in step.detail
    record = c.read(ref, timeout=T)
    assert "2027-03-31T12:00:00+00:00" in " ".join(record.attributes["Certificates"].values)

    estate.cm.retire_all(user)
    after = c.verify_absent({IdKind.OBJECT_GUID: user.guid}, timeout=T)
    assert (after.absent, after.remaining) == (True, ())
    assert [r.description for r in after.residuals] == [KEPT]  # CM deletes nothing
    with pytest.raises(NotFound):
        c.read(ref, timeout=T)
    with pytest.raises(NotSupported):
        c.apply_delete(plan, timeout=T)


# -- doctor ------------------------------------------------------------------------------


def test_doctor_is_all_ok_against_the_stand_ins(estate: Estate) -> None:
    checks = estate.connector.doctor(timeout=T)
    assert [c.verdict for c in checks] == [Verdict.OK] * 5, checks
    names = " | ".join(c.name for c in checks)
    assert "Clm.WebApi.Enabled" in names and "assemblies" in names and "AD" in names
    assert "4.6.607.0" in checks[2].detail


@pytest.mark.parametrize(
    ("fault", "broken", "verdict"),
    [
        ("missing_assemblies", "assemblies load", Verdict.WRONG),
        ("no_templates", "provisioning API answers", Verdict.WRONG),
        ("api_fails", "provisioning API answers", Verdict.WRONG),
        ("no_ad", "reaches AD", Verdict.WRONG),
    ],
)
def test_doctor_names_each_broken_server_assumption(
    estate: Estate, fault: str, broken: str, verdict: Verdict
) -> None:
    estate.cm.faults.add(fault)
    checks = estate.connector.doctor(timeout=T)
    bad = [c for c in checks if c.verdict is not Verdict.OK]
    assert bad and broken in bad[0].name and bad[0].verdict is verdict and bad[0].fix
    assert checks[0].verdict is Verdict.OK  # PowerShell itself still answers


def test_doctor_names_a_disabled_rest_api(estate: Estate) -> None:
    estate.rest.api_enabled = False
    checks = estate.connector.doctor(timeout=T)
    (bad,) = [c for c in checks if c.verdict is not Verdict.OK]
    assert "Clm.WebApi.Enabled" in bad.name and bad.verdict is Verdict.WRONG
    assert "Clm.WebApi.Enabled" in bad.fix and "iisreset" in bad.fix


def test_doctor_never_raises_when_the_server_cannot_be_reached(estate: Estate) -> None:
    s = make_settings(estate.winrm, None)
    dead = replace(s.winrm, endpoint=f"https://127.0.0.1:{closed_port()}/wsman")
    c = CertManagementConnector(replace(s, winrm=dead))
    try:
        checks = c.doctor(timeout=2.0)
    finally:
        c.close()
    assert checks and all(ch.verdict is Verdict.CANNOT_TELL and ch.fix for ch in checks)


# -- the find script, statically ---------------------------------------------------------

PARSER = ts.Parser(ts.Language(tsp.language()))


def _text(name: str) -> str:
    return (SCRIPTS / name).read_text(encoding="utf-8")


def _members(text: str) -> list[str]:
    """Every `[Type]::Member` invocation, as written."""
    found: list[str] = []

    def walk(node: ts.Node) -> None:
        if node.type == "invokation_expression" and node.text and b"::" in node.text:
            found.append(node.text.decode().split("(")[0])
        for child in node.children:
            walk(child)

    walk(PARSER.parse(text.encode()).root_node)
    return found


def test_the_find_script_searches_other_users_through_the_documented_find_calls() -> None:
    text = _text("certmgmt_find.ps1")
    calls = " ".join(_members(text))
    for member in ("FindSmartcards", "FindRequests", "GetProfile", "FindCertificates"):
        assert f"[Microsoft.Clm.Provision.FindOperations]::{member}" in calls, member
    assert "Microsoft.Clm.Provision.dll" in text and "Microsoft.Clm.Shared.dll" in text
    lowered = text.lower()
    assert "/users" not in lowered and "targetuser=" not in lowered  # the REST guesses
    # Accounts are bound by SID or GUID: no LDAP filter is built from a value.
    assert "directorysearcher" not in lowered and "adsisearcher" not in lowered
    assert "LDAP://<SID=" in text and "LDAP://<GUID=" in text
    # Nothing that writes: no retire, revoke or request is started from here.
    assert not any(w in calls for w in ("RequestOperations", "ExecuteOperations"))
