"""`/mim retention`: the MIM Service's RetentionPeriod and when erasures' MIM Service residual
copies go, over the MIM Service connector on pywinrm's real transport against the loopback
WS-Management stand-in (demo/wsman_stub.py, demo/mimservice_fixture.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.commands.parser import USAGE, RetentionCommand, parse
from bot.config import parse_config
from bot.errors import UsageError
from bot.frontends.dispatch import run_command
from bot.render.reply import Reply
from bot.services import Services, build_services
from bot.workflow.events import RequestCreated
from bot.workflow.requests import PlannedStep, Status, Subject
from bot.workflow.schema import request_steps, requests, residual_checks
from bot.workflow.subject_keys import SubjectKeys
from connectors.base import Connector, DeletePlan, ObjectRef, PlanAction
from connectors.capabilities import RetentionReporter
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from demo.mimservice_fixture import MimServiceFixture
from demo.wsman_stub import WsmanStub
from tests.support.ports import closed_port, stub_winrm
from tests.workflow.test_erasure import Recorder

ENV = {
    "BOT": "xoxb-retention",
    "SIGN": "retention-signing-secret",
    "KEY": "retention-subject-key-0123456789",
    "CHAIN": "retention-chain-key-0123456789-0123456789",
}
RAN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


def mimservice(stub: WsmanStub, *, dead: bool = False) -> MimServiceConnector:
    settings = MimServiceSettings(stub_winrm(stub.https_endpoint, stub.ca_file))
    if dead:
        settings = replace(
            settings, winrm=stub_winrm(f"https://127.0.0.1:{closed_port()}/wsman", stub.ca_file)
        )
    return MimServiceConnector(settings)


def services(tmp_path: Path, connectors: list[Connector]) -> Services:
    raw = {
        "slack": {
            "bot_token": "${BOT}", "signing_secret": "${SIGN}", "approvals_channel": "CAPPROVALS",
        },
        "roles": {"viewer": {"users": ["UVIEW"]}, "requester": {"users": ["UREQ"]}},
        "search": {"timeout_seconds": 5.0},
        "audit": {
            "url": f"sqlite:///{tmp_path / 'audit.db'}",
            "subject_key": "${KEY}",
            "chain_key": "${CHAIN}",
        },
    }  # fmt: skip
    return build_services(
        parse_config(raw, environ=ENV), connectors=connectors, notifier=Recorder()
    )


@pytest.fixture
def world(tmp_path: Path, stub: WsmanStub) -> Iterator[tuple[Services, MimServiceFixture]]:
    fixture = MimServiceFixture(retention_days=7)
    fixture.install(stub)
    s = services(tmp_path, [mimservice(stub)])
    yield s, fixture
    s.close()


def ask(s: Services, user: str = "UVIEW") -> Reply:
    answers: list[Reply] = []
    run_command("retention", user_id=user, services=s, respond=answers.append)
    assert len(answers) == 1
    return answers[0]


def erasure(s: Services, n: int, *, system: str = "mimservice") -> str:
    """A stored erasure request with one automated step in `system`."""
    ref = ObjectRef(system, f"0b7e2f6a-7c1d-4c55-9d2a-5b0f3e1e{n:04d}")
    plan = DeletePlan(ref, PlanAction.DELETE, "Delete the Person")
    now = datetime.now(UTC)
    return s.requests.create(
        requester="UREQ",
        reason=None,
        subject=Subject(f"Person {n}", f"p{n}"),
        keys=SubjectKeys((f"key-{n}",), (f"key-{n}",)),
        steps=[PlannedStep(system, PlanAction.DELETE, "Delete the Person", plan=plan)],
        approvals_needed=1,
        due_at=now + timedelta(days=30),
        expires_at=now + timedelta(days=3),
        event=RequestCreated(actor="UREQ", kind="erasure", steps=((system, "delete"),)),
    ).id


def step_ran(s: Services, request_id: str, **values: Any) -> None:
    """The test's shortcut past the runner: the request's step ran at RAN."""
    with s.engine.begin() as conn:
        conn.execute(
            sa.update(request_steps)
            .where(request_steps.c.request_id == request_id)
            .values(state="done", finished_at=RAN)
        )
        if values:
            conn.execute(sa.update(requests).where(requests.c.id == request_id).values(**values))


# -- the command ------------------------------------------------------------------------


def test_retention_parses_without_arguments_only() -> None:
    assert parse("retention") == RetentionCommand()
    assert parse("  RETENTION ") == RetentionCommand()
    with pytest.raises(UsageError) as e:
        parse("retention 7")
    assert e.value.usage == USAGE["retention"] == "/mim retention"


def test_a_viewer_may_ask_and_someone_without_a_role_may_not(
    world: tuple[Services, MimServiceFixture],
) -> None:
    s, _ = world
    assert "RetentionPeriod (days): *7*" in ask(s, "UVIEW").text
    refused = ask(s, "UNOBODY").text
    assert "/mim retention needs the viewer role" in refused
    assert "RetentionPeriod" not in refused
    assert s.authz.may(s.roles.actor("UVIEW"), "retention")
    assert "/mim retention" in " ".join(
        b["text"]["text"] for b in _help(s, "UVIEW").blocks if b.get("text")
    )


def _help(s: Services, user: str) -> Reply:
    answers: list[Reply] = []
    run_command("help", user_id=user, services=s, respond=answers.append)
    return answers[0]


# -- the answer -------------------------------------------------------------------------


def test_the_configured_period_and_what_it_means(world: tuple[Services, MimServiceFixture]) -> None:
    s, fixture = world
    reply = ask(s)
    assert reply.private
    assert "RetentionPeriod (days): *7*." in reply.text
    assert "about 7 days after its MIM Service step ran" in reply.text
    assert "the default" not in reply.text
    assert [c[0] for c in fixture.calls] == ["retention"]  # nothing else was read


def test_an_unreadable_retention_configuration_is_unknown_never_30_days(
    world: tuple[Services, MimServiceFixture],
) -> None:
    # Not seeing the built-in object means the account may not read it (mim-apis-checked
    # 3.3): the answer says so and prints no period as if it were fact.
    s, fixture = world
    fixture.retention_days = None
    text = ask(s).text
    assert (
        "RetentionPeriod: :no_entry: access denied (no SystemResourceRetentionConfiguration"
        " is visible" in text
    )
    assert "*30*" not in text and "30 days" not in text


def test_open_erasures_with_a_mim_service_step_and_when_their_residuals_go(
    world: tuple[Services, MimServiceFixture],
) -> None:
    s, _ = world
    waiting = erasure(s, 1)
    ran = erasure(s, 2)
    step_ran(s, ran, status=Status.VERIFYING.value)
    elsewhere = erasure(s, 3, system="ad")
    text = ask(s).text
    assert f"{waiting} (:hourglass: awaiting approval" not in text  # still planned
    assert f"{waiting} (planned): MIM Service residuals go about 7 days after the erasure runs" in (
        text
    )
    assert f"{ran} (:mag: verifying absence): MIM Service residuals go on 2026-11-27" in text
    assert elsewhere not in text
    assert "Person" not in text and "p1" not in text  # ids and dates only


def test_completed_erasures_are_listed_while_mim_service_residuals_are(
    world: tuple[Services, MimServiceFixture],
) -> None:
    s, _ = world
    listed, gone = erasure(s, 4), erasure(s, 5)
    for request_id in (listed, gone):
        step_ran(s, request_id, status=Status.COMPLETED_WITH_RESIDUALS.value, subject=None)
    with s.engine.begin() as conn:
        conn.execute(
            sa.insert(residual_checks).values(
                request_id=listed,
                system="mimservice",
                ref="0b7e2f6a-7c1d-4c55-9d2a-5b0f3e1e0004",
                kind="mim_object_id",
                due_at=RAN + timedelta(days=8),
                attempts=0,
            )
        )
    text = ask(s).text
    completed = text.split("Completed erasures")[1]
    assert f"{listed} (:white_check_mark: completed (residual copies listed)): " in completed
    assert "MIM Service residuals go on 2026-11-27" in completed
    assert gone not in text


def test_an_unreachable_mim_service_is_said_so(tmp_path: Path, stub: WsmanStub) -> None:
    s = services(tmp_path, [mimservice(stub, dead=True)])
    try:
        request_id = erasure(s, 6)
        text = ask(s).text
    finally:
        s.close()
    assert "RetentionPeriod: :warning: unreachable" in text
    assert f"{request_id} (planned): MIM Service residuals go RetentionPeriod days after" in text


def test_without_a_mim_service_connector_one_line_says_so(tmp_path: Path) -> None:
    s = services(tmp_path, [])
    try:
        text = ask(s).text
    finally:
        s.close()
    assert text.startswith("No MIM Service connector is configured")
    assert "\n" not in text


def test_the_period_comes_from_the_connector_that_reports_one_whatever_its_name(
    tmp_path: Path, stub: WsmanStub
) -> None:
    MimServiceFixture(retention_days=7).install(stub)
    settings = MimServiceSettings(stub_winrm(stub.https_endpoint, stub.ca_file), name="portal")
    connector = MimServiceConnector(settings)
    assert isinstance(connector, RetentionReporter)
    s = services(tmp_path, [connector])
    try:
        mimservice_step = erasure(s, 7, system="portal")
        elsewhere = erasure(s, 8)  # a "mimservice" step, but no connector of that name
        text = ask(s).text
    finally:
        s.close()
    assert "RetentionPeriod (days): *7*" in text
    assert f"{mimservice_step} (planned)" in text
    assert elsewhere not in text
