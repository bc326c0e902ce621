"""Which identifiers name one person: the keys that find a person's open request.

A request stores two lists of keyed hashes (`SubjectKeyer`, never the values):
`subject_keys`, whose first is the key audit events carry (the account, else the name,
as `audit subject <account>` looks it up), and `person_keys`, the keys that decide
whether the person already has an open request of a kind. Only identifiers that name
one person count there: an account within its domain, a mail, a UPN, an employee ID,
an object GUID, a metaverse or MIM Service object id, and each system's object
reference. Never a domain (everyone in CORP shares it), a display name (namesakes share
it) or a DN (it changes on a rename): any of those would let one person's request
block another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.audit import SubjectKeyer
from bot.workflow.requests import Subject
from connectors.base import IdKind

__all__ = [
    "PERSON_IDS",
    "SubjectKeys",
    "hold_keys",
    "naming_values",
    "person_identifiers",
    "subject_keys",
]

# Identifiers that name one person, the most stable first: the first present is the key
# the unique `open_key` is made from, so two replicas racing for one person collide.
PERSON_IDS: tuple[IdKind, ...] = (
    IdKind.OBJECT_GUID,
    IdKind.MV_OBJECT_ID,
    IdKind.MIM_OBJECT_ID,
    IdKind.EMPLOYEE_ID,
    IdKind.ACCOUNT,
    IdKind.UPN,
    IdKind.MAIL,
)


@dataclass(frozen=True)
class SubjectKeys:
    """A request's keys: `audit` first of `subject_keys`; `person` for duplicates."""

    subject: tuple[str, ...]
    person: tuple[str, ...]


def person_identifiers(subject: Subject) -> list[str]:
    """The values that name this person alone, `PERSON_IDS` order, then object refs.
    Bare values, as `subject_keys` has always held them, so that a request stored before
    `person_keys` existed is still found by them (`RequestStore.open_for`)."""
    ids: Mapping[IdKind, str] = subject.identifiers
    values: list[str] = []
    for kind in PERSON_IDS:
        value = ids.get(kind)
        if not value:
            continue
        if kind is IdKind.ACCOUNT and ids.get(IdKind.DOMAIN):
            # An account is unique within its domain only: CORP\jdoe and EMEA\jdoe differ.
            value = f"{ids[IdKind.DOMAIN]}\\{value}"
        values.append(value)
    # Each system's reference to its object (an objectGUID, an MV id, an HR key) names one
    # person too, and every hit has one: a person with no identifier above still has keys.
    values += sorted({f"{ref.system}:{ref.id}" for ref in subject.refs})
    return values


def naming_values(identifiers: Mapping[IdKind, str]) -> list[str]:
    """The values among `identifiers` that name one person, for matching holds: as
    `person_identifiers` gives them (the account within its domain), and the bare account
    too, so that a hold listed as `jdoe` holds jdoe of any domain (holding too many is
    safe; holding too few is not). Never a domain or a display name, which many share."""
    values = []
    for kind in PERSON_IDS:
        value = identifiers.get(kind)
        if not value:
            continue
        if kind is IdKind.ACCOUNT and identifiers.get(IdKind.DOMAIN):
            values.append(f"{identifiers[IdKind.DOMAIN]}\\{value}")
        values.append(value)
    return values


def subject_keys(keyer: SubjectKeyer, subject: Subject) -> SubjectKeys:
    """The keys a new request about `subject` stores."""
    audit = keyer.key(subject.account or subject.display_name)
    others = sorted({keyer.key(v) for v in subject.identifiers.values()} - {audit})
    person = list(dict.fromkeys(keyer.key(v) for v in person_identifiers(subject)))
    return SubjectKeys(subject=(audit, *others), person=tuple(person))


def hold_keys(keyer: SubjectKeyer, subject: Subject, keys: SubjectKeys) -> list[str]:
    """The keys a hold on `subject` is placed and matched by: the person keys and the keys
    of each naming value, never a domain's or a display name's, which would hold (or
    match) everyone who shares it."""
    return [*keys.person, *(keyer.key(v) for v in naming_values(subject.identifiers))]
