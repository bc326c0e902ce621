"""The PowerShell-over-WinRM runner: the script contract (pure), settings, and pywinrm's real
transport against the loopback WS-Management stand-in (demo/wsman_stub.py)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from winrm import exceptions as wx

from connectors._shared.powershell import (
    PRELUDE,
    PowerShellRunner,
    ScriptError,
    WinRmSettings,
    argument_values,
    command_line,
    parse_output,
    redact,
    script_text,
    winrm_errors,
)
from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable
from tests.support.ports import closed_port

SECRET = "Jane.O'Doe-4711@example.test"  # must never appear in an error message
HOSTILE = [
    "",
    "jdoe",
    "O'Brien",
    'say "hi"',
    "both ' and \"",
    "$(Remove-Item C:\\ -Recurse)",
    "`whoami`",
    "a; Stop-Computer",
    "line1\nline2\r\n'); exit 0 #",
    "' or 1=1 or '",
    '" or starts-with(AccountName,"%") or "',
    "x" * 10_000,
    "nul\x00byte",
    "Zoë Ångström 山田 😀",
    "\ud800 lone surrogate",
    "'@\n\"@\n",
    "</S><S>",
]
ARGS_LINE = re.compile(
    r"^\$MimbotArgs = \[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String"
    r"\('([A-Za-z0-9+/=]*)'\)\) \| ConvertFrom-Json$",
    re.M,
)


def split_at_args(text: str) -> tuple[str, str, str]:
    """(before, base64 literal, after): the one place the arguments appear."""
    found = list(ARGS_LINE.finditer(text))
    assert len(found) == 1
    m = found[0]
    return text[: m.start(1)], m.group(1), text[m.end(1) :]


# -- the script contract ------------------------------------------------------


def test_script_text_follows_the_contract() -> None:
    text = script_text("ping", {"term": "jdoe"})
    lines = text.split("\n")
    assert lines[0] == "# mimbot-script: ping"
    assert lines[1] == "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'"
    _, literal, _ = split_at_args(text)
    assert json.loads(base64.b64decode(literal)) == {"term": "jdoe"}
    assert Path("connectors/_shared/scripts/ping.ps1").read_text().strip() in text
    assert "ConvertTo-Json -InputObject $Envelope -Compress -Depth 8" in text
    assert "exit 1" in text


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_reach_powershell_only_as_data(value: str) -> None:
    """Byte-identical text whatever the value, but for the base64 literal, which the base64
    alphabet keeps inside its single quotes; the value comes back intact."""
    reference = split_at_args(script_text("ping", {"term": "jdoe", "n": 1}))
    args = {"term": value, "n": 1, "nested": {"list": [value, value[:3]]}}
    text = script_text("ping", args)
    before, literal, after = split_at_args(text)
    assert (before, after) == (reference[0], reference[2])
    assert re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", literal)
    assert json.loads(base64.b64decode(literal).decode("utf-8")) == args
    # and on the wire: the command line carries that text and nothing else
    command = command_line(text)
    assert re.fullmatch(
        r"powershell -NoProfile -NonInteractive -encodedcommand [A-Za-z0-9+/=]+", command
    )
    assert base64.b64decode(command.rsplit(" ", 1)[1]).decode("utf-16-le") == text


def test_hostile_texts_are_byte_identical_on_the_wire() -> None:
    texts = {script_text("ping", {"term": v}) for v in HOSTILE}
    shapes = {ARGS_LINE.sub("<ARGS>", t).encode("utf-8") for t in texts}
    assert len(texts) == len(HOSTILE) and len(shapes) == 1


@pytest.mark.parametrize("name", ["Ping", "../ping", "ping.ps1", "ping ", "", "p-ing", "nope"])
def test_script_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError):
        script_text(name, {})


def test_arguments_must_be_json_data() -> None:
    with pytest.raises(TypeError):
        script_text("ping", ["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        script_text("ping", {"when": object()})
    with pytest.raises(ValueError):
        script_text("ping", {"n": float("nan")})


def envelope(doc: Any) -> bytes:
    return base64.b64encode(json.dumps(doc).encode()) + b"\r\n"


def test_parse_output_returns_data() -> None:
    assert parse_output("ping", envelope({"ok": True, "data": {"a": "Zoë"}}), 0, []) == {"a": "Zoë"}
    assert parse_output("ping", b"\r\n" + envelope({"ok": True, "data": None}), 0, []) is None


def test_script_error_redacts_every_argument_value() -> None:
    values = argument_values({"term": SECRET, "ids": [4711, "ABC"], "flag": True})
    assert values == [SECRET, "4711", "ABC"]
    record = {
        "type": "Microsoft.ResourceManagement.Automation.ExportConfigException",
        "message": f"No match for '{SECRET.upper()}' or 4711; also {SECRET[:14]}... " * 5,
        "category": "ObjectNotFound",
        "fqid": "ExportConfig,Microsoft.ResourceManagement.Automation.ExportConfig",
    }
    with pytest.raises(ScriptError) as info:
        parse_output("mim_search", envelope({"ok": False, "error": record}), 1, values)
    err = info.value
    text = str(err)
    for fragment in (SECRET, SECRET.upper(), "4711", SECRET[:10], "Doe-4711"):
        assert fragment.lower() not in text.lower()
    assert "No match for '…'" in text and len(err.message) <= 300
    assert err.type == record["type"] and err.category == "ObjectNotFound"
    assert err.fqid.startswith("ExportConfig,")


def test_redact_keeps_what_is_not_an_argument() -> None:
    assert redact("Access is denied.", ["jdoe"]) == "Access is denied."
    assert redact("user JDoe not found", ["jdoe"]) == "user … not found"
    assert redact("x" * 1000, []) == "x" * 299 + "…"


@pytest.mark.parametrize(
    ("stdout", "code"),
    [
        (b"", 0),
        (b"", 1),
        (envelope({"ok": True, "data": 1}) * 2, 0),  # two documents
        (b"@{ok=True; data=}\r\n", 0),  # not JSON
        (base64.b64encode(b'{"ok": true, "data": 1}{"ok": true}') + b"\r\n", 0),
        (base64.b64encode(f"not json {SECRET}".encode()) + b"\r\n", 0),
        (envelope([1, 2]), 0),
        (envelope({"ok": True, "data": 1}), 1),  # ok, but a failing exit code
        (envelope({"ok": False, "error": "text"}), 1),
        (SECRET.encode() + b"\r\n", 0),
    ],
)
def test_unexpected_output_is_an_error_that_does_not_echo_it(stdout: bytes, code: int) -> None:
    with pytest.raises(ConnectorError, match="unexpected output") as info:
        parse_output("ping", stdout, code, [])
    assert SECRET not in str(info.value) and "@{" not in str(info.value)


# -- settings -------------------------------------------------------------------


def test_settings_accept_the_usual_shapes(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    WinRmSettings("https://mim01.corp:5986/wsman", "svc", "pw", "basic", ca_file=ca)
    WinRmSettings("http://mim01.corp:5985/wsman", "CORP\\svc", "pw", "ntlm")
    WinRmSettings("http://[::1]:5985/wsman", "svc", "pw", "credssp")
    s = WinRmSettings("http://mim01.corp:5985/wsman", "", "", "kerberos")
    assert "pw" not in repr(WinRmSettings("http://h:5985/wsman", "svc", "pw"))
    assert s.ca_file is None  # certificates validated against the default trust store


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endpoint": "http://h:5985/wsman", "transport": "basic"}, "only over https"),
        ({"endpoint": "https://h/wsman"}, "port"),
        ({"endpoint": "h:5985"}, "http"),
        ({"endpoint": "ftp://h:21/wsman"}, "http"),
        ({"endpoint": "http://h:5985"}, "path"),
        ({"transport": "plaintext"}, "transport"),
        ({"transport": "ssl"}, "transport"),
        ({"password": ""}, "password"),
        ({"operation_timeout": 30, "read_timeout": 30}, "read_timeout"),
        ({"operation_timeout": 0}, "operation_timeout"),
        ({"pool_size": 0}, "pool_size"),
    ],
)
def test_settings_refuse_what_cannot_work(kwargs: dict[str, Any], match: str) -> None:
    base: dict[str, Any] = {
        "endpoint": "https://h:5986/wsman",
        "username": "svc",
        "password": "pw",
        "transport": "ntlm",
    }
    with pytest.raises(ValueError, match=match):
        WinRmSettings(**{**base, **kwargs})


def test_a_ca_file_that_is_not_there_is_refused_by_the_runner_not_the_settings() -> None:
    # A file is the host's, not the configuration's: app.yaml parses on a machine without
    # it, and the connector refuses to start where it is missing.
    settings = WinRmSettings(
        "https://h:5986/wsman", "svc", "pw", "ntlm", ca_file=Path("/nonexistent/ca.pem")
    )
    with pytest.raises(ValueError, match="ca_file does not name a file"):
        PowerShellRunner(settings)


def test_prelude_is_the_contract() -> None:
    assert PRELUDE.splitlines()[0] == "# mimbot-script: {name}"


@pytest.mark.parametrize(
    ("exc", "mapped"),
    [
        (wx.InvalidCredentialsError("rejected"), Denied),
        (wx.WinRMOperationTimeoutError(), TimedOut),
        (wx.WSManFaultError(500, "m", f"<r>{SECRET}</r>", SECRET, "s:Sender", "w:X", 7), None),
        (wx.WinRMTransportError("http", 500, SECRET), None),
        (wx.WinRMError(SECRET), None),
        (requests.exceptions.ReadTimeout(SECRET), TimedOut),
        (requests.exceptions.ConnectTimeout(SECRET), Unreachable),
        (requests.exceptions.SSLError(SECRET), Unreachable),
        (requests.exceptions.ConnectionError(SECRET), Unreachable),
        (requests.exceptions.ChunkedEncodingError(SECRET), Unreachable),
        (requests.exceptions.InvalidURL(SECRET), None),
        (StopIteration(), None),
        (AssertionError(SECRET), None),
    ],
    ids=lambda v: type(v).__name__,
)
def test_every_library_error_is_mapped(exc: Exception, mapped: type | None) -> None:
    """httpx's test_httpcore_all_exceptions_mapped, for pywinrm and requests."""
    with pytest.raises(ConnectorError) as info, winrm_errors():
        raise exc
    assert type(info.value) is (mapped or ConnectorError)
    assert info.value.__cause__ is exc and SECRET not in str(info.value)


