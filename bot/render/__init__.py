"""The render layer: the only code that writes Slack markup (mrkdwn, Block Kit).

markup.py    escaping, mentions, Slack's limits
answers.py   find results, help, errors
show.py      one person's view
requests.py  the approval message, manual steps, results, status, lists
events.py    thread replies for workflow events
reply.py     Reply (blocks + fallback text) and the Responder a front end passes
"""

from bot.render.answers import error, find_fallback, find_result, help_text, hit_text, outcome_text
from bot.render.markup import MAX_BLOCKS, MAX_SECTION, clip, dicts, mention, mrkdwn_escape
from bot.render.reply import Reply, Responder

__all__ = [
    "MAX_BLOCKS",
    "MAX_SECTION",
    "Reply",
    "Responder",
    "clip",
    "dicts",
    "error",
    "find_fallback",
    "find_result",
    "help_text",
    "hit_text",
    "mention",
    "mrkdwn_escape",
    "outcome_text",
]
