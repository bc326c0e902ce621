"""A retention batch run as the Slack app runs one: drivers on their own threads, many
people, a limit per system, Slack's Web API (the loopback stub) answering 429s, a
failure of one person leaving the others running, and a driver that died mid-batch
taken over by another process's services over the same database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import parse_config
from bot.frontends.slack_notifier import SlackNotifier
from bot.permissions.roles import Actor, Role
from bot.services import Services, build_services
from bot.workflow.batch.model import BatchStatus, Place
from bot.workflow.events import ApprovalGiven
from bot.workflow.requests import Status
from connectors.base import Capability, IdKind, ObjectRef
from connectors.errors import Denied, Unreachable
from connectors.memory import MemoryConnector, Person
from connectors.sweeps import Candidate, Population
from tests.support.slack_stub import MockSlack
from tests.support.waiting import wait_until
from tests.workflow.test_erasure import Recorder

REQUESTER = Actor("UREQ", frozenset({Role.REQUESTER}))
APPROVER = Actor("UAPP", frozenset({Role.APPROVER}))
ENV = {"T": "xoxb-t", "S": "s", "K": "subject-key-0123456789", "C": "c" * 40}


class Directory(MemoryConnector):
    """A directory that answers the `disabled` rule with everyone it holds, and counts
    how many calls are in flight at once (each call takes `delay`)."""

    populations = frozenset({Population.DISABLED})

    def __init__(self, people: list[Person], *, delay: float = 0.0) -> None:
        super().__init__("dir", "Directory", people, delay=delay)
        self.active = self.peak = 0
        self.broken: set[str] = set()  # people whose delete is denied

    def _enter(self, method: str) -> None:
        with self._lock:
            self.calls.append(method)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
        finally:
            with self._lock:
                self.active -= 1

    def stale(self, rule, *, now, timeout):
        for p in list(self.people.values()):
            yield Candidate(ObjectRef(self.name, p.id), dict(p.identifiers), p.id,
                            datetime(2020, 1, 1, tzinfo=UTC))  # fmt: skip

    def apply_delete(self, plan, *, timeout):
        if plan.ref.id in self.broken:
            self._enter("apply_delete")
            raise Denied("insufficient access rights")
        return super().apply_delete(plan, timeout=timeout)


class BatchRecorder(Recorder):
    """Recorder, with the batch's messages: where its one message is, and which thread
    each step by hand was asked in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[tuple[str | None, str | None]] = []

    def manual_step(self, request, step) -> None:
        self.threads.append((request.channel, request.message_ts))
        super().manual_step(request, step)

    def batch_requested(self, summary):
        self.calls.append(("batch_requested", summary.batch.id))
        return ("CAPPROVALS", "1700000000.000200")

    def batch_updated(self, summary) -> None:
        self.calls.append(("batch_updated", summary.batch.status.value))

    def batch_list(self, batch, members) -> str:
        self.calls.append(("batch_list", str(len(members))))
        return "F00001"

    def batch_list_removed(self, batch, file_id) -> None:
        self.calls.append(("batch_list_removed", file_id))


def people(n: int) -> list[Person]:
    return [
        Person(f"p{i:04d}", {IdKind.ACCOUNT: f"bt{i:04d}", IdKind.EMPLOYEE_ID: str(500000 + i)})
        for i in range(n)
    ]


def services_for(
    tmp_path: Path, directory: Directory, *, notifier=None, max_parallel: int = 3, extra=()
) -> Services:
    raw = {
        "slack": {"bot_token": "${T}", "signing_secret": "${S}", "approvals_channel": "CAPP"},
        "roles": {"requester": {"users": ["UREQ"]}, "approver": {"users": ["UAPP"]}},
        "audit": {"url": f"sqlite:///{tmp_path / 'a.db'}", "subject_key": "${K}",
                  "chain_key": "${C}"},
        "runner": {"lease_seconds": 2},
        "retention": {
            "rules": [{"name": "disabled", "system": "dir", "population": "disabled",
                       "older_than_days": 90}],
            "max_parallel": max_parallel,
        },
    }  # fmt: skip
    return build_services(
        parse_config(raw, environ=ENV),
        connectors=[directory, *extra],
        notifier=notifier or Recorder(),
        background=True,
    )


