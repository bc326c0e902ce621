"""A MIM Service's state, answering connectors/mimservice/scripts/mimservice_*.ps1 on a `WsmanStub`.

    fixture = MimServiceFixture(retention_days=30)
    jane = fixture.add_person(AccountName="jdoe", DisplayName="Jane Doe", Email="jane@x.test")
    fixture.install(stub)   # stub.handlers["mimservice_search"] = ..., and the rest

Each handler reads the script's decoded JSON arguments, as the script reads `$MimbotArgs`, asks
the module's model what its cmdlets would return, and answers what the script would print
from that. The two modules' results keep their documented shapes, so the handler reads them as
the script does:

- FIMAutomation: `Export-FIMConfig` returns ExportObjects, `.ResourceManagementObject` with
  `.ObjectIdentifier` (`urn:uuid:<guid>`) and `.ResourceManagementAttributes`, each with
  `AttributeName`, `IsMultiValue`, `Value`, `Values`; only attributes that hold a value
  (PSD Export-FIMConfig.md; DSC Convert-MimSvcExportToPSObject.ps1; TOR Out-FIMattribute.ps1;
  RUN MIM.portal.funtions.OP.ps1). Values are strings; dates ISO strings in UTC.
- LithnetRMA: `Search-Resources` / `Get-Resource` return `RmaObject`, a PSObject whose note
  properties ARE the attributes, one per attribute of the client's resource, ordered by name,
  a multi-valued one an `AttributeValueArrayList` (lithnet/resourcemanagement-powershell
  @128c1a2 src/Lithnet.ResourceManagement.Automation/RmaObject.cs `LoadProperties`,
  AttributeValueArrayList.cs). There is no `.Attributes`. References are `UniqueIdentifier`
  (`urn:uuid:<guid>` as a string, resourcemanagement-client UniqueIdentifier), dates `datetime`.
  Whether attributes not asked for appear is not documented: strictly, every attribute the
  schema binds to the type appears, empty (`None`, or an empty list) when it has no value or
  was not fetched, so a script must skip empties. Only ObjectID is fetched when neither
  -AttributesToGet nor -ExpectedObjectType is given (RMA SearchResources.cs).

XPath is parsed strictly, and only in the forms connectors/mimservice/connector.py writes:
`/Type`, or `/Type[c or c …]` with each `c` `Attr = 'v'`, `starts-with(Attr, 'v')` (either quote
kind, no escapes: RMC XPathQuery.cs QuoteTextValue) or, for a reference, `Attr = /Type[…]`
(MIMDSC Test-MimSvcTargetResource.ps1 finds a BindingDescription so; PSD Export-FIMConfig
example 4 filters `/Request[Target=/Person[…]]`). Anything else, or an attribute the type does
not bind, is the service's "invalid XPath" error. Strings compare case-insensitively and `%` in
`starts-with` is a wildcard (RMC XPathQuery.cs GetExpressionIsPresent).

What a search returns is what the account may read: the fixture's `retention_days=None` and
`schema_readable=False` are an account no MPR grants read on those objects (a default install
has the retention object: MIMDocs mim-privacy-compliance.md and its srrc screenshot), which
sees nothing rather than an error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.wsman_stub import PowerShellError, WsmanStub

__all__ = [
    "FIM_VERSION",
    "LITHNET_VERSION",
    "PERSON_ATTRIBUTES",
    "AttributeValueArrayList",
    "ExportAttribute",
    "ExportObject",
    "MimServiceFixture",
    "RmaObject",
    "UniqueIdentifier",
    "parse_xpath",
]

# The Person attributes of a real deployment (DSC MimSvcPerson.schema.mof): name -> multi-valued.
_PERSON = {
    **dict.fromkeys(
        (
            "AccountName", "AD_UserCannotChangePassword", "Address", "Assistant", "City",
            "Company", "CostCenter", "CostCenterName", "Country", "CreatedTime", "Creator",
            "DeletedTime", "Department", "Description", "DisplayName", "Domain",
            "DomainConfiguration", "Email", "MailNickname", "EmployeeEndDate", "EmployeeID",
            "EmployeeStartDate", "EmployeeType", "ExpirationTime", "OfficeFax", "FirstName",
            "FreezeCount", "FreezeLevel", "JobTitle", "LastName", "LastResetAttemptTime",
            "Locale", "LoginName", "Manager", "MiddleName", "MobilePhone", "MVObjectID",
            "OfficeLocation", "OfficePhone", "msidmOneTimePasswordEmailAddress",
            "msidmOneTimePasswordMobilePhone", "Photo", "PostalCode", "IsRASEnabled", "Register",
            "RegistrationRequired", "ResetPassword", "ObjectID", "ObjectSID", "ResourceTime",
            "ObjectType", "TimeZone",
        ),
        False,
    ),
    **dict.fromkeys(
        (
            "AuthNWFLockedOut", "AuthNWFRegistered", "DetectedRulesList", "ExpectedRulesList",
            "AuthNLockoutRegistrationID", "ProxyAddressCollection", "SIDHistory",
        ),
        True,
    ),
}  # fmt: skip
PERSON_ATTRIBUTES = frozenset(_PERSON)
# Request (REQ, the Request resource schema; msidmCompletedTime: mim-apis-checked 3.5) and the
# retention object (DSC MimSvcSystemResourceRetentionConfiguration.schema.mof).
_REQUEST = dict.fromkeys(
    ("ObjectID", "ObjectType", "DisplayName", "Target", "Creator", "CreatedTime",
     "ExpirationTime", "msidmCompletedTime", "RequestStatus", "Operation"),
    False,
)  # fmt: skip
_RETENTION = dict.fromkeys(
    ("ObjectID", "ObjectType", "DisplayName", "Description", "CreatedTime", "Creator",
     "ExpirationTime", "RetentionPeriod"),
    False,
)  # fmt: skip
# The schema's own types (resourcemanagement-client Schema/ObjectTypeNames.cs, AttributeNames.cs).
_SCHEMA_TYPES = {
    "BindingDescription": dict.fromkeys(
        ("ObjectID", "ObjectType", "DisplayName", "BoundObjectType", "BoundAttributeType"), False
    ),
    "AttributeTypeDescription": dict.fromkeys(
        ("ObjectID", "ObjectType", "Name", "DataType"), False
    ),
    "ObjectTypeDescription": dict.fromkeys(("ObjectID", "ObjectType", "Name"), False),
}
TYPES: dict[str, dict[str, bool]] = {
    "Person": _PERSON,
    "Request": _REQUEST,
    "SystemResourceRetentionConfiguration": _RETENTION,
    **_SCHEMA_TYPES,
}
REFERENCES = frozenset(
    {"Manager", "Assistant", "AuthNWFRegistered", "AuthNWFLockedOut", "Creator", "Target",
     "BoundObjectType", "BoundAttributeType", "DetectedRulesList", "ExpectedRulesList"}
)  # fmt: skip
DATES = frozenset(
    {"CreatedTime", "DeletedTime", "EmployeeEndDate", "EmployeeStartDate", "ExpirationTime",
     "LastResetAttemptTime", "ResourceTime", "msidmCompletedTime"}
)  # fmt: skip
MODULES = frozenset({"fimautomation", "lithnetrma"})
# MIM 2016 SP2's build (VH, "Version 4.6.34.0"); LithnetRMA v2 (RMA README).
FIM_VERSION = "4.6.34.0"
LITHNET_VERSION = "2.0.31.0"
RETENTION_ID = "8d6e1a2b-0000-4000-8000-000000000030"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"", re.S)

# (op, attribute, value): op "=" or "starts-with" with a string, or "in" with a sub-query.
Clause = tuple[str, str, Any]


# -- the two modules' result shapes ----------------------------------------------------


class AttributeValueArrayList(list[Any]):
    """A multi-valued attribute's value on an RmaObject (RMA AttributeValueArrayList.cs)."""


