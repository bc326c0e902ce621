"""A loopback BHOLD Core script web service (b1scriptservice.asmx) that zeep talks to.

    with BholdStub() as stub:
        seed_people(stub.state, [("jdoe", "Jane Doe", "Jane", "Doe", "jane@x.test", "4711")])
        settings = HttpSettings(url=stub.url, auth="ntlm", username=NTLM_USER[0], ...)

HTTP (`url`) and HTTPS (`https_url`, self-signed cert in `ca_file`) on 127.0.0.1, with Basic
(`BASIC_USER`) and NTLM (`NTLM_USER`, pyspnego as acceptor, one context per TCP connection as
IIS does it), served by demo/loopback.py. GET `?WSDL` serves `stub.wsdl` (by default
connectors/bhold/wsdl/b1scriptservice.wsdl, with this stand-in's address; a test may put a
different one in place, as a different server would have); POSTs are SOAP 1.1, dispatched on
SOAPAction (or the Body's first child): GetInfo and ExecuteXml, answered from `stub.state`
(demo/bhold_fixture.py). Seen traffic: `stub.seen` (`Seen`: operation, auth, tls, raw body).
Faults: `stub.fail(kind, times=1)`, kinds in `KINDS`.

ExecuteXml, strictly where the BHOLD developer reference (MicrosoftDocs/MIMDocs
`MIMDocs/reference/mim2016-bhold-developer-reference.md`, "Execute scripts") is silent: its
XmlNode parameter is read from the element `stub.wsdl` names for it (ASMX binds parameters by
element name). Under another name ASMX binds null, and BHOLD's method faults on it, as an
unhandled NullReferenceException does in ASMX (a soap:Server fault, HTTP 500). The parameter's
first element must be `<functions>` (the reference's "Command script"), or it faults too.
The result is the BholdScriptResult report as text (reference, "BholdScriptResult"; that
ExecuteXml returns it is an assumption the connector does not rely on blindly), or as an
element where `stub.wsdl` types ExecuteXmlResult so.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from lxml import etree

from demo.bhold_fixture import BholdState
from demo.loopback import BASIC_USER, NTLM_USER, LoopbackHandler, LoopbackServers, LoopbackStub

__all__ = ["BASIC_USER", "KINDS", "NTLM_USER", "BholdStub", "Seen"]

WSDL = (
    Path(__file__).resolve().parent.parent
    / "connectors"
    / "bhold"
    / "wsdl"
    / "b1scriptservice.wsdl"
)
NS = "http://B1/B1ScriptService"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PATH = "/BHOLD/Core/b1scriptservice.asmx"
# fault: HTTP 500 soap:Server fault; auth: HTTP 401; hang: no answer for `seconds` (or until
# release/stop); slow: answer after `seconds`; empty: GetInfoResult ""; function: the `at`-th
# function (0-based) of the next ExecuteXml script fails, the script is rolled back; blank:
# the script runs but ExecuteXmlResult is empty; xml: it runs and the report comes as an XML
# element inside ExecuteXmlResult instead of text (what a server whose WSDL types it so sends).
KINDS = frozenset({"fault", "auth", "hang", "slow", "empty", "function", "blank", "xml"})
_XS = "http://www.w3.org/2001/XMLSchema"
NULL_FAULT = (
    "Server was unable to process request. ---> Object reference not set to an instance of "
    "an object."
)
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


class BholdStub(LoopbackStub):
    """The stand-in. `start()`/`stop()` or use it as a context manager; `state` may be
    replaced between tests."""

    def __init__(self, state: BholdState | None = None) -> None:
        self.state = state or BholdState()
        self.wsdl: bytes = WSDL.read_bytes()
        self.seen: list[Seen] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._servers = LoopbackServers(_handler_class(self), prefix="mimbot-bhold-")
        self.ca_file = self._servers.ca_file
        self.url = self._servers.url(PATH)
        self.https_url = self._servers.url(PATH, tls=True)

    def stop(self) -> None:
        self._release.set()
        super().stop()

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
        ExecuteXml, when given; `function`, `blank` and `xml` strike ExecuteXml only)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if kind in ("function", "blank", "xml"):
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
        if fault is not None and fault.kind == "auth":  # IIS refuses before the service runs
            return operation, 401, b"", fault
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
        functions = _script(call, script_parameter(self.wsdl))
        if functions is None:
            return operation, 500, _fault(NULL_FAULT), None
        fail_at = fault.at if fault is not None and fault.kind == "function" else None
        report = self.state.execute(functions, fail_at=fail_at)
        if fault is not None and fault.kind == "blank":
            report = ""
        as_xml = fault is not None and fault.kind == "xml"
        if (as_xml or result_is_xml(self.wsdl)) and report:
            return operation, 200, _reply("ExecuteXml", etree.fromstring(report)), fault
        return operation, 200, _reply("ExecuteXml", report), fault


def script_parameter(wsdl: bytes) -> str | None:
    """The name `wsdl` gives ExecuteXml's one parameter element (None if it gives none)."""
    root = etree.fromstring(wsdl, _PARSER)
    for element in root.iter(f"{{{_XS}}}element"):
        if element.get("name") == "ExecuteXml":
            params = element.findall(f"{{{_XS}}}complexType/{{{_XS}}}sequence/{{{_XS}}}element")
            return params[0].get("name") if len(params) == 1 else None
    return None


