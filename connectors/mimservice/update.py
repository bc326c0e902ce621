"""Rectifying a MIM Service Person: set or clear single-valued string attributes with one
`mimservice_update` script (connectors/scripts/mimservice_update.ps1), then read them back.

What can be written: `WRITABLE`, the Person's personal-data attributes that neither name nor
key nor join the Person, named case-insensitively and sent in MIM's spelling (attribute
names are case-sensitive in the service). `NOT_WRITABLE` names what identifies the Person or
the service keeps for itself (AccountName, Domain, ObjectSID: the account; Email, EmployeeID:
what the sync joins on; ObjectID; the reference Manager): changing those is an account
operation, not a correction. Anything else refuses the whole plan with `NotSupported`,
naming the attribute (when it looks like one), never a value.

Values are data: they reach PowerShell only in the runner's base64 JSON argument. Refused
before anything is sent (`RULES`, the check in connectors/_shared/changes.py), naming the attribute
only: a value holding a control character (newline and tab included) or a lone surrogate,
or longer than `MAX_VALUE` UTF-16 code units: 448 is the MIM Service's limit for an indexed
string attribute (its `ObjectValueString` column is nvarchar(448)). An empty value is a
clear, as `None` is.

Clearing (`None`): FIMAutomation sends an ImportChange of Operation Replace with an empty
AttributeValue (Operation Delete removes one element of a multi-valued attribute; an empty
Replace clearing a single-valued string is a community report, unverified on a server here);
LithnetRMA sets the attribute to `$null` before `Save-Resource` (its client sends a Modify
with no value). The read-back decides either way: an attribute that still shows a value is
not done.

Values are compared exactly (case and spaces count: a correction may be only that), with an
attribute the service does not show taken as cleared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from connectors._shared.changes import ChangeRules
from connectors._shared.read_back import Messages, apply_and_read_back
from connectors.base import Change, ObjectRef, StepResult, UpdatePlan

__all__ = [
    "MAX_VALUE",
    "NOTE",
    "NOT_WRITABLE",
    "RULES",
    "WRITABLE",
    "apply",
    "differing",
    "plan",
    "wanted",
]

# The Person attributes the bot may correct, in MIM's spelling.
WRITABLE = (
    "DisplayName",
    "FirstName",
    "LastName",
    "MiddleName",
    "JobTitle",
    "Department",
    "OfficePhone",
    "MobilePhone",
    "OfficeLocation",
    "Address",
    "City",
    "PostalCode",
    "Country",
)
# What names, keys or joins the Person (or is the service's own): never changed here.
NOT_WRITABLE = ("AccountName", "Domain", "ObjectSID", "Email", "EmployeeID", "ObjectID", "Manager")
MAX_VALUE = 448  # UTF-16 code units: the MIM Service's indexed string limit, nvarchar(448)
NOTE = (
    "The MIM Service is changed directly: if it is not this attribute's source of authority, "
    "the next sync overwrites the change with the source's value"
)
_REFUSED = frozenset(a.casefold() for a in NOT_WRITABLE)
RULES = ChangeRules(
    system="the MIM Service",
    allowed={a.casefold(): a for a in WRITABLE},
    max_length=MAX_VALUE,
    refused=lambda key: "it names or keys the Person" if key in _REFUSED else None,
    empty_clears=True,
)

Values = Mapping[str, tuple[str, ...]]  # attribute -> the values the service shows
ReadPerson = Callable[[tuple[str, ...]], Values | None]  # None: no such Person
SendChanges = Callable[[tuple[Change, ...]], None]  # runs the update script; raises on error


def wanted(changes: Iterable[Change]) -> tuple[Change, ...]:
    """`changes` in MIM's attribute names, in order, each value checked (see the module);
    `""` becomes `None` (clear). `NotSupported` for the whole plan when one cannot be
    written, when two set one attribute to different values, or when there is none."""
    return RULES.check(changes)


def plan(ref: ObjectRef, changes: tuple[Change, ...]) -> UpdatePlan:
    """The plan for `changes` (from `wanted`): their names in the summary, never a value."""
    names = ", ".join(c.attribute for c in changes)
    summary = f"Update {len(changes)} attribute(s) of the MIM Service Person ({names})"
    return UpdatePlan(ref, changes, summary, (NOTE,))


def differing(values: Values, changes: tuple[Change, ...]) -> tuple[Change, ...]:
    """The changes the Person does not show yet (exact comparison; absent is cleared)."""
    return tuple(
        c for c in changes if tuple(values.get(c.attribute, ())) != ((c.value,) if c.value else ())
    )


def apply(
    ref: ObjectRef, changes: tuple[Change, ...], read: ReadPerson, send: SendChanges
) -> StepResult:
    """Send the changes (from `wanted`) the Person does not show yet, and read them back.
    `NotFound` when the Person is not there, before or after; `done=False` with a detail
    naming the attributes when the service shows other values afterwards."""
    attributes = tuple(c.attribute for c in changes)
    return apply_and_read_back(
        ref,
        changes,
        read=lambda: read(attributes),
        differing=differing,
        send=lambda _person, todo: send(todo),
        messages=Messages(
            missing="no MIM Service Person has that ObjectID",
            vanished="the MIM Service Person was deleted while it was being updated",
            not_shown="the MIM Service accepted the update but shows other values for "
            "{names}: a Request may await approval, or a workflow may have changed them; "
            "check the Person's Requests in the MIM Portal",
        ),
    )
