"""Active Directory over LDAP (ldap3): search and read personal data; for retention
sweeps (connectors/ad/sweeps.py), the users disabled or not signed in for longer than a
rule's age (`FindsStale`) and the members of a hold group (`KnowsHolds`).

LDAPS with CA validation by default; plain LDAP only when configured. Every
user-supplied value goes through RFC 4515 escaping (`escape_filter_chars`)
and attribute names are checked against an allow-list, so no input can change
a filter's structure. Bound connections are pooled: a new TLS connection and
bind costs about as much as a hundred indexed searches.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import re
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import ldap3
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars

from connectors._shared.ldap import generalized_time, guid_filter_value, ldap_errors, seconds
from connectors.ad.doctor import run_doctor
from connectors.ad.erasure import AdEraser, Clock, netbios_name
from connectors.ad.inventory import run_inventory
from connectors.ad.settings import AdSettings
from connectors.ad.sweeps import POPULATIONS, hold_members, stale_users
from connectors.ad.update import AdUpdater
from connectors.base import (
    AttributeValue,
    Capability,
    Change,
    DeletePlan,
    Health,
    Hit,
    HitRecord,
    IdKind,
    ObjectRef,
    Query,
    QueryKind,
    Record,
    StepResult,
    UpdatePlan,
    Verification,
)
from connectors.datamap import SystemInventory
from connectors.doctor import Check
from connectors.errors import ConnectorError, NotFound, NotSupported, TimedOut, Unreachable
from connectors.spelling import spellings
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule

__all__ = ["AdConnector", "AdSettings"]

log = logging.getLogger(__name__)

# Attributes every hit carries, beside the configured personal-data attributes.
IDENTITY_ATTRIBUTES = (
    "objectGUID",
    "distinguishedName",
    "whenChanged",
    "sAMAccountName",
    "userPrincipalName",
    "mail",
    "employeeID",
    "displayName",
    "cn",
)
_ID_KINDS = {
    "sAMAccountName": IdKind.ACCOUNT,
    "userPrincipalName": IdKind.UPN,
    "mail": IdKind.MAIL,
    "employeeID": IdKind.EMPLOYEE_ID,
    "displayName": IdKind.DISPLAY_NAME,
}
PERSON_FILTER = "(&(objectClass=user)(!(objectClass=computer)){})"


ConnectionFactory = Callable[[], ldap3.Connection]


class AdConnector:
    """Searches users in one AD domain. Thread-safe: each call borrows a pooled connection."""

    capabilities = frozenset(
        {
            Capability.SEARCH,
            Capability.READ,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.VERIFY,
        }
    )
    identity_attributes = IDENTITY_ATTRIBUTES  # read beside the configured ones (doctor)
    populations: frozenset[Population] = POPULATIONS  # retention sweeps (FindsStale)

    def __init__(
        self,
        settings: AdSettings,
        *,
        connection_factory: ConnectionFactory | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.name, self.label = settings.name, settings.label
        self._factory = connection_factory or self._connect
        self._pool: queue.LifoQueue[ldap3.Connection] = queue.LifoQueue(settings.pool_size)
        self._server: ldap3.Server | None = None
        self._attributes = tuple(dict.fromkeys((*IDENTITY_ATTRIBUTES, *settings.attributes)))
        searchable = (
            *IDENTITY_ATTRIBUTES,
            "proxyAddresses",
            *settings.attributes,
            *settings.search_attributes,
        )
        self._searchable = {a.lower(): a for a in searchable if a != "objectGUID"}
        # Erasure lives in its own module; it borrows this connector's pooled connections.
        self.eraser = AdEraser(settings, connection=self._connection, clock=clock)
        # So does rectification, with the eraser's scoped lookup by objectGUID.
        self.updater = AdUpdater(
            settings.writable,
            connection=self._connection,
            lookup=self.eraser.lookup,
            domain_nc=_domain_nc(settings.base_dn),
        )
        self.management_agent = settings.management_agent
        self.domain_nc = _domain_nc(settings.base_dn)
        self._netbios: str | None = settings.domain  # "" once looked up and not found
        self._netbios_retry = 0.0  # after a failed lookup, not before this (monotonic)

    # -- Connector interface ------------------------------------------------

    def search(self, query: Query, *, timeout: float) -> list[Hit]:
        """Users matching `query` (at most `max_hits`); `NotSupported` for an attribute
        outside the allow-list. An empty value, or one holding NUL, matches no one."""
        return [found.hit for found in self.search_records(query, limit=0, timeout=timeout)]

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        """`SearchesRecords`: the hits `search` gives, each with the record `read` gives when
        there are at most `limit`. The search already fetches every configured attribute,
        as `read`'s own search by objectGUID does, so the records cost no second request."""
        ldap_filter = PERSON_FILTER.format(self._term_filter(query))
        if not query.value.strip() or "\x00" in query.value:
            # Checked after the attribute: (displayName=*) would match everyone, and
            # Samba compares only up to a NUL, so "jdoe\0x" would find jdoe.
            return []
        entries = self._search(ldap_filter, timeout=timeout)
        domain = self._domain(timeout) if entries else None
        found = []
        for entry in entries:
            hit = self._hit(entry, domain)
            # A hit without an objectGUID is named by its DN, which `read` cannot take.
            readable = len(entries) <= limit and IdKind.OBJECT_GUID in hit.identifiers
            found.append(HitRecord(hit, self._record(hit.ref, entry) if readable else None))
        return found

    def _domain(self, timeout: float) -> str | None:
        """The NetBIOS domain name, looked up once; unknown ("") if it cannot be read."""
        if self._netbios is None and time.monotonic() >= self._netbios_retry:
            domain_nc = _domain_nc(self.settings.base_dn)
            try:
                with self._connection() as conn, ldap_errors():
                    self._netbios = netbios_name(conn, domain_nc, timeout) or ""
            except ConnectorError:
                # Not on every search: try again in five minutes. Meanwhile hits carry no
                # domain, and an account name alone joins them to nothing.
                self._netbios_retry = time.monotonic() + 300
                return None
        return self._netbios or None

    def read(self, ref: ObjectRef, *, timeout: float) -> Record:
        """The configured personal-data attributes of the user with objectGUID `ref.id`;
        `NotFound` when there is none."""
        entries = self._search(
            PERSON_FILTER.format(f"(objectGUID={guid_filter_value(ref.id)})"), timeout=timeout
        )
        if not entries:
            raise NotFound("no Active Directory user has that objectGUID")
        return self._record(ref, entries[0])

    def _record(self, ref: ObjectRef, entry: Mapping[str, Any]) -> Record:
        raw = entry["raw_attributes"]
        modified = generalized_time(raw.get("whenChanged"))
        attrs = {
            name: AttributeValue(values, source=self.name, modified=modified)
            for name, values in _strings(raw).items()
            if name in self.settings.attributes
        }
        return Record(ref=ref, attributes=attrs, modified=modified)

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan:
        return self.eraser.plan(ref, timeout=timeout)

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult:
        return self.eraser.apply(plan, timeout=timeout)

    def verify_absent(self, identifiers: Mapping[IdKind, str], *, timeout: float) -> Verification:
        return self.eraser.verify_absent(identifiers, timeout=timeout)

    def plan_update(
        self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float
    ) -> UpdatePlan:
        return self.updater.plan(ref, changes, timeout=timeout)

    def apply_update(self, plan: UpdatePlan, *, timeout: float) -> StepResult:
        return self.updater.apply(plan, timeout=timeout)

    def health(self, *, timeout: float) -> Health:
        try:
            with self._connection() as conn, ldap_errors():
                conn.search(
                    self.settings.base_dn,
                    "(objectClass=*)",
                    ldap3.BASE,
                    attributes=["distinguishedName"],
                    time_limit=seconds(timeout),
                )
                ok = bool(conn.response)
        except ConnectorError as exc:
            return Health(self.name, False, f"{exc.__class__.__name__}: {exc}")
        detail = "bound and read the base DN" if ok else "bound, but cannot read the base DN"
        return Health(self.name, ok, detail)

    def doctor(self, *, timeout: float) -> list[Check]:
        """Check, read-only, what this connector assumes about the directory: the bind
        account reads the base DN, the schema has every attribute it reads or writes (and
        the writable ones are single-valued strings), the deleted-object lifetimes and the
        Recycle Bin state (connectors/ad/doctor.py)."""
        return run_doctor(self, timeout=timeout)

    def inventory(self, *, timeout: float) -> SystemInventory:
        """What the directory holds about persons, for the data map: the attributes this
        connector reads or writes, the user objects under base_dn (counted, none read), the
        domain functional level, and what a deleted or pseudonymised user leaves behind
        (connectors/ad/inventory.py)."""
        return run_inventory(self, timeout=timeout)

    def stale(self, rule: StaleRule, *, now: datetime, timeout: float) -> Iterator[Candidate]:
        """The users under base_dn of `rule`'s population, DISABLED (the ACCOUNTDISABLE bit,
        unchanged since the cutoff) or INACTIVE (lastLogonTimestamp, or whenCreated for one
        never signed in, at or before it), paged; `NotSupported` for another population or
        an INACTIVE rule younger than 14 days (connectors/ad/sweeps.py)."""
        return stale_users(self, rule, now=now, timeout=timeout)

    def on_hold(self, query: HoldQuery, *, timeout: float) -> Iterator[Mapping[IdKind, str]]:
        """The identifiers of each user in the hold group `query.group` (a DN), nested
        groups included; `NotFound` when no group has that DN, `NotSupported` for a column
        (connectors/ad/sweeps.py)."""
        return hold_members(self, query, timeout=timeout)

    # -- for the sweeps module ---------------------------------------------------

    def connection(self) -> contextlib.AbstractContextManager[ldap3.Connection]:
        """A pooled connection, given back (or dropped) when the block ends."""
        return self._connection()

    def hit(self, entry: dict[str, Any], domain: str | None) -> Hit:
        """A search entry as a hit: its ref, identifiers and label, as `search` gives them."""
        return self._hit(entry, domain)

    def netbios_domain(self, timeout: float) -> str | None:
        """The NetBIOS domain name hits carry beside the account (None: unknown)."""
        return self._domain(timeout)

    def close(self) -> None:
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            _discard(conn)

    # -- filters --------------------------------------------------------------

    def _term_filter(self, query: Query) -> str:
        """The term's filter: one clause per spelling (`connectors.spelling`), OR'ed;
        every value escaped, so a `*` or a bracket in it is a literal character."""
        clauses = [self._clause(query, escape_filter_chars(s)) for s in spellings(query.value)]
        return clauses[0] if len(clauses) == 1 else f"(|{''.join(clauses)})"

    def _clause(self, query: Query, v: str) -> str:
        if query.kind is QueryKind.MAIL_OR_UPN:
            return f"(|(userPrincipalName={v})(mail={v})(proxyAddresses=smtp:{v}))"
        if query.kind is QueryKind.EMPLOYEE_ID:
            return f"(employeeID={v})"
        if query.kind is QueryKind.PREFIX:
            return f"(|(displayName={v}*)(cn={v}*)(sAMAccountName={v}*))"
        if query.kind is QueryKind.NAME:
            # Exact account, display name or cn, as before; and Ambiguous Name Resolution,
            # the directory's own name search: `anr==` (exact, the leading "=") matches
            # givenName, sn, displayName, name, sAMAccountName, proxyAddresses,
            # physicalDeliveryOfficeName, legacyExchangeDN and the phonetic names, and a
            # value with a space as "given surname" or "surname given" (split at its
            # first space). Indexed in AD and Samba; bench/ad_anr.py measures it.
            return f"(|(sAMAccountName={v})(displayName={v})(cn={v})(anr=={v}))"
        attribute = self._searchable.get((query.attribute or "").lower())
        if attribute is None:
            raise NotSupported("does not search on that attribute")
        return f"({attribute}={v})"

    # -- wire ---------------------------------------------------------------

    def _search(self, ldap_filter: str, *, timeout: float) -> list[dict[str, Any]]:
        try:
            return self._search_once(ldap_filter, timeout=timeout, fresh=False)
        except Unreachable:
            # A pooled connection dies with its DC (a restart, an idle timeout): a read
            # is safe to repeat once on a new connection.
            return self._search_once(ldap_filter, timeout=timeout, fresh=True)

    def _search_once(
        self, ldap_filter: str, *, timeout: float, fresh: bool
    ) -> list[dict[str, Any]]:
        s = self.settings
        with self._connection(fresh=fresh) as conn, ldap_errors():
            # ldap3 sends the paged-results control and follows its cookie; the generator
            # raises lazily, so it is consumed here, inside ldap_errors().
            entries = conn.extend.standard.paged_search(
                s.base_dn,
                ldap_filter,
                ldap3.SUBTREE,
                attributes=list(self._attributes),
                paged_size=min(s.page_size, s.max_hits),
                time_limit=seconds(timeout),
                generator=True,
            )
            users = (e for e in entries if e.get("type") == "searchResEntry")
            found = list(itertools.islice(users, s.max_hits))  # no page past the cap
        # ldap3 yields each page last entry first; DN order is the same on every call.
        return sorted(found, key=lambda e: e.get("dn", "").casefold())

    @contextlib.contextmanager
    def _connection(self, *, fresh: bool = False) -> Iterator[ldap3.Connection]:
        try:
            if fresh:
                self.close()  # the pooled ones are suspect too
                raise queue.Empty
            conn = self._pool.get_nowait()
        except queue.Empty:
            try:
                with ldap_errors():
                    conn = self._factory()
            except (Unreachable, TimedOut):
                # ldap3's Server marks a failed address unavailable for a while; a fresh
                # Server object lets the next call notice a DC that is back at once.
                self._server = None
                raise
        try:
            yield conn
        except (Unreachable, TimedOut):
            self._server = None
            _discard(conn)  # the socket is in an unknown state: drop it, never pool it
            raise
        except ConnectorError:
            self._give_back(conn)  # the DC answered: the connection is sound
            raise
        except BaseException:
            _discard(conn)  # a bug or an interrupt mid-operation: never pool it
            raise
        self._give_back(conn)

    def _give_back(self, conn: ldap3.Connection) -> None:
        try:
            self._pool.put_nowait(conn)
        except queue.Full:
            _discard(conn)

    def _connect(self) -> ldap3.Connection:
        s = self.settings
        if self._server is None:
            use_ssl = s.url.lower().startswith("ldaps://")
            if not use_ssl and not s.allow_plain_ldap:
                raise Unreachable("plain LDAP is not allowed by the configuration")
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=str(s.ca_file) if s.ca_file else None,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
            self._server = ldap3.Server(
                s.url,
                use_ssl=use_ssl,
                tls=tls if use_ssl else None,
                connect_timeout=s.timeout,
                get_info=ldap3.NONE,
            )
        conn = ldap3.Connection(
            self._server,
            user=s.bind_dn,
            password=s.password,
            receive_timeout=seconds(s.timeout),
            raise_exceptions=True,
            # Never chase a referral to another server with these credentials. ldap3's
            # paged search turns it off for its run, and a search stopped at max_hits
            # would leave it off on a pooled connection: off from the start, always.
            auto_referrals=False,
        )
        try:
            conn.open(read_server_info=False)
            conn.bind()
        except BaseException:
            _discard(conn)  # ldap3 leaves the socket open when connect, TLS or bind fails
            raise
        return conn

    # -- mapping ------------------------------------------------------------

    def _hit(self, entry: dict[str, Any], domain: str | None = None) -> Hit:
        raw = entry["raw_attributes"]
        values = _strings(raw)
        guid = _guid(raw.get("objectGUID"))
        ids: dict[IdKind, str] = {
            kind: values[attr][0] for attr, kind in _ID_KINDS.items() if values.get(attr)
        }
        ids[IdKind.DN] = entry["dn"]
        if domain:
            ids[IdKind.DOMAIN] = domain
        if guid:
            ids[IdKind.OBJECT_GUID] = guid
        name = ids.get(IdKind.DISPLAY_NAME) or (values.get("cn") or [entry["dn"]])[0]
        account = ids.get(IdKind.ACCOUNT)
        label = f"{name} ({account})" if account and account != name else name
        personal = {k: v for k, v in values.items() if k in self.settings.attributes}
        return Hit(
            ref=ObjectRef(self.name, guid or entry["dn"]),
            label=label,
            identifiers=ids,
            modified=generalized_time(raw.get("whenChanged")),
            attributes=personal,
            location=entry["dn"],
        )


def _domain_nc(base_dn: str) -> str:
    """The domain naming context above `base_dn` (its DC= parts)."""
    return ",".join(p for p in re.split(r",\s*", base_dn) if p.upper().startswith("DC="))


def _guid(raw: list[bytes] | None) -> str | None:
    if not raw or len(raw[0]) != 16:
        return None
    return str(uuid.UUID(bytes_le=raw[0]))


def _strings(raw: Mapping[str, list[bytes]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, values in raw.items():
        if name == "objectGUID" or not values:
            continue
        out[name] = tuple(
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
        )
    return out


def _discard(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket even when unbind cannot (a dead or half-open one)."""
    with contextlib.suppress(lx.LDAPException, OSError):
        conn.unbind()
    sock = conn.socket
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
