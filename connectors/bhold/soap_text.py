"""What travels inside BHOLD's SOAP strings: `users` filters, GetInfo XML and command scripts.

GetInfo answers with a string holding an XML document; its element and attribute names are
read case-insensitively (the reference spells them `ITEMS/ITEM/KEY/VALUE` and `item` in turn).
It is parsed with entity resolution, DTDs and the network off. A user's core fields are read
from the `<ITEM>`'s attributes (the reference's "Return types" table) and, where an attribute
is missing, from the KEY/VALUE list under BHOLD's own names (`bholdDescription`, as the
reference's C# sample reads it, `bholdDefAlias`, as `applicationadd`'s alias formula names
it). Command scripts are built with lxml, so every value is escaped as XML data (an
attribute value's tab, newline and carriage return as character references, so they
survive), and carry numeric IDs only: BHOLD looks up a non-numeric ID by alias or
description and uses the first match (bhold-soap.md §4). The `function` and parameter names
keep the reference's function tables' casing (`roledeleteuser` `userID` `roleID`,
`OrgUnitdeleteuser` `OrgUnitID`, `Userupdate` `UserID`): its own C# sample writes `roleid`
and `userid`, so whether BHOLD minds the case is unknown, and the tables are the spec.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from connectors.errors import ConnectorError

__all__ = [
    "BholdUser",
    "Clause",
    "Item",
    "ScriptOutcome",
    "delete_script",
    "is_xml_text",
    "like_escape",
    "parse_items",
    "parse_user",
    "script_errors",
    "script_outcome",
    "update_element",
]

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
)
NUMERIC = re.compile(r"[0-9]{1,18}")
_FUNCTION = re.compile(r"[A-Za-z]{1,64}")  # a function name is safe to show
# Userupdate parameters the script may carry as values (not the ID, the language or the name).
_PARAMETER = re.compile(r"[A-Za-z]{1,64}")
_RESERVED = frozenset({"name", "userid", "language", "return"})
# XML 1.0 Char: anything else cannot be sent inside a SOAP string at all.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def is_xml_text(value: str) -> bool:
    """Whether `value` can travel as XML character data (no NUL or other C0 control)."""
    return _NOT_XML.search(value) is None


def like_escape(value: str) -> str:
    """`value` as an SQL Server LIKE pattern matching exactly it: `[`, `%` and `_` are put
    in brackets (`[[]`, `[%]`, `[_]`). LIKE has no default escape character, so `\\` and
    `]` are literal already."""
    return "".join(f"[{c}]" if c in "[%_" else c for c in value)


@dataclass(frozen=True)
class Clause:
    """One `users` search: the default alias (`attribute` "") or an attributetypeid's value
    equal to `value`, or starting with it when `prefix`. BHOLD's match is loose (collation,
    its own wildcards): `matches` decides, exactly but for case."""

    attribute: str
    value: str
    prefix: bool = False

    @property
    def pattern(self) -> str:
        return like_escape(self.value) + ("%" if self.prefix else "")

    def matches(self, candidate: str) -> bool:
        have, want = candidate.casefold(), self.value.casefold()
        return have.startswith(want) if self.prefix else have == want


@dataclass(frozen=True)
class Item:
    """One `<ITEM>` of a collection: its attributes, with lower-case names."""

    attrs: dict[str, str]

    @property
    def id(self) -> str:
        return self.attrs.get("id", "")

    @property
    def description(self) -> str:
        return self.attrs.get("description", "")


@dataclass(frozen=True)
class BholdUser:
    """The `user` function's answer: core fields (lower-case names) and the KEY/VALUE list."""

    fields: dict[str, str]
    values: tuple[tuple[str, str], ...] = field(default=())

    @property
    def id(self) -> str:
        return self.fields.get("id", "")

    @property
    def alias(self) -> str:
        return self.fields.get("alias", "")

    @property
    def description(self) -> str:
        return self.fields.get("description", "")

    def get(self, *keys: str) -> list[str]:
        """Every value of the list entries named one of `keys` (compared case-insensitively):
        an attribute type may show under its id or its description."""
        want = {k.casefold() for k in keys}
        return [v for k, v in self.values if k.casefold() in want]


def _name(el: etree._Element) -> str:
    return etree.QName(el).localname.lower() if isinstance(el.tag, str) else ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _name(c) == name]


