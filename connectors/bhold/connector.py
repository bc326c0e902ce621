"""BHOLD Core (MIM 2016's role-based access module) through its script web service,
b1scriptservice.asmx, over SOAP 1.1 with zeep (../../shared/reference/bhold-soap.md).

zeep reads the WSDL shipped in connectors/bhold/wsdl/ (hand-written: no call is made to fetch
it; `doctor` compares it with the server's own `?WSDL`) and posts to `http.url` through
`connectors._shared.http.open_session`: IIS Windows Authentication, and certificates
validated. BHOLD Core's site is plain http on port 5151 by default (the reference's web
reference URL): an estate adds a TLS binding, or sets `allow_plain_http`. Two operations are used:

- `GetInfo(function, p1, p2, p3)`: `users` (filter, attributetypeid) to search, exactly
  (connectors/bhold/search.py), `user`, `userroles`, `userunits`, `userpermissions` to read.
  An empty GetInfoResult means no match, or that the service account may not see the user:
  GetInfo answers within the signed-in account's view permissions and supervised objects.
- `ExecuteXml(<functions>)`: the erasure script, built with lxml, numeric IDs only
  (connectors/bhold/soap_text.py): `roledeleteuser` for each role, then `OrgUnitdeleteuser` for each
  org unit; removing the last org unit deletes the user record. BHOLD rolls the whole script
  back when one function fails. Rectification is one `Userupdate`: numeric `UserID`, the
  changed names as attribute values, and the user's current `language`
  (connectors/bhold/update.py). ExecuteXml's parameter is sent under the name the WSDL gives
  it. Its result's type is not documented, so only "true" or a BholdScriptResult report naming
  no failed function counts as success; anything else fails the step with what to check
  (soap_text.script_outcome). A deletion and an update are re-read afterwards either way.

`attribute_types` has no defaults (BHOLD's standard attribute types are not documented): each
one a search uses is looked up in GetInfo `attributetypes` first, and a search by one BHOLD does
not list raises `ConnectorError` naming the setting, rather than finding no one.

Each call's deadline is the caller's `timeout`, at most `settings.timeout`, shared by every
request the call makes; requests applies it to the connection and to each read of the socket.
zeep's own debug logging of envelopes (personal data) is bypassed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pydantic.dataclasses
import requests
import zeep
import zeep.exceptions
from lxml import etree
from pydantic import Field

from connectors._shared.http import HttpSettings, http_errors, open_session
from connectors._shared.names import is_netbios_domain
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
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    Record,
    StepResult,
    UpdatePlan,
    Verification,
)
from connectors.bhold import update as bhold_update
from connectors.bhold import wsdl_shape
from connectors.bhold.search import UserSearch
from connectors.bhold.soap_text import (
    NUMERIC,
    BholdUser,
    Item,
    ScriptOutcome,
    delete_element,
    parse_items,
    parse_user,
    script_outcome,
)
from connectors.datamap import SystemInventory, held
from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import (
    ConnectorError,
    Denied,
    NotFound,
    TimedOut,
    Unreachable,
)
from connectors.spec import SETTINGS

__all__ = ["BholdConnector", "BholdSettings"]

WSDL = Path(__file__).resolve().parent / "wsdl" / "b1scriptservice.wsdl"
PORT = "{http://B1/B1ScriptService}B1ScriptServiceSoap"
# After AD (the source it provisions from, RANK_TARGET) and the MIM Service (RANK_TARGET + 10).
RANK_BHOLD = RANK_TARGET + 20
NOTE = (
    "BHOLD is erased after HR, AD and the MIM Service: provisioning re-creates a BHOLD user "
    "whose account still exists at the source"
)
NO_UNIT = "The BHOLD user is in no org unit: delete it in the BHOLD Core portal"
HEALTH_FILTER = "mimbot:health-check"  # no default alias holds a colon
# The data map (`inventory`): the user's core fields `read` shows, and its memberships.
CORE_FIELDS = ("Description", "Alias", "FirstName", "MiddleName", "LastName", "UUID", "Language")
MEMBERSHIPS = ("Roles", "OrgUnits", "Permissions")
TECHNOLOGY = "SOAP (zeep) to the BHOLD Core script service"
VISIBLE_ONLY = (
    "users counted as GetInfo users lists them: only those the service account may see (its"
    " view permissions and supervised objects)"
)
NOTHING_KEPT = (
    "nothing is known to keep a BHOLD user's data after the erasure: leaving the last org unit"
    " deletes the user record (BHOLD documents no history or log of users)"
)
CHECK_AGAIN = (
    "check the user in the BHOLD Core portal, and run python -m bot doctor to compare "
    "the connector's WSDL with the server's ?WSDL"
)


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class BholdSettings:
    """Where BHOLD Core's script web service is and how to search it.

    `http.url` is the service (`http://bhold01:5151/BHOLD/Core/b1scriptservice.asmx`);
    `domain` the NetBIOS domain of the default aliases (`CORP` → `CORP\\jdoe`);
    `attribute_types` (required, no defaults: BHOLD's standard attribute types are not
    documented) maps the names a search uses (`mail`, `employee_id`, `display_name`, and any
    `find <attribute>=` name) to BHOLD attributetypeids, as GetInfo `attributetypes` lists
    them (an id or a description, e.g. `Email`); `{}` searches by account only, and an
    unmapped one is not searched. `timeout` caps every call's deadline (seconds). `wsdl` is
    the service description zeep reads: the hand-written one shipped, or a saved copy of the
    server's `?WSDL`. BHOLD's site is plain http by default: `service.allow_plain_http`, or a
    TLS binding. Raises `ValueError` for a setting that cannot work.
    """

    http: HttpSettings = Field(alias="service")  # .../BHOLD/Core/b1scriptservice.asmx
    domain: str
    attribute_types: Mapping[str, str]
    label: str = "BHOLD"
    timeout: float = Field(default=10.0, gt=0, le=120, alias="timeout_seconds")
    max_hits: int = Field(default=200, ge=1)
    wsdl: Path = WSDL
    name: str = "bhold"
    management_agent: str | None = None  # BHOLD's MA in the Sync Service, if it has one

    def __post_init__(self) -> None:
        if not is_netbios_domain(self.domain):
            raise ValueError("domain must be the NetBIOS name of the default aliases, e.g. CORP")
        if not Path(self.wsdl).is_file():
            raise ValueError("wsdl does not name a file")
        types = {k.casefold(): v for k, v in self.attribute_types.items()}
        if not all(k and v and v.isprintable() for k, v in types.items()):
            raise ValueError("attribute_types must map names to attributetypeids")
        object.__setattr__(self, "attribute_types", MappingProxyType(types))


class _Transport(zeep.Transport):
    """zeep's transport with a per-thread timeout, so concurrent calls keep their own
    deadlines, and without its debug log of envelopes (they hold personal data). What
    requests raises is mapped here, around the HTTP exchange alone (`http_errors`)."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        self.local = threading.local()

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        timeout = getattr(self.local, "timeout", self.operation_timeout)
        with http_errors("BHOLD", getattr(self.local, "operation", "call")):
            return self.session.post(address, data=message, headers=headers, timeout=timeout)


