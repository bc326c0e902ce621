"""A loopback BHOLD Core script web service (b1scriptservice.asmx) that zeep talks to.

    with BholdStub() as stub:
        seed_people(stub.state, [("jdoe", "Jane Doe", "Jane", "Doe", "jane@x.test", "4711")])
        settings = HttpSettings(url=stub.url, auth="ntlm", username=NTLM_USER[0], ...)

HTTP (`url`) and HTTPS (`https_url`, self-signed cert in `ca_file`) on 127.0.0.1, with Basic
(`BASIC_USER`) and NTLM (`NTLM_USER`, pyspnego as acceptor, one context per TCP connection as
IIS does it). GET `?WSDL` serves connectors/wsdl/b1scriptservice.wsdl; POSTs are SOAP 1.1,
dispatched on SOAPAction (or the Body's first child): GetInfo and ExecuteXml, answered from
`stub.state` (demo/bhold_fixture.py). Seen traffic: `stub.seen` (`Seen`: operation, auth,
tls, raw body). Faults: `stub.fail(kind, times=1)`, kinds in `KINDS`.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import spnego
from lxml import etree
from spnego.exceptions import SpnegoError

from demo.bhold_fixture import BholdState, parse_functions

# Shared with the WinRM stand-in: users, the NTLM user file, the server class, the test cert.
from demo.wsman_stub import BASIC_USER, NTLM_USER, _ntlm_users, _self_signed_cert, _Server

__all__ = ["BASIC_USER", "KINDS", "NTLM_USER", "BholdStub", "Seen"]

WSDL = Path(__file__).resolve().parent.parent / "connectors" / "wsdl" / "b1scriptservice.wsdl"
NS = "http://B1/B1ScriptService"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PATH = "/BHOLD/Core/b1scriptservice.asmx"
# fault: HTTP 500 soap:Server fault; auth: HTTP 401; hang: no answer for `seconds` (or until
# release/stop); slow: answer after `seconds`; empty: GetInfoResult ""; function: the `at`-th
# function (0-based) of the next ExecuteXml script fails, the script is rolled back.
KINDS = frozenset({"fault", "auth", "hang", "slow", "empty", "function"})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class Seen:
    operation: str
    auth: str  # "basic" | "ntlm"
    tls: bool
    body: bytes


@dataclass
class _Fault:
    kind: str
    operation: str | None
    left: int
    seconds: float
    at: int


@dataclass
class _Conn:  # per TCP connection: NTLM authenticates the connection
    ntlm: Any = None
    ntlm_ok: bool = False


class BholdStub:
    """The stand-in. `start()`/`stop()` or use it as a context manager; `state` may be
    replaced between tests."""

    def __init__(self, state: BholdState | None = None) -> None:
        self.state = state or BholdState()
        self.seen: list[Seen] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._dir = Path(tempfile.mkdtemp(prefix="mimbot-bhold-"))
        cert, key = _self_signed_cert(self._dir)
        self.ca_file = str(cert)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        handler = _handler_class(self)
        self._http = _Server(("127.0.0.1", 0), handler, stub=self, tls=None)
        self._https = _Server(("127.0.0.1", 0), handler, stub=self, tls=tls)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}{PATH}"
        self.https_url = f"https://127.0.0.1:{self._https.server_address[1]}{PATH}"
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
            for s in (self._http, self._https)
        ]

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> BholdStub:
        _ntlm_users.acquire()
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._release.set()
        for s in (self._http, self._https):
            s.shutdown()
            s.server_close()
        _ntlm_users.release()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> BholdStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers ----------------------------------------------------
    def fail(
        self,
        kind: str,
        times: int = 1,
        *,
        operation: str | None = None,
        seconds: float = 5.0,
        at: int = 1,
    ) -> None:
        """Inject `kind` (see KINDS) into the next `times` requests (of `operation`, GetInfo or
        ExecuteXml, when given; a `function` fault strikes ExecuteXml only)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if kind == "function":
            operation = "ExecuteXml"
        with self._lock:
            self._release.clear()
            self._faults.append(_Fault(kind, operation, times, seconds, at))

    def release(self) -> None:
        """Wake every hung request and drop the faults not yet used."""
        with self._lock:
            self._faults.clear()
        self._release.set()

    def operations(self) -> list[str]:
        return [s.operation for s in self.seen]

    # ---- internals -------------------------------------------------------
    def _take_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.left > 0 and f.operation in (None, operation):
                    f.left -= 1
                    self._faults = [x for x in self._faults if x.left > 0]
                    return f
        return None

    def dispatch(self, action: str, body: bytes) -> tuple[str, int, bytes, _Fault | None]:
        """One SOAP request -> (operation, status, reply, the fault to apply or None)."""
        root = etree.fromstring(body, _PARSER)
        call = next((c for el in root if _local(el) == "Body" for c in el), None)
        operation = action.strip('"').rsplit("/", 1)[-1] or (_local(call) if call else "")
        fault = self._take_fault(operation)
        if call is None or operation not in ("GetInfo", "ExecuteXml"):
            return operation, 500, _fault("Server did not recognize the request."), None
        if fault is not None and fault.kind == "fault":
            text = "Server was unable to process request. ---> Injected failure (stub)."
            return operation, 500, _fault(text), None
        if operation == "GetInfo":
            args = {_local(c): c.text or "" for c in call}
            params = [args.get(f"parameter{n}", "") for n in (1, 2, 3)]
            try:
                result = self.state.get_info(args.get("functionName", ""), *params)
            except ValueError:
                return operation, 500, _fault("Server was unable to process request."), None
            if fault is not None and fault.kind == "empty":
                result = ""
            return operation, 200, _reply("GetInfo", result), fault
        functions = parse_functions(body)
        if functions is None:
            return operation, 500, _fault("Server was unable to process request."), None
        fail_at = fault.at if fault is not None and fault.kind == "function" else None
        report = self.state.execute(functions, fail_at=fail_at)
        return operation, 200, _reply("ExecuteXml", report), fault


