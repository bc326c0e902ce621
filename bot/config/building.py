"""The connectors app.yaml's `connectors:` section enables, built in source-of-authority
order. A setting a connector refuses is a configuration error naming its section."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from bot.config.app import AppConfig
from bot.config.connectors import ServiceHttpConfig, WinRmConfig
from bot.errors import ConfigError
from connectors.ad import AdConnector, AdSettings
from connectors.base import Connector, IdKind
from connectors.bhold import BholdConnector, BholdSettings
from connectors.certmgmt import CertManagementConnector, CertManagementSettings
from connectors.hr import HrConnector, HrSettings
from connectors.hr_csv import HrCsvConnector, HrCsvSettings
from connectors.hr_source import HrMapping
from connectors.http_session import HttpSettings
from connectors.mimservice import MimServiceConnector, MimServiceSettings
from connectors.mimsync import MimSyncConnector, MimSyncSettings
from connectors.pam import PamConnector, PamSettings
from connectors.powershell import WinRmSettings

__all__ = ["build_connectors"]


def build_connectors(config: AppConfig) -> list[Connector]:
    """One connector per enabled section of `connectors:`, in source-of-authority order."""
    out: list[Connector] = []
    sync = config.connectors.mimsync
    if sync and sync.enabled:
        url = sa.make_url(sync.url)
        if sync.password:
            url = url.set(password=sync.password)
        out.append(
            MimSyncConnector(
                MimSyncSettings(
                    url=url,
                    server_config_dir=sync.server_config_dir,
                    person_type=sync.person_type,
                    personal_attributes=sync.personal_attributes,
                    delete_wait_timeout_s=sync.delete_wait_seconds,
                    label=sync.label,
                    max_hits=config.search.max_hits_per_system,
                )
            )
        )
    ad = config.connectors.ad
    if ad and ad.enabled:
        out.append(
            AdConnector(
                AdSettings(
                    url=ad.url,
                    bind_dn=ad.bind_dn,
                    password=ad.password,
                    base_dn=ad.base_dn,
                    ca_file=ad.ca_file,
                    allow_plain_ldap=ad.allow_plain_ldap,
                    attributes=ad.attributes,
                    search_attributes=ad.search_attributes,
                    writable=ad.writable,
                    page_size=ad.page_size,
                    max_hits=config.search.max_hits_per_system,
                    timeout=ad.timeout_seconds,
                    pool_size=ad.pool_size,
                    domain=ad.domain,
                    label=ad.label,
                    management_agent=ad.management_agent,
                    delete_mode=ad.delete_mode,
                    quarantine_ou=ad.quarantine_ou,
                    **({"scrub_attributes": ad.scrub_attributes} if ad.scrub_attributes else {}),
                )
            )
        )
    service = config.connectors.mimservice
    if service and service.enabled:
        with _section("connectors.mimservice"):
            settings = MimServiceSettings(
                winrm=_winrm(service.winrm, "mimservice"),
                service_uri=service.service_uri,
                module=service.module,
                management_agent=service.management_agent,
                label=service.label,
                max_hits=config.search.max_hits_per_system,
                timeout=service.timeout_seconds,
            )
        out.append(MimServiceConnector(settings))
    pam = config.connectors.pam
    if pam and pam.enabled:
        with _section("connectors.pam"):
            pam_settings = PamSettings(
                winrm=_winrm(pam.winrm, "pam"),
                source_domain=pam.source_domain,
                label=pam.label,
                timeout=pam.timeout_seconds,
            )
        out.append(PamConnector(pam_settings))
    return _iis_connectors(config, _hr(config, out))


def _hr(config: AppConfig, out: list[Connector]) -> list[Connector]:
    """HR, the source of authority, goes first."""
    hr = config.connectors.hr
    if not (hr and hr.enabled):
        return out
    with _section("connectors.hr"):
        mapping = HrMapping(
            key=hr.key,
            identifiers={_id_kind(k): column for k, column in hr.identifiers.items()},
            columns=hr.columns,
            search_columns=hr.search_columns,
        )
        common = {
            "mapping": mapping,
            "management_agent": hr.management_agent,
            "label": hr.label,
            "max_hits": config.search.max_hits_per_system,
        }
        if hr.kind == "csv":
            assert hr.folder is not None  # HrConfig checked it
            source: Connector = HrCsvConnector(
                HrCsvSettings(
                    folder=hr.folder,
                    pattern=hr.pattern,
                    delimiter=hr.delimiter,
                    encoding=hr.encoding,
                    settle_seconds=hr.settle_seconds,
                    multiline=hr.multiline,
                    **common,
                )
            )
        else:
            assert hr.url and hr.table  # HrConfig checked them
            url = sa.make_url(hr.url)
            if hr.password:
                url = url.set(password=hr.password)
            source = HrConnector(
                HrSettings(
                    url=url,
                    table=hr.table,
                    allow_delete=hr.allow_delete,
                    timeout=hr.timeout_seconds,
                    **common,
                )
            )
    return [source, *out]


def _iis_connectors(config: AppConfig, out: list[Connector]) -> list[Connector]:
    """BHOLD and Certificate Management, both behind IIS Windows authentication."""
    bhold = config.connectors.bhold
    if bhold and bhold.enabled:
        with _section("connectors.bhold"):
            out.append(
                BholdConnector(
                    BholdSettings(
                        http=_http(bhold.service),
                        domain=bhold.domain,
                        attribute_types=bhold.attribute_types,
                        management_agent=bhold.management_agent,
                        label=bhold.label,
                        timeout=bhold.timeout_seconds,
                        max_hits=config.search.max_hits_per_system,
                    )
                )
            )
    cm = config.connectors.certmgmt
    if cm and cm.enabled:
        with _section("connectors.certmgmt"):
            out.append(
                CertManagementConnector(
                    CertManagementSettings(
                        http=_http(cm.service),
                        domain=cm.domain,
                        label=cm.label,
                        timeout=cm.timeout_seconds,
                        max_hits=config.search.max_hits_per_system,
                    )
                )
            )
    return out


def _http(section: ServiceHttpConfig) -> HttpSettings:
    return HttpSettings(
        url=section.url,
        auth=section.auth,
        username=section.username or "",
        password=section.password or "",
        ca_file=section.ca_file,
        allow_plain_http=section.allow_plain_http,
    )


def _id_kind(name: str) -> IdKind:
    try:
        return IdKind(name)
    except ValueError:
        known = ", ".join(k.value for k in IdKind)
        raise ValueError(f"identifiers: unknown kind {name!r} (known: {known})") from None


@contextlib.contextmanager
def _section(key: str) -> Iterator[None]:
    """A setting a connector refuses is a configuration error naming its section."""
    try:
        yield
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _winrm(section: WinRmConfig, name: str) -> WinRmSettings:
    return WinRmSettings(
        section.endpoint,
        section.username or "",
        section.password or "",
        section.transport,
        ca_file=section.ca_file,
        operation_timeout=section.operation_timeout_seconds,
        read_timeout=section.read_timeout_seconds,
        name=f"{name}-winrm",
    )
