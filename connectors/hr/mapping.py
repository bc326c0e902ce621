"""What every kind of HR source shares: the column mapping, what a search means, and how
a row becomes a hit or a record. The HR system is the source of authority: MIM
provisions the other accounts from it, so it is erased first, and a row kept there
re-creates everything on the next sync.

The two kinds (a SQL table or view, `connectors/hr/sql.py`; a folder of CSV exports,
`connectors/hr/csv_files.py`) hand rows here as `{column: value}`; column names come from the
configuration, never from what a user typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pydantic.dataclasses

from connectors.base import (
    RANK_SOURCE,
    AttributeValue,
    DeletePlan,
    Hit,
    IdKind,
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
)
from connectors.errors import ConnectorError, NotSupported
from connectors.spec import SETTINGS

__all__ = [
    "ALL_COLUMNS",
    "HrMapping",
    "Matcher",
    "delete_plan",
    "erase_by_hand",
    "hit_from_row",
    "not_unique",
    "record_from_row",
    "search_plan",
    "verify_plan",
]

# What a search kind looks in, by identifier (a mapping may leave any of them out).
_BY_KIND: Mapping[QueryKind, tuple[IdKind, ...]] = {
    QueryKind.NAME: (IdKind.ACCOUNT, IdKind.DISPLAY_NAME),
    QueryKind.PREFIX: (IdKind.ACCOUNT, IdKind.DISPLAY_NAME),
    QueryKind.MAIL_OR_UPN: (IdKind.MAIL, IdKind.UPN),
    QueryKind.EMPLOYEE_ID: (IdKind.EMPLOYEE_ID,),
}
# What `verify_absent` looks for again, strongest first, and where (a UPN is often the mail).
_VERIFY: tuple[tuple[IdKind, tuple[IdKind, ...]], ...] = (
    (IdKind.EMPLOYEE_ID, (IdKind.EMPLOYEE_ID,)),
    (IdKind.ACCOUNT, (IdKind.ACCOUNT,)),
    (IdKind.MAIL, (IdKind.MAIL, IdKind.UPN)),
    (IdKind.UPN, (IdKind.UPN, IdKind.MAIL)),
)
# `columns: ["*"]`: `read` returns every column of the row (salary and bank details too).
ALL_COLUMNS = "*"
_NOTE = "HR is the source of authority: it is erased first, or the next sync re-creates the rest"


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class HrMapping:
    """Which columns hold what. `key` identifies a row (the ObjectRef id); `identifiers`
    maps identifier kinds to columns (at least the account or the employee id);
    `columns` are the personal-data columns `read` returns: empty, only the key, the
    identifier and the search columns (a salary or bank column of a wide HR view never
    reaches a viewer by default); `("*",)`, every column of the row;
    `search_columns` are further columns `find <column>=<value>` may search.

    Raises `ValueError` for a mapping that cannot identify a person."""

    key: str
    identifiers: Mapping[IdKind, str]
    columns: tuple[str, ...] = ()
    search_columns: tuple[str, ...] = ()
    named: Mapping[str, str] = field(init=False, repr=False)  # attribute name -> column

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("key must name the column that identifies a row")
        if not ({IdKind.ACCOUNT, IdKind.EMPLOYEE_ID} & set(self.identifiers)):
            raise ValueError("identifiers must map account or employee_id to a column")
        if ALL_COLUMNS in self.columns and len(self.columns) > 1:
            raise ValueError('columns: "*" (every column) stands alone')
        named = {c.casefold(): c for c in (*self.search_columns, *self.identifiers.values())}
        named |= {kind.value: column for kind, column in self.identifiers.items()}
        object.__setattr__(self, "named", named)

    @property
    def every_column(self) -> bool:
        return self.columns == (ALL_COLUMNS,)

    def identity_columns(self) -> set[str]:
        """The key and identifier columns: what joins, finds and verifies a person."""
        return {self.key, *self.identifiers.values()}

    def wanted(self) -> set[str]:
        """Every column named here (a missing one is a configuration error)."""
        named = () if self.every_column else self.columns
        return {self.key, *self.identifiers.values(), *named, *self.search_columns}

    def shown(self, available: Iterable[str]) -> list[str]:
        """The columns `read` returns, in order, from the source's `available` ones."""
        if self.every_column:
            return list(available)
        if self.columns:
            return list(self.columns)
        return list(dict.fromkeys((self.key, *self.identifiers.values(), *self.search_columns)))


