"""Access requests in Slack's words: the progress message, the package's covering note,
and the answer to `/mim export`. Every label and name is escaped."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.lookup.calls import Outcome
from bot.lookup.show import SystemRecord
from bot.render.markup import clip, dicts, mrkdwn_escape
from bot.render.reply import Reply
from bot.workflow.access import ExportResult
from bot.workflow.export_package import Package

__all__ = ["export_done", "package_note", "password_message", "progress"]

_ICON = {Outcome.FOUND: ":white_check_mark:", Outcome.NOT_FOUND: ":white_circle:"}
_WORDS = {Outcome.FOUND: "read", Outcome.NOT_FOUND: "holds nothing"}


def _line(record: SystemRecord) -> str:
    icon = _ICON.get(record.outcome, ":warning:")
    words = _WORDS.get(record.outcome, record.outcome.value.replace("_", " "))
    return f"{icon} {mrkdwn_escape(record.label)}: {words}"


def progress(answered: Sequence[SystemRecord]) -> Reply:
    """The requester's DM while the systems answer (the message is updated in place)."""
    text = f"Preparing the access package: {len(answered)} system(s) answered so far."
    lines = "\n".join(_line(r) for r in answered)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(f"{text}\n{lines}")))]
    return Reply(text=text, blocks=dicts(blocks))


def package_note(request_id: str, package: Package) -> str:
    """The covering note of the uploaded zip (plain text: Slack shows it as written)."""
    note = f"Access package for {request_id}: {len(package.files)} files, checksums in "
    note += "manifest.json. Send it to the data subject by a secure channel; do not keep copies."
    if package.unread:
        unread = mrkdwn_escape(", ".join(package.unread))
        note += f" NOT included (could not be read): {unread}."
    return note


def password_message(request_id: str, password: str) -> Reply:
    """The password of an encrypted package, shown once (ephemeral in Slack)."""
    text = (
        f"Password for the access package of {request_id}: `{mrkdwn_escape(password)}` "
        "(shown once, to you only, and not kept: note it now, and send it to the data "
        "subject by another channel than the package)"
    )
    return Reply(text=text)


def export_done(result: ExportResult) -> Reply:
    """The answer to `/mim export`, to the caller only."""
    request = result.request
    head = f"Access package for {request.id} sent to you by direct message"
    if result.unread:
        reasons = result.reasons or ("",) * len(result.unread)
        unread = ", ".join(
            f"{label} ({why})" if why else label
            for label, why in zip(result.unread, reasons, strict=False)
        )
        body = (
            f"*{head}*, without {mrkdwn_escape(unread)}: "
            "not readable now. The request stays open: run the same `/mim export` again "
            "to complete it, or an approver closes it with `/mim cancel "
            f"{request.id} &lt;reason&gt;`."
        )
    else:
        body = f"*{head}*. The request is complete; the bot keeps no copy."
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip(body))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{len(result.files)} files · SHA-256 of the zip `{result.sha256[:16]}…`"
                    f" · due {request.due_at:%Y-%m-%d}"
                )
            ]
        ),
    ]
    return Reply(text=head, blocks=dicts(blocks))
