"""The WinRM stand-in (demo/wsman_stub.py) driven by pywinrm's own transport."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
import winrm
from requests_credssp.exceptions import AuthenticationException, NTStatusException
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from demo.wsman_stub import (
    BASIC_USER,
    HTTP500_CODE,
    NTLM_USER,
    PowerShellError,
    Run,
    WsmanStub,
)

LIFECYCLE = ["Create", "Command", "Receive", "Signal", "Delete"]


def script(name: str, args: object, *, extra: str = "") -> str:
    """A script as the runner writes it, ready for `powershell -encodedcommand`."""
    b64 = base64.b64encode(json.dumps(args).encode()).decode()
    text = (
        f"# mimbot-script: {name}\r\n$ErrorActionPreference = 'Stop'\r\n"
        "$MimbotArgs = [Text.Encoding]::UTF8.GetString("
        f"[Convert]::FromBase64String('{b64}')) | ConvertFrom-Json\r\n{extra}"
    )
    return base64.b64encode(text.encode("utf-16-le")).decode()


def document(stdout: bytes) -> dict:
    (line,) = stdout.splitlines()
    return json.loads(base64.b64decode(line))


@pytest.fixture
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


@pytest.fixture
def connect(stub: WsmanStub) -> Iterator[Callable[..., winrm.Protocol]]:
    opened: list[winrm.Protocol] = []

    def connect(transport: str = "basic", *, https: bool = False, password: str | None = None):
        user = NTLM_USER if transport in ("ntlm", "credssp") else BASIC_USER
        p = winrm.Protocol(
            endpoint=stub.https_endpoint if https else stub.endpoint,
            transport=transport,
            username=user[0],
            password=password or user[1],
            server_cert_validation="validate",
            ca_trust_path=stub.ca_file if https else "ignore",
            operation_timeout_sec=1,
            read_timeout_sec=2,
            proxy=None,
        )
        opened.append(p)
        return p

    yield connect
    for p in opened:  # after a failure pywinrm leaves its session open
        p.transport.close_session()


@dataclass(frozen=True)
class Exchange:
    status: int
    sent: str  # the request's Content-Type
    got: str  # the reply's


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Every HTTP exchange the test's clients make, the authentication legs included (they go
    through the connection adapter, not the session)."""
    exchanges: list[Exchange] = []
    send = requests.adapters.HTTPAdapter.send

    def logged(adapter, request, *args, **kwargs):
        response = send(adapter, request, *args, **kwargs)
        exchanges.append(
            Exchange(
                response.status_code,
                request.headers.get("Content-Type", ""),
                response.headers.get("Content-Type", ""),
            )
        )
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", logged)
    return exchanges


def run(p: winrm.Protocol, name: str = "ping", args: object = None) -> tuple[bytes, bytes, int]:
    shell = p.open_shell()
    command = p.run_command(shell, "powershell", ["-encodedcommand", script(name, args or {})])
    try:
        return p.get_command_output(shell, command)
    finally:
        p.cleanup_command(shell, command)
        p.close_shell(shell)


def test_basic_over_http_runs_the_whole_shell_lifecycle(stub, connect):
    stdout, stderr, code = run(connect("basic"), "ping", {"probe": "é"})
    assert (code, stderr) == (0, b"")
    assert document(stdout) == {
        "ok": True,
        "data": {"host": "MIM01", "ps_version": "5.1.17763.316", "ps_edition": "Desktop"},
    }
    assert stub.actions == LIFECYCLE
    assert [(r.name, r.args) for r in stub.scripts] == [("ping", {"probe": "é"})]
    assert stub.scripts[0].text.startswith("# mimbot-script: ping\r\n")
    assert stub.shells == {} and stub.errors == []


def test_ntlm_over_http_encrypts_every_message(stub, connect):
    stdout, _, code = run(connect("ntlm"))
    assert code == 0 and document(stdout)["ok"] is True
    assert {(s.auth, s.encrypted, s.tls, s.delegated) for s in stub.seen} == {
        ("ntlm", True, False, None)  # NTLM delegates nothing: no second hop
    }
    assert stub.actions == LIFECYCLE