@dataclass(frozen=True)
class Matcher:
    """One condition of a search: `column` equals `value` (case-insensitive), or starts
    with it when `prefix`. Each kind of source turns it into its own test."""

    column: str
    value: str
    prefix: bool = False


def search_plan(query: Query, mapping: HrMapping) -> list[Matcher]:
    """The conditions (OR'ed) a query means for this mapping. An empty list: no value can
    match (empty, or holding NUL). `NotSupported` for a kind or attribute not mapped."""
    value = query.value.strip()
    if query.kind is QueryKind.PREFIX:
        value = value.removesuffix("*")
    if not value or "\x00" in value:
        return []
    if query.kind is QueryKind.ATTRIBUTE:
        column = mapping.named.get((query.attribute or "").casefold())
        if column is None:
            raise NotSupported("HR: no column of that name is searchable")
        return [Matcher(column, query.value)]
    columns = [mapping.identifiers[k] for k in _BY_KIND[query.kind] if k in mapping.identifiers]
    if not columns:
        raise NotSupported("HR: this kind of search maps to no column")
    return [Matcher(c, value, prefix=query.kind is QueryKind.PREFIX) for c in columns]


def verify_plan(identifiers: Mapping[IdKind, str], mapping: HrMapping) -> list[Matcher]:
    """Conditions that find the person again by any identifier HR holds."""
    matchers = [
        Matcher(mapping.identifiers[where], identifiers[kind])
        for kind, places in _VERIFY
        if identifiers.get(kind)
        for where in places
        if where in mapping.identifiers
    ]
    if not matchers:
        raise NotSupported("HR: none of the person's identifiers maps to an HR column")
    return [m for m in matchers if m.value.strip() and "\x00" not in m.value]  # no row holds NUL


def text(value: Any) -> str:
    """A cell as text: dates in ISO form, everything else as the database gives it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def hit_from_row(system: str, row: Mapping[str, Any], mapping: HrMapping) -> Hit:
    ids = {
        kind: text(row[column])
        for kind, column in mapping.identifiers.items()
        if row.get(column) not in (None, "")
    }
    display, account = ids.get(IdKind.DISPLAY_NAME), ids.get(IdKind.ACCOUNT)
    employee = ids.get(IdKind.EMPLOYEE_ID)
    label = (
        f"{display} ({account or employee})"
        if display and (account or employee)
        else display or account or f"HR record {employee or text(row[mapping.key])}"
    )
    return Hit(ObjectRef(system, text(row[mapping.key])), label, ids)


def record_from_row(system: str, ref: ObjectRef, row: Mapping[str, Any]) -> Record:
    return Record(
        ref,
        {
            column: AttributeValue((text(value),), source=system)
            for column, value in row.items()
            if value not in (None, "")
        },
    )


def not_unique(system: str, count: int) -> ConnectorError:
    """The key names more than one row: refuse, rather than show or erase the wrong one."""
    return ConnectorError(
        f"{system}: the key matches {count} rows; it must identify one row (check the key setting)"
    )


def erase_by_hand(ref: ObjectRef, label: str, why: str) -> DeletePlan:
    """The bot may not delete here: a person erases the record at the source, first."""
    return DeletePlan(
        ref,
        PlanAction.NONE,
        f"Erase the record in {label} (by hand)",
        manual=(ManualStep(ManualTask.ERASE_AT_SOURCE, why),),
        authority_rank=RANK_SOURCE,
        notes=(_NOTE,),
    )


def delete_plan(ref: ObjectRef, label: str, what: str) -> DeletePlan:
    return DeletePlan(
        ref,
        PlanAction.DELETE,
        f"Delete the record in {label} ({what})",
        authority_rank=RANK_SOURCE,
        notes=(_NOTE,),
    )
