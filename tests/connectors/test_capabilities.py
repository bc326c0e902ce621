"""connectors/capabilities.py: which optional capabilities a connector has, found by what it
implements (never by its name), and the one answer to "does it update"."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connectors._shared.powershell import WinRmSettings
from connectors.ad.connector import AdConnector
from connectors.base import Capability
from connectors.bhold.connector import BholdConnector
from connectors.capabilities import (
    SearchesRecords,
    Updates,
    describes_data,
    finds_stale,
    knows_holds,
    management_agent,
    maps_metaverse,
    mim_telemetry,
    reports_retention,
    searches_records,
    self_checks,
    shows_lineage,
    updates,
)
from connectors.certmgmt.connector import CertManagementConnector
from connectors.hr.csv_files import HrCsvConnector
from connectors.hr.sql import HrConnector
from connectors.memory import MemoryConnector, RecordsMemoryConnector
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from connectors.pam.connector import PamConnector, PamSettings
from connectors.sweeps import Population

WINRM = WinRmSettings("http://mim01.corp.test:5985/wsman", "bot", "secret", "credssp")


@pytest.mark.parametrize(
    "cls",
    [
        AdConnector,
        BholdConnector,
        CertManagementConnector,
        HrCsvConnector,
        MemoryConnector,
        MimServiceConnector,
        MimSyncConnector,
        PamConnector,
    ],
)
def test_a_connector_declares_update_exactly_when_it_implements_updates(cls: type) -> None:
    assert (Capability.UPDATE in cls.capabilities) == issubclass(cls, Updates)


def test_the_hr_connector_neither_declares_nor_implements_update() -> None:
    # Its capabilities depend on its settings (delete), never on update.
    assert not issubclass(HrConnector, Updates)


def test_each_capability_is_found_by_what_the_connector_implements_whatever_its_name() -> None:
    service = MimServiceConnector(
        MimServiceSettings(WINRM, name="portal", management_agent="MIM Service MA")
    )
    pam = PamConnector(PamSettings(winrm=WINRM, source_domain="CORP", name="priv"))
    engine = sa.create_engine("sqlite://")
    sync = MimSyncConnector(MimSyncSettings(url="sqlite://", name="mv"), engine=engine)
    memory = MemoryConnector("mimsync")  # the metaverse's usual name does not make one
    try:
        assert updates(service) is service and updates(memory) is memory
        assert updates(pam) is updates(sync) is None
        assert reports_retention(service) is service
        assert reports_retention(pam) is reports_retention(memory) is None
        assert mim_telemetry(service) is service and mim_telemetry(pam) is pam
        assert mim_telemetry(sync) is mim_telemetry(memory) is None
        assert shows_lineage(sync) is sync
        assert shows_lineage(memory) is shows_lineage(service) is None
        assert management_agent(service) == "MIM Service MA"
        assert management_agent(memory) is management_agent(pam) is None
        # The sweep's: the metaverse finds the unjoined; no MIM Service or PAM population.
        assert finds_stale(sync) is sync and Population.UNJOINED in sync.populations
        assert finds_stale(service) is finds_stale(pam) is finds_stale(memory) is None
        assert knows_holds(sync) is knows_holds(memory) is None
        assert self_checks(service) is service and self_checks(memory) is None
        assert describes_data(pam) is pam and maps_metaverse(sync) is sync
        assert maps_metaverse(service) is None
    finally:
        engine.dispose()


def test_a_connector_with_the_methods_but_not_the_flag_does_not_update() -> None:
    class ReadOnly(MemoryConnector):
        capabilities = frozenset(Capability) - {Capability.UPDATE}

    assert isinstance(ReadOnly(), Updates)
    assert updates(ReadOnly()) is None


@pytest.mark.parametrize(
    ("cls", "one_trip"),
    [
        (MimServiceConnector, True),
        (PamConnector, True),
        (BholdConnector, True),
        (CertManagementConnector, True),
        (RecordsMemoryConnector, True),
        (AdConnector, True),  # its search fetches every attribute `read` gives
        (HrConnector, False),
        (HrCsvConnector, False),
        (MimSyncConnector, False),
        (MemoryConnector, False),
    ],
)
def test_the_systems_that_find_and_read_in_one_call(cls: type, one_trip: bool) -> None:
    assert issubclass(cls, SearchesRecords) == one_trip


def test_a_connector_that_may_not_read_gives_no_records() -> None:
    class Unreadable(RecordsMemoryConnector):
        capabilities = frozenset(Capability) - {Capability.READ}

    assert isinstance(Unreadable(), SearchesRecords)
    assert searches_records(Unreadable()) is None
    both = RecordsMemoryConnector()
    assert searches_records(both) is both and searches_records(MemoryConnector()) is None
