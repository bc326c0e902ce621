"""The connectors app.yaml's `connectors:` section enables, built in source-of-authority
order. A setting a connector refuses is a configuration error naming its section."""

from __future__ import annotations

import dataclasses

from bot.config.app import AppConfig
from bot.config.loading import first_error
from bot.errors import ConfigError
from connectors.base import Connector
from connectors.capabilities import finds_stale, knows_holds

__all__ = ["build_connectors", "check_retention"]


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
    try:
        check_retention(config, out)
    except ConfigError:
        for connector in out:
            connector.close()
        raise
    return out


def check_retention(config: AppConfig, connectors: list[Connector]) -> None:
    """Each retention rule names an enabled system that can find its population, and each
    hold source a system that knows holds: else one line naming the rule or the key."""
    by_name = {c.name: c for c in connectors}
    for rule in config.retention.rules:
        where = f"retention.rules.{rule.name}"
        connector = by_name.get(rule.system)
        if connector is None:
            raise ConfigError(f"{where}: no enabled connector is named {rule.system!r}")
        finder = finds_stale(connector)
        if finder is None or rule.population not in finder.populations:
            can = ", ".join(sorted(p.value for p in finder.populations)) if finder else ""
            raise ConfigError(
                f"{where}: {connector.label} cannot find {rule.population.value} people"
                + (f" (it finds: {can})" if can else " (it answers no retention rule)")
            )
    holds = config.retention.holds
    if (holds.ad_group or holds.hr_column) and not any(knows_holds(c) for c in connectors):
        key = "ad_group" if holds.ad_group else "hr_column"
        raise ConfigError(
            f"retention.holds.{key}: no enabled connector knows holds (AD for a group,"
            " HR for a column)"
        )
