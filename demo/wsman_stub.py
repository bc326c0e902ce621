"""A loopback WS-Management (WinRM) endpoint that pywinrm's real transport talks to.

    with WsmanStub() as stub:
        p = winrm.Protocol(endpoint=stub.endpoint, transport="ntlm", username="LAB\\mimbot", ...)

HTTP (`endpoint`) and HTTPS (`https_endpoint`, self-signed cert in `ca_file`) on 127.0.0.1, both
with Basic (`BASIC_USER`), NTLM (`NTLM_USER`, pyspnego as acceptor, one context per TCP
connection) and CredSSP (`NTLM_USER` for its inner logon, pyspnego's CredSSP acceptor, one
context per TCP connection, the delegated credentials kept; `credssp=False` turns it off as
Windows has it until `Enable-WSManCredSSP -Role Server`), each with message encryption as
Windows does it (MS-WSMV 2.2.9.1), served by demo/loopback.py. Protocol notes:
../../shared/reference/winrm-wsman.md. PowerShell is never run: each command must be
`powershell -encodedcommand <b64>` whose UTF-16LE script follows the mimbot script contract:

    # mimbot-script: <name>
    $MimbotArgs = [Text.Encoding]::UTF8.GetString(
        [Convert]::FromBase64String('<b64 json>')) | ConvertFrom-Json    (on one line)

The stub calls `stub.handlers[name](args)` and prints one stdout line, the base64 of the UTF-8 JSON
`{"ok": true, "data": result}`, exit code 0. A handler raising `PowerShellError` gives
`{"ok": false, "error": {...}}`, exit code 1 and a CLIXML error record on stderr. Seen traffic:
`actions` ("Create", "Command", "Receive", "Signal", "Delete", "Send"), `scripts` (`Run`), `seen`
(`Seen`: action, auth, encrypted, tls, delegated), `errors` (stub-side trouble: contract breaks,
handler crashes, over-long command lines, undecryptable messages). Faults:
`stub.fail(name, kind, times=1)`, kinds in `KINDS`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import struct
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from xml.sax.saxutils import escape

from spnego.exceptions import SpnegoError

from demo.loopback import BASIC_USER, NTLM_USER, LoopbackHandler, LoopbackServers, LoopbackStub

__all__ = [
    "BASIC_USER",
    "HTTP500_CODE",
    "KINDS",
    "NTLM_USER",
    "PowerShellError",
    "Run",
    "Seen",
    "WsmanStub",
]

KINDS = frozenset(
    {"hang", "http500", "empty500", "auth", "two_documents", "not_json", "slow", "drop"}
)
OUTPUT_KINDS = frozenset({"hang", "two_documents", "not_json"})  # act on the command's output
CMD_LINE_LIMIT = 8191  # cmd.exe: "The command line is too long." (WINRS_SKIP_CMD_SHELL=FALSE)
PROCESS_LINE_LIMIT = 32767  # CreateProcess, when WINRS_SKIP_CMD_SHELL=TRUE
TOO_LONG = 206  # ERROR_FILENAME_EXCED_RANGE; the fault's shape here is unverified

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
}
SHELL_NS = NS["rsp"]
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    f"{SHELL_NS}/Command": "Command",
    f"{SHELL_NS}/Receive": "Receive",
    f"{SHELL_NS}/Signal": "Signal",
    f"{SHELL_NS}/Send": "Send",
}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
TIMED_OUT = 2150858793  # ERROR_WSMAN_OPERATION_TIMEDOUT: pywinrm -> WinRMOperationTimeoutError
HTTP500_CODE = 2147500037  # E_FAIL, the WSManFault Code of an injected http500
BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENC = "application/HTTP-SPNEGO-session-encrypted"  # MS-WSMV 2.2.9.1.1
CREDSSP_ENC = "application/HTTP-CredSSP-session-encrypted"  # MS-WSMV 2.2.9.1.3
ENC_PROTOCOL = {"ntlm": SPNEGO_ENC, "credssp": CREDSSP_ENC}  # by the connection's auth
# MS-WSMV 2.2.9.1.3: CredSSP encrypts at most 16 KiB (a TLS record's plaintext, RFC 5246
# 6.2.1) per part; a longer message is several parts under multipart/x-multi-encrypted.
CREDSSP_CHUNK = 16384
CREDSSP_TRAILER = 16  # the Length-Field with an AES-GCM suite: the TLS record's 16-byte tag
OCTET_STREAM = b"\tContent-Type: application/octet-stream\r\n"
HEADER_LINE = re.compile(r"\A# mimbot-script: (\S+)[ \t]*\r?$", re.M)
ARGS_LINE = re.compile(
    r"^\$MimbotArgs = \[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String"
    r"\('([A-Za-z0-9+/=]*)'\)\) \| ConvertFrom-Json[ \t]*\r?$",
    re.M,
)
ENCODED = re.compile(r"-(?:encodedcommand|enc|ec|e)\s+(\S+)", re.I)


class PowerShellError(Exception):
    """What a handler raises to make the script fail as a caught PowerShell error would."""

    def __init__(self, type: str, message: str, category: str = "", fqid: str = ""):
        super().__init__(message)
        self.type, self.message, self.category, self.fqid = type, message, category, fqid


@dataclass(frozen=True)
class Run:
    name: str | None
    args: Any
    text: str


@dataclass(frozen=True)
class Seen:
    action: str
    auth: str  # "basic" | "ntlm" | "credssp"
    encrypted: bool
    tls: bool
    # CredSSP: DOMAIN\user whose password the client delegated (TSCredentials) and that
    # would log on at a second hop; None without CredSSP or with unusable credentials.
    delegated: str | None = None


@dataclass
class _Fault:
    name: str | None
    kind: str
    at: str | None
    left: int
    seconds: float


@dataclass
class _Command:
    name: str | None
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    state: str = "Running"  # Running | Done | Terminated
    hung: bool = False
    sent_parts: int = 0
    parts: int = 1


def ping(args: Any) -> dict:
    # $PSVersionTable on Windows Server 2016/2019's Windows PowerShell: PSVersion 5.1.x,
    # PSEdition "Desktop" (about_PowerShell_Editions).
    return {"host": "MIM01", "ps_version": "5.1.17763.316", "ps_edition": "Desktop"}


class WsmanStub(LoopbackStub):
    """The stand-in. `start()`/`stop()` or use it as a context manager.

    hang_wait: seconds a Receive on a hung command waits before the TimedOut fault (None: the
    client's OperationTimeout, as Windows does). output_parts: how many Receives the output is
    split over (Running ... Done). cmd_line_limit: cmd.exe's 8191 chars (WINRS_SKIP_CMD_SHELL
    FALSE, pywinrm's default) or CreateProcess's 32767 (TRUE) apply; None lifts both.
    credssp: the service's Auth/CredSSP (off on Windows until `Enable-WSManCredSSP -Role
    Server`, about_WSMan / Enable-WSManCredSSP docs): False neither offers nor accepts it.
    """

    def __init__(
        self,
        *,
        hang_wait: float | None = None,
        output_parts: int = 1,
        cmd_line_limit: int | None = CMD_LINE_LIMIT,
        encrypt_replies: bool = True,
        credssp: bool = True,
    ):
        self.handlers: dict[str, Callable[[Any], Any]] = {"ping": ping}
        self.hang_wait, self.output_parts = hang_wait, output_parts
        self.cmd_line_limit, self.encrypt_replies = cmd_line_limit, encrypt_replies
        self.credssp = credssp
        self.actions: list[str] = []
        self.scripts: list[Run] = []
        self.seen: list[Seen] = []
        self.errors: list[str] = []
        self._shells: dict[str, dict[str, _Command]] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._servers = LoopbackServers(_handler_class(self), prefix="mimbot-wsman-")
        self.cert_file, self.key_file = self._servers.cert_file, self._servers.key_file
        self.ca_file = self._servers.ca_file
        self.endpoint = self._servers.url("/wsman")
        self.https_endpoint = self._servers.url("/wsman", tls=True)

    def stop(self) -> None:
        self._stopping.set()
        self._servers.stop(drop_connections=True)  # wakes handlers blocked on a hung client

    # ---- test helpers ----------------------------------------------------
    def fail(
        self,
        name: str | None,
        kind: str,
        times: int = 1,
        *,
        at: str | None = None,
        seconds: float = 3.0,
    ) -> None:
        """Inject `kind` for the next `times` matches.

        name: a script name, or None for any. hang, two_documents and not_json strike the output
        of the next `times` commands running that script. The HTTP kinds (http500, empty500, auth,
        slow, drop) strike requests: with a name, that script's Receive (or `at="Command"`/
        `"Signal"`); with None, the next requests of any action (or only `at`). slow sleeps
        `seconds` and then answers normally. A hung command answers Receive with the TimedOut
        fault until `release()` or a Signal.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if name is not None and kind not in OUTPUT_KINDS:
            at = at or "Receive"
            if at not in ("Command", "Receive", "Signal"):
                raise ValueError(f"a named fault cannot strike {at}: no script there")
        with self._lock:
            self._faults.append(_Fault(name, kind, at, times, seconds))

    def release(self) -> None:
        """Let every hung command finish on its next Receive."""
        with self._lock:
            for cmds in self._shells.values():
                for cmd in cmds.values():
                    cmd.hung = False

    @property
    def shells(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {
                s: {c: cmd.state for c, cmd in cmds.items()} for s, cmds in self._shells.items()
            }

    # ---- internals -------------------------------------------------------
    def _take_fault(self, action: str, name: str | None, *, output: bool) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if (f.kind in OUTPUT_KINDS) != output or f.left <= 0:
                    continue
                if f.name is not None and f.name != name:
                    continue
                if not output and f.at is not None and f.at != action:
                    continue
                f.left -= 1
                self._faults = [x for x in self._faults if x.left > 0]
                return f
        return None

    def dispatch(
        self,
        xml: bytes,
        *,
        seen: tuple[str, bool, bool, str | None] = ("basic", False, False, None),
    ) -> tuple[int, bytes | None, _Fault | None]:
        """One SOAP request -> (status, reply body, the HTTP-level fault to apply or None).

        seen: (auth, encrypted, tls, delegated) of the request, recorded in `self.seen`.
        """
        root = ET.fromstring(xml)  # noqa: S314 - pywinrm's envelopes on loopback
        head, body = root.find("s:Header", NS), root.find("s:Body", NS)
        if head is None or body is None:
            raise ValueError("not a SOAP 1.2 envelope")
        action_uri = head.findtext("a:Action", "", NS).strip()
        msg_id = head.findtext("a:MessageID", "", NS).strip()
        action = ACTIONS.get(action_uri, action_uri)
        shell_id = head.findtext("w:SelectorSet/w:Selector[@Name='ShellId']", "", NS).strip()
        cmd_el = body.find(".//*[@CommandId]")
        command_id = cmd_el.get("CommandId") if cmd_el is not None else ""
        with self._lock:
            self.actions.append(action)
            self.seen.append(Seen(action, *seen))
            shell = self._shells.get(shell_id)
            cmd = shell.get(command_id) if shell is not None else None
        name = cmd.name if cmd is not None else None
        if action == "Command":
            line = " ".join(t.strip() for t in body.itertext() if t.strip())
            name = _script_name(line)
        fault = self._take_fault(action, name, output=False)
        if fault is not None and fault.kind == "http500":
            text = f"The WS-Management service cannot process the request (stub: {action})."
            return (
                500,
                _fault_envelope(msg_id, "s:Receiver", "w:InternalError", HTTP500_CODE, text),
                None,
            )
        if fault is not None and fault.kind != "slow":
            return 0, None, fault
        if action == "Create":
            sid = str(uuid.uuid4()).upper()
            with self._lock:
                self._shells[sid] = {}
            return 200, _envelope(action_uri, msg_id, _CREATED.format(sid=sid)), fault
        if shell is None:
            return (
                500,
                _fault_envelope(
                    msg_id,
                    "s:Sender",
                    "w:InvalidSelectors",
                    2150858843,
                    f"The shell {shell_id} was not found.",
                ),
                fault,
            )
        if action == "Command":
            skip = head.findtext("w:OptionSet/w:Option[@Name='WINRS_SKIP_CMD_SHELL']", "", NS)
            via_cmd = skip.strip().upper() != "TRUE"
            limited = self.cmd_line_limit is not None
            if not via_cmd and limited and len(line) > PROCESS_LINE_LIMIT:
                self._error(f"command line of {len(line)} chars exceeds {PROCESS_LINE_LIMIT}")
                text = "The filename or extension is too long."
                reply = _fault_envelope(msg_id, "s:Receiver", "w:InternalError", TOO_LONG, text)
                return 500, reply, fault
            cid = str(uuid.uuid4()).upper()
            cmd = self._run(
                line, via_cmd=via_cmd, output_fault=self._take_fault(action, name, output=True)
            )
            with self._lock:
                shell[cid] = cmd
            return 200, _envelope(action_uri, msg_id, _COMMAND_ID.format(cid=cid)), fault
        if action == "Receive" and cmd is not None:
            status, reply = self._receive(cmd, command_id, action_uri, msg_id, head)
            return status, reply, fault
        if action == "Signal" and cmd is not None:
            with self._lock:
                cmd.state, cmd.hung = ("Done" if cmd.state == "Done" else "Terminated"), False
            return 200, _envelope(action_uri, msg_id, "<rsp:SignalResponse/>"), fault
        if action == "Send":
            return 200, _envelope(action_uri, msg_id, "<rsp:SendResponse/>"), fault
        if action == "Delete":
            with self._lock:
                self._shells.pop(shell_id, None)
            return 200, _envelope(action_uri, msg_id, ""), fault
        return (
            500,
            _fault_envelope(
                msg_id,
                "s:Sender",
                "a:ActionNotSupported",
                2150858771,
                f"{action} is not supported by the stub.",
            ),
            fault,
        )

    def _run(self, line: str, *, via_cmd: bool, output_fault: _Fault | None) -> _Command:
        cmd = _Command(name=None, parts=max(1, self.output_parts))
        if via_cmd and self.cmd_line_limit is not None and len(line) > self.cmd_line_limit:
            self._error(f"command line of {len(line)} chars exceeds {self.cmd_line_limit}")
            cmd.stderr, cmd.exit_code = b"The command line is too long.\r\n", 1
            return cmd
        text = _script_text(line) or line
        cmd.name, args, problem = _parse_script(text)
        with self._lock:
            self.scripts.append(Run(cmd.name, args, text))
        try:
            if problem is not None:
                self._error(problem)
                raise PowerShellError(
                    "System.Management.Automation.ParseException",
                    problem,
                    "ParserError",
                    "MimbotStubContract",
                )
            handler = self.handlers.get(cmd.name)
            if handler is None:
                raise _not_found(cmd.name)
            out = {"ok": True, "data": handler(args)}
        except PowerShellError as exc:
            out = {
                "ok": False,
                "error": {
                    "type": exc.type,
                    "message": exc.message,
                    "category": exc.category,
                    "fqid": exc.fqid,
                },
            }
            cmd.stderr, cmd.exit_code = _clixml_error(exc), 1
        except Exception as exc:  # noqa: BLE001 -- a broken handler: show it to the test
            self._error(f"handler {cmd.name!r} raised {exc!r}")
            out = {
                "ok": False,
                "error": {
                    "type": f"python.{type(exc).__name__}",
                    "message": str(exc),
                    "category": "",
                    "fqid": "",
                },
            }
            cmd.exit_code = 1
        line_out = base64.b64encode(json.dumps(out, ensure_ascii=False).encode()) + b"\r\n"
        kind = output_fault.kind if output_fault else None
        cmd.stdout = {"two_documents": line_out * 2, "not_json": b"@{ok=True; data=}\r\n"}.get(
            kind, line_out
        )
        cmd.hung = kind == "hang"
        return cmd

    def _receive(self, cmd: _Command, cid: str, uri: str, msg_id: str, head: ET.Element):
        if cmd.hung:
            wait = self.hang_wait
            if wait is None:
                wait = float(
                    re.sub(r"[^0-9.]", "", head.findtext("w:OperationTimeout", "", NS)) or 20
                )
            deadline = time.monotonic() + wait
            while cmd.hung and time.monotonic() < deadline and not self._stopping.wait(0.02):
                pass
            if cmd.hung:
                return 500, _fault_envelope(
                    msg_id,
                    "s:Receiver",
                    "w:TimedOut",
                    TIMED_OUT,
                    "The WS-Management service cannot complete the operation within the time "
                    "specified in OperationTimeout.",
                )
        with self._lock:
            k, n = cmd.sent_parts, cmd.parts
            cmd.sent_parts += 1
            size = -(-len(cmd.stdout) // n) if cmd.stdout else 0
            chunk = cmd.stdout[k * size : (k + 1) * size] if k < n else b""
            last = k >= n - 1 or cmd.state == "Terminated"
            if last and cmd.state == "Running":
                cmd.state = "Done"
        streams = _stream("stdout", cid, chunk)
        if last:
            streams += _stream("stderr", cid, cmd.stderr)
            streams += (
                f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"/>'
                f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"/>'
            )
            state = (
                f'<rsp:CommandState CommandId="{cid}" State="{SHELL_NS}/CommandState/Done">'
                f"<rsp:ExitCode>{cmd.exit_code}</rsp:ExitCode></rsp:CommandState>"
            )
        else:
            state = f'<rsp:CommandState CommandId="{cid}" State="{SHELL_NS}/CommandState/Running"/>'
        body = f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>"
        return 200, _envelope(uri, msg_id, body)

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


# ---- HTTP ------------------------------------------------------------------
def _handler_class(stub: WsmanStub) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        realm = "WSMAN"
        ntlm_offer = "Negotiate"
        content_type = "application/soap+xml;charset=UTF-8"

        @property
        def offers_credssp(self) -> bool:
            return stub.credssp

        def do_POST(self) -> None:
            self.answer(self._post)

        def _post(self, raw: bytes, who: str) -> None:
            content_type = self.headers.get("Content-Type", "")
            encrypted = content_type.startswith("multipart/")
            context = {"ntlm": self.ntlm.context, "credssp": self.credssp.context}.get(who)
            xml = raw
            if encrypted:
                try:
                    xml = _decrypt(who, context, content_type, raw)
                except (ValueError, IndexError, struct.error, SpnegoError) as exc:
                    stub._error(f"cannot decrypt a request: {exc!r}")
                    return self.reply(400, b"")
            if not xml:  # pywinrm's encryption set-up POST
                return self.reply(200, b"")
            delegated = self.credssp.delegated if who == "credssp" else None
            try:
                status, body, fault = stub.dispatch(xml, seen=(who, encrypted, self.tls, delegated))
            except (ET.ParseError, ValueError) as exc:
                stub._error(f"bad request: {exc!r}")
                return self.reply(400, b"")
            kind = fault.kind if fault else None
            if kind == "slow":
                stub._sleep(fault.seconds)
            elif kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.request.shutdown(socket.SHUT_RDWR)
                return None
            elif kind == "auth":
                return self.forget_credentials()
            elif kind == "empty500":
                return self.reply(500, b"")
            if encrypted and stub.encrypt_replies and body:
                sealed, sealed_type = _encrypt(who, context, body)
                return self.reply(status, sealed, content_type=sealed_type)
            return self.reply(status, body or b"")

    return Handler


# ---- message encryption (MS-WSMV 2.2.9.1) -----------------------------------
# The framing mirrors pywinrm's winrm/encryption.py (prepare_encrypted_request, _encrypt_message,
# _decrypt_response): per part, the protocol's header part with OriginalContent's length, then
# application/octet-stream holding a 32-bit little-endian Length-Field and the sealed bytes.
#   NTLM (_build_ntlm_message): the Length-Field is the 16-byte NTLM signature's length, the
#     signature, then the sealed data (MS-WSMV 2.2.9.1.1.2.2).
#   CredSSP (_build_credssp_message, _get_credssp_trailer_length): the Length-Field is the TLS
#     trailer's length (16 with AES-GCM), then the TLS records of the CredSSP context's own TLS
#     channel; over 16 KiB, one such part per 16 KiB chunk under multipart/x-multi-encrypted
#     (prepare_encrypted_request's SIXTEN_KB; MS-WSMV 2.2.9.1.3).
def _decrypt(who: str, ctx: Any, content_type: str, raw: bytes) -> bytes:
    """An encrypted request on a connection authenticated by `who` -> the plain SOAP envelope.
    Strict where Windows' documents say MUST: the protocol matches the connection's security
    context, multipart/x-multi-encrypted only for CredSSP, lengths as declared."""
    protocol = ENC_PROTOCOL.get(who)
    if ctx is None or protocol is None:
        raise ValueError(f"encrypted message on a {who} connection, which has no security context")
    declared = re.search(r'protocol="([^"]*)"', content_type)
    if declared is None or declared.group(1) != protocol:
        raise ValueError(f"encrypted with {declared and declared.group(1)!r}, connection is {who}")
    multi = content_type.startswith("multipart/x-multi-encrypted")
    if not (multi and who == "credssp") and not content_type.startswith("multipart/encrypted;"):
        raise ValueError(f"content type {content_type.split(';')[0]!r} with {who}")
    end = BOUNDARY + b"--\r\n"
    if not raw.endswith(end):
        raise ValueError("encrypted message without its closing boundary")
    pieces = raw[: -len(end)].split(BOUNDARY + b"\r\n")
    if pieces[0] != b"" or len(pieces) % 2 != 1 or len(pieces) < 3:
        raise ValueError("encrypted message is not header and data parts in pairs")
    pairs = list(zip(pieces[1::2], pieces[2::2], strict=True))
    if len(pairs) > 1 and not multi:
        raise ValueError("multipart/encrypted holds one encrypted part (RFC 1847)")
    plain = b""
    for head, data in pairs:
        length = re.fullmatch(
            rb"\tContent-Type: ([^\r]*)\r\n"
            rb"\tOriginalContent: type=application/soap\+xml;charset=UTF-8;Length=(\d+)\r\n",
            head,
        )
        if length is None or length.group(1) != protocol.encode():
            raise ValueError("encrypted part's header is not the protocol's")
        if not data.startswith(OCTET_STREAM):
            raise ValueError("encrypted part's data is not application/octet-stream")
        stream = data[len(OCTET_STREAM) :]
        header_len = struct.unpack("<I", stream[:4])[0]
        if who == "ntlm":
            chunk = ctx.unwrap(stream[4 : 4 + header_len] + stream[4 + header_len :]).data
        else:
            if header_len != CREDSSP_TRAILER:
                raise ValueError(f"CredSSP Length-Field {header_len}, the trailer is 16")
            chunk = ctx.unwrap(stream[4:]).data
            if len(chunk) > CREDSSP_CHUNK:
                raise ValueError(f"CredSSP part of {len(chunk)} bytes exceeds 16 KiB")
        if int(length.group(2)) != len(chunk):
            raise ValueError("encrypted length does not match OriginalContent")
        plain += chunk
    return plain


def _encrypt(who: str, ctx: Any, body: bytes) -> tuple[bytes, str]:
    """A reply sealed with the connection's context -> (body, Content-Type), framed as pywinrm
    reads it (parse_encrypted_response, _decrypt_response)."""
    protocol = ENC_PROTOCOL[who]
    chunks = [body]
    if who == "credssp":
        chunks = [body[i : i + CREDSSP_CHUNK] for i in range(0, len(body), CREDSSP_CHUNK)]
    out = b""
    for chunk in chunks:
        if who == "ntlm":
            wrapped = ctx.wrap(chunk).data  # NTLM: 16-byte signature, then the sealed bytes
            stream = struct.pack("<I", 16) + wrapped
        else:
            # pyspnego's wrap_winrm splits the TLS records at the trailer's length, as
            # SecPkgContext_StreamSizes would on Windows (spnego/_credssp.py).
            sealed = ctx.wrap_winrm(chunk)
            stream = struct.pack("<I", len(sealed.header)) + sealed.header + sealed.data
        out += (
            BOUNDARY + b"\r\n\tContent-Type: " + protocol.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(chunk)).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n"
            + OCTET_STREAM
            + stream
        )
    subtype = "x-multi-encrypted" if len(chunks) > 1 else "encrypted"
    content_type = f'multipart/{subtype};protocol="{protocol}";boundary="Encrypted Boundary"'
    return out + BOUNDARY + b"--\r\n", content_type


# ---- scripts and replies -----------------------------------------------------
def _script_text(line: str) -> str | None:
    match = ENCODED.search(line)
    try:
        return base64.b64decode(match.group(1)).decode("utf-16-le") if match else None
    except (ValueError, UnicodeDecodeError):
        return None


def _script_name(line: str) -> str | None:
    text = _script_text(line)
    match = HEADER_LINE.match(text) if text else None
    return match.group(1) if match else None


def _parse_script(text: str) -> tuple[str | None, Any, str | None]:
    """-> (name, args, what breaks the contract or None)."""
    header = HEADER_LINE.match(text)
    name = header.group(1) if header else None
    found = ARGS_LINE.findall(text)
    if name is None:
        return None, None, "script does not start with '# mimbot-script: <name>'"
    if len(found) != 1:
        return name, None, f"script {name} has {len(found)} $MimbotArgs lines, expected 1"
    try:
        return name, json.loads(base64.b64decode(found[0]).decode("utf-8")), None
    except ValueError as exc:
        return name, None, f"script {name}: $MimbotArgs is not base64 UTF-8 JSON ({exc})"


def _not_found(name: str) -> PowerShellError:
    return PowerShellError(
        "System.Management.Automation.CommandNotFoundException",
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, "
        "or operable program. Check the spelling of the name, or if a path was included, "
        "verify that the path is correct and try again.",
        "ObjectNotFound",
        "CommandNotFoundException",
    )


_PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject'
    '</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing'
    " modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T>"
    "<SR>-1</SR><SD> </SD></PR></MS></Obj>"
)


def _clixml_error(exc: PowerShellError) -> bytes:
    """stderr as powershell.exe writes an error record under WinRM (winrm-wsman.md §7)."""
    lines = [
        *exc.message.splitlines(),
        f"    + CategoryInfo          : {exc.category}: (:) [], {exc.type.rsplit('.', 1)[-1]}",
        f"    + FullyQualifiedErrorId : {exc.fqid}",
        " ",
    ]
    records = "".join(f'<S S="Error">{escape(line)}_x000D__x000A_</S>' for line in lines)
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/'
        f'2004/04">{_PROGRESS}{records}</Objs>'
    ).encode()


_HEAD = (
    '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:rsp="{rsp}" xmlns:x="{x}">'
    "<s:Header><a:Action>{{action}}</a:Action><a:MessageID>uuid:{{mid}}</a:MessageID>"
    "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
    "<a:RelatesTo>{{rel}}</a:RelatesTo></s:Header><s:Body>{{body}}</s:Body></s:Envelope>"
).format(**NS)
_CREATED = (
    "<x:ResourceCreated><a:Address>http://127.0.0.1/wsman</a:Address><a:ReferenceParameters>"
    f"<w:ResourceURI>{SHELL_NS.rsplit('/', 1)[0]}/shell/cmd</w:ResourceURI><w:SelectorSet>"
    '<w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
    "</x:ResourceCreated>"
)
_COMMAND_ID = "<rsp:CommandResponse><rsp:CommandId>{cid}</rsp:CommandId></rsp:CommandResponse>"


def _envelope(request_action: str, rel: str, body: str) -> bytes:
    return _HEAD.format(
        action=request_action + "Response", mid=uuid.uuid4(), rel=rel, body=body
    ).encode()


def _fault_envelope(rel: str, code: str, subcode: str, wsman_code: int, text: str) -> bytes:
    body = (
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(text)}</s:Text>'
        '</s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/'
        f'1/wsmanfault" Code="{wsman_code}" Machine="MIM01"><f:Message>{escape(text)}'
        "</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return _HEAD.format(action=FAULT_ACTION, mid=uuid.uuid4(), rel=rel, body=body).encode()


def _stream(name: str, cid: str, data: bytes) -> str:
    if not data:
        return ""
    text = base64.b64encode(data).decode()
    return f'<rsp:Stream Name="{name}" CommandId="{cid}">{text}</rsp:Stream>'
