"""`doctor` of the MIM Service connector: every check OK on the demo estate's stand-in and on a
healthy one for either module, and each fault put into the stand-in (demo/mimservice_fixture.py
or a stand-in answer, never the connector) named by its check, WRONG or CANNOT_TELL with a fix,
within the timeout, reading no Person."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors._shared.powershell import WinRmSettings
from connectors.doctor import Check, Verdict
from connectors.mimservice.connector import (
    PERSON_SCHEMA_ATTRIBUTES,
    MimServiceConnector,
    MimServiceSettings,
)
from demo.estate import DemoEstate
from demo.mimservice_fixture import FIM_VERSION, LITHNET_VERSION, MimServiceFixture
from demo.wsman_stub import NTLM_USER, WsmanStub, ping
from tests.support.ports import stub_winrm

T = 5.0
POWERSHELL = "Windows PowerShell 5.1 (Desktop) answers over WinRM"
HOP = "credentials can reach a third machine (second hop)"
RETENTION = "the RetentionPeriod is readable"
SCHEMA = "the schema binds to Person the attributes the bot uses"
LOADS = {"fimautomation": "FIMAutomation snap-in loads", "lithnetrma": "LithnetRMA module loads"}
SCHEME = {
    "fimautomation": "service_uri (http://) suits FIMAutomation snap-in",
    "lithnetrma": "service_uri (http://) suits LithnetRMA module",
}
VERSIONS = {"fimautomation": FIM_VERSION, "lithnetrma": LITHNET_VERSION}


def names(module: str) -> list[str]:
    return [POWERSHELL, LOADS[module], RETENTION, SCHEMA, SCHEME[module]]


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def mim(stub: WsmanStub) -> MimServiceFixture:
    fixture = MimServiceFixture()
    fixture.add_person(AccountName="dr-ann", DisplayName="Ann Doctor", Email="ann@example.test")
    fixture.install(stub)  # also puts back a handler an earlier test replaced
    stub.handlers["ping"] = ping
    return fixture


@pytest.fixture(params=["fimautomation", "lithnetrma"])
def connector(request: pytest.FixtureRequest, stub: WsmanStub) -> Iterator[MimServiceConnector]:
    settings = MimServiceSettings(
        stub_winrm(stub.https_endpoint, stub.ca_file), module=request.param
    )
    c = MimServiceConnector(settings)
    yield c
    c.close()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def not_ok(checks: list[Check]) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in checks if c.verdict is not Verdict.OK}


def test_the_demo_estates_mim_service_passes_every_check(tmp_path: Path) -> None:
    estate = DemoEstate(tmp_path)
    try:
        connectors = estate.connectors()
        try:
            (service,) = [c for c in connectors if c.name == "mimservice"]
            checks = service.doctor(timeout=T)  # type: ignore[attr-defined]
        finally:
            for c in connectors:
                c.close()
    finally:
        estate.close()
    assert [c.name for c in checks] == names("fimautomation")  # localhost: no second hop
    assert not_ok(checks) == {}


def test_a_healthy_service_passes_and_says_what_it_found(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    before = {k: dict(v) for k, v in mim.persons.items()}
    checks = connector.doctor(timeout=T)
    module = connector.settings.module
    assert [c.name for c in checks] == names(module)
    assert not_ok(checks) == {}
    got = by_name(checks)
    assert got[LOADS[module]].detail == f"version {VERSIONS[module]}"
    assert got[RETENTION].detail == "RetentionPeriod 30 days"
    assert got[SCHEMA].detail.startswith(f"all {len(PERSON_SCHEMA_ATTRIBUTES)} bound")
    # Read-only, and no Person read: one script, whose arguments name no one.
    assert [c[0] for c in mim.calls] == ["doctor"]
    assert "dr-ann" not in str(mim.calls) and mim.persons == before


def test_an_attribute_the_schema_does_not_bind_to_person_is_named(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.person_bindings -= {"AuthNWFLockedOut", "msidmOneTimePasswordMobilePhone"}
    check = by_name(connector.doctor(timeout=T))[SCHEMA]
    assert check.verdict is Verdict.WRONG
    assert check.detail == (
        "not bound to Person: AuthNWFLockedOut, msidmOneTimePasswordMobilePhone"
    )
    assert "Schema Management" in check.fix


def test_an_unreadable_schema_cannot_tell(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.schema_readable = False
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {SCHEMA: Verdict.CANNOT_TELL}
    assert "BindingDescription" in by_name(checks)[SCHEMA].fix


def test_an_unreadable_retention_configuration_is_wrong_and_never_30(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.retention_days = None
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {RETENTION: Verdict.WRONG}
    check = by_name(checks)[RETENTION]
    assert "no SystemResourceRetentionConfiguration is visible" in check.detail
    assert "30" not in check.detail and "MPR" in check.fix


def test_a_refused_retention_read_is_wrong_and_a_failing_one_cannot_tell(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    healthy = stub.handlers["mimservice_doctor"]
    for error, verdict in (
        ("Microsoft.ResourceManagement.WebServices.Exceptions.PermissionDeniedException: no"
         " MPR grants it", Verdict.WRONG),
        ("System.TimeoutException: the request channel timed out", Verdict.CANNOT_TELL),
    ):  # fmt: skip

        def answer(args: Any, error: str = error) -> Any:
            return {**healthy(args), "retention": {"periods": [], "error": error}}

        stub.handlers["mimservice_doctor"] = answer
        checks = connector.doctor(timeout=T)
        assert not_ok(checks) == {RETENTION: verdict}
        assert by_name(checks)[RETENTION].detail == error
        # The schema was read through service_uri, so the scheme is shown to work.
        assert by_name(checks)[SCHEME[connector.settings.module]].verdict is Verdict.OK


def test_a_missing_module_is_wrong_and_what_needs_it_cannot_tell(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.module_installed = False
    checks = connector.doctor(timeout=T)
    module = connector.settings.module
    assert not_ok(checks) == {
        LOADS[module]: Verdict.WRONG,
        RETENTION: Verdict.CANNOT_TELL,
        SCHEMA: Verdict.CANNOT_TELL,
        SCHEME[module]: Verdict.CANNOT_TELL,
    }
    check = by_name(checks)[LOADS[module]]
    expected = "LithnetRMA" if module == "lithnetrma" else "FIMAutomation"
    assert expected in check.detail and expected in check.fix


def test_powershell_7_at_the_endpoint_is_wrong(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    stub.handlers["ping"] = lambda args: {
        "host": "MIM01",
        "ps_version": "7.4.6",
        "ps_edition": "Core",
    }
    checks = connector.doctor(timeout=T)
    assert not_ok(checks) == {POWERSHELL: Verdict.WRONG}
    assert "7.4.6, Core edition" in by_name(checks)[POWERSHELL].detail


def test_a_remote_service_uri_checks_the_second_hop(
    stub: WsmanStub, mim: MimServiceFixture
) -> None:
    winrm = WinRmSettings(
        stub.https_endpoint, *NTLM_USER, "credssp", ca_file=Path(stub.ca_file),
        operation_timeout=1, read_timeout=3,
    )  # fmt: skip
    settings = MimServiceSettings(winrm, service_uri="net.tcp://mim02.corp.example:5736",
                                  module="lithnetrma")  # fmt: skip
    c = MimServiceConnector(settings)
    try:
        checks = c.doctor(timeout=T)
    finally:
        c.close()
    assert [x.name for x in checks][:2] == [POWERSHELL, HOP]
    assert not_ok(checks) == {}
    scheme = by_name(checks)["service_uri (net.tcp://) suits LithnetRMA module"]
    assert "net.tcp endpoints enabled" in scheme.detail


def test_a_hung_script_is_cannot_tell_within_the_timeout(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    stub.fail("mimservice_doctor", "hang")
    try:
        started = time.monotonic()
        checks = connector.doctor(timeout=2.0)
        took = time.monotonic() - started
    finally:
        stub.release()
    module = connector.settings.module
    assert not_ok(checks) == {
        n: Verdict.CANNOT_TELL for n in (LOADS[module], RETENTION, SCHEMA, SCHEME[module])
    }
    assert took < 4.0


def test_unexpected_output_cannot_tell(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    stub.handlers["mimservice_doctor"] = lambda args: ["not", "a", "result"]
    checks = connector.doctor(timeout=T)
    assert set(not_ok(checks).values()) == {Verdict.CANNOT_TELL} and len(not_ok(checks)) == 4
