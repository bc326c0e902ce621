"""`inventory` of the MIM Service connector, for the data map: what it says the service holds
(the Person attributes the bot uses, by category), how many Persons (LithnetRMA's count; none
with FIMAutomation, and why), the module's version, and the Requests kept for RetentionPeriod
days; against the stand-in (demo/mimservice_fixture.py), with faults put there, never into
the connector. No person's value may appear in what it returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from connectors.capabilities import DescribesData, describes_data
from connectors.datamap import Category, SystemInventory
from connectors.errors import ConnectorError, TimedOut
from connectors.mimservice.connector import (
    INVENTORY_ATTRIBUTES,
    SSPR_ATTRIBUTES,
    MimServiceConnector,
    MimServiceSettings,
)
from demo.mimservice_fixture import FIM_VERSION, LITHNET_VERSION, MimServiceFixture
from demo.wsman_stub import WsmanStub
from tests.support.paths import REPO
from tests.support.ports import stub_winrm

T = 5.0
SCRIPT = REPO / "connectors" / "mimservice" / "scripts" / "mimservice_inventory.ps1"
PEOPLE = [
    {"AccountName": "inv-ann", "DisplayName": "Ann Inventory", "Email": "ann.inv@example.test",
     "EmployeeID": "E-90001", "msidmOneTimePasswordMobilePhone": "+15550100"},
    {"AccountName": "inv-bob", "DisplayName": "Bob Inventory", "Email": "bob.inv@example.test"},
    {"AccountName": "inv-cy", "DisplayName": "Cy Inventory", "FirstName": "Cyrano"},
]  # fmt: skip
VALUES = sorted({v for p in PEOPLE for v in p.values()})


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def mim(stub: WsmanStub) -> MimServiceFixture:
    fixture = MimServiceFixture()
    for person in PEOPLE:
        fixture.add_person(**person)
    fixture.install(stub)  # also puts back a handler an earlier test replaced
    return fixture


@pytest.fixture(params=["fimautomation", "lithnetrma"])
def connector(request: pytest.FixtureRequest, stub: WsmanStub) -> Iterator[MimServiceConnector]:
    settings = MimServiceSettings(
        stub_winrm(stub.https_endpoint, stub.ca_file), module=request.param
    )
    c = MimServiceConnector(settings)
    yield c
    c.close()


def no_value_in(inventory: SystemInventory) -> None:
    text = repr(inventory)
    assert [v for v in VALUES if v.casefold() in text.casefold()] == []


def test_it_describes_its_data(connector: MimServiceConnector) -> None:
    assert isinstance(connector, DescribesData)
    assert describes_data(connector) is connector


def test_a_healthy_service_is_described(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    before = {k: dict(v) for k, v in mim.persons.items()}
    inv = connector.inventory(timeout=T)
    lithnet = connector.settings.module == "lithnetrma"
    assert (inv.system, inv.label) == ("mimservice", "MIM Service")
    assert inv.technology == "PowerShell over WinRM (FIMAutomation | LithnetRMA)"
    assert inv.version == (LITHNET_VERSION if lithnet else FIM_VERSION)
    names = {a.name: a.category for a in inv.attributes}
    assert set(names) == set(INVENTORY_ATTRIBUTES)
    assert {"ObjectID", "AccountName", "Email", "EmployeeID", "JobTitle"} <= set(names)
    for sspr in SSPR_ATTRIBUTES:
        assert names[sspr] is Category.CREDENTIALS, sspr
    assert names["Email"] is Category.CONTACT and names["AccountName"] is Category.IDENTITY
    (kept,) = inv.kept
    assert kept.what == "Requests and SSPR data about a deleted Person"
    assert (kept.period, kept.days) == ("30 days (RetentionPeriod)", 30)
    assert kept.erasure == (
        "the Person is deleted; its Requests go when FIM_DeleteExpiredSystemObjectsJob purges them"
    )
    if lithnet:
        assert inv.persons == len(PEOPLE) and inv.notes == ()
    else:
        assert inv.persons is None
        (note,) = inv.notes
        assert "no count cmdlet" in note and "Get-ResourceCount" in note
    no_value_in(inv)
    # One read-only script, whose arguments name no one, and /Person only to the counter.
    assert [c[0] for c in mim.calls] == ["inventory"]
    (args,) = [c[1] for c in mim.calls]
    assert ("persons_xpath" in args) == lithnet
    assert mim.persons == before


def test_the_count_follows_the_service(stub: WsmanStub, mim: MimServiceFixture) -> None:
    settings = MimServiceSettings(
        stub_winrm(stub.https_endpoint, stub.ca_file), module="lithnetrma"
    )
    c = MimServiceConnector(settings)
    try:
        assert c.inventory(timeout=T).persons == 3
        mim.add_person(AccountName="inv-dee")
        del mim.persons[next(iter(mim.persons))]
        mim.add_person(AccountName="inv-eve")
        assert c.inventory(timeout=T).persons == 4
        mim.persons.clear()
        assert c.inventory(timeout=T).persons == 0
    finally:
        c.close()


def test_an_unreadable_retention_is_unknown_never_30(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.retention_days = None
    inv = connector.inventory(timeout=T)
    (kept,) = inv.kept
    assert kept.period == "unknown (the account cannot read the retention configuration)"
    assert kept.days is None and "30" not in repr(inv.kept)
    assert any("no SystemResourceRetentionConfiguration is visible" in n for n in inv.notes)


def test_a_part_that_fails_is_a_note_and_hides_no_other(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    healthy = stub.handlers["mimservice_inventory"]
    error = "Microsoft.ResourceManagement.WebServices.Exceptions.PermissionDeniedException"

    def answer(args: Any) -> Any:
        out = healthy(args)
        out["retention"] = {"periods": [], "error": error}
        if "persons_xpath" in args:
            out["persons"] = {"count": None, "error": "System.TimeoutException"}
        return out

    stub.handlers["mimservice_inventory"] = answer
    inv = connector.inventory(timeout=T)
    assert inv.kept[0].days is None and inv.version in (FIM_VERSION, LITHNET_VERSION)
    assert f"the RetentionPeriod could not be read ({error})" in inv.notes
    if connector.settings.module == "lithnetrma":
        assert inv.persons is None
        assert "the Persons could not be counted (System.TimeoutException)" in inv.notes


def test_a_missing_module_is_a_connector_error(
    connector: MimServiceConnector, mim: MimServiceFixture
) -> None:
    mim.module_installed = False
    with pytest.raises(ConnectorError) as caught:
        connector.inventory(timeout=T)
    assert not any(v in str(caught.value) for v in VALUES)


@pytest.mark.parametrize(
    "answer",
    [["not", "a", "result"], {"version": "1", "retention": {"periods": ["thirty"]}}],
    ids=["not a mapping", "a period not a number"],
)
def test_unexpected_output_is_a_connector_error(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub, answer: Any
) -> None:
    stub.handlers["mimservice_inventory"] = lambda args: answer
    with pytest.raises(ConnectorError, match="mimservice_inventory: unexpected output"):
        connector.inventory(timeout=T)


def test_a_bad_count_is_a_connector_error(stub: WsmanStub, mim: MimServiceFixture) -> None:
    settings = MimServiceSettings(
        stub_winrm(stub.https_endpoint, stub.ca_file), module="lithnetrma"
    )
    c = MimServiceConnector(settings)
    healthy = stub.handlers["mimservice_inventory"]
    stub.handlers["mimservice_inventory"] = lambda args: {
        **healthy(args),
        "persons": {"count": "3"},
    }
    try:
        with pytest.raises(ConnectorError, match="no Person count"):
            c.inventory(timeout=T)
    finally:
        c.close()


def test_a_hung_script_times_out_within_the_timeout(
    connector: MimServiceConnector, mim: MimServiceFixture, stub: WsmanStub
) -> None:
    stub.fail("mimservice_inventory", "hang")
    try:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            connector.inventory(timeout=2.0)
        took = time.monotonic() - started
    finally:
        stub.release()
    assert took < 4.0


# -- the script, parsed: what the stand-in answers for is what it does -------------------

PARSER = ts.Parser(ts.Language(tsp.language()))


def _nodes(node: ts.Node) -> Iterator[ts.Node]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def _commands(text: str) -> list[tuple[str, str]]:
    """(command name, its whole text) for each command, lower case."""
    tree = PARSER.parse(text.encode())
    found = []
    for n in _nodes(tree.root_node):
        if n.type == "command":
            name = next((c for c in n.children if c.type == "command_name"), None)
            if name is not None and name.text:
                found.append((name.text.decode().lower(), (n.text or b"").decode().lower()))
    return found


def test_the_script_counts_persons_only_with_get_resource_count() -> None:
    commands = _commands(SCRIPT.read_text(encoding="utf-8-sig"))
    uses = [(name, t) for name, t in commands if "persons_xpath" in t]
    # /Person goes to the counter alone: never to a search or an export that returns Persons.
    assert uses and all(name == "get-resourcecount" for name, _ in uses), uses
    assert [t for n, t in commands if n == "get-resourcecount"] == [
        "get-resourcecount -xpath $mimbotargs.persons_xpath"
    ]
    for name, text in commands:
        if name in ("export-fimconfig", "search-resources"):
            assert "retention_xpath" in text, text
    # Read-only: nothing that writes to the service.
    assert not {n for n, _ in commands} & {
        "import-fimconfig", "save-resource", "remove-resource", "new-resource", "set-resource"
    }  # fmt: skip


def test_the_script_reads_the_module_version_as_the_doctor_does() -> None:
    text = SCRIPT.read_text(encoding="utf-8-sig")
    assert "[string](Get-Module LithnetRMA).Version" in text
    assert "[string](Get-PSSnapin FIMAutomation).Version" in text