def _parse(text: str | None, function: str) -> etree._Element | None:
    """The document in a GetInfoResult; None when it is empty (no match, or not visible)."""
    if text is None or not text.strip():
        return None
    try:
        root = etree.fromstring(text.strip().encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ConnectorError(f"BHOLD answered GetInfo {function} with malformed XML") from exc
    if root is None:
        return None
    return root


def _attrs(el: etree._Element) -> dict[str, str]:
    return {etree.QName(k).localname.lower(): v for k, v in el.attrib.items()}


def parse_items(text: str | None, function: str) -> list[Item]:
    """A collection (`<ITEMS><ITEM id description …/>…</ITEMS>`); [] when empty."""
    root = _parse(text, function)
    if root is None:
        return []
    if _name(root) == "item":
        return [Item(_attrs(root))]
    if _name(root) != "items":
        raise ConnectorError(f"BHOLD answered GetInfo {function} with an unexpected document")
    return [Item(_attrs(el)) for el in _children(root, "item")]


# Core fields the KEY/VALUE list may carry under BHOLD's attribute names. bholdDescription is
# the key the reference's C# GetInfo sample reads a name from; bholdDefAlias is the user's
# default alias in `applicationadd`'s alias formula (`[User.bholdDefAlias(1,5)]`). The others
# follow the same pattern (unverified): read only where the `<ITEM>` lacks the attribute.
LIST_FIELDS = {
    "bholddescription": "description",
    "bholddefalias": "alias",
    "bholdalias": "alias",
    "bholdfirstname": "firstname",
    "bholdmiddlename": "middlename",
    "bholdlastname": "lastname",
    "bholduuid": "uuid",
    "bholdlanguage": "language",
}


def parse_user(text: str | None) -> BholdUser | None:
    """The `user` function's `<ITEM …><LIST><ITEM><KEY/><VALUE/></ITEM>…</LIST></ITEM>`
    (also wrapped in `<ITEMS>`); None when empty. A core field missing from the `<ITEM>`'s
    attributes is taken from the list's `bhold…` key (`LIST_FIELDS`); the first one wins."""
    root = _parse(text, "user")
    if root is None:
        return None
    if _name(root) == "items":
        items = _children(root, "item")
        if not items:
            return None
        root = items[0]
    if _name(root) != "item":
        raise ConnectorError("BHOLD answered GetInfo user with an unexpected document")
    values: list[tuple[str, str]] = []
    for lst in _children(root, "list"):
        for entry in _children(lst, "item"):
            keys, vals = _children(entry, "key"), _children(entry, "value")
            if keys:
                for val in vals or [None]:
                    text_value = "" if val is None else "".join(val.itertext())
                    values.append(("".join(keys[0].itertext()), text_value))
    fields = _attrs(root)
    for key, value in values:
        name = LIST_FIELDS.get(key.strip().casefold())
        if name is not None and not fields.get(name):
            fields[name] = value
    return BholdUser(fields, tuple(values))


def delete_script(user_id: str, role_ids: Iterable[str], unit_ids: Iterable[str]) -> bytes:
    """`<functions>`: `roledeleteuser` for each role, then `OrgUnitdeleteuser` for each org
    unit; the last org unit removal deletes the user record. `ValueError` for any ID that is
    not a number, so a lookup by name can never be sent."""
    return etree.tostring(delete_element(user_id, role_ids, unit_ids), encoding="utf-8")


def delete_element(
    user_id: str, role_ids: Iterable[str], unit_ids: Iterable[str]
) -> etree._Element:
    """`delete_script` as an element, for zeep's `xs:any` parameter."""
    roles, units = list(role_ids), list(unit_ids)
    functions = _functions(user_id, *roles, *units)
    for role in roles:
        etree.SubElement(functions, "function", name="roledeleteuser", userID=user_id, roleID=role)
    for unit in units:
        etree.SubElement(
            functions, "function", name="OrgUnitdeleteuser", userID=user_id, OrgUnitID=unit
        )
    return functions


def update_element(user_id: str, values: Mapping[str, str], language: str) -> etree._Element:
    """`<functions>` holding one `Userupdate`: the numeric `UserID`, each of `values`
    (parameter name -> value) as an attribute, and `language` (a number: the doc does not
    mark it optional). `ValueError` for an ID or language that is not a number, no values, a
    parameter name that is not a plain one (or is `name`, `UserID`, `language`, `return`),
    or a value XML cannot carry."""
    functions = _functions(user_id, language)
    if not values or not all(
        _PARAMETER.fullmatch(k) and k.lower() not in _RESERVED for k in values
    ):
        raise ValueError("Userupdate takes plain parameter names, at least one")
    if not all(isinstance(v, str) and is_xml_text(v) for v in values.values()):
        raise ValueError("a Userupdate value holds a character XML cannot carry")
    attrs = {"name": "Userupdate", "UserID": user_id, **values, "language": language}
    etree.SubElement(functions, "function", attrs)
    return functions


def _functions(*ids: str) -> etree._Element:
    """An empty `<functions>` script; `ValueError` unless every one of `ids` is a number."""
    if not all(isinstance(i, str) and NUMERIC.fullmatch(i) for i in ids):
        raise ValueError("BHOLD IDs in a script must be numbers")
    return etree.Element("functions")


@dataclass(frozen=True)
class ScriptError:
    """One function of a script report that failed (`number` > 0) or was not run (0)."""

    function: str
    number: int


class ScriptOutcome(enum.Enum):
    """What an ExecuteXmlResult says about the script."""

    SUCCEEDED = "succeeded"  # "true", True, or a report naming no function
    REFUSED = "refused"  # "false", False, or a report naming failed functions
    UNRECOGNISED = "unrecognised"  # anything else: nothing is assumed


def script_outcome(result: object) -> tuple[ScriptOutcome, list[ScriptError], str]:
    """(outcome, the failed functions, what was seen) for an ExecuteXmlResult.

    The result's type is not documented (mim-apis-checked.md 5.6): the reference's C# sample
    prints it, ExecuteScript "returns the value False" on failure, and BholdScriptResult is a
    report listing only failed or unexecuted functions. So success is only "true" (or True)
    or a `<Bhold>` report that names no function; "false" (False) or a report naming one is a
    refusal; anything else (None, an empty string, other text or XML, an XML node zeep did
    not read as text) is UNRECOGNISED, never success. What was seen names a kind, never text.
    """
    if result is True or result is False:
        return (ScriptOutcome.SUCCEEDED, [], "true") if result else _refused("false")
    if isinstance(result, etree._Element):
        text: str | None = etree.tostring(result, encoding="unicode")
    elif isinstance(result, str):
        text = result
    else:
        seen = "no result" if result is None else f"a {type(result).__name__}, not text"
        return ScriptOutcome.UNRECOGNISED, [], seen
    text = text.strip()
    if not text:
        return ScriptOutcome.UNRECOGNISED, [], "an empty result"
    if text.lower() == "true":
        return ScriptOutcome.SUCCEEDED, [], "true"
    if text.lower() == "false":
        return _refused("false")
    try:
        root = _parse(text, "ExecuteXml")
    except ConnectorError:
        return ScriptOutcome.UNRECOGNISED, [], "text that is not XML"
    if root is None or _name(root) != "bhold":
        return ScriptOutcome.UNRECOGNISED, [], "XML that is not a BholdScriptResult report"
    failed = script_errors(root)
    if failed:
        return ScriptOutcome.REFUSED, failed, "a report naming failed functions"
    return ScriptOutcome.SUCCEEDED, [], "a report naming no failed function"


def _refused(seen: str) -> tuple[ScriptOutcome, list[ScriptError], str]:
    return ScriptOutcome.REFUSED, [ScriptError("(script)", -1)], seen


def script_errors(report: etree._Element) -> list[ScriptError]:
    """The functions a BholdScriptResult report (`<Bhold><Function><Name/><Error Number
    Description/></Function>…</Bhold>`) lists, in order: those that failed (Number > 0),
    or, when none did, those not run (Number 0). A listed function without a readable
    error number counts as failed (-1). Descriptions are dropped: they may quote the data.
    """
    failed: list[ScriptError] = []
    for fn in _children(report, "function"):  # not the echoed <Script><functions>
        names = _children(fn, "name")
        name = "".join(names[0].itertext()) if names else ""
        name = name if _FUNCTION.fullmatch(name) else "?"
        errors = _children(fn, "error") or [None]
        for err in errors:
            try:
                number = int(_attrs(err).get("number", "-1")) if err is not None else -1
            except ValueError:
                number = -1
            failed.append(ScriptError(name, number))
    return [f for f in failed if f.number != 0] or failed
