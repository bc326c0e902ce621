"""`doctor` for Active Directory: what the connector assumes about the directory, checked
read-only with the bind account (connectors/doctor.py). It reads the base DN's own entry,
the schema's attributeSchema objects, and the configuration partition's Directory Service
and Partitions objects; no user entry.

Sources: the schema NC and attributeSchema objects by lDAPDisplayName (MS-ADTS 3.1.1.2,
"Active Directory Schema"); tombstoneLifetime and msDS-DeletedObjectLifetime on
CN=Directory Service,CN=Windows NT,CN=Services,<configuration NC> (MS-ADTS 6.1.1.2.4.1.1);
unset tombstoneLifetime is 60 days and unset msDS-DeletedObjectLifetime is the tombstone
lifetime (MS-ADTS 3.1.1.1.15, "Tombstone lifetime and deleted-object lifetime"); the
Recycle Bin is on when CN=Partitions' msDS-EnabledFeature names the Recycle Bin Feature
(MS-ADTS 3.1.1.9, "Optional features").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import ldap3

from connectors._shared.ldap import ldap_errors, seconds
from connectors.ad.erasure import (
    DEFAULT_TOMBSTONE_DAYS,
    _read,
    _text,
    _values,
    configuration_nc,
)
from connectors.ad.schema import read_rules, schema_nc
from connectors.ad.settings import TOLD_RETENTION_DAYS
from connectors.doctor import Check, Verdict, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, Denied, NotSupported, TimedOut, Unreachable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from connectors.ad.settings import AdSettings


class AdConnector(Protocol):
    """What the checks use of the connector (connectors/ad/connector.py): its settings, the
    identity attributes it reads and a bound connection. A protocol, so that the connector
    may import this module."""

    settings: AdSettings
    identity_attributes: tuple[str, ...]

    def _connection(self, *, fresh: bool = False) -> AbstractContextManager[ldap3.Connection]: ...


def _domain_nc(base_dn: str) -> str:
    parts = (p.strip() for p in base_dn.split(","))
    return ",".join(p for p in parts if p.upper().startswith("DC="))


__all__ = ["attributes_used", "run_doctor"]

BASE = "the bind account reads the search base"
SCHEMA = "the schema defines the attributes the bot reads and writes"
WRITABLE = "the attributes a correction writes are single-valued strings in the schema"
RETENTION = (
    f"deleted users leave the directory within the {TOLD_RETENTION_DAYS} days people are told"
)
RECYCLE_BIN = "the Recycle Bin state reads"
# Read by the eraser beside the configured ones (connectors/ad/erasure.py).
_ERASER_READS = ("userAccountControl", "objectSid", "isDeleted", "isRecycled", "lastKnownParent")


def attributes_used(connector: AdConnector) -> list[str]:
    """Every attribute the connector reads, searches, writes or clears, once each."""
    s = connector.settings
    names = (
        *connector.identity_attributes,
        "proxyAddresses",
        *s.attributes,
        *s.search_attributes,
        *s.writable,
        *s.scrub_attributes,
        *_ERASER_READS,
    )
    return list({n.lower(): n for n in reversed(names)}.values())[::-1]


def _fix_for(exc: ConnectorError) -> str:
    if isinstance(exc, Denied):
        return "check connectors.ad.bind_dn and password, and the account's read rights"
    if isinstance(exc, Unreachable | TimedOut):
        return "check connectors.ad.url (ldaps://, port 636), ca_file and the network path"
    return "check connectors.ad.url, bind_dn and base_dn"


def run_doctor(connector: AdConnector, *, timeout: float) -> list[Check]:
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(deadline - time.monotonic(), 0.001)

    s = connector.settings
    domain_nc = _domain_nc(s.base_dn)
    checks: list[Check] = []
    try:
        with connector._connection() as conn, ldap_errors():
            base = _base(conn, s.base_dn, left())
            if base.verdict is not Verdict.OK:
                return [base]
            checks.append(base)
            # One part's error says so under its own names; the others still answer.
            for names, part in (
                ((SCHEMA, WRITABLE), lambda: _schema(conn, connector, domain_nc, left())),
                ((RETENTION, RECYCLE_BIN), lambda: _lifetimes(conn, domain_nc, left())),
            ):
                try:
                    with ldap_errors():
                        checks += part()
                except (Unreachable, TimedOut):
                    raise  # the connection is gone: nothing more to ask it
                except ConnectorError as exc:
                    detail = f"{type(exc).__name__}: {exc}"
                    checks += [cannot_tell(n, detail, _fix_for(exc)) for n in names]
    except Denied as exc:
        if checks:  # refused later on: the rest could not be read
            return _unanswered(checks, exc)
        return [wrong(BASE, f"{type(exc).__name__}: {exc}", _fix_for(exc))]
    except ConnectorError as exc:
        if checks:  # the connection went mid-way: keep what was answered
            return _unanswered(checks, exc)
        return [cannot_tell(BASE, f"{type(exc).__name__}: {exc}", _fix_for(exc))]
    return checks


def _unanswered(checks: list[Check], exc: ConnectorError) -> list[Check]:
    done = {c.name for c in checks}
    detail = f"{type(exc).__name__}: {exc}"
    rest = [n for n in (SCHEMA, WRITABLE, RETENTION, RECYCLE_BIN) if n not in done]
    return checks + [cannot_tell(n, detail, _fix_for(exc)) for n in rest]


def _base(conn: ldap3.Connection, base_dn: str, timeout: float) -> Check:
    try:
        conn.search(base_dn, "(objectClass=*)", ldap3.BASE, attributes=["objectClass"],
                    time_limit=seconds(timeout))  # fmt: skip
    except ldap3.core.exceptions.LDAPNoSuchObjectResult:
        fix = "set connectors.ad.base_dn to an OU or domain DN that exists"
        return wrong(BASE, "no such entry", fix)
    found = [e for e in conn.response if e.get("type") == "searchResEntry"]
    if not found:
        return wrong(
            BASE,
            "bound, but the base DN's entry is not readable",
            "give the bind account read access to connectors.ad.base_dn",
        )
    return ok(BASE, "bound and read the base DN's entry")


def _schema(
    conn: ldap3.Connection, connector: AdConnector, domain_nc: str, timeout: float
) -> list[Check]:
    names = attributes_used(connector)
    try:
        nc = schema_nc(conn, domain_nc, timeout)
        rules = read_rules(conn, nc, names, timeout)
    except NotSupported as exc:
        fix = "give the bind account read access to the schema (CN=Schema,CN=Configuration)"
        return [cannot_tell(SCHEMA, str(exc), fix), cannot_tell(WRITABLE, str(exc), fix)]
    missing = [n for n in names if n.lower() not in rules]
    if missing:
        schema_check = wrong(
            SCHEMA,
            f"not in the schema: {', '.join(missing)}",
            "remove them from connectors.ad (attributes, search_attributes, writable,"
            " scrub_attributes), or correct their spelling (lDAPDisplayName)",
        )
    else:
        schema_check = ok(SCHEMA, f"{len(names)} attributes defined")
    refusals = [
        why
        for n in connector.settings.writable
        if (rule := rules.get(n.lower())) is not None and (why := rule.refusal())
    ]
    if refusals:
        writable = wrong(
            WRITABLE,
            "; ".join(refusals),
            "remove them from connectors.ad.writable: a correction would be refused",
        )
    else:
        defined = sum(1 for n in connector.settings.writable if n.lower() in rules)
        writable = ok(WRITABLE, f"{defined} writable attributes checked")
    return [schema_check, writable]


def _lifetimes(conn: ldap3.Connection, domain_nc: str, timeout: float) -> list[Check]:
    config_nc = configuration_nc(conn, domain_nc, timeout)
    checks: list[Check] = []
    try:
        ds = _read(
            conn,
            f"CN=Directory Service,CN=Windows NT,CN=Services,{config_nc}",
            ["tombstoneLifetime", "msDS-DeletedObjectLifetime"],
            timeout,
        )
    except ConnectorError as exc:
        ds = None
        checks.append(
            cannot_tell(
                RETENTION,
                f"the Directory Service object is not readable ({exc})",
                "give the bind account read access to the configuration partition",
            )
        )
    try:
        partitions = _read(conn, f"CN=Partitions,{config_nc}", ["msDS-EnabledFeature"], timeout)
        features = _values(partitions, "msDS-EnabledFeature")
        recycle_bin: bool | None = any(
            f.lower().startswith("cn=recycle bin feature,") for f in features
        )
    except ConnectorError as exc:
        recycle_bin = None
        partitions_error = str(exc)
    if ds is not None:
        set_tsl = _text(ds, "tombstoneLifetime")
        tsl = int(set_tsl) if set_tsl.isdigit() else DEFAULT_TOMBSTONE_DAYS
        set_dol = _text(ds, "msDS-DeletedObjectLifetime")
        dol = int(set_dol) if set_dol.isdigit() else tsl
        said = f"tombstoneLifetime {tsl} days" + ("" if set_tsl else " (unset: MS-ADTS' 60)")
        total = tsl + (dol if recycle_bin else 0)
        if recycle_bin:
            said += f", msDS-DeletedObjectLifetime {dol} days" + ("" if set_dol else " (unset)")
        if recycle_bin is None:
            said += "; Recycle Bin unknown"
        if total > TOLD_RETENTION_DAYS:
            checks.append(
                wrong(
                    RETENTION,
                    f"{said}: a deleted user's copy stays {total} days",
                    f"tell the privacy notice's owner AD keeps deleted users {total} days, or"
                    f" lower the lifetimes to {TOLD_RETENTION_DAYS} days in total",
                )
            )
        else:
            checks.append(ok(RETENTION, f"{said}: at most {total} days"))
    if recycle_bin is None:
        checks.append(
            cannot_tell(
                RECYCLE_BIN,
                f"CN=Partitions is not readable ({partitions_error})",
                "give the bind account read access to the configuration partition",
            )
        )
    elif recycle_bin:
        checks.append(
            ok(RECYCLE_BIN, "enabled: a deleted user keeps every attribute until it is recycled")
        )
    else:
        checks.append(ok(RECYCLE_BIN, "not enabled: a deleted user becomes a tombstone at once"))
    return checks
