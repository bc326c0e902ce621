import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import FindCommand, HelpCommand, RequestCommand, parse
from bot.errors import UsageError
from connectors.base import QueryKind


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("find user jdoe", QueryKind.NAME, "jdoe"),
        ("find user jdoe@corp.example", QueryKind.MAIL_OR_UPN, "jdoe@corp.example"),
        ("find user 004711", QueryKind.EMPLOYEE_ID, "004711"),
        ("find user Jan*", QueryKind.PREFIX, "Jan"),
        ('find user "Zoë O\'Brien"', QueryKind.NAME, "Zoë O'Brien"),
        ("find user \u201cJane Doe\u201d", QueryKind.NAME, "Jane Doe"),
        ("FIND   user   jdoe  ", QueryKind.NAME, "jdoe"),
        ("find jdoe", QueryKind.NAME, "jdoe"),
        ("find user <mailto:j@x.example|j@x.example>", QueryKind.MAIL_OR_UPN, "j@x.example"),
        ("find user Smith &amp; Co", QueryKind.NAME, "Smith & Co"),
        ("find user x)(objectClass=*", QueryKind.PREFIX, "x)(objectClass="),
    ],
)
def test_term_kind_is_detected(text, kind, value):
    cmd = parse(text)
    assert isinstance(cmd, FindCommand)
    assert (cmd.query.kind, cmd.query.value) == (kind, value)


def test_attribute_search():
    cmd = parse("find department=Sales &amp; Marketing")
    assert cmd.query.kind is QueryKind.ATTRIBUTE
    assert (cmd.query.attribute, cmd.query.value) == ("department", "Sales & Marketing")


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help(text):
    assert isinstance(parse(text), HelpCommand)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("find", "What should I look for?"),
        ("find user", "What should I look for?"),
        ("find user a*", "A prefix needs at least 2 characters."),
        ("find user *", "A prefix needs at least 2 characters."),
        ("find user j*doe", "A * is allowed only at the end"),
        ("find user *)(objectClass=*", "Only one trailing *"),
        ("find dep artment=x", "That is not an attribute name"),
        ("find mail=j*", "Wildcards work with find user <prefix>* only."),
        ("find user " + "x" * 300, "longer than 256"),
        ("find user ja\u200bne", "control or invisible characters"),
        ("erase everything", 'Unknown command "erase"'),
        ("cancel REQ-2026-0001", "Say why it is cancelled."),
        ("extend REQ-2026-0001", "Say why it is extended."),
        ("cancel 2026-0001 handled in HR", "That is not a request id"),
    ],
)
def test_bad_input_gets_a_short_usage_error(text, message):
    with pytest.raises(UsageError) as info:
        parse(text)
    assert message in info.value.user_message()
    assert len(info.value.user_message()) < 200


@given(st.text(max_size=400))
def test_arbitrary_input_parses_or_raises_usage_error_only(text):
    try:
        cmd = parse(text)
    except UsageError as exc:
        assert exc.user_message()
        return
    if isinstance(cmd, FindCommand):
        assert cmd.query.value
        assert len(cmd.query.value) <= 256


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=50))
def test_find_user_never_raises_anything_but_usage_error(term):
    try:
        cmd = parse("find user " + term)
    except UsageError:
        return
    assert isinstance(cmd, FindCommand)


def test_cancel_carries_its_reason():
    assert parse("cancel req-2026-0007 erased in HR by hand") == RequestCommand(
        "cancel", "REQ-2026-0007", note="erased in HR by hand"
    )
