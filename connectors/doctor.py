"""What `python -m bot doctor` asks of a connector: checks of the assumptions it makes about
its system on a live estate, not just that the system answers.

A connector that can check itself is `connectors.capabilities.SelfChecks`: `doctor(timeout)`
returns one `Check` per assumption, in the order a reader should meet them. A check is
read-only (nothing is written anywhere, no person's data is read or reported) and never
raises for the system's errors: a fault it finds is `WRONG` with the one-line fix, and a
check it could not make (no answer, not allowed to read) is `CANNOT_TELL` with what to
check instead. Details name systems, versions, attributes and counts, never a person.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Check", "Verdict", "cannot_tell", "ok", "wrong"]


class Verdict(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    CANNOT_TELL = "cannot tell"


@dataclass(frozen=True)
class Check:
    """One assumption checked. `name` says what was checked ("MIMPAM module loads"),
    `detail` what was found ("version 4.6.34.0"), `fix` the one line that puts it right
    (empty when `OK`)."""

    name: str
    verdict: Verdict
    detail: str = ""
    fix: str = ""

    def __post_init__(self) -> None:
        if self.verdict is not Verdict.OK and not self.fix:
            raise ValueError(f"check {self.name!r} is {self.verdict} but says no fix")


def ok(name: str, detail: str = "") -> Check:
    return Check(name, Verdict.OK, detail)


def wrong(name: str, detail: str, fix: str) -> Check:
    return Check(name, Verdict.WRONG, detail, fix)


def cannot_tell(name: str, detail: str, fix: str) -> Check:
    return Check(name, Verdict.CANNOT_TELL, detail, fix)
