"""What a MIM server's CEIP (telemetry) reading is: where its values live, and the typed
answer a `MimServerTelemetry` connector gives (connectors/capabilities.py). Reading and
setting them runs on the server (connectors/_shared/ceip.py); what they mean is policy
(bot/ops/telemetry.py). No personal data: host names, value names and numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COMPONENTS", "ROOT", "CeipComponent", "CeipReading", "parse_version"]

ROOT = "HKLM:\\SOFTWARE\\Microsoft\\Forefront Identity Manager\\2010"
# Component keys under ROOT to look at ("" is ROOT itself, where `<Component>CEIP` values may
# sit). Keys that do not exist on a server are left out of its answer.
COMPONENTS = (
    "",
    "Service",
    "Portal",
    "Synchronization Service",
    "Password Registration Portal",
    "Password Reset Portal",
    "Certificate Management",
    "Privileged Access Management",
)
_VERSION = re.compile(r"\d+(?:\.\d+)*")


@dataclass(frozen=True)
class CeipComponent:
    """One component's `*CEIP` values, as read: the key under ROOT, or for a value in ROOT
    itself the component its name gives (`PortalCEIP`: "Portal"; "(root)" for `CEIP`)."""

    component: str
    values: tuple[tuple[str, int], ...]  # (value name, number), sorted by name


@dataclass(frozen=True)
class CeipReading:
    """One server's answer: its host name, the highest installed MIM/FIM product version
    (None: none found), each component's values, and after `disable_ceip` the
    `<component>\\<value>` names set to 0."""

    host: str
    version: str | None
    components: tuple[CeipComponent, ...]
    changed: tuple[str, ...] = ()


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """`"4.5.26.0"` as `(4, 5, 26, 0)`; None when `text` does not start with a version."""
    m = _VERSION.match(text or "")
    return tuple(int(p) for p in m.group().split(".")) if m else None
