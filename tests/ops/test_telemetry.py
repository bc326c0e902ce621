"""`/mim telemetry` and `/mim telemetry disable`: each MIM server's CEIP values over the MIM
Service and PAM connectors' runners, on pywinrm's real transport against the loopback
WS-Management stand-in (demo/wsman_stub.py, demo/telemetry_fixture.py); what the two
scripts do on a server, read from their syntax trees; and the read-only checks `doctor`
makes of a server's CEIP values (connectors/_shared/ceip.py)."""

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
from bot.ops.telemetry import Setting, State, read, setting_of, state_of
from bot.render.reply import Reply
from bot.render.telemetry import ACTION_TELEMETRY_DISABLE
from bot.services import Services, build_services
from connectors._shared import ceip
from connectors._shared.powershell import PowerShellRunner
from connectors.base import Connector
from connectors.capabilities import MimServerTelemetry
from connectors.doctor import Verdict
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from connectors.pam.connector import PamConnector, PamSettings
from connectors.telemetry import COMPONENTS, CeipValue, RegistryKind
from demo.telemetry_fixture import RegValue, TelemetryFixture, dword, sz
from demo.wsman_stub import WsmanStub
from tests.connectors.shared import test_script_syntax as syntax
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
    # The ceip2 screenshot's value, a REG_SZ, here "1": shown as stored, with its kind.
    assert 'ServiceandPortal: :warning: collecting (ServiceandPortalCEIP="1" REG_SZ)' in reply.text
    assert "no CEIP value in: Service, Portal, Service and Portal" in reply.text
    assert "ServiceandPortalLocation" not in reply.text  # no *CEIP value
    assert "MIM 4.4.1749.0" in reply.text
    # One server behind both connectors: asked once.
    assert [name for name, _ in fixture.calls] == ["telemetry_read"]
    assert "(MIM Service, MIM PAM)" in reply.text
    assert list(s.audit.events()) == []  # reading is not audited


def test_the_service_and_portal_subkey_is_read(stub):
    # mim-apis-checked 8.3: the screenshot shows a "Service and Portal" key under 2010.
    assert "Service and Portal" in COMPONENTS
    fixture = TelemetryFixture({"": {}, "Service and Portal": {"PortalCEIP": dword(0)}})
    fixture.install(stub)
    (server,) = read(mim_connectors(stub), timeout=5).servers
    (component,) = server.result.unwrap().components
    assert component.component == "Service and Portal"
    assert component.values == (CeipValue("PortalCEIP", RegistryKind.DWORD, 0),)
    assert component.state is State.OPTED_OUT


def test_values_in_the_2010_key_itself_are_components(tmp_path, stub):
    TelemetryFixture({"": {"PortalCEIP": dword(0), "ServiceandPortalCEIP": sz("0")}}).install(stub)
    answer = read(mim_connectors(stub), timeout=5)
    (server,) = answer.servers
    assert [(c.component, c.state) for c in server.result.unwrap().components] == [
        ("Portal", State.OPTED_OUT),
        ("ServiceandPortal", State.OPTED_OUT),
    ]


def test_a_string_that_is_no_number_is_read_and_not_guessed(world, stub):
    # The old read cast every value with [int]: under ErrorAction Stop a REG_SZ "yes" failed
    # the whole script. Now it is read as stored and said to be unknown.
    s, _ = world
    TelemetryFixture({"": {"ServiceandPortalCEIP": sz("yes")}}).install(stub)
    reply = ask(s)
    assert 'ServiceandPortal: :grey_question: cannot tell (ServiceandPortalCEIP="yes" REG_SZ)' in (
        reply.text
    )


@pytest.mark.parametrize("version", ["4.5.26.0", "4.6.34.0"])
def test_45_and_later_collect_nothing_whatever_the_values(stub, version):
    TelemetryFixture(version=version).install(stub)
    (server,) = read(mim_connectors(stub), timeout=5).servers
    states = {c.component: c.state for c in server.result.unwrap().components}
    assert set(states.values()) == {State.NOT_COLLECTED}
    assert states["ServiceandPortal"] is State.NOT_COLLECTED  # though it holds "1"


