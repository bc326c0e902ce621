"""PowerShell on a Windows server over WinRM (pywinrm): the runner the MIM connectors share.

A script is a `.ps1` file in `connectors/<system>/scripts/`, named for its operation. `run(name,
args)` sends `powershell -EncodedCommand <base64 of UTF-16LE>` whose text is

    # mimbot-script: <name>
    $ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'
    $MimbotArgs = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('<b64>')) ...
    <the .ps1 body, wrapped so that it prints one line: base64 of the JSON envelope>

The arguments appear only in that single-quoted base64 literal: data, never code, since the
base64 alphabet cannot end the literal. So the text for a name is byte-identical whatever
the arguments but for that literal (tests/connectors/shared/test_powershell.py proves it
with hostile values).
The envelope is `{"ok": true, "data": ...}` or `{"ok": false, "error": {type, message,
category, fqid}}` with exit code 1; base64 so the shell's codepage cannot mangle it.

The runner drives `winrm.Protocol` itself rather than `Session.run_ps`, which has no
deadline, leaves the remote shell open when a step fails and opens a new TCP connection
(and NTLM handshake) per call. Here a pooled *lane* keeps one Protocol (its requests
session: one connection, one handshake) and one open shell across calls; each call is
Command, Receive until Done or the deadline, Signal. A lane that failed is closed (Signal
and Delete still sent, best effort) and dropped.

Measured against the loopback stand-in (median of 200, /tmp/measure_shells.py in issue 9's
report): a call on a re-used shell is three round trips, 4.3-5.6 ms; a new shell on the same
connection adds Create and Delete, +0.6-2.4 ms; a new Protocol adds the TLS and/or NTLM
handshake, 11-21 ms a call. On Windows a new shell also starts a host process (not measured).

One command line holds 32,767 characters (CreateProcess; the command skips cmd.exe, whose
limit is 8,191) and UTF-16LE plus base64 makes each script character 2.7 of them: a call
whose arguments do not fit is refused before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import logging
import queue
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pydantic.dataclasses
import requests
import winrm
from pydantic import Field
from requests_credssp.exceptions import AuthenticationException, NTStatusException
from winrm import exceptions as wx

from connectors.base import Health
from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable
from connectors.spec import SETTINGS

__all__ = [
    "SCRIPTS",
    "PowerShellRunner",
    "RunnerStats",
    "ScriptError",
    "WinRmSettings",
    "command_line",
    "parse_output",
    "redact",
    "script_text",
    "winrm_errors",
]

log = logging.getLogger(__name__)

# Each system's scripts live in its package (connectors/<system>/scripts/); the runner's
# own (ping) and the MIM servers' shared ones (telemetry) here. Names are unique.
SCRIPTS = tuple(sorted(Path(__file__).parents[1].glob("*/scripts")))
TRANSPORTS = frozenset({"kerberos", "ntlm", "credssp", "basic"})
_NAME = re.compile(r"[a-z0-9_]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# CreateProcess's limit. The command runs without cmd.exe (WINRS_SKIP_CMD_SHELL), whose
# limit would be 8,191; UTF-16LE plus base64 makes each script character 2.7 of these.
MAX_COMMAND_LINE = 32_767
MAX_OUTPUT = 16 * 1024 * 1024
MAX_MESSAGE = 300  # characters of a cmdlet's error message kept in ConnectorError
SHELL_NOT_FOUND = 2150858843  # 0x8033805B: the shell is gone (restart, idle timeout)

PRELUDE = (
    "# mimbot-script: {name}\n"
    "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'\n"
    "$MimbotArgs = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{args}'))"
    " | ConvertFrom-Json\n"
)
# The body runs in a script block: whatever it outputs becomes `data`, and nothing else
# reaches stdout but the one envelope line (scripts must not use Write-Host).
WRAP_OPEN = (
    "function Write-MimbotEnvelope($Envelope) {\n"
    "    $json = ConvertTo-Json -InputObject $Envelope -Compress -Depth 8\n"
    "    $bytes = [Text.Encoding]::UTF8.GetBytes($json)\n"
    "    [Console]::Out.WriteLine([Convert]::ToBase64String($bytes))\n"
    "}\n"
    "try {\n"
    "    $MimbotData = & {\n"
)
WRAP_CLOSE = (
    "\n    }\n"
    "    Write-MimbotEnvelope @{ ok = $true; data = $MimbotData }\n"
    "} catch {\n"
    "    Write-MimbotEnvelope @{ ok = $false; error = @{\n"
    "        type = $_.Exception.GetType().FullName; message = $_.Exception.Message\n"
    '        category = "$($_.CategoryInfo.Category)"; fqid = $_.FullyQualifiedErrorId } }\n'
    "    exit 1\n"
    "}\n"
)

Transport = Literal["kerberos", "ntlm", "credssp", "basic"]


@pydantic.dataclasses.dataclass(frozen=True, config=SETTINGS)
class WinRmSettings:
    """Where and how to reach WinRM on one server.

    `endpoint` is the full URL with its port (`https://mim01.corp:5986/wsman`): pywinrm
    derives a missing port from the transport, not the scheme. `basic` is allowed only
    over https (Windows refuses it over http, and it would send the password in clear);
    ntlm, kerberos and credssp encrypt each message over http. Certificates are always
    validated: against `ca_file` when given, else against the default trust store.
    `operation_timeout` is the server-side wait per WS-Management operation and
    `read_timeout` the client's per HTTP request (pywinrm wants whole seconds, read >
    operation >= 1); each `run` also has its own deadline. A pooled lane (connection and
    shell) is dropped after `idle_timeout` seconds unused, before the server's HTTP
    keep-alive (120 s) or shell idle timeout can end it.

    A command that itself reaches a third machine (a MIM Service on another host, the PAM
    cmdlets writing to the PRIV forest) is a second hop: Windows lets the WinRM session's
    credentials travel on only with `credssp`, or `kerberos` with `kerberos_delegation`
    (pywinrm's `kerberos_delegation`, off by default; the server's account must be
    trusted for delegation in AD). `delegates` says whether one of them is set; the
    connectors that need a second hop refuse to start without it.

    Raises `ValueError` for a setting that cannot work.
    """

    endpoint: str  # https://mim01.corp.example:5986/wsman (the port is required)
    username: str = ""  # CORP\\svc-mimbot; kerberos may use the process's ticket
    password: str = field(default="", repr=False)
    # Kerberos by default: no password to keep, and Windows' own default for WinRM.
    transport: Transport = "kerberos"
    # Forwards the Kerberos ticket (a second hop); the server must be trusted for delegation.
    kerberos_delegation: bool = False
    ca_file: Path | None = None  # None: the system trust store
    operation_timeout: int = Field(default=20, ge=1, le=600, alias="operation_timeout_seconds")
    read_timeout: int = Field(default=30, ge=2, le=900, alias="read_timeout_seconds")
    pool_size: int = 2
    idle_timeout: float = 50.0
    cleanup_timeout: float = 2.0  # per Signal/Delete request after a failure
    name: str = "winrm"

    def __post_init__(self) -> None:
        url = urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("the WinRM endpoint must be an http:// or https:// URL")
        try:
            port = url.port
        except ValueError:
            raise ValueError("the WinRM endpoint has an invalid port") from None
        if port is None:
            raise ValueError("the WinRM endpoint must give its port (5985 http, 5986 https)")
        if not url.path or url.path == "/":
            raise ValueError("the WinRM endpoint must give its path (/wsman)")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"WinRM transport must be one of {', '.join(sorted(TRANSPORTS))}")
        if self.transport == "basic" and url.scheme != "https":
            raise ValueError("basic authentication is allowed only over https")
        if self.transport != "kerberos" and not (self.username and self.password):
            raise ValueError(f"the {self.transport} transport needs a username and a password")
        if not 1 <= self.operation_timeout < self.read_timeout:
            raise ValueError("WinRM timeouts need read_timeout > operation_timeout >= 1")
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if self.kerberos_delegation and self.transport != "kerberos":
            raise ValueError(
                "kerberos_delegation applies to the kerberos transport only"
                f" (the {self.transport} transport is set)"
            )

    @property
    def delegates(self) -> bool:
        """Whether the session's credentials may travel on to a third machine."""
        return self.transport == "credssp" or self.kerberos_delegation

    @property
    def is_https(self) -> bool:
        return self.endpoint.lower().startswith("https:")


