"""Session fixtures: the real servers (PostgreSQL, Samba AD) start on first use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import fresh_database, postgres_server


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> str:
    """An empty PostgreSQL database of its own for one test."""
    return fresh_database(postgres_admin_url)
