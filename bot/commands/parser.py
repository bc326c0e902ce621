"""The `/mim` command language: text in, a typed command out, or a UsageError.

Parsing is pure: no IO, no roles. Any input at all either parses or raises
`UsageError` with a short message and the usage line (fuzzed in the tests).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.commands.table import COMMANDS, Verb
from bot.errors import UsageError
from connectors.base import Query, QueryKind

__all__ = [
    "USAGE",
    "BatchCommand",
    "Command",
    "DatamapCommand",
    "DeleteCommand",
    "DoctorCommand",
    "ExportCommand",
    "FindCommand",
    "HelpCommand",
    "HoldCommand",
    "RequestCommand",
    "RequestsCommand",
    "RetentionCommand",
    "ShowCommand",
    "SweepCommand",
    "TelemetryCommand",
    "UpdateCommand",
    "parse",
    "parse_term",
]

MAX_TERM_LENGTH = 256
MIN_PREFIX_LENGTH = 2  # `a*` would list most of the directory

# The usage lines, by verb, as declared in bot/commands/table.py.
USAGE: Mapping[str, str] = MappingProxyType({v.value: c.usage for v, c in COMMANDS.items()})
# The confirmation of `telemetry disable`: what its button sends, and what the console types.
TELEMETRY_CONFIRM = "telemetry disable confirm"

# Slack turns mail addresses into <mailto:a@b|a@b> and links into <http://..|..>.
_SLACK_LINK = re.compile(r"<(?:mailto:)?([^<>|]+)(?:\|([^<>]*))?>")
# Straight, typographic (as phones type them, English and German style) and back quotes
# around a term.
_QUOTES = (
    ('"', '"'),
    ("'", "'"),
    ("\u201c", "\u201d"),
    ("\u2018", "\u2019"),
    ("\u201e", "\u201c"),
    ("\u201a", "\u2018"),
    ("`", "`"),
)
# Typographic apostrophes, single and double quotes folded to straight ones in a term: a
# phone types O\u2019Brien, a directory mostly holds O'Brien. (The connectors search the
# typographic spelling too: connectors/spelling.py.)
_FOLD = str.maketrans(
    {
        "\u2019": "'",  # right single quote: the typographic apostrophe
        "\u2018": "'",  # left single quote
        "\u201b": "'",  # single high-reversed-9 quote
        "\u201a": "'",  # single low-9 quote (German opening)
        "\u2032": "'",  # prime
        "\u201c": '"',  # left double quote
        "\u201d": '"',  # right double quote
        "\u201e": '"',  # double low-9 quote (German opening)
        "\u201f": '"',  # double high-reversed-9 quote
        "\u2033": '"',  # double prime
    }
)
# Attribute names as the systems spell them: LDAP's letters, digits and hyphens, and the
# underscores of SQL columns (HR's emp_no, cost_centre).
_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
_ATTRIBUTE_NAME = re.compile(_NAME)


@dataclass(frozen=True)
class HelpCommand:
    name: Verb = Verb.HELP


@dataclass(frozen=True)
class FindCommand:
    query: Query
    name: Verb = Verb.FIND


@dataclass(frozen=True)
class ShowCommand:
    query: Query
    name: Verb = Verb.SHOW


@dataclass(frozen=True)
class ExportCommand:
    query: Query
    name: Verb = Verb.EXPORT


@dataclass(frozen=True)
class UpdateCommand:
    query: Query
    changes: tuple[tuple[str, str | None], ...]  # (attribute, new value; None clears)
    reason: str | None
    name: Verb = Verb.UPDATE


@dataclass(frozen=True)
class DeleteCommand:
    query: Query
    reason: str | None
    name: Verb = Verb.DELETE


@dataclass(frozen=True)
class RequestCommand:
    """status, approve, reject or cancel (with a note), done (with a step number) or retry on
    one request."""

    name: Verb
    request_id: str
    note: str | None = None
    step: int | None = None


@dataclass(frozen=True)
class BatchCommand:
    """approve, reject (with a note), retry or status on a retention batch; pause, resume;
    drop (with the numbers of the people to take out)."""

    name: Verb
    batch_id: str
    note: str | None = None
    numbers: tuple[int, ...] = ()


@dataclass(frozen=True)
class RequestsCommand:
    scope: str  # "open" | "mine"
    name: Verb = Verb.REQUESTS


@dataclass(frozen=True)
class RetentionCommand:
    name: Verb = Verb.RETENTION


@dataclass(frozen=True)
class SweepCommand:
    rule: str | None = None
    name: Verb = Verb.SWEEP


@dataclass(frozen=True)
class HoldCommand:
    """`hold <subject> <reason>` places a hold; `unhold <subject>` lifts it (reason None)."""

    query: Query
    reason: str | None
    name: Verb = Verb.HOLD


@dataclass(frozen=True)
class DatamapCommand:
    name: Verb = Verb.DATAMAP


@dataclass(frozen=True)
class DoctorCommand:
    name: Verb = Verb.DOCTOR


@dataclass(frozen=True)
class TelemetryCommand:
    """`telemetry` reads; `telemetry disable` asks for confirmation; `telemetry disable
    confirm` (the confirmation's button, or typed at the console) opts out."""

    disable: bool = False
    confirmed: bool = False
    name: Verb = Verb.TELEMETRY


Command = (
    HelpCommand
    | FindCommand
    | ShowCommand
    | ExportCommand
    | UpdateCommand
    | DeleteCommand
    | RequestCommand
    | BatchCommand
    | RequestsCommand
    | RetentionCommand
    | TelemetryCommand
    | DoctorCommand
    | DatamapCommand
    | HoldCommand
    | SweepCommand
)
_REQUEST_ID = re.compile(r"REQ-\d{4}-\d{4,}", re.IGNORECASE)
_BATCH_ID = re.compile(r"BATCH-\d{4}-\d{4,}", re.IGNORECASE)
_BATCH_VERBS = frozenset({"status", "approve", "reject", "retry"})
_MAX_NOTE = 500


def parse(text: str) -> Command:
    """Parse the text after `/mim`. Raises UsageError on anything it cannot take."""
    text = _unslack(text)
    verb, _, rest = text.partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    if verb in ("", "help"):
        return HelpCommand()
    if verb == "find":
        return FindCommand(query=_parse_find(rest))
    if verb in ("show", "export"):
        if not rest:
            raise UsageError(f"Whom should I {verb}?", USAGE[verb])
        query = parse_term(rest, usage=USAGE[verb])
        if query.kind is QueryKind.PREFIX:
            raise UsageError(f"{verb} needs one exact person, not a prefix.", USAGE[verb])
        return ShowCommand(query) if verb == "show" else ExportCommand(query)
    if verb == "delete":
        return _parse_delete(rest)
    if verb == "update":
        return _parse_update(rest)
    if verb == "requests":
        scope = rest.lower() or "open"
        if scope not in ("open", "mine"):
            raise UsageError("Say open or mine.", USAGE["requests"])
        return RequestsCommand(scope)
    if verb == "retention":
        if rest:
            raise UsageError("retention takes no arguments.", USAGE["retention"])
        return RetentionCommand()
    if verb == "sweep":
        words = rest.split()
        if len(words) > 1:
            raise UsageError("Name one rule, or none for all.", USAGE["sweep"])
        return SweepCommand(words[0] if words else None)
    if verb in ("hold", "unhold"):
        return _parse_hold(verb, rest)
    if verb == "datamap":
        if rest:
            raise UsageError("datamap takes no arguments.", USAGE["datamap"])
        return DatamapCommand()
    if verb == "doctor":
        if rest:
            raise UsageError("doctor takes no arguments.", USAGE["doctor"])
        return DoctorCommand()
    if verb == "telemetry":
        words = rest.lower().split()
        if not words:
            return TelemetryCommand()
        if words == ["disable"]:
            return TelemetryCommand(disable=True)
        if words == ["disable", "confirm"]:
            return TelemetryCommand(disable=True, confirmed=True)
        raise UsageError("Say telemetry, or telemetry disable.", USAGE["telemetry"])
    if verb in ("status", "approve", "reject", "done", "retry", "cancel", "extend"):
        return _parse_request_command(verb, rest)
    if verb in ("pause", "resume", "drop"):
        return _parse_batch_command(verb, rest)
    raise UsageError(f'Unknown command "{_clip(verb)}". Try /mim help.')


def _parse_find(rest: str) -> Query:
    if not rest:
        raise UsageError("What should I look for?", USAGE["find"])
    word, _, after = rest.partition(" ")
    if word.lower() == "user":
        if not after.strip():
            raise UsageError("What should I look for?", USAGE["find"])
        return parse_term(after, usage=USAGE["find"])
    attribute, eq, value = rest.partition("=")
    if eq and _ATTRIBUTE_NAME.fullmatch(attribute.strip()):
        value = _check_value(_normalise(value), USAGE["find"])
        if "*" in value:
            raise UsageError("Wildcards work with find user <prefix>* only.", USAGE["find"])
        return Query(QueryKind.ATTRIBUTE, value, attribute=attribute.strip())
    if eq:
        raise UsageError('That is not an attribute name before "=".', USAGE["find"])
    # `find jdoe` is read as `find user jdoe`: people type it that way.
    return parse_term(rest, usage=USAGE["find"])


def _parse_hold(verb: str, rest: str) -> HoldCommand:
    usage = USAGE[verb]
    if not rest:
        raise UsageError("Whom?", usage)
    term, reason = _split_term(rest)
    query = parse_term(term, usage=usage)
    if query.kind is QueryKind.PREFIX:
        raise UsageError(f"A {verb} needs one exact person, not a prefix.", usage)
    note = _note(reason, usage) or None
    if verb == "hold":
        if not note:
            raise UsageError("Say why (a legal claim, a legal obligation).", usage)
        return HoldCommand(query, note)
    if note:
        raise UsageError("unhold takes the person only.", usage)
    return HoldCommand(query, None, name=Verb.UNHOLD)


def _parse_delete(rest: str) -> DeleteCommand:
    usage = USAGE["delete"]
    if not rest:
        raise UsageError("Whose data should be erased?", usage)
    term, reason = _split_term(rest)
    query = parse_term(term, usage=usage)
    if query.kind is QueryKind.PREFIX:
        raise UsageError("An erasure needs one exact person, not a prefix.", usage)
    return DeleteCommand(query, _note(reason, usage) or None)


# attribute=value: the value bare (no spaces, not starting with a quote) or quoted with
# straight or typographic double quotes; "" (quoted, empty) clears the attribute.
_CHANGE = re.compile(
    rf'({_NAME})=(?:"([^"]*)"|\u201c([^\u201c\u201d"]*)\u201d|([^\s"\u201c\u201d]+))'
)
_REASON = "--"  # what separates the reason from bare values
MAX_CHANGES = 10


def _parse_update(rest: str) -> UpdateCommand:
    """`<subject> attr=value ... [reason]`. A value with spaces is quoted; after a bare
    value the reason follows `--`, so `title=Dr moved desk` is refused rather than read as
    title "Dr" and reason "moved desk" (or the other way round)."""
    usage = USAGE["update"]
    if not rest:
        raise UsageError("Whose data should be corrected, and how?", usage)
    term, rest = _split_term(rest)
    query = parse_term(term, usage=usage)
    if query.kind is QueryKind.PREFIX:
        raise UsageError("A correction needs one exact person, not a prefix.", usage)
    changes: list[tuple[str, str | None]] = []
    rest = rest.strip()
    bare = False
    while True:
        m = _CHANGE.match(rest)
        if not m or (m.end() < len(rest) and rest[m.end()] != " "):
            break
        value = next(g for g in m.groups()[1:] if g is not None)
        bare = m.group(4) is not None
        value = unicodedata.normalize("NFC", value).strip()
        if value and any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
            raise UsageError("A value contains control or invisible characters.", usage)
        if len(value) > MAX_TERM_LENGTH:
            raise UsageError(f"A value is longer than {MAX_TERM_LENGTH} characters.", usage)
        changes.append((m.group(1), value or None))
        rest = rest[m.end() :].strip()
    if re.match(rf"{_NAME}=", rest):
        raise UsageError(
            'Quote a value with spaces (title="Head of HR"); clear one with attr="".', usage
        )
    if not changes:
        raise UsageError("Say what to change, as attribute=value.", usage)
    if rest.startswith(_REASON) or rest[:1] in ("\u2014", "\u2013"):  # phones make -- a dash
        rest = rest.lstrip("-\u2014\u2013").strip()
    elif rest and bare:
        raise UsageError(
            "Is that part of the value or the reason? Quote a value with spaces, and put "
            "a reason after --.",
            usage,
        )
    if len(changes) > MAX_CHANGES:
        raise UsageError(f"At most {MAX_CHANGES} changes at once.", usage)
    names = [a.lower() for a, _ in changes]
    if len(set(names)) != len(names):
        raise UsageError("Each attribute once, please.", usage)
    return UpdateCommand(query, tuple(changes), _note(rest, usage) or None)


def _split_term(rest: str) -> tuple[str, str]:
    """The subject (quoted if it holds spaces) and what follows it."""
    for opening, closing in _QUOTES:
        if rest.startswith(opening) and closing in rest[1:]:
            end = rest.index(closing, 1)
            return rest[: end + 1], rest[end + 1 :]
    term, _, after = rest.partition(" ")
    return term, after


def _parse_batch_command(verb: str, rest: str) -> BatchCommand:
    usage = USAGE[verb]
    first, _, more = rest.partition(" ")
    if not _BATCH_ID.fullmatch(first):
        raise UsageError("That is not a batch id (like BATCH-2026-0001).", usage)
    batch_id = first.upper()
    if verb == "reject":
        note = _note(more, usage)
        if not note:
            raise UsageError("Say why it is rejected.", usage)
        return BatchCommand(Verb.REJECT, batch_id, note=note)
    if verb == "drop":
        words = more.replace(",", " ").split()
        # ASCII digits only: "²" is a digit to str.isdigit but not to int().
        if not words or not all(re.fullmatch(r"[0-9]{1,6}", w) for w in words):
            raise UsageError("Which people? Give their numbers from the batch's list.", usage)
        if len(words) > 1000:
            raise UsageError("At most 1,000 people at a time.", usage)
        return BatchCommand(Verb.DROP, batch_id, numbers=tuple(sorted({int(w) for w in words})))
    if more.strip():
        raise UsageError("Too many words.", usage)
    return BatchCommand(Verb(verb), batch_id)


def _parse_request_command(verb: str, rest: str) -> RequestCommand | BatchCommand:
    usage = USAGE[verb]
    first, _, more = rest.partition(" ")
    if _BATCH_ID.fullmatch(first):
        if verb not in _BATCH_VERBS:
            raise UsageError(
                f"A batch cannot be given to {verb}: use it on one of its erasures (REQ-...).",
                usage,
            )
        return _parse_batch_command(verb, rest)
    if not _REQUEST_ID.fullmatch(first):
        raise UsageError("That is not a request id (like REQ-2026-0001).", usage)
    request_id = first.upper()
    if verb in ("reject", "cancel", "extend"):
        note = _note(more, usage)
        if not note:
            done = {"reject": "rejected", "cancel": "cancelled", "extend": "extended"}[verb]
            raise UsageError(f"Say why it is {done}.", usage)
        return RequestCommand(Verb(verb), request_id, note=note)
    if verb == "done":
        # ASCII digits only: "²" and "٣" are digits to str.isdigit but not to int().
        if not re.fullmatch(r"[0-9]{1,4}", more.strip()):
            raise UsageError("Which step? Give its number.", usage)
        return RequestCommand(Verb(verb), request_id, step=int(more.strip()))
    if more.strip():
        raise UsageError("Too many words.", usage)
    return RequestCommand(Verb(verb), request_id)


def form_command(verb: str, request_id: str, note: str) -> RequestCommand | BatchCommand:
    """A command from a form (the reject modal, for a request or a batch): its note is taken
    as typed, since a form value carries no Slack escaping to undo; line breaks become
    spaces."""
    usage = USAGE[verb]
    batch = _BATCH_ID.fullmatch(request_id)
    if not (batch or _REQUEST_ID.fullmatch(request_id)):
        raise UsageError("That is not a request id (like REQ-2026-0001).", usage)
    reason = _note(" ".join(note.split()), usage)
    if not reason:
        raise UsageError("Say why.", usage)
    if batch:
        return BatchCommand(Verb(verb), request_id.upper(), note=reason)
    return RequestCommand(Verb(verb), request_id.upper(), note=reason)


def _note(text: str, usage: str) -> str:
    note = text.strip()
    if len(note) > _MAX_NOTE:
        raise UsageError(f"Keep the reason under {_MAX_NOTE} characters.", usage)
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in note):
        raise UsageError("The reason contains control characters.", usage)
    return note


