"""An export over the demo estate's real connectors asks each slow system once: the MIM
Service, PAM and Certificate Management one WinRM script each (counted at the stand-in's
protocol boundary, demo/wsman_stub.py), BHOLD its `user` record once; and the package is
what searching, then reading, gave before."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from bot.frontends.console import ConsoleNotifier
from bot.services import Services, build_services
from connectors.base import Query, QueryKind
from demo.estate import DEMO_ADMIN, DemoEstate, demo_config
from tests.workflow.test_access import Catcher, opened

SOBRIEN = Query(QueryKind.NAME, "sobrien")  # held by all seven demo systems
WINRM_SCRIPTS = {"mimservice_search": 1, "pam_get_user": 1, "certmgmt_find": 1}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoEstate, Services]]:
    workdir = Path(tmp_path_factory.mktemp("one-trip"))
    estate = DemoEstate(workdir)
    connectors = estate.connectors()
    services = build_services(
        demo_config(workdir),
        connectors=connectors,
        notifier=ConsoleNotifier(io.StringIO()),
        sender=Catcher(),
    )
    try:
        yield estate, services
    finally:
        services.close()
        for c in connectors:
            c.close()
        estate.close()


def export(estate: DemoEstate, services: Services) -> tuple[Counter[str], Counter[str], dict]:
    """One export of sobrien: the WinRM scripts run, BHOLD's GetInfo functions, the files."""
    catcher = services.access.sender
    assert isinstance(catcher, Catcher)
    scripts, soap = len(estate.winrm.scripts), len(estate.bhold.seen)
    result = services.access.export(SOBRIEN, actor=services.roles.actor(DEMO_ADMIN))
    assert not result.unread
    ran = Counter(r.name for r in estate.winrm.scripts[scripts:])
    functions = Counter(
        etree.fromstring(s.body)[0][0][0].text
        for s in estate.bhold.seen[soap:]
        if s.operation == "GetInfo"
    )
    return ran, functions, opened(catcher.sent[-1][2])


def test_an_export_asks_each_winrm_system_once(demo):
    estate, services = demo
    ran, functions, files = export(estate, services)
    assert ran == WINRM_SCRIPTS  # no read script: the search script read each person
    assert functions["user"] == 1  # the search's own `user` record serves the read
    assert {"mimservice.json", "pam.json", "certmgmt.json", "bhold.json"} <= set(files)


def test_the_package_is_what_searching_then_reading_gives(demo, monkeypatch):
    estate, services = demo
    _, _, now = export(estate, services)
    find = services.search.find
    monkeypatch.setattr(
        services.search, "find", lambda query, **kw: find(query, **{**kw, "records": 0})
    )
    ran, functions, before = export(estate, services)
    assert ran == {
        **{name: 1 for name in WINRM_SCRIPTS},
        "mimservice_read": 1,
        "pam_read_user": 1,
        "certmgmt_find": 2,
    }  # the old way: a search, then a read, of each
    assert functions["user"] == 2
    systems = sorted(n for n in before if n not in ("README.txt", "manifest.json"))
    assert systems == sorted(n for n in now if n not in ("README.txt", "manifest.json"))
    assert len(systems) == 14  # seven systems, a JSON and a CSV each
    for name in systems:
        assert now[name] == before[name], name