def test_refused_port_is_unreachable() -> None:
    settings = WinRmSettings(
        f"http://127.0.0.1:{closed_port()}/wsman",
        "LAB\\mimbot",
        "pw",
        "ntlm",
        read_timeout=2,
        operation_timeout=1,
    )
    with PowerShellRunner(settings) as runner, pytest.raises(Unreachable) as info:
        runner.run("ping", {"term": SECRET}, timeout=2)
    assert SECRET not in str(info.value)
    assert not runner.health(timeout=1).ok


# -- against the stand-in ---------------------------------------------------------


@pytest.fixture
def stub() -> Iterator[Any]:
    from demo.wsman_stub import WsmanStub

    with WsmanStub() as s:  # Windows' own command-line limits, as the runner meets them
        yield s


def basic_https(stub: Any, **kw: Any) -> WinRmSettings:
    from demo.wsman_stub import BASIC_USER

    return WinRmSettings(
        stub.https_endpoint,
        *BASIC_USER,
        "basic",
        ca_file=Path(stub.ca_file),
        operation_timeout=1,
        read_timeout=3,
        **kw,
    )


def ntlm_http(stub: Any, **kw: Any) -> WinRmSettings:
    from demo.wsman_stub import NTLM_USER

    return WinRmSettings(
        stub.endpoint, *NTLM_USER, "ntlm", operation_timeout=1, read_timeout=3, **kw
    )