def _local(el: Any) -> str:
    return etree.QName(el).localname if el is not None and isinstance(el.tag, str) else ""


def _envelope(body: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _reply(operation: str, result: str) -> bytes:
    response = etree.Element(f"{{{NS}}}{operation}Response", nsmap={None: NS})
    etree.SubElement(response, f"{{{NS}}}{operation}Result").text = result  # escaped by lxml
    return _envelope(response)


def _fault(text: str) -> bytes:
    """An ASMX unhandled-exception fault: soap:Server, the message, an empty detail."""
    fault = etree.Element(f"{{{SOAP}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soap:Server"
    etree.SubElement(fault, "faultstring").text = text
    etree.SubElement(fault, "detail")
    return _envelope(fault)


def _handler_class(stub: BholdStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(5)
                self.request.do_handshake()
                self.request.settimeout(None)
            super().setup()
            self.conn = _Conn()

        def finish(self) -> None:
            with contextlib.suppress(OSError):
                super().finish()

        def do_GET(self) -> None:
            if not self.path.lower().endswith("?wsdl"):
                return self._reply(404, b"")
            if self._auth() is None:
                return None
            tls = isinstance(self.request, ssl.SSLSocket)
            url = stub.https_url if tls else stub.url
            text = WSDL.read_bytes().replace(
                b"http://localhost:5151/BHOLD/Core/b1scriptservice.asmx", url.encode()
            )
            return self._reply(200, text)

        def do_POST(self) -> None:
            try:
                self._post()
            except OSError:  # the client gave up (timeout) before we answered
                self.close_connection = True

        def _post(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            who = self._auth()
            if who is None:
                return None
            tls = isinstance(self.request, ssl.SSLSocket)
            try:
                op, status, body, fault = stub.dispatch(self.headers.get("SOAPAction", ""), raw)
            except etree.XMLSyntaxError:
                return self._reply(400, b"")
            with stub._lock:
                stub.seen.append(Seen(op, who, tls, raw))
            kind = fault.kind if fault else None
            if kind == "auth":
                self.conn = _Conn()
                return self._reply(401, b"", [("WWW-Authenticate", 'Basic realm="BHOLD"')])
            if kind in ("hang", "slow") and fault is not None:
                stub._release.wait(fault.seconds)
                if kind == "hang":
                    self.close_connection = True
                    return None
            return self._reply(status, body)

        def _auth(self) -> str | None:
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "basic":
                with contextlib.suppress(ValueError):
                    user, _, password = base64.b64decode(token).decode().partition(":")
                    if (user, password) == BASIC_USER:
                        return "basic"
            elif scheme.lower() in ("negotiate", "ntlm"):
                return self._ntlm_step(scheme, token)
            elif self.conn.ntlm_ok:
                return "ntlm"
            offers = [("WWW-Authenticate", "NTLM"), ("WWW-Authenticate", 'Basic realm="BHOLD"')]
            self._reply(401, b"", offers)
            return None

        def _ntlm_step(self, scheme: str, token: str) -> str | None:
            try:
                raw = base64.b64decode(token)
                if self.conn.ntlm is None or raw[8:12] == b"\x01\x00\x00\x00":  # NEGOTIATE
                    ctx = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
                    self.conn = _Conn(ntlm=ctx)
                out = self.conn.ntlm.step(raw)
            except (ValueError, SpnegoError):  # wrong password, unknown user, garbage
                self.conn = _Conn()
                self._reply(401, b"", [("WWW-Authenticate", scheme)])
                return None
            if not self.conn.ntlm.complete:
                challenge = f"{scheme} {base64.b64encode(out or b'').decode()}"
                self._reply(401, b"", [("WWW-Authenticate", challenge)])
                return None
            self.conn.ntlm_ok = True
            return "ntlm"

        def _reply(self, status: int, body: bytes, headers: Any = ()) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            if body:
                self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    return Handler
