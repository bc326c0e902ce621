from datetime import UTC, datetime

import pytest
from slack_sdk.models.blocks import Block

from bot import render
from bot.errors import UsageError
from bot.lookup.calls import Outcome
from bot.lookup.search import SearchResult, SystemResult
from connectors.base import Hit, IdKind, ObjectRef, Query, QueryKind


def hits(n, system="ad", long=False):
    return tuple(
        Hit(
            ObjectRef(system, str(i)),
            f"Person {i}",
            {IdKind.ACCOUNT: f"p{i}"},
            modified=datetime(2026, 1, 1, tzinfo=UTC),
            attributes={"description": ("x" * 5000,)} if long else {"mail": (f"p{i}@x.test",)},
            location=f"CN=Person {i},DC=x",
        )
        for i in range(n)
    )


def result(*systems):
    return SearchResult(Query(QueryKind.PREFIX, "Pe"), tuple(systems))


def roundtrip(blocks):
    # Slack's own models re-validate every block (text lengths, element counts).
    return [Block.parse(b).to_dict() for b in blocks]


def test_every_outcome_has_a_rendering():
    for outcome in Outcome:
        r = SystemResult(
            "ad", "AD", outcome, hits(1) if outcome is Outcome.FOUND else (), message="why"
        )
        reply = render.find_result(result(r))
        assert "AD" in reply.text
        roundtrip(reply.blocks)


def test_hits_and_outcomes_are_listed():
    reply = render.find_result(
        result(
            SystemResult("ad", "Active Directory", Outcome.FOUND, hits(2)),
            SystemResult(
                "hr", "HR", Outcome.UNREACHABLE, message="Unreachable (connection refused)"
            ),
        )
    )
    text = " ".join(str(b) for b in reply.blocks)
    assert "Person 0" in text and "Person 1" in text
    assert "unreachable" in text and "connection refused" in text
    assert reply.private
    assert "Active Directory: found 2" in reply.text


def test_long_results_are_cut_within_slack_limits():
    reply = render.find_result(
        result(
            SystemResult("ad", "AD", Outcome.FOUND, hits(120)),
            SystemResult("hr", "HR", Outcome.FOUND, hits(30, "hr")),
        )
    )
    assert len(reply.blocks) <= render.MAX_BLOCKS
    assert "more hit(s) not shown" in str(reply.blocks[-1])
    shown = sum(1 for b in reply.blocks if "Person" in str(b))
    assert f"{150 - shown} more hit(s)" in str(reply.blocks[-1])
    roundtrip(reply.blocks)


def test_a_huge_hit_is_clipped_to_the_section_limit():
    reply = render.find_result(result(SystemResult("ad", "AD", Outcome.FOUND, hits(1, long=True))))
    for block in reply.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= render.MAX_SECTION
    roundtrip(reply.blocks)


def test_directory_text_cannot_become_a_mention_or_link():
    hit = Hit(ObjectRef("ad", "1"), "<!channel> <https://evil|x>", {})
    reply = render.find_result(result(SystemResult("ad", "AD", Outcome.FOUND, (hit,))))
    text = str(reply.blocks)
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text
    labelled = SystemResult("ad", "<!here> AD", Outcome.NOT_FOUND)
    fallback = render.find_fallback(result(labelled), "<!channel>")
    assert "<!" not in fallback  # the notification text is mrkdwn too


@pytest.mark.parametrize("message", ["plain", UsageError("bad", "/mim find").user_message()])
def test_error_reply_is_private_and_valid(message):
    reply = render.error(message)
    assert reply.private
    roundtrip(reply.blocks)
