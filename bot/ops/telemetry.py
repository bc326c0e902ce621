"""`/mim telemetry`: the CEIP (telemetry) opt-out of each MIM server the bot reaches, and
`/mim telemetry disable`: opting out (mim-facts section 9).

The servers are those of the connectors that speak `MimServerTelemetry` (MIM Service,
PAM), one per distinct endpoint: one server running both is asked once. The connectors
read and set the registry values (connectors/_shared/ceip.py); this module says what they
mean. A value is *opted out*, *opted in* or *unknown* (`setting_of` in connectors/telemetry.py:
"0"/0 out, "1"/1 in, anything else never guessed). A component is *opted out* when all its
values are, *collecting* when one is opted in, *cannot tell* when one is unknown and none
opted in, and *not collected* whatever its values when the installed MIM version is 4.5 or
later (those releases disable collection). No version found is just that: the Uninstall DisplayNames
matched are unverified, so it never means "not installed". Servers are asked through
`bot.lookup.calls`, so an unreachable or slow server is an outcome like any other. No
personal data is read or written: host names, and the names, kinds and data of CEIP values.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.audit import AuditLog
from bot.audit.records import AuditOutcome
from bot.lookup.calls import Call, start
from bot.permissions.roles import Actor
from connectors.base import Connector
from connectors.capabilities import MimServerTelemetry, mim_telemetry
from connectors.telemetry import (
    COMPONENTS,
    NOT_COLLECTED_FROM,
    ROOT,
    CeipChange,
    CeipReading,
    CeipValue,
    Setting,
    parse_version,
    setting_of,
)

__all__ = [
    "COMPONENTS",
    "NOT_COLLECTED_FROM",
    "ROOT",
    "ComponentTelemetry",
    "ServerTelemetry",
    "Setting",
    "State",
    "TelemetryAnswer",
    "TelemetryServer",
    "disable",
    "read",
    "setting_of",
    "state_of",
    "telemetry_servers",
]


class State(enum.Enum):
    OPTED_OUT = "opted out"
    COLLECTING = "collecting"
    UNKNOWN = "cannot tell"
    NOT_COLLECTED = "not collected (4.5.x and later)"
    NO_VALUE = "no CEIP value"


@dataclass(frozen=True)
class ComponentTelemetry:
    component: str  # the key under ROOT; for a value in ROOT, the component its name gives
    values: tuple[CeipValue, ...]
    state: State


@dataclass(frozen=True)
class ServerTelemetry:
    host: str
    # The highest installed MIM/FIM product version; None: not found, which cannot tell
    # whether MIM is installed (mim-apis-checked 8.7).
    version: str | None
    components: tuple[ComponentTelemetry, ...]
    changed: tuple[CeipChange, ...] = ()  # disable: the values set to 0

    @property
    def kind_changes(self) -> tuple[CeipChange, ...]:
        """Values whose kind after the opt-out is not the one they had: always a fault."""
        return tuple(c for c in self.changed if not c.kept_kind)


@dataclass(frozen=True)
class TelemetryServer:
    server: str  # the WinRM endpoint's host
    systems: tuple[str, ...]  # labels of the connectors that reach it
    result: Call[ServerTelemetry]


@dataclass(frozen=True)
class TelemetryAnswer:
    servers: tuple[TelemetryServer, ...]  # empty: no MIM Service or PAM connector configured
    disabled: bool = False  # the answer of `disable`: values read back after setting them

    @property
    def configured(self) -> bool:
        return bool(self.servers)


def read(connectors: Sequence[Connector], *, timeout: float) -> TelemetryAnswer:
    """Each server's CEIP values, classified; servers asked in parallel under `timeout`."""
    return TelemetryAnswer(_ask(connectors, timeout, disable=False))


