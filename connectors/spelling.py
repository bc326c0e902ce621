"""The spellings a directory may hold for a search value.

The command parser folds typographic quotes and apostrophes into straight ones
(`O\u2019Brien` becomes `O'Brien`: phones type the first, directories mostly hold the
second). Directories fed from HR or Word hold the typographic form too, so a
connector searches both, each escaped for its own wire and OR'ed: the value as
given, and the same with typographic quotes (U+2019 for ', and U+201C, U+201D in
turn for ").
"""

from __future__ import annotations

__all__ = ["spellings"]

APOSTROPHE = "\u2019"  # right single quote: what autocorrect and phones type
OPENING, CLOSING = "\u201c", "\u201d"  # left and right double quotes


def spellings(value: str) -> tuple[str, ...]:
    """`value` first, then its typographic form if that differs (at most two)."""
    if "'" not in value and '"' not in value:
        return (value,)
    parts = value.replace("'", APOSTROPHE).split('"')
    typographic = parts[0] + "".join(
        (OPENING if i % 2 == 0 else CLOSING) + part for i, part in enumerate(parts[1:])
    )
    return (value, typographic)
