"""The one command table (bot/commands/table.py): every command has every part, and help,
the parser, the authorisation defaults and dispatch all read it. `/mim help` answers every
role, as each demo user and through signed Slack requests elsewhere (test_readme_demo)."""

from __future__ import annotations

import html
from types import SimpleNamespace

import pytest

from bot.commands.parser import USAGE, parse
from bot.commands.table import COMMANDS, Verb
from bot.errors import UsageError
from bot.permissions.authz import DEFAULT_PERMISSIONS, Authorizer
from bot.permissions.roles import Actor, Role
from bot.render.reply import Reply
from handlers import HANDLERS
from handlers.help import handle_help

# One line each verb parses, as a person would type it: a verb without one fails below.
EXAMPLES = {
    Verb.HELP: "help",
    Verb.FIND: "find user jdoe",
    Verb.SHOW: "show jdoe",
    Verb.EXPORT: "export jdoe",
    Verb.UPDATE: "update jdoe title=Dr -- typo",
    Verb.DELETE: "delete jdoe left",
    Verb.STATUS: "status REQ-2026-0001",
    Verb.REQUESTS: "requests mine",
    Verb.APPROVE: "approve REQ-2026-0001",
    Verb.REJECT: "reject REQ-2026-0001 not a valid request",
    Verb.DONE: "done REQ-2026-0001 2",
    Verb.RETRY: "retry REQ-2026-0001",
    Verb.CANCEL: "cancel REQ-2026-0001 withdrawn",
    Verb.EXTEND: "extend REQ-2026-0001 complex request",
    Verb.RETENTION: "retention",
    Verb.TELEMETRY: "telemetry",
    Verb.DOCTOR: "doctor",
    Verb.DATAMAP: "datamap",
    Verb.SWEEP: "sweep leavers",
    Verb.HOLD: "hold jdoe litigation 2026-044",
    Verb.UNHOLD: "unhold jdoe",
    Verb.DROP: "drop BATCH-2026-0001 3 7",
    Verb.PAUSE: "pause BATCH-2026-0001",
    Verb.RESUME: "resume BATCH-2026-0001",
}


@pytest.mark.parametrize("verb", list(Verb))
def test_every_command_has_every_part(verb: Verb):
    spec = COMMANDS[verb]
    assert spec.verb is verb
    assert spec.usage.startswith(f"/mim {verb.value}")
    assert spec.description and "\n" not in spec.description
    assert DEFAULT_PERMISSIONS[verb.value] == spec.roles
    assert USAGE[verb.value] == spec.usage
    assert callable(HANDLERS[verb])
    assert parse(EXAMPLES[verb]).name is verb


def test_the_table_is_the_whole_language():
    assert set(COMMANDS) == set(Verb) == set(HANDLERS) == set(EXAMPLES)
    # Authorisation knows no command the table does not declare (but the CLI's check).
    assert set(DEFAULT_PERMISSIONS) - {v.value for v in Verb} == {"check"}


def test_a_usage_error_carries_the_tables_usage_line():
    with pytest.raises(UsageError) as refused:
        parse("done REQ-2026-0001")
    assert refused.value.usage == COMMANDS[Verb.DONE].usage


ROLE_SETS = [frozenset(), *(frozenset({r}) for r in Role), frozenset(Role)]


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(x.value for x in r)))
def test_help_answers_every_role_with_exactly_its_commands(roles: frozenset[Role]):
    authz = Authorizer.from_config(
        None, four_eyes=True, step_roles=("hr_operator",) if Role.HR_OPERATOR in roles else ()
    )
    actor = Actor("U1", roles)
    answers: list[Reply] = []
    handle_help(
        parse("help"),  # type: ignore[arg-type]
        actor=actor,
        services=SimpleNamespace(authz=authz),  # type: ignore[arg-type]
        respond=answers.append,
    )
    (reply,) = answers
    assert reply.private
    shown = html.unescape(reply.text)  # the render layer escapes < > & for Slack
    listed = {v for v in Verb if f"`{COMMANDS[v].usage}`: {COMMANDS[v].description}" in shown}
    expected = {v for v in Verb if authz.may(actor, v)}
    assert listed == expected
    assert Verb.HELP in listed  # anyone may ask
    if Role.ADMIN in roles:
        assert listed == set(Verb)
