import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands.parser import (
    USAGE,
    DeleteCommand,
    FindCommand,
    HelpCommand,
    RequestCommand,
    parse,
    parse_term,
)
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
        # A * that is not at the end is a literal character; a trailing one asks for a prefix.
        ("find user Al* Star", QueryKind.NAME, "Al* Star"),
        ("find user j*doe", QueryKind.NAME, "j*doe"),
        ("find user *Smith", QueryKind.NAME, "*Smith"),
        ("find user Al* S*", QueryKind.PREFIX, "Al* S"),
        ("find user Jan**", QueryKind.PREFIX, "Jan"),
        ("find user *)(objectClass=*", QueryKind.PREFIX, "*)(objectClass="),
        ("find user a*@b", QueryKind.MAIL_OR_UPN, "a*@b"),
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
        ("find user **", "A prefix needs at least 2 characters."),
        ("find user x**", "A prefix needs at least 2 characters."),
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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("find user Se\u00e1n O\u2019Brien", "Se\u00e1n O'Brien"),  # as phones type it
        ("find user Sea\u0301n O'Brien", "Se\u00e1n O'Brien"),  # decomposed: NFC
        ("find user \u2018O\u2019Brien\u2019", "O'Brien"),  # quoted, apostrophe inside
        ("find user O\u2018Brien", "O'Brien"),
        ("find user O\u201bBrien", "O'Brien"),
        ("find user O\u2032Brien", "O'Brien"),
        ("find user \u201eJane Doe\u201c", "Jane Doe"),  # German quotes
        ("find user \u201c Jane Doe \u201d", "Jane Doe"),
        ("find user \u00a0 jdoe \u3000", "jdoe"),  # no-break and ideographic spaces
        ("find user John \u201cJack\u201d Smith", 'John "Jack" Smith'),
        ('find user "Se\u00e1n O\u2019Brien"', "Se\u00e1n O'Brien"),
    ],
)
def test_terms_are_normalised(text, value):
    cmd = parse(text)
    assert isinstance(cmd, FindCommand)
    assert cmd.query.value == value


def test_attribute_values_are_normalised_too():
    cmd = parse("find department=Children\u2019s Services")
    assert (cmd.query.attribute, cmd.query.value) == ("department", "Children's Services")


@pytest.mark.parametrize(
    ("text", "value", "reason"),
    [
        ("delete \u201eJohn Smith\u201c left", "John Smith", "left"),
        ("delete \u201cJohn Smith\u201d left", "John Smith", "left"),
        ("delete John Smith left", "John", "Smith left"),  # the refusal says so (subjects)
        ("delete s\u2019obrien left", "s'obrien", "left"),
    ],
)
def test_delete_takes_the_quoted_name_or_the_first_word(text, value, reason):
    cmd = parse(text)
    assert isinstance(cmd, DeleteCommand)
    assert (cmd.query.kind, cmd.query.value, cmd.reason) == (QueryKind.NAME, value, reason)


FOLDED = "\u2019\u2018\u201b\u201a\u2032\u201c\u201d\u201e\u201f\u2033"
# Terms made of name-like pieces and the characters the parser must treat with care.
QUOTES = "'\"`"
PIECES = st.sampled_from(
    [
        *("Se\u00e1n", "Sea\u0301n", "O", "Brien", "Smith", "a", "7", "@", "*", "(", ")"),
        *(" ", "\u00a0", "\\", *QUOTES, *FOLDED),
    ]
)


@given(st.lists(PIECES, min_size=1, max_size=12).map("".join))
def test_a_parsed_term_is_normalised_and_a_star_is_literal_unless_it_ends_the_term(term):
    try:
        query = parse_term(term, usage="u")
    except UsageError:
        return
    v = query.value
    assert v == unicodedata.normalize("NFC", v)
    assert not set(v) & set(FOLDED)
    # Surrounding whitespace goes; a prefix keeps a space before its * ("Jan *": not Janet).
    assert v == (v.lstrip() if query.kind is QueryKind.PREFIX else v.strip())
    assert not v.endswith("*")  # a trailing * never reaches a connector as a character
    if unicodedata.normalize("NFC", term).strip().endswith("*"):
        assert query.kind is QueryKind.PREFIX
    if query.kind is QueryKind.PREFIX:
        assert "*" in term
    # Parsing what the query stands for gives the same query again (unless the value is
    # itself quoted: parsing it again takes those quotes off).
    if not (len(v) >= 2 and v[0] == v[-1] and v[0] in QUOTES):
        assert parse_term(v + "*" if query.kind is QueryKind.PREFIX else v, usage="u") == query


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


@pytest.mark.parametrize(
    ("text", "changes", "reason"),
    [
        ('update jdoe title="Head of HR" promoted', (("title", "Head of HR"),), "promoted"),
        ("update jdoe title=Dr -- left HR", (("title", "Dr"),), "left HR"),
        ("update jdoe title=Dr \u2014 left HR", (("title", "Dr"),), "left HR"),  # a phone's --
        ('update jdoe title="" -- fix', (("title", None),), "fix"),
        ("update jdoe title=\u201cHead of HR\u201d", (("title", "Head of HR"),), None),
        ("update jdoe a=1 b=2", (("a", "1"), ("b", "2")), None),
    ],
)
def test_update_takes_quoted_values_and_a_reason(text, changes, reason):
    cmd = parse(text)
    assert (cmd.changes, cmd.reason) == (changes, reason)


@pytest.mark.parametrize(
    "text",
    [
        "update jdoe telephoneNumber=+1 555 1234 moved desk",  # value or reason?
        "update jdoe department=Human Resources",
        "update jdoe mobile= +44 7700 900123",  # would clear mobile
        "update jdoe title=",
        'update jdoe title="Head of HR',  # unclosed
        'update jdoe title=\u201cHead of HR"',  # mismatched
        "update jdoe moved desk",
        "update jdoe a=1 A=2",
        "update j* title=x",
    ],
)
def test_update_refuses_what_it_could_misread(text):
    with pytest.raises(UsageError):
        parse(text)


@pytest.mark.parametrize("step", ["²", "٣", "\uff11", "2.0", "-1", "99999"])
def test_a_step_number_is_ascii_digits_or_a_usage_line(step):
    with pytest.raises(UsageError) as refused:
        parse(f"done REQ-2026-0004 {step}")
    assert refused.value.usage == USAGE["done"]


@pytest.mark.parametrize("column", ["emp_no", "cost_centre", "birth_date"])
def test_attribute_names_as_the_systems_spell_them_underscores_included(column):
    found = parse(f"find {column}=100001")
    assert (found.query.attribute, found.query.value) == (column, "100001")
    update = parse(f"update jdoe {column}=X1 -- typo")
    assert update.changes == ((column, "X1"),)
