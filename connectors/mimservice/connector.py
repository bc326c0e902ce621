"""The MIM Service (what the Portal shows): Persons, their SSPR registration and the Requests
that target them, through PowerShell on the MIM server (connectors/_shared/powershell.py) with the
FIMAutomation snap-in (`Export-FIMConfig`, `Import-FIMConfig`) or, by setting, LithnetRMA.
Rectification (`Updates`) is in connectors/mimservice/update.py; reading and opting out of
the server's CEIP telemetry (`MimServerTelemetry`), shared with PAM, in connectors/_shared/ceip.py.

Searches are FIM XPath filters built here, of exactly these forms (the loopback fixture in
demo/mimservice_fixture.py parses no others):

    /Person[Email = 'a@b.test' or EmployeeID = "O'x" or starts-with(DisplayName, 'Zo')]
    /Request[Target = '<guid>']          /SystemResourceRetentionConfiguration
    /BindingDescription[BoundObjectType = /ObjectTypeDescription[Name = 'Person']]
    /AttributeTypeDescription            (the last two: `doctor` only)

`search_records` also sends the Request filter as the template `/Request[Target = '{0}']`,
which mimservice_search.ps1 fills (`-f`) with each found Person's ObjectID cast to [guid]: the
one filter completed on the server, and only ever with a GUID.

FIM XPath has no escape inside a literal: a value is delimited by `'` unless it holds one,
then by `"`; a value holding both cannot be written and is refused (`NotSupported`). The
filter travels to PowerShell only as data, in the runner's JSON arguments. The service reads
`%` in `starts-with` as a wildcard (`starts-with(A, '%')` means "has a value"), so a prefix
holding `%` is refused, and every object the service returns is checked here against the
clauses that asked for it: a wildcard the service honours (`_`, unverified) never widens a
search. The service compares case-insensitively; so does that check.
"""

from __future__ import annotations

import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pydantic.dataclasses
from pydantic import Field

from connectors._shared import ceip as telemetry
from connectors._shared.powershell import PowerShellRunner, ScriptError, WinRmSettings
from connectors.base import (
    RANK_TARGET,
    AttributeValue,
    Capability,
    Change,
    DeletePlan,
    Health,
    Hit,
    HitRecord,
    IdKind,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
    ResidualCopy,
    StepResult,
    UpdatePlan,
    Verification,
)
from connectors.capabilities import RetentionPeriod
from connectors.datamap import KeptCopy, SystemInventory, held
from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import (
    ConnectorError,
    Denied,
    NotFound,
    NotSupported,
    TimedOut,
    Unreachable,
)
from connectors.mimservice import update as mimservice_update
from connectors.spec import SETTINGS
from connectors.spelling import spellings
from connectors.telemetry import CeipReading

__all__ = ["MimServiceConnector", "MimServiceSettings", "literal"]