def echo(args: Any) -> Any:
    return {"echo": args}


@pytest.mark.parametrize("make", [basic_https, ntlm_http], ids=["basic+https", "ntlm+http"])
def test_ping_and_reuse(stub: Any, make: Any) -> None:
    with PowerShellRunner(make(stub)) as runner:
        health = runner.health(timeout=5)
        assert health.ok and "MIM01" in health.detail, health
        stub.handlers["ping"] = echo
        for value in ("jdoe", "Zoë 山田", "' or 1=1 or '"):
            assert runner.run("ping", {"term": value}, timeout=5) == {"echo": {"term": value}}
    assert stub.actions.count("Create") == 1
    assert stub.actions.count("Command") == 4 == stub.actions.count("Signal")
    assert stub.actions[-1] == "Delete" and stub.actions.count("Delete") == 1
    assert runner.stats.protocols == 1 and runner.stats.shells == 1
    assert [r.args for r in stub.scripts][1:] == [
        {"term": v} for v in ("jdoe", "Zoë 山田", "' or 1=1 or '")
    ]
    if make is ntlm_http:
        assert all(s.encrypted for s in stub.seen if s.action != "Create")
    assert not stub.errors


def test_the_wire_text_is_byte_identical_for_hostile_values(stub: Any) -> None:
    stub.handlers["ping"] = echo
    with PowerShellRunner(basic_https(stub)) as runner:
        for value in HOSTILE:
            if "\ud800" in value:
                continue  # the stub's json.loads gives it back; its echo cannot encode it
            if len(value) > 5000:
                # One command line holds 32,767 characters (CreateProcess), and UTF-16LE plus
                # base64 of base64 makes each argument character 3.6: refused, nothing sent.
                sent = len(stub.actions)
                with pytest.raises(ConnectorError, match="too long") as info:
                    runner.run("ping", {"term": value}, timeout=5)
                assert value[:20] not in str(info.value) and len(stub.actions) == sent
                continue
            assert runner.run("ping", {"term": value}, timeout=5) == {"echo": {"term": value}}
    assert len(stub.scripts) == len(HOSTILE) - 2
    shapes = {ARGS_LINE.sub("<ARGS>", r.text).encode() for r in stub.scripts}
    assert len(shapes) == 1


