"""Retention sweeps in Active Directory: the users a rule's population holds (disabled, or
not signed in, for longer than its age) and the members of a hold group.

Every filter is built here from fixed text and values made by code: the cutoff as a
GeneralizedTime or a FILETIME integer, and a group's DN (as the directory spells it)
through RFC 4515 escaping (`escape_filter_chars`). Each search is paged with the
paged-results control (RFC 2696), one request per page, each within the call's timeout.
A paged search's cookie is valid on its own connection only, so a sweep holds one pooled
connection until its last page (or until the caller stops: the connection is dropped).

- DISABLED: the ACCOUNTDISABLE bit (0x2) of userAccountControl, tested with
  LDAP_MATCHING_RULE_BIT_AND, 1.2.840.113556.1.4.803 ([MS-ADTS] 3.1.1.3.4.4.1 "Bitwise
  matching rules"; [MS-ADTS] 2.2.16 "userAccountControl Bits"), and whenChanged at or before
  the cutoff. Nothing records when an account was disabled: whenChanged, the last change
  of any kind, is the newest date it could have been, so a change after disabling only
  makes the account look younger (never older).
- INACTIVE: lastLogonTimestamp (a FILETIME: 100-ns intervals since 1601-01-01 UTC) at or
  before the cutoff, or, never signed in (no lastLogonTimestamp), created (whenCreated)
  at or before it. [MS-ADA1] 2.352 "Attribute lastLogonTimestamp": updated at a logon
  only when older than msDS-LogonTimeSyncInterval (default 14 days; the first update
  "14 days minus a random percentage of 5 days"), so the value may be up to 14 days
  behind. A rule younger than 14 days would find people who signed in last week: refused.
- Holds: members of the group, nested ones included, with LDAP_MATCHING_RULE_IN_CHAIN,
  1.2.840.113556.1.4.1941 ([MS-ADTS] 3.1.1.3.4.4.3 "LDAP_MATCHING_RULE_TRANSITIVE_EVAL";
  Samba implements it in lib/ldb-samba/ldb_matching_rules.c, and the tests run it against
  a Samba DC). Searched in the whole domain, not only under base_dn: a held person whose
  account was moved out of scope is still held. A user whose primary group
  (primaryGroupID) is the hold group is not listed by memberOf: hold groups must not be
  anyone's primary group.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import ldap3
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars

from connectors._shared.ldap import generalized_time, ldap_errors, seconds
from connectors.base import IdKind
from connectors.errors import NotFound, NotSupported
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule

if TYPE_CHECKING:
    from connectors.ad.settings import AdSettings
    from connectors.base import Hit


class AdConnector(Protocol):
    """What the sweep queries use of connectors/ad/connector.py's connector (a protocol, so
    that the connector may import this module)."""

    settings: AdSettings
    domain_nc: str
    identity_attributes: tuple[str, ...]

    def connection(self) -> contextlib.AbstractContextManager[ldap3.Connection]: ...

    def hit(self, entry: dict[str, Any], domain: str | None) -> Hit: ...

    def netbios_domain(self, timeout: float) -> str | None: ...


__all__ = [
    "MIN_INACTIVE_AGE",
    "POPULATIONS",
    "filetime",
    "generalized",
    "hold_members",
    "stale_filter",
    "stale_users",
]

log = logging.getLogger(__name__)

POPULATIONS = frozenset({Population.DISABLED, Population.INACTIVE})
# [MS-ADA1] 2.352: lastLogonTimestamp may lag by up to msDS-LogonTimeSyncInterval (14 days
# unless changed). A younger rule cannot tell a recent sign-in from none.
MIN_INACTIVE_AGE = timedelta(days=14)

_USERS = "(&(objectCategory=person)(objectClass=user){})"
_BIT_AND = "1.2.840.113556.1.4.803"  # LDAP_MATCHING_RULE_BIT_AND
_IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN
_ACCOUNTDISABLE = 0x2
_PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696 control OID
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_SWEEP_ATTRIBUTES = ("whenCreated", "lastLogonTimestamp")


def _utc(when: datetime) -> datetime:
    """`when` in UTC; a naive datetime is taken to be UTC already."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def generalized(when: datetime) -> str:
    """`when` as an LDAP GeneralizedTime in UTC (RFC 4517 3.3.13), e.g. 20240101080000.0Z."""
    return _utc(when).strftime("%Y%m%d%H%M%S") + ".0Z"


def filetime(when: datetime) -> int:
    """`when` as a FILETIME: 100-nanosecond intervals since 1601-01-01 UTC."""
    return (_utc(when) - _FILETIME_EPOCH) // timedelta(microseconds=1) * 10


def _from_filetime(raw: list[bytes] | None) -> datetime | None:
    if not raw:
        return None
    try:
        ticks = int(raw[0])
    except ValueError:
        return None
    if ticks <= 0:  # 0: never (as AD writes it for some accounts)
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