class BholdConnector:
    """Users of one BHOLD Core. Thread-safe: requests' session pools connections."""

    capabilities = frozenset(
        {
            Capability.SEARCH,
            Capability.READ,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.VERIFY,
        }
    )

    def __init__(self, settings: BholdSettings) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        # The metaverse's "erase it in BHOLD" is this connector's own step.
        self.management_agent = settings.management_agent
        self._search = UserSearch(
            settings.name, settings.domain, settings.attribute_types, settings.max_hits
        )
        self._session = open_session(settings.http)
        self._transport = _Transport(self._session, settings.timeout)
        try:
            client = zeep.Client(
                str(settings.wsdl),
                transport=self._transport,
                settings=zeep.Settings(strict=True, forbid_dtd=True, xml_huge_tree=False),
            )
            self._service = client.create_service(PORT, settings.http.url)
            # Its XmlNode parameter goes by the name the WSDL gives it (unknown: "xml" in
            # the shipped one), so a captured ?WSDL put in place fixes a wrong guess.
            script = client.get_element(f"{{{wsdl_shape.NS}}}ExecuteXml").type.elements
        except (zeep.exceptions.Error, etree.LxmlError, OSError, ValueError, AttributeError) as exc:
            self._session.close()
            raise ConnectorError("the BHOLD WSDL cannot be read") from exc
        if len(script) != 1:
            self._session.close()
            raise ConnectorError("the BHOLD WSDL's ExecuteXml does not take one parameter")
        self._script_parameter: str = script[0][0]
        # attributetypeid -> the keys a user's list shows it under, once GetInfo listed it.
        self._types: dict[str, frozenset[str]] = {}
        self._types_listed = False
        self._types_lock = threading.Lock()

    # -- Connector interface ------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """BHOLD users matching `query` (at most `max_hits`): a NAME is the account (default
        alias `DOMAIN\\<name>`, or a full alias) or, with `display_name` mapped, the display
        name; a PREFIX starts either; MAIL, EMPLOYEE_ID and ATTRIBUTE search the mapped
        attribute. `NotSupported` for an unmapped one."""
        return [found.hit for found in self.search_records(query, limit=0, timeout=timeout)]

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        """`SearchesRecords`: the hits `search` gives, each with the record `read` gives when
        there are at most `limit`, under the one deadline: the search already reads each
        user's `user` record, so only its `userroles`, `userunits` and `userpermissions`
        are asked for besides. A user whose memberships could not be read has no record
        (`read` then says why); `NotSupported` and nothing sent as for `search`."""
        clauses = self._search.clauses(query)
        if not clauses:  # nothing can match: nothing is sent
            return []
        with self._deadline(timeout):
            keys = self._attribute_keys({c.attribute for c in clauses if c.attribute})
            users = self._search.users(clauses, self._get_info, keys)
            found = []
            for user in users:
                hit = self._search.hit(user, keys)
                record = None
                if len(users) <= limit:
                    try:
                        record = self._record(hit.ref, user)
                    except ConnectorError:
                        record = None  # the read reports it, as a read
                found.append(HitRecord(hit, record))
            return found

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """The user's names, alias, uuid, language, every list value, and the descriptions of
        its roles, org units and permissions; `NotFound` when no visible user has the id."""
        uid = self._id(ref)
        with self._deadline(timeout):
            return self._record(ref, self._user(uid))

    def _record(self, ref: ObjectRef, user: BholdUser) -> Record:
        """`read`'s record of `user` (its `user` record read): its memberships are asked for
        under the caller's deadline."""
        roles, units, perms = (
            parse_items(self._get_info(fn, user.id), fn)
            for fn in ("userroles", "userunits", "userpermissions")
        )
        attributes: dict[str, list[str]] = {}
        for key, name in (
            ("description", "Description"),
            ("alias", "Alias"),
            ("firstname", "FirstName"),
            ("middlename", "MiddleName"),
            ("lastname", "LastName"),
            ("uuid", "UUID"),
            ("language", "Language"),
        ):
            if user.fields.get(key):
                attributes[name] = [user.fields[key]]
        for key, value in user.values:
            if value and value not in attributes.setdefault(key, []):
                attributes[key].append(value)
        for name, items in (("Roles", roles), ("OrgUnits", units), ("Permissions", perms)):
            if items:
                attributes[name] = [i.description or i.id for i in items]
        return Record(
            ref=ref,
            attributes={
                k: AttributeValue(tuple(v), source=self.name) for k, v in attributes.items() if v
            },
        )

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        """Remove the user from its roles and org units (which deletes it), ranked after
        HR, AD and the MIM Service; `NotFound` when no visible user has the id."""
        uid = self._id(ref)
        with self._deadline(timeout):
            self._user(uid)
            roles = parse_items(self._get_info("userroles", uid), "userroles")
            units = parse_items(self._get_info("userunits", uid), "userunits")
        summary = (
            f"Remove the BHOLD user from its {len(roles)} role(s) and {len(units)} org unit(s); "
            "leaving the last org unit deletes the user record"
        )
        manual: tuple[ManualStep, ...] = ()
        if not units:  # no org unit removal can delete it
            manual = (ManualStep(ManualTask.ERASE_BY_HAND, NO_UNIT),)
        return DeletePlan(
            ref,
            PlanAction.DELETE,
            summary,
            manual=manual,
            authority_rank=RANK_BHOLD,
            notes=(NOTE,),
        )

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        """One ExecuteXml script removing the user from every role, then every org unit.

        A user already gone is `already_absent`. A script BHOLD refuses (an error number in
        its report) raises `ConnectorError`: BHOLD rolled it back, nothing changed. A user
        still there after a successful script (e.g. in an org unit the service account
        cannot see) raises `ConnectorError` too: a person finishes it in the portal.
        """
        uid = self._id(plan.ref)
        with self._deadline(timeout):
            if self._find_user(uid) is None:
                return StepResult(plan.ref, done=True, already_absent=True, detail="no such user")
            roles = parse_items(self._get_info("userroles", uid), "userroles")
            units = parse_items(self._get_info("userunits", uid), "userunits")
            ids = [i.id for i in (*roles, *units)]
            if not all(NUMERIC.fullmatch(i) for i in ids):
                raise ConnectorError("BHOLD answered userroles or userunits without numeric IDs")
            if ids:
                script = delete_element(uid, [r.id for r in roles], [u.id for u in units])
                self._execute(script, "deletion")
            if self._find_user(uid) is not None:
                # Not a wait: nothing will change until a person acts, so the step fails
                # now (an approver retries it once the portal is done) rather than polling.
                raise ConnectorError(
                    "the BHOLD user is still there: it may be in an org unit the service "
                    "account cannot see; delete it in the BHOLD Core portal, then retry"
                )
        detail = f"removed from {len(roles)} role(s) and {len(units)} org unit(s); user deleted"
        return StepResult(plan.ref, done=True, detail=detail)

    def plan_update(
        self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float
    ) -> UpdatePlan:
        """Set `description` (displayName), `firstName` (givenName), `middleName`, `lastName`
        (sn). `NotSupported` for another attribute or a value BHOLD cannot take, with nothing
        sent; `NotFound` when no visible user has the id (connectors/bhold/update.py)."""
        uid = self._id(ref)
        wanted = bhold_update.wanted(changes)
        with self._deadline(timeout):
            bhold_update.check_language(self._user(uid))
        return bhold_update.plan(ref, wanted)

    def apply_update(self, plan: UpdatePlan, *, timeout: float) -> StepResult:
        """One Userupdate script with the values the user does not show yet (`already set`
        when none), read back: `done=False` with a detail when BHOLD shows other values. A
        refused script raises `ConnectorError` (BHOLD rolled it back); a user gone, `NotFound`."""
        uid = self._id(plan.ref)
        wanted = bhold_update.wanted(plan.changes)
        with self._deadline(timeout):
            return bhold_update.apply(
                plan.ref,
                wanted,
                lambda: self._find_user(uid),
                lambda script: self._execute(script, "update"),
            )

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        """Absent when no user has the ACCOUNT (in DOMAIN, default `domain`), or the MAIL,
        UPN or EMPLOYEE_ID where those are mapped. `NotSupported` with none of them."""
        clauses = self._search.verify_clauses(identifiers)
        with self._deadline(timeout):
            keys = self._attribute_keys({c.attribute for c in clauses if c.attribute})
            hits = self._search.hits(clauses, self._get_info, keys) if clauses else []
        left = tuple(h.ref for h in hits)
        detail = "the BHOLD user is still there" if left else "no BHOLD user for the identifiers"
        return Verification(self.name, absent=not left, remaining=left, detail=detail)

    def health(self, *, timeout: float) -> Health:
        """A `users` GetInfo whose filter matches no one; never raises."""
        try:
            with self._deadline(timeout):
                parse_items(self._get_info("users", HEALTH_FILTER), "users")
        except ConnectorError as exc:
            return Health(self.name, False, str(exc))
        return Health(self.name, True, "BHOLD answered GetInfo")

    def doctor(self, *, timeout: float) -> list[Check]:
        """The assumptions checked on a live BHOLD, read-only, within `timeout`: the
        server's own `?WSDL` against the one zeep reads (operations, parameter names, result
        types), the configured attribute types in GetInfo `attributetypes`, and that the
        account can read users (a `users` filter that matches no one). Never raises."""
        end = time.monotonic() + timeout
        checks = self._wsdl_checks(end)
        with self._deadline(max(end - time.monotonic(), 0.001)):
            checks.append(self._types_check())
            checks.append(self._users_check())
        return checks

    def close(self) -> None:
        self._session.close()

    # -- DescribesData ------------------------------------------------------------

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What BHOLD holds, for the data map: the user's core fields `read` shows, the
        configured attribute types (by the names GetInfo `attributetypes` gives them) and
        the user's roles, org units and permissions; how many users (`GetInfo users` with no
        filter, "all visible users", counted: no value is kept); no version (the service
        reports none), and nothing kept after the erasure but what it deletes (a note says
        so). A part BHOLD answers with an error is a note naming the error's class; a
        refusal, an unreachable server or the deadline raises, as the other methods do."""
        notes: list[str] = []
        with self._deadline(timeout):
            names = self._type_names(notes)
            persons = self._count_users(notes)
        if persons is not None:
            notes.append(VISIBLE_ONLY)
        notes.append(NOTHING_KEPT)
        return SystemInventory(
            system=self.name,
            label=self.label,
            technology=TECHNOLOGY,
            attributes=held((*CORE_FIELDS, *names, *MEMBERSHIPS)),
            persons=persons,
            notes=tuple(notes),
        )

    def _type_names(self, notes: list[str]) -> list[str]:
        """The configured attribute types' names (descriptions) as BHOLD lists them; the
        configured text where it lists none such, or cannot list them (with a note)."""
        configured = dict(self.settings.attribute_types)
        if not configured:
            return []
        try:
            listed = parse_items(self._get_info("attributetypes"), "attributetypes")
        except (Denied, Unreachable, TimedOut):
            raise
        except ConnectorError as exc:
            notes.append(f"the attribute types could not be listed ({exc.__class__.__name__})")
            return sorted(configured.values())
        names = []
        for key, value in sorted(configured.items()):
            match = next((i for i in listed if _type_keys(value, [i])), None)
            if match is None:
                notes.append(f"attribute_types.{key} ({value}) is not a type BHOLD lists")
            names.append(match.description if match is not None and match.description else value)
        return names

    def _count_users(self, notes: list[str]) -> int | None:
        # GetInfo("users") "returns all users" (Reference, "GetInfo functions": users, "If
        # no filter is supplied all visible users are returned"); only their number is kept.
        try:
            return len(parse_items(self._get_info("users"), "users"))
        except (Denied, Unreachable, TimedOut):
            raise
        except ConnectorError as exc:
            notes.append(f"the users could not be counted ({exc.__class__.__name__})")
            return None

    # -- doctor ---------------------------------------------------------------

    def _wsdl_checks(self, end: float) -> list[Check]:
        url = f"{self.settings.http.url}?WSDL"
        name = "BHOLD serves its WSDL"
        fix = f"check that {url} answers the service account (bhold.service.url)"
        left = end - time.monotonic()
        if left <= 0:
            return [cannot_tell(name, "no time left", fix)]
        try:
            with http_errors("BHOLD", "WSDL"):
                reply = self._session.get(url, timeout=left)
        except ConnectorError as exc:
            return [cannot_tell(name, str(exc), fix)]
        if reply.status_code != 200:
            return [cannot_tell(name, f"HTTP {reply.status_code}", fix)]
        try:
            served = wsdl_shape.parse_wsdl(reply.content)
        except ValueError as exc:
            return [wrong(name, f"the answer is {exc}", fix)]
        try:
            used = wsdl_shape.parse_wsdl(Path(self.settings.wsdl).read_bytes())
        except (OSError, ValueError) as exc:
            fix = "set bhold.wsdl to a WSDL file"
            return [wrong("The connector's WSDL can be read", str(exc), fix)]
        return [
            ok(name, f"{len(reply.content)} bytes"),
            *wsdl_shape.compare(
                used, served, wsdl_url=url, wsdl_setting=Path(self.settings.wsdl).name
            ),
        ]

    def _types_check(self) -> Check:
        name = "BHOLD has the configured attribute types"
        configured = dict(self.settings.attribute_types)
        if not configured:
            return ok(name, "none configured: users are searched by account only")
        fix = "check that the service account may list attribute types (GetInfo attributetypes)"
        try:
            listed = parse_items(self._get_info("attributetypes"), "attributetypes")
        except ConnectorError as exc:
            return cannot_tell(name, str(exc), fix)
        if not listed:
            return cannot_tell(name, "GetInfo attributetypes listed none", fix)
        missing = [k for k, v in configured.items() if not _type_keys(v, listed)]
        if missing:
            shown = ", ".join(f"attribute_types.{k} ({configured[k]})" for k in missing)
            keys = ", ".join(f"attribute_types.{k}" for k in missing)
            return wrong(
                name,
                f"BHOLD lists {len(listed)} attribute type(s), none for {shown}",
                f"set {keys} to attribute types that GetInfo attributetypes lists",
            )
        return ok(name, f"{', '.join(configured.values())} (of {len(listed)} listed)")

    def _users_check(self) -> Check:
        name = "The account can read BHOLD users"
        try:
            parse_items(self._get_info("users", HEALTH_FILTER), "users")
        except Denied as exc:
            return wrong(name, str(exc), "check bhold.service's username and password")
        except ConnectorError as exc:
            fix = "check that the service account may call GetInfo users (its BHOLD roles)"
            return cannot_tell(name, str(exc), fix)
        return ok(name, "GetInfo users answered a filter that matches no one")

    # -- attribute types --------------------------------------------------------

    def _attribute_keys(self, wanted: set[str]) -> dict[str, frozenset[str]]:
        """The keys a user's list shows each configured attribute type under (its id and
        description, as GetInfo `attributetypes` lists them), for the clauses and the hits'
        identifiers. Listed once, and again only while one in `wanted` is missing then:
        `ConnectorError` naming its setting, as a search by it would find no one."""
        with self._types_lock:
            listed, todo = self._types_listed, wanted - self._types.keys()
        if todo or not listed:
            items = parse_items(self._get_info("attributetypes"), "attributetypes")
            configured = set(self.settings.attribute_types.values())
            found = {t: keys for t in configured if (keys := _type_keys(t, items))}
            with self._types_lock:
                self._types.update(found)
                self._types_listed = True
        with self._types_lock:
            known = dict(self._types)
        missing = wanted - known.keys()
        if missing:
            settings = sorted(
                f"attribute_types.{k}"
                for k, v in self.settings.attribute_types.items()
                if v in missing
            )
            raise ConnectorError(
                f"BHOLD lists no attribute type for {', '.join(settings)}: set it to one "
                "GetInfo attributetypes lists (python -m bot doctor names it)"
            )
        return known

    # -- wire -------------------------------------------------------------------

    @contextmanager
    def _deadline(self, timeout: float) -> Iterator[None]:
        local = self._transport.local
        local.end = time.monotonic() + min(timeout, self.settings.timeout)
        try:
            yield
        finally:
            del local.end

    def _get_info(self, function: str, p1: str = "", p2: str = "", p3: str = "") -> str:
        """The GetInfoResult; "" for an empty one (zeep reads an empty element as None)."""
        result = self._call("GetInfo", function, p1, p2, p3)
        if result is None:
            return ""
        if not isinstance(result, str):  # a WSDL describing it otherwise: never "no match"
            raise ConnectorError(
                f"BHOLD answered GetInfo {function} with something other than text: run "
                "python -m bot doctor to compare the connector's WSDL with the server's"
            )
        return result

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        local = self._transport.local
        left = getattr(local, "end", time.monotonic() + self.settings.timeout) - time.monotonic()
        if left <= 0:
            raise TimedOut(f"BHOLD {operation}: the deadline passed")
        local.timeout, local.operation = left, operation
        try:
            with _soap_errors(operation):
                return getattr(self._service, operation)(*args, **kwargs)
        finally:
            del local.timeout, local.operation

    def _execute(self, script: etree._Element, what: str) -> None:
        """Run one ExecuteXml script. `ConnectorError` when BHOLD refused it (it rolled the
        whole script back), and when its answer is not recognised as success: then nothing
        is assumed, and the message says what to check."""
        result = self._call("ExecuteXml", **{self._script_parameter: {"_value_1": script}})
        outcome, failed, seen = script_outcome(_xml_value(result))
        if outcome is ScriptOutcome.REFUSED:
            raise ConnectorError(
                f"BHOLD refused the {what} script ({failed[0].function}, error "
                f"{failed[0].number}) and rolled it back: nothing was changed"
            )
        if outcome is not ScriptOutcome.SUCCEEDED:
            raise ConnectorError(
                f"BHOLD answered the {what} script with {seen}, which is not recognised as "
                f"success, so the step is not done: {CHECK_AGAIN}"
            )

    def _user(self, uid: str) -> BholdUser:
        user = self._find_user(uid)
        if user is None:
            raise NotFound("no BHOLD user has that id (or the service account cannot see it)")
        return user

    def _find_user(self, uid: str) -> BholdUser | None:
        user = parse_user(self._get_info("user", uid))
        if user is not None and user.id != uid:
            raise ConnectorError("BHOLD answered GetInfo user with another user's id")
        return user

    def _id(self, ref: ObjectRef) -> str:
        """The numeric BHOLD user id; `NotFound` for anything else (nothing is sent)."""
        if ref.system != self.name or not NUMERIC.fullmatch(ref.id):
            raise NotFound("no BHOLD user has that id")
        return str(int(ref.id))


def _type_keys(configured: str, listed: list[Item]) -> frozenset[str]:
    """The keys of the attribute type `configured` names (its id, or its description, as
    the reference's `users` example passes "City"), empty when `listed` has none such."""
    want = configured.casefold()
    for item in listed:
        if item.id == configured or (item.description and item.description.casefold() == want):
            return frozenset(k for k in (configured, item.id, item.description) if k)
    return frozenset()


def _xml_value(result: Any) -> Any:
    """An `xs:any` result as zeep gives it (an object holding `_value_1`, an element or a
    list of them) reduced to its one element; anything else as it is."""
    value = getattr(result, "_value_1", result)
    if isinstance(value, list):
        elements = [v for v in value if isinstance(v, etree._Element)]
        return elements[0] if len(elements) == 1 else result
    return value


@contextmanager
def _soap_errors(operation: str) -> Iterator[None]:
    """zeep and lxml errors as `ConnectorError`s; messages never quote the data. requests'
    errors are mapped under zeep, in `_Transport.post`, and reach here as ours."""
    try:
        yield
    except zeep.exceptions.Fault as exc:
        raise ConnectorError(f"BHOLD answered {operation} with a SOAP fault") from exc
    except zeep.exceptions.TransportError as exc:
        if exc.status_code in (401, 403):
            raise Denied(f"BHOLD refused the credentials (HTTP {exc.status_code})") from exc
        raise ConnectorError(f"BHOLD answered {operation} with HTTP {exc.status_code}") from exc
    except (zeep.exceptions.Error, etree.LxmlError) as exc:
        raise ConnectorError(f"BHOLD {operation} failed ({exc.__class__.__name__})") from exc
    except (ValueError, TypeError) as exc:  # zeep refusing a value: a bug here, not data
        raise ConnectorError(f"BHOLD {operation}: cannot build the call") from exc