def result_is_xml(wsdl: bytes) -> bool:
    """Whether `wsdl` types ExecuteXmlResult as XML (an inline type, not `s:string`): then
    this server answers with the report as an element, as such a server would."""
    root = etree.fromstring(wsdl, _PARSER)
    for element in root.iter(f"{{{_XS}}}element"):
        if element.get("name") == "ExecuteXmlResult":
            return element.get("type") is None
    return False


def _script(call: etree._Element, parameter: str | None) -> etree._Element | None:
    """The `<functions>` ExecuteXml's parameter element holds; None when ASMX would bind
    null (no element of that name, qualified, as `elementFormDefault="qualified"` has it)
    or it holds no `<functions>` first."""
    param = call.find(f"{{{NS}}}{parameter}") if parameter else None
    if param is None:
        return None
    first = next((c for c in param if isinstance(c.tag, str)), None)
    return first if first is not None and _local(first) == "functions" else None


def _local(el: Any) -> str:
    return etree.QName(el).localname if el is not None and isinstance(el.tag, str) else ""


def _envelope(body: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _reply(operation: str, result: str | etree._Element) -> bytes:
    response = etree.Element(f"{{{NS}}}{operation}Response", nsmap={None: NS})
    element = etree.SubElement(response, f"{{{NS}}}{operation}Result")
    if isinstance(result, str):
        element.text = result  # escaped by lxml
    else:
        element.append(result)
    return _envelope(response)


def _fault(text: str) -> bytes:
    """An ASMX unhandled-exception fault: soap:Server, the message, an empty detail."""
    fault = etree.Element(f"{{{SOAP}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soap:Server"
    etree.SubElement(fault, "faultstring").text = text
    etree.SubElement(fault, "detail")
    return _envelope(fault)


def _handler_class(stub: BholdStub) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        realm = "BHOLD"
        content_type = "text/xml; charset=utf-8"

        def do_GET(self) -> None:
            if not self.path.lower().endswith("?wsdl"):
                return self.reply(404, b"")
            if self.authenticate() is None:
                return None
            url = stub.https_url if self.tls else stub.url
            text = stub.wsdl.replace(
                b"http://localhost:5151/BHOLD/Core/b1scriptservice.asmx", url.encode()
            )
            return self.reply(200, text)

        def do_POST(self) -> None:
            self.answer(self._post)

        def _post(self, raw: bytes, who: str) -> None:
            try:
                op, status, body, fault = stub.dispatch(self.headers.get("SOAPAction", ""), raw)
            except etree.XMLSyntaxError:
                return self.reply(400, b"")
            with stub._lock:
                stub.seen.append(Seen(op, who, self.tls, raw))
            kind = fault.kind if fault else None
            if kind == "auth":
                return self.forget_credentials()
            if kind in ("hang", "slow") and fault is not None:
                stub._release.wait(fault.seconds)
                if kind == "hang":
                    self.close_connection = True
                    return None
            return self.reply(status, body)

        def reply(self, *args: Any, **kwargs: Any) -> None:
            with contextlib.suppress(OSError):  # the client gave up (a slow fault's timeout)
                super().reply(*args, **kwargs)

    return Handler