def test_no_version_found_says_so_and_never_not_installed(world, stub):
    # mim-apis-checked 8.7: the Uninstall DisplayNames matched are unverified.
    s, _ = world
    TelemetryFixture(version="").install(stub)
    reply = ask(s)
    assert "version not found" in reply.text
    assert "not installed" not in reply.text
    assert ":warning: collecting" in reply.text  # the values still speak


def val(kind: RegistryKind, data: object) -> CeipValue:
    return CeipValue("XCEIP", kind, data)  # type: ignore[arg-type]


S, D = RegistryKind.STRING, RegistryKind.DWORD


@pytest.mark.parametrize(
    ("value", "setting"),
    [
        (val(S, "0"), Setting.OPTED_OUT),
        (val(D, 0), Setting.OPTED_OUT),
        (val(S, "1"), Setting.OPTED_IN),
        (val(D, 1), Setting.OPTED_IN),
        # Anything else is unknown: never guessed.
        (val(S, "yes"), Setting.UNKNOWN),
        (val(S, " 0"), Setting.UNKNOWN),
        (val(S, "01"), Setting.UNKNOWN),
        (val(S, ""), Setting.UNKNOWN),
        (val(S, None), Setting.UNKNOWN),
        (val(D, 2), Setting.UNKNOWN),
        (val(D, "0"), Setting.UNKNOWN),  # a DWORD whose data came back as text
        (val(S, 0), Setting.UNKNOWN),  # a REG_SZ whose data came back as a number
        (val(D, True), Setting.UNKNOWN),
        (val(RegistryKind.QWORD, 0), Setting.UNKNOWN),
        (val(RegistryKind.EXPAND_STRING, "0"), Setting.UNKNOWN),
        (val(RegistryKind.UNKNOWN, 0), Setting.UNKNOWN),
    ],
)
def test_setting_of(value, setting):
    assert setting_of(value) is setting


def test_state_of():
    out, on, odd = val(S, "0"), val(D, 1), val(S, "maybe")
    assert state_of([out, val(D, 0)], "4.4.1749.0") is State.OPTED_OUT
    assert state_of([out, on], "4.4.1749.0") is State.COLLECTING
    assert state_of([on], None) is State.COLLECTING
    assert state_of([odd, on], None) is State.COLLECTING  # one opted in is enough to say
    assert state_of([odd, out], None) is State.UNKNOWN
    assert state_of([], "4.4.1459.0") is State.NO_VALUE
    assert state_of([on], "4.5.202.0") is State.NOT_COLLECTED


def test_malformed_script_output_is_left_out_never_guessed():
    reading = ceip._reading(
        {
            "host": "MIM01",
            "products": [{"name": "Microsoft Identity Manager Service and Portal",
                          "version": "4.4.1749.0"}, "junk"],
            "components": [
                {"component": "Service", "values": [
                    {"name": "ACEIP", "kind": "String", "data": "0"},
                    {"name": "BCEIP", "kind": "Binary", "data": [0, 1]},
                    {"name": "CCEIP", "kind": "Whatever", "data": 0},
                    {"kind": "DWord", "data": 0},  # no name
                    "junk",
                ]},
                "junk",
            ],
        }
    )  # fmt: skip
    (component,) = reading.components
    assert component.values == (
        CeipValue("ACEIP", RegistryKind.STRING, "0"),
        CeipValue("BCEIP", RegistryKind.BINARY, None),
        CeipValue("CCEIP", RegistryKind.UNKNOWN, 0),
    )
    assert reading.version == "4.4.1749.0" and reading.keys == ("Service",)


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
    assert fixture.keys[""]["ServiceandPortalCEIP"] == sz("1")
    assert ACTION_TELEMETRY_DISABLE in str(reply.blocks)
    assert TELEMETRY_CONFIRM in reply.text
    assert list(s.audit.events()) == []