def test_powershell_error_becomes_a_connector_error_without_the_values(stub: Any) -> None:
    from demo.wsman_stub import PowerShellError

    def fails(args: Any) -> Any:
        raise PowerShellError(
            "Microsoft.ResourceManagement.Automation.ExportConfigException",
            f"Export-FIMConfig: no Person with AccountName '{args['term']}' ({args['id']})",
            "InvalidOperation",
            "ExportConfig,Microsoft.ResourceManagement.Automation.ExportConfig",
        )

    stub.handlers["ping"] = fails
    with PowerShellRunner(ntlm_http(stub)) as runner:
        with pytest.raises(ScriptError) as info:
            runner.run("ping", {"term": SECRET, "id": 4711}, timeout=5)
        # a script error leaves the lane sound: the next call re-uses the shell
        stub.handlers["ping"] = echo
        runner.run("ping", {}, timeout=5)
    text = str(info.value)
    assert SECRET not in text and "4711" not in text and "O'Doe" not in text
    assert "ExportConfigException" in text and "InvalidOperation" in text
    assert "no Person with AccountName '…'" in text
    assert stub.actions.count("Create") == 1


@pytest.mark.parametrize("make", [basic_https, ntlm_http], ids=["basic+https", "ntlm+http"])
def test_a_hung_command_times_out_and_is_still_signalled_and_deleted(stub: Any, make: Any) -> None:
    stub.fail("ping", "hang")
    with PowerShellRunner(make(stub)) as runner:
        started = time.monotonic()
        with pytest.raises(TimedOut) as info:
            runner.run("ping", {"term": SECRET}, timeout=1.5)
        elapsed = time.monotonic() - started
        assert SECRET not in str(info.value)
        assert elapsed < 1.5 + 0.5, elapsed  # the deadline, plus Signal and Delete on loopback
        assert stub.actions[-2:] == ["Signal", "Delete"]
        assert stub.shells == {}
        assert runner.run("ping", {}, timeout=5)["host"] == "MIM01"  # a new lane works


