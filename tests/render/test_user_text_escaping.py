"""Issue 7 (security): user text never turns into a live ping, mention or link in Slack,
and the bot's own mentions of real users stay live.

End to end: signed slash commands, clicks and modal submissions into the running
bot, Samba AD underneath, and every text that reached the recording Slack stub
(chat.postMessage, chat.update, response_url answers, views.open, ... — message
`text` and every `text` nested in blocks and views) checked.

How Slack sends user text (and so how these tests send it):
  * "typed": the user typed `<!channel>` as text; a slash command carries it escaped,
    `&lt;!channel&gt;` (and a typed `&amp;` as `&amp;amp;`). The bot must show exactly
    what was typed, so the text must reach Slack escaped again: `&lt;!channel&gt;`.
  * "markup": Slack's own markup, as a slash command carries a real @channel, @mention
    or link the user inserted (`<!channel>`, `<@UEVIL>`, `<http://…|x>`), and a typed
    `&` as `&amp;`. The bot must never send it back live; any inert form will do
    (the parser today turns `<!channel>` into `!channel`), and `&` must show as `&`.
  * the reject modal: a plain_text_input value arrives exactly as typed, unescaped; it
    must be shown exactly as typed (`<!channel>` -> `&lt;!channel&gt;`, a typed
    `&lt;!channel&gt;` -> `&amp;lt;!channel&amp;gt;`).
Choice for a typed `&amp;`: it is shown as the user typed it, `&amp;` (it reaches Slack
as `&amp;amp;`); a typed `&` shows as `&`.

Each user text is wrapped in OPEN … CLOSE so the tests find where it is shown: a text
that is dropped or altered fails as surely as one that pings. `plain_text` objects
(headers, buttons, modal titles) are not parsed by Slack and are not checked.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator

import pytest

from bot.frontends.slack_app import REJECT_CALLBACK
from bot.render.requests import ACTION_APPROVE, ACTION_REJECT
from bot.workflow.events import Cancelled
from bot.workflow.requests import OPEN as OPEN_STATUSES
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slack_texts import (
    LIVE,
    Sent,
    Window,
    mention_parsing,
    slack_escape,
    well_escaped,
)
from tests.support.slackbot import start_bot

pytestmark = pytest.mark.samba
OU = "SlackEscaping"
SUBJECT = "esc-subject"  # a plain person the requests are about
OPEN, CLOSE = "zzopen", "zzclose"
TAGGED = re.compile(f"{OPEN} (.*?) {CLOSE}")
UNKNOWN_COMMAND = re.compile(r'Unknown command "(.*?)"\. Try')

PAYLOADS = {
    "channel": "<!channel>",
    "here": "<!here>",
    "mention": "<@UEVIL>",
    "link": "<http://evil.example|x>",
    "ampersand": "&amp;",
}
FORMS = ("typed", "markup")
# The bot's own mentions of the users in tests/support/slackbot.py, escaped: dead text.
ESCAPED_OWN = re.compile(r"&lt;@U(?:REQ|APP2?|BOTH|VIEW)&gt;")
_names = itertools.count(1)


def dir_account(key: str, n: int) -> str:
    return f"esc-{key[:6]}-{n}"


def dir_employee_id(key: str) -> str:
    return str(6600 + list(PAYLOADS).index(key))


@pytest.fixture(scope="module")
def ad(samba):
    """The plain subject, a subject to approve, and per payload two people whose
    displayName holds it (same employee ID: a term that matches both)."""
    users = [TestUser(SUBJECT, "Esc", "Subject"), TestUser("esc-approve", "Esc", "Approve")]
    users += [
        TestUser(dir_account(key, n), "Eve", f"Directory {key} {n}", dir_employee_id(key))
        for key in PAYLOADS
        for n in (1, 2)
    ]
    conn = samba.admin()
    ou_dn = seed_users(conn, samba.base_dn, users, ou=OU)
    for key, payload in PAYLOADS.items():
        for n in (1, 2):
            conn.search(ou_dn, f"(sAMAccountName={dir_account(key, n)})")
            name = f"{OPEN} {payload} {CLOSE}"
            conn.modify(conn.response[0]["dn"], {"displayName": [("MODIFY_REPLACE", [name])]})
    conn.unbind()
    return samba


@pytest.fixture(scope="module")
def stub():
    mock = MockSlack(usergroups={"SIAM": []}).start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def bot(tmp_path_factory, stub, ad):
    """One bot for the module; each test reads only its own window of the stub's calls
    (everything here is posted before the command's answer, except where a test runs
    an erasure, which has a bot of its own)."""
    b = start_bot(tmp_path_factory.mktemp("escaping"), stub, ad)
    yield b
    b.stop()


@pytest.fixture
def window(bot, stub) -> Iterator[Window]:
    yield Window(stub)
    # One open erasure per person: close what the test left open, so the next test
    # can ask again for the same subject (the store's own move, not a Slack command).
    for request_id in bot.services.requests.ids(statuses=OPEN_STATUSES, limit=500):
        event = Cancelled(actor="UTEST", request_id=request_id, note="test over", was="")
        bot.services.requests.decisions.cancel(request_id, OPEN_STATUSES, event)


# -- helpers ----------------------------------------------------------------------


def ask(bot, text: str, user: str) -> dict:
    """A slash command; its private answer (response_url body)."""
    name = f"q{next(_names)}"
    status, _, _ = bot.slash(text, user, name=name)
    assert status == 200
    return bot.answer(name)


def new_request(bot, account: str = SUBJECT, reason: str = "data subject asked") -> str:
    text = ask(bot, f"delete {account} {reason}", "UREQ")["text"]
    assert text.startswith("Erasure request REQ-"), text
    return text.split()[2]


def tagged(text: str) -> str:
    return f"{OPEN} {text} {CLOSE}"


def slack_sends(payload: str, form: str) -> str:
    return slack_escape(payload) if form == "typed" else payload


def expected(payload: str, form: str) -> str | None:
    """The exact wire form the user text must reach Slack in; None: any inert form."""
    if form == "typed":
        return slack_escape(payload)
    return "&amp;" if payload == "&amp;" else None  # markup `&amp;` is a typed `&`


def approval_posts(window: Window) -> list[dict]:
    """The approval messages (not the replies in their threads) in the approvals channel."""
    return [p for p in posts(window, "chat.postMessage", "CAPPROVALS") if not p.get("thread_ts")]


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def posts(window: Window, method: str, channel: str | None = None) -> list[dict]:
    return [
        r.body
        for r in window.records
        if r.method == method and (channel is None or r.body.get("channel") == channel)
    ]


def check(
    window: Window,
    *,
    expect: str | None = None,
    required: bool = True,
    pattern: re.Pattern[str] = TAGGED,
    ignore_case: bool = False,
) -> list[tuple[Sent, str]]:
    """No live markup and no escaped own mention in any text sent; the user text is
    shown (unless not `required`), each time as `expect` or, without one, inertly."""
    sent = window.texts()
    mrkdwn = [s for s in sent if s.kind == "mrkdwn"]
    problems = [f"LIVE markup reached Slack: {s}" for s in mrkdwn if LIVE.search(s.text)]
    problems += [f"the bot's own mention was escaped: {s}" for s in mrkdwn
                 if ESCAPED_OWN.search(s.text)]  # fmt: skip
    problems += [f"asks Slack to link names: {c}" for c in mention_parsing(window.records)]
    pieces = [(s, m.group(1)) for s in mrkdwn for m in pattern.finditer(s.text)]
    if required and not pieces:
        problems.append("the user text is shown nowhere; texts sent:")
        problems += [f"  {s}" for s in sent]
    for s, piece in pieces:
        if expect is not None:
            same = piece.lower() == expect.lower() if ignore_case else piece == expect
            if not same:
                problems.append(f"user text shown as {piece!r}, expected {expect!r}: {s}")
        elif not well_escaped(piece) or not piece:
            problems.append(f"user text shown as {piece!r}, not escaped: {s}")
    assert not problems, "\n".join(problems)
    return pieces


def reject_in_modal(bot, window: Window, request_id: str, user: str, note: str) -> None:
    """Reject (button, modal, submit) as Slack does it; the outcome comes by DM."""
    bot.click(ACTION_REJECT, request_id, user, name=f"c{next(_names)}")
    wait_until(lambda: posts(window, "views.open"), "views.open")
    values = {"reason": {"reason": {"type": "plain_text_input", "value": note}}}
    status, _, _ = bot.submit_view(REJECT_CALLBACK, request_id, user, values)
    assert status == 200
    wait_until(lambda: posts(window, "chat.postMessage", f"D{user}"), f"a DM to {user}")


# -- user text in each field, in each payload ---------------------------------------

payloads = pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
forms = pytest.mark.parametrize("form", FORMS)


@forms
@payloads
def test_delete_reason(bot, window, payload, form):
    """`/mim delete <subject> <reason>`: the approval message and `status` show it."""
    request_id = new_request(bot, reason=tagged(slack_sends(payload, form)))
    ask(bot, f"status {request_id}", "UREQ")
    assert approval_posts(window)
    check(window, expect=expected(payload, form))


@forms
@payloads
def test_reject_note_typed_as_a_command(bot, window, payload, form):
    """`/mim reject REQ-… <note>`: the thread reply and the redrawn approval message."""
    request_id = new_request(bot)
    answer = ask(bot, f"reject {request_id} {tagged(slack_sends(payload, form))}", "UAPP")
    assert request_id in answer["text"] and "reject" in answer["text"]
    assert bot.services.requests.get(request_id).status.value == "rejected"
    check(window, expect=expected(payload, form))


MODAL_VALUES = {**PAYLOADS, "typed-entity": "&lt;!channel&gt;"}


@pytest.mark.parametrize("value", MODAL_VALUES.values(), ids=MODAL_VALUES.keys())
def test_reject_note_given_in_the_modal(bot, window, value):
    """The reject modal: the value arrives as typed and must be shown as typed."""
    request_id = new_request(bot)
    reject_in_modal(bot, window, request_id, "UAPP", tagged(value))
    assert bot.services.requests.get(request_id).status.value == "rejected"
    check(window, expect=slack_escape(value))


@forms
@payloads
def test_cancel_note(bot, window, payload, form):
    """`/mim cancel REQ-… <note>` by the requester: thread reply and redraw."""
    request_id = new_request(bot)
    answer = ask(bot, f"cancel {request_id} {tagged(slack_sends(payload, form))}", "UREQ")
    assert "cancelled" in answer["text"], answer["text"]
    check(window, expect=expected(payload, form))


@forms
@payloads
def test_extend_note(bot, window, payload, form):
    """`/mim extend REQ-… <note>` by an approver: the thread reply."""
    request_id = new_request(bot)
    answer = ask(bot, f"extend {request_id} {tagged(slack_sends(payload, form))}", "UAPP")
    assert "now due" in answer["text"], answer["text"]
    check(window, expect=expected(payload, form))


@forms
@payloads
def test_find_term_is_echoed_escaped(bot, window, payload, form):
    """`/mim find user <term>`: the answer repeats the term."""
    answer = ask(bot, f"find user {tagged(slack_sends(payload, form))}", "UVIEW")
    assert "Active Directory" in answer["text"], answer["text"]
    check(window, expect=expected(payload, form))


@forms
@payloads
def test_find_attribute_value_is_echoed_escaped(bot, window, payload, form):
    """`/mim find department=<value>`: the answer repeats `department=<value>`."""
    answer = ask(bot, f"find department={tagged(slack_sends(payload, form))}", "UVIEW")
    assert "Active Directory" in answer["text"], answer["text"]
    check(window, expect=expected(payload, form))


@forms
@payloads
def test_show_refusal(bot, window, payload, form):
    """`/mim show <term>` for nobody: the refusal may or may not repeat the term."""
    answer = ask(bot, f"show {tagged(slack_sends(payload, form))}", "UVIEW")
    assert answer["response_type"] == "ephemeral"
    check(window, expect=expected(payload, form), required=False)


@forms
@payloads
def test_unknown_command_refusal(bot, window, payload, form):
    """`/mim <word>`: "Unknown command "<word>"" repeats it (lower-cased by the parser)."""
    answer = ask(bot, slack_sends(payload, form), "UVIEW")
    assert "Unknown command" in answer["text"], answer["text"]
    check(window, expect=expected(payload, form), pattern=UNKNOWN_COMMAND, ignore_case=True)


@payloads
def test_directory_display_name(bot, window, payload):
    """A displayName holding the payload, as stored in AD, in find and show answers, in
    the refusal listing two people with that name, and in the approval message."""
    key = next(k for k, v in PAYLOADS.items() if v == payload)
    account = dir_account(key, 1)
    answers = {
        "find": ask(bot, f"find user {account}", "UVIEW"),
        "show": ask(bot, f"show {account}", "UVIEW"),
        "ambiguous": ask(bot, f"show {dir_employee_id(key)}", "UVIEW"),
    }
    assert "matches 2 people" in answers["ambiguous"]["text"]
    new_request(bot, account=account)
    (approval,) = approval_posts(window)
    answers["approval"] = approval
    for what, body in answers.items():
        assert OPEN in json.dumps(body), f"{what}: the display name is not shown"
    check(window, expect=slack_escape(payload))


# -- the bot's own mentions stay live -----------------------------------------------


def assert_live(text: str, mention: str) -> None:
    assert mention in text and slack_escape(mention) not in text, text


def test_own_mentions_in_the_thread_and_the_message_are_live(bot, window):
    request_id = new_request(bot)
    ask(bot, f"extend {request_id} court order", "UAPP")
    ask(bot, f"reject {request_id} legal hold", "UAPP")
    (approval,) = approval_posts(window)
    assert_live(json.dumps(approval["blocks"]), "Requested by <@UREQ>")
    thread = [p["text"] for p in posts(window, "chat.postMessage") if p.get("thread_ts")]
    assert any("by <@UAPP>" in t and "<@UREQ>, tell" in t for t in thread), thread
    assert any("Rejected by <@UAPP>" in t for t in thread), thread
    redraw = json.dumps(posts(window, "chat.update")[-1]["blocks"])
    assert_live(redraw, "Rejected by <@UAPP>")
    assert_live(redraw, "Requested by <@UREQ>")
    check(window, required=False)


def test_already_decided_refusal_names_the_decider_live(bot, window):
    """`/mim approve` on a request another approver rejected: "…rejected by <@UAPP>"."""
    request_id = new_request(bot)
    ask(bot, f"reject {request_id} legal hold", "UAPP")
    refusal = ask(bot, f"approve {request_id}", "UAPP2")
    assert "already" in refusal["text"], refusal["text"]
    assert_live(refusal["text"], "<@UAPP>")
    assert_live(json.dumps(refusal["blocks"]), "<@UAPP>")
    check(window, required=False)


def test_already_decided_refusal_in_the_modal_dm_names_the_decider_live(bot, window):
    """A second approver's reject modal, after the first rejected: the DM names them."""
    request_id = new_request(bot)
    ask(bot, f"reject {request_id} legal hold", "UAPP")
    reject_in_modal(bot, window, request_id, "UAPP2", "too late")
    (dm,) = posts(window, "chat.postMessage", "DUAPP2")
    assert "already" in dm["text"], dm["text"]
    assert_live(dm["text"], "<@UAPP>")
    check(window, required=False)


