"""`/mim telemetry`: the CEIP (telemetry) opt-out of each MIM server the bot reaches over
WinRM, and `/mim telemetry disable`: opting out (mim-facts section 9).

The servers are the distinct WinRM endpoints of the configured MIM Service and PAM
connectors: one server running both is asked once. On each, the registry key
`HKLM\\SOFTWARE\\Microsoft\\Forefront Identity Manager\\2010` and the component keys under it
that exist are read; every value named `*CEIP` counts (the exact per-component value names
are unverified, so none is assumed). A component is *opted out* when all its values are 0,
*collecting* when one is not, and *not collected* whatever its values when the installed
MIM version is 4.5 or later (those releases disable collection). Reading and setting go
through `bot.calls.call`, so an unreachable or slow server is an outcome like any other.
No personal data is read or written: host names, value names and numbers only.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.audit import AuditLog
from bot.calls import Call, start
from bot.roles import Actor
from connectors.base import Connector

__all__ = [
    "COMPONENTS",
    "NOT_COLLECTED_FROM",
    "ROOT",
    "ComponentTelemetry",
    "ServerTelemetry",
    "State",
    "TelemetryAnswer",
    "TelemetryServer",
    "disable",
    "read",
    "state_of",
]

WINRM_SYSTEMS = ("mimservice", "pam")  # connector names whose runners reach MIM servers
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
NOT_COLLECTED_FROM = (4, 5)  # 4.5.x and later releases collect no CEIP data
READ_SCRIPT = "telemetry_read"
DISABLE_SCRIPT = "telemetry_disable"
_VERSION = re.compile(r"\d+(?:\.\d+)*")


class State(enum.Enum):
    OPTED_OUT = "opted out"
    COLLECTING = "collecting"
    NOT_COLLECTED = "not collected (4.5.x and later)"
    NO_VALUE = "no CEIP value"


@dataclass(frozen=True)
class ComponentTelemetry:
    component: str  # the key under ROOT; "(root)" for ROOT itself
    values: tuple[tuple[str, int], ...]
    state: State


@dataclass(frozen=True)
class ServerTelemetry:
    host: str
    version: str | None  # the highest installed MIM/FIM product version; None: none found
    components: tuple[ComponentTelemetry, ...]
    changed: tuple[str, ...] = ()  # disable: the "<component>\\<value>" names set to 0


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
    return TelemetryAnswer(_ask(connectors, READ_SCRIPT, timeout))


def disable(
    connectors: Sequence[Connector], audit: AuditLog, actor: Actor, *, timeout: float
) -> TelemetryAnswer:
    """Set every CEIP value to 0 on each server, read them back, and audit the outcome per
    server (`telemetry_disabled`: host names, outcomes and states; no personal data). The
    attempt is audited first: a store that cannot record it refuses the change."""
    audit.record(
        actor=actor.user_id,
        roles=actor.role_names,
        action="telemetry_disable",
        outcome="requested",
        detail={"servers": len(_servers(connectors))},
    )
    servers = _ask(connectors, DISABLE_SCRIPT, timeout)
    detail = {s.server: _audit_detail(s) for s in servers}
    done = all(s.result.ok for s in servers)
    audit.record(
        actor=actor.user_id,
        roles=actor.role_names,
        action="telemetry_disabled",
        outcome="done" if done else "partial",
        detail={"servers": detail},
    )
    return TelemetryAnswer(servers, disabled=True)


def state_of(values: Mapping[str, int], version: str | None) -> State:
    """One component's state: the version first (4.5 and later collect nothing), then the
    values (all 0: opted out; any other number: collecting)."""
    parsed = _version(version)
    if parsed is not None and parsed >= NOT_COLLECTED_FROM:
        return State.NOT_COLLECTED
    if not values:
        return State.NO_VALUE
    return State.OPTED_OUT if all(v == 0 for v in values.values()) else State.COLLECTING


# -- internals ------------------------------------------------------------------


def _servers(connectors: Sequence[Connector]) -> list[tuple[str, Any, list[Any]]]:
    """(endpoint, runner, connectors) per distinct WinRM endpoint, in configuration order."""
    found: dict[str, tuple[Any, list[Any]]] = {}
    for c in connectors:
        runner = getattr(c, "runner", None) if c.name in WINRM_SYSTEMS else None
        if runner is None:
            continue
        endpoint = runner.settings.endpoint.lower()
        found.setdefault(endpoint, (runner, []))[1].append(c)
    return [(e, r, cs) for e, (r, cs) in found.items()]


def _ask(
    connectors: Sequence[Connector], script: str, timeout: float
) -> tuple[TelemetryServer, ...]:
    servers = _servers(connectors)
    if not servers:
        return ()
    args = {"root": ROOT, "components": list(COMPONENTS)}
    with ThreadPoolExecutor(max_workers=len(servers), thread_name_prefix="telemetry") as pool:
        pending = [
            (endpoint, cs, start(
                cs[0], lambda r=runner: _server(r.run(script, args, timeout=timeout)),
                what=script, pool=pool,
            ))
            for endpoint, runner, cs in servers
        ]  # fmt: skip
        deadline = time.monotonic() + timeout
        return tuple(
            TelemetryServer(urlsplit(e).hostname or e, tuple(c.label for c in cs), p.wait(deadline))
            for e, cs, p in pending
        )


def _server(data: Any) -> ServerTelemetry:
    data = data if isinstance(data, Mapping) else {}
    version = _highest(p.get("version") for p in _list(data.get("products")))
    components = []
    for entry in _list(data.get("components")):
        values = entry.get("values") if isinstance(entry.get("values"), Mapping) else {}
        numbers = {str(k): int(v) for k, v in values.items() if isinstance(v, int | float)}
        name = str(entry.get("component") or "")
        if name:
            components.append(_component(name, numbers, version))
        else:  # ROOT itself: one component per `<Component>CEIP` value
            for value, number in numbers.items():
                label = value[: -len("CEIP")] if value.upper().endswith("CEIP") else value
                components.append(_component(label or "(root)", {value: number}, version))
    return ServerTelemetry(
        str(data.get("host") or ""),
        version,
        tuple(components),
        tuple(str(c) for c in _list(data.get("changed"))),
    )


def _component(name: str, values: Mapping[str, int], version: str | None) -> ComponentTelemetry:
    return ComponentTelemetry(name, tuple(sorted(values.items())), state_of(values, version))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _version(text: str | None) -> tuple[int, ...] | None:
    m = _VERSION.match(text or "")
    return tuple(int(p) for p in m.group().split(".")) if m else None


def _highest(versions: Any) -> str | None:
    known = [(v, _version(str(v))) for v in versions if v]
    known = [(v, p) for v, p in known if p is not None]
    return str(max(known, key=lambda k: k[1])[0]) if known else None


def _audit_detail(s: TelemetryServer) -> dict[str, Any]:
    if not s.result.ok or s.result.value is None:
        return {"outcome": s.result.outcome.value, "why": s.result.reason}
    v = s.result.value
    return {
        "outcome": "done",
        "version": v.version,
        "changed": list(v.changed),
        "states": {c.component: c.state.value for c in v.components},
    }