class ScriptError(ConnectorError):
    """The script ran and reported a PowerShell error. The attributes hold the cmdlet's
    exception type, error category, FullyQualifiedErrorId and message, each with every
    argument value redacted; `str(exc)` is safe to log."""

    def __init__(self, script: str, *, type: str, category: str, fqid: str, message: str):
        self.script, self.type, self.category, self.fqid = script, type, category, fqid
        self.message = message
        super().__init__(f"{script}: {type} ({category}; {fqid}): {message}")


# -- the script contract: pure functions --------------------------------------


@functools.cache
def _body(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("a script name is lower-case letters, digits and underscores")
    found = [folder / f"{name}.ps1" for folder in SCRIPTS if (folder / f"{name}.ps1").is_file()]
    if not found:
        raise ValueError(f"no script {name}.ps1 in connectors/*/scripts") from None
    text = found[0].read_text(encoding="utf-8-sig")
    return text.replace("\r\n", "\n").rstrip("\n")


def encode_args(args: Mapping[str, Any]) -> str:
    """The base64 literal: UTF-8 JSON of `args`, ASCII-escaped (a lone surrogate survives)."""
    if not isinstance(args, Mapping) or not all(isinstance(k, str) for k in args):
        raise TypeError("script arguments are a mapping with string keys")
    document = json.dumps(dict(args), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return base64.b64encode(document.encode("utf-8")).decode("ascii")


def script_text(name: str, args: Mapping[str, Any]) -> str:
    """The PowerShell text `run` sends for script `name` with `args` (see the module doc).

    Raises `ValueError` for a name that is not `[a-z0-9_]+` or has no file, `TypeError`
    for arguments that are not a JSON-able mapping.
    """
    body = _body(name)
    return PRELUDE.format(name=name, args=encode_args(args)) + WRAP_OPEN + body + WRAP_CLOSE


def command_line(text: str) -> str:
    """The command that runs PowerShell `text`: -EncodedCommand, base64 of UTF-16LE."""
    encoded = base64.b64encode(text.encode("utf-16-le")).decode("ascii")
    return f"powershell -NoProfile -NonInteractive -encodedcommand {encoded}"


def argument_values(args: Any) -> list[str]:
    """Every string (and number) in `args`, nested ones too: what a message must not echo."""
    found: list[str] = []
    if isinstance(args, Mapping):
        for value in args.values():
            found += argument_values(value)
    elif isinstance(args, list | tuple | set | frozenset):
        for value in args:
            found += argument_values(value)
    elif isinstance(args, str):
        found.append(args)
    elif isinstance(args, int | float) and not isinstance(args, bool):
        found.append(str(args))
    return [v for v in found if v]


_FRAGMENT = 8  # an echoed piece of a long value this long or longer is redacted too


def redact(text: str, values: list[str], *, limit: int = MAX_MESSAGE) -> str:
    """`text` with each argument value replaced by "…" wherever it occurs (ignoring case),
    and any piece of 8 or more characters of a longer value too (a message may quote a
    value cut short, or only its tail), then cut to `limit` characters."""
    text = str(text)[: 8 * limit]
    folded = text.lower()
    if len(folded) != len(text):  # lower() changed a length (İ): compare as typed
        folded = text
    hidden = [False] * len(text)
    pieces: set[str] = set()
    for value in values:
        v = value.lower() if folded is not text else value
        if len(v) > _FRAGMENT:
            pieces.update(v[i : i + _FRAGMENT] for i in range(len(v) - _FRAGMENT + 1))
        start = folded.find(v)
        while start >= 0:
            hidden[start : start + len(v)] = [True] * len(v)
            start = folded.find(v, start + 1)
    if pieces:
        for i in range(len(folded) - _FRAGMENT + 1):
            if folded[i : i + _FRAGMENT] in pieces:
                hidden[i : i + _FRAGMENT] = [True] * _FRAGMENT
    out: list[str] = []
    for i, ch in enumerate(text):
        if not hidden[i]:
            out.append(ch)
        elif i == 0 or not hidden[i - 1]:
            out.append("…")
    result = "".join(out).strip()
    return result if len(result) <= limit else result[: limit - 1] + "…"


def parse_output(name: str, stdout: bytes, exit_code: int, values: list[str]) -> Any:
    """The `data` of a script's envelope; `ScriptError` for `{"ok": false}`, and
    `ConnectorError("unexpected output ...")`, which never quotes the output, when stdout
    is not exactly one envelope line or disagrees with the exit code."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ConnectorError(
            f"{name}: unexpected output: {len(lines)} lines on stdout, exit code {exit_code}"
        )
    try:
        if not _BASE64.fullmatch(lines[0].decode("ascii")):
            raise ValueError("not base64")
        envelope = json.loads(base64.b64decode(lines[0], validate=True).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ConnectorError(f"{name}: unexpected output: not one base64 JSON document") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("ok"), bool):
        raise ConnectorError(f"{name}: unexpected output: not a result envelope")
    if envelope["ok"]:
        if exit_code != 0 or "data" not in envelope:
            raise ConnectorError(f"{name}: unexpected output: ok with exit code {exit_code}")
        return envelope["data"]
    error = envelope.get("error")
    if not isinstance(error, dict):
        raise ConnectorError(f"{name}: unexpected output: an error without its record")

    def part(key: str, limit: int = 120) -> str:
        value = error.get(key)
        return redact(value if isinstance(value, str) else "", values, limit=limit) or "?"

    raise ScriptError(
        name,
        type=part("type"),
        category=part("category"),
        fqid=part("fqid"),
        message=part("message", MAX_MESSAGE),
    )


# -- error mapping ------------------------------------------------------------


class _Deadline(Exception):
    """The per-call deadline passed while the command was still running."""


@contextlib.contextmanager
def winrm_errors() -> Iterator[None]:
    """Map pywinrm and requests exceptions to connector errors (as `ldap_errors()` does).

    Messages carry the error class and the WS-Management fault code, never a fault's
    reason text or a URL's query: neither is known to be free of the person's data.
    """
    try:
        yield
    except _Deadline as exc:
        raise TimedOut("the PowerShell command did not finish within its deadline") from exc
    except wx.InvalidCredentialsError as exc:
        raise Denied("WinRM refused the credentials (HTTP 401)") from exc
    except wx.WinRMOperationTimeoutError as exc:
        raise TimedOut("WinRM operation timed out (WSMan fault 2150858793)") from exc
    except wx.WSManFaultError as exc:
        code = exc.wsman_fault_code if exc.wsman_fault_code is not None else "?"
        sub = f", {exc.fault_subcode}" if exc.fault_subcode else ""
        raise ConnectorError(f"WS-Management fault {code} (HTTP {exc.code}{sub})") from exc
    except wx.WinRMTransportError as exc:
        raise ConnectorError(f"WinRM answered HTTP {exc.code} without a fault") from exc
    except NTStatusException as exc:  # requests-credssp: the logon inside CredSSP failed
        raise Denied("WinRM refused the credentials (CredSSP)") from exc
    except AuthenticationException as exc:  # requests-credssp: no CredSSP handshake
        raise Denied(
            "WinRM refused CredSSP (wrong credentials, or Enable-WSManCredSSP -Role Server"
            " not run on the server)"
        ) from exc
    except wx.WinRMError as exc:
        raise ConnectorError(f"WinRM error ({exc.__class__.__name__})") from exc
    except requests.exceptions.ReadTimeout as exc:
        raise TimedOut("WinRM did not answer in time") from exc
    except requests.exceptions.SSLError as exc:
        raise Unreachable("TLS handshake with WinRM failed (certificate or protocol)") from exc
    except requests.exceptions.ConnectTimeout as exc:
        raise Unreachable("cannot connect to WinRM (connect timed out)") from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise Unreachable(f"cannot talk to WinRM ({exc.__class__.__name__})") from exc
    except requests.exceptions.RequestException as exc:
        raise ConnectorError(f"WinRM request failed ({exc.__class__.__name__})") from exc
    except (ET.ParseError, StopIteration, KeyError, AssertionError, binascii.Error) as exc:
        # pywinrm parses replies with next(), [] and assert: a reply it cannot read.
        raise ConnectorError(f"malformed WS-Management reply ({exc.__class__.__name__})") from exc


# -- the runner ---------------------------------------------------------------


@dataclass
class RunnerStats:
    """Counts since the runner started: what re-use saved."""

    protocols: int = 0  # new Protocol objects: a TCP (TLS) connection and an auth handshake
    shells: int = 0  # Create
    commands: int = 0  # Command
    dropped: int = 0  # lanes closed after an error


@dataclass
class _Lane:
    protocol: winrm.Protocol
    shell_id: str | None = None
    last_used: float = field(default_factory=time.monotonic)
    commands: int = 0
    sound: bool = True  # False after any error: never pooled again
    connection_lost: bool = False  # a request died mid-way: clean up on a new connection


class _Stale(Exception):
    """A re-used lane failed before its command started: worth one try on a new lane."""


class PowerShellRunner:
    """Runs shipped scripts on one server. Thread-safe: each call borrows a lane."""

    def __init__(self, settings: WinRmSettings) -> None:
        # Checked here, not in the settings: a file is the host's, not the configuration's.
        if settings.ca_file is not None and not Path(settings.ca_file).is_file():
            raise ValueError("ca_file does not name a file")
        self.settings = settings
        self.stats = RunnerStats()
        self._pool: queue.LifoQueue[_Lane] = queue.LifoQueue(settings.pool_size)
        self._lock = threading.Lock()
        self._closed = False

    def run(self, script: str, args: Mapping[str, Any], *, timeout: float) -> Any:
        """Run `connectors/<system>/scripts/<script>.ps1` with `args` and return its `data`.

        Raises `ScriptError` (a `ConnectorError`) for an error the script reported,
        `TimedOut` when it has not finished within `timeout` seconds (it is then
        signalled to stop), `Denied`, `Unreachable` or `ConnectorError` for the rest;
        `ValueError` for an unknown script name.
        """
        text = script_text(script, args)
        command = command_line(text)
        if len(command) > MAX_COMMAND_LINE:
            raise ConnectorError(
                f"{script}: the arguments are too long for one WinRM command line"
                f" ({len(command)} characters, Windows allows {MAX_COMMAND_LINE})"
            )
        values = argument_values(args)
        deadline = time.monotonic() + timeout
        try:
            stdout, exit_code = self._run_on_a_lane(command, deadline, fresh=False)
        except _Stale:
            log.info("winrm: a pooled lane went stale; trying once on a new one")
            stdout, exit_code = self._run_on_a_lane(command, deadline, fresh=True)
        return parse_output(script, stdout, exit_code, values)

    def health(self, *, timeout: float) -> Health:
        """`ping.ps1`: which host answered and its PowerShell version."""
        try:
            data = self.run("ping", {}, timeout=timeout)
        except ConnectorError as exc:
            return Health(self.settings.name, False, f"{exc.__class__.__name__}: {exc}")
        if not isinstance(data, dict):
            return Health(self.settings.name, False, "ping answered without host and version")
        return Health(
            self.settings.name,
            True,
            f"PowerShell {data.get('ps_version', '?')} on {data.get('host', '?')} over WinRM"
            f" ({self.settings.transport})",
        )

    def doctor(self, *, need_second_hop: bool, timeout: float) -> list[Check]:
        """What every WinRM system relies on: the server answers, in Windows PowerShell 5.1's
        Desktop edition (the FIMAutomation snap-in and the MIMPAM module exist only there:
        PowerShell/PowerShellStandard#80), and, when the connector's commands reach a third
        machine, credentials that can travel there (`delegates`)."""
        checks: list[Check] = []
        name = "Windows PowerShell 5.1 (Desktop) answers over WinRM"
        try:
            data = self.run("ping", {}, timeout=timeout)
        except ConnectorError as exc:
            checks.append(
                cannot_tell(
                    name,
                    f"{exc.__class__.__name__}: {exc}",
                    f"check WinRM on {self.settings.endpoint} and the bot account's rights",
                )
            )
        else:
            data = data if isinstance(data, dict) else {}
            edition = str(data.get("ps_edition") or "?")
            version = str(data.get("ps_version") or "?")
            found = f"PowerShell {version}, {edition} edition, on {data.get('host', '?')}"
            if edition == "Desktop" and version.startswith("5.1"):
                checks.append(ok(name, found))
            else:
                checks.append(
                    wrong(
                        name,
                        found,
                        "the WinRM endpoint must start Windows PowerShell 5.1, not PowerShell 7:"
                        " use the Microsoft.PowerShell session configuration",
                    )
                )
        if need_second_hop:
            hop = "credentials can reach a third machine (second hop)"
            if self.settings.delegates:
                checks.append(ok(hop, f"{self.settings.transport}, delegating"))
            else:
                checks.append(
                    wrong(
                        hop,
                        f"{self.settings.transport} without delegation",
                        "set transport: credssp, or transport: kerberos with"
                        " kerberos_delegation: true (the server trusted for delegation)",
                    )
                )
        return checks

    def close(self) -> None:
        """Close every pooled shell (Delete) and connection."""
        with self._lock:
            self._closed = True
        self.close_idle(older_than=0.0)

    def close_idle(self, *, older_than: float | None = None) -> None:
        """Close pooled lanes unused for `older_than` seconds (default: `idle_timeout`)."""
        limit = self.settings.idle_timeout if older_than is None else older_than
        keep: list[_Lane] = []
        while True:
            try:
                lane = self._pool.get_nowait()
            except queue.Empty:
                break
            if time.monotonic() - lane.last_used >= limit:
                self._discard(lane)
            else:
                keep.append(lane)
        for lane in reversed(keep):
            self._give_back(lane)

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)

    def __enter__(self) -> PowerShellRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one command on a lane -------------------------------------------------

    def _run_on_a_lane(self, command: str, deadline: float, *, fresh: bool) -> tuple[bytes, int]:
        lane = self._borrow(fresh=fresh)
        reused = lane.commands > 0
        command_id: str | None = None
        try:
            with winrm_errors():
                try:
                    self._timeouts(lane, deadline)
                    if lane.shell_id is None:
                        lane.shell_id = lane.protocol.open_shell(noprofile=True)
                        self._count("shells")
                    command_id = lane.protocol.run_command(
                        lane.shell_id, command, skip_cmd_shell=True
                    )
                    self._count("commands")
                    lane.commands += 1
                    stdout, exit_code = self._receive(lane, command_id, deadline)
                except BaseException as exc:
                    lane.sound = False
                    if isinstance(exc, requests.exceptions.RequestException):
                        lane.connection_lost = True
                    raise
                finally:
                    # MS-WSMV 3.1.4.14: Signal terminate after every command, done or not.
                    if command_id is not None and not self._signal(lane, command_id):
                        lane.sound = False
        except ConnectorError as exc:
            self._discard(lane, dropped=True)
            if reused and command_id is None and _stale(exc) and time.monotonic() < deadline:
                raise _Stale from exc
            raise
        except BaseException:
            self._discard(lane, dropped=True)
            raise
        if lane.sound:
            lane.last_used = time.monotonic()
            self._give_back(lane)
        else:
            self._discard(lane, dropped=True)  # the result is in, the lane is not sound
        return stdout, exit_code

    def _receive(self, lane: _Lane, command_id: str, deadline: float) -> tuple[bytes, int]:
        assert lane.shell_id is not None
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() >= deadline:
                raise _Deadline
            self._timeouts(lane, deadline, receive=True)
            try:
                out, _err, exit_code, done = lane.protocol.get_command_output_raw(
                    lane.shell_id, command_id
                )
            except wx.WinRMOperationTimeoutError:
                continue  # no output within OperationTimeout: ask again (MS-WSMV 3.1.4.14)
            except requests.exceptions.ReadTimeout:
                if time.monotonic() < deadline - 0.05:
                    raise
                lane.connection_lost = True
                raise _Deadline from None
            # stderr (CLIXML progress and error records) is not read: it may quote the
            # script, and with it the arguments. The envelope and exit code decide.
            chunks.append(out)
            size += len(out)
            if size > MAX_OUTPUT:
                raise ConnectorError(f"unexpected output: more than {MAX_OUTPUT} bytes")
            if done:
                return b"".join(chunks), exit_code

    def _timeouts(self, lane: _Lane, deadline: float, *, receive: bool = False) -> None:
        """Fit the next request into what is left of the deadline.

        pywinrm reads both per request: `operation_timeout_sec` goes into the envelope (how
        long the server may hold a Receive before its TimedOut fault) and
        `transport.read_timeout_sec` is the requests timeout.
        """
        s = self.settings
        remaining = max(0.05, deadline - time.monotonic())
        if receive:
            # Whole seconds (pywinrm sends PT<int>S): the server answers a long poll before
            # the deadline, or, under a second before it, the read timeout ends it there.
            lane.protocol.operation_timeout_sec = max(1, min(s.operation_timeout, int(remaining)))
        else:
            lane.protocol.operation_timeout_sec = s.operation_timeout
        lane.protocol.transport.read_timeout_sec = min(float(s.read_timeout), remaining)

    def _signal(self, lane: _Lane, command_id: str) -> bool:
        """Send Signal terminate for the command; False when that failed."""
        assert lane.shell_id is not None
        try:
            with winrm_errors():
                self._for_cleanup(lane)
                lane.protocol.cleanup_command(lane.shell_id, command_id)
        except ConnectorError as exc:
            log.warning("winrm: Signal failed (%s); dropping the shell", exc.__class__.__name__)
            lane.connection_lost = True  # Delete it on a new connection
            return False
        return True

    def _for_cleanup(self, lane: _Lane) -> None:
        """Short timeouts; after a request died mid-way, a new connection: a broken one is
        gone, and NTLM's message encryption is bound to the connection it was set up on."""
        if lane.connection_lost:
            lane.protocol.transport.close_session()
            lane.protocol = self._protocol()
            self._count("protocols")
            lane.connection_lost = False
        lane.protocol.operation_timeout_sec = self.settings.operation_timeout
        lane.protocol.transport.read_timeout_sec = self.settings.cleanup_timeout

    # -- the pool ---------------------------------------------------------------

    def _borrow(self, *, fresh: bool) -> _Lane:
        if fresh:
            self.close_idle(older_than=0.0)  # the other pooled lanes are suspect too
        while True:
            try:
                lane = self._pool.get_nowait()
            except queue.Empty:
                break
            if time.monotonic() - lane.last_used < self.settings.idle_timeout:
                return lane
            self._discard(lane)  # idle too long: the server may have closed it
        with winrm_errors():
            lane = _Lane(self._protocol())
        self._count("protocols")
        return lane

    def _give_back(self, lane: _Lane) -> None:
        with self._lock:
            closed = self._closed
        if not closed:
            try:
                self._pool.put_nowait(lane)
                return
            except queue.Full:
                pass
        self._discard(lane)

    def _discard(self, lane: _Lane, *, dropped: bool = False) -> None:
        """Delete the shell (best effort, short timeout) and close the connection."""
        if dropped:
            self._count("dropped")
        try:
            if lane.shell_id is not None:
                with winrm_errors():
                    self._for_cleanup(lane)
                    lane.protocol.close_shell(lane.shell_id, close_session=False)
        except ConnectorError as exc:
            log.info("winrm: Delete of a shell failed (%s)", exc.__class__.__name__)
        finally:
            lane.shell_id = None
            lane.protocol.transport.close_session()

    def _protocol(self) -> winrm.Protocol:
        s = self.settings
        if s.transport == "credssp":
            _require("requests_credssp", "credssp", "pywinrm[credssp]")
        if s.transport == "kerberos":
            _require("kerberos", "kerberos", "pywinrm[kerberos]")
        return winrm.Protocol(
            endpoint=s.endpoint,
            transport=s.transport,
            username=s.username or None,
            password=s.password or None,
            server_cert_validation="validate",
            # None: requests' own trust store; never REQUESTS_CA_BUNDLE from the environment
            ca_trust_path=str(s.ca_file) if s.ca_file else None,  # type: ignore[arg-type]
            read_timeout_sec=s.read_timeout,
            operation_timeout_sec=s.operation_timeout,
            message_encryption="auto",  # ntlm, kerberos, credssp over http: encrypted
            kerberos_delegation=s.kerberos_delegation,
            proxy=None,
        )


def _stale(exc: ConnectorError) -> bool:
    """A failure that a pooled lane's age explains: its connection or shell is gone."""
    if isinstance(exc, TimedOut):
        return False
    if isinstance(exc, Unreachable | Denied):
        return True
    cause = exc.__cause__
    return isinstance(cause, wx.WSManFaultError) and cause.wsman_fault_code == SHELL_NOT_FOUND


def _require(module: str, transport: str, extra: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ConnectorError(
            f"the {transport} WinRM transport needs the {extra} extra installed"
        ) from None