@dataclass(frozen=True)
class UniqueIdentifier:
    """A reference value in LithnetRMA; as a string `urn:uuid:<guid>` (mim-apis-checked 2.5)."""

    guid: str

    def __str__(self) -> str:
        return f"urn:uuid:{self.guid}"


@dataclass(frozen=True)
class RmaObject:
    """What LithnetRMA's cmdlets output: the note properties, by name (RmaObject.cs)."""

    properties: dict[str, Any]


@dataclass(frozen=True)
class ExportAttribute:
    AttributeName: str
    IsMultiValue: bool
    Value: str | None
    Values: tuple[str, ...]


@dataclass(frozen=True)
class ExportObject:
    """An ExportObject's `.ResourceManagementObject`."""

    ObjectIdentifier: str
    ResourceManagementAttributes: tuple[ExportAttribute, ...]


# -- XPath -----------------------------------------------------------------------------


def invalid_xpath() -> PowerShellError:
    return PowerShellError(
        "Microsoft.ResourceManagement.WebServices.Exceptions.InvalidXPathException",
        "The XPath filter is not valid: the filter could not be parsed.",
        "InvalidArgument",
        "ExportConfig,Microsoft.ResourceManagement.Automation.ExportConfig",
    )


def parse_xpath(text: Any) -> tuple[str, list[Clause]]:
    """(object type, clauses OR'ed); `PowerShellError` for anything else."""
    if not isinstance(text, str):
        raise invalid_xpath()
    object_type, clauses, end = _path(text, 0)
    if end != len(text):
        raise invalid_xpath()
    return object_type, clauses