def disable(
    connectors: Sequence[Connector], audit: AuditLog, actor: Actor, *, timeout: float
) -> TelemetryAnswer:
    """Set every CEIP value to 0 in its own kind on each server, read them back, and audit
    the outcome per server (`telemetry_disabled`: host names, outcomes, states, and any
    value whose kind changed, which makes it partial; no personal data). The attempt is
    audited first: a store that cannot record it refuses the change."""
    audit.record(
        actor=actor.user_id,
        roles=actor.role_names,
        action="telemetry_disable",
        outcome=AuditOutcome.REQUESTED,
        detail={"servers": len(telemetry_servers(connectors))},
    )
    servers = _ask(connectors, timeout, disable=True)
    detail = {s.server: _audit_detail(s) for s in servers}
    done = all(
        s.result.ok and s.result.value is not None and not s.result.value.kind_changes
        for s in servers
    )
    audit.record(
        actor=actor.user_id,
        roles=actor.role_names,
        action="telemetry_disabled",
        outcome=AuditOutcome.DONE if done else AuditOutcome.PARTIAL,
        detail={"servers": detail},
    )
    return TelemetryAnswer(servers, disabled=True)


def state_of(values: Sequence[CeipValue], version: str | None) -> State:
    """One component's state: the version first (4.5 and later collect nothing), then the
    values (all opted out: opted out; one opted in: collecting; else cannot tell)."""
    parsed = parse_version(version)
    if parsed is not None and parsed >= NOT_COLLECTED_FROM:
        return State.NOT_COLLECTED
    if not values:
        return State.NO_VALUE
    settings = {setting_of(v) for v in values}
    if Setting.OPTED_IN in settings:
        return State.COLLECTING
    return State.OPTED_OUT if settings == {Setting.OPTED_OUT} else State.UNKNOWN


# -- internals ------------------------------------------------------------------


def telemetry_servers(
    connectors: Sequence[Connector],
) -> list[tuple[str, MimServerTelemetry, list[Connector]]]:
    """(endpoint, the first connector reaching it, all that do) per distinct endpoint, in
    configuration order."""
    found: dict[str, tuple[MimServerTelemetry, list[Connector]]] = {}
    for c in connectors:
        if (mim := mim_telemetry(c)) is not None:
            found.setdefault(mim.telemetry_endpoint().lower(), (mim, []))[1].append(c)
    return [(e, mim, cs) for e, (mim, cs) in found.items()]


def _ask(
    connectors: Sequence[Connector], timeout: float, *, disable: bool
) -> tuple[TelemetryServer, ...]:
    """Each server once (through its first connector), in parallel under `timeout`."""
    servers = telemetry_servers(connectors)
    if not servers:
        return ()
    what = "telemetry_disable" if disable else "telemetry_read"

    def ask(mim: MimServerTelemetry) -> ServerTelemetry:
        reading = mim.disable_ceip(timeout=timeout) if disable else mim.read_ceip(timeout=timeout)
        return _server(reading)

    with ThreadPoolExecutor(max_workers=len(servers), thread_name_prefix="telemetry") as pool:
        pending = [
            (endpoint, cs, start(cs[0], lambda m=mim: ask(m), what=what, pool=pool))
            for endpoint, mim, cs in servers
        ]
        deadline = time.monotonic() + timeout
        return tuple(
            TelemetryServer(urlsplit(e).hostname or e, tuple(c.label for c in cs), p.wait(deadline))
            for e, cs, p in pending
        )


def _server(reading: CeipReading) -> ServerTelemetry:
    """A server's reading, each component classified."""
    return ServerTelemetry(
        reading.host,
        reading.version,
        tuple(
            ComponentTelemetry(c.component, c.values, state_of(c.values, reading.version))
            for c in reading.components
        ),
        reading.changed,
    )


def _audit_detail(s: TelemetryServer) -> dict[str, Any]:
    if not s.result.ok or s.result.value is None:
        return {"outcome": s.result.outcome.value, "why": s.result.reason}
    v = s.result.value
    detail: dict[str, Any] = {
        "outcome": "done",
        "version": v.version,
        "changed": [c.path for c in v.changed],
        "states": {c.component: c.state.value for c in v.components},
    }
    if v.kind_changes:
        detail["kind_changed"] = {c.path: f"{c.was} -> {c.kind}" for c in v.kind_changes}
    return detail
