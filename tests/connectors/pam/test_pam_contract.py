"""The connector contract suite (tests/connectors/test_connector_contract.py) over the PAM
connector, through pywinrm's real transport to the WS-Management stand-in answering from fixture PAM
state (demo/pam_fixture.py), as tests/connectors/pam/test_pam.py builds it.

PAM users are found by their source account name only: a search by mail, employee id,
prefix or the mail attribute is `NotSupported`, a NAME holding a display name finds no
one, and `verify_absent` searches by ACCOUNT alone. A hit holds the account, its domain
and the display name, never a mail address or employee id."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from connectors._shared.powershell import WinRmSettings
from connectors.base import Connector, Hit, IdKind, ObjectRef, Query, QueryKind
from connectors.pam.connector import PamConnector, PamSettings
from demo.pam_fixture import PamFixture, PamUser
from demo.wsman_stub import NTLM_USER, WsmanStub
from tests.connectors.test_connector_contract import *  # noqa: F403 -- the contract suite, run here
from tests.connectors.test_connector_contract import Subject, World, only_hit
from tests.support.ports import closed_port

MISSING = ObjectRef("pam", "00000000-0000-4000-8000-000000000404")


def settings(stub: WsmanStub, **kw: object) -> PamSettings:
    winrm = WinRmSettings(
        stub.https_endpoint,
        *NTLM_USER,
        "credssp",
        ca_file=Path(stub.ca_file),
        operation_timeout=1,
        read_timeout=3,
    )
    return PamSettings(winrm=winrm, source_domain="CORP", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with WsmanStub() as stub:
        pam = PamFixture(
            [
                PamUser("ct-zoe", "Zoë Contract", roles=("CorpAdmins",)),
                PamUser("ct-other", "Otto Other"),
                PamUser("ct-zoe", "Zoë Contract (Other)", "OTHER"),  # a namesake elsewhere
            ]
        ).install(stub)
        s = settings(stub)
        c = PamConnector(s)
        counter = itertools.count(1)

        def fresh() -> Hit:
            n = next(counter)
            pam.add(f"ct-del{n}", f"Dora Delete{n}")
            return only_hit(c, Query(QueryKind.NAME, f"ct-del{n}"))

        @contextmanager
        def too_slow() -> Iterator[tuple[Connector, float]]:
            stub.fail("pam_get_user", "hang")
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
            unreachable=lambda: PamConnector(replace(s, winrm=dead)),
            too_slow=too_slow,
            searches_by=frozenset({QueryKind.NAME}),
            holds=frozenset({IdKind.DISPLAY_NAME}),
            verifies_by=frozenset({IdKind.ACCOUNT}),
            finds_display_name=False,
        )
        c.close()
