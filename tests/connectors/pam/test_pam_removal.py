"""Removing a PAM user against the stand-in's model of MIMPAM (demo/pam_fixture.py): the user
is taken off its roles' candidates before Remove-PAMUser (which refuses a candidate), and the
step is done only when the PAM user, both MIM Service objects and the PRIV account are seen
gone; anything left, or not told, fails the step with what to check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors._shared.powershell import ScriptError
from connectors.base import DeletePlan, ObjectRef, PlanAction, StepResult
from connectors.errors import ConnectorError
from connectors.pam.connector import PamConnector
from demo.pam_fixture import PamFixture, PamUser
from demo.wsman_stub import PowerShellError, WsmanStub
from tests.connectors.pam.test_pam import settings

T = 5.0


@pytest.fixture
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def pam(stub: WsmanStub) -> PamFixture:
    return PamFixture(
        [
            PamUser("jdoe", "Jane Doe", roles=("CorpAdmins", "SQL Admins")),
            PamUser("asmith", "Anna Smith", roles=("SQL Admins", "CorpAdmins")),
            PamUser("bking", "Ben King", roles=("CorpAdmins",)),
            PamUser("solo", "Sam Solo", roles=("Tier0",)),
        ]
    ).install(stub)


@pytest.fixture
def connector(stub: WsmanStub, pam: PamFixture) -> Iterator[PamConnector]:
    c = PamConnector(settings(stub))
    yield c
    c.close()


def user(pam: PamFixture, account: str) -> PamUser:
    (found,) = [u for u in pam.users.values() if u.source_account_name == account]
    return found


def erase(connector: PamConnector, who: PamUser) -> tuple[DeletePlan, StepResult]:
    plan = connector.plan_delete(ObjectRef("pam", who.id), timeout=T)
    return plan, connector.apply_delete(plan, timeout=T)


def test_the_stand_in_refuses_to_remove_a_role_candidate_as_mimpam_does(
    pam: PamFixture,
) -> None:
    jdoe = user(pam, "jdoe")
    with pytest.raises(PowerShellError, match="candidate"):
        pam.remove_pam_user(jdoe)  # VH 4.5.26.0: Remove-PamUser fails for a role candidate
    assert jdoe.id in pam.users and pam.removed == []


def test_erasing_a_role_candidate_succeeds_and_keeps_the_roles_other_candidates(
    connector: PamConnector, pam: PamFixture
) -> None:
    jdoe, asmith, bking = user(pam, "jdoe"), user(pam, "asmith"), user(pam, "bking")
    plan, result = erase(connector, jdoe)

    assert plan.notes == ("Taken off PAM roles first: CorpAdmins, SQL Admins",)
    assert (result.done, result.already_absent) == (True, False)
    assert result.detail == (
        "PAM user removed: both MIM Service objects and the PRIV account are gone;"
        " taken off PAM roles CorpAdmins, SQL Admins"
    )
    assert pam.removed == [jdoe.id]
    assert pam.roles == {
        "CorpAdmins": [asmith.id, bking.id],
        "SQL Admins": [asmith.id],
        "Tier0": [user(pam, "solo").id],
    }
    assert {jdoe.id, jdoe.source_user_id}.isdisjoint(pam.objects)
    assert jdoe.priv_sid not in pam.priv_accounts
    assert {asmith.id, asmith.source_user_id, bking.id} <= pam.objects  # the others untouched


def test_a_user_of_no_role_is_removed_without_touching_any_role(
    connector: PamConnector, pam: PamFixture
) -> None:
    loner = pam.add("loner", "Lee Loner")
    before = {r: list(c) for r, c in pam.roles.items()}
    _, result = erase(connector, loner)
    assert result.done and result.detail.endswith("the PRIV account are gone")
    assert pam.roles == before


def test_a_roles_only_candidate_is_refused_before_anything_changes(
    connector: PamConnector, pam: PamFixture
) -> None:
    solo = user(pam, "solo")
    plan = connector.plan_delete(ObjectRef("pam", solo.id), timeout=T)
    assert plan.notes[-1].startswith("The only candidate of PAM role(s) Tier0:")
    with pytest.raises(ConnectorError, match=r"only candidate of PAM role\(s\) Tier0") as info:
        connector.apply_delete(plan, timeout=T)
    assert "Sam" not in str(info.value) and "solo" not in str(info.value)
    assert pam.roles["Tier0"] == [solo.id] and solo.id in pam.users and pam.removed == []


def test_a_role_that_still_lists_the_user_after_set_pamrole_stops_the_removal(
    connector: PamConnector, pam: PamFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    jdoe = user(pam, "jdoe")
    monkeypatch.setattr(pam, "set_pam_role", lambda role, candidates: None)  # a no-op server
    with pytest.raises(ConnectorError, match="Set-PAMRole left the PAM user a candidate"):
        erase(connector, jdoe)
    assert jdoe.id in pam.users and pam.removed == []


@pytest.mark.parametrize(
    ("kept", "named"),
    [
        ("source_object", "source-user object in PAM's MIM Service (SourceUserResourceId)"),
        ("priv_object", "PRIV-account object in PAM's MIM Service (PrivUserResourceId)"),
        ("priv_account", "shadow account in PRIV's Active Directory"),
        ("pam_user", "the PAM user (Get-PAMUser still returns it)"),
    ],
)
def test_anything_left_after_remove_pamuser_fails_the_step_and_is_named(
    connector: PamConnector, pam: PamFixture, kept: str, named: str
) -> None:
    pam.keeps = {kept}
    with pytest.raises(ConnectorError, match="still there") as info:
        erase(connector, user(pam, "bking"))
    message = str(info.value)
    assert named in message and "Remove-PAMUser ran" in message
    assert "Ben" not in message and "bking" not in message


def test_what_could_not_be_told_fails_the_step_with_what_to_check(
    connector: PamConnector, pam: PamFixture
) -> None:
    pam.priv_ldap_readable = False  # no delegated credentials to a PRIV DC
    with pytest.raises(ConnectorError, match="could not confirm") as info:
        erase(connector, user(pam, "bking"))
    assert "shadow account in PRIV's Active Directory" in str(info.value)
    assert "credssp" in str(info.value)  # what to set

    pam.priv_ldap_readable, pam.fimautomation = True, False
    with pytest.raises(ConnectorError, match="could not confirm") as info:
        erase(connector, user(pam, "asmith"))
    assert "SourceUserResourceId" in str(info.value) and "FIMAutomation" in str(info.value)


def test_without_a_second_hop_remove_pamuser_fails_and_nothing_is_reported_done(
    connector: PamConnector, pam: PamFixture
) -> None:
    pam.second_hop = False
    bking = user(pam, "bking")
    with pytest.raises(ScriptError, match="UnauthorizedAccessException"):
        erase(connector, bking)
    assert bking.id in pam.users


def test_a_second_apply_is_already_absent_only_once_the_priv_object_is_seen_gone(
    connector: PamConnector, pam: PamFixture
) -> None:
    bking = user(pam, "bking")
    plan, first = erase(connector, bking)
    second = connector.apply_delete(plan, timeout=T)
    assert first.done and (second.done, second.already_absent) == (True, True)
    pam.fimautomation = False  # the object check cannot run: no claim of absence
    with pytest.raises(ConnectorError, match="could not confirm"):
        connector.apply_delete(plan, timeout=T)


def test_an_after_check_missing_from_the_output_is_not_success(
    connector: PamConnector, stub: WsmanStub, pam: PamFixture
) -> None:
    plan = connector.plan_delete(ObjectRef("pam", user(pam, "bking").id), timeout=T)
    stub.handlers["pam_remove_user"] = lambda args: {"removed": True, "roles": []}
    with pytest.raises(ConnectorError, match="no after-check"):
        connector.apply_delete(plan, timeout=T)
    stub.handlers["pam_remove_user"] = lambda args: {
        "removed": True,
        "remaining": {"pam_user": False, "priv_object": False},  # two of the four
    }
    with pytest.raises(ConnectorError, match="no after-check"):
        connector.apply_delete(plan, timeout=T)
    assert plan.action is PlanAction.DELETE
