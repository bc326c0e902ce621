"""The sections of app.yaml other than `connectors:` (bot/config/connectors.py): Slack,
roles and permissions, search, policy, export, runner, audit; and AppConfig, the whole."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from bot.commands.table import Verb
from bot.config.connectors import ConnectorsConfig
from bot.config.model import Model as _Model
from bot.config.model import database_url as _database_url
from connectors.base import ManualTask
from connectors.sweeps import Population, StaleRule

__all__ = [
    "AppConfig",
    "AuditConfig",
    "DatamapConfig",
    "ExportConfig",
    "HoldsConfig",
    "HttpConfig",
    "PolicyConfig",
    "RetentionConfig",
    "RetentionRuleConfig",
    "RoleMembers",
    "RunnerConfig",
    "SearchConfig",
    "SlackConfig",
]

# Commands `permissions:` may name; only those touching no personal data may be open.
PERMISSION_KEYS = frozenset({*(v.value for v in Verb), "check"})
OPEN_COMMANDS = frozenset({"help"})


class RoleMembers(_Model):
    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()

    @field_validator("users")
    @classmethod
    def _user_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for uid in v:
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", uid):
                raise ValueError(
                    f"{uid!r} is not a Slack user id (U… or W…); names are not allowed"
                )
        return v

    @field_validator("usergroups")
    @classmethod
    def _group_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for gid in v:
            if not re.fullmatch(r"S[A-Z0-9]{2,}", gid):
                raise ValueError(f"{gid!r} is not a Slack user-group id (S…)")
        return v


class HttpConfig(_Model):
    """HTTP mode's server (waitress): how many connections wait, and for how long."""

    threads: int = Field(default=32, ge=1, le=256)  # acks: each waits for its inbox write
    backlog: int = Field(default=2048, ge=16, le=65535)  # the kernel's queue of new connections
    connection_limit: int = Field(default=2000, ge=16, le=100000)  # open connections at once
    read_timeout_seconds: float = Field(default=10, gt=0, le=300)  # an idle or stalled upload
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=16 << 20)  # larger: 413


class InboxConfig(_Model):
    """The durable inbox (bot/frontends/inbox.py): who answers an acked command, and when
    another process takes it over."""

    # False: `serve` only acks, and the `worker` answers (serve still takes over what no
    # worker claimed within `unclaimed_seconds`).
    answer_in_serve: bool = True
    # Renewed while a command is answered: a dead answerer's is taken over after this.
    lease_seconds: float = Field(default=60, ge=1, le=1500)
    unclaimed_seconds: float = Field(default=5, ge=0, le=600)  # acked, not claimed: take over
    # How often the worker looks for entries to answer (serve: at most once a second).
    poll_seconds: float = Field(default=0.2, gt=0, le=60)


class SlackConfig(_Model):
    mode: Literal["http", "socket"] = "http"
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None
    api_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    path: str = "/slack/events"
    listener_threads: int = Field(default=32, ge=2, le=512)
    http: HttpConfig = HttpConfig()
    inbox: InboxConfig = InboxConfig()
    approvals_channel: str | None = None
    notifications_channel: str | None = None
    # Capped: a user removed from a Slack user group keeps its roles this long.
    usergroup_cache_seconds: float = Field(default=300, ge=0, le=900)

    def model_post_init(self, _: Any) -> None:
        if self.mode == "http" and not self.signing_secret:
            raise ValueError("signing_secret is required in http mode")
        if self.mode == "socket" and not self.app_token:
            raise ValueError("app_token is required in socket mode")


class SearchConfig(_Model):
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    max_hits_per_system: int = Field(default=200, ge=1, le=5000)