def test_credssp_over_http_encrypts_every_message_and_delegates(stub, connect, wire):
    p = connect("credssp")
    exchanges = wire
    auth = p.transport.build_session().auth  # the encryption set-up POST happens here
    stdout, _, code = run(p)
    assert code == 0 and document(stdout)["ok"] is True
    assert stub.actions == LIFECYCLE and stub.errors == []
    assert {(s.auth, s.encrypted, s.tls, s.delegated) for s in stub.seen} == {
        ("credssp", True, False, NTLM_USER[0])
    }
    # the empty set-up POST carries the CredSSP legs (401s) and ends in 200; after it every
    # message goes and comes back sealed with the CredSSP context
    legs = [e.status for e in exchanges[: -len(LIFECYCLE)]]
    assert legs[-1] == 200 and set(legs[:-1]) == {401} and len(legs) >= 4
    sealed = 'multipart/encrypted;protocol="application/HTTP-CredSSP-session-encrypted"'
    assert all(e.sent.startswith(sealed) for e in exchanges[-len(LIFECYCLE) :])
    assert all(e.got.startswith(sealed) for e in exchanges[-len(LIFECYCLE) :])
    # Windows Server 2016/2019's Schannel: TLS 1.2 at most, an AES-GCM suite
    tls = auth.contexts["127.0.0.1"].tls_connection
    assert tls.version() == "TLSv1.2" and "-GCM-" in tls.cipher()[0]


def test_credssp_over_https_sends_plain_messages_and_delegates(stub, connect, wire):
    p = connect("credssp", https=True)
    exchanges = wire
    stdout, _, code = run(p)
    assert code == 0 and document(stdout)["ok"] is True
    assert {(s.auth, s.encrypted, s.tls, s.delegated) for s in stub.seen} == {
        ("credssp", False, True, NTLM_USER[0])
    }
    # pywinrm's message_encryption="auto" does not encrypt over https: the Create itself
    # carries the CredSSP legs, the last of them answered
    assert exchanges[0].status == 401 and exchanges[len(exchanges) - len(LIFECYCLE)].status == 200
    assert not any("multipart" in e.sent for e in exchanges)


def test_credssp_splits_messages_over_16_kib_in_both_directions(stub, connect, wire):
    stub.handlers["big"] = lambda args: "y" * 40_000
    p = connect("credssp")
    shell = p.open_shell()
    exchanges = wire
    exchanges.clear()
    line = ["-encodedcommand", script("big", {"x": "z" * 5000})]  # a 40 KB Command
    command = p.run_command(shell, "powershell", line, skip_cmd_shell=True)
    stdout, _, code = p.get_command_output(shell, command)
    assert code == 0 and document(stdout)["data"] == "y" * 40_000
    multi = 'multipart/x-multi-encrypted;protocol="application/HTTP-CredSSP-session-encrypted"'
    assert exchanges[0].sent.startswith(multi)  # the Command
    assert exchanges[1].got.startswith(multi)  # the Receive's reply
    assert stub.errors == []
    p.cleanup_command(shell, command)
    p.close_shell(shell)


def test_credssp_length_field_other_than_the_trailer_is_refused(stub, connect, monkeypatch):
    p = connect("credssp")
    shell = p.open_shell()
    # the client's Length-Field, not the stand-in, is what is wrong here
    monkeypatch.setattr(p.transport.encryption, "_get_credssp_trailer_length", lambda *a: 17)
    with pytest.raises(WinRMTransportError) as caught:
        p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])
    assert caught.value.code == 400
    assert stub.errors and "Length-Field 17" in stub.errors[0]


@pytest.mark.parametrize("https", [False, True])
@pytest.mark.parametrize(
    ("user", "password"), [(NTLM_USER[0], "Wrong-1"), ("LAB\\nobody", NTLM_USER[1])]
)
def test_credssp_refuses_a_wrong_password_or_user_with_401(stub, wire, https, user, password):
    p = winrm.Protocol(
        endpoint=stub.https_endpoint if https else stub.endpoint,
        transport="credssp",
        username=user,
        password=password,
        ca_trust_path=stub.ca_file if https else "ignore",
        operation_timeout_sec=1,
        read_timeout_sec=2,
        proxy=None,
    )
    exchanges = wire
    # requests-credssp raises what the acceptor's error TSRequest says (MS-CSSP errorCode)
    with pytest.raises((NTStatusException, AuthenticationException)):
        p.open_shell()
    p.transport.close_session()
    assert exchanges and {e.status for e in exchanges} == {401}
    assert stub.actions == [] and stub.seen == []


def test_credssp_is_neither_offered_nor_accepted_when_the_service_has_it_off(connect, stub):
    stub.credssp = False  # Windows' default until Enable-WSManCredSSP -Role Server
    with pytest.raises(AuthenticationException, match="did not response CredSSP"):
        connect("credssp").open_shell()
    assert stub.actions == []
    assert document(run(connect("ntlm"))[0])["ok"] is True  # NTLM still is


