"""`/mim datamap`: the estate's data map (GDPR Art. 30), the summary in the reply and the
full map as files in the caller's DM (never a channel)."""

from __future__ import annotations

from bot.audit.records import AuditOutcome
from bot.commands.parser import DatamapCommand
from bot.permissions.roles import Actor
from bot.render.datamap import FILE_SUFFIX, DiagramUnavailable, Format, datamap_summary, render
from bot.render.reply import Reply, Responder
from bot.services import Services, datamap_of


def handle_datamap(
    cmd: DatamapCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Privacy officers and admins. Reads configuration, schemas and counts, no person's
    data; audited as `datamap_generated` (who, which formats) before the files go out."""

    services.authz.require(actor, "datamap")
    data_map = datamap_of(services.config, services.connectors, now=services.requests.clock())
    files: list[tuple[str, bytes]] = []
    missing: list[str] = []
    for fmt in Format:  # the JSON last: what `datamap --since` compares
        try:
            name = f"datamap-{data_map.generated:%Y-%m-%d}{FILE_SUFFIX[fmt]}"
            files.append((name, render(data_map, fmt)))
        except DiagramUnavailable as exc:  # html without Graphviz's dot: the rest still go
            missing.append(f"{fmt}: {exc.user_message()}")
    sender = services.sender
    services.audit.record(
        actor=actor.user_id,
        roles=actor.role_names,
        action="datamap_generated",
        outcome=AuditOutcome.OK if sender is not None and not missing else AuditOutcome.PARTIAL,
        detail={"formats": [n for n, _ in files], "not_made": len(missing), "to": "dm"},
    )
    if sender is None:  # a front end that cannot send files (none does today)
        respond(Reply(text="This front end cannot send files: run python -m bot datamap."))
    else:
        note = "The estate's data map (GDPR Art. 30 record of processing)."
        if missing:
            note += " Not made: " + "; ".join(missing)
        sender.send_files(actor.user_id, files, note)
    respond(datamap_summary(data_map))
