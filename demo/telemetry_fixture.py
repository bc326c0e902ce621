"""Fixture registry state for the telemetry scripts on the WinRM stand-in
(`connectors/_shared/scripts/telemetry_read.ps1`, `telemetry_disable.ps1`): the values under
`HKLM\\SOFTWARE\\Microsoft\\Forefront Identity Manager\\2010` and its component keys, each
with its registry kind, and the installed MIM products.

What it follows:
- MIMDocs mim-privacy-compliance.md, "Opt-out of telemetry": "edit the registry and set the
  value to 0: (Component)CEIP HKLM\\SOFTWARE\\Microsoft\\Forefront Identity Manager\\2010";
  4.5.x.x and later collect nothing.
- Its screenshot media/mim-privacy-compliance/mim-privacy-compliance-ceip2.PNG: on the 2010
  key, `ServiceandPortalCEIP` of type REG_SZ, data `0`, next to `ServiceandPortalLocation`
  (REG_SZ, a path); subkeys `Portal`, `Service` and `Service and Portal`, whose values it
  does not show (so here they hold none: no CEIP value is made up).
- about_Registry_Provider (the Type dynamic parameter's table: String is REG_SZ, DWord is
  REG_DWORD, ...) and Set-ItemProperty's registry `-Type <RegistryValueKind>`: a value is
  written in the kind given, whatever kind it had (RegSetValueEx stores the type it is
  passed), with no error: so a kind change is silent on a server.

Strict where those are silent: the scripts' arguments must be the documented key and a
list of subkey names, or the script fails as PowerShell would. The disable handler does
what telemetry_disable.ps1 does (0 written in the kind GetValueKind reads; other kinds
left); every write goes through `write`, which records a kind change in `kind_changes`: a
fault of the opt-out, never a silent success. `rewrite_as` makes the handler write one kind
whatever the value's (what the old script did with `-Type DWord`), to show that the bot
reports such a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.telemetry import ROOT, RegistryKind
from demo.wsman_stub import PowerShellError, WsmanStub

__all__ = ["RegValue", "TelemetryFixture", "dword", "sz"]


@dataclass(frozen=True)
class RegValue:
    """One registry value: its kind and its data as stored (a string for REG_SZ, a number
    for REG_DWORD, a list of numbers for REG_BINARY, ...)."""

    kind: RegistryKind
    data: Any


def sz(data: str) -> RegValue:
    return RegValue(RegistryKind.STRING, data)


def dword(data: int) -> RegValue:
    return RegValue(RegistryKind.DWORD, data)


def _screenshot(ceip: str) -> dict[str, dict[str, RegValue]]:
    """The ceip2 screenshot's keys, with `ServiceandPortalCEIP` holding `ceip`."""
    return {
        "": {
            "ServiceandPortalCEIP": sz(ceip),
            # The screenshot cuts this path short; it is no CEIP value and is never read.
            "ServiceandPortalLocation": sz(
                "C:\\Program Files\\Microsoft Forefront Identity Manager"
            ),
        },
        "Portal": {},
        "Service": {},
        "Service and Portal": {},
    }


class TelemetryFixture:
    """`keys`: component key ("" is the 2010 key itself) -> {value name: `RegValue`}. The
    default is the ceip2 screenshot's registry but with `ServiceandPortalCEIP` a REG_SZ "1"
    (opted in: something for the demo to opt out of), on MIM 2016 SP1 (4.4.x)."""

    def __init__(
        self,
        keys: dict[str, dict[str, RegValue]] | None = None,
        *,
        version: str = "4.4.1749.0",
        host: str = "MIM01",
        # The Uninstall DisplayName is unverified (mim-apis-checked 8.7); any name starting
        # "Microsoft Identity Manager" is what the read script matches.
        product: str = "Microsoft Identity Manager Service and Portal",
        rewrite_as: RegistryKind | None = None,
    ) -> None:
        self.keys = keys if keys is not None else _screenshot("1")
        self.version, self.host, self.product = version, host, product
        self.rewrite_as = rewrite_as
        self.calls: list[tuple[str, Any]] = []
        self.kind_changes: list[str] = []  # "<component>\\<name>: <was> -> <now>"

    def install(self, stub: WsmanStub) -> TelemetryFixture:
        stub.handlers["telemetry_read"] = self.read
        stub.handlers["telemetry_disable"] = self.disable
        return self

    def write(self, component: str, name: str, value: RegValue) -> None:
        """Set one existing value, as Set-ItemProperty -Type does: a kind other than the
        value's own replaces it, and is recorded as the fault it is."""
        was = self.keys[component][name]
        if value.kind is not was.kind:
            self.kind_changes.append(f"{component}\\{name}: {was.kind} -> {value.kind}")
        self.keys[component][name] = value

    # -- the scripts -------------------------------------------------------------------

    def read(self, args: Any) -> dict[str, Any]:
        self.calls.append(("telemetry_read", args))
        return self._state(self._components(args))

    def disable(self, args: Any) -> dict[str, Any]:
        self.calls.append(("telemetry_disable", args))
        components = self._components(args)
        changed = []
        for c in components:
            for name, value in list(self.keys[c].items()):
                if not _is_ceip(name):
                    continue
                kind = self.rewrite_as or value.kind  # the script: GetValueKind's kind
                zero = {RegistryKind.STRING: "0", RegistryKind.DWORD: 0}.get(kind)
                if zero is None:
                    continue  # the script leaves a value of any other kind as it is
                self.write(c, name, RegValue(kind, zero))
                changed.append(
                    {"component": c, "name": name, "was": str(value.kind),
                     "kind": str(self.keys[c][name].kind)}
                )  # fmt: skip
        return {**self._state(components), "changed": changed}

    # -- internals ---------------------------------------------------------------------

    def _components(self, args: Any) -> list[str]:
        """The component keys asked for that exist; arguments other than the scripts'
        contract fail the script (the stand-in does not guess)."""
        if not isinstance(args, dict) or args.get("root") != ROOT:
            raise PowerShellError(
                "System.Management.Automation.ItemNotFoundException",
                "Cannot find path because it does not exist.",
                "ObjectNotFound",
                "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
            )
        components = args.get("components")
        if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
            raise PowerShellError(
                "System.Management.Automation.RuntimeException",
                "components is not a list of key names",
                "InvalidArgument",
            )
        return [c for c in components if c in self.keys]

    def _state(self, components: list[str]) -> dict[str, Any]:
        products = [{"name": self.product, "version": self.version}] if self.version else []
        return {
            "host": self.host,
            "products": products,
            "components": [
                {
                    "component": c,
                    "values": [
                        {"name": n, "kind": str(v.kind), "data": v.data}
                        for n, v in self.keys[c].items()
                        if _is_ceip(n)
                    ],
                }
                for c in components
            ],
        }


def _is_ceip(name: str) -> bool:
    # PowerShell's -like is case-insensitive: `$n -like '*CEIP'`.
    return name.upper().endswith("CEIP")
