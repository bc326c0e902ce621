"""The console's package sender (bot/frontends/console.py): it reads the package from
memory, and an encrypted package's password is printed once, marked as Slack's
ephemeral message (not stored)."""

from __future__ import annotations

import io

import pytest

from bot.audit import AuditLog, SubjectKeyer
from bot.config import PolicyConfig
from bot.frontends.console import ConsolePackageSender
from bot.lookup.search import SearchService
from bot.lookup.show import ShowService
from bot.permissions.roles import Actor, Role
from bot.workflow.access import AccessService
from bot.workflow.store import RequestStore
from connectors.base import IdKind, Query, QueryKind
from connectors.memory import MemoryConnector, Person
from tests.support.keys import CHAIN_KEY

EXPORTER = Actor("UEXP", frozenset({Role.EXPORTER}))


@pytest.mark.parametrize("encrypt", [False, True])
def test_the_console_shows_the_package_and_a_password_once(engine, encrypt):
    jane = {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe"}
    hr = MemoryConnector("hr", "HR", [Person("1", jane, {"birth_date": ("1980-05-17",)})])
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    keyer = SubjectKeyer("test-subject-key-0123456789")
    search = SearchService([hr], audit=audit, keyer=keyer, timeout=2)
    out = io.StringIO()
    access = AccessService(
        store=RequestStore(engine, audit=audit),
        show=ShowService(search=search, connectors={"hr": hr}, audit=audit),
        keyer=keyer,
        sender=ConsolePackageSender(out),
        policy=PolicyConfig(export_encrypt=encrypt),
    )
    result = access.export(Query(QueryKind.NAME, "jdoe"), actor=EXPORTER)
    text = out.getvalue()
    assert f"{result.request.id}.zip" in text and "hr.csv" in text
    if not encrypt:
        assert "README.txt:" in text and "Password" not in text
        return
    (line,) = [x for x in text.splitlines() if "Password for the access package" in x]
    password = line.split("`")[1]
    assert text.count(password) == 1  # printed once, and nowhere else
    assert "[DM to UEXP, ephemeral: only they see it, not stored]" in text
