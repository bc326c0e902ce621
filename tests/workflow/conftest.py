"""The demo estate and the bot's services over it, fresh for each test that asks for
`bot` (a test module may define its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.demo_bot import DemoBot


@pytest.fixture
def bot() -> Iterator[DemoBot]:
    b = DemoBot.start()
    try:
        yield b
    finally:
        b.close()