def test_already_cancelled_refusal_names_who_cancelled_live(bot, window):
    request_id = new_request(bot)
    ask(bot, f"cancel {request_id} asked by mistake", "UREQ")
    thread = [p["text"] for p in posts(window, "chat.postMessage") if p.get("thread_ts")]
    assert any("Cancelled by <@UREQ>" in t for t in thread), thread
    assert_live(json.dumps(posts(window, "chat.update")[-1]["blocks"]), "Cancelled by <@UREQ>")
    refusal = ask(bot, f"approve {request_id}", "UAPP")
    assert_live(refusal["text"], "<@UREQ>")
    check(window, required=False)


@pytest.fixture
def own_stub():
    mock = MockSlack(usergroups={"SIAM": []}).start()
    yield mock
    mock.stop()


def test_approved_by_and_the_late_click_refusal_are_live(tmp_path, own_stub, ad):
    """An approval runs the erasure (its own bot): "Approved by <@UAPP>." in the thread,
    and a second approver's click is told who approved, as a live mention."""
    bot = start_bot(tmp_path, own_stub, ad)
    window = Window(own_stub)
    try:
        request_id = new_request(bot, account="esc-approve")
        bot.click(ACTION_APPROVE, request_id, "UAPP", name="first")
        assert bot.answer("first")["text"] == f"You approved {request_id}."
        bot.click(ACTION_APPROVE, request_id, "UAPP2", name="late")
        late = bot.answer("late")
        bot.wait_status(request_id, "completed", "completed_with_residuals", "failed")
        wait_until(lambda: posts(window, "chat.postMessage", "CNOTIFY"), "the outcome notice")
    finally:
        bot.stop()
    thread = [p["text"] for p in posts(window, "chat.postMessage") if p.get("thread_ts")]
    assert any("Approved by <@UAPP>" in t for t in thread), thread
    assert "already" in late["text"], late["text"]
    assert_live(late["text"], "<@UAPP>")
    check(window, required=False)
