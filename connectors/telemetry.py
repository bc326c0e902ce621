"""What a MIM server's CEIP (telemetry) reading is: where its values live, the typed answer
a `MimServerTelemetry` connector gives (connectors/capabilities.py), and what one value says
(`setting_of`). Reading and setting them runs on the server (connectors/_shared/ceip.py);
what a component's values mean together with its version is policy (bot/ops/telemetry.py).
No personal data: host names, and the names, kinds and data of `*CEIP` values."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from connectors.doctor import Check, cannot_tell, ok, wrong

__all__ = [
    "CEIP_CHECKS",
    "COMPONENTS",
    "NOT_COLLECTED_FROM",
    "ROOT",
    "WRITABLE_KINDS",
    "CeipChange",
    "CeipComponent",
    "CeipReading",
    "CeipValue",
    "RegistryKind",
    "Setting",
    "ceip_checks",
    "parse_version",
    "setting_of",
]

ROOT = "HKLM:\\SOFTWARE\\Microsoft\\Forefront Identity Manager\\2010"
# Component keys under ROOT to look at ("" is ROOT itself, where `<Component>CEIP` values
# sit: MIMDocs mim-privacy-compliance.md, "Opt-out of telemetry", and its screenshot
# media/mim-privacy-compliance/mim-privacy-compliance-ceip2.PNG, which shows
# `ServiceandPortalCEIP` on the 2010 key and the subkeys Portal, Service and "Service and
# Portal"). Keys that do not exist on a server are left out of its answer.
COMPONENTS = (
    "",
    "Service",
    "Portal",
    "Service and Portal",
    "Synchronization Service",
    "Password Registration Portal",
    "Password Reset Portal",
    "Certificate Management",
    "Privileged Access Management",
)
# MIMDocs mim-privacy-compliance.md: "In later releases of 4.5.x.x or greater data
# collection will be disabled."
NOT_COLLECTED_FROM = (4, 5)
_VERSION = re.compile(r"\d+(?:\.\d+)*")


class RegistryKind(enum.StrEnum):
    """A registry value's kind, as `[Microsoft.Win32.RegistryValueKind]` names it (what
    `RegistryKey.GetValueKind` returns; about_Registry_Provider lists them)."""

    STRING = "String"
    EXPAND_STRING = "ExpandString"
    BINARY = "Binary"
    DWORD = "DWord"
    MULTI_STRING = "MultiString"
    QWORD = "QWord"
    NONE = "None"
    UNKNOWN = "Unknown"  # also any name this list does not know

    @classmethod
    def of(cls, text: object) -> RegistryKind:
        try:
            return cls(str(text))
        except ValueError:
            return cls.UNKNOWN

    @property
    def reg_name(self) -> str:
        """The name regedit shows (`REG_SZ`)."""
        return _REG_NAMES[self]


_REG_NAMES = {
    RegistryKind.STRING: "REG_SZ",
    RegistryKind.EXPAND_STRING: "REG_EXPAND_SZ",
    RegistryKind.BINARY: "REG_BINARY",
    RegistryKind.DWORD: "REG_DWORD",
    RegistryKind.MULTI_STRING: "REG_MULTI_SZ",
    RegistryKind.QWORD: "REG_QWORD",
    RegistryKind.NONE: "REG_NONE",
    RegistryKind.UNKNOWN: "unknown kind",
}


@dataclass(frozen=True)
class CeipValue:
    """One `*CEIP` value as read: its name, kind, and data as the registry holds it (a
    string for REG_SZ, a number for REG_DWORD; None for data of any other shape)."""

    name: str
    kind: RegistryKind
    data: str | int | None


class Setting(enum.Enum):
    """What one CEIP value says."""

    OPTED_OUT = "opted out"
    OPTED_IN = "opted in"
    UNKNOWN = "unknown"


# The data each kind holds a choice in: MIMDocs' screenshot shows the REG_SZ "0"; a DWORD 0
# is what "set the value to 0" means for a number. Other kinds say nothing known.
_CHOICE_TYPES: dict[RegistryKind, type] = {RegistryKind.STRING: str, RegistryKind.DWORD: int}


def setting_of(value: CeipValue) -> Setting:
    """One value's setting: "0" in a REG_SZ or 0 in a REG_DWORD opts out, "1" or 1 opts
    in; anything else (another kind, other data, " 0", "01") is unknown, never guessed."""
    expected = _CHOICE_TYPES.get(value.kind)
    if expected is None or type(value.data) is not expected:
        return Setting.UNKNOWN
    if value.data in ("0", 0):
        return Setting.OPTED_OUT
    if value.data in ("1", 1):
        return Setting.OPTED_IN
    return Setting.UNKNOWN


@dataclass(frozen=True)
class CeipComponent:
    """One component's `*CEIP` values, as read: the key under ROOT, or for a value in ROOT
    itself the component its name gives (`PortalCEIP`: "Portal"; "(root)" for `CEIP`)."""

    component: str
    values: tuple[CeipValue, ...]  # sorted by name


@dataclass(frozen=True)
class CeipChange:
    """One value `disable_ceip` set to 0: its kind before (`was`) and as read back after
    (`kind`). They differ only if something rewrote the value as another kind."""

    component: str  # the key under ROOT; "" for ROOT itself
    name: str
    was: RegistryKind
    kind: RegistryKind

    @property
    def path(self) -> str:
        return f"{self.component}\\{self.name}"

    @property
    def kept_kind(self) -> bool:
        return self.was is self.kind


@dataclass(frozen=True)
class CeipReading:
    """One server's answer: its host name, the highest installed MIM/FIM product version
    (None: no product matched, which cannot tell whether MIM is installed: the Uninstall
    DisplayNames matched are unverified), each component's values, after `disable_ceip` the
    values set to 0, the product names found, and the keys that exist ("" for ROOT)."""

    host: str
    version: str | None
    components: tuple[CeipComponent, ...]
    changed: tuple[CeipChange, ...] = ()
    products: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """`"4.5.26.0"` as `(4, 5, 26, 0)`; None when `text` does not start with a version."""
    m = _VERSION.match(text or "")
    return tuple(int(p) for p in m.group().split(".")) if m else None


# -- what doctor checks of a reading (connectors/doctor.py) ---------------------------

# The kinds the opt-out writes 0 into (telemetry_disable.ps1); a value of another kind is
# left as it is, since no documentation says what 0 would be there.
WRITABLE_KINDS = frozenset({RegistryKind.STRING, RegistryKind.DWORD})
CEIP_CHECKS = (
    "CEIP registry key readable",
    "CEIP values are REG_SZ or REG_DWORD holding 0 or 1",
    "installed MIM version found",
)


def ceip_checks(reading: CeipReading) -> list[Check]:
    """What /mim telemetry relies on, judged from one reading: the 2010 key exists, each
    *CEIP value is of a kind the opt-out writes and holds a 0 or a 1, the installed MIM
    version is found."""
    return [
        _key_check(CEIP_CHECKS[0], reading),
        _values_check(CEIP_CHECKS[1], reading),
        _version(CEIP_CHECKS[2], reading),
    ]


def _key_check(name: str, reading: CeipReading) -> Check:
    key = ROOT.replace("HKLM:", "HKLM")
    where = reading.host or "the server"
    if "" not in reading.keys:
        return cannot_tell(
            name,
            f"no {key} key on {where}",
            "point the connector's WinRM endpoint at a MIM server, or let the bot account"
            " read that key",
        )
    subkeys = ", ".join(k for k in reading.keys if k) or "none"
    return ok(name, f"{key} on {where}; component keys: {subkeys}")


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
    odd_kind = [v for _, v in values if v.kind not in WRITABLE_KINDS]
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
