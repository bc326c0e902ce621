"""Fixture registry state for the telemetry scripts on the WinRM stand-in
(`connectors/scripts/telemetry_read.ps1`, `telemetry_disable.ps1`): CEIP values per
component key under `HKLM\\SOFTWARE\\Microsoft\\Forefront Identity Manager\\2010`, and the
installed MIM products."""

from __future__ import annotations

from typing import Any

from demo.wsman_stub import WsmanStub

__all__ = ["TelemetryFixture"]


class TelemetryFixture:
    """`keys`: component key -> {value name: number}; "" is the 2010 key itself. The default:
    the MIM Service collecting, the Sync service opted out, on MIM 2016 SP1 (4.4.x)."""

    def __init__(
        self,
        keys: dict[str, dict[str, int]] | None = None,
        *,
        version: str = "4.4.1749.0",
        host: str = "MIM01",
    ) -> None:
        self.keys = (
            keys
            if keys is not None
            else {"Service": {"ServiceCEIP": 1}, "Synchronization Service": {"SyncCEIP": 0}}
        )
        self.version, self.host = version, host
        self.calls: list[tuple[str, Any]] = []

    def install(self, stub: WsmanStub) -> TelemetryFixture:
        stub.handlers["telemetry_read"] = self.read
        stub.handlers["telemetry_disable"] = self.disable
        return self

    def read(self, args: Any) -> dict[str, Any]:
        self.calls.append(("telemetry_read", args))
        return self._state(args)

    def disable(self, args: Any) -> dict[str, Any]:
        self.calls.append(("telemetry_disable", args))
        changed = []
        for c in args["components"]:
            for name in self.keys.get(c, {}):
                if name.upper().endswith("CEIP"):
                    self.keys[c][name] = 0
                    changed.append(f"{c}\\{name}")
        return {**self._state(args), "changed": changed}

    def _state(self, args: Any) -> dict[str, Any]:
        products = (
            [{"name": "Microsoft Identity Manager Service and Portal", "version": self.version}]
            if self.version
            else []
        )
        components = [
            {
                "component": c,
                "values": {k: v for k, v in self.keys[c].items() if k.upper().endswith("CEIP")},
            }
            for c in args["components"]
            if c in self.keys
        ]
        return {"host": self.host, "products": products, "components": components}
