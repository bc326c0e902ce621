"""Tables of data-subject requests, their approvals, steps and residual checks."""

from __future__ import annotations

import sqlalchemy as sa

from bot.audit.schema import metadata

__all__ = [
    "batch_members",
    "batches",
    "daily_digests",
    "datamap_snapshots",
    "handled_triggers",
    "holds",
    "inbox",
    "request_approvals",
    "request_counters",
    "request_reminders",
    "request_steps",
    "requests",
    "residual_checks",
    "sweep_runs",
]

# SQL NULL for None (a scrubbed subject, a manual step's plan), not the JSON text 'null':
# "scrubbed" must read as IS NULL in any query a DPO runs.
JSON = sa.JSON(none_as_null=True)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("requester", sa.String(32), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=True),  # scrubbed after completion
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("subject_keys", JSON, nullable=False),  # list of HMAC keys: kept
    sa.Column("subject", JSON, nullable=True),  # bot.workflow.requests.Subject: scrubbed
    sa.Column("plan", JSON, nullable=False),  # the steps' summaries, as first planned
    sa.Column("approvals_needed", sa.Integer, nullable=False),
    sa.Column("decided_by", sa.String(32), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision_note", sa.Text, nullable=True),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("message_ts", sa.String(32), nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("result", JSON, nullable=True),  # bot.workflow.reports.VerificationReport
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The first person key while the request is open, NULL once it ends (migration 0006):
    # unique, so two open requests for one person cannot both be created.
    sa.Column("open_key", sa.String(64), nullable=True),
    # The retention batch the erasure belongs to (migration 0012); NULL for one asked alone.
    sa.Column("batch_id", sa.String(20), nullable=True, index=True),
    sa.Index("ix_requests_open_key", "open_key", unique=True),
)

request_approvals = sa.Table(
    "request_approvals",
    metadata,
    sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("approver", sa.String(32), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# The keys that name an open request's person alone (bot/workflow/subject_keys.py), one row each
# while it is open (migration 0009): the primary key makes every key of every kind held by
# one open request at most, so two requests for one person, stored at once by two
# replicas, cannot both be created, whichever keys each resolved. Deleted when it ends.
request_person_keys = sa.Table(
    "request_person_keys",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), nullable=False),
    sa.Index("ix_request_person_keys_request_id", "request_id"),
)

request_steps = sa.Table(
    "request_steps",
    metadata,
    sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("system", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("plan", JSON, nullable=True),  # connectors.base.DeletePlan (automated steps)
    sa.Column("assigned_role", sa.String(32), nullable=True),  # manual steps
    sa.Column("task", sa.String(32), nullable=True),  # manual steps: ManualTask
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("done_by", sa.String(32), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),  # for people: what it did or waits for
    sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),  # manual steps
)

request_counters = sa.Table(
    "request_counters",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last", sa.Integer, nullable=False),
)

# One object whose residual copy (an AD tombstone) should be gone after `due_at`
# (migration 0003). The row holds the object's reference (objectGUID), not a name,
# and is deleted once the object is verified gone: kept no longer than it is needed.
residual_checks = sa.Table(
    "residual_checks",
    metadata,
    sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("system", sa.String(64), primary_key=True),
    sa.Column("ref", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),  # the IdKind the ref is searched by
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
)

# Slack requests already handled, by trigger_id (migration 0006): a replay runs once.
handled_triggers = sa.Table(
    "handled_triggers",
    metadata,
    sa.Column("trigger_id", sa.String(128), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Slack commands acked and not yet answered (bot/frontends/inbox.py): what Slack sent is
# kept only until the answer went out, then the row is deleted.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("target", sa.String(40), nullable=True),
    sa.Column("response_url", sa.Text, nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("lease_owner", sa.String(80), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
)

# Deadline reminders sent (once each, whichever replica or restart: the row is the claim).
request_reminders = sa.Table(
    "request_reminders",
    metadata,
    sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # 7d | 2d | overdue
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# The daily digest of open requests by due date, once a day.
daily_digests = sa.Table(
    "daily_digests",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD (UTC)
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# The data map the weekly watch last took (migration 0010): one row per day it ran, the
# row being the claim, so replicas take it once.
datamap_snapshots = sa.Table(
    "datamap_snapshots",
    metadata,
    sa.Column("taken_on", sa.String(10), primary_key=True),  # YYYY-MM-DD (UTC)
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("map_json", sa.Text, nullable=False),
)

# People on hold, never to be erased (migration 0011): one row per person key.
holds = sa.Table(
    "holds",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("hold_id", sa.String(32), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("placed_by", sa.String(32), nullable=False),
    sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
)

# A retention sweep's batch request (migration 0012): approved once, each person then its
# own erasure (requests.batch_id). One driver at a time holds the lease; `summary_at` is
# when its one Slack message was last redrawn (redraws are throttled across replicas).
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("requester", sa.String(32), nullable=False),
    sa.Column("rules", JSON, nullable=False),  # the rule names it ran, in order
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by", sa.String(32), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("message_ts", sa.String(32), nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("summary_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The Slack file listing every member, in its thread: deleted when the batch ends.
    sa.Column("file_id", sa.String(32), nullable=True),
)

# One candidate of a batch. `label` and `query` (the identifier it is resolved by) are
# personal data: scrubbed when the batch ends; the audit key, place and request stay.
batch_members = sa.Table(
    "batch_members",
    metadata,
    sa.Column("batch_id", sa.String(20), sa.ForeignKey("batches.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("place", sa.String(16), nullable=False),  # bot.workflow.batch.model.Place
    sa.Column("label", sa.Text, nullable=True),
    sa.Column("query", JSON, nullable=True),  # {"kind": QueryKind, "value": ...}
    sa.Column("note", sa.Text, nullable=True),  # why kept out or not started: no values
    sa.Column("subject_key", sa.String(64), nullable=True),
    sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("request_id", sa.String(20), nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    # The member's audit key while an open batch still has them to erase, NULL otherwise:
    # unique, so two sweeps at once cannot propose one person in two batches.
    sa.Column("open_key", sa.String(64), nullable=True),
    # How often starting the member met a system that did not answer (tried again later).
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_batch_members_place", "batch_id", "place"),
    sa.Index("ix_batch_members_open_key", "open_key", unique=True),
)

# The worker's scheduled sweeps (retention.schedule), one row per cron slot it ran: the
# row is the claim, so replicas run each slot once.
sweep_runs = sa.Table(
    "sweep_runs",
    metadata,
    sa.Column("slot", sa.String(25), primary_key=True),  # the slot's ISO time (UTC)
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("batch_id", sa.String(20), nullable=True),
)
