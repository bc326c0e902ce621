"""What the BHOLD connector relies on in a WSDL, and `doctor`'s comparison of the server's own
`?WSDL` with the one zeep reads (connectors/bhold/wsdl/b1scriptservice.wsdl by default).

The connector needs, in namespace `http://B1/B1ScriptService`, the operations GetInfo and
ExecuteXml, their request elements' children (names, in order, and types) and their response
elements' children. Each is read from the WSDL as ASMX writes one: portType operation ->
input/output message -> its part's element -> that schema element's sequence of children. A
child's type is its `type` attribute's local name ("string", "boolean"), "xml" for an inline
complexType wrapping `<s:any/>` (how ASMX describes an XmlNode), or "complex" for another
inline type. Both documents are parsed with DTDs, entities and the network off.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from connectors.doctor import Check, ok, wrong

__all__ = ["NS", "OPERATIONS", "Operation", "WsdlShape", "compare", "parse_wsdl"]

NS = "http://B1/B1ScriptService"
OPERATIONS = ("GetInfo", "ExecuteXml")
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_XS = "http://www.w3.org/2001/XMLSchema"
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
)

Children = tuple[tuple[str, str], ...]  # (element name, type)


@dataclass(frozen=True)
class Operation:
    """One operation: its request's and its response's children, () where unreadable."""

    params: Children
    results: Children


@dataclass(frozen=True)
class WsdlShape:
    namespace: str
    operations: dict[str, Operation]


def parse_wsdl(text: bytes) -> WsdlShape:
    """The shape of a WSDL document; `ValueError` when it is not XML or not a WSDL."""
    try:
        root = etree.fromstring(text, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError("not XML") from exc
    if root is None or root.tag != f"{{{_WSDL}}}definitions":
        raise ValueError("not a WSDL 1.1 document")
    elements = {
        el.get("name", ""): el
        for schema in root.iter(f"{{{_XS}}}schema")
        for el in schema.findall(f"{{{_XS}}}element")
    }
    messages = {
        m.get("name", ""): m.find(f"{{{_WSDL}}}part") for m in root.findall(f"{{{_WSDL}}}message")
    }

    def children(message: str | None) -> Children:
        part = messages.get(_local(message or ""))
        element = elements.get(_local(part.get("element", ""))) if part is not None else None
        if element is None:
            return ()
        sequence = element.find(f"{{{_XS}}}complexType/{{{_XS}}}sequence")
        if sequence is None:
            return ()
        return tuple(
            (child.get("name", ""), _type(child)) for child in sequence.findall(f"{{{_XS}}}element")
        )

    operations: dict[str, Operation] = {}
    for port_type in root.findall(f"{{{_WSDL}}}portType"):
        for op in port_type.findall(f"{{{_WSDL}}}operation"):
            request, response = op.find(f"{{{_WSDL}}}input"), op.find(f"{{{_WSDL}}}output")
            operations.setdefault(
                op.get("name", ""),
                Operation(
                    children(request.get("message") if request is not None else None),
                    children(response.get("message") if response is not None else None),
                ),
            )
    return WsdlShape(root.get("targetNamespace", ""), operations)


def _local(qname: str) -> str:
    return qname.rpartition(":")[2]


def _type(element: etree._Element) -> str:
    if element.get("type"):
        return _local(element.get("type", ""))
    inline = element.find(f"{{{_XS}}}complexType")
    if inline is not None and inline.find(f".//{{{_XS}}}any") is not None:
        return "xml"
    return "complex"


def _show(children: Children) -> str:
    return ", ".join(f"{name} ({kind})" for name, kind in children) or "none"


def compare(used: WsdlShape, served: WsdlShape, *, wsdl_url: str, wsdl_setting: str) -> list[Check]:
    """One check for the service's namespace and operations, then one for each operation's
    parameters and one for its result: WRONG where the server's WSDL differs from `used`
    (the WSDL zeep reads), with the fix."""
    replace = f"save {wsdl_url} and set bhold.wsdl to that file (now {wsdl_setting})"
    checks: list[Check] = []
    name = "BHOLD's WSDL offers GetInfo and ExecuteXml"
    missing = [op for op in OPERATIONS if op not in served.operations]
    if served.namespace != NS or missing:
        found = f"namespace {served.namespace or 'none'}"
        if missing:
            found += f"; no {' or '.join(missing)}"
        fix = "point bhold.service.url at BHOLD Core's b1scriptservice.asmx"
        checks.append(wrong(name, found, fix))
    else:
        checks.append(ok(name, f"namespace {NS}, {len(served.operations)} operation(s)"))
    for op in OPERATIONS:
        mine = used.operations.get(op, Operation((), ()))
        theirs = served.operations.get(op)
        for part, label in (("params", "parameters match"), ("results", "result matches")):
            check = f"BHOLD's {op} {label} the connector's WSDL"
            have = getattr(mine, part)
            if theirs is None:
                checks.append(wrong(check, f"the server's WSDL has no {op}", replace))
                continue
            want = getattr(theirs, part)
            if want == have:
                checks.append(ok(check, _show(have)))
            else:
                detail = f"the server's: {_show(want)}; the connector's: {_show(have)}"
                checks.append(wrong(check, detail, replace))
    return checks