def _path(text: str, pos: int) -> tuple[str, list[Clause], int]:
    if not text.startswith("/", pos):
        raise invalid_xpath()
    m = _NAME.match(text, pos + 1)
    if m is None or m.group() not in TYPES:
        raise invalid_xpath()
    object_type, pos = m.group(), m.end()
    clauses: list[Clause] = []
    if not text.startswith("[", pos):
        return object_type, clauses, pos
    pos += 1
    while True:
        clause, pos = _clause(text, pos, object_type)
        clauses.append(clause)
        if text.startswith("]", pos):
            return object_type, clauses, pos + 1
        if not text.startswith(" or ", pos):
            raise invalid_xpath()
        pos += 4


def _clause(text: str, pos: int, object_type: str) -> tuple[Clause, int]:
    if text.startswith("starts-with(", pos):
        m = _NAME.match(text, pos + len("starts-with("))
        if m is None or not text.startswith(", ", m.end()):
            raise invalid_xpath()
        value, end = _literal(text, m.end() + 2)
        if not text.startswith(")", end):
            raise invalid_xpath()
        clause: Clause = ("starts-with", m.group(), value)
        end += 1
    else:
        m = _NAME.match(text, pos)
        if m is None or not text.startswith(" = ", m.end()):
            raise invalid_xpath()
        start = m.end() + 3
        if text.startswith("/", start):
            if m.group() not in REFERENCES:
                raise invalid_xpath()
            sub_type, sub_clauses, end = _path(text, start)
            clause = ("in", m.group(), (sub_type, sub_clauses))
        else:
            value, end = _literal(text, start)
            clause = ("=", m.group(), value)
    if clause[1] not in TYPES[object_type]:
        raise invalid_xpath()
    return clause, end


def _literal(text: str, pos: int) -> tuple[str, int]:
    m = _LITERAL.match(text, pos)
    if m is None:
        raise invalid_xpath()
    return (m.group(1) if m.group(1) is not None else m.group(2)), m.end()


def _values(obj: dict[str, Any], attribute: str) -> list[Any]:
    v = obj.get(attribute)
    return [] if v is None else list(v) if isinstance(v, list | tuple) else [v]


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


# -- the stand-in ------------------------------------------------------------------------


