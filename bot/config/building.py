"""The connectors app.yaml's `connectors:` section enables, built in source-of-authority
order. A setting a connector refuses is a configuration error naming its section."""

from __future__ import annotations

import dataclasses

from bot.config.app import AppConfig
from bot.config.loading import first_error
from bot.errors import ConfigError
from connectors.base import Connector

__all__ = ["build_connectors"]


def build_connectors(config: AppConfig) -> list[Connector]:
    """One connector per enabled section of `connectors:`, in source-of-authority order."""
    out: list[Connector] = []
    for spec, settings in config.connectors.enabled():
        try:
            if "max_hits" in {f.name for f in dataclasses.fields(settings)}:
                settings = dataclasses.replace(settings, max_hits=config.search.max_hits_per_system)
            out.append(spec.build(settings))
        except ValueError as exc:
            for connector in out:
                connector.close()
            raise ConfigError(f"connectors.{spec.name}: {first_error(exc)}") from None
    return out