def test_basic_over_https_trusts_the_stub_ca_file(stub, connect):
    stdout, _, code = run(connect("ssl", https=True))
    assert code == 0 and document(stdout)["ok"] is True
    assert {(s.auth, s.encrypted, s.tls) for s in stub.seen} == {("basic", False, True)}


def test_ntlm_over_https_sends_plain_messages(stub, connect):
    run(connect("ntlm", https=True))
    assert {(s.auth, s.encrypted, s.tls) for s in stub.seen} == {("ntlm", False, True)}


def test_ntlm_after_credssp_on_the_stand_in_still_works(stub, connect):
    assert document(run(connect("credssp"))[0])["ok"] is True
    assert document(run(connect("ntlm"))[0])["ok"] is True
    assert document(run(connect("ssl", https=True))[0])["ok"] is True
    assert [s.auth for s in stub.seen] == ["credssp"] * 5 + ["ntlm"] * 5 + ["basic"] * 5


def test_https_without_the_ca_file_fails_validation(stub):
    p = winrm.Protocol(
        endpoint=stub.https_endpoint,
        transport="ssl",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_trust_path=None,
        operation_timeout_sec=1,
        read_timeout_sec=2,
        proxy=None,
    )
    with pytest.raises(requests.exceptions.SSLError):
        p.open_shell()
    p.transport.close_session()


@pytest.mark.parametrize("transport", ["basic", "ntlm"])
def test_wrong_password_is_invalid_credentials(stub, connect, transport):
    with pytest.raises(InvalidCredentialsError):
        connect(transport, password="Wrong-1").open_shell()
    assert stub.actions == []


def test_handler_receives_the_decoded_arguments(stub, connect):
    stub.handlers["find"] = lambda args: {"echo": args, "n": len(args["term"])}
    term = 'O\'Brien "$(rm -rf)"; `n\n' + "x" * 100
    stdout, _, _ = run(connect(), "find", {"term": term})
    assert document(stdout)["data"] == {"echo": {"term": term}, "n": len(term)}
    assert stub.scripts[-1] == Run("find", {"term": term}, stub.scripts[-1].text)


def test_output_split_over_two_receives_is_joined(stub, connect):
    stub.output_parts = 2
    stdout, _, code = run(connect("ntlm"))
    assert code == 0 and document(stdout)["ok"] is True
    assert stub.actions == ["Create", "Command", "Receive", "Receive", "Signal", "Delete"]


def test_powershell_error_gives_exit_1_json_and_clixml(stub, connect):
    def deny(args):
        raise PowerShellError(
            "System.UnauthorizedAccessException", "Access is denied.", "PermissionDenied", "X,Y"
        )

    stub.handlers["remove"] = deny
    stdout, stderr, code = run(connect(), "remove")
    assert code == 1
    assert document(stdout) == {
        "ok": False,
        "error": {
            "type": "System.UnauthorizedAccessException",
            "message": "Access is denied.",
            "category": "PermissionDenied",
            "fqid": "X,Y",
        },
    }
    assert stderr.startswith(b"#< CLIXML\r\n<Objs ")
    assert b'<S S="Error">Access is denied._x000D__x000A_</S>' in stderr
    # pywinrm's own CLIXML cleaner reads it as a real powershell.exe error record
    cleaned = winrm.Session("h", auth=("u", "p"))._clean_error_msg(stderr).decode()
    assert cleaned.startswith("Access is denied.\n")
    assert "FullyQualifiedErrorId : X,Y" in cleaned


def test_unknown_script_is_command_not_found(stub, connect):
    stdout, _, code = run(connect(), "nope")
    error = document(stdout)["error"]
    assert code == 1
    assert error["type"] == "System.Management.Automation.CommandNotFoundException"
    assert error["fqid"] == "CommandNotFoundException"


def test_script_breaking_the_contract_is_recorded(stub, connect):
    p = connect()
    shell = p.open_shell()
    bare = base64.b64encode("Get-Date".encode("utf-16-le")).decode()
    command = p.run_command(shell, "powershell", ["-encodedcommand", bare])
    _, _, code = p.get_command_output(shell, command)
    assert code == 1 and stub.scripts[-1] == Run(None, None, "Get-Date")
    assert stub.errors == ["script does not start with '# mimbot-script: <name>'"]


def test_command_line_over_cmd_limit_fails_like_cmd_exe(stub, connect):
    stdout, stderr, code = run(connect(), "ping", {"term": "x" * 3000})
    assert (stdout, stderr, code) == (b"", b"The command line is too long.\r\n", 1)
    assert stub.scripts == []