def stale_filter(rule: StaleRule, now: datetime) -> str:
    """The LDAP filter of `rule`'s population; `NotSupported` for one AD cannot answer."""
    cutoff = rule.cutoff(now)
    if rule.population is Population.DISABLED:
        disabled = f"(userAccountControl:{_BIT_AND}:={_ACCOUNTDISABLE})"
        return _USERS.format(f"{disabled}(whenChanged<={generalized(cutoff)})")
    if rule.population is Population.INACTIVE:
        if rule.age < MIN_INACTIVE_AGE:
            raise NotSupported(
                f"rule {rule.name!r}: lastLogonTimestamp is updated only every 9 to 14 days "
                "(msDS-LogonTimeSyncInterval, [MS-ADA1] 2.352), so an inactive rule needs an "
                f"age of at least {MIN_INACTIVE_AGE.days} days"
            )
        signed_in = f"(lastLogonTimestamp<={filetime(cutoff)})"
        never = f"(&(!(lastLogonTimestamp=*))(whenCreated<={generalized(cutoff)}))"
        return _USERS.format(f"(|{signed_in}{never})")
    raise NotSupported(f"Active Directory cannot find the {rule.population.value} population")


def stale_users(
    connector: AdConnector, rule: StaleRule, *, now: datetime, timeout: float
) -> Iterator[Candidate]:
    """Each user of `rule`'s population under base_dn, page by page, as it arrives. A
    rule AD cannot run is refused here, before anything is sent (not at the first item)."""
    ldap_filter = stale_filter(rule, now)
    return _candidates(connector, rule, ldap_filter, timeout)


def _candidates(
    connector: AdConnector, rule: StaleRule, ldap_filter: str, timeout: float
) -> Iterator[Candidate]:
    base = connector.settings.base_dn
    for entry, domain in _paged(connector, base, ldap_filter, timeout):
        hit = connector.hit(entry, domain)
        raw = entry["raw_attributes"]
        if rule.population is Population.DISABLED:
            since = generalized_time(raw.get("whenChanged"))
        else:
            since = _from_filetime(raw.get("lastLogonTimestamp")) or generalized_time(
                raw.get("whenCreated")
            )
        yield Candidate(ref=hit.ref, identifiers=hit.identifiers, label=hit.label, since=since)


def hold_members(
    connector: AdConnector, query: HoldQuery, *, timeout: float
) -> Iterator[Mapping[IdKind, str]]:
    """The identifiers of each user in the group `query.group`, nested groups included.
    The group is looked up at once: `NotFound` from the call, not from the first item."""
    if query.column is not None or query.group is None:
        raise NotSupported("Active Directory holds are group members: name the group's DN")
    group_dn = _group_dn(connector, query.group, timeout)
    member = f"(memberOf:{_IN_CHAIN}:={escape_filter_chars(group_dn)})"
    return _members(connector, _USERS.format(member), timeout)


def _members(
    connector: AdConnector, ldap_filter: str, timeout: float
) -> Iterator[Mapping[IdKind, str]]:
    domain_nc = connector.domain_nc or connector.settings.base_dn
    for entry, domain in _paged(connector, domain_nc, ldap_filter, timeout):
        yield connector.hit(entry, domain).identifiers


def _group_dn(connector: AdConnector, dn: str, timeout: float) -> str:
    """The group's DN as the directory spells it; `NotFound` when no group has that DN."""
    missing = NotFound("the hold group does not exist in Active Directory (check its DN)")
    if not dn.strip() or "\x00" in dn:
        raise missing
    with connector.connection() as conn, ldap_errors():
        try:
            conn.search(
                dn,
                "(objectClass=group)",
                ldap3.BASE,
                attributes=["objectClass"],
                time_limit=seconds(timeout),
            )
        except (lx.LDAPNoSuchObjectResult, lx.LDAPInvalidDnError, lx.LDAPInvalidDNSyntaxResult):
            raise missing from None
        found = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
    if not found:  # the object exists but is not a group
        raise NotFound("the hold DN names an object that is not a group in Active Directory")
    return str(found[0]["dn"])


def _paged(
    connector: AdConnector, base: str, ldap_filter: str, timeout: float
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each user entry (and the NetBIOS domain) of a paged subtree search, one page per
    request. The connection is the sweep's until the last page; a caller stopping early
    closes the generator, and the connection, mid-search, is dropped, never pooled."""
    s = connector.settings
    attributes = [*connector.identity_attributes, *_SWEEP_ATTRIBUTES]
    domain = connector.netbios_domain(timeout)
    pages = 0
    with connector.connection() as conn:
        cookie: bytes | None = None
        while True:
            with ldap_errors():
                conn.search(
                    base,
                    ldap_filter,
                    ldap3.SUBTREE,
                    attributes=attributes,
                    paged_size=s.page_size,
                    paged_cookie=cookie,
                    time_limit=seconds(timeout),
                )
            entries = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
            pages += 1
            for entry in entries:
                yield entry, domain
            cookie = _cookie(conn.result)
            if not cookie:
                break
    log.debug("ad sweep search: %d page(s)", pages)


def _cookie(result: Mapping[str, Any] | None) -> bytes | None:
    with contextlib.suppress(KeyError, TypeError):
        return result["controls"][_PAGED_RESULTS]["value"]["cookie"] or None  # type: ignore[index]
    return None
