"""`inventory` of the Certificate Management connector, for the data map: the profile data CM
holds (smart cards, software profiles, certificates) under the AD objectGUID, no count of
persons (none documented), the provisioning assembly's version, and what CM keeps: retired
cards and revoked profiles for good, each certificate until it expires; against the stand-in
(demo/cm_fixture.py), faults put there. No person's value may appear in what it returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from connectors._shared.powershell import WinRmSettings
from connectors.capabilities import describes_data
from connectors.certmgmt.connector import (
    DEFAULT_BIN,
    CertManagementConnector,
    CertManagementSettings,
)
from connectors.datamap import Category
from connectors.errors import ConnectorError, TimedOut
from demo.cm_fixture import VERSION, CmFixture
from demo.wsman_stub import BASIC_USER, PowerShellError, WsmanStub
from tests.support.paths import REPO

T = 5.0
SCRIPT = REPO / "connectors" / "certmgmt" / "scripts" / "certmgmt_inventory.ps1"
VALID = datetime(2027, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def cm(stub: WsmanStub) -> CmFixture:
    cm = CmFixture().install(stub)
    user = cm.add_user("qzorvik")
    card = cm.add_card(user, certificates=[("1B0F77AA", VALID)])
    cm.add_card(cm.add_user("wyndle"), certificates=[("1B0F77BB", VALID)])
    cm.retire(card)
    return cm


@pytest.fixture
def connector(stub: WsmanStub, cm: CmFixture) -> Iterator[CertManagementConnector]:
    winrm = WinRmSettings(
        stub.https_endpoint, *BASIC_USER, "basic", ca_file=Path(stub.ca_file),
        operation_timeout=1, read_timeout=3,
    )  # fmt: skip
    c = CertManagementConnector(CertManagementSettings(winrm=winrm, domain="CORP"))
    yield c
    c.close()


def person_values(cm: CmFixture) -> list[str]:
    out = set()
    for user in cm.users.values():
        out |= {user.account, user.guid}
    for card in cm.cards.values():
        out |= {card.uuid} | {c.serial for c in card.certificates}
        out |= {c.thumbprint for c in card.certificates}
    return sorted(v for v in out if v)


def test_cm_is_described(connector: CertManagementConnector, cm: CmFixture) -> None:
    assert describes_data(connector) is connector
    inv = connector.inventory(timeout=T)
    assert (inv.system, inv.label) == ("certmgmt", "Certificate Management")
    assert inv.technology == "PowerShell over WinRM (CM provisioning API, Microsoft.Clm.Provision)"
    assert inv.version == VERSION
    assert inv.persons is None
    assert any("not counted" in n and "documents no count" in n for n in inv.notes)
    names = {a.name: a.category for a in inv.attributes}
    assert names.pop("objectGUID") is Category.IDENTITY
    assert set(names) == {
        "SmartCards", "Profiles", "Certificates", "CertificateSerialNumber",
        "CertificateThumbprint", "CertificateTemplate", "CertificateExpiry",
    }  # fmt: skip
    assert set(names.values()) == {Category.CREDENTIALS}
    cards, certificates = inv.kept
    assert cards.what == "retired smart cards and revoked profiles"
    assert "deleting from the CM database is not supported" in cards.period
    assert (certificates.period, certificates.days) == ("until each certificate expires", None)
    assert {k.erasure for k in inv.kept} == {
        "retired/revoked by hand in the CM portal (manual step)"
    }
    text = repr(inv).casefold()
    assert [v for v in person_values(cm) if v.casefold() in text] == []
    # One read-only script, given the bin folder only: no account, no GUID, no find.
    assert cm.calls == [("certmgmt_inventory", {"bin": DEFAULT_BIN})]


def test_a_missing_assembly_leaves_the_version_unknown(
    connector: CertManagementConnector, cm: CmFixture
) -> None:
    cm.faults.add("missing_assemblies")
    inv = connector.inventory(timeout=T)
    assert inv.version is None
    assert "Microsoft.Clm.Provision.dll is not in bin_path: its version is unknown" in inv.notes


@pytest.mark.parametrize(
    "answer", [None, [], {"version": VERSION}], ids=["null", "list", "no found"]
)
def test_unexpected_output_is_a_connector_error(
    connector: CertManagementConnector, cm: CmFixture, stub: WsmanStub, answer: object
) -> None:
    stub.handlers["certmgmt_inventory"] = lambda args: answer
    with pytest.raises(ConnectorError, match="certmgmt_inventory: unexpected output"):
        connector.inventory(timeout=T)


def test_a_failing_script_is_a_connector_error(
    connector: CertManagementConnector, cm: CmFixture, stub: WsmanStub
) -> None:
    def refuse(args: object) -> object:
        raise PowerShellError(
            "System.UnauthorizedAccessException", "Access is denied.", "PermissionDenied"
        )

    stub.handlers["certmgmt_inventory"] = refuse
    with pytest.raises(ConnectorError):
        connector.inventory(timeout=T)


def test_a_hung_script_times_out_within_the_timeout(
    connector: CertManagementConnector, cm: CmFixture, stub: WsmanStub
) -> None:
    stub.fail("certmgmt_inventory", "hang")
    try:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            connector.inventory(timeout=2.0)
        took = time.monotonic() - started
    finally:
        stub.release()
    assert took < 4.0


# -- the script, parsed ------------------------------------------------------------------

PARSER = ts.Parser(ts.Language(tsp.language()))


def _nodes(node: ts.Node) -> Iterator[ts.Node]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def test_the_script_reads_the_file_version_and_calls_nothing_of_cm() -> None:
    text = SCRIPT.read_text(encoding="utf-8-sig")
    tree = PARSER.parse(text.encode())
    commands = set()
    for n in _nodes(tree.root_node):
        if n.type == "command":
            name = next((c for c in n.children if c.type == "command_name"), None)
            if name is not None and name.text:
                commands.add(name.text.decode().lower())
    # The file's version only: the assembly is not loaded, and no CM operation is called.
    assert "[Diagnostics.FileVersionInfo]::GetVersionInfo($path).FileVersion" in text
    assert "add-type" not in commands
    # No type of the API is named: no FindOperations, no RequestOperations.
    assert "[Microsoft.Clm" not in text and "Operations]::" not in text
    assert "Test-Path -LiteralPath $path" in text
