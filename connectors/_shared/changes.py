"""A correction's changes, checked once before a connector plans or applies them.

Every updating connector (AD, BHOLD, the MIM Service) takes the changes through
`ChangeRules.check`, with its own parameters where the systems really differ. The rules,
in the order they are applied to each change:

1. the attribute is a string; `refused` says why it may never be written (it names, keys
   or secures the account), else it must be in `allowed` (matched case-insensitively,
   returned in the system's spelling);
2. the value is text or `None` (clear); text must `fit` the system (no control character
   or lone surrogate by default) and be at most `max_length` long, as `length` counts;
3. a name in `required` may not be cleared or blank;
4. with `empty_clears`, `""` becomes `None`;
5. two changes of one attribute must agree, and there must be at least one change.

Anything else refuses the whole correction with `NotSupported`, whose message names the
attribute (only when it is safe to quote) and never a value: it reaches the audit store,
the logs and the approver.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from connectors.base import Change
from connectors.errors import NotSupported

__all__ = ["ChangeRules", "has_no_control", "quotable", "utf16_length"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # categories Cc and Cs
_QUOTABLE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def has_no_control(value: str) -> bool:
    """Whether `value` holds no control character (tab and newline included) and no lone
    surrogate: what a single-line directory string can hold."""
    return _CONTROL.search(value) is None


def utf16_length(value: str) -> int:
    """`value`'s length in UTF-16 code units, as an nvarchar column counts it."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def quotable(name: str) -> str:
    """`name` if it is safe to put in a message as an attribute name; else a stand-in, as
    the field may hold a value typed in the wrong place."""
    return name if _QUOTABLE.fullmatch(name) else "that attribute"


def _never(_key: str) -> str | None:
    return None


@dataclass(frozen=True, kw_only=True)
class ChangeRules:
    """What one system's corrections may hold.

    Args:
        system: the system as messages name it ("AD", "the MIM Service").
        allowed: casefolded attribute name -> the system's spelling of it.
        max_length: the longest value, as `length` counts.
        length: how a value's length is counted (`len`: code points; `utf16_length`).
        fits: whether the system can hold a text value at all (`has_no_control`).
        refused: casefolded name -> why it may never be written, or None; asked before
            `allowed`, so a deny-list holds even where settings allow the name.
        required: names (in the system's spelling) that may not be cleared or blank.
        empty_clears: whether `""` is passed on as `None` (clear).
        hint: added to the refusal of a name not in `allowed` (": only ...").
    """

    system: str
    allowed: Mapping[str, str]
    max_length: int
    length: Callable[[str], int] = utf16_length
    fits: Callable[[str], bool] = has_no_control
    refused: Callable[[str], str | None] = _never
    required: Collection[str] = field(default_factory=frozenset)
    empty_clears: bool = False
    hint: str = ""

    def check(self, changes: Iterable[Change]) -> tuple[Change, ...]:
        """`changes` in the system's spelling, in order, duplicates merged (see the module).
        Raises `NotSupported` for the whole correction when one change breaks a rule."""
        out: dict[str, str | None] = {}
        for change in changes:
            name = self._name(change.attribute)
            value = self._value(name, change.value)
            if name in out and out[name] != value:
                raise NotSupported(f"two changes set {name} to different values")
            out[name] = value
        if not out:
            raise NotSupported(f"an update of {self.system} changes at least one attribute")
        return tuple(Change(name, value) for name, value in out.items())

    def _name(self, attribute: object) -> str:
        given = attribute if isinstance(attribute, str) else ""
        key = given.casefold()
        why = self.refused(key)
        if why is not None:
            raise NotSupported(f"{quotable(given)} is never changed in {self.system}: {why}")
        name = self.allowed.get(key)
        if name is None:
            raise NotSupported(
                f"a correction cannot change {quotable(given)} in {self.system}{self.hint}"
            )
        return name

    def _value(self, name: str, value: object) -> str | None:
        if value is not None and not isinstance(value, str):
            raise NotSupported(f"{self.system} takes text for {name}")
        if value is not None and (not self.fits(value) or self.length(value) > self.max_length):
            raise NotSupported(
                f"{self.system} cannot take that value of {name}: it holds a control "
                f"character, or is longer than {self.max_length} characters"
            )
        if (value is None or not value.strip()) and name in self.required:
            raise NotSupported(f"{self.system} requires {name}: it cannot be cleared or blank")
        return (value or None) if self.empty_clears else value
