"""The `connectors:` section of app.yaml: one model per system.

Each model only checks what can be checked without the system; the connector's own
settings class (connectors/*.py) refuses what cannot work, and `bot.services` reports
that as a configuration error naming the section.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from bot.config.model import Model as _Model
from bot.config.model import database_url as _database_url
from connectors.ad_update import DEFAULT_WRITABLE, refused_for_writing

__all__ = [
    "AdConfig",
    "BholdConfig",
    "CertMgmtConfig",
    "ConnectorsConfig",
    "HrConfig",
    "MimServiceConfig",
    "MimSyncConfig",
    "PamConfig",
    "ServiceHttpConfig",
    "WinRmConfig",
]


_LDAP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


class AdConfig(_Model):
    enabled: bool = True
    label: str = "Active Directory"
    url: str
    bind_dn: str
    password: str
    base_dn: str
    ca_file: Path | None = None
    allow_plain_ldap: bool = False  # ldap:// without TLS only when said explicitly
    attributes: tuple[str, ...] = (
        "sAMAccountName",
        "userPrincipalName",
        "displayName",
        "givenName",
        "sn",
        "mail",
        "proxyAddresses",
        "employeeID",
        "telephoneNumber",
        "mobile",
        "department",
        "title",
        "manager",
    )
    search_attributes: tuple[str, ...] = ()  # extra attributes allowed in `find <attr>=<value>`
    # What `/mim update` may write (apart from `attributes`, which `show` reads): personal
    # strings only; one that secures, names or keys the account is refused here, and the
    # directory's schema is checked again before writing (connectors/ad_update.py).
    writable: tuple[str, ...] = DEFAULT_WRITABLE
    page_size: int = Field(default=500, ge=1, le=1000)
    timeout_seconds: float = Field(default=2.0, gt=0)
    pool_size: int = Field(default=4, ge=1, le=64)
    domain: str | None = None  # NetBIOS name; read from the forest's crossRef when unset
    management_agent: str | None = None  # this domain's MA name in the Sync Service
    delete_mode: Literal["delete", "disable_and_scrub"] = "delete"
    quarantine_ou: str | None = None
    scrub_attributes: tuple[str, ...] | None = None  # disable_and_scrub; None: the built-in list

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

    def model_post_init(self, _: Any) -> None:
        if self.url.lower().startswith("ldap://") and not self.allow_plain_ldap:
            raise ValueError(
                "url uses plain ldap:// — use ldaps://, or set allow_plain_ldap: true explicitly"
            )
        if self.delete_mode == "disable_and_scrub" and not self.quarantine_ou:
            raise ValueError("delete_mode disable_and_scrub needs quarantine_ou")


class MimSyncConfig(_Model):
    enabled: bool = True
    label: str = "MIM Sync metaverse"
    url: str  # mssql+pyodbc://user@host:1433/FIMSynchronizationService?driver=...
    password: str | None = None  # set apart from the URL, so it needs no URL quoting

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _database_url(v)

    server_config_dir: Path | None = None  # a svrexport folder (MV.XML, MA-*.XML)
    person_type: str = "person"
    personal_attributes: tuple[str, ...] = ()  # empty: every MV attribute
    delete_wait_seconds: float = Field(default=0, ge=0)  # how long verification polls


class WinRmConfig(_Model):
    """PowerShell on a MIM server over WinRM (connectors/powershell.py)."""

    endpoint: str  # https://mim01.corp.example:5986/wsman (the port is required)
    transport: Literal["kerberos", "ntlm", "credssp", "basic"] = "kerberos"
    username: str | None = None  # CORP\svc-mimbot; kerberos may use the process's ticket
    password: str | None = None
    ca_file: Path | None = None  # certificates are always validated; None: the system store
    operation_timeout_seconds: int = Field(default=20, ge=1, le=600)
    read_timeout_seconds: int = Field(default=30, ge=2, le=900)

    def model_post_init(self, _: Any) -> None:
        if self.transport == "basic" and not self.endpoint.lower().startswith("https:"):
            raise ValueError("basic authentication is allowed over https only")
        if self.read_timeout_seconds <= self.operation_timeout_seconds:
            raise ValueError("read_timeout_seconds must be above operation_timeout_seconds")


class MimServiceConfig(_Model):
    enabled: bool = True
    label: str = "MIM Service"
    winrm: WinRmConfig
    service_uri: str = "http://localhost:5725"  # as seen from the MIM server
    module: Literal["fimautomation", "lithnetrma"] = "fimautomation"
    management_agent: str | None = None  # its MA name in the Sync Service
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class PamConfig(_Model):
    enabled: bool = True
    label: str = "MIM PAM"
    winrm: WinRmConfig
    source_domain: str  # the NetBIOS name of the user forest the PAM users come from
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class ServiceHttpConfig(_Model):
    """An IIS-hosted MIM service (BHOLD Core, Certificate Management): Windows
    authentication, certificates always validated (connectors/http_session.py)."""

    url: str
    auth: Literal["ntlm", "kerberos", "basic"] = "ntlm"
    username: str | None = None  # CORP\svc-mimbot; kerberos uses the process's ticket
    password: str | None = None
    ca_file: Path | None = None  # None: the system trust store
    allow_plain_http: bool = False  # http:// only when said explicitly (no TLS: a lab)


class BholdConfig(_Model):
    enabled: bool = True
    label: str = "BHOLD"
    service: ServiceHttpConfig  # https://bhold01:5151/BHOLD/Core/b1scriptservice.asmx
    domain: str  # NetBIOS name: default aliases are DOMAIN\account
    management_agent: str | None = None  # BHOLD's MA name in the Sync Service
    # Search names to BHOLD attribute type ids (`users` filtered on that attribute).
    attribute_types: dict[str, str] = Field(
        default_factory=lambda: {"mail": "Email", "employee_id": "EmployeeID"}
    )
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class CertMgmtConfig(_Model):
    enabled: bool = True
    label: str = "Certificate Management"
    service: ServiceHttpConfig  # https://cm01.corp.example/CertificateManagement (the REST API)
    domain: str  # NetBIOS name of the users' domain
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class HrConfig(_Model):
    """The HR source of authority: a SQL table or view (`kind: sql`) or a folder of CSV
    exports (`kind: csv`). `identifiers` maps identifier kinds (account, employee_id,
    mail, upn, display_name) to columns."""

    enabled: bool = True
    label: str = "HR"
    kind: Literal["sql", "csv"] = "sql"
    url: str | None = None  # sql: any SQLAlchemy URL
    password: str | None = None  # sql: set apart from the URL
    table: str | None = None  # sql: table or view, optionally schema.table
    folder: Path | None = None  # csv: where the export files are
    pattern: str = "*.csv"  # csv: the newest matching file is read
    delimiter: str = ","
    encoding: str = "utf-8-sig"  # csv: the export's encoding (utf-8-sig: with or without BOM)
    # csv: a file modified less than this ago may still be being written and is skipped
    # for the newest older one (read anyway when it is the only file)
    settle_seconds: float = Field(default=5, ge=0, le=3600)
    # csv: the export holds quoted fields with line breaks (an address, a note); otherwise
    # a record that does not take exactly one line is a malformed file and is refused
    multiline: bool = False
    key: str
    identifiers: dict[str, str]
    # The columns `show` returns. Empty: only the key, identifier and search columns (a
    # salary or bank column of a wide HR view reaches no viewer); list the personal-data
    # columns to show; ["*"]: every column of the row.
    columns: tuple[str, ...] = ()
    search_columns: tuple[str, ...] = ()  # further columns `find <column>=<value>` may use
    allow_delete: bool = False  # sql only: otherwise "erase in HR" is a manual step
    management_agent: str | None = None  # this source's MA name in the Sync Service
    timeout_seconds: float = Field(default=5, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _database_url(v)

    def model_post_init(self, _: Any) -> None:
        if self.kind == "sql" and not (self.url and self.table):
            raise ValueError("kind sql needs url and table")
        if self.kind == "csv" and not self.folder:
            raise ValueError("kind csv needs folder")
        if self.kind == "sql" and self.multiline:
            raise ValueError("multiline needs kind csv: a table has no lines")
        if self.kind == "csv" and self.allow_delete:
            raise ValueError("allow_delete needs kind sql: export files are read only")


class ConnectorsConfig(_Model):
    ad: AdConfig | None = None
    mimsync: MimSyncConfig | None = None
    mimservice: MimServiceConfig | None = None
    pam: PamConfig | None = None
    hr: HrConfig | None = None
    bhold: BholdConfig | None = None
    certmgmt: CertMgmtConfig | None = None
