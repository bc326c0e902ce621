"""`/mim telemetry` and `/mim telemetry disable`: each MIM server's CEIP values over the MIM
Service and PAM connectors' runners, on pywinrm's real transport against the loopback
WS-Management stand-in (demo/wsman_stub.py, demo/telemetry_fixture.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands.parser import TELEMETRY_CONFIRM, TelemetryCommand, parse
from bot.config import parse_config
from bot.errors import UsageError
from bot.frontends.dispatch import run_command
from bot.ops.telemetry import State, read, state_of
from bot.render.reply import Reply
from bot.render.telemetry import ACTION_TELEMETRY_DISABLE
from bot.services import Services, build_services
from connectors.base import Connector
from connectors.capabilities import MimServerTelemetry
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from connectors.pam.connector import PamConnector, PamSettings
from demo.telemetry_fixture import TelemetryFixture
from demo.wsman_stub import WsmanStub
from tests.support.paths import REPO as ROOT
from tests.support.ports import closed_port, stub_winrm
from tests.workflow.test_erasure import Recorder

ENV = {
    "BOT": "xoxb-telemetry",
    "SIGN": "telemetry-signing-secret",
    "KEY": "telemetry-subject-key-0123456789",
    "CHAIN": "telemetry-chain-key-0123456789-0123456789",
}


@pytest.fixture(scope="module")
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


def mim_connectors(stub: WsmanStub, *, dead: bool = False) -> list[Connector]:
    endpoint = f"https://127.0.0.1:{closed_port()}/wsman" if dead else stub.https_endpoint
    settings = stub_winrm(endpoint, stub.ca_file)
    return [
        MimServiceConnector(MimServiceSettings(settings)),
        PamConnector(PamSettings(winrm=settings, source_domain="CORP")),
    ]


def config_raw(tmp_path: Path, **slack: Any) -> dict[str, Any]:
    return {
        "slack": {
            "bot_token": "${BOT}", "signing_secret": "${SIGN}", "approvals_channel": "CAPPROVALS",
            **slack,
        },
        "roles": {"viewer": {"users": ["UVIEW"]}, "admin": {"users": ["UADMIN"]}},
        "search": {"timeout_seconds": 5.0},
        "audit": {
            "url": f"sqlite:///{tmp_path / 'audit.db'}",
            "subject_key": "${KEY}",
            "chain_key": "${CHAIN}",
        },
    }  # fmt: skip


def services(tmp_path: Path, connectors: list[Connector], **slack: Any) -> Services:
    return build_services(
        parse_config(config_raw(tmp_path, **slack), environ=ENV),
        connectors=connectors,
        notifier=Recorder(),
    )


@pytest.fixture
def world(tmp_path: Path, stub: WsmanStub) -> Iterator[tuple[Services, TelemetryFixture]]:
    fixture = TelemetryFixture().install(stub)
    s = services(tmp_path, mim_connectors(stub))
    yield s, fixture
    s.close()


def ask(s: Services, text: str = "telemetry", user: str = "UADMIN") -> Reply:
    answers: list[Reply] = []
    run_command(text, user_id=user, services=s, respond=answers.append)
    assert len(answers) == 1
    return answers[0]


# -- parsing and who may ------------------------------------------------------------


def test_parsing():
    assert parse("telemetry") == TelemetryCommand()
    assert parse("Telemetry DISABLE") == TelemetryCommand(disable=True)
    assert parse(TELEMETRY_CONFIRM) == TelemetryCommand(disable=True, confirmed=True)
    for bad in ("telemetry on", "telemetry disable now", "telemetry confirm"):
        with pytest.raises(UsageError):
            parse(bad)


@pytest.mark.parametrize("text", ["telemetry", "telemetry disable", TELEMETRY_CONFIRM])
def test_only_admins_may(world, text):
    s, fixture = world
    reply = ask(s, text, user="UVIEW")
    assert "needs the admin role" in reply.text
    assert fixture.calls == []  # nothing was asked, let alone changed
    assert [(e.action, e.outcome) for e in s.audit.events()] == [("telemetry", "denied")]


# -- reading ------------------------------------------------------------------------


def test_read_classifies_each_component(world):
    s, fixture = world
    reply = ask(s)
    assert "Service: :warning: collecting (ServiceCEIP=1)" in reply.text
    assert "Synchronization Service: :white_check_mark: opted out (SyncCEIP=0)" in reply.text
    assert "MIM 4.4.1749.0" in reply.text
    # One server behind both connectors: asked once.
    assert [name for name, _ in fixture.calls] == ["telemetry_read"]
    assert "(MIM Service, MIM PAM)" in reply.text
    assert list(s.audit.events()) == []  # reading is not audited


def test_values_in_the_2010_key_itself_are_components(tmp_path, stub):
    TelemetryFixture({"": {"PortalCEIP": 0, "ServiceCEIP": 0}}).install(stub)
    answer = read(mim_connectors(stub), timeout=5)
    (server,) = answer.servers
    assert [(c.component, c.state) for c in server.result.unwrap().components] == [
        ("Portal", State.OPTED_OUT),
        ("Service", State.OPTED_OUT),
    ]


@pytest.mark.parametrize("version", ["4.5.26.0", "4.6.34.0"])
def test_45_and_later_collect_nothing_whatever_the_values(stub, version):
    TelemetryFixture(version=version).install(stub)
    (server,) = read(mim_connectors(stub), timeout=5).servers
    states = {c.component: c.state for c in server.result.unwrap().components}
    assert states == {
        "Service": State.NOT_COLLECTED,
        "Synchronization Service": State.NOT_COLLECTED,
    }


def test_state_of():
    assert state_of({"A": 0, "B": 0}, "4.4.1749.0") is State.OPTED_OUT
    assert state_of({"A": 0, "B": 1}, "4.4.1749.0") is State.COLLECTING
    assert state_of({"A": 1}, None) is State.COLLECTING
    assert state_of({}, "4.4.1459.0") is State.NO_VALUE
    assert state_of({"A": 1}, "4.5.202.0") is State.NOT_COLLECTED


def test_an_unreachable_server_is_an_outcome(tmp_path, stub):
    s = services(tmp_path, mim_connectors(stub, dead=True))
    try:
        reply = ask(s)
    finally:
        s.close()
    assert "unreachable" in reply.text


def test_no_winrm_connector_says_so(tmp_path):
    s = services(tmp_path, [])
    try:
        assert "No MIM Service or PAM connector is configured" in ask(s).text
    finally:
        s.close()


# -- disabling ----------------------------------------------------------------------


def test_disable_asks_first_with_a_button(world):
    s, fixture = world
    reply = ask(s, "telemetry disable")
    assert [name for name, _ in fixture.calls] == ["telemetry_read"]  # nothing changed yet
    assert fixture.keys["Service"]["ServiceCEIP"] == 1
    assert ACTION_TELEMETRY_DISABLE in str(reply.blocks)
    assert TELEMETRY_CONFIRM in reply.text
    assert list(s.audit.events()) == []


def test_confirmed_disable_sets_zero_reads_back_and_audits(world):
    s, fixture = world
    reply = ask(s, TELEMETRY_CONFIRM)
    assert [name for name, _ in fixture.calls] == ["telemetry_disable"]
    assert fixture.keys == {
        "Service": {"ServiceCEIP": 0},
        "Synchronization Service": {"SyncCEIP": 0},
    }
    assert "Service: :white_check_mark: opted out (ServiceCEIP=0)" in reply.text
    assert "2 value(s) set to 0" in reply.text
    asked, event = s.audit.events()  # the attempt first, then what it did
    assert (asked.action, asked.outcome) == ("telemetry_disable", "requested")
    assert (event.actor, event.action, event.outcome) == ("UADMIN", "telemetry_disabled", "done")
    assert event.detail == {
        "servers": {
            "127.0.0.1": {
                "outcome": "done",
                "version": "4.4.1749.0",
                "changed": ["Service\\ServiceCEIP", "Synchronization Service\\SyncCEIP"],
                "states": {"Service": "opted out", "Synchronization Service": "opted out"},
            }
        }
    }
    assert "collecting" not in ask(s).text  # and a later read agrees


def test_disable_on_an_unreachable_server_is_audited_as_partial(tmp_path, stub):
    s = services(tmp_path, mim_connectors(stub, dead=True))
    try:
        reply = ask(s, TELEMETRY_CONFIRM)
        _, event = s.audit.events()
    finally:
        s.close()
    assert "unreachable" in reply.text
    assert (event.action, event.outcome) == ("telemetry_disabled", "partial")
    assert event.detail["servers"]["127.0.0.1"]["outcome"] == "unreachable"


def test_the_button_runs_the_confirmed_disable(tmp_path, stub):
    from bot.frontends.http_server import SlackHttpServer
    from bot.frontends.slack_app import create_app, slack_client
    from tests.support.slack_stub import MockSlack
    from tests.support.slackbot import Bot

    fixture = TelemetryFixture().install(stub)
    slack = MockSlack().start()
    try:
        raw = config_raw(tmp_path, api_url=slack.api_url)
        config = parse_config(raw, environ=ENV)
        s = build_services(config, connectors=mim_connectors(stub), notifier=Recorder())
        app, _ = create_app(config, services=s, client=slack_client(config))
        server = SlackHttpServer(app, host="127.0.0.1", port=0).start()
        bot = Bot(server, s, slack, secret=ENV["SIGN"])
        try:
            status, _, _ = bot.click(ACTION_TELEMETRY_DISABLE, "anything", "UVIEW", name="c1")
            assert status == 200
            assert "needs the admin role" in bot.answer("c1")["text"]
            assert fixture.calls == []
            status, _, _ = bot.click(ACTION_TELEMETRY_DISABLE, "confirm", "UADMIN", name="c2")
            assert status == 200
            assert "2 value(s) set to 0" in bot.answer("c2")["text"]
            assert fixture.keys["Service"]["ServiceCEIP"] == 0
        finally:
            server.stop()
            s.close()
    finally:
        slack.stop()


# -- the demo -----------------------------------------------------------------------


def test_the_demo_admin_reads_and_disables(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(
        f"telemetry\ntelemetry disable\n{TELEMETRY_CONFIRM}\nas UDEMOVIEW telemetry\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--script", str(script)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Service: :warning: collecting (ServiceCEIP=1)" in out
    assert "Synchronization Service: :white_check_mark: opted out (SyncCEIP=0)" in out
    assert "[Set CEIP to 0]" in out
    assert "Service: :white_check_mark: opted out (ServiceCEIP=0)" in out
    assert "needs the admin role" in out
    assert "audit chain: OK, 3 event(s)" in out  # the attempt, the opt-out and the refusal


def test_servers_are_found_by_what_a_connector_speaks_not_by_its_name(stub):
    fixture = TelemetryFixture().install(stub)
    settings = stub_winrm(stub.https_endpoint, stub.ca_file)
    connectors: list[Connector] = [
        MimServiceConnector(MimServiceSettings(settings, name="portal", label="Portal")),
        PamConnector(PamSettings(winrm=settings, source_domain="CORP", name="priv")),
    ]
    assert all(isinstance(c, MimServerTelemetry) for c in connectors)
    (server,) = read(connectors, timeout=5).servers
    assert server.systems == ("Portal", "MIM PAM")
    assert [name for name, _ in fixture.calls] == ["telemetry_read"]
