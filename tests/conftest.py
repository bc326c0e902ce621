"""Session fixtures: the real servers (PostgreSQL, Samba AD) start on first use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import fresh_database, postgres_server
from tests.support.samba import SambaAd, start_samba


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> str:
    """An empty PostgreSQL database of its own for one test."""
    return fresh_database(postgres_admin_url)


@pytest.fixture(scope="session")
def samba() -> Iterator[SambaAd]:
    """The real Samba AD DC on loopback, reset to its just-provisioned database once a session.

    Modules seed their own users in their own OU, so they do not depend on each other.
    """
    ad = start_samba(reset=True)
    yield ad
    ad.run("stop")
