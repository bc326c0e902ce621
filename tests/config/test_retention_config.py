"""`retention:` in app.yaml: rules with their age, holds, the schedule, and the start-up
refusal of a rule naming a system that cannot find its population (one line each)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.config import parse_config
from bot.config.building import check_retention
from bot.errors import ConfigError
from connectors.memory import MemoryConnector
from connectors.sweeps import Population
from tests.config.test_config import ENV, error_of, minimal


class Finder(MemoryConnector):
    populations = frozenset({Population.ENDED})

    def stale(self, rule, *, now, timeout) -> Iterator:
        return iter(())


def with_retention(**retention) -> dict:
    raw = minimal()
    raw["retention"] = retention
    return raw


LEAVERS = {
    "name": "leavers",
    "system": "hr",
    "population": "ended",
    "older_than_months": 24,
    "column": "end_date",
}


def test_a_rule_becomes_a_stale_rule_with_its_age():
    config = parse_config(with_retention(rules=[LEAVERS], schedule="0 3 * * 1"), environ=ENV)
    rule = config.retention.rules[0].rule()
    assert (rule.name, rule.system, rule.population, rule.column) == (
        "leavers", "hr", Population.ENDED, "end_date",
    )  # fmt: skip
    assert rule.age == timedelta(days=730)
    assert config.retention.max_parallel == 4 and config.retention.schedule == "0 3 * * 1"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"older_than_months": None}, "give older_than_days or older_than_months"),
        ({"older_than_days": 30}, "give older_than_days or older_than_months"),
        ({"column": None}, "an ended rule names its end-date column"),
        ({"population": "retired"}, "population"),
        ({"name": "leavers; drop"}, "name"),
    ],
)
def test_a_rule_that_cannot_work_is_one_line(change, says):
    rule = {k: v for k, v in {**LEAVERS, **change}.items() if v is not None}
    text = error_of(with_retention(rules=[rule]))
    assert says in text and "\n" not in text


def test_rule_names_are_unique_and_the_schedule_is_cron():
    assert "unique" in error_of(with_retention(rules=[LEAVERS, LEAVERS]))
    assert "not a cron expression" in error_of(with_retention(schedule="every monday"))


def test_a_rule_naming_a_system_that_cannot_answer_is_refused_at_start_up():
    config = parse_config(with_retention(rules=[LEAVERS]), environ=ENV)
    check_retention(config, [Finder("hr", "HR")])  # fine
    with pytest.raises(ConfigError, match=r"^retention\.rules\.leavers: no enabled connector"):
        check_retention(config, [Finder("ad", "AD")])
    with pytest.raises(ConfigError, match=r"HR cannot find ended people \(it answers no retention"):
        check_retention(config, [MemoryConnector("hr", "HR")])
    disabled = {**LEAVERS, "population": "disabled"}
    del disabled["column"]
    config = parse_config(with_retention(rules=[disabled]), environ=ENV)
    with pytest.raises(ConfigError, match=r"HR cannot find disabled people \(it finds: ended\)"):
        check_retention(config, [Finder("hr", "HR")])


def test_a_hold_source_needs_its_system():
    config = parse_config(with_retention(holds={"hr_column": "legal_hold"}), environ=ENV)
    with pytest.raises(ConfigError, match=r"^retention\.holds\.hr_column: no enabled connector"):
        check_retention(config, [Finder("hr", "HR")])


def test_batches_need_one_approval_per_erasure_and_a_schedule_needs_rules():
    two = with_retention(rules=[LEAVERS])
    two["policy"] = {"erasure_approvals": 2}
    text = error_of(two)
    assert "a batch is approved by one approver, but policy.erasure_approvals is 2" in text
    assert "\n" not in text
    assert "there are no retention.rules to run" in error_of(with_retention(schedule="0 3 * * 1"))
