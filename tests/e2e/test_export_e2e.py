"""`/mim export` end to end: a signed slash command into the running Bolt app, the person
read from AD on Samba and from an HR table, the zip uploaded to the caller's DM through
the Web API stub's three upload calls, and never to a channel."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from demo.hr_sample import MAPPING, Employee, create_table
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot

pytestmark = pytest.mark.samba


@pytest.fixture(scope="module")
def seeded(samba):
    conn = samba.admin()
    seed_users(conn, samba.base_dn, [TestUser("ex-kim", "Kim", "Export", "8101")], ou="ExportTests")
    conn.unbind()
    return samba


@pytest.fixture
def stub():
    mock = MockSlack().start()
    yield mock
    mock.stop()


def hr_section(url: str) -> dict:
    return {
        "url": url,
        "table": "employees",
        "key": MAPPING.key,
        "identifiers": {k.value: c for k, c in MAPPING.identifiers.items()},
        "columns": ["emp_no", "login", "full_name", "email", "birth_date"],
    }


def test_export_uploads_one_zip_to_the_callers_dm(tmp_path, stub, seeded):
    hr_url = f"sqlite:///{tmp_path / 'hr.db'}"
    engine = sa.create_engine(hr_url)
    create_table(engine, [Employee("8101", "ex-kim", "Kim Export", "kim@example.test")])
    engine.dispose()
    bot = start_bot(
        tmp_path,
        stub,
        seeded,
        roles__exporter={"users": ["UEXP"]},
        connectors__hr=hr_section(hr_url),
    )
    try:
        status, _, seconds = bot.slash("export ex-kim", "UEXP")
        assert status == 200 and seconds < 3
        reply = bot.answer(timeout=15)
        assert reply["response_type"] == "ephemeral"
        assert "sent to you by direct message" in reply["text"]
        # The three calls of the external upload flow, into the caller's DM only.
        (url_call,) = stub.wait_for("files.getUploadURLExternal")
        (complete,) = stub.wait_for("files.completeUploadExternal")
        (upload,) = [r for r in stub.requests if r.path.startswith("/upload/v1/")]
        assert complete.body["channel_id"] == "DUEXP"
        posts = stub.calls("chat.postMessage")
        assert posts and all(c.body["channel"].startswith("D") for c in posts)  # DMs only
        data = upload.raw
        assert int(url_call.body["length"]) == len(data) and data.startswith(b"PK\x03\x04")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            files = {n: zf.read(n) for n in zf.namelist()}
        manifest = json.loads(files["manifest.json"])
        assert {s: v["outcome"] for s, v in manifest["systems"].items()} == {
            "ad": "found",
            "hr": "found",
        }
        for name, digest in manifest["sha256"].items():
            assert hashlib.sha256(files[name]).hexdigest() == digest
        assert json.loads(files["hr.json"])["attributes"]["birth_date"]["values"] == ["1980-05-17"]
        ad = json.loads(files["ad.json"])["attributes"]
        assert ad["givenName"]["values"] == ["Kim"]
        assert ad["sAMAccountName"]["values"] == ["ex-kim"]
        (event,) = [e for e in bot.services.audit.events() if e.action == "package_sent"]
        assert event.outcome == "ok" and event.actor == "UEXP"
        request = bot.services.requests.get(manifest["request_id"])
        assert request.kind == "access" and request.status.value == "completed"
        assert request.subject is None  # scrubbed: the bot keeps neither package nor person
    finally:
        bot.stop()


def test_export_needs_the_exporter_role(tmp_path, stub, seeded):
    bot = start_bot(tmp_path, stub, seeded)
    try:
        bot.slash("export ex-kim", "UVIEW")
        assert "needs the exporter role" in bot.answer()["text"]
        assert stub.calls("files.getUploadURLExternal") == []
    finally:
        bot.stop()
