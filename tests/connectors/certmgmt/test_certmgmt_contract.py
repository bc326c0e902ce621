"""The connector contract suite (tests/connectors/test_connector_contract.py) over the Certificate
Management connector, through pywinrm's real transport to the WS-Management stand-in answering
from fixture CM state (demo/cm_fixture.py), as tests/connectors/certmgmt/test_certmgmt.py
builds it.

CM knows its users by the AD account (resolved to its objectGUID): a search by mail, employee
id, prefix or the mail attribute is `NotSupported`, a NAME holding a display name finds no
one, and `verify_absent` proves absence by OBJECT_GUID alone (an account AD does not know
proves nothing). It is read only (no `Capability.DELETE`): its plan runs nothing,
`apply_delete` is refused, and the person's cards go out of use when a person retires them in
the CM portal (`CmFixture.retire_all`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors._shared.powershell import WinRmSettings
from connectors.base import Connector, Hit, IdKind, ObjectRef, Query, QueryKind
from connectors.certmgmt.connector import CertManagementConnector, CertManagementSettings
from demo.cm_fixture import CmFixture, CmUser
from demo.wsman_stub import BASIC_USER, WsmanStub
from tests.connectors.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.connectors.test_connector_contract import Subject, World, only_hit
from tests.support.ports import closed_port

VALID = datetime(2027, 3, 31, 12, 0, tzinfo=UTC)
MISSING = ObjectRef("certmgmt", "00000000-0000-4000-8000-000000000404")


def settings(stub: WsmanStub, **kw: object) -> CertManagementSettings:
    winrm = WinRmSettings(
        stub.https_endpoint,
        *BASIC_USER,
        "basic",
        ca_file=Path(stub.ca_file),
        operation_timeout=1,
        read_timeout=3,
    )
    return CertManagementSettings(winrm=winrm, domain="CORP", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with WsmanStub() as stub:
        cm = CmFixture().install(stub)
        zoe = cm.add_user("ct-zoe")
        cm.add_card(zoe, certificates=[("1B0000C001", VALID)])
        cm.add_card(cm.add_user("ct-other"), smartcard=False, certificates=[("1B0000C002", VALID)])
        cm.add_card(cm.add_user("ct-zoe", "OTHER"))  # a namesake in another domain
        s = settings(stub)
        c = CertManagementConnector(s)
        counter = itertools.count(1)
        made: dict[str, CmUser] = {}

        def fresh() -> Hit:
            n = next(counter)
            user = made[f"ct-del{n}"] = cm.add_user(f"ct-del{n}")
            cm.add_card(user, certificates=[(f"2C00000{n:03}", VALID)])
            cm.add_card(user, smartcard=False)
            return only_hit(c, Query(QueryKind.NAME, f"ct-del{n}"))

        def vanish(hit: Hit) -> None:
            cm.retire_all(made[hit.identifiers[IdKind.ACCOUNT]])  # as the manual step asks

        @contextmanager
        def too_slow() -> Iterator[tuple[Connector, float]]:
            stub.fail("certmgmt_find", "hang")
            stub.fail("ping", "hang")
            try:
                yield c, 1.0
            finally:
                stub.release()

        dead = replace(s.winrm, endpoint=f"https://127.0.0.1:{closed_port()}/wsman")
        yield World(
            c,
            Subject("ct-zoe", "ct-zoe@example.test", "880001", "Zoë Contract", "Zoë Con"),
            MISSING,
            fresh,
            vanish=vanish,
            unreachable=lambda: CertManagementConnector(replace(s, winrm=dead)),
            too_slow=too_slow,
            searches_by=frozenset({QueryKind.NAME}),
            holds=frozenset(),
            verifies_by=frozenset({IdKind.OBJECT_GUID}),
            finds_display_name=False,
        )
        c.close()
