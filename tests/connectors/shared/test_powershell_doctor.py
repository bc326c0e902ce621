"""The WinRM runner's own doctor checks, against the loopback WinRM stand-in: Windows
PowerShell 5.1 Desktop is what answers (FIMAutomation and MIMPAM exist only there), and a
connector whose commands reach a third machine has credentials that can travel there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors._shared.powershell import PowerShellRunner, WinRmSettings
from connectors.doctor import Verdict
from tests.support.ports import closed_port, stub_winrm


@pytest.fixture
def stub() -> Iterator[Any]:
    from demo.wsman_stub import WsmanStub

    with WsmanStub() as s:
        yield s


def verdicts(runner: PowerShellRunner, *, hop: bool) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in runner.doctor(need_second_hop=hop, timeout=10)}


def test_windows_powershell_51_desktop_is_ok(stub: Any) -> None:
    runner = PowerShellRunner(stub_winrm(stub.https_endpoint, stub.ca_file))
    try:
        checks = runner.doctor(need_second_hop=False, timeout=10)
    finally:
        runner.close()
    assert [(c.name, c.verdict) for c in checks] == [
        ("Windows PowerShell 5.1 (Desktop) answers over WinRM", Verdict.OK)
    ]
    assert "5.1.17763.316, Desktop edition, on MIM01" in checks[0].detail


@pytest.mark.parametrize(
    "answer",
    [
        {"host": "MIM01", "ps_version": "7.4.6", "ps_edition": "Core"},  # pwsh endpoint
        {"host": "MIM01", "ps_version": "4.0"},  # before 5.0 there is no PSEdition
        "not a table",
    ],
)
def test_another_powershell_is_wrong_with_its_fix(stub: Any, answer: Any) -> None:
    stub.handlers["ping"] = lambda args: answer
    runner = PowerShellRunner(stub_winrm(stub.https_endpoint, stub.ca_file))
    try:
        (check,) = runner.doctor(need_second_hop=False, timeout=10)
    finally:
        runner.close()
    assert check.verdict is Verdict.WRONG
    assert "Microsoft.PowerShell session configuration" in check.fix


def test_no_answer_cannot_tell_and_says_where_to_look() -> None:
    settings = WinRmSettings(
        f"https://127.0.0.1:{closed_port()}/wsman",
        "svc",
        "pw",
        "ntlm",
        operation_timeout=1,
        read_timeout=3,
    )
    runner = PowerShellRunner(settings)
    try:
        (check,) = runner.doctor(need_second_hop=False, timeout=5)
    finally:
        runner.close()
    assert check.verdict is Verdict.CANNOT_TELL
    assert "Unreachable" in check.detail and settings.endpoint in check.fix


def test_a_second_hop_needs_credssp_or_kerberos_delegation(stub: Any) -> None:
    from demo.wsman_stub import BASIC_USER

    basic = PowerShellRunner(
        WinRmSettings(stub.https_endpoint, *BASIC_USER, "basic", ca_file=Path(stub.ca_file))
    )
    try:
        found = verdicts(basic, hop=True)
    finally:
        basic.close()
    hop = "credentials can reach a third machine (second hop)"
    assert found[hop] is Verdict.WRONG
    for settings in (
        WinRmSettings("http://mim01:5985/wsman", transport="kerberos", kerberos_delegation=True),
        WinRmSettings("http://mim01:5985/wsman", "CORP\\svc", "pw", "credssp"),
    ):
        assert settings.delegates
        runner = PowerShellRunner(settings)
        hop_check = next(
            c for c in runner.doctor(need_second_hop=True, timeout=0.01) if c.name == hop
        )
        assert hop_check.verdict is Verdict.OK


def test_kerberos_delegation_belongs_to_kerberos_only() -> None:
    with pytest.raises(ValueError, match="kerberos transport only"):
        WinRmSettings(
            "http://mim01:5985/wsman", "CORP\\svc", "pw", "ntlm", kerberos_delegation=True
        )
    assert not WinRmSettings("http://mim01:5985/wsman").delegates
    assert not WinRmSettings(
        "https://mim01:5986/wsman", "svc", "pw", "basic", ca_file=Path("x")
    ).delegates


@pytest.mark.parametrize("credssp_on", [True, False])
def test_a_refused_credssp_logon_is_denied_and_says_what_to_check(credssp_on: bool) -> None:
    # requests-credssp raises its own exceptions, not pywinrm's: a wrong password must
    # still read as Denied (and doctor as "cannot tell" with the WinRM fix), not an error.
    from connectors.errors import Denied
    from demo.wsman_stub import NTLM_USER, WsmanStub

    with WsmanStub(credssp=credssp_on) as stub:
        password = "wrong" if credssp_on else NTLM_USER[1]
        settings = WinRmSettings(
            stub.https_endpoint, NTLM_USER[0], password, "credssp",
            ca_file=Path(stub.ca_file), operation_timeout=1, read_timeout=3,
        )  # fmt: skip
        runner = PowerShellRunner(settings)
        try:
            with pytest.raises(Denied, match="CredSSP"):
                runner.run("ping", {}, timeout=10)
            assert not stub.scripts  # nothing ran
        finally:
            runner.close()
