"""Session fixtures: the real servers (PostgreSQL, Samba AD) start on first use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.database import create_engine, migrate
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The bot's database, migrated, on an SQLite file and on the real PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'bot.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
