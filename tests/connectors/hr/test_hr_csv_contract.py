"""The connector contract suite (tests/connectors/test_connector_contract.py) over the HR
source read from a folder of CSV exports (connectors/hr/csv_files.py), written as the feed
writes them (demo/hr_sample.py) and read through the sample mapping, as
tests/connectors/hr/test_hr.py builds it.

It searches every way the suite does, but is read-only (no `Capability.DELETE`): its plan
runs nothing and asks a person to erase the record in the HR system, `apply_delete` is
refused, and the person is gone once the feed's next export no longer holds them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import Hit, ObjectRef, Query, QueryKind
from connectors.hr.csv_files import HrCsvConnector, HrCsvSettings
from demo.hr_sample import MAPPING, Employee, write_csv
from tests.connectors.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.connectors.test_connector_contract import Subject, World, only_hit

ZOE = Employee("880001", "ct-zoe", "Zoë Contract", "ct-zoe@example.test")
OTTO = Employee("880002", "ct-other", "Otto Other", "otto@example.test", department="Sales")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("hr") / "exports"
    staff = {e.emp_no: e for e in (ZOE, OTTO)}
    runs = itertools.count(1)

    def export() -> None:
        """The feed's next run: a new dated file, the newest (settle_seconds=0: read now)."""
        write_csv(folder / f"hr-2026-11-30-{next(runs):04}.csv", list(staff.values()))

    export()
    settings = HrCsvSettings(folder=folder, mapping=MAPPING, settle_seconds=0)
    c = HrCsvConnector(settings)
    counter = itertools.count(10)

    def fresh() -> Hit:
        n = next(counter)
        e = Employee(str(881000 + n), f"ct-del{n}", f"Dora Delete{n}", f"ct-del{n}@example.test")
        staff[e.emp_no] = e
        export()
        return only_hit(c, Query(QueryKind.NAME, e.login))

    def vanish(hit: Hit) -> None:
        del staff[hit.ref.id]  # erased in the HR system by hand, as the manual step asks
        export()

    no_folder = Path(folder.parent / "no" / "such" / "folder")
    yield World(
        c,
        Subject(ZOE.login, ZOE.email, ZOE.emp_no, ZOE.full_name, "Zoë Con"),
        ObjectRef("hr", "404404"),
        fresh,
        vanish=vanish,
        unreachable=lambda: HrCsvConnector(HrCsvSettings(folder=no_folder, mapping=MAPPING)),
        skips={
            "too_slow": (
                "a local file read: HrCsvConnector takes `timeout` but enforces no deadline "
                "(connectors/hr/csv_files.py), so nothing here can exceed one"
            )
        },
    )
    c.close()