def parse_term(raw: str, *, usage: str) -> Query:
    """Detect the kind of a person term: mail/UPN, employee ID, prefix or name.

    The term is normalised first (`_normalise`). A trailing `*` (or several) asks for a
    prefix; a `*` anywhere else is a literal character, as in a display name "Al* Star"
    (each connector escapes it for its own wire)."""
    term = _check_value(_normalise(raw), usage)
    if term.endswith("*"):
        stem = term.rstrip("*")
        if len(stem) < MIN_PREFIX_LENGTH:
            raise UsageError(f"A prefix needs at least {MIN_PREFIX_LENGTH} characters.", usage)
        return Query(QueryKind.PREFIX, stem)
    if "@" in term:
        return Query(QueryKind.MAIL_OR_UPN, term)
    if term.isascii() and term.isdigit():
        return Query(QueryKind.EMPLOYEE_ID, term)
    return Query(QueryKind.NAME, term)


def _check_value(value: str, usage: str) -> str:
    if not value:
        raise UsageError("The search term is empty.", usage)
    if len(value) > MAX_TERM_LENGTH:
        raise UsageError(f"The search term is longer than {MAX_TERM_LENGTH} characters.", usage)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value):
        raise UsageError("The search term contains control or invisible characters.", usage)
    return value


def _unslack(text: str) -> str:
    """Undo Slack's escaping (&amp; &lt; &gt;) and link markup; normalise spaces."""
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text or "")
    text = html.unescape(text) if "&" in text else text
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def _normalise(raw: str) -> str:
    """A term as directories compare it: Unicode NFC, typographic quotes and apostrophes
    folded to straight ones, surrounding whitespace and one pair of quotes stripped."""
    text = unicodedata.normalize("NFC", raw).translate(_FOLD).strip()
    return _strip_quotes(text)


def _strip_quotes(value: str) -> str:
    for opening, closing in _QUOTES:
        if len(value) >= 2 and value.startswith(opening) and value.endswith(closing):
            return value[1:-1].strip()
    return value


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
