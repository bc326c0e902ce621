"""`doctor` of the PAM connector: every check OK on a healthy stand-in (the demo estate's, and
one reached over CredSSP), and each fault put into the stand-in (demo/pam_fixture.py: never
the connector) named by its check, WRONG or CANNOT_TELL with a fix, within the timeout."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from connectors._shared.powershell import WinRmSettings
from connectors.doctor import Check, Verdict
from connectors.pam.connector import PamConnector, PamSettings
from demo.estate import DemoEstate
from demo.pam_fixture import PamFixture, PamUser
from demo.wsman_stub import NTLM_USER, PowerShellError, WsmanStub

T = 5.0
POWERSHELL = "Windows PowerShell 5.1 (Desktop) answers over WinRM"
HOP = "credentials can reach a third machine (second hop)"
LOADS = "MIMPAM module loads"
VERSION = "MIMPAM is 4.5.26.0 or later"
ROLES = "PAM roles are readable (Get-PAMRole)"
DOMAIN = "PAM holds users of the source domain CORP"
FIM = "FIMAutomation reads PAM's MIM Service (to confirm removals)"
ALL = [POWERSHELL, HOP, LOADS, VERSION, ROLES, DOMAIN, FIM]
PEOPLE = ("jdoe", "Jane Doe", "asmith", "Anna Smith", "bking")


@pytest.fixture
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def pam(stub: WsmanStub) -> PamFixture:
    return PamFixture(
        [
            PamUser("jdoe", "Jane Doe", roles=("CorpAdmins",)),
            PamUser("asmith", "Anna Smith", roles=("CorpAdmins", "SQL Admins")),
            PamUser("bking", "Ben King", "OTHER"),
        ]
    ).install(stub)


def credssp(stub: WsmanStub, **kw: object) -> PamSettings:
    """Settings whose credentials delegate (the stand-in does CredSSP as Windows does)."""
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
    c = PamConnector(credssp(stub))
    yield c
    c.close()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def not_ok(checks: list[Check]) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in checks if c.verdict is not Verdict.OK}


def test_every_check_is_ok_on_a_healthy_pam_reached_with_delegating_credentials(
    connector: PamConnector,
) -> None:
    checks = connector.doctor(timeout=T)
    assert [c.name for c in checks] == ALL
    assert not_ok(checks) == {}
    got = by_name(checks)
    assert got[LOADS].detail == "MIMPAM 4.6.34.0"
    assert got[ROLES].detail == "2 PAM roles"
    assert got[DOMAIN].detail == "2 PAM users in CORP; source domains: CORP (2), OTHER (1)"
    assert got[HOP].detail == "credssp, delegating"


def test_the_demo_estates_pam_is_ok_but_for_the_second_hop_its_transport_decides(
    tmp_path: Path,
) -> None:
    estate = DemoEstate(tmp_path)
    try:
        connectors = estate.connectors()
        try:
            (pam,) = [c for c in connectors if c.name == "pam"]
            checks = pam.doctor(timeout=T)  # type: ignore[attr-defined]
            delegates = pam.settings.winrm.delegates  # type: ignore[attr-defined]
        finally:
            for c in connectors:
                c.close()
    finally:
        estate.close()
    assert [c.name for c in checks] == ALL
    assert delegates  # the demo's WinRM is CredSSP: the second hop can work
    assert not_ok(checks) == {}


@pytest.mark.parametrize(
    "winrm",
    [
        WinRmSettings("https://pam01:5986/wsman", "svc", "pw", "basic", ca_file=Path("ca.pem")),
        WinRmSettings("http://pam01:5985/wsman", "PRIV\\svc", "pw", "ntlm"),
        WinRmSettings("http://pam01:5985/wsman"),  # kerberos without delegation
    ],
)
def test_credentials_that_do_not_delegate_are_refused_at_start_up(winrm: WinRmSettings) -> None:
    # Remove-PAMUser writes to the PRIV DC: without delegation every erasure would fail
    # at its PAM step, so the configuration is refused, saying what to set.
    with pytest.raises(ValueError, match="second hop") as refused:
        PamSettings(winrm=winrm, source_domain="CORP")
    assert "credssp" in str(refused.value) and "kerberos_delegation" in str(refused.value)


def test_mimpam_that_does_not_load_is_wrong_and_what_needs_it_cannot_tell(
    connector: PamConnector, pam: PamFixture
) -> None:
    pam.module_version = None
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {
        LOADS: Verdict.WRONG,
        VERSION: Verdict.CANNOT_TELL,
        ROLES: Verdict.CANNOT_TELL,
        DOMAIN: Verdict.CANNOT_TELL,
    }  # FIMAutomation is still asked, and answers
    assert "FileNotFoundException" in by_name(checks)[LOADS].detail


@pytest.mark.parametrize(
    ("version", "verdict"),
    [("4.4.1749.0", Verdict.WRONG), ("4.5.26.0", Verdict.OK), ("1.x", Verdict.CANNOT_TELL)],
)
def test_a_mimpam_older_than_4_5_26_0_is_named(
    connector: PamConnector, pam: PamFixture, version: str, verdict: Verdict
) -> None:
    pam.module_version = version
    check = by_name(connector.doctor(timeout=T))[VERSION]
    assert check.verdict is verdict and version in check.detail
    if verdict is Verdict.WRONG:
        assert "4.5.26.0" in check.fix


def test_unreadable_roles_are_named(connector: PamConnector, pam: PamFixture) -> None:
    pam.roles_readable = False
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {ROLES: Verdict.WRONG}
    assert "PermissionDeniedException" in by_name(checks)[ROLES].detail


def test_unreadable_users_are_named(connector: PamConnector, pam: PamFixture) -> None:
    pam.users_readable = False
    assert not_ok(connector.doctor(timeout=T)) == {DOMAIN: Verdict.WRONG}


def test_a_source_domain_pam_stores_in_another_form_is_named_with_the_forms_it_holds(
    stub: WsmanStub,
) -> None:
    PamFixture(
        [PamUser("jdoe", "Jane Doe", "CORP.CONTOSO.TEST"), PamUser("asmith", "Anna", "OTHER")]
    ).install(stub)
    c = PamConnector(credssp(stub))
    lower = PamConnector(replace(credssp(stub), source_domain="corp.contoso.test"))
    try:
        check = by_name(c.doctor(timeout=T))[DOMAIN]
        fqdn = [x for x in lower.doctor(timeout=T) if x.name.startswith("PAM holds users")]
    finally:
        c.close()
        lower.close()
    assert check.verdict is Verdict.WRONG
    assert "CORP.CONTOSO.TEST (1), OTHER (1)" in check.detail
    assert "source_domain" in check.fix
    assert [x.verdict for x in fqdn] == [Verdict.OK]  # matched whatever its case


def test_no_pam_users_at_all_cannot_tell(stub: WsmanStub) -> None:
    PamFixture().install(stub)
    c = PamConnector(credssp(stub))
    try:
        assert not_ok(c.doctor(timeout=T)) == {DOMAIN: Verdict.CANNOT_TELL}
    finally:
        c.close()


def test_fimautomation_that_cannot_read_is_named(connector: PamConnector, pam: PamFixture) -> None:
    pam.fimautomation = False
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {FIM: Verdict.WRONG}
    assert "FIMAutomation" in by_name(checks)[FIM].fix


def test_a_failing_doctor_script_cannot_tell_each_of_its_checks(
    connector: PamConnector, stub: WsmanStub
) -> None:
    def fails(args: object) -> object:
        raise PowerShellError("System.Management.Automation.RuntimeException", "boom")

    stub.handlers["pam_doctor"] = fails
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {n: Verdict.CANNOT_TELL for n in ALL[2:]}
    assert all(c.fix for c in checks if c.verdict is not Verdict.OK)


def test_a_hung_server_is_told_within_the_timeout(connector: PamConnector, stub: WsmanStub) -> None:
    stub.fail("pam_doctor", "hang")
    started = time.monotonic()
    checks = connector.doctor(timeout=2.0)
    assert time.monotonic() - started < 3.0
    assert {c.verdict for c in checks[2:]} == {Verdict.CANNOT_TELL}
    assert "TimedOut" in checks[2].detail


def test_doctor_writes_nothing_and_reports_no_person(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    before = (copy.deepcopy(pam.users), copy.deepcopy(pam.roles), set(pam.objects))
    checks = connector.doctor(timeout=T)
    assert (pam.users, pam.roles, pam.objects) == before and pam.removed == []
    assert [r.name for r in stub.scripts] == ["ping", "pam_doctor"]
    said = " ".join(f"{c.detail} {c.fix}" for c in checks)
    assert not any(p in said for p in PEOPLE)