@dataclass
class MimServiceFixture:
    """Persons (ObjectID -> attributes), Requests, the retention configuration and the
    schema's Person bindings.

    retention_days: None is an account that cannot read the retention object.
    sets_expiration: whether the service gives a completed Request an ExpirationTime
        (completion plus RetentionPeriod). The REQ schema gives every resource the attribute;
        that the service fills it in is not documented, so it is off unless asked for.
    module_installed: False is a server without the module the settings name (every script
        then fails at Add-PSSnapin / Import-Module, with PowerShell's own error).
    person_bindings: the attributes the schema binds to Person; schema_readable False is an
        account that cannot read the schema.
    """

    retention_days: int | None = 30
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    calls: list[tuple[str, Any]] = field(default_factory=list)
    sets_expiration: bool = False
    module_installed: bool = True
    person_bindings: set[str] = field(default_factory=lambda: set(PERSON_ATTRIBUTES), repr=False)
    schema_readable: bool = True

    def add_person(self, **attributes: Any) -> str:
        unknown = set(attributes) - PERSON_ATTRIBUTES
        if unknown:  # the service would refuse it: the schema binds no such attribute
            raise ValueError(f"not a Person attribute: {sorted(unknown)}")
        object_id = str(uuid.uuid4())
        self.persons[object_id] = {"ObjectID": object_id, **attributes}
        return object_id

    def add_request(self, target: str, *, age_days: float = 1.0, completed: bool = True) -> None:
        created = self.clock() - timedelta(days=age_days)
        self.requests.append(
            {
                "ObjectID": str(uuid.uuid4()),
                "Target": target,
                "CreatedTime": created,
                "msidmCompletedTime": created if completed else None,
            }
        )

    def install(self, stub: WsmanStub) -> None:
        names = ("search", "read", "delete", "update", "retention", "requests", "doctor")
        for name in (*names, "inventory"):
            stub.handlers[f"mimservice_{name}"] = self._handler(name)

    # -- the service's objects -----------------------------------------------------------

    def _pool(self, object_type: str) -> list[dict[str, Any]]:
        """Every `object_type` object the account can read, each with its ObjectType."""
        if object_type == "Person":
            return [{**p, "ObjectType": "Person"} for p in self.persons.values()]
        if object_type == "Request":
            return [{**self._request(r), "ObjectType": "Request"} for r in self.requests]
        if object_type == "SystemResourceRetentionConfiguration":
            if self.retention_days is None:
                return []
            return [
                {
                    "ObjectID": RETENTION_ID,
                    "ObjectType": object_type,
                    "DisplayName": "Request and workflow instance retention period configuration",
                    "RetentionPeriod": self.retention_days,
                }
            ]
        return self._schema(object_type) if self.schema_readable else []

    def _request(self, r: dict[str, Any]) -> dict[str, Any]:
        done = r.get("msidmCompletedTime")
        if self.sets_expiration and done and self.retention_days is not None:
            return {**r, "ExpirationTime": done + timedelta(days=self.retention_days)}
        return r

    def _schema(self, object_type: str) -> list[dict[str, Any]]:
        types = {n: str(uuid.uuid5(uuid.NAMESPACE_URL, f"type/{n}")) for n in TYPES}
        attrs = {
            n: str(uuid.uuid5(uuid.NAMESPACE_URL, f"attr/{n}"))
            for n in sorted({a for t in TYPES.values() for a in t})
        }
        if object_type == "ObjectTypeDescription":
            return [{"ObjectID": i, "ObjectType": object_type, "Name": n} for n, i in types.items()]
        if object_type == "AttributeTypeDescription":
            return [{"ObjectID": i, "ObjectType": object_type, "Name": n} for n, i in attrs.items()]
        return [
            {
                "ObjectID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"binding/Person/{a}")),
                "ObjectType": object_type,
                "BoundObjectType": types["Person"],
                "BoundAttributeType": attrs[a],
            }
            for a in sorted(self.person_bindings)
            if a in attrs
        ]

    def _select(self, text: Any) -> tuple[str, list[dict[str, Any]]]:
        object_type, clauses = parse_xpath(text)
        return object_type, [o for o in self._pool(object_type) if self._matches(o, clauses)]

    def _matches(self, obj: dict[str, Any], clauses: list[Clause]) -> bool:
        if not clauses:
            return True
        for op, attribute, want in clauses:
            held = [_text(v).casefold() for v in _values(obj, attribute)]
            if op == "in":
                sub_type, sub_clauses = want
                ids = {o["ObjectID"] for o in self._pool(sub_type) if self._matches(o, sub_clauses)}
                if any(v in ids for v in held):
                    return True
            elif op == "=" and want.casefold() in held:
                return True
            elif op == "starts-with":
                pattern = ".*".join(re.escape(p) for p in want.casefold().split("%"))
                if any(re.match(pattern, v, re.S) for v in held):
                    return True
        return False

    # -- what each module's cmdlets return -------------------------------------------------

    def export(self, xpath: Any) -> list[ExportObject]:
        """`Export-FIMConfig -OnlyBaseResources -CustomConfig xpath`."""
        _, found = self._select(xpath)
        return [self._export_object(o) for o in found]

    def _export_object(self, o: dict[str, Any]) -> ExportObject:
        multi = TYPES[o["ObjectType"]]
        attributes = []
        for name in sorted(o):
            values = tuple(self._export_text(name, v) for v in _values(o, name))
            if not values:
                continue  # an ExportObject holds only the attributes that have a value
            if multi.get(name):
                attributes.append(ExportAttribute(name, True, None, values))
            else:
                attributes.append(ExportAttribute(name, False, values[0], ()))
        return ExportObject(f"urn:uuid:{o['ObjectID']}", tuple(attributes))

    @staticmethod
    def _export_text(name: str, value: Any) -> str:
        if name in REFERENCES or name == "ObjectID":
            return f"urn:uuid:{value}"
        return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)

    def search_resources(
        self, xpath: Any, attributes: list[str] | None, *, expected_type: str | None = None
    ) -> list[RmaObject]:
        """`Search-Resources -XPath xpath` with `-AttributesToGet attributes` or
        `-ExpectedObjectType expected_type` (each all of the type's attributes)."""
        object_type, found = self._select(xpath)
        bound = TYPES[object_type]
        if expected_type is not None:
            if expected_type != object_type:
                raise invalid_xpath()
            wanted = set(bound)
        else:
            wanted = {"ObjectID", *(attributes or ())}
        if not wanted <= set(bound):  # the client checks names against its schema
            raise PowerShellError(
                "System.ArgumentException",
                "An attribute requested is not bound to the object type.",
                "InvalidArgument",
            )
        return [self._rma_object(o, wanted) for o in found]

    def get_resource(self, object_id: Any, attributes: list[str]) -> RmaObject:
        """`Get-Resource -ID object_id -AttributesToGet attributes`: throws
        ResourceNotFoundException for an unknown id (RMA GetResource.cs)."""
        person = self.persons.get(object_id) if isinstance(object_id, str) else None
        if person is None:
            raise PowerShellError(
                "Lithnet.ResourceManagement.Client.ResourceNotFoundException",
                "The specified object was not found",
                "NotSpecified",
                "Lithnet.ResourceManagement.Client.ResourceNotFoundException,"
                "Lithnet.ResourceManagement.Automation.GetResource",
            )
        return self._rma_object({**person, "ObjectType": "Person"}, {"ObjectID", *attributes})

    def _rma_object(self, o: dict[str, Any], wanted: set[str]) -> RmaObject:
        props: dict[str, Any] = {}
        for name, multi in sorted(TYPES[o["ObjectType"]].items()):
            values = [self._rma_value(name, v) for v in _values(o, name)] if name in wanted else []
            props[name] = AttributeValueArrayList(values) if multi else next(iter(values), None)
        return RmaObject(props)

    @staticmethod
    def _rma_value(name: str, value: Any) -> Any:
        return UniqueIdentifier(str(value)) if name in REFERENCES or name == "ObjectID" else value

    # -- the scripts ----------------------------------------------------------------------

    def _handler(self, name: str) -> Callable[[Any], Any]:
        method = getattr(self, f"_{name}")

        def handle(args: Any) -> Any:
            if not isinstance(args, dict) or args.get("module") not in MODULES:
                raise PowerShellError(
                    "System.ArgumentException", "bad arguments", "InvalidArgument"
                )
            if not isinstance(args.get("uri"), str):
                raise PowerShellError("System.ArgumentException", "no -Uri", "InvalidArgument")
            size = args.get("message_size")
            if size is not None and (not isinstance(size, int) or size <= 0):
                raise PowerShellError(
                    "System.ArgumentException", "bad -MessageSize", "InvalidArgument"
                )
            self.calls.append((name, args))
            if not self.module_installed and name != "doctor":
                raise self._module_missing(args["module"])
            return method(args)

        return handle

    @staticmethod
    def _module_missing(module: str) -> PowerShellError:
        """PowerShell's own errors for a snap-in or module that is not installed."""
        if module == "lithnetrma":
            return PowerShellError(
                "System.IO.FileNotFoundException",
                "The specified module 'LithnetRMA' was not loaded because no valid module file"
                " was found in any module directory.",
                "ResourceUnavailable",
                "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
            )
        return PowerShellError(
            "System.Management.Automation.PSArgumentException",
            "The Windows PowerShell snap-in 'FIMAutomation' is not installed on this computer.",
            "InvalidArgument",
            "AddPSSnapInRead,Microsoft.PowerShell.Commands.AddPSSnapinCommand",
        )

    # What the scripts do with a result (ConvertTo-MimbotStrings, ConvertFrom-MimbotRmaObject).

    @staticmethod
    def _strings(value: Any) -> list[str]:
        items = value if isinstance(value, list | tuple) else [value]
        return [
            v.astimezone(UTC).isoformat() if isinstance(v, datetime) else str(v)
            for v in items
            if v is not None
        ]

    def _from_rma(self, r: RmaObject) -> dict[str, list[str]]:
        """foreach ($p in $r.PSObject.Properties): skip nulls and empty lists."""
        out = {}
        for name, value in r.properties.items():
            if value is not None and (strings := self._strings(value)):
                out[name] = strings
        return out

    def _from_export(self, o: ExportObject) -> dict[str, list[str]]:
        return {
            a.AttributeName: self._strings(list(a.Values) if a.IsMultiValue else a.Value)
            for a in o.ResourceManagementAttributes
        }

    def _search(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        limit = int(args.get("max") or 0)
        if args["module"] == "lithnetrma":
            found = self.search_resources(args.get("xpath"), list(args.get("attributes") or ()))
            out = [
                {"id": str(r.properties["ObjectID"]), "attributes": self._from_rma(r)}
                for r in found[:limit]
            ]
        else:
            out = [
                {"id": o.ObjectIdentifier, "attributes": self._from_export(o)}
                for o in self.export(args.get("xpath"))[:limit]
            ]
        records = args.get("records")
        if records and len(out) <= int(records):
            self._read_found(args, out)
        return out

    def _read_found(self, args: dict[str, Any], found: list[dict[str, Any]]) -> None:
        """mimservice_search.ps1's end, with `records`: each object found gets `requests`,
        counted as mimservice_read.ps1 counts them (Get-ResourceCount; the Export-FIMConfig
        results), by `requests_xpath -f <its ObjectID as a GUID>`, and with LithnetRMA every
        attribute, from `Search-Resources -XPath xpath -ExpectedObjectType Person` (each
        attribute of the type: RMA SearchResources.cs). Inside the script's try: a part
        that fails leaves the object without `requests` (the search still answers)."""
        lithnet = args["module"] == "lithnetrma"
        every: dict[str, dict[str, list[str]]] = {}
        if lithnet:
            try:
                for r in self.search_resources(args.get("xpath"), None, expected_type="Person"):
                    every[str(r.properties["ObjectID"])] = self._from_rma(r)
            except PowerShellError:
                every = {}
        for o in found:
            try:
                target = str(uuid.UUID(str(o["id"]).removeprefix("urn:uuid:")))  # [guid] cast
                query = _composite_format(args.get("requests_xpath"), target)
                if lithnet:
                    if o["id"] not in every:
                        continue
                    _, requests = self._select(query)  # Get-ResourceCount
                else:
                    requests = self.export(query)  # type: ignore[assignment]
            except (PowerShellError, ValueError):
                continue
            if o["id"] in every:
                o["attributes"] = every[o["id"]]
            o["requests"] = len(requests)

    def _read(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["module"] == "lithnetrma":
            found = self.search_resources(args.get("xpath"), None, expected_type="Person")
            attributes = self._from_rma(found[0]) if found else {}
            _, requests = self._select(args.get("requests_xpath"))  # Get-ResourceCount
        else:
            exported = self.export(args.get("xpath"))
            attributes = self._from_export(exported[0]) if exported else {}
            requests = self.export(args.get("requests_xpath")) if exported else []
            found = exported  # type: ignore[assignment]
        if not found:
            return {"found": False, "attributes": {}, "requests": 0}
        return {"found": True, "attributes": attributes, "requests": len(requests)}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        _, found = self._select(args.get("xpath"))
        if not found:
            return {"deleted": False}
        if found[0]["ObjectID"] != args.get("id"):
            raise PowerShellError("System.ArgumentException", "id and xpath disagree", "")
        del self.persons[args["id"]]
        self.add_request(args["id"], age_days=0)  # the delete is itself a Request
        return {"deleted": True}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        """Replace (or, for a null or empty value, clear) each single-valued attribute, as
        one Request. An ObjectID no Person has, or an attribute a Person does not have
        (names are case-sensitive), fails as the cmdlet's call to the service would."""
        changes = args.get("changes")
        names = (
            [c.get("attribute") for c in changes if isinstance(c, dict)]
            if isinstance(changes, list)
            else []
        )
        if args["module"] == "lithnetrma":
            self.get_resource(args.get("id"), [n for n in names if n in PERSON_ATTRIBUTES])
        person = self.persons.get(args.get("id")) if isinstance(args.get("id"), str) else None
        if person is None:
            raise PowerShellError(
                "Microsoft.ResourceManagement.WebServices.Exceptions.ResourceNotFoundException",
                "The requested resource was not found: no object has that identifier.",
                "ObjectNotFound",
                "ImportConfig,Microsoft.ResourceManagement.Automation.ImportConfig",
            )
        if not isinstance(changes, list) or not changes:
            raise PowerShellError("System.ArgumentException", "no changes", "InvalidArgument")
        for change in changes:
            name = change.get("attribute") if isinstance(change, dict) else None
            value = change.get("value") if isinstance(change, dict) else None
            if (
                name not in PERSON_ATTRIBUTES
                or name == "ObjectID"
                or _PERSON[name]
                or not (value is None or isinstance(value, str))
            ):
                raise PowerShellError(
                    "Microsoft.ResourceManagement.WebServices.Exceptions.InvalidRepresentationException",
                    "The request contains an attribute the Person does not bind, or a value "
                    "of the wrong type.",
                    "InvalidArgument",
                    "ImportConfig,Microsoft.ResourceManagement.Automation.ImportConfig",
                )
        for change in changes:
            if change["value"]:
                person[change["attribute"]] = change["value"]
            else:
                person.pop(change["attribute"], None)
        self.add_request(args["id"], age_days=0)  # the update is itself a Request
        return {"updated": len(changes)}

    def _periods(self, args: dict[str, Any], key: str) -> list[int]:
        if args["module"] == "lithnetrma":
            found = self.search_resources(args.get(key), ["RetentionPeriod"])
            values = [r.properties["RetentionPeriod"] for r in found]
        else:
            values = [
                a.Value
                for o in self.export(args.get(key))
                for a in o.ResourceManagementAttributes
                if a.AttributeName == "RetentionPeriod"
            ]
        return [int(v) for v in values if v is not None]

    def _retention(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"periods": self._periods(args, "xpath")}

    def _requests(self, args: dict[str, Any]) -> dict[str, Any]:
        times = ["CreatedTime", "msidmCompletedTime", "ExpirationTime"]
        keys = ("created", "completed", "expires")
        out = []
        if args["module"] == "lithnetrma":
            for r in self.search_resources(args.get("xpath"), times):
                p = r.properties  # $r.CreatedTime: the property itself
                out.append({k: _date(p[t]) for k, t in zip(keys, times, strict=True)})
        else:
            for o in self.export(args.get("xpath")):
                held = {a.AttributeName: a.Value for a in o.ResourceManagementAttributes}
                out.append(
                    {
                        k: held.get(t)
                        for k, t in zip(("created", "completed", "expires"), times, strict=True)
                    }
                )
        return {"requests": out, "periods": self._periods(args, "retention_xpath")}

    def _doctor(self, args: dict[str, Any]) -> dict[str, Any]:
        lithnet = args["module"] == "lithnetrma"
        if not self.module_installed:
            e = self._module_missing(args["module"])
            return {"module": {"loaded": False, "error": f"{e.type}: {e.message}"}}
        version = LITHNET_VERSION if lithnet else FIM_VERSION
        retention = {"periods": self._periods(args, "retention_xpath")}
        if lithnet:
            bindings = [
                str(b.properties["BoundAttributeType"])
                for b in self.search_resources(args.get("bindings_xpath"), ["BoundAttributeType"])
            ]
            types = [
                (str(t.properties["ObjectID"]), t.properties["Name"])
                for t in self.search_resources(args.get("types_xpath"), ["Name"])
            ]
        else:
            bindings = [
                a.Value or ""
                for b in self.export(args.get("bindings_xpath"))
                for a in b.ResourceManagementAttributes
                if a.AttributeName == "BoundAttributeType"
            ]
            types = [
                (t.ObjectIdentifier, a.Value)
                for t in self.export(args.get("types_xpath"))
                for a in t.ResourceManagementAttributes
                if a.AttributeName == "Name"
            ]
        bound = {b.lower().removeprefix("urn:uuid:") for b in bindings}
        names = [n for i, n in types if i.lower().removeprefix("urn:uuid:") in bound]
        return {
            "module": {"loaded": True, "version": version},
            "retention": retention,
            "schema": {"person": names},
        }

    def _inventory(self, args: dict[str, Any]) -> dict[str, Any]:
        """mimservice_inventory.ps1: the module's version (as the doctor reads it), the
        RetentionPeriods, each part's error by its exception's type, and with LithnetRMA
        `Get-ResourceCount -XPath persons_xpath`: the number of objects the query matches,
        which the account may read (RMA GetResourceCount.cs; what a search returns is what
        the account may read). FIMAutomation has no count cmdlet (PSD FIMAutomation.md lists
        Compare-, Export-, Import-, Join-FIMConfig, ConvertFrom-/ConvertTo-FIMResource and the
        AuthenticationWorkflow cmdlets): the script counts nothing then, and the stand-in
        refuses a persons_xpath it would not use."""
        lithnet = args["module"] == "lithnetrma"
        try:
            retention: dict[str, Any] = {"periods": self._periods(args, "retention_xpath")}
        except PowerShellError as exc:
            retention = {"periods": [], "error": exc.type}
        persons: dict[str, Any] = {"count": None}
        if lithnet:
            try:
                object_type, found = self._select(args.get("persons_xpath"))
                if object_type != "Person":
                    raise invalid_xpath()
                persons = {"count": len(found)}
            except PowerShellError as exc:
                persons = {"count": None, "error": exc.type}
        elif "persons_xpath" in args:
            raise PowerShellError(
                "System.ArgumentException", "persons_xpath is for LithnetRMA", "InvalidArgument"
            )
        return {
            "version": LITHNET_VERSION if lithnet else FIM_VERSION,
            "retention": retention,
            "persons": persons,
        }


def _composite_format(template: Any, value: str) -> str:
    """PowerShell's `template -f value` (.NET String.Format), for the one form the scripts
    use: `{0}` placeholders and no other brace (`{{`, `{1}`, `{0:x}` are refused here, as a
    FormatException, where .NET would read them otherwise)."""
    if not isinstance(template, str) or "{0}" not in template:
        raise _format_error()
    if "{" in template.replace("{0}", "") or "}" in template.replace("{0}", ""):
        raise _format_error()
    return template.replace("{0}", value)


def _format_error() -> PowerShellError:
    return PowerShellError(
        "System.FormatException",
        "Input string was not in a correct format.",
        "NotSpecified",
        "FormatException",
    )


def _date(value: Any) -> str | None:
    """ConvertTo-MimbotDate: a datetime as ISO in UTC."""
    if value is None or value == "":
        return None
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)