def test_wrong_password_is_denied(stub: Any) -> None:
    from demo.wsman_stub import NTLM_USER

    for settings in (
        WinRmSettings(
            stub.endpoint, NTLM_USER[0], "wrong", "ntlm", read_timeout=3, operation_timeout=1
        ),
        WinRmSettings(
            stub.https_endpoint,
            "mimbot",
            "wrong",
            "basic",
            read_timeout=3,
            operation_timeout=1,
            ca_file=Path(stub.ca_file),
        ),
    ):
        with PowerShellRunner(settings) as runner, pytest.raises(Denied):
            runner.run("ping", {"term": SECRET}, timeout=3)


def test_auth_fault_is_denied(stub: Any) -> None:
    stub.fail("ping", "auth")
    with PowerShellRunner(basic_https(stub)) as runner, pytest.raises(Denied):
        runner.run("ping", {}, timeout=3)


def test_unknown_ca_is_unreachable(stub: Any) -> None:
    settings = WinRmSettings(
        stub.https_endpoint, "mimbot", "Secret-1", "basic", operation_timeout=1, read_timeout=3
    )  # no ca_file: the default trust store does not know the stub's certificate
    with PowerShellRunner(settings) as runner, pytest.raises(Unreachable, match="TLS"):
        runner.run("ping", {}, timeout=3)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("drop", Unreachable),
        ("http500", ConnectorError),
        ("empty500", ConnectorError),
        ("two_documents", ConnectorError),
        ("not_json", ConnectorError),
        ("slow", TimedOut),
    ],
)
def test_faults_map_to_connector_errors(stub: Any, kind: str, error: type[Exception]) -> None:
    stub.handlers["ping"] = echo
    stub.fail("ping", kind, seconds=3.0) if kind == "slow" else stub.fail("ping", kind)
    with PowerShellRunner(ntlm_http(stub)) as runner:
        with pytest.raises(error) as info:
            runner.run("ping", {"term": SECRET}, timeout=2)
        assert SECRET not in str(info.value)
        assert "eyJ" not in str(info.value)  # nor the base64 of the output
        if kind in ("two_documents", "not_json"):
            # the script misbehaved, the transport did not: the shell is signalled and kept
            assert "unexpected output" in str(info.value)
            assert stub.actions[-1] == "Signal"
        else:
            assert "Signal" in stub.actions and stub.actions[-1] == "Delete"
        assert runner.run("ping", {"term": "ok"}, timeout=5) == {"echo": {"term": "ok"}}


def test_a_stale_pooled_lane_is_replaced_once(stub: Any) -> None:
    with PowerShellRunner(ntlm_http(stub)) as runner:
        runner.run("ping", {}, timeout=5)
        stub.fail("ping", "drop", at="Command")
        assert runner.run("ping", {}, timeout=5)["host"] == "MIM01"
        assert runner.stats.shells == 2 and runner.stats.dropped == 1
    # the dead lane's shell was deleted over a new connection, then the command ran again
    assert stub.actions.count("Command") == 3 and stub.actions.count("Delete") == 2
    assert stub.shells == {}


def test_parallel_calls_share_a_small_pool(stub: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    stub.handlers["ping"] = echo
    with PowerShellRunner(ntlm_http(stub, pool_size=2)) as runner:
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda i: runner.run("ping", {"i": i}, timeout=5), range(30)))
        assert results == [{"echo": {"i": i}} for i in range(30)]
        assert runner.stats.commands == 30 and runner.stats.shells <= 6
    assert stub.shells == {}  # every shell deleted: pooled ones at close, extra ones at once
