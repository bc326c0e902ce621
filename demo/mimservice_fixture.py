"""A MIM Service's state, answering connectors/scripts/mimservice_*.ps1 on a `WsmanStub`.

    fixture = MimServiceFixture(retention_days=30)
    jane = fixture.add_person(AccountName="jdoe", DisplayName="Jane Doe", Email="jane@x.test")
    fixture.install(stub)   # stub.handlers["mimservice_search"] = ..., and the rest

Each handler reads the script's decoded JSON arguments, as the script reads `$MimbotArgs`, and
answers what the script would print. XPath is parsed strictly, and only in the forms
connectors/mimservice/connector.py writes: `/Type`, or `/Type[c or c …]` with each `c` either
`Attr = 'v'` or `starts-with(Attr, 'v')` (either quote kind, no escapes). Anything else, or an
attribute the type does not have, is the service's "invalid XPath" error. Strings compare
case-insensitively and `%` in `starts-with` is a wildcard, as in the service.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.wsman_stub import PowerShellError, WsmanStub

PERSON_ATTRIBUTES = frozenset(
    {
        "ObjectID", "AccountName", "Domain", "DisplayName", "FirstName", "MiddleName",
        "LastName", "Email", "MailNickname", "EmployeeID", "EmployeeType", "JobTitle",
        "Department", "Company", "Manager", "OfficePhone", "MobilePhone", "OfficeLocation",
        "Address", "City", "PostalCode", "Country", "ObjectSID", "CreatedTime", "MVObjectID",
        "AuthNWFRegistered", "AuthNWFLockedOut", "msidmOneTimePasswordEmailAddress",
        "msidmOneTimePasswordMobilePhone", "LastResetAttemptTime",
    }
)  # fmt: skip
TYPES = {
    "Person": PERSON_ATTRIBUTES,
    "Request": frozenset({"ObjectID", "Target", "Creator", "CreatedTime", "msidmCompletedTime"}),
    "SystemResourceRetentionConfiguration": frozenset({"ObjectID", "RetentionPeriod"}),
}
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_LITERAL = r"'([^']*)'|\"([^\"]*)\""
_PATH = re.compile(rf"/({_NAME})(?:\[(.+)\])?", re.S)
_EQUALS = re.compile(rf"({_NAME}) = (?:{_LITERAL})", re.S)
_STARTS = re.compile(rf"starts-with\(({_NAME}), (?:{_LITERAL})\)", re.S)
MODULES = frozenset({"fimautomation", "lithnetrma"})

Clause = tuple[str, str, str]  # ("=" | "starts-with", attribute, value)


def invalid_xpath() -> PowerShellError:
    return PowerShellError(
        "Microsoft.ResourceManagement.WebServices.Exceptions.InvalidXPathException",
        "The XPath filter is not valid: the filter could not be parsed.",
        "InvalidArgument",
        "ExportConfig,Microsoft.ResourceManagement.Automation.ExportConfig",
    )


def parse_xpath(text: Any) -> tuple[str, list[Clause]]:
    """(object type, clauses OR'ed); `PowerShellError` for anything else."""
    m = _PATH.fullmatch(text) if isinstance(text, str) else None
    if m is None or m.group(1) not in TYPES:
        raise invalid_xpath()
    object_type, body = m.group(1), m.group(2)
    clauses: list[Clause] = []
    pos = 0
    while body is not None:
        op, c = "=", _EQUALS.match(body, pos)
        if c is None:
            op, c = "starts-with", _STARTS.match(body, pos)
        if c is None:
            raise invalid_xpath()
        value = c.group(2) if c.group(2) is not None else c.group(3)
        if c.group(1) not in TYPES[object_type]:
            raise invalid_xpath()
        clauses.append((op, c.group(1), value))
        pos = c.end()
        if pos == len(body):
            break
        if not body.startswith(" or ", pos):
            raise invalid_xpath()
        pos += 4
    return object_type, clauses


def _values(obj: dict[str, Any], attribute: str) -> list[str]:
    v = obj.get(attribute)
    return [] if v is None else [str(x) for x in (v if isinstance(v, list | tuple) else [v])]


def matches(obj: dict[str, Any], clauses: list[Clause]) -> bool:
    if not clauses:
        return True
    for op, attribute, want in clauses:
        held = [v.casefold() for v in _values(obj, attribute)]
        if op == "=" and want.casefold() in held:
            return True
        if op == "starts-with":
            pattern = ".*".join(re.escape(p) for p in want.casefold().split("%"))
            if any(re.match(pattern, v, re.S) for v in held):
                return True
    return False


@dataclass
class MimServiceFixture:
    """Persons (ObjectID -> attributes), Requests and the retention configuration."""

    retention_days: int | None = 30  # None: no SystemResourceRetentionConfiguration at all
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def add_person(self, **attributes: Any) -> str:
        object_id = str(uuid.uuid4())
        self.persons[object_id] = {"ObjectID": object_id, **attributes}
        return object_id

    def add_request(self, target: str, *, age_days: float = 1.0, completed: bool = True) -> None:
        created = self.clock() - timedelta(days=age_days)
        self.requests.append(
            {
                "ObjectID": str(uuid.uuid4()),
                "Target": target,
                "CreatedTime": created.isoformat(),
                "msidmCompletedTime": created.isoformat() if completed else None,
            }
        )

    def install(self, stub: WsmanStub) -> None:
        for name in ("search", "read", "delete", "update", "retention", "requests"):
            stub.handlers[f"mimservice_{name}"] = self._handler(name)

    # -- the scripts ----------------------------------------------------------

    def _handler(self, name: str) -> Callable[[Any], Any]:
        method = getattr(self, f"_{name}")

        def handle(args: Any) -> Any:
            if not isinstance(args, dict) or args.get("module") not in MODULES:
                raise PowerShellError(
                    "System.ArgumentException", "bad arguments", "InvalidArgument"
                )
            if not isinstance(args.get("uri"), str):
                raise PowerShellError("System.ArgumentException", "no -Uri", "InvalidArgument")
            self.calls.append((name, args))
            return method(args)

        return handle

    def _select(self, text: Any) -> tuple[str, list[dict[str, Any]]]:
        object_type, clauses = parse_xpath(text)
        pool = {
            "Person": list(self.persons.values()),
            "Request": self.requests,
            "SystemResourceRetentionConfiguration": [self._retention_object()]
            if self.retention_days is not None
            else [],
        }[object_type]
        return object_type, [o for o in pool if matches(o, clauses)]

    def _retention_object(self) -> dict[str, Any]:
        return {
            "ObjectID": "8d6e1a2b-0000-4000-8000-000000000030",
            "RetentionPeriod": self.retention_days,
        }

    def _search(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        _, found = self._select(args.get("xpath"))
        wanted = set(args.get("attributes") or ())
        out = []
        for o in found[: int(args.get("max") or 0)]:
            attributes = {
                k: _values(o, k)
                for k in o
                if _values(o, k) and (args["module"] == "fimautomation" or k in wanted)
            }
            # Export-FIMConfig names objects by urn:uuid:, Lithnet by the bare GUID
            prefix = "urn:uuid:" if args["module"] == "fimautomation" else ""
            out.append({"id": prefix + o["ObjectID"], "attributes": attributes})
        return out

    def _read(self, args: dict[str, Any]) -> dict[str, Any]:
        _, found = self._select(args.get("xpath"))
        _, requests = self._select(args.get("requests_xpath"))
        if not found:
            return {"found": False, "attributes": {}, "requests": 0}
        person = found[0]
        return {
            "found": True,
            "attributes": {k: _values(person, k) for k in person if _values(person, k)},
            "requests": len(requests),
        }

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
        person = self.persons.get(args.get("id")) if isinstance(args.get("id"), str) else None
        if person is None:
            raise PowerShellError(
                "Microsoft.ResourceManagement.WebServices.Exceptions.ResourceNotFoundException",
                "The requested resource was not found: no object has that identifier.",
                "ObjectNotFound",
                "ImportConfig,Microsoft.ResourceManagement.Automation.ImportConfig",
            )
        changes = args.get("changes")
        if not isinstance(changes, list) or not changes:
            raise PowerShellError("System.ArgumentException", "no changes", "InvalidArgument")
        for change in changes:
            name = change.get("attribute") if isinstance(change, dict) else None
            value = change.get("value") if isinstance(change, dict) else None
            if (
                name not in PERSON_ATTRIBUTES
                or name == "ObjectID"
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

    def _retention(self, args: dict[str, Any]) -> dict[str, Any]:
        _, configs = self._select(args.get("xpath"))
        return {"periods": [c["RetentionPeriod"] for c in configs]}

    def _requests(self, args: dict[str, Any]) -> dict[str, Any]:
        _, found = self._select(args.get("xpath"))
        _, configs = self._select(args.get("retention_xpath"))
        return {
            "requests": [
                {"created": r["CreatedTime"], "completed": r["msidmCompletedTime"]} for r in found
            ],
            "periods": [c["RetentionPeriod"] for c in configs],
        }
