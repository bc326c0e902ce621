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
from connectors.doctor import Check, cannot_tell, ok, wrong
from connectors.errors import ConnectorError
from connectors.telemetry import (
    COMPONENTS,
    NOT_COLLECTED_FROM,
    ROOT,
    CeipChange,
    CeipComponent,
    CeipReading,
    CeipValue,
    RegistryKind,
    Setting,
    parse_version,
    setting_of,
)

__all__ = ["WRITABLE", "disable_ceip", "doctor", "read_ceip"]

READ_SCRIPT = "telemetry_read"
DISABLE_SCRIPT = "telemetry_disable"
# The kinds the opt-out writes 0 into (telemetry_disable.ps1); a value of another kind is
# left as it is, since no documentation says what 0 would be there.
WRITABLE = frozenset({RegistryKind.STRING, RegistryKind.DWORD})


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
    names = (
        "CEIP registry key readable",
        "CEIP values are REG_SZ or REG_DWORD holding 0 or 1",
        "installed MIM version found",
    )
    try:
        reading = read_ceip(runner, timeout=timeout)
    except ConnectorError as exc:
        detail = f"telemetry_read failed: {exc.__class__.__name__}: {exc}"
        fix = "check that the bot account may read HKLM on the MIM server over WinRM"
        return [cannot_tell(n, detail, fix) for n in names]
    return [
        _key_check(names[0], reading),
        _values_check(names[1], reading),
        _version(names[2], reading),
    ]


# -- doctor's checks ----------------------------------------------------------------


def _key_check(name: str, reading: CeipReading) -> Check:
    key = ROOT.replace("HKLM:", "HKLM")
    where = reading.host or "the server"
    if "" not in reading.keys:
        return cannot_tell(
            name,
            f"no `{key}` key on {where}",
            "point the connector's WinRM endpoint at a MIM server, or let the bot account"
            " read that key",
        )
    subkeys = ", ".join(k for k in reading.keys if k) or "none"
    return ok(name, f"`{key}` on {where}; component keys: {subkeys}")


def _values_check(name: str, reading: CeipReading) -> Check:
    values = [(c.component, v) for c in reading.components for v in c.values]
    if not values:
        parsed = parse_version(reading.version)
        if parsed is not None and parsed >= NOT_COLLECTED_FROM:
            return ok(name, f"no *CEIP value (MIM {reading.version} collects nothing)")
        return cannot_tell(
            name,
            "no value named *CEIP under the 2010 key or its component keys",
            "look in regedit for the components' <Component>CEIP values and report their names",
        )
    odd_kind = [v for _, v in values if v.kind not in WRITABLE]
    if odd_kind:
        return wrong(
            name,
            "; ".join(f"{v.name} is {v.kind.reg_name}" for v in odd_kind),
            "opting out leaves these as they are: set each to 0 by hand in regedit",
        )
    odd_data = [v for _, v in values if setting_of(v) is Setting.UNKNOWN]
    if odd_data:
        return cannot_tell(
            name,
            "; ".join(f"{v.name} ({v.kind.reg_name}) holds neither 0 nor 1" for v in odd_data),
            "look at these values in regedit: the bot cannot tell whether they opt in or out",
        )
    kinds = sorted({v.kind.reg_name for _, v in values})
    return ok(name, f"{len(values)} value(s), {' and '.join(kinds)}")


def _version(name: str, reading: CeipReading) -> Check:
    if reading.version:
        products = ", ".join(reading.products) or "?"
        return ok(name, f"{reading.version} ({products})")
    return cannot_tell(
        name,
        "no Uninstall entry whose DisplayName is like 'Microsoft Identity Manager*' or"
        " 'Forefront Identity Manager*' (that match is unverified)",
        "look up the MIM product's name in Programs and Features on the server and report it",
    )


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
