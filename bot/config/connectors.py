"""The `connectors:` section of app.yaml: one section per connector spec.

Each section validates into its connector's own settings (`connectors/<system>/`, one
declaration per setting with its default and its check), so nothing here names a system.
`enabled: false` keeps a section written but unused; the settings the bot fills in
itself (`connectors.spec.INTERNAL_SETTINGS`) are refused in app.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import create_model, model_validator

from bot.config.model import Model
from connectors.spec import INTERNAL_SETTINGS, ConnectorSpec, specs

__all__ = ["ConnectorsConfig"]


class _Sections(Model):
    """What every `connectors:` mapping has beside its sections: which are switched off."""

    disabled: frozenset[str] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _enabled(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        if "disabled" in raw:
            raise ValueError("disabled: not a connector; say enabled: false in its section")
        sections: dict[str, Any] = {}
        disabled: set[str] = set()
        for name, section in raw.items():
            if isinstance(section, dict):
                enabled = section.get("enabled", True)
                if not isinstance(enabled, bool):
                    raise ValueError(f"{name}.enabled: must be true or false")
                internal = sorted(INTERNAL_SETTINGS & set(section))
                if internal:
                    raise ValueError(f"{name}.{internal[0]}: set by the bot, not in app.yaml")
                section = {k: v for k, v in section.items() if k != "enabled"}
                if not enabled:
                    disabled.add(name)
            sections[name] = section
        return sections | {"disabled": frozenset(disabled)}

    def enabled(self) -> Iterator[tuple[ConnectorSpec, Any]]:
        """Each configured and enabled section with its spec, in source-of-authority order."""
        for spec in specs():
            settings = getattr(self, spec.name)
            if settings is not None and spec.name not in self.disabled:
                yield spec, settings


ConnectorsConfig = create_model(
    "ConnectorsConfig",
    __base__=_Sections,
    **{spec.name: (spec.settings | None, None) for spec in specs()},  # type: ignore[call-overload]
)
