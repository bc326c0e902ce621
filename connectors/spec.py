"""What the bot needs to know about a kind of connector, in one place: its spec.

Each system's package exports one `ConnectorSpec` as `SPEC`: its name (also its
app.yaml section under `connectors:`), the settings it reads (a pydantic dataclass:
each setting declared once, with its one default and its one validation), how to build
the connector from them, and its words for the data subject in an access package.
`bot/config` parses `connectors:` and builds the connectors as a loop over `specs()`;
the access package's README reads `words`.

Adding a connector is its package with a `SPEC`, its app.yaml section, its README
section and its tests: nothing here or in `bot/` names it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ConfigDict

from connectors._shared.sql import database_url
from connectors.base import Connector

__all__ = [
    "INTERNAL_SETTINGS",
    "SETTINGS",
    "ConnectorSpec",
    "SystemWords",
    "database_url",  # the check a settings URL field uses, here and in bot/config
    "specs",
]

# The configuration of every settings dataclass: an unknown key is an error (a typo must
# not silently leave a default in place); a validation error never echoes its input (a
# password may be in it); app.yaml's names (`timeout_seconds`) and the code's
# (`timeout`) both construct it.
SETTINGS = ConfigDict(
    extra="forbid",
    populate_by_name=True,
    hide_input_in_errors=True,
    arbitrary_types_allowed=True,
)

# Settings the bot fills in, never app.yaml: the name a connector answers by (audit rows,
# export file names and request steps use it) and the hit cap (`search.max_hits_per_system`).
INTERNAL_SETTINGS = frozenset({"name", "max_hits"})


@dataclass(frozen=True)
class SystemWords:
    """What a system is, in words for the data subject (GDPR Art. 15(1): purposes,
    where the data came from, what it decides, how long it is kept). An organisation
    overrides them field by field in app.yaml (`export.systems.<name>`)."""

    purpose: str
    source: str
    authority: str
    retention: str


@dataclass(frozen=True)
class ConnectorSpec:
    """One kind of connector. `settings` is the type its app.yaml section validates
    into (a pydantic dataclass, or a tagged union of them); `build` makes the connector
    from a value of it. `authority` orders the built connectors: the source of
    authority (HR, 0) first, so an erasure plan starts there."""

    name: str
    settings: Any
    build: Callable[[Any], Connector]
    words: SystemWords
    authority: int


@cache
def specs() -> tuple[ConnectorSpec, ...]:
    """Every connector package's `SPEC`, in source-of-authority order (then by name)."""
    import connectors

    found: list[ConnectorSpec] = []
    for module in pkgutil.iter_modules(connectors.__path__):
        if module.name.startswith("_") or not module.ispkg:
            continue
        spec = getattr(importlib.import_module(f"connectors.{module.name}"), "SPEC", None)
        if isinstance(spec, ConnectorSpec):
            found.append(spec)
    return tuple(sorted(found, key=lambda s: (s.authority, s.name)))