# After the source of authority (AD, HR: RANK_SOURCE/RANK_TARGET), before the metaverse wait.
RANK_MIMSERVICE = RANK_TARGET + 10
RETENTION_XPATH = "/SystemResourceRetentionConfiguration"
# The purge that removes expired Requests, WorkflowInstances and Approvals (SQLJ: "FIM SQL
# Agent jobs", previous-versions/mim/ff830030): a SQL Server Agent job, daily by default.
PURGE_JOB = "the SQL Agent job FIM_DeleteExpiredSystemObjectsJob"
# A default install ships one SystemResourceRetentionConfiguration (MIMDocs
# mim-privacy-compliance.md, its srrc screenshot; MIMDSC's Test-SystemResourceRetentionConfiguration
# example), so seeing none means the account may not read it, not that none exists.
RETENTION_UNREADABLE = (
    "no SystemResourceRetentionConfiguration is visible to the bot's account (a default install"
    " has one): the RetentionPeriod is unknown; grant the account read on it through an MPR"
)
# The attributes the schema binds to Person (doctor): MIMDSC Test-MimSvcTargetResource.ps1
# finds a binding as /BindingDescription[BoundAttributeType=/AttributeTypeDescription[Name=…]
# and BoundObjectType=/ObjectTypeDescription[Name=…]]; this asks for all of Person's at once.
BINDINGS_XPATH = "/BindingDescription[BoundObjectType = /ObjectTypeDescription[Name = 'Person']]"
TYPES_XPATH = "/AttributeTypeDescription"
OTP_ATTRIBUTES = ("msidmOneTimePasswordEmailAddress", "msidmOneTimePasswordMobilePhone")
# SSPR state (MIMDSC MimSvcPerson.schema.mof): the workflows registered for and locked out of
# (references), the one-time-password addresses, and the lockout registration ids.
SSPR_ATTRIBUTES = (
    "AuthNWFRegistered",
    *OTP_ATTRIBUTES,
    "AuthNWFLockedOut",
    "AuthNLockoutRegistrationID",
)
# What a hit carries; LithnetRMA fetches only these (Export-FIMConfig returns every attribute).
HIT_ATTRIBUTES = ("ObjectID", "AccountName", "Domain", "DisplayName", "Email", "EmployeeID")
_ID_KINDS = {
    "AccountName": IdKind.ACCOUNT,
    "Domain": IdKind.DOMAIN,
    "Email": IdKind.MAIL,
    "EmployeeID": IdKind.EMPLOYEE_ID,
    "DisplayName": IdKind.DISPLAY_NAME,
}
# QueryKind.ATTRIBUTE: the Person attributes it searches, by lower-case name or AD alias.
SEARCHABLE = {
    **{
        a.lower(): a
        for a in (
            "AccountName",
            "DisplayName",
            "Email",
            "EmployeeID",
            "FirstName",
            "LastName",
            "MailNickname",
            "MobilePhone",
            "OfficePhone",
            *OTP_ATTRIBUTES,
        )
    },
    "samaccountname": "AccountName",
    "mail": "Email",
    "givenname": "FirstName",
    "sn": "LastName",
    "mobile": "MobilePhone",
    "telephonenumber": "OfficePhone",
}
# verify_absent: the identifiers it re-searches by (a UPN is looked for in Email).
_VERIFY_BY = {
    IdKind.ACCOUNT: "AccountName",
    IdKind.MAIL: "Email",
    IdKind.UPN: "Email",
    IdKind.EMPLOYEE_ID: "EmployeeID",
}
# Every Person attribute the bot reads, searches, shows or writes (ObjectID is every
# resource's own, REQ), each in MIMDSC's MimSvcPerson.schema.mof: doctor asks the schema.
PERSON_SCHEMA_ATTRIBUTES = tuple(
    sorted(
        {*HIT_ATTRIBUTES, *SEARCHABLE.values(), *SSPR_ATTRIBUTES, *mimservice_update.WRITABLE}
        - {"ObjectID"}
    )
)
# The data map (`inventory`): what a Person holds is what the bot reads, shows or writes.
INVENTORY_ATTRIBUTES = ("ObjectID", *PERSON_SCHEMA_ATTRIBUTES)
PERSONS_XPATH = "/Person"  # only ever passed to Get-ResourceCount (LithnetRMA)
# The Requests targeting a Person, `{0}` its ObjectID: mimservice_search.ps1 puts there only a
# value it cast to [guid] (`-f`), so the filter is `/Request[Target = '<guid>']`, as `read`'s.
REQUESTS_BY_TARGET = "/Request[Target = '{0}']"
TECHNOLOGY = "PowerShell over WinRM (FIMAutomation | LithnetRMA)"
KEPT_WHAT = "Requests and SSPR data about a deleted Person"
KEPT_ERASURE = (
    "the Person is deleted; its Requests go when FIM_DeleteExpiredSystemObjectsJob purges them"
)
RETENTION_UNKNOWN = "unknown (the account cannot read the retention configuration)"
NO_FIM_COUNT = (
    "Persons are not counted with FIMAutomation: it has no count cmdlet, and Export-FIMConfig"
    " of /Person would return every attribute of every Person (it selects none); with"
    " module: lithnetrma, Get-ResourceCount counts them"
)
NO_REQUESTS_FOUND = (
    "no Request targeting the deleted ObjectID was found, which does not show that none is"
    " kept: whether the MIM Service finds Requests by a deleted Target is unverified. Check in"
    " the Portal (Search Requests, by the erasure's date) for Requests about the person"
)
_DOCTOR_ERROR = 300  # characters of a doctor script's error kept in a check's detail
_GUID = re.compile(r"(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
# What service_uri may be, by module. FIMAutomation: the MIM Service listens on http 5725 with
# WCF message security; no public source shows it over https (mim-apis-checked 9.9).
# LithnetRMA (lithnet/resourcemanagement-client connection-guide.md, README's mode table):
# http:// is DirectWsHttp (.NET Framework, so Windows PowerShell 5.1); net.tcp:// needs the
# service's net.tcp endpoints enabled, rmc:// the Lithnet proxy service on the MIM server.
_SERVICE_SCHEMES = {
    "fimautomation": ("http://",),
    "lithnetrma": ("http://", "net.tcp://", "rmc://"),
}
_REFUSED_SCHEMES = {
    ("fimautomation", "https://"): "the MIM Service listens on http (port 5725, message-level"
    " security) and no public source shows FIMAutomation over https: use http://",
    ("lithnetrma", "https://"): "LithnetRMA has no https mode (its client forces http:"
    " resourcemanagement-client UriParser.cs): use http://",
    ("lithnetrma", "pipe://"): "pipe:// (LithnetRMA's LocalProxy) needs PowerShell 7, and the"
    " bot runs Windows PowerShell 5.1: use http://",
}
SCHEME_NOTES = {
    "net.tcp://": "net.tcp:// needs the MIM Service's net.tcp endpoints enabled on the server",
    "rmc://": "rmc:// needs the Lithnet Resource Management proxy service on the MIM server",
}
MODULE_NAMES = {"fimautomation": "FIMAutomation snap-in", "lithnetrma": "LithnetRMA module"}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

Clause = tuple[Literal["=", "starts-with"], str, str]  # (operator, attribute, value)
Clock = Callable[[], datetime]


@pydantic.dataclasses.dataclass(frozen=True, config=SETTINGS)
class MimServiceSettings:
    """Where the MIM Service is and how to reach it: `winrm` names the MIM server,
    `service_uri` the MIM Service as seen from there, `module` the PowerShell module the
    scripts use. Each call's deadline is the caller's `timeout`, at most `timeout` seconds.
    `management_agent`: the MIM Service MA's name in the Sync Service, if it has one.
    `message_size`: Export-FIMConfig's `-MessageSize` in bytes (FIMAutomation only), for
    Persons whose Photo makes an answer larger than the cmdlet's default.

    A `service_uri` that is not localhost is a second hop from the WinRM session: it needs
    `winrm.delegates` (credssp, or kerberos with kerberos_delegation). Raises `ValueError`
    for a setting that cannot work.
    """

    winrm: WinRmSettings
    service_uri: str = "http://localhost:5725"
    module: Literal["fimautomation", "lithnetrma"] = "fimautomation"
    label: str = "MIM Service"
    max_hits: int = Field(default=200, ge=1)
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    name: str = "mimservice"
    management_agent: str | None = None
    message_size: int | None = Field(default=None, gt=0)

    def __post_init__(self) -> None:
        if self.module not in _SERVICE_SCHEMES:
            raise ValueError("module must be fimautomation or lithnetrma")
        uri = self.service_uri.lower()
        for (module, scheme), why in _REFUSED_SCHEMES.items():
            if module == self.module and uri.startswith(scheme):
                raise ValueError(f"service_uri: {why}")
        if not uri.startswith(_SERVICE_SCHEMES[self.module]):
            schemes = ", ".join(_SERVICE_SCHEMES[self.module])
            raise ValueError(f"service_uri must start with one of {schemes} for {self.module}")
        if self.second_hop and not self.winrm.delegates:
            raise ValueError(
                "service_uri names another machine than localhost: reaching it from the WinRM"
                " session is a second hop, which needs delegation; set winrm transport: credssp,"
                " or transport: kerberos with kerberos_delegation: true (or use localhost)"
            )

    @property
    def second_hop(self) -> bool:
        """Whether the MIM Service is on another machine than the WinRM session."""
        host = urllib.parse.urlsplit(self.service_uri).hostname or ""
        return host.lower() not in LOCAL_HOSTS

    @property
    def scheme_note(self) -> str:
        """What the server needs for `service_uri`'s scheme; empty when nothing extra."""
        uri = self.service_uri.lower()
        return next((n for s, n in SCHEME_NOTES.items() if uri.startswith(s)), "")


def literal(value: str) -> str:
    """`value` as a FIM XPath literal: `'…'`, or `"…"` when it holds `'`. FIM XPath has no
    escape, so a value holding both quote kinds is `NotSupported`."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise NotSupported("the term contains both quote kinds: search by account, mail or employee ID")


def xpath(object_type: str, clauses: Iterable[Clause] = ()) -> str:
    """`/Type[clause or clause …]`; each clause `A = 'v'` or `starts-with(A, 'v')`."""
    terms = [
        f"{attr} = {literal(v)}" if op == "=" else f"starts-with({attr}, {literal(v)})"
        for op, attr, v in clauses
    ]
    return f"/{object_type}[{' or '.join(terms)}]" if terms else f"/{object_type}"


class MimServiceConnector:
    """Persons in the MIM Service. Thread-safe as the runner is: each call borrows a shell."""

    capabilities = frozenset(
        {
            Capability.SEARCH,
            Capability.READ,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.VERIFY,
        }
    )

    def __init__(
        self,
        settings: MimServiceSettings,
        runner: PowerShellRunner | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self.runner = runner or PowerShellRunner(replace(settings.winrm, name=f"{self.name}-winrm"))
        self.management_agent = settings.management_agent
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- Connector interface ------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """Persons matching `query` (at most `max_hits`). `NotSupported` for an attribute
        outside the allow-list, a value holding both quote kinds, or a prefix holding `%`."""
        return [found.hit for found in self._search(query, 0, timeout=timeout)]

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        """`SearchesRecords`: the hits `search` gives, each with the record `read` gives when
        the service found at most `limit` Persons: one `mimservice_search` script, which then
        also counts each one's Requests (and, with LithnetRMA, fetches all its attributes),
        as `mimservice_read` does. A Person whose part failed has no record (`read` then
        says why). `NotSupported` and nothing sent as for `search`."""
        return self._search(query, limit, timeout=timeout)

    def _search(self, query: Query, limit: int, *, timeout: float) -> list[HitRecord]:
        clauses = self._clauses(query)
        if not query.value.strip() or "\x00" in query.value:
            return []
        path = xpath("Person", clauses)  # NotSupported before anything is sent
        attributes = sorted({*HIT_ATTRIBUTES, *(attr for _, attr, _ in clauses)})
        objects = self._find(path, attributes, timeout=timeout, records=limit)
        found = [
            HitRecord(self._hit(o), self._record(ObjectRef(self.name, o["id"]), o))
            for o in objects
            if _matches(o["attributes"], clauses)
        ]
        found.sort(key=lambda f: (f.hit.label.casefold(), f.hit.ref.id))
        return found[: self.settings.max_hits]

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """Every attribute of the Person with ObjectID `ref.id`, its SSPR registration state
        and how many Requests target it (not their content); `NotFound` when there is none."""
        guid = _guid(ref)
        data = self._run(
            "mimservice_read",
            xpath=xpath("Person", [("=", "ObjectID", guid)]),
            requests_xpath=xpath("Request", [("=", "Target", guid)]),
            timeout=timeout,
        )
        if not isinstance(data, dict) or not isinstance(data.get("found"), bool):
            raise ConnectorError("mimservice_read: unexpected output: not a read result")
        if not data["found"]:
            raise NotFound("no MIM Service Person has that ObjectID")
        record = self._record(ref, {**data, "attributes": _values(data.get("attributes"))})
        if record is None:
            raise ConnectorError("mimservice_read: unexpected output: no Request count")
        return record

    def _record(self, ref: ObjectRef, data: Mapping[str, Any]) -> Record | None:
        """The Record of a Person from its `attributes` (as `_values` reads them) and its
        `requests` count; None without a count (a search that did not read the Person)."""
        count = data.get("requests")
        if not isinstance(count, int) or isinstance(count, bool):
            return None
        values = data["attributes"]
        attrs = {k: AttributeValue(v, source=self.name) for k, v in sorted(values.items())}
        attrs["SSPR registration"] = AttributeValue(_sspr(values), source=self.name)
        attrs["Requests targeting the person"] = AttributeValue((str(count),), source=self.name)
        return Record(ref=ref, attributes=attrs)

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Delete the Person; its Requests and SSPR data stay until RetentionPeriod days
        from now (undated when the account cannot read the RetentionPeriod). `NotFound`
        when there is no such Person."""
        guid = _guid(ref)
        if not self._find(
            xpath("Person", [("=", "ObjectID", guid)]), ["ObjectID"], timeout=timeout
        ):
            raise NotFound("no MIM Service Person has that ObjectID")
        what = "MIM Service Requests and SSPR data about the person"
        purge = f"{PURGE_JOB} purges them once they expire"
        try:
            days: int | None = self.retention_period(timeout=timeout).days
        except Denied:
            days = None
        if days is None:
            residual = ResidualCopy(
                f"{what}, kept until the retention job removes them; when is unknown: the"
                " RetentionPeriod is not readable"
            )
            note = f"The MIM Service's RetentionPeriod is unknown ({RETENTION_UNREADABLE})."
        else:
            residual = ResidualCopy(
                f"{what}, kept until the retention job removes them",
                expires=self._clock() + timedelta(days=days),
            )
            note = f"The MIM Service keeps Requests for {days} days (RetentionPeriod)."
        return DeletePlan(
            ref,
            PlanAction.DELETE,
            "Delete the Person in the MIM Service",
            residuals=(residual,),
            authority_rank=RANK_MIMSERVICE,
            notes=(f"{note} {purge[0].upper()}{purge[1:]}.",),
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """Delete the Person (ImportObject State=Delete, or Remove-Resource). Idempotent:
        a Person already gone is `already_absent`."""
        if plan.ref.system != self.name or plan.action is not PlanAction.DELETE:
            raise NotSupported("not a MIM Service delete plan")
        try:
            guid = _guid(plan.ref)
        except NotFound:
            return StepResult(plan.ref, done=True, already_absent=True, detail="not an ObjectID")
        data = self._run(
            "mimservice_delete",
            id=guid,
            xpath=xpath("Person", [("=", "ObjectID", guid)]),
            timeout=timeout,
        )
        if not isinstance(data, dict) or not isinstance(data.get("deleted"), bool):
            raise ConnectorError("mimservice_delete: unexpected output: not a delete result")
        if not data["deleted"]:
            return StepResult(plan.ref, done=True, already_absent=True, detail="already gone")
        return StepResult(plan.ref, done=True, detail="deleted the Person")

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Search by ObjectID, account, mail (and UPN, in Email) and employee ID; residuals:
        the Requests still targeting the deleted ObjectID, with the date they expire. None
        found is not "none kept": whether the service finds Requests by a deleted Target is
        unverified, so the detail says what to check instead."""
        guid = _guid_or_none(identifiers.get(IdKind.MIM_OBJECT_ID))
        clauses: list[Clause] = [("=", "ObjectID", guid)] if guid else []
        usable = IdKind.MIM_OBJECT_ID in identifiers
        skipped: list[str] = []
        for kind, attr in _VERIFY_BY.items():
            value = identifiers.get(kind)
            if value is None:
                continue
            usable = True
            if "'" in value and '"' in value:
                skipped.append(kind.value)  # cannot be written as a FIM XPath literal
            elif value.strip() and "\x00" not in value:
                clauses += [("=", attr, s) for s in spellings(value)]
        if not usable or (skipped and not clauses):
            raise NotSupported("no identifier the MIM Service can search by")
        # No clause (only empty values, or an id that is no GUID): nothing can match, and
        # a bare `/Person` would export everyone.
        found = (
            self._find(xpath("Person", clauses), list(HIT_ATTRIBUTES), timeout=timeout)
            if clauses
            else []
        )
        remaining = tuple(
            sorted(
                {
                    ObjectRef(self.name, o["id"])
                    for o in found
                    if _matches(o["attributes"], clauses)
                },
                key=lambda r: r.id,
            )
        )
        residuals: tuple[ResidualCopy, ...] = ()
        details = [f"not checked: {', '.join(skipped)} (both quote kinds)"] if skipped else []
        if guid and ObjectRef(self.name, guid) not in remaining:
            residuals = self._request_residuals(guid, timeout=timeout)
            if not residuals:
                details.append(NO_REQUESTS_FOUND)
        return Verification(self.name, not remaining, remaining, residuals, "; ".join(details))

    def plan_update(
        self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float
    ) -> UpdatePlan:
        """Set or clear `mimservice_update.WRITABLE` attributes of the Person. `NotSupported`
        for another attribute or a value the service cannot take, and `NotFound` for a ref
        that is no GUID, with nothing sent; `NotFound` when there is no such Person."""
        guid = _guid(ref)
        wanted = mimservice_update.wanted(changes)
        if self._person(guid, (), timeout=timeout) is None:
            raise NotFound("no MIM Service Person has that ObjectID")
        return mimservice_update.plan(ref, wanted)

    def apply_update(self, plan: UpdatePlan, *, timeout: float) -> StepResult:
        """One `mimservice_update` script with the values the Person does not show yet
        (`already set` when none), read back: `done=False` naming the attributes the
        service shows other values for. Its three calls share the one `timeout`."""
        if plan.ref.system != self.name:
            raise NotSupported("not a MIM Service update plan")
        guid = _guid(plan.ref)
        wanted = mimservice_update.wanted(plan.changes)  # a stored plan is checked again
        deadline = time.monotonic() + timeout

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimedOut("the MIM Service update did not finish within its deadline")
            return remaining

        def send(todo: tuple[Change, ...]) -> None:
            changes = [{"attribute": c.attribute, "value": c.value} for c in todo]
            data = self._run("mimservice_update", id=guid, changes=changes, timeout=left())
            if not isinstance(data, dict) or data.get("updated") != len(todo):
                raise ConnectorError("mimservice_update: unexpected output: not an update result")

        return mimservice_update.apply(
            plan.ref, wanted, lambda attrs: self._person(guid, attrs, timeout=left()), send
        )

    def health(self, *, timeout: float) -> Health:
        """The runner's ping, then the retention configuration: the MIM Service answers,
        and its RetentionPeriod is readable (not healthy when it is not: see
        `retention_period`)."""
        ping = self.runner.health(timeout=min(timeout, self.settings.timeout))
        if not ping.ok:
            return Health(self.name, False, ping.detail)
        try:
            days = self.retention_period(timeout=timeout).days
        except ConnectorError as exc:
            return Health(self.name, False, f"{ping.detail}; {exc.__class__.__name__}: {exc}")
        return Health(
            self.name,
            True,
            f"{ping.detail}; the MIM Service answered ({self.settings.module},"
            f" RetentionPeriod {days} days)",
        )

    # -- SelfChecks ---------------------------------------------------------------

    def doctor(self, *, timeout: float) -> list[Check]:
        """Read-only checks of what this connector assumes of a live MIM Service: Windows
        PowerShell 5.1 over WinRM and, for a remote `service_uri`, delegation (the runner's
        checks); then, in one `mimservice_doctor` script, that the module loads (and its
        version), the RetentionPeriod is readable, the schema binds to Person every
        attribute the bot reads or writes, and `service_uri`'s scheme works for the module.
        Never raises for the system's errors; the whole stays within `timeout`."""
        deadline = time.monotonic() + timeout
        s = self.settings
        checks = self.runner.doctor(
            need_second_hop=s.second_hop, timeout=min(timeout, s.timeout) / 2
        )
        loader = MODULE_NAMES[s.module]
        module = f"{loader} loads"
        retention = "the RetentionPeriod is readable"
        schema = "the schema binds to Person the attributes the bot uses"
        scheme = f"service_uri ({urllib.parse.urlsplit(s.service_uri).scheme}://) suits {loader}"
        names = (module, retention, schema, scheme)
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimedOut("no time was left for the MIM Service checks")
            data = self._run(
                "mimservice_doctor",
                retention_xpath=RETENTION_XPATH,
                bindings_xpath=BINDINGS_XPATH,
                types_xpath=TYPES_XPATH,
                timeout=left,
            )
        except ConnectorError as exc:
            why = f"{exc.__class__.__name__}: {exc}"
            fix = f"check that the WinRM account can run PowerShell on {s.winrm.endpoint}"
            return checks + [cannot_tell(n, why, fix) for n in names]
        return checks + _doctor_checks(data, names, s)

    def close(self) -> None:
        self.runner.close()

    # -- MimServerTelemetry -----------------------------------------------------

    def telemetry_endpoint(self) -> str:
        """The MIM server's WinRM endpoint."""
        return self.settings.winrm.endpoint

    def read_ceip(self, *, timeout: float) -> CeipReading:
        """The MIM server's CEIP values (connectors/_shared/ceip.py)."""
        return telemetry.read_ceip(self.runner, timeout=min(timeout, self.settings.timeout))

    def disable_ceip(self, *, timeout: float) -> CeipReading:
        """Every CEIP value on the MIM server set to 0, read back."""
        return telemetry.disable_ceip(self.runner, timeout=min(timeout, self.settings.timeout))

    # -- queries --------------------------------------------------------------

    def _clauses(self, query: Query) -> list[Clause]:
        if query.kind is QueryKind.ATTRIBUTE:
            attribute = SEARCHABLE.get((query.attribute or "").lower())
            if attribute is None:
                raise NotSupported("does not search on that attribute")
            return [("=", attribute, s) for s in spellings(query.value)]
        if query.kind is QueryKind.PREFIX:
            if "%" in query.value:
                raise NotSupported("the MIM Service reads % in a prefix as a wildcard")
            return [
                ("starts-with", attr, s)
                for s in spellings(query.value)
                for attr in ("DisplayName", "AccountName")
            ]
        attrs = {
            QueryKind.MAIL_OR_UPN: ("Email",),
            QueryKind.EMPLOYEE_ID: ("EmployeeID",),
            QueryKind.NAME: ("AccountName", "DisplayName"),
        }[query.kind]
        return [("=", attr, s) for s in spellings(query.value) for attr in attrs]

    def _find(
        self, path: str, attributes: list[str], *, timeout: float, records: int = 0
    ) -> list[dict[str, Any]]:
        """The objects `path` matches: {id, attributes}, and `requests` on each the script
        read as `mimservice_read` does (asked for with `records`: when it found at most that
        many; `requests_xpath` has `{0}` where the script puts the ObjectID, as a GUID)."""
        extra: dict[str, Any] = {}
        if records > 0:
            extra = {"records": records, "requests_xpath": REQUESTS_BY_TARGET}
        data = self._run(
            "mimservice_search",
            xpath=path,
            attributes=attributes,
            max=self.settings.max_hits,
            timeout=timeout,
            **extra,
        )
        objects = [] if data is None else data if isinstance(data, list) else [data]
        found = []
        for o in objects:
            guid = _guid_or_none(o.get("id")) if isinstance(o, dict) else None
            if guid is None:
                raise ConnectorError("mimservice_search: unexpected output: an object without id")
            item = {"id": guid, "attributes": _values(o.get("attributes"))}
            if records > 0 and "requests" in o:
                item["requests"] = o["requests"]
            found.append(item)
        return found

    def _person(
        self, guid: str, attributes: Iterable[str], *, timeout: float
    ) -> dict[str, tuple[str, ...]] | None:
        """The Person's values of `attributes` (the search script, by ObjectID); None when
        there is no such Person."""
        found = self._find(
            xpath("Person", [("=", "ObjectID", guid)]),
            sorted({"ObjectID", *attributes}),
            timeout=timeout,
        )
        person = next((o for o in found if o["id"] == guid), None)
        return None if person is None else person["attributes"]

    def retention_period(self, *, timeout: float) -> RetentionPeriod:
        """`RetentionReporter`: the RetentionPeriod in days of the
        SystemResourceRetentionConfiguration (`configured` always: a default install has
        one). `Denied` when the account sees none: the period is then unknown, never
        assumed to be the default 30."""
        data = self._run("mimservice_retention", xpath=RETENTION_XPATH, timeout=timeout)
        days = _retention(data, "mimservice_retention")
        if days is None:
            raise Denied(RETENTION_UNREADABLE)
        return RetentionPeriod(days, True)

    # -- DescribesData ------------------------------------------------------------

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What the MIM Service holds, for the data map: the Person attributes the bot reads,
        shows or writes (SSPR's included), how many Persons (LithnetRMA's Get-ResourceCount;
        None with FIMAutomation, which cannot count without exporting every Person), the
        module's version, and the Requests and SSPR data kept for RetentionPeriod days
        after a Person is deleted (unknown when the account cannot read it). One read-only
        `mimservice_inventory` script; a part it could not read is a note, naming the
        error's type only. `ConnectorError`s as the other methods raise them."""
        s = self.settings
        args: dict[str, Any] = {"retention_xpath": RETENTION_XPATH}
        if s.module == "lithnetrma":
            args["persons_xpath"] = PERSONS_XPATH
        data = self._run("mimservice_inventory", timeout=timeout, **args)
        if not isinstance(data, dict):
            raise ConnectorError("mimservice_inventory: unexpected output: not a result")
        notes: list[str] = []
        version = data.get("version")
        version = _clip(version) if isinstance(version, str) and version else None

        retention = data.get("retention") if isinstance(data.get("retention"), dict) else {}
        days: int | None = None
        if retention.get("error"):
            notes.append(f"the RetentionPeriod could not be read ({_clip(retention['error'])})")
        else:
            days = _retention(retention, "mimservice_inventory")
            if days is None:
                notes.append(RETENTION_UNREADABLE)
        kept = KeptCopy(
            KEPT_WHAT,
            RETENTION_UNKNOWN if days is None else f"{days} days (RetentionPeriod)",
            KEPT_ERASURE,
            days,
        )

        persons: int | None = None
        part = data.get("persons") if isinstance(data.get("persons"), dict) else {}
        if s.module != "lithnetrma":
            notes.append(NO_FIM_COUNT)
        elif part.get("error"):
            notes.append(f"the Persons could not be counted ({_clip(part['error'])})")
        else:
            count = part.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ConnectorError("mimservice_inventory: unexpected output: no Person count")
            persons = count
        return SystemInventory(
            system=self.name,
            label=self.label,
            technology=TECHNOLOGY,
            attributes=held(INVENTORY_ATTRIBUTES),
            persons=persons,
            version=version,
            kept=(kept,),
            notes=tuple(notes),
        )

    def _request_residuals(self, guid: str, *, timeout: float) -> tuple[ResidualCopy, ...]:
        data = self._run(
            "mimservice_requests",
            xpath=xpath("Request", [("=", "Target", guid)]),
            retention_xpath=RETENTION_XPATH,
            timeout=timeout,
        )
        if not isinstance(data, dict):
            raise ConnectorError("mimservice_requests: unexpected output: not a result")
        requests = data.get("requests") or []
        requests = [r for r in (requests if isinstance(requests, list) else [requests])]
        if not requests:
            return ()
        if not all(isinstance(r, dict) for r in requests):
            raise ConnectorError("mimservice_requests: unexpected output: not a Request")
        now = self._clock()
        n = len(requests)
        verb = "targets" if n == 1 else "target"
        text = f"{n} MIM Service Request{'s' if n != 1 else ''} still {verb} the deleted Person"
        # Each Request's own ExpirationTime (REQ: every resource has one); where the service
        # set none, completion (or now) plus RetentionPeriod stands in, as an estimate.
        stated = [_when(r.get("expires")) for r in requests]
        estimated = [r for r, when in zip(requests, stated, strict=True) if when is None]
        days = _retention(data, "mimservice_requests") if estimated else None
        if estimated and days is None:
            text += (
                f", kept until {PURGE_JOB} removes them; when is unknown: they have no"
                " ExpirationTime and the RetentionPeriod is not readable"
            )
            return (ResidualCopy(text),)
        ends = [when for when in stated if when is not None]
        ends += [(_when(r.get("completed")) or now) + timedelta(days=days or 0) for r in estimated]
        expires = max(ends)
        if expires <= now:
            text += f", past their expiry: {PURGE_JOB} has not removed them yet"
        else:
            text += f", kept until {PURGE_JOB} removes them"
        if estimated:
            text += (
                " (expiry estimated as completion time plus RetentionPeriod: the service"
                " shows no ExpirationTime)"
            )
        else:
            text += " (expiry: their ExpirationTime)"
        return (ResidualCopy(text, expires=expires),)

    def _run(self, script: str, *, timeout: float, **args: Any) -> Any:
        s = self.settings
        common = {"module": s.module, "uri": s.service_uri}
        if s.message_size is not None:
            common["message_size"] = s.message_size
        try:
            return self.runner.run(script, {**common, **args}, timeout=min(timeout, s.timeout))
        except ScriptError as exc:
            raise _classify(exc) from exc

    def _hit(self, o: Mapping[str, Any]) -> Hit:
        values = o["attributes"]
        ids = {kind: values[a][0] for a, kind in _ID_KINDS.items() if values.get(a)}
        ids[IdKind.MIM_OBJECT_ID] = o["id"]
        name = ids.get(IdKind.DISPLAY_NAME) or ids.get(IdKind.ACCOUNT) or o["id"]
        account = ids.get(IdKind.ACCOUNT)
        label = f"{name} ({account})" if account and account != name else name
        return Hit(ObjectRef(self.name, o["id"]), label, ids)


# -- mapping ------------------------------------------------------------------


def _classify(exc: ScriptError) -> ConnectorError:
    """A PowerShell error as the most specific connector error; its text is already redacted."""
    kind = f"{exc.type} {exc.category} {exc.fqid}".lower()
    # LithnetRMA's Get-Resource throws ResourceNotFoundException for an unknown id
    # (resourcemanagement-powershell GetResource.cs; resourcemanagement-client
    # Exceptions/ResourceNotFoundException.cs); the MIM Service's own fault has the same name.
    if "resourcenotfoundexception" in kind:
        return NotFound("no MIM Service resource has that ObjectID")
    if "permissiondenied" in kind or "unauthorizedaccess" in kind or "authorization" in kind:
        return Denied(str(exc))
    if "endpointnotfound" in kind or "communicationexception" in kind:
        return Unreachable(str(exc))
    return ConnectorError(str(exc))


def _guid_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    m = _GUID.fullmatch(value.strip().lower())
    return str(uuid.UUID(m.group(1))) if m else None


def _guid(ref: ObjectRef) -> str:
    guid = _guid_or_none(ref.id)
    if guid is None:
        raise NotFound("not a MIM Service ObjectID")
    return guid


def _values(raw: object) -> dict[str, tuple[str, ...]]:
    """{name: values} from a script's attributes, references without their `urn:uuid:`."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        items = value if isinstance(value, list) else [value]
        strings = tuple(
            str(v)[9:] if str(v).lower().startswith("urn:uuid:") else str(v)
            for v in items
            if v is not None and str(v) != ""
        )
        if strings:
            out[str(name)] = strings
    return out


def _matches(values: Mapping[str, tuple[str, ...]], clauses: list[Clause]) -> bool:
    """Whether an object the service returned satisfies one clause, compared as it does."""
    for op, attr, want in clauses:
        w = want.casefold()
        held = [v.casefold() for v in values.get(attr, ())]
        if attr == "ObjectID":
            held = [g for g in (_guid_or_none(v) for v in values.get(attr, ())) if g]
        if any(v == w if op == "=" else v.startswith(w) for v in held):
            return True
    return False


def _sspr(values: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """SSPR state as counts and presence, never the values (a phone number, an address)."""
    workflows = len(values.get("AuthNWFRegistered", ()))
    state = [f"AuthNWFRegistered: {workflows} workflow(s)" if workflows else "not registered"]
    state += [f"{a}: {'present' if values.get(a) else 'absent'}" for a in OTP_ATTRIBUTES]
    locked = len(values.get("AuthNWFLockedOut", ()))
    state.append(f"AuthNWFLockedOut: {locked} workflow(s)" if locked else "not locked out")
    ids = len(values.get("AuthNLockoutRegistrationID", ()))
    state.append(f"AuthNLockoutRegistrationID: {f'{ids} value(s)' if ids else 'absent'}")
    return tuple(state)


def _retention(data: object, script: str) -> int | None:
    """The longest RetentionPeriod the script saw; None when it saw none (unreadable)."""
    periods = data.get("periods") if isinstance(data, dict) else None
    periods = periods if isinstance(periods, list) else [] if periods is None else [periods]
    days = [p for p in periods if isinstance(p, int) and not isinstance(p, bool) and p >= 0]
    if len(days) != len(periods):
        raise ConnectorError(f"{script}: unexpected output: a RetentionPeriod is not a number")
    # More than one configuration: the longest is when the last copy goes.
    return max(days, default=None)


def _when(value: object) -> datetime | None:
    """An ISO date from a script (UTC when it names no zone); None when absent or not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _doctor_checks(
    data: object, names: tuple[str, str, str, str], s: MimServiceSettings
) -> list[Check]:
    """The `mimservice_doctor` script's answer as checks: module, retention, schema, scheme."""
    module, retention, schema, scheme = names
    if not isinstance(data, dict) or not isinstance(data.get("module"), dict):
        fix = "run mimservice_doctor.ps1 by hand on the MIM server and read its output"
        return [cannot_tell(n, "mimservice_doctor: unexpected output", fix) for n in names]
    loaded = data["module"]
    if loaded.get("loaded") is not True:
        install = (
            "install LithnetRMA (v2, for Windows PowerShell 5.1) on the WinRM server"
            if s.module == "lithnetrma"
            else "run the bot on the MIM Service server, where setup installs the FIMAutomation"
            " snap-in, or set module: lithnetrma"
        )
        after = "fix the module first (see above)"
        return [
            wrong(module, _clip(loaded.get("error")) or "it did not load", install),
            *(cannot_tell(n, "the module did not load", after) for n in names[1:]),
        ]
    checks = [ok(module, f"version {_clip(loaded.get('version')) or '?'}")]
    reads = 0

    section = data.get("retention") if isinstance(data.get("retention"), dict) else {}
    grant = "grant the bot's account read on SystemResourceRetentionConfiguration through an MPR"
    periods = section.get("periods")
    periods = periods if isinstance(periods, list) else []
    if section.get("error"):
        error = _clip(section["error"])
        denied = any(w in error.lower() for w in ("permission", "denied", "unauthorized"))
        checks.append((wrong if denied else cannot_tell)(retention, error, grant))
    elif not all(isinstance(p, int) and not isinstance(p, bool) for p in periods):
        checks.append(cannot_tell(retention, "a RetentionPeriod is not a number", grant))
    else:
        reads += 1
        if periods:
            checks.append(ok(retention, f"RetentionPeriod {max(periods)} days"))
        else:
            checks.append(wrong(retention, RETENTION_UNREADABLE.split(": ")[0], grant))

    section = data.get("schema") if isinstance(data.get("schema"), dict) else {}
    bound = section.get("person")
    bound = {str(n) for n in bound} if isinstance(bound, list) else set()
    read_schema = (
        "grant the bot's account read on BindingDescription, AttributeTypeDescription and"
        " ObjectTypeDescription through an MPR"
    )
    if section.get("error"):
        checks.append(cannot_tell(schema, _clip(section["error"]), read_schema))
    elif not bound:
        checks.append(cannot_tell(schema, "no attribute binding of Person is visible", read_schema))
    else:
        reads += 1
        missing = [a for a in PERSON_SCHEMA_ATTRIBUTES if a not in bound]
        if missing:
            checks.append(
                wrong(
                    schema,
                    f"not bound to Person: {', '.join(missing)}",
                    "bind them to Person in the MIM Service schema (Portal: Administration,"
                    " Schema Management), or the bot cannot read, search or write them",
                )
            )
        else:
            checks.append(
                ok(schema, f"all {len(PERSON_SCHEMA_ATTRIBUTES)} bound ({len(bound)} on Person)")
            )

    note = s.scheme_note
    if reads:
        checks.append(ok(scheme, f"reached the MIM Service{f'; {note}' if note else ''}"))
    else:
        checks.append(
            cannot_tell(
                scheme,
                "no read through service_uri succeeded",
                note or f"check that the MIM Service answers at {s.service_uri} on that server",
            )
        )
    return checks


def _clip(value: object) -> str:
    return "" if value is None else str(value)[:_DOCTOR_ERROR]
