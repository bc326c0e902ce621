"""The answers to `/mim telemetry` and `/mim telemetry disable`: each MIM server's CEIP
values (name, data and registry kind) and what they mean, and the confirmation (with its
button) before opting out."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.commands.parser import TELEMETRY_CONFIRM
from bot.ops.telemetry import (
    ROOT,
    Setting,
    State,
    TelemetryAnswer,
    TelemetryServer,
    setting_of,
)
from bot.render.answers import OUTCOME_TEXT
from bot.render.markup import clip, dicts, mrkdwn_escape
from bot.render.reply import Reply
from connectors.telemetry import CeipValue

__all__ = ["ACTION_TELEMETRY_DISABLE", "disable_confirmation", "telemetry_answer"]

ACTION_TELEMETRY_DISABLE = "mim_telemetry_disable"
NOT_CONFIGURED = (
    "No MIM Service or PAM connector is configured (`connectors.mimservice`, "
    "`connectors.pam` in app.yaml): there is no MIM server to ask."
)
STATE_TEXT = {
    State.OPTED_OUT: ":white_check_mark: opted out",
    State.COLLECTING: ":warning: collecting",
    State.UNKNOWN: ":grey_question: cannot tell",
    State.NOT_COLLECTED: "not collected (4.5.x and later)",
    State.NO_VALUE: "no CEIP value found",
}
_KEY = ROOT.replace("HKLM:", "HKLM")
_DATA = 40  # characters of a value's data shown


def telemetry_answer(answer: TelemetryAnswer) -> Reply:
    """Private: per server and component, the values and their state (after `disable`: as
    read back)."""
    if not answer.configured:
        return _plain(NOT_CONFIGURED)
    title = "CEIP telemetry: opted out" if answer.disabled else "CEIP telemetry"
    head = (
        "Every CEIP value was set to 0 in its own kind and read back:"
        if answer.disabled
        else f"CEIP values under `{_KEY}` on each MIM server:"
    )
    sections = [_server(s, disabled=answer.disabled) for s in answer.servers]
    blocks: list[Block] = [
        HeaderBlock(text=title),
        SectionBlock(text=MarkdownTextObject(text=head)),
        *[SectionBlock(text=MarkdownTextObject(text=clip(s))) for s in sections],
        ContextBlock(elements=[MarkdownTextObject(text="Visible only to you.")]),
    ]
    return Reply(text="\n".join([head, *sections]), blocks=dicts(blocks))


def disable_confirmation(answer: TelemetryAnswer) -> Reply:
    """Private: what opting out would change, and the button that does it."""
    if not answer.configured:
        return _plain(NOT_CONFIGURED)
    head = (
        f"Opt out of CEIP telemetry? Every value named `*CEIP` under `{_KEY}` and its "
        'component keys is set to 0 in the kind it has (the string "0" in a REG_SZ, the '
        "number 0 in a REG_DWORD; other kinds are left) on each server below, then read "
        "back. No value is created. This is audited."
    )
    sections = [_server(s, disabled=False) for s in answer.servers]
    console = f"Visible only to you. Or type `/mim {TELEMETRY_CONFIRM}`."
    blocks: list[Block] = [
        HeaderBlock(text="Opt out of CEIP telemetry?"),
        SectionBlock(text=MarkdownTextObject(text=head)),
        *[SectionBlock(text=MarkdownTextObject(text=clip(s))) for s in sections],
        ActionsBlock(
            block_id="telemetry_disable",
            elements=[
                ButtonElement(
                    text="Set CEIP to 0",
                    action_id=ACTION_TELEMETRY_DISABLE,
                    value="confirm",
                    style="danger",
                )
            ],
        ),
        ContextBlock(elements=[MarkdownTextObject(text=console)]),
    ]
    return Reply(text="\n".join([head, *sections, console]), blocks=dicts(blocks))


def _server(s: TelemetryServer, *, disabled: bool) -> str:
    systems = ", ".join(mrkdwn_escape(x) for x in s.systems)
    name = f"*{mrkdwn_escape(s.server)}* ({systems})"
    r = s.result
    if not r.ok or r.value is None:
        why = f" ({mrkdwn_escape(r.message)})" if r.message else ""
        return f"{name}: {OUTCOME_TEXT[r.outcome].format(n=0)}{why}"
    v = r.value
    # No version found cannot tell whether MIM is installed (the DisplayNames are unverified).
    version = f"MIM {mrkdwn_escape(v.version)}" if v.version else "version not found"
    lines = [f"{name} · {version}"]
    with_values = [c for c in v.components if c.values]
    empty = [c.component for c in v.components if not c.values]
    if not v.components:
        lines.append(f"• no component key under `{_KEY}`")
    for c in with_values:
        values = ", ".join(_value(x) for x in c.values)
        lines.append(f"• {mrkdwn_escape(c.component)}: {STATE_TEXT[c.state]} ({values})")
    if empty:
        lines.append(f"• no CEIP value in: {', '.join(mrkdwn_escape(e) for e in empty)}")
    if disabled:
        lines.append(f"_{len(v.changed)} value(s) set to 0, each in its own kind_")
        for ch in v.kind_changes:
            lines.append(
                f":x: `{mrkdwn_escape(ch.path)}` was {ch.was.reg_name} and is now "
                f"{ch.kind.reg_name}: set it back to {ch.was.reg_name} 0 in regedit"
            )
        values = [x for c in with_values for x in c.values]
        left = [x.name for x in values if setting_of(x) is not Setting.OPTED_OUT]
        if left:
            lines.append(
                f":warning: not opted out: {', '.join(mrkdwn_escape(n) for n in left)}"
                " (set each to 0 by hand)"
            )
    return "\n".join(lines)


def _value(x: CeipValue) -> str:
    """`ServiceandPortalCEIP="0" REG_SZ`: the data as stored, strings quoted."""
    if isinstance(x.data, str):
        data = f'"{mrkdwn_escape(x.data[:_DATA])}"'
    elif x.data is None:
        data = "?"
    else:
        data = str(x.data)
    return f"{mrkdwn_escape(x.name)}={data} {x.kind.reg_name}"


def _plain(text: str) -> Reply:
    return Reply(text=text, blocks=dicts([SectionBlock(text=MarkdownTextObject(text=text))]))