def done(services: Services, batch_id: str) -> bool:
    return services.requests.batches.get(batch_id).status is BatchStatus.DONE


@pytest.fixture
def slack() -> Iterator[MockSlack]:
    stub = MockSlack().start()
    try:
        yield stub
    finally:
        stub.stop()


def slack_notifier(stub: MockSlack) -> SlackNotifier:
    client = WebClient(token="xoxb-t", base_url=stub.api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    return SlackNotifier(client, approvals_channel="CAPP", notifications_channel="CNOTE")


def test_a_large_batch_runs_within_the_limit_and_tells_slack_once_a_few_seconds(tmp_path, slack):
    directory = Directory(people(60), delay=0.01)
    services = services_for(tmp_path, directory, notifier=slack_notifier(slack), max_parallel=3)
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        assert batch is not None and batch.count(Place.PROPOSED) == 60
        (listed,) = slack.calls("files.completeUploadExternal")
        assert listed.body["thread_ts"] and listed.body["channel_id"] == "CAPP"
        directory.peak = 0  # the sweep's own searches ran one at a time; from here, the batch
        services.batches.approve(batch.id, actor=APPROVER)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        # The end is stored first, then told: the last redraw and the file's deletion follow.
        wait_until(lambda: slack.calls("files.delete"), what="the file's deletion")
        wait_until(lambda: "60 erased, 0 failed" in str(slack.calls("chat.update")[-1].body),
                   what="the last summary")  # fmt: skip
        statuses = services.requests.batch_statuses(batch.id)
        assert statuses == {Status.COMPLETED: 60} and not directory.people
        assert 2 <= directory.peak <= 3  # in parallel, never past the limit
        # One message for the batch, redrawn every few seconds at most: no per-person post.
        posts = slack.calls("chat.postMessage")
        assert len(posts) == 1 and posts[0].body["channel"] == "CAPP"
        updates = slack.calls("chat.update")
        assert 1 <= len(updates) <= 6
        assert "60 erased, 0 failed" in str(updates[-1].body["blocks"])
        assert slack.calls("conversations.open") == []  # nobody's DM
        # The file of names goes when the batch ends: the uploaded one, deleted.
        (deleted,) = slack.calls("files.delete")
        uploaded = json.loads(listed.body["files"])[0]["id"]
        assert deleted.body["file"] == uploaded
        assert services.requests.batches.file_of(batch.id) is None
    finally:
        services.close()


def test_429s_are_waited_out_and_the_summary_still_ends_right(tmp_path, slack):
    services = services_for(tmp_path, Directory(people(5)), notifier=slack_notifier(slack))
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        slack.fail("chat.update", status=429, headers={"Retry-After": "1"}, times=1)
        started = time.monotonic()
        services.batches.approve(batch.id, actor=APPROVER)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        wait_until(lambda: "5 erased" in str(slack.calls("chat.update")[-1].body["blocks"]),
                   what="the last summary")  # fmt: skip
        updates = slack.calls("chat.update")
        assert time.monotonic() - started >= 1.0  # Retry-After was honoured, not hammered
        assert len(updates) <= 5
    finally:
        services.close()


def test_one_persons_failure_leaves_the_others_running_and_listed_for_retry(tmp_path):
    directory = Directory(people(6))
    directory.broken = {"p0002"}
    told = Recorder()
    services = services_for(tmp_path, directory, notifier=told)
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        services.batches.approve(batch.id, actor=APPROVER)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        assert services.requests.batch_statuses(batch.id) == {
            Status.COMPLETED: 5, Status.FAILED: 1,
        }  # fmt: skip
        summary = services.batches.summary(services.requests.batches.get(batch.id))
        (failed_id, _), *_ = summary.failed
        assert summary.progress is not None and summary.progress.failed == 1
        assert told.of("finished") == []  # no DM per person
        directory.broken = set()
        with pytest.raises(Exception, match="another approver must retry"):
            services.batches.retry(batch.id, actor=Actor("UREQ", frozenset({Role.APPROVER})))
        assert services.batches.retry(batch.id, actor=APPROVER) == (1, 0)
        wait_until(lambda: services.requests.get(failed_id).status is Status.COMPLETED,
                   what="the retried erasure")  # fmt: skip
        assert not directory.people
    finally:
        services.close()


def test_a_driver_that_died_mid_batch_is_taken_over_without_starting_anyone_twice(tmp_path):
    directory = Directory(people(8))
    first = services_for(tmp_path, directory)
    first.batches.execute = lambda _id: None  # this process approves, then "dies"
    batch = first.batches.propose(first.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
    first.batches.approve(batch.id, actor=APPROVER)
    store = first.requests.batches
    # What the dead driver left: its lease, one member claimed, one whose erasure was
    # stored just before it died (not yet marked started).
    assert store.claim_driver(batch.id, "dead", timedelta(seconds=1))
    claimed = store.claim_member(batch.id, "dead", timedelta(seconds=1))
    stored = store.claim_member(batch.id, "dead", timedelta(seconds=1))
    assert claimed is not None and stored is not None and stored.query is not None
    approval = ApprovalGiven(actor=APPROVER.user_id, roles=(Role.APPROVER,))
    orphan = first.erasure.request_in_batch(
        stored.query, batch_id=batch.id, requester=REQUESTER, approval=approval
    )
    first.close()

    second = services_for(tmp_path, directory)  # a restart, or another replica
    try:
        assert second.requests.runnable() == []  # the live lease: the driver's, not the runner's
        second.batch_driver.resume_all()  # the lease is still held: nothing happens
        assert second.requests.of_batch(batch.id) == [orphan.id]
        time.sleep(1.1)
        second.batch_driver.resume_all()
        wait_until(lambda: done(second, batch.id), what="the batch to end")
        ids = second.requests.of_batch(batch.id)
        assert len(ids) == 8 and orphan.id in ids  # the orphan linked, nobody twice
        assert second.requests.batch_statuses(batch.id) == {Status.COMPLETED: 8}
        assert not directory.people
    finally:
        second.close()


def test_a_hold_placed_while_the_batch_runs_stops_that_persons_erasure(tmp_path):
    directory = Directory(people(12), delay=0.02)
    services = services_for(tmp_path, directory, max_parallel=1)
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        last = services.requests.batches.members(batch.id)[-1]
        services.batches.approve(batch.id, actor=APPROVER)
        keys = [services.keyer.key("bt0011"), services.keyer.key("500011")]
        services.holds.place(keys, reason="litigation", placed_by=APPROVER.user_id)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        (held,) = services.requests.batches.members(batch.id, [Place.NOT_STARTED])
        assert held.seq == last.seq and "on hold" in (held.note or "")
        assert list(directory.people) == ["p0011"]
    finally:
        services.close()


def test_the_schedule_runs_each_slot_once_across_replicas(tmp_path):
    from bot.workflow.batch.schedule import ScheduledSweep

    directory = Directory(people(3))
    services = services_for(tmp_path, directory)
    try:
        now = [datetime(2026, 12, 7, 2, 59, tzinfo=UTC)]
        made = []

        def sweep():
            found = services.sweeps.sweep(actor=REQUESTER)
            made.append(services.batches.propose(found, actor=REQUESTER))
            return made[-1]

        replicas = [
            ScheduledSweep(services.engine, "0 3 * * *", sweep, clock=lambda: now[0])
            for _ in range(2)
        ]
        assert [r.tick() for r in replicas] == [None, None]  # 03:00 has not come
        now[0] = datetime(2026, 12, 7, 3, 0, 30, tzinfo=UTC)
        barrier = threading.Barrier(2)
        results = []

        def tick(r):
            barrier.wait()
            results.append(r.tick())

        threads = [threading.Thread(target=tick, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(made) == 1 and sorted(map(bool, results)) == [False, True]
        now[0] = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
        assert [r.tick() for r in replicas] == [None, None]  # the same slot: not again
    finally:
        services.close()


def test_a_summary_slack_refused_is_redrawn_at_the_workers_next_round(tmp_path, slack):
    services = services_for(tmp_path, Directory(people(2)), notifier=slack_notifier(slack))
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        slack.fail("chat.update", status=200, body={"ok": False, "error": "fatal_error"}, times=9)
        services.batches.approve(batch.id, actor=APPROVER)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        services.batch_driver.stop()  # the drive is over; only the round below redraws
        assert services.requests.batches.summaries_owed() == [batch.id]
        slack._faults.clear()
        services.batch_driver.resume_all()
        assert "2 erased" in str(slack.calls("chat.update")[-1].body["blocks"])
        assert services.requests.batches.summaries_owed() == []
    finally:
        services.close()


class ByHand(MemoryConnector):
    """A system the bot cannot erase in: each person's erasure asks for a step by hand."""

    capabilities = frozenset({Capability.SEARCH, Capability.READ})


def test_a_step_by_hand_is_asked_in_the_batchs_thread_and_the_batch_waits_for_it(tmp_path):
    directory = Directory(people(2))
    ids = {IdKind.ACCOUNT: "bt0001", IdKind.EMPLOYEE_ID: "500001"}
    by_hand = ByHand("app", "Legacy app", [Person("a1", ids)])
    told = BatchRecorder()
    services = services_for(tmp_path, directory, notifier=told, extra=[by_hand])
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        services.batches.approve(batch.id, actor=APPROVER)
        wait_until(lambda: told.of("manual_step"), what="the step by hand")
        ((channel, ts),) = {(c, t) for c, t in told.threads}
        assert (channel, ts) == ("CAPPROVALS", "1700000000.000200")  # the batch's thread
        waiting = wait_until(
            lambda: services.requests.of_batch(batch.id, [Status.RUNNING]), what="the wait"
        )
        assert services.requests.batches.get(batch.id).status is BatchStatus.RUNNING
        (request_id,) = waiting
        step = next(s for s in services.requests.get(request_id).steps if s.manual)
        services.decisions.step_done(request_id, step.seq, actor=REQUESTER)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        assert told.of("finished") == []  # the batch's summary told, not a DM per person
    finally:
        services.close()


class HeldInTheSystem(Directory):
    """A directory whose group holds people (an AD group's stand-in), counting its reads."""

    def __init__(self, people, held):
        super().__init__(people)
        self.held, self.hold_reads = held, 0

    def on_hold(self, query, *, timeout):
        self.hold_reads += 1
        return [self.people[i].identifiers for i in self.held if i in self.people]


def test_a_batch_reads_the_systems_holds_once_a_minute_not_once_a_person(tmp_path):
    directory = HeldInTheSystem(people(20), held=["p0005"])
    services = services_for(tmp_path, directory, notifier=BatchRecorder())
    services.sweeps.hold_query = replace(services.sweeps.hold_query, group="CN=Legal hold")
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        assert batch.count(Place.KEPT_OUT) == 1  # the held one, by the system's group
        reads = directory.hold_reads
        services.batches.approve(batch.id, actor=APPROVER)
        wait_until(lambda: done(services, batch.id), what="the batch to end")
        during = directory.hold_reads - reads
        assert during <= 1  # 19 erasures: the sweep's read of a moment ago, or one more
        assert list(directory.people) == ["p0005"]
        services.erasure.hold_check(["x"])  # a single /mim delete reads them fresh
        assert directory.hold_reads - reads == during + 1
    finally:
        services.close()


def test_a_lane_whose_claim_ran_out_cannot_settle_the_member_another_took(tmp_path):
    services = services_for(tmp_path, Directory(people(1)))
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        store = services.requests.batches
        slow = store.claim_member(batch.id, "lane", timedelta(seconds=0.2))
        time.sleep(0.3)  # its lease runs out while it plans
        fast = store.claim_member(batch.id, "lane", timedelta(minutes=1))  # same driver
        assert slow is not None and fast is not None and slow.seq == fast.seq
        assert slow.claim != fast.claim
        assert store.started(fast, "REQ-2026-0042")
        assert not store.not_started(slow, "nothing left to erase")  # too late: no effect
        assert not store.started(slow, "REQ-2026-0043")
        (member,) = store.members(batch.id)
        assert (member.place, member.request_id) == (Place.STARTED, "REQ-2026-0042")
    finally:
        services.close()


def test_a_file_of_names_slack_would_not_delete_is_deleted_at_the_next_round(tmp_path, slack):
    services = services_for(tmp_path, Directory(people(2)), notifier=slack_notifier(slack))
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        slack.fail("files.delete", body={"ok": False, "error": "internal_error"})
        services.batches.reject(batch.id, actor=APPROVER, note="wrong rule")
        assert services.requests.batches.files_owed() == [batch.id]
        services.batch_driver.resume_all()
        assert services.requests.batches.files_owed() == []
        assert len(slack.calls("files.delete")) == 2
    finally:
        services.close()


class Flaky(Directory):
    """Searches for one person fail `failures` times (the system did not answer)."""

    def __init__(self, people, *, person: str, failures: int):
        super().__init__(people)
        self.person, self.failures = person, failures

    def search(self, query, *, timeout):
        if query.value == self.person and self.failures > 0:
            self.failures -= 1
            raise Unreachable("no route to host")
        return super().search(query, timeout=timeout)


@pytest.mark.parametrize(("failures", "erased"), [(1, True), (5, False)])
def test_a_system_that_did_not_answer_is_asked_again_later_then_the_person_listed(
    tmp_path, monkeypatch, failures, erased
):
    from bot.workflow.batch import running

    monkeypatch.setattr(running, "RETRY_AFTER", timedelta(milliseconds=50))
    directory = Flaky(people(3), person="500001", failures=0)
    services = services_for(tmp_path, directory, notifier=BatchRecorder())
    try:
        batch = services.batches.propose(services.sweeps.sweep(actor=REQUESTER), actor=REQUESTER)
        directory.failures = failures  # the sweep's own searches do not count
        services.batches.approve(batch.id, actor=APPROVER)

        def ended() -> bool:
            services.batch_driver.resume_all()  # the worker's round
            return done(services, batch.id)

        wait_until(ended, what="the batch to end", every=0.1)
        store = services.requests.batches
        if erased:
            assert services.requests.batch_statuses(batch.id) == {Status.COMPLETED: 3}
        else:
            (member,) = store.members(batch.id, [Place.NOT_STARTED])
            assert member.note == "not every system answered (3 tries)"
            assert member.attempts == 2 and list(directory.people) == ["p0001"]
    finally:
        services.close()


def test_a_scheduled_sweep_that_cannot_run_is_audited_and_waits_for_the_next_slot(tmp_path):
    from bot.services import scheduled_sweep

    class Unheld(Directory):
        def on_hold(self, query, *, timeout):
            raise Unreachable("no route to host")

    services = services_for(tmp_path, Unheld(people(2)))
    try:
        services.config = services.config.model_copy(
            update={"retention": services.config.retention.model_copy(
                update={"schedule": "*/5 * * * *"})}
        )  # fmt: skip
        services.sweeps.hold_query = replace(services.sweeps.hold_query, group="CN=Legal hold")
        schedule = scheduled_sweep(services)
        assert schedule is not None
        schedule.started -= timedelta(minutes=10)  # a slot has come since it started
        assert schedule.tick() is None and schedule.tick() is None  # once, then spent
        failed = [e for e in services.audit.events() if e.action == "retention_sweep"]
        assert [(e.outcome, e.detail["error"]) for e in failed] == [("failed", "HoldsUnreadable")]
        assert services.requests.batches.ids(list(BatchStatus)) == []
    finally:
        services.close()
