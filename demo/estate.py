"""An invented estate for `python -m bot demo`: 50 people in an offline AD and a metaverse.

The directory is ldap3's own MOCK_SYNC strategy with the AD 2012 R2 schema, so
the real AD connector, its filters and escaping run unchanged; the MIM Sync
database is an SQLite file of the sample estate (`demo/sample_sync.py`), read by
the real metaverse connector. Everyone is made up; names include accents,
apostrophes and brackets on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3
import sqlalchemy as sa

from bot.config import AppConfig, parse_config
from connectors.ad import AdConnector, AdSettings
from connectors.base import Connector
from connectors.mimsync import MimSyncConnector, MimSyncSettings
from demo import sample_sync

__all__ = [
    "DEMO_ADMIN",
    "DEMO_APPROVER",
    "DEMO_VIEWER",
    "DemoEstate",
    "demo_config",
]

PEOPLE = 50
BASE_DN = "DC=corp,DC=contoso,DC=test"
SERVICE_DN = f"CN=svc-mimbot,OU=Service Accounts,{BASE_DN}"
SERVICE_PASSWORD = "demo-only-not-a-secret"  # noqa: S105 - the offline mock's own password
DEMO_ADMIN = "UDEMOADMIN"
DEMO_VIEWER = "UDEMOVIEW"
DEMO_APPROVER = "UDEMOAPPROVER"


def _seed_ad(server: ldap3.Server, people: list[sample_sync.Person]) -> None:
    conn = ldap3.Connection(server, user=SERVICE_DN, password=SERVICE_PASSWORD,
                            client_strategy=ldap3.MOCK_SYNC)  # fmt: skip
    conn.strategy.add_entry(SERVICE_DN, {"userPassword": SERVICE_PASSWORD,
                                         "sAMAccountName": "svc-mimbot"})  # fmt: skip
    # What the AD connector reads to plan an erasure: lifetimes and the Deleted Objects
    # container (ldap3's mock keeps no tombstones, so the demo shows none).
    config = f"CN=Configuration,{BASE_DN}"
    conn.strategy.add_entry(
        f"CN=Directory Service,CN=Windows NT,CN=Services,{config}",
        {"objectClass": ["top", "nTDSService"], "tombstoneLifetime": "180"},
    )
    conn.strategy.add_entry(
        f"CN=Partitions,{config}", {"objectClass": ["top", "crossRefContainer"]}
    )
    conn.strategy.add_entry(f"CN=Deleted Objects,{BASE_DN}", {"objectClass": ["top", "container"]})
    for p in people:
        if "AD" not in p.mas:
            continue
        attrs: dict[str, Any] = {
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            "objectGUID": sample_sync.gid("ad", p.index).bytes_le,
            "cn": p.display,
            "sAMAccountName": p.account,
            "userPrincipalName": p.upn,
            "mail": p.mail,
            "proxyAddresses": list(p.proxy_addresses),
            "displayName": p.display,
            "givenName": p.first,
            "sn": p.last,
            "department": p.department,
            "telephoneNumber": f"+44 20 7946 {p.index:04d}",
            "whenChanged": "20261101093000.0Z",
        }
        if p.employee_id:
            attrs["employeeID"] = p.employee_id
        conn.strategy.add_entry(
            f"CN={ldap3.utils.dn.escape_rdn(p.display)},OU=People,{BASE_DN}", attrs
        )


def _without_controls(search: Callable[..., Any]) -> Callable[..., Any]:
    """ldap3's mock cannot decode request controls such as show-deleted; it keeps no
    deleted objects either, so dropping the controls changes no demo answer."""

    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("controls", None)
        return search(*args, **kwargs)

    return call


class DemoEstate:
    """The demo's systems, built in `workdir`: an offline AD and an SQLite metaverse."""

    def __init__(self, workdir: Path) -> None:
        self.people = sample_sync.persons(PEOPLE)
        self.sync_engine = sa.create_engine(f"sqlite:///{workdir / 'sync.db'}")
        sample_sync.load(self.sync_engine, PEOPLE)
        self.config_dir = sample_sync.write_config_dir(workdir / "sync-config")
        self.server = ldap3.Server("dc01.corp.contoso.test", get_info=ldap3.OFFLINE_AD_2012_R2)
        _seed_ad(self.server, self.people)

    def _connect(self) -> ldap3.Connection:
        conn = ldap3.Connection(
            self.server,
            user=SERVICE_DN,
            password=SERVICE_PASSWORD,
            client_strategy=ldap3.MOCK_SYNC,
            raise_exceptions=True,
        )
        conn.bind()
        conn.search = _without_controls(conn.search)  # type: ignore[method-assign]
        return conn

    def connectors(self) -> list[Connector]:
        ad = AdConnector(
            AdSettings(url="ldaps://dc01.corp.contoso.test", bind_dn=SERVICE_DN,
                       password=SERVICE_PASSWORD, base_dn=BASE_DN,
                       attributes=("displayName", "mail", "telephoneNumber", "department"),
                       label="Active Directory"),
            connection_factory=self._connect,
        )  # fmt: skip
        sync = MimSyncConnector(
            MimSyncSettings(url=str(self.sync_engine.url), server_config_dir=self.config_dir),
            engine=self.sync_engine,
        )
        return [sync, ad]

    def sync_cycle(self) -> int:
        """(Demo only) what the next sync run's deletion rule does: a metaverse object whose
        AD account is gone (its HR record erased by hand) is deleted. Returns how many."""
        conn = self._connect()
        deleted = 0
        for p in self.people:
            if "AD" not in p.mas:
                continue
            account = ldap3.utils.conv.escape_filter_chars(p.account)
            conn.search(BASE_DN, f"(sAMAccountName={account})", attributes=["cn"])
            if not conn.response and self._in_metaverse(p):
                sample_sync.delete_person(self.sync_engine, p)
                deleted += 1
        conn.unbind()
        return deleted

    def _in_metaverse(self, p: sample_sync.Person) -> bool:
        with self.sync_engine.connect() as c:
            found = c.execute(sa.text("SELECT 1 FROM mms_metaverse WHERE object_id = :o"),
                              {"o": p.object_id.hex}).first()  # fmt: skip
        return found is not None

    def close(self) -> None:
        self.sync_engine.dispose()


def demo_config(workdir: Path) -> AppConfig:
    """The demo's configuration: an SQLite audit file in `workdir`, demo roles, no Slack."""
    raw = {
        "slack": {
            "mode": "http",
            "bot_token": "${DEMO_BOT_TOKEN}",
            "signing_secret": "${DEMO_SIGNING_SECRET}",
            "approvals_channel": "CDEMOAPPROVALS",
            "notifications_channel": "CDEMONOTIFY",
        },
        "roles": {
            "admin": {"users": [DEMO_ADMIN]},
            "viewer": {"users": [DEMO_VIEWER]},
            "requester": {"users": [DEMO_ADMIN]},
            "approver": {"users": [DEMO_APPROVER]},
        },
        "audit": {
            "url": f"sqlite:///{workdir / 'mimbot-demo.db'}",
            "subject_key": "${DEMO_SUBJECT_KEY}",
        },
    }
    environ = {
        "DEMO_BOT_TOKEN": "xoxb-demo",
        "DEMO_SIGNING_SECRET": "demo",
        "DEMO_SUBJECT_KEY": "demo-subject-key-0123456789",
    }
    return parse_config(raw, environ=environ, source="demo")
