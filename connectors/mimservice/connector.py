"""The MIM Service (what the Portal shows): Persons, their SSPR registration and the Requests
that target them, through PowerShell on the MIM server (connectors/_shared/powershell.py) with the
FIMAutomation snap-in (`Export-FIMConfig`, `Import-FIMConfig`) or, by setting, LithnetRMA.
Rectification (`Updates`) is in connectors/mimservice/update.py; reading and opting out of
the server's CEIP telemetry (`MimServerTelemetry`), shared with PAM, in connectors/_shared/ceip.py.

Searches are FIM XPath filters built here, of exactly these forms (the loopback fixture in
demo/mimservice_fixture.py parses no others):

    /Person[Email = 'a@b.test' or EmployeeID = "O'x" or starts-with(DisplayName, 'Zo')]
    /Request[Target = '<guid>']          /SystemResourceRetentionConfiguration

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

__all__ = ["DEFAULT_RETENTION_DAYS", "MimServiceConnector", "MimServiceSettings", "literal"]

DEFAULT_RETENTION_DAYS = 30  # RetentionPeriod when no SystemResourceRetentionConfiguration
# After the source of authority (AD, HR: RANK_SOURCE/RANK_TARGET), before the metaverse wait.
RANK_MIMSERVICE = RANK_TARGET + 10
RETENTION_XPATH = "/SystemResourceRetentionConfiguration"
SSPR_ATTRIBUTES = (
    "AuthNWFRegistered",
    "msidmOneTimePasswordEmailAddress",
    "msidmOneTimePasswordMobilePhone",
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
            *SSPR_ATTRIBUTES[1:],
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
_GUID = re.compile(r"(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_SERVICE_SCHEMES = {
    "fimautomation": ("http://", "https://"),
    "lithnetrma": ("http://", "https://", "net.tcp://", "pipe://", "rmc://"),
}

Clause = tuple[Literal["=", "starts-with"], str, str]  # (operator, attribute, value)
Clock = Callable[[], datetime]


@pydantic.dataclasses.dataclass(frozen=True, config=SETTINGS)
class MimServiceSettings:
    """Where the MIM Service is and how to reach it: `winrm` names the MIM server,
    `service_uri` the MIM Service as seen from there, `module` the PowerShell module the
    scripts use. Each call's deadline is the caller's `timeout`, at most `timeout` seconds.
    `management_agent`: the MIM Service MA's name in the Sync Service, if it has one.

    Raises `ValueError` for a setting that cannot work.
    """

    winrm: WinRmSettings
    service_uri: str = "http://localhost:5725"
    module: Literal["fimautomation", "lithnetrma"] = "fimautomation"
    label: str = "MIM Service"
    max_hits: int = Field(default=200, ge=1)
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    name: str = "mimservice"
    management_agent: str | None = None

    def __post_init__(self) -> None:
        if self.module not in _SERVICE_SCHEMES:
            raise ValueError("module must be fimautomation or lithnetrma")
        if not self.service_uri.lower().startswith(_SERVICE_SCHEMES[self.module]):
            schemes = ", ".join(_SERVICE_SCHEMES[self.module])
            raise ValueError(f"service_uri must start with one of {schemes} for {self.module}")


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
        clauses = self._clauses(query)
        if not query.value.strip() or "\x00" in query.value:
            return []
        path = xpath("Person", clauses)  # NotSupported before anything is sent
        attributes = sorted({*HIT_ATTRIBUTES, *(attr for _, attr, _ in clauses)})
        objects = self._find(path, attributes, timeout=timeout)
        hits = [self._hit(o) for o in objects if _matches(o["attributes"], clauses)]
        hits.sort(key=lambda h: (h.label.casefold(), h.ref.id))
        return hits[: self.settings.max_hits]

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
        values = _values(data.get("attributes"))
        attrs = {k: AttributeValue(v, source=self.name) for k, v in sorted(values.items())}
        attrs["SSPR registration"] = AttributeValue(_sspr(values), source=self.name)
        count = data.get("requests")
        if not isinstance(count, int) or isinstance(count, bool):
            raise ConnectorError("mimservice_read: unexpected output: no Request count")
        attrs["Requests targeting the person"] = AttributeValue((str(count),), source=self.name)
        return Record(ref=ref, attributes=attrs)

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Delete the Person; its Requests and SSPR data stay until RetentionPeriod days
        from now. `NotFound` when there is no such Person."""
        guid = _guid(ref)
        if not self._find(
            xpath("Person", [("=", "ObjectID", guid)]), ["ObjectID"], timeout=timeout
        ):
            raise NotFound("no MIM Service Person has that ObjectID")
        days = self._retention_days(timeout=timeout)
        residual = ResidualCopy(
            "MIM Service Requests and SSPR data about the person, kept until the retention"
            " job removes them",
            expires=self._clock() + timedelta(days=days),
        )
        return DeletePlan(
            ref,
            PlanAction.DELETE,
            "Delete the Person in the MIM Service",
            residuals=(residual,),
            authority_rank=RANK_MIMSERVICE,
            notes=(f"The MIM Service keeps Requests for {days} days (RetentionPeriod).",),
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
        the Requests still targeting the deleted ObjectID, with the date they expire."""
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
        if guid and ObjectRef(self.name, guid) not in remaining:
            residuals = self._request_residuals(guid, timeout=timeout)
        detail = f"not checked: {', '.join(skipped)} (both quote kinds)" if skipped else ""
        return Verification(self.name, not remaining, remaining, residuals, detail)

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
        """The runner's ping, then the retention configuration: the MIM Service answers."""
        ping = self.runner.health(timeout=min(timeout, self.settings.timeout))
        if not ping.ok:
            return Health(self.name, False, ping.detail)
        try:
            days = self._retention_days(timeout=timeout)
        except ConnectorError as exc:
            return Health(self.name, False, f"{ping.detail}; {exc.__class__.__name__}: {exc}")
        return Health(
            self.name,
            True,
            f"{ping.detail}; the MIM Service answered ({self.settings.module},"
            f" RetentionPeriod {days} days)",
        )

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

    def _find(self, path: str, attributes: list[str], *, timeout: float) -> list[dict[str, Any]]:
        data = self._run(
            "mimservice_search",
            xpath=path,
            attributes=attributes,
            max=self.settings.max_hits,
            timeout=timeout,
        )
        objects = [] if data is None else data if isinstance(data, list) else [data]
        found = []
        for o in objects:
            guid = _guid_or_none(o.get("id")) if isinstance(o, dict) else None
            if guid is None:
                raise ConnectorError("mimservice_search: unexpected output: an object without id")
            found.append({"id": guid, "attributes": _values(o.get("attributes"))})
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
        """`RetentionReporter`: the RetentionPeriod in days, and whether a
        SystemResourceRetentionConfiguration sets it (False: none exists, and the service's
        default of 30 days applies)."""
        data = self._run("mimservice_retention", xpath=RETENTION_XPATH, timeout=timeout)
        days = _retention(data, "mimservice_retention")
        return RetentionPeriod(days, isinstance(data, dict) and bool(data.get("periods")))

    def _retention_days(self, *, timeout: float) -> int:
        return self.retention_period(timeout=timeout).days

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
        requests = requests if isinstance(requests, list) else [requests]
        if not requests:
            return ()
        days = _retention(data, "mimservice_requests")
        now = self._clock()
        ends = [_when(r.get("completed")) or now for r in requests if isinstance(r, dict)]
        expires = max(ends or [now]) + timedelta(days=days)
        n = len(requests)
        verb = "targets" if n == 1 else "target"
        text = f"{n} MIM Service Request{'s' if n != 1 else ''} still {verb} the deleted Person"
        if expires <= now:
            text += ", past their retention date: the retention job has not run yet"
        else:
            text += ", kept until the retention job removes them"
        return (ResidualCopy(text, expires=expires),)

    def _run(self, script: str, *, timeout: float, **args: Any) -> Any:
        s = self.settings
        try:
            return self.runner.run(
                script,
                {"module": s.module, "uri": s.service_uri, **args},
                timeout=min(timeout, s.timeout),
            )
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
    workflows = len(values.get("AuthNWFRegistered", ()))
    state = [f"AuthNWFRegistered: {workflows} workflow(s)" if workflows else "not registered"]
    state += [f"{a}: {'present' if values.get(a) else 'absent'}" for a in SSPR_ATTRIBUTES[1:]]
    return tuple(state)


def _retention(data: object, script: str) -> int:
    periods = data.get("periods") if isinstance(data, dict) else None
    periods = periods if isinstance(periods, list) else [] if periods is None else [periods]
    days = [p for p in periods if isinstance(p, int) and not isinstance(p, bool) and p >= 0]
    if len(days) != len(periods):
        raise ConnectorError(f"{script}: unexpected output: a RetentionPeriod is not a number")
    # More than one configuration: the longest is when the last copy goes.
    return max(days, default=DEFAULT_RETENTION_DAYS)


def _when(value: object) -> datetime | None:
    """An ISO date from a script (UTC when it names no zone); None when absent or not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
