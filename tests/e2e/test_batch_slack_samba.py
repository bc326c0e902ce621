"""A retention batch end to end: a signed `/mim sweep` into the running bot, the batch's
one message and its file in the approvals channel (the loopback Web API stub), clicks on
its buttons (Approve by whoever ran the sweep refused, Approve by another approver, Pause
and Resume), and the disabled users of an OU of the real Samba AD DC erased, each as its
own request, with the message redrawn to the end."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import parse_config
from bot.frontends.http_server import SlackHttpServer
from bot.frontends.slack_app import create_app, slack_client
from bot.frontends.slack_notifier import SlackNotifier
from bot.render.batches import ACTION_PAUSE, ACTION_RESUME
from bot.render.requests import ACTION_APPROVE
from bot.services import build_services
from bot.workflow.batch.model import BatchStatus
from bot.workflow.requests import Status
from connectors.base import Query, QueryKind
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import ENV, Bot, bot_config
from tests.support.waiting import wait_until

pytestmark = pytest.mark.samba

USERS = [TestUser(f"bt-e2e{i}", "Batch", f"Leaver {i}", str(8800 + i)) for i in range(4)]


def test_a_batch_from_a_signed_sweep_to_the_last_erasure_on_samba(tmp_path, samba):
    conn = samba.admin()
    ou = seed_users(conn, samba.base_dn, USERS, ou="BatchE2E")  # created disabled
    conn.unbind()
    stub = MockSlack(usergroups={"SIAM": []}).start()
    raw = bot_config(
        tmp_path, stub, samba,
        connectors__ad__base_dn=ou,
        retention={"rules": [{"name": "disabled", "system": "ad", "population": "disabled",
                              "older_than_days": 30}], "max_parallel": 2},
    )  # fmt: skip
    config = parse_config(raw, environ={**ENV, "ADPW": samba.password})
    client = slack_client(config)
    later = datetime.now(UTC) + timedelta(days=31)  # the users were disabled "a month ago"
    services = build_services(
        config,
        notifier=SlackNotifier.from_config(client, config),
        clock=lambda: later,
        background=True,
    )
    app, services = create_app(config, services=services, client=client)
    bot = Bot(SlackHttpServer(app, host="127.0.0.1", port=0).start(), services, stub)
    try:
        status, _, _ = bot.slash("sweep", "UBOTH", name="sweep")
        assert status == 200
        answer = bot.answer("sweep", timeout=30)["text"]
        batch_id = re.search(r"Batch (BATCH-\d{4}-\d{4})", answer).group(1)
        assert "proposes erasing 4 person(s)" in answer
        (message,) = [c.body for c in stub.calls("chat.postMessage")
                      if c.body.get("channel") == "CAPPROVALS"]  # fmt: skip
        assert "Leaver 0" in str(message["blocks"]) and "Approve all" in str(message["blocks"])
        assert stub.wait_for("files.completeUploadExternal")  # everyone, in its thread

        bot.click(ACTION_APPROVE, batch_id, "UBOTH", name="own")  # ran the sweep
        assert "another approver must approve its batch" in bot.answer("own")["text"]
        bot.click(ACTION_APPROVE, batch_id, "UAPP", name="approve")
        assert f"You approved {batch_id}" in bot.answer("approve", timeout=30)["text"]
        bot.click(ACTION_PAUSE, batch_id, "UAPP", name="pause")
        paused = bot.answer("pause", timeout=30)["text"]
        assert "is paused" in paused or "only a running batch can be paused" in paused
        if "is paused" in paused:  # else it had already ended: 4 people go fast
            bot.click(ACTION_RESUME, batch_id, "UAPP2", name="resume")
            assert "runs again" in bot.answer("resume", timeout=30)["text"]
        store = services.requests
        wait_until(lambda: store.batches.get(batch_id).status is BatchStatus.DONE, what="the end")
        ids = store.of_batch(batch_id)
        assert len(ids) == 4
        assert {r.status for r in store.many(ids)} == {Status.COMPLETED_WITH_RESIDUALS}
        ad = next(c for c in services.connectors if c.name == "ad")
        for user in USERS:
            assert ad.search(Query(QueryKind.NAME, user.account), timeout=5) == []
        wait_until(lambda: "4 erased" in str(stub.calls("chat.update")[-1].body["blocks"]),
             what="the last redraw")  # fmt: skip
        assert wait_until(lambda: stub.calls("files.delete"), what="the file of names deleted")
        # Nobody's DM, no notifications-channel post per person: the one message tells.
        assert stub.calls("conversations.open") == []
        assert not [c for c in stub.calls("chat.postMessage")
                    if c.body.get("channel") == "CNOTIFY"]  # fmt: skip
    finally:
        bot.stop()
        stub.stop()