def test_confirmed_disable_sets_zero_in_each_kind_reads_back_and_audits(tmp_path, stub):
    fixture = TelemetryFixture(
        {
            "": {"ServiceandPortalCEIP": sz("1"), "ServiceandPortalLocation": sz("C:\\x")},
            "Synchronization Service": {"SyncCEIP": dword(1)},
        }
    ).install(stub)
    s = services(tmp_path, mim_connectors(stub))
    try:
        reply = ask(s, TELEMETRY_CONFIRM)
        asked, event = s.audit.events()  # the attempt first, then what it did
        again = ask(s).text
    finally:
        s.close()
    assert [name for name, _ in fixture.calls] == ["telemetry_disable", "telemetry_read"]
    # The string "0" for the REG_SZ, the number 0 for the REG_DWORD: each kept its kind.
    assert fixture.keys == {
        "": {"ServiceandPortalCEIP": sz("0"), "ServiceandPortalLocation": sz("C:\\x")},
        "Synchronization Service": {"SyncCEIP": dword(0)},
    }
    assert fixture.kind_changes == []
    assert 'ServiceandPortal: :white_check_mark: opted out (ServiceandPortalCEIP="0" REG_SZ)' in (
        reply.text
    )
    assert "Synchronization Service: :white_check_mark: opted out (SyncCEIP=0 REG_DWORD)" in (
        reply.text
    )
    assert "2 value(s) set to 0, each in its own kind" in reply.text
    assert ":x:" not in reply.text and "not opted out" not in reply.text
    assert (asked.action, asked.outcome) == ("telemetry_disable", "requested")
    assert (event.actor, event.action, event.outcome) == ("UADMIN", "telemetry_disabled", "done")
    assert event.detail == {
        "servers": {
            "127.0.0.1": {
                "outcome": "done",
                "version": "4.4.1749.0",
                "changed": ["\\ServiceandPortalCEIP", "Synchronization Service\\SyncCEIP"],
                "states": {"ServiceandPortal": "opted out", "Synchronization Service": "opted out"},
            }
        }
    }
    assert "collecting" not in again  # and a later read agrees


def test_a_value_of_another_kind_is_left_and_said_to_be(world, stub):
    s, _ = world
    fixture = TelemetryFixture(
        {"": {"ServiceandPortalCEIP": sz("1"), "OldCEIP": RegValue(RegistryKind.QWORD, 1)}}
    ).install(stub)
    reply = ask(s, TELEMETRY_CONFIRM)
    assert fixture.keys[""]["OldCEIP"] == RegValue(RegistryKind.QWORD, 1)  # untouched
    assert fixture.keys[""]["ServiceandPortalCEIP"] == sz("0")
    assert "1 value(s) set to 0" in reply.text
    assert ":warning: not opted out: OldCEIP (set each to 0 by hand)" in reply.text


def test_a_kind_change_is_reported_as_the_fault_it_is(world, stub):
    # A script that writes one kind whatever the value's (the old `-Type DWord`): the stand-in
    # marks the change, and the bot reports it and audits the opt-out as partial.
    s, _ = world
    fixture = TelemetryFixture(rewrite_as=RegistryKind.DWORD).install(stub)
    reply = ask(s, TELEMETRY_CONFIRM)
    assert fixture.kind_changes == ["\\ServiceandPortalCEIP: String -> DWord"]
    assert (
        ":x: `\\ServiceandPortalCEIP` was REG_SZ and is now REG_DWORD: set it back to REG_SZ 0"
        in reply.text
    )
    _, event = s.audit.events()
    assert (event.action, event.outcome) == ("telemetry_disabled", "partial")
    assert event.detail["servers"]["127.0.0.1"]["kind_changed"] == {
        "\\ServiceandPortalCEIP": "String -> DWord"
    }


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
            assert "1 value(s) set to 0" in bot.answer("c2")["text"]
            assert fixture.keys[""]["ServiceandPortalCEIP"] == sz("0")
        finally:
            server.stop()
            s.close()
    finally:
        slack.stop()


# -- what the scripts do on a server (their syntax trees) ----------------------------

