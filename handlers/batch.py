"""A retention batch's commands, from buttons or typed: approve, reject, retry and status
(given a batch id), drop, pause and resume."""

from __future__ import annotations

from bot.commands.parser import BatchCommand
from bot.commands.table import Verb
from bot.errors import NotAllowed
from bot.permissions.roles import Actor
from bot.render import batches as render_batches
from bot.render.reply import Reply, Responder
from bot.services import Services

_DECISIONS = frozenset({Verb.APPROVE, Verb.REJECT, Verb.DROP, Verb.RETRY})


def handle_batch(
    cmd: BatchCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Roles are re-checked here on every click: button payloads can be stale or forged."""
    services.authz.require(actor, cmd.name)
    if cmd.name in _DECISIONS and not services.authz.decides(actor):
        # Admin passes every command gate but decides nothing (four eyes are two approvers).
        raise NotAllowed("Only approvers decide a batch: approve, reject, drop or retry it.")
    assert services.batches is not None  # built with the services
    batches = services.batches
    b = cmd.batch_id
    if cmd.name is Verb.STATUS:
        batch = services.requests.batches.get(b)
        # It names people: approvers, auditors and admins, and who ran the sweep.
        if not (services.authz.sees_all(actor) or actor.user_id == batch.requester):
            raise NotAllowed("Only approvers, auditors and who ran the sweep see a batch.")
        respond(render_batches.batch_message(batches.summary(batch)))
        return
    if cmd.name is Verb.APPROVE:
        batch = batches.approve(b, actor=actor)
        at_once = services.config.retention.max_parallel
        text = f"You approved {b}: its erasures run, {at_once} at a time."
    elif cmd.name is Verb.REJECT:
        batches.reject(b, actor=actor, note=cmd.note or "")
        text = f"You rejected {b}; nobody in it is erased."
    elif cmd.name is Verb.DROP:
        dropped = batches.drop(b, cmd.numbers, actor=actor)
        text = f"Dropped {len(dropped)} person(s) from {b}: " + ", ".join(map(str, dropped)) + "."
    elif cmd.name is Verb.PAUSE:
        batches.pause(b, actor=actor)
        text = f"{b} is paused: no new erasure starts. Resume it with /mim resume {b}."
    elif cmd.name is Verb.RESUME:
        batches.resume(b, actor=actor)
        text = f"{b} runs again."
    else:
        retried, refused = batches.retry(b, actor=actor)
        text = f"Retrying {retried} failed erasure(s) of {b}." + (
            f" {refused} could not be retried by you (your own, or they moved on)."
            if refused
            else ""
        )
    respond(Reply(text=text, private=True))
