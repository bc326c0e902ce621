"""Active Directory's settings: its `connectors.ad` section of app.yaml, declared once."""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import Literal

import pydantic.dataclasses
from pydantic import Field, field_validator

from connectors.ad.update import DEFAULT_WRITABLE, refused_for_writing
from connectors.spec import SETTINGS

__all__ = ["DEFAULT_ATTRIBUTES", "DEFAULT_SCRUB_ATTRIBUTES", "TOLD_RETENTION_DAYS", "AdSettings"]

# How long people are told AD keeps a deleted account's copy (the spec's retention words);
# doctor checks the directory's lifetimes against it.
TOLD_RETENTION_DAYS = 180

# The personal-data attributes `show` reads unless app.yaml lists its own.
DEFAULT_ATTRIBUTES = (
    *("sAMAccountName", "userPrincipalName", "displayName", "givenName", "sn", "mail"),
    *("proxyAddresses", "employeeID", "telephoneNumber", "mobile", "department", "title"),
    "manager",
)
# What `disable_and_scrub` clears (connectors/ad/erasure.py).
DEFAULT_SCRUB_ATTRIBUTES = (
    *("givenName", "sn", "initials", "displayName", "description", "info", "title"),
    *("mail", "proxyAddresses", "userPrincipalName", "employeeID", "employeeNumber"),
    *("telephoneNumber", "mobile", "homePhone", "otherTelephone", "ipPhone", "pager"),
    *("streetAddress", "postalCode", "l", "st", "physicalDeliveryOfficeName"),
    *("department", "company", "manager", "thumbnailPhoto", "jpegPhoto", "wWWHomePage"),
)
_LDAP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


@pydantic.dataclasses.dataclass(frozen=True, config=SETTINGS)
class AdSettings:
    """Where the directory is and what may be read, searched and written.

    LDAPS with CA validation unless `allow_plain_ldap` says otherwise. `domain` is the
    NetBIOS name (as the metaverse's `domain` holds it), read from the forest's crossRef
    when unset; hits carry it, so EMEA\\asmith and AMER\\asmith stay apart. Raises
    `ValueError` for a setting that cannot work.
    """

    url: str
    bind_dn: str
    password: str = field(repr=False)
    base_dn: str
    ca_file: Path | None = None
    allow_plain_ldap: bool = False  # ldap:// without TLS only when said explicitly
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    search_attributes: tuple[str, ...] = ()  # extra attributes allowed in `find <attr>=<value>`
    # What `/mim update` may write (apart from `attributes`, which `show` reads): personal
    # strings only; one that secures, names or keys the account is refused here, and the
    # directory's schema is checked again before writing (connectors/ad/update.py).
    writable: tuple[str, ...] = DEFAULT_WRITABLE
    page_size: int = Field(default=500, ge=1, le=1000)
    max_hits: int = Field(default=200, ge=1)
    timeout: float = Field(default=2.0, gt=0, alias="timeout_seconds")
    pool_size: int = Field(default=4, ge=1, le=64)
    domain: str | None = None
    name: str = "ad"
    label: str = "Active Directory"
    management_agent: str | None = None  # this domain's MA name in the Sync Service
    # Erasure (connectors/ad/erasure.py). disable_and_scrub is pseudonymisation, not erasure.
    delete_mode: Literal["delete", "disable_and_scrub"] = "delete"
    quarantine_ou: str | None = None  # required by disable_and_scrub
    scrub_attributes: tuple[str, ...] = DEFAULT_SCRUB_ATTRIBUTES

    @field_validator("writable")
    @classmethod
    def _writable(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        odd = [a for a in v if not _LDAP_NAME.fullmatch(a)]
        if odd:
            raise ValueError(f"{len(odd)} entry(ies) are not LDAP attribute names")
        refused = [f"{a} ({why})" for a in v if (why := refused_for_writing(a))]
        if refused:
            raise ValueError(
                f"never writable by a correction: {'; '.join(refused)}; list personal-data "
                "string attributes only"
            )
        return v

    def __post_init__(self) -> None:
        if self.url.lower().startswith("ldap://") and not self.allow_plain_ldap:
            raise ValueError(
                "url uses plain ldap:// — use ldaps://, or set allow_plain_ldap: true explicitly"
            )
        if self.delete_mode == "disable_and_scrub" and not self.quarantine_ou:
            raise ValueError("delete_mode disable_and_scrub needs quarantine_ou")
