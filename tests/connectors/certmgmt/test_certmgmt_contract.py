"""The connector contract suite (tests/connectors/test_connector_contract.py) over the Certificate
Management connector, through requests' real transport to the loopback CM REST stand-in
(demo/cm_stub.py), as tests/connectors/certmgmt/test_certmgmt.py builds it.

CM knows its users by account only: a search by mail, employee id, prefix or the mail
attribute is `NotSupported`, a NAME holding a display name finds no one, `verify_absent`
searches by ACCOUNT alone, and a hit holds the account and its domain only. It is read-only
(no `Capability.DELETE`): its plan runs nothing, `apply_delete` is refused, and what CM keeps
without a valid certificate goes when a person removes it in the CM portal (`stub.remove`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors._shared.http import HttpSettings
from connectors.base import Connector, Hit, IdKind, ObjectRef, Query, QueryKind
from connectors.certmgmt.connector import CertManagementConnector, CertManagementSettings
from demo.cm_stub import BASIC_USER, CmStub, CmUser
from tests.connectors.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.connectors.test_connector_contract import Subject, World, only_hit
from tests.support.ports import closed_port

NOW = datetime(2026, 12, 1, tzinfo=UTC)
VALID = datetime(2027, 3, 31, 12, 0, tzinfo=UTC)  # after NOW
EXPIRED = datetime(2026, 6, 1, tzinfo=UTC)  # before NOW


def basic(stub: CmStub, **kw: Any) -> CertManagementSettings:
    http = HttpSettings(
        url=stub.https_url,
        auth="basic",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_file=Path(stub.ca_file),
    )
    return CertManagementSettings(http=http, domain="CORP", **kw)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with CmStub(hang_seconds=5.0) as stub:
        zoe = stub.add_user("ct-zoe")
        stub.add_profile(zoe, smartcard=True, certificates=[("1B0000C001", VALID)])
        stub.add_profile(stub.add_user("ct-other"), certificates=[("1B0000C002", VALID)])
        stub.add_user("ct-zoe", "OTHER")  # a namesake in another domain
        c = CertManagementConnector(basic(stub, timeout=1.0), clock=lambda: NOW)
        counter = itertools.count(1)
        made: dict[str, CmUser] = {}

        def fresh() -> Hit:
            # A profile whose certificate has expired: CM keeps it, a person removes it.
            n = next(counter)
            user = made[f"CORP\\ct-del{n}"] = stub.add_user(f"ct-del{n}")
            stub.add_profile(user, smartcard=True, certificates=[(f"2C00000{n:03}", EXPIRED)])
            return only_hit(c, Query(QueryKind.NAME, f"ct-del{n}"))

        def vanish(hit: Hit) -> None:
            stub.remove(made[hit.ref.id])  # done in the CM portal, as the manual step asks

        @contextmanager
        def too_slow() -> Iterator[tuple[Connector, float]]:
            # A stand-in of its own that holds the search's request and then health's.
            with CmStub(hang_seconds=5.0) as slow:
                slow.fail("hang", times=2)
                sc = CertManagementConnector(basic(slow, timeout=1.0), clock=lambda: NOW)
                try:
                    yield sc, 1.0
                finally:
                    sc.close()

        s = basic(stub, timeout=1.0)
        dead = replace(s.http, url=f"https://127.0.0.1:{closed_port()}/CertificateManagement")
        yield World(
            c,
            Subject("ct-zoe", "ct-zoe@example.test", "880001", "Zoë Contract", "Zoë Con"),
            ObjectRef("certmgmt", "CORP\\nobody-404"),
            fresh,
            vanish=vanish,
            unreachable=lambda: CertManagementConnector(replace(s, http=dead)),
            too_slow=too_slow,
            searches_by=frozenset({QueryKind.NAME}),
            holds=frozenset(),
            verifies_by=frozenset({IdKind.ACCOUNT}),
            finds_display_name=False,
        )
        c.close()
