"""Unexpected failures are logged with their class and stack, never their message."""

import logging

from bot.frontends.dispatch import run_command
from bot.logs import log_failure

MAIL = "jane.doe" + "@example.test"  # built, so no source line in a stack shows it


def test_log_failure_drops_the_message(caplog):
    try:
        {}[MAIL]
    except KeyError as exc:
        with caplog.at_level(logging.ERROR):
            log_failure(logging.getLogger("t"), "lookup failed (ref %s)", exc, "ab12")
    text = caplog.text
    assert "lookup failed (ref ab12) [KeyError]" in text
    assert "test_logs.py" in text  # the stack is there
    assert MAIL not in text


def test_a_crashing_handler_logs_no_personal_data(caplog):
    class Boom:
        """Stands in for services: the first attribute read raises with a value inside."""

        def __getattr__(self, name):
            raise RuntimeError(MAIL)

    replies = []
    with caplog.at_level(logging.ERROR):
        run_command("find user sobrien", user_id="U1", services=Boom(), respond=replies.append)
    assert "Something went wrong on our side" in replies[0].text
    # It cannot know whether something changed: it never says nothing did.
    assert "Nothing was changed" not in replies[0].text
    assert "/mim requests mine" in replies[0].text
    assert "RuntimeError" in caplog.text
    assert MAIL not in caplog.text