SCRIPTS = ROOT / "connectors" / "_shared" / "scripts"
READ = SCRIPTS / "telemetry_read.ps1"
DISABLE = SCRIPTS / "telemetry_disable.ps1"
# The lines of the scripts before mim-apis-checked 8.4 that these checks must refuse.
OLD_READ = "if ($n -like '*CEIP') { $values[$n] = [int]$key.GetValue($n) }\n"
OLD_DISABLE = (
    "foreach ($n in (Get-Item -LiteralPath $path).GetValueNames()) {\n"
    "    if ($n -like '*CEIP') {\n"
    "        Set-ItemProperty -LiteralPath $path -Name $n -Value 0 -Type DWord\n"
    "    }\n"
    "}\n"
)


def calls_of(text: str, method: str) -> list[str]:
    """The text of each `.method(...)` call."""
    return [
        syntax._text(n)
        for n in syntax.nodes(syntax.parse(text).root_node)
        if n.type == "invokation_expression" and syntax._member(n) == method.lower()
    ]


def casts(text: str) -> list[str]:
    """Each numeric cast: `[int]...` and its kin."""
    numeric = {"[int]", "[int32]", "[int64]", "[long]", "[uint32]", "[double]", "[decimal]"}
    return [
        syntax._text(n)
        for n in syntax.nodes(syntax.parse(text).root_node)
        if n.type == "cast_expression" and syntax._text(n.children[0]).replace(" ", "") in numeric
    ]


def type_arguments(text: str) -> list[str]:
    """What each `Set-ItemProperty` passes as `-Type` ("" when it passes none)."""
    found = []
    for n in syntax.nodes(syntax.parse(text).root_node):
        if n.type == "command" and syntax.command_name(n) == "set-itemproperty":
            args = syntax._arguments(n)
            given = [
                syntax._text(args[i + 1])
                for i, a in enumerate(args[:-1])
                if a.type == "command_parameter" and syntax._text(a) == "-type"
            ]
            found.append(given[0] if given else "")
    return found


def assigned_from(text: str, variable: str) -> list[str]:
    """The right-hand side of each assignment to `variable`."""
    found = []
    for n in syntax.nodes(syntax.parse(text).root_node):
        if n.type == "assignment_expression" and syntax._text(n.children[0]) == variable.lower():
            found.append(syntax._text(n.children[-1]))
    return found


def disable_keeps_the_kind(text: str) -> list[str]:
    """What `text` does wrong against mim-apis-checked 8.4; empty when it writes each
    value with the kind GetValueKind read."""
    wrongs = []
    if not calls_of(text, "GetValueKind"):
        wrongs.append("never reads a value's kind (GetValueKind)")
    types = type_arguments(text)
    if not types:
        wrongs.append("writes no value")
    for given in types:
        if not given.startswith("$"):
            wrongs.append(f"writes one fixed kind ({given or 'none given'})")
        elif not any("getvaluekind(" in rhs for rhs in assigned_from(text, given)):
            wrongs.append(f"writes the kind {given}, which is not the one GetValueKind read")
    if casts(text):
        wrongs.append(f"casts a value to a number: {casts(text)}")
    return wrongs


def test_disable_writes_each_value_in_the_kind_it_has():
    assert disable_keeps_the_kind(DISABLE.read_text(encoding="utf-8-sig")) == []


def test_the_old_disable_is_refused():
    assert disable_keeps_the_kind(OLD_DISABLE) == [
        "never reads a value's kind (GetValueKind)",
        "writes one fixed kind (dword)",
    ]
    # Reading the kind but writing another is refused too.
    both = (
        "$kind = $key.GetValueKind($n)\n"
        "Set-ItemProperty -LiteralPath $p -Name $n -Value 0 -Type $t\n"
    )
    assert disable_keeps_the_kind(both) == [
        "writes the kind $t, which is not the one GetValueKind read"
    ]


def test_disable_writes_the_string_0_into_a_string_and_the_number_0_into_a_dword():
    text = DISABLE.read_text(encoding="utf-8-sig")
    (zero,) = assigned_from(text, "$zero")
    clauses = " ".join(zero.split())
    assert "'string' { '0' }" in clauses and "'dword' { 0 }" in clauses
    assert "default" not in clauses  # any other kind is left as it is


