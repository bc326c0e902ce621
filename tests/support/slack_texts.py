"""Every text the bot sent to the Slack stub, and what Slack would make of it.

Slack parses `&`, `<` and `>` as control characters in message `text` and in
`mrkdwn` text objects: `<!channel>`, `<!here>`, `<@U…>` and `<http…|…>` there are
live (a broadcast ping, a mention, a link), and `&lt;` `&gt;` `&amp;` are shown as
`<` `>` `&`. `plain_text` objects (headers, buttons, modal titles and labels) are
not parsed for mentions or links: a `<!channel>` in one is inert text, so the
checks below look at mrkdwn texts only (each Sent says which kind it is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.slack_stub import MockSlack, Recorded

# Live markup a user must never be able to smuggle into a message.
LIVE = re.compile(
    r"<\s*(?:!channel|!here|!everyone|!subteam|@UEVIL|(?:https?|mailto):[^>]*evil)",
    re.IGNORECASE,
)
# A well-escaped piece of user text has no markup and no bare ampersand.
_BARE = re.compile(r"[<>]|&(?!amp;|lt;|gt;)")
_JSON_KEYS = ("blocks", "view", "attachments")


def slack_escape(text: str) -> str:
    """What Slack sends for text a user typed (and what a bot must send to show it)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def well_escaped(shown: str) -> bool:
    return not _BARE.search(shown)


@dataclass(frozen=True)
class Sent:
    """One text in one recorded call: where it went and how Slack would read it."""

    call: str  # "chat.postMessage", "/response_url/r3", ...
    channel: str | None
    field: str  # "text", "blocks[1].text.text", "view.blocks[0].label.text"
    kind: str  # "mrkdwn" | "plain_text"
    text: str

    def __str__(self) -> str:
        where = f"{self.call}" + (f" (channel {self.channel})" if self.channel else "")
        return f"{where} {self.field} [{self.kind}]: {self.text!r}"


def _decoded(key: str, value: Any) -> Any:
    if key in _JSON_KEYS and isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _walk(node: Any, path: str, parent_type: str | None) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        node_type = node.get("type") if isinstance(node.get("type"), str) else None
        for key, value in node.items():
            value = _decoded(key, value)
            where = f"{path}.{key}" if path else key
            if key == "text" and isinstance(value, str):
                plain = node_type == "plain_text" or (not path and node.get("mrkdwn") is False)
                yield where, ("plain_text" if plain else "mrkdwn"), value
            else:
                yield from _walk(value, where, node_type)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]", parent_type)


def texts(records: Iterable[Recorded]) -> list[Sent]:
    """Every `text` in every recorded call: message text and fallbacks, response_url
    answers, and the `text` of every object nested in blocks, attachments and views."""
    out = []
    for rec in records:
        body = rec.body if isinstance(rec.body, dict) else {}
        channel = body.get("channel") if isinstance(body.get("channel"), str) else None
        for field, kind, text in _walk(body, "", None):
            out.append(Sent(rec.method, channel, field, kind, text))
    return out


def mention_parsing(records: Iterable[Recorded]) -> list[str]:
    """Calls that ask Slack to turn plain `@channel`/`@name` into mentions (link_names,
    parse=full): with those, even un-marked-up user text would ping."""
    found = []
    for rec in records:
        body = rec.body if isinstance(rec.body, dict) else {}
        link_names = str(body.get("link_names", "")).lower() in ("1", "true")
        if link_names or body.get("parse") == "full":
            found.append(repr(rec))
    return found


class Window:
    """The calls the stub recorded since this window opened (one test's share of a
    stub that lives for the whole module)."""

    def __init__(self, stub: MockSlack) -> None:
        self.stub = stub
        self.start = len(stub.requests)

    @property
    def records(self) -> list[Recorded]:
        return list(self.stub.requests[self.start :])

    def texts(self) -> list[Sent]:
        return texts(self.records)
