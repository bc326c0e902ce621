"""`inventory` of the PAM connector, for the data map: the PAM user's attributes the bot reads
(role memberships included), how many PAM users (counted on the server), MIMPAM's version,
and the PRIV account and two MIM Service objects the erasure removes; against the stand-in
(demo/pam_fixture.py), faults put there. No person's value may appear in what it returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from connectors._shared.powershell import WinRmSettings
from connectors.capabilities import describes_data
from connectors.datamap import Category, SystemInventory
from connectors.errors import ConnectorError, TimedOut
from connectors.pam.connector import PamConnector, PamSettings
from demo.pam_fixture import PamFixture, PamUser
from demo.wsman_stub import NTLM_USER, WsmanStub
from tests.support.paths import REPO

T = 5.0
SCRIPT = REPO / "connectors" / "pam" / "scripts" / "pam_inventory.ps1"
USERS = [
    PamUser("jinv", "Jane Inventory", roles=("CorpAdmins",)),
    PamUser("ainv", "Anna Inventory", roles=("CorpAdmins", "SQL Admins")),
    PamUser("binv", "Ben Inventory", "OTHER"),
]


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def pam(stub: WsmanStub) -> PamFixture:
    return PamFixture([PamUser(u.source_account_name, u.source_display_name, u.source_domain,
                               roles=u.roles) for u in USERS]).install(stub)  # fmt: skip


@pytest.fixture
def connector(stub: WsmanStub, pam: PamFixture) -> Iterator[PamConnector]:
    winrm = WinRmSettings(
        stub.https_endpoint, *NTLM_USER, "credssp", ca_file=Path(stub.ca_file),
        operation_timeout=1, read_timeout=3,
    )  # fmt: skip
    c = PamConnector(PamSettings(winrm=winrm, source_domain="CORP"))
    yield c
    c.close()


def values(pam: PamFixture) -> list[str]:
    return sorted(
        {v for u in pam.users.values() for k, v in u.output().items() if k != "source_domain"}
        | {u.priv_sid for u in pam.users.values()}
    )


def no_value_in(inventory: SystemInventory, pam: PamFixture) -> None:
    text = repr(inventory).casefold()
    assert [v for v in values(pam) if v and v.casefold() in text] == []


def test_a_healthy_pam_is_described(connector: PamConnector, pam: PamFixture) -> None:
    assert describes_data(connector) is connector
    inv = connector.inventory(timeout=T)
    assert (inv.system, inv.label) == ("pam", "MIM PAM")
    assert inv.technology == "PowerShell over WinRM (MIMPAM)"
    assert inv.version == "4.6.34.0"
    assert inv.persons == 3  # every PAM user, whatever its source domain
    names = {a.name: a.category for a in inv.attributes}
    assert set(names) >= {
        "SourceAccountName", "SourceDomain", "SourceDisplayName", "PrivAccountName",
        "PrivDisplayName", "PrivUserPrincipalName", "PAMRoles",
    }  # fmt: skip
    assert names["PAMRoles"] is Category.ACCESS
    assert names["SourceAccountName"] is names["SourceDisplayName"] is Category.IDENTITY
    (kept,) = inv.kept
    assert "PRIV shadow account" in kept.what and "two MIM Service objects" in kept.what
    assert kept.days is None and "removed by the erasure" in kept.erasure
    assert inv.notes == ()
    no_value_in(inv, pam)
    assert pam.calls == [("pam_inventory", {})]  # no argument: nothing names anyone


def test_the_count_follows_pam(connector: PamConnector, pam: PamFixture) -> None:
    pam.add("cinv", "Cy Inventory")
    assert connector.inventory(timeout=T).persons == 4
    pam.users.clear()
    assert connector.inventory(timeout=T).persons == 0


def test_users_it_cannot_list_are_a_note_and_the_rest_is_kept(
    connector: PamConnector, pam: PamFixture
) -> None:
    pam.users_readable = False
    inv = connector.inventory(timeout=T)
    assert inv.persons is None and inv.version == "4.6.34.0"
    assert inv.notes == (
        "the PAM users could not be counted"
        " (Microsoft.ResourceManagement.WebServices.Exceptions.PermissionDeniedException)",
    )


def test_mimpam_that_does_not_load_is_a_connector_error(
    connector: PamConnector, pam: PamFixture
) -> None:
    pam.module_version = None
    with pytest.raises(ConnectorError):
        connector.inventory(timeout=T)


@pytest.mark.parametrize(
    "answer",
    [None, ["x"], {"version": "4.6.34.0", "users": {"count": "3"}}, {"version": "4.6.34.0"}],
    ids=["null", "a list", "a count not a number", "no users part"],
)
def test_unexpected_output_is_a_connector_error(
    connector: PamConnector, pam: PamFixture, stub: WsmanStub, answer: object
) -> None:
    stub.handlers["pam_inventory"] = lambda args: answer
    with pytest.raises(ConnectorError, match="pam_inventory: unexpected output"):
        connector.inventory(timeout=T)


def test_a_hung_script_times_out_within_the_timeout(
    connector: PamConnector, pam: PamFixture, stub: WsmanStub
) -> None:
    stub.fail("pam_inventory", "hang")
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


def test_the_script_lists_every_pam_user_and_outputs_only_their_count() -> None:
    text = SCRIPT.read_text(encoding="utf-8-sig")
    tree = PARSER.parse(text.encode())
    commands = []
    for n in _nodes(tree.root_node):
        if n.type == "command":
            name = next((c for c in n.children if c.type == "command_name"), None)
            if name is not None and name.text:
                commands.append(((n.text or b"").decode(), n))
    listings = [(t, n) for t, n in commands if t.lower().startswith("get-pamuser")]
    # Get-PAMUser with no filter, its result counted where it is called: nothing else of a
    # user is read, and no user object is kept in a variable or output.
    assert [t for t, _ in listings] == ["Get-PAMUser"]
    (_, listing) = listings[0]
    counted = listing.parent
    while counted is not None and "@(Get-PAMUser).Count" not in (counted.text or b"").decode():
        counted = counted.parent
    assert counted is not None, "Get-PAMUser's result is not counted where it is called"
    assert not {t.split()[0].lower() for t, _ in commands} & {
        "remove-pamuser", "set-pamrole", "set-pamuser", "new-pamuser", "remove-pamrole"
    }  # fmt: skip
    assert "ConvertTo-MimbotPamUser" not in text and "$MimbotArgs" not in text