class PolicyConfig(_Model):
    erasure_approvals: int = Field(default=1, ge=1, le=5)
    update_approvals: int = Field(default=1, ge=1, le=5)  # rectifications (exports: none)
    four_eyes: bool = True
    approval_expires_hours: float = Field(default=72, gt=0)
    deadline_months: int = Field(default=1, ge=1, le=3)  # GDPR: one month, extendable
    # GDPR Art. 12(3): once, by up to two further months, with reasons, before the due date.
    extension_months: int = Field(default=2, ge=0, le=2)
    # Access packages as AES-256 zips, the password sent in a second direct message.
    export_encrypt: bool = False
    # Who may mark each kind of manual step done (connectors.base.ManualTask values to a
    # role); a kind not named here is the requester's.
    manual_step_roles: dict[str, str] = Field(default_factory=dict)

    @field_validator("manual_step_roles")
    @classmethod
    def _manual_tasks(cls, v: dict[str, str]) -> dict[str, str]:
        known = {t.value for t in ManualTask}
        for task in v:
            if task not in known:
                names = ", ".join(sorted(known))
                raise ValueError(f"unknown manual step {task!r} (known: {names})")
        return v

    def model_post_init(self, _: Any) -> None:
        if self.deadline_months + self.extension_months > 3:
            raise ValueError(
                "deadline_months + extension_months exceeds GDPR's three months in all"
            )


