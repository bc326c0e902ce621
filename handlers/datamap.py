"""`/mim datamap`: the estate's data map (GDPR Art. 30), the summary in the reply and the
full map as files in the caller's DM (never a channel)."""

from __future__ import annotations

from bot.audit.records import AuditOutcome
from bot.commands.parser import DatamapCommand
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.services import Services, datamap_of

# The files the DM receives, in this order (the JSON is what `datamap --since` compares).
FORMATS = ("markdown", "html", "csv", "xlsx", "json")


def handle_datamap(
    cmd: DatamapCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Privacy officers and admins. Reads configuration, schemas and counts, no person's
    data; audited as `datamap_generated` (who, which formats) before the files go out."""
    from bot.render.datamap.slack import datamap_summary

    from bot.render.datamap import Format, file_name, render

    services.authz.require(actor, "datamap")
    data_map = datamap_of(services.config, services.connectors, now=services.requests.clock())
    files: list[tuple[str, bytes]] = []
    missing: list[str] = []
    for name in FORMATS:
        fmt = Format(name)
        try:
            files.append((file_name(data_map, fmt), render(data_map, fmt)))
        except RuntimeError as exc:  # a format whose tool is missing (Graphviz for html)
            missing.append(f"{name}: {exc}")
    delivered = services.sender is not None
    services.audit.record(
        actor=actor.user_id,
        roles=actor.role_names,
        action="datamap_generated",
        outcome=AuditOutcome.OK if delivered and not missing else AuditOutcome.PARTIAL,
        detail={"formats": [n for n, _ in files], "not_made": len(missing), "to": "dm"},
    )
    if services.sender is not None:
        note = "The estate's data map (GDPR Art. 30 record of processing)."
        if missing:
            note += " Not made: " + "; ".join(missing)
        services.sender.send_files(actor.user_id, files, note)
    respond(datamap_summary(data_map, delivered=delivered))
