"""Rectifying a BHOLD user: one ExecuteXml `Userupdate` (bhold-soap.md §4).

What can be written: Userupdate's `description`, `firstName`, `middleName` and `lastName`,
named so or as the directory names them (`displayName` -> description, `givenName` ->
firstName, `sn` or `surname` -> lastName), case-insensitively. Anything else (alias, end
date, disabling, list attributes) refuses the whole plan with `NotSupported`, naming the
attribute, never a value.

Values are data: each is an attribute value of the one `Userupdate` function, escaped by lxml
(connectors/bhold/soap_text.py), next to the numeric `UserID` and the user's current `language`
(the doc does not mark it optional). Checked before anything is sent (`RULES`, the check in
connectors/_shared/changes.py), as `NotSupported` (a connector raises `ConnectorError`s only)
naming the attribute, never the value:

- a value XML cannot carry (NUL, another control character but tab, newline and carriage
  return, a lone surrogate) or longer than `MAX_VALUE` UTF-16 code units (nvarchar's
  count; BHOLD's column sizes are unverified);
- `None` (clear) or a blank value: allowed for `middleName` only, sent as an empty value
  (that BHOLD clears it so is unverified); description and first and last name are
  required in BHOLD.

Read back: GetInfo `user` is documented to show `description`, `firstname` and `lastname`,
not a middle name. A middleName change is confirmed only where the record shows
`middlename`; otherwise the apply answers `done=False` for a person to check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lxml import etree

from connectors._shared.changes import ChangeRules
from connectors._shared.read_back import Messages, apply_and_read_back
from connectors.base import Change, ObjectRef, StepResult, UpdatePlan
from connectors.bhold.soap_text import NUMERIC, BholdUser, is_xml_text, update_element
from connectors.errors import ConnectorError

__all__ = ["MAX_VALUE", "PARAMETERS", "RULES", "apply", "check_language", "plan", "wanted"]

# Userupdate parameter -> the field of GetInfo `user` that shows it.
PARAMETERS = {
    "description": "description",
    "firstName": "firstname",
    "middleName": "middlename",
    "lastName": "lastname",
}
_NAMES = {p.casefold(): p for p in PARAMETERS} | {
    "displayname": "description",
    "givenname": "firstName",
    "sn": "lastName",
    "surname": "lastName",
}
MAX_VALUE = 255
RULES = ChangeRules(
    system="BHOLD",
    allowed=_NAMES,
    max_length=MAX_VALUE,
    fits=is_xml_text,
    required=frozenset({"description", "firstName", "lastName"}),
    hint=": only description (displayName), firstName (givenName), middleName and lastName (sn)",
)
NOTE = (
    "BHOLD's names come from provisioning: correct them at the source too, or a later "
    "export may put the old values back"
)
MIDDLE_NOTE = (
    "BHOLD's user record is not documented to show the middle name: the change is confirmed "
    "only if it does"
)

FindUser = Callable[[], BholdUser | None]
Execute = Callable[[etree._Element], None]  # runs a script; raises when BHOLD refuses it


def wanted(changes: Iterable[Change]) -> tuple[Change, ...]:
    """`changes` in Userupdate's parameter names, in order, each value checked (see the
    module). `NotSupported` for the whole plan when one cannot be written, when two set one
    parameter to different values, or when there is none."""
    return RULES.check(changes)


def check_language(user: BholdUser) -> str:
    """The user's language as Userupdate takes it (a number); `ConnectorError` without one:
    Userupdate needs it, and a made-up one would change it."""
    language = user.fields.get("language", "")
    if not NUMERIC.fullmatch(language):
        raise ConnectorError(
            "BHOLD's user record shows no numeric language, which Userupdate needs: "
            "nothing was changed"
        )
    return language


def plan(ref: ObjectRef, changes: tuple[Change, ...]) -> UpdatePlan:
    """The plan for `changes` (from `wanted`): their names in the summary, never a value."""
    names = ", ".join(c.attribute for c in changes)
    notes = (NOTE, MIDDLE_NOTE) if any(c.attribute == "middleName" for c in changes) else (NOTE,)
    summary = f"Update {len(changes)} attribute(s) of the BHOLD user ({names})"
    return UpdatePlan(ref, changes, summary, notes)


def apply(
    ref: ObjectRef, changes: tuple[Change, ...], find_user: FindUser, execute: Execute
) -> StepResult:
    """Send the changes (from `wanted`) the user does not show yet, in one Userupdate with
    its current language, and read them back. `NotFound` when the user is not there, before
    or after; `done=False` with a detail when BHOLD shows other values afterwards."""

    def send(user: BholdUser, todo: tuple[Change, ...]) -> None:
        values = {c.attribute: c.value or "" for c in todo}
        execute(update_element(user.id, values, check_language(user)))

    return apply_and_read_back(
        ref,
        changes,
        read=find_user,
        differing=_differing,
        send=send,
        messages=Messages(
            missing="no BHOLD user has that id (or the service account cannot see it)",
            vanished="the BHOLD user was removed while it was being updated",
            not_shown="BHOLD accepted the update but does not show the new {names}: check "
            "the user in the BHOLD Core portal",
        ),
    )


def _differing(user: BholdUser, changes: tuple[Change, ...]) -> tuple[Change, ...]:
    """The changes the user's record does not show (a field it lacks shows nothing)."""
    return tuple(c for c in changes if user.fields.get(PARAMETERS[c.attribute]) != (c.value or ""))