@pytest.mark.parametrize("path", [READ, DISABLE], ids=["read", "disable"])
def test_the_scripts_report_kind_and_raw_data_without_a_cast(path):
    text = path.read_text(encoding="utf-8-sig")
    assert casts(text) == []
    assert any("getvaluekind($n)" in c for c in calls_of(text, "GetValueKind"))
    # The data as stored: an environment reference in a value is not expanded.
    assert any("donotexpandenvironmentnames" in c for c in calls_of(text, "GetValue"))


def test_the_old_read_is_refused():
    assert casts(OLD_READ) == ["[int]$key.getvalue($n)"]
    assert calls_of(OLD_READ, "GetValueKind") == []


# -- doctor ---------------------------------------------------------------------------


def checks(stub: WsmanStub) -> dict[str, tuple[Verdict, str]]:
    with PowerShellRunner(stub_winrm(stub.https_endpoint, stub.ca_file)) as runner:
        return {c.name: (c.verdict, c.detail) for c in ceip.doctor(runner, timeout=5)}


KEY = "CEIP registry key readable"
VALUES = "CEIP values are REG_SZ or REG_DWORD holding 0 or 1"
VERSION = "installed MIM version found"


def test_doctor_on_the_stand_in_is_all_ok_and_only_reads(stub):
    fixture = TelemetryFixture().install(stub)
    found = checks(stub)
    assert {n: v for n, (v, _) in found.items()} == {
        KEY: Verdict.OK,
        VALUES: Verdict.OK,
        VERSION: Verdict.OK,
    }
    assert "Service and Portal" in found[KEY][1]
    assert found[VALUES][1] == "1 value(s), REG_SZ"
    assert "4.4.1749.0" in found[VERSION][1]
    assert [name for name, _ in fixture.calls] == ["telemetry_read"]  # nothing written


@pytest.mark.parametrize(
    ("fixture", "name", "verdict", "said"),
    [
        (TelemetryFixture(version=""), VERSION, Verdict.CANNOT_TELL, "unverified"),
        (TelemetryFixture({}), KEY, Verdict.CANNOT_TELL, "no HKLM"),
        (
            TelemetryFixture({"": {"ServiceandPortalCEIP": RegValue(RegistryKind.QWORD, 0)}}),
            VALUES, Verdict.WRONG, "ServiceandPortalCEIP is REG_QWORD",
        ),
        (
            TelemetryFixture({"": {"ServiceandPortalCEIP": sz("yes")}}),
            VALUES, Verdict.CANNOT_TELL, "holds neither 0 nor 1",
        ),
        (TelemetryFixture({"": {}}), VALUES, Verdict.CANNOT_TELL, "no value named *CEIP"),
    ],
)  # fmt: skip
def test_doctor_names_each_fault_of_the_stand_in(stub, fixture, name, verdict, said):
    fixture.install(stub)
    found = checks(stub)
    assert found[name][0] is verdict, found
    assert said in found[name][1]
    others = {n: v for n, (v, _) in found.items() if n != name and v is not Verdict.OK}
    # The fault is named where it is; an empty server also has no values to check.
    assert others == ({VALUES: Verdict.CANNOT_TELL} if name == KEY else {})


def test_doctor_is_ok_with_no_value_on_45_and_later(stub):
    TelemetryFixture({"": {}}, version="4.5.26.0").install(stub)
    assert checks(stub)[VALUES][0] is Verdict.OK


def test_doctor_cannot_tell_when_the_script_fails(stub):
    TelemetryFixture().install(stub)
    stub.fail("telemetry_read", "not_json")
    found = checks(stub)
    assert {v for v, _ in found.values()} == {Verdict.CANNOT_TELL}
    assert all("telemetry_read failed" in d for _, d in found.values())


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
    assert 'ServiceandPortal: :warning: collecting (ServiceandPortalCEIP="1" REG_SZ)' in out
    assert "[Set CEIP to 0]" in out
    assert 'ServiceandPortal: :white_check_mark: opted out (ServiceandPortalCEIP="0" REG_SZ)' in out
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