def test_skipping_cmd_exe_lifts_the_limit_to_createprocess(stub, connect):
    p = connect()
    shell = p.open_shell()
    for size, fits in ((3000, True), (13000, False)):
        line = ["-encodedcommand", script("ping", {"term": "x" * size})]
        if fits:
            command = p.run_command(shell, "powershell", line, skip_cmd_shell=True)
            assert p.get_command_output(shell, command)[2] == 0
            p.cleanup_command(shell, command)
        else:
            with pytest.raises(WSManFaultError) as caught:
                p.run_command(shell, "powershell", line, skip_cmd_shell=True)
            assert caught.value.wsman_fault_code == 206
    p.close_shell(shell)


def test_http500_is_a_wsman_fault_and_shell_stays_usable(stub, connect):
    stub.fail("ping", "http500")
    p = connect("ntlm")
    shell = p.open_shell()
    command = p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])
    with pytest.raises(WSManFaultError) as caught:
        p.get_command_output(shell, command)
    assert (caught.value.code, caught.value.wsman_fault_code) == (500, HTTP500_CODE)
    p.cleanup_command(shell, command)
    p.close_shell(shell)
    assert stub.actions == LIFECYCLE


def test_empty500_is_a_transport_error(stub, connect):
    stub.fail(None, "empty500", at="Create")
    with pytest.raises(WinRMTransportError) as caught:
        connect().open_shell()
    assert caught.value.code == 500


@pytest.mark.parametrize("transport", ["basic", "ntlm"])
def test_auth_fault_rejects_good_credentials(stub, connect, transport):
    stub.fail("ping", "auth", at="Command")
    p = connect(transport)
    shell = p.open_shell()
    with pytest.raises(InvalidCredentialsError):
        p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])
    assert stub.actions == ["Create", "Command"]


def test_two_documents_and_not_json_break_the_single_document(stub, connect):
    stub.fail("ping", "two_documents")
    stub.fail("ping", "not_json")
    assert len(run(connect(), "ping")[0].splitlines()) == 2
    assert run(connect(), "ping")[0] == b"@{ok=True; data=}\r\n"
    assert document(run(connect(), "ping")[0])["ok"] is True  # faults are used up


def test_hung_command_times_out_without_blocking_others(stub, connect):
    stub.hang_wait = 0.3
    stub.fail("ping", "hang")
    p = connect()
    shell = p.open_shell()
    command = p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])
    outcome: list[BaseException] = []

    def receive() -> None:
        try:
            p.get_command_output_raw(shell, command)
        except WinRMOperationTimeoutError as exc:
            outcome.append(exc)

    waiting = threading.Thread(target=receive)
    waiting.start()
    assert document(run(connect("ntlm"), "ping")[0])["ok"] is True
    assert waiting.is_alive()  # the other connection answered while this Receive hangs
    waiting.join(5)
    assert len(outcome) == 1
    stub.release()
    stdout, _, code = p.get_command_output(shell, command)
    assert code == 0 and document(stdout)["ok"] is True
    p.cleanup_command(shell, command)
    p.close_shell(shell)


def test_signal_ends_a_hung_command(stub, connect):
    stub.hang_wait = 0.05
    stub.fail(None, "hang")
    p = connect()
    shell = p.open_shell()
    command = p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, command)
    p.cleanup_command(shell, command)
    assert stub.shells == {shell: {command: "Terminated"}}
    p.close_shell(shell)


def test_slow_reply_is_a_client_read_timeout(stub, connect):
    stub.fail("ping", "slow", at="Command", seconds=0.6)
    p = connect()
    p.transport.read_timeout_sec = 0.2  # Protocol() floors it at 2 s; keep the test fast
    shell = p.open_shell()
    with pytest.raises(requests.exceptions.ReadTimeout):
        p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])


def test_drop_closes_the_connection(stub, connect):
    stub.fail(None, "drop", at="Receive")
    p = connect()
    shell = p.open_shell()
    command = p.run_command(shell, "powershell", ["-encodedcommand", script("ping", {})])
    with pytest.raises(requests.exceptions.ConnectionError):
        p.get_command_output(shell, command)
    p.cleanup_command(shell, command)  # a new connection works
    p.close_shell(shell)
    assert stub.actions == LIFECYCLE


def test_unknown_fault_kind_is_refused(stub):
    with pytest.raises(ValueError, match="unknown fault kind"):
        stub.fail("ping", "explode")