class ExportConfig(_Model):
    """Access packages: what each system is, for the README.txt a data subject reads
    (`systems.<name>.purpose|source|authority|retention` override the built-in words)."""

    systems: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("systems")
    @classmethod
    def _fields(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        allowed = {"purpose", "source", "authority", "retention"}
        for name, fields in v.items():
            unknown = set(fields) - allowed
            if unknown:
                raise ValueError(f"{name}: unknown field(s) {', '.join(sorted(unknown))}")
        return v


class DatamapConfig(_Model):
    """The data map (`datamap`, GDPR Art. 30): which systems are a third party's, and the
    record-of-processing columns configuration cannot know (each "not stated" when
    absent). `watch`: the worker posts what changed in the map, weekly, to the
    notifications channel when anything did."""

    external: tuple[str, ...] = ()  # connector, MA or system names (case-insensitive)
    controller: str | None = None
    purposes: str | None = None
    legal_basis: str | None = None
    data_subjects: str | None = None
    recipients: str | None = None
    security_measures: str | None = None
    watch: bool = False
    watch_days: int = Field(default=7, ge=1, le=90)


class RetentionRuleConfig(_Model):
    """One retention rule: a population of one system, and how old its date must be."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    system: str  # the connector's name (hr, ad, mimsync)
    population: Population
    older_than_days: int | None = Field(default=None, ge=1, le=36500)
    older_than_months: int | None = Field(default=None, ge=1, le=1200)
    column: str | None = None  # HR: the end-date column (population: ended)
    agent: str | None = None  # metaverse: the MA a person is no longer joined to (unjoined)

    @model_validator(mode="after")
    def _age(self) -> RetentionRuleConfig:
        if (self.older_than_days is None) == (self.older_than_months is None):
            raise ValueError(f"{self.name}: give older_than_days or older_than_months")
        if self.population is Population.ENDED and not self.column:
            raise ValueError(f"{self.name}: an ended rule names its end-date column")
        if self.population is Population.UNJOINED and not self.agent:
            raise ValueError(f"{self.name}: an unjoined rule names its management agent")
        return self

    def rule(self) -> StaleRule:
        # A month as the calendar's mean (30.44 days): a retention period is not exact
        # to the day, and the same rule must give the same cutoff whatever today's month.
        days = self.older_than_days or round((self.older_than_months or 0) * 30.436875)
        return StaleRule(
            self.name, self.system, self.population, timedelta(days=days), self.column, self.agent
        )


class HoldsConfig(_Model):
    """People who must not be erased (GDPR Art. 17(3)): members of an AD group, HR rows
    whose column is set, and accounts, mails or employee IDs listed here."""

    ad_group: str | None = None  # a group's DN; nested members too
    hr_column: str | None = None
    subjects: tuple[str, ...] = ()


class RetentionConfig(_Model):
    """The retention plan, carried out (`/mim sweep`): the rules, the holds, the worker's
    schedule (a cron expression, off when absent), and how many erasures of a batch run
    at once per system."""

    rules: tuple[RetentionRuleConfig, ...] = ()
    holds: HoldsConfig = HoldsConfig()
    schedule: str | None = None
    max_parallel: int = Field(default=4, ge=1, le=64)

    @field_validator("rules")
    @classmethod
    def _unique(cls, v: tuple[RetentionRuleConfig, ...]) -> tuple[RetentionRuleConfig, ...]:
        names = [r.name.lower() for r in v]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and not croniter.is_valid(v):
            raise ValueError(f"schedule {v!r} is not a cron expression (e.g. '0 3 * * 1')")
        return v


class RunnerConfig(_Model):
    lease_seconds: float = Field(default=120, gt=0)  # a dead runner's step is taken over after
    attempts: int = Field(default=3, ge=1, le=20)  # per step, for transient errors
    backoff_seconds: float = Field(default=1.0, ge=0)
    poll_seconds: float = Field(default=15, gt=0)  # resume, expire and re-check cadence
    step_timeout_seconds: float = Field(default=10, gt=0)
    wait_limit_hours: float = Field(default=168, gt=0)  # e.g. for a deletion rule to run


class AuditConfig(_Model):
    url: str = "sqlite:///mimbot.db"
    subject_key: str = Field(min_length=16)  # the HMAC key of subject keys
    chain_key: str  # keys the audit hash chain and signs its checkpoints (bot.audit)
    witness_file: Path | None = None  # append-only file of checkpoints (bot.audit.witness)
    # How long one use of the database may take before the action is refused (a hung
    # store must not hang the bot): lock, statement and connect timeouts.
    timeout_seconds: float = Field(default=5, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _database_url(v)

    @field_validator("chain_key")
    @classmethod
    def _chain_key(cls, v: str, info: Any) -> str:
        if len(v) < 32:
            raise ValueError("must be at least 32 characters")
        if v == info.data.get("subject_key"):
            raise ValueError("must differ from subject_key")
        return v


class AppConfig(_Model):
    slack: SlackConfig
    roles: dict[str, RoleMembers] = Field(default_factory=dict)
    # command -> role(s) override, e.g. {find: viewer, status: [requester, auditor]}
    permissions: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, v: dict[str, str | tuple[str, ...]]) -> dict[str, str | tuple[str, ...]]:
        for command, roles in v.items():
            listed = (roles,) if isinstance(roles, str) else roles
            if command not in PERMISSION_KEYS:
                raise ValueError(
                    f"unknown command {command!r} (known: {', '.join(sorted(PERMISSION_KEYS))})"
                )
            if not listed:  # an empty list must not read as "anyone"
                raise ValueError(f"{command}: name at least one role, or anyone")
            if "anyone" in listed and command not in OPEN_COMMANDS:
                raise ValueError(f"{command} reads or changes personal data: name a role")
        return v

    search: SearchConfig = SearchConfig()
    policy: PolicyConfig = PolicyConfig()
    export: ExportConfig = ExportConfig()
    datamap: DatamapConfig = DatamapConfig()
    retention: RetentionConfig = RetentionConfig()
    runner: RunnerConfig = RunnerConfig()
    audit: AuditConfig
    connectors: ConnectorsConfig = ConnectorsConfig()

    @model_validator(mode="after")
    def _one_approval_per_batch(self) -> AppConfig:
        # A batch is approved once, by one approver: with more needed per erasure, one
        # person would authorise thousands of erasures that need two.
        if self.retention.rules and self.policy.erasure_approvals > 1:
            raise ValueError(
                "retention.rules: a batch is approved by one approver, but"
                f" policy.erasure_approvals is {self.policy.erasure_approvals}; set it to 1"
                " or leave the retention rules out"
            )
        if self.retention.schedule and not self.retention.rules:
            raise ValueError("retention.schedule: there are no retention.rules to run")
        return self
