"""A MIM server's CEIP (telemetry) values, read and set to 0 over WinRM (mim-facts section 9).

The MIM Service and PAM connectors both reach a MIM server through a `PowerShellRunner`;
`read_ceip` and `disable_ceip` run the same scripts (connectors/_shared/scripts/telemetry_read.ps1,
telemetry_disable.ps1) through either. On the server the registry key `ROOT` and the
component keys under it that exist are read; every value named `*CEIP` counts (the exact
per-component value names are unverified, so none is assumed). What the values mean is
policy and lives in bot/ops/telemetry.py. No personal data: host names, value names and numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors._shared.powershell import PowerShellRunner
from connectors.telemetry import COMPONENTS, ROOT, CeipComponent, CeipReading, parse_version

__all__ = ["disable_ceip", "read_ceip"]

READ_SCRIPT = "telemetry_read"
DISABLE_SCRIPT = "telemetry_disable"


def read_ceip(runner: PowerShellRunner, *, timeout: float) -> CeipReading:
    """The server's CEIP values. Raises what `runner.run` raises (`ConnectorError`s)."""
    return _reading(runner.run(READ_SCRIPT, _args(), timeout=timeout))


def disable_ceip(runner: PowerShellRunner, *, timeout: float) -> CeipReading:
    """Set every existing `*CEIP` value to 0 (none is created), then read them back."""
    return _reading(runner.run(DISABLE_SCRIPT, _args(), timeout=timeout))


# -- the scripts' output ------------------------------------------------------------


def _args() -> dict[str, Any]:
    return {"root": ROOT, "components": list(COMPONENTS)}


def _reading(data: Any) -> CeipReading:
    """A script's JSON as a reading; anything malformed is left out, never guessed."""
    data = data if isinstance(data, Mapping) else {}
    components = []
    for entry in _list(data.get("components")):
        values = entry.get("values") if isinstance(entry.get("values"), Mapping) else {}
        numbers = {str(k): int(v) for k, v in values.items() if isinstance(v, int | float)}
        name = str(entry.get("component") or "")
        if name:
            components.append(CeipComponent(name, tuple(sorted(numbers.items()))))
        else:  # ROOT itself: one component per `<Component>CEIP` value
            for value, number in numbers.items():
                label = value[: -len("CEIP")] if value.upper().endswith("CEIP") else value
                components.append(CeipComponent(label or "(root)", ((value, number),)))
    return CeipReading(
        str(data.get("host") or ""),
        _highest(p.get("version") for p in _list(data.get("products"))),
        tuple(components),
        tuple(str(c) for c in _list(data.get("changed"))),
    )


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _highest(versions: Iterable[Any]) -> str | None:
    known = [(v, parse_version(str(v))) for v in versions if v]
    known = [(v, p) for v, p in known if p is not None]
    return str(max(known, key=lambda k: k[1])[0]) if known else None
