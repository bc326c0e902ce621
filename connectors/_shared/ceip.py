"""A MIM server's CEIP (telemetry) values, read and set to 0 over WinRM (mim-facts section 9).

The MIM Service and PAM connectors both reach a MIM server through a `PowerShellRunner`;
`read_ceip` and `disable_ceip` run the same scripts (connectors/_shared/scripts/telemetry_read.ps1,
telemetry_disable.ps1) through either, and `doctor` checks what those rely on. On the server
the registry key `ROOT` and the component keys under it that exist are read; every value
named `*CEIP` counts (the exact per-component value names are unverified, so none is
assumed), with its registry kind and data as stored: MIMDocs shows `ServiceandPortalCEIP` as
a REG_SZ "0" (mim-privacy-compliance.md's ceip2 screenshot), so nothing here assumes a
number. What the values mean is policy and lives in bot/ops/telemetry.py. No personal data:
host names, product names, and the names, kinds and data of `*CEIP` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors._shared.powershell import PowerShellRunner
from connectors.doctor import Check, cannot_tell
from connectors.errors import ConnectorError
from connectors.telemetry import (
    CEIP_CHECKS,
    COMPONENTS,
    ROOT,
    CeipChange,
    CeipComponent,
    CeipReading,
    CeipValue,
    RegistryKind,
    ceip_checks,
    parse_version,
)

__all__ = ["disable_ceip", "doctor", "read_ceip"]

READ_SCRIPT = "telemetry_read"
DISABLE_SCRIPT = "telemetry_disable"


def read_ceip(runner: PowerShellRunner, *, timeout: float) -> CeipReading:
    """The server's CEIP values. Raises what `runner.run` raises (`ConnectorError`s)."""
    return _reading(runner.run(READ_SCRIPT, _args(), timeout=timeout))


def disable_ceip(runner: PowerShellRunner, *, timeout: float) -> CeipReading:
    """Set every existing `*CEIP` value of a writable kind to 0 in its own kind (none is
    created), then read them back."""
    return _reading(runner.run(DISABLE_SCRIPT, _args(), timeout=timeout))


def doctor(runner: PowerShellRunner, *, timeout: float) -> list[Check]:
    """Read-only checks of what `/mim telemetry` relies on, through the read script: the
    2010 key exists, each `*CEIP` value is of a kind the opt-out writes and holds a 0 or a
    1, and the installed MIM version is found. Never raises for the server's errors."""
    names = CEIP_CHECKS
    try:
        reading = read_ceip(runner, timeout=timeout)
    except ConnectorError as exc:
        detail = f"telemetry_read failed: {exc.__class__.__name__}: {exc}"
        fix = "check that the bot account may read HKLM on the MIM server over WinRM"
        return [cannot_tell(n, detail, fix) for n in names]
    return ceip_checks(reading)


# -- the scripts' output ------------------------------------------------------------


def _args() -> dict[str, Any]:
    return {"root": ROOT, "components": list(COMPONENTS)}


def _reading(data: Any) -> CeipReading:
    """A script's JSON as a reading; anything malformed is left out, never guessed."""
    data = data if isinstance(data, Mapping) else {}
    components, keys = [], []
    for entry in _list(data.get("components")):
        if not isinstance(entry, Mapping):
            continue
        keys.append(str(entry.get("component") or ""))
        values = sorted(
            (v for v in map(_value, _list(entry.get("values"))) if v is not None),
            key=lambda v: v.name,
        )
        name = str(entry.get("component") or "")
        if name:
            components.append(CeipComponent(name, tuple(values)))
        else:  # ROOT itself: one component per `<Component>CEIP` value
            for value in values:
                label = value.name[: -len("CEIP")] if value.name.upper().endswith("CEIP") else ""
                components.append(CeipComponent(label or "(root)", (value,)))
    products = [p for p in _list(data.get("products")) if isinstance(p, Mapping)]
    return CeipReading(
        str(data.get("host") or ""),
        _highest(p.get("version") for p in products),
        tuple(components),
        tuple(c for c in map(_change, _list(data.get("changed"))) if c is not None),
        tuple(sorted({str(p["name"]) for p in products if p.get("name")})),
        tuple(keys),
    )


def _value(entry: Any) -> CeipValue | None:
    if not isinstance(entry, Mapping) or not entry.get("name"):
        return None
    data = entry.get("data")
    # JSON true/false is no registry data; a list (REG_BINARY, REG_MULTI_SZ) is kept as None.
    raw = data if isinstance(data, str) or (type(data) is int) else None
    return CeipValue(str(entry["name"]), RegistryKind.of(entry.get("kind")), raw)


def _change(entry: Any) -> CeipChange | None:
    if not isinstance(entry, Mapping) or not entry.get("name"):
        return None
    return CeipChange(
        str(entry.get("component") or ""),
        str(entry["name"]),
        RegistryKind.of(entry.get("was")),
        RegistryKind.of(entry.get("kind")),
    )


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _highest(versions: Iterable[Any]) -> str | None:
    known = [(v, parse_version(str(v))) for v in versions if v]
    known = [(v, p) for v, p in known if p is not None]
    return str(max(known, key=lambda k: k[1])[0]) if known else None
