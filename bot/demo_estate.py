"""An invented estate for `python -m bot demo`: ~50 people in an offline AD.

The directory is ldap3's own MOCK_SYNC strategy with the AD 2012 R2 schema, so
the real AD connector, its filters and escaping run unchanged. Everyone here
is made up; names include accents, apostrophes and parentheses on purpose.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3

from bot.config import AppConfig, parse_config
from connectors.ad import AdConnector, AdSettings

__all__ = ["DEMO_ADMIN", "DEMO_APPROVER", "DEMO_VIEWER", "demo_config", "demo_connectors"]

BASE_DN = "DC=corp,DC=example,DC=test"
SERVICE_DN = f"CN=svc-mimbot,OU=Service Accounts,{BASE_DN}"
SERVICE_PASSWORD = "demo-only-not-a-secret"  # noqa: S105 - the offline mock's own password
DEMO_ADMIN = "UDEMOADMIN"
DEMO_VIEWER = "UDEMOVIEW"
DEMO_APPROVER = "UDEMOAPPROVER"
DEMO_OUTSIDER = "UDEMONOBODY"

GIVEN = ["Jane", "Oliver", "Zoë", "Amélie", "Sean", "Priya", "Lars", "Chloé", "Mateo", "Aoife"]
FAMILY = ["Doe", "O'Brien", "Müller", "Nguyen", "Smith (Ops)", "García", "Kowalski"]
DEPARTMENTS = ["Finance", "HR", "IT", "Sales", "Legal"]


def _people() -> list[dict[str, Any]]:
    people = []
    for i in range(50):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[(i * 3) % len(FAMILY)]
        account = (given[0] + family.split()[0].replace("'", "")).lower()
        account = unicodedata.normalize("NFKD", account).encode("ascii", "ignore").decode()
        account += str(i) if i >= 10 else ""
        people.append(
            {
                "given": given,
                "family": family,
                "account": account,
                "employee_id": str(100100 + i),
                "department": DEPARTMENTS[i % len(DEPARTMENTS)],
            }
        )
    return people


def _seed(server: ldap3.Server) -> None:
    conn = ldap3.Connection(
        server, user=SERVICE_DN, password=SERVICE_PASSWORD, client_strategy=ldap3.MOCK_SYNC
    )
    conn.strategy.add_entry(
        SERVICE_DN, {"userPassword": SERVICE_PASSWORD, "sAMAccountName": "svc-mimbot"}
    )
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
    for p in _people():
        display = f"{p['given']} {p['family']}"
        dn = f"CN={ldap3.utils.dn.escape_rdn(display)} {p['employee_id']},OU=People,{BASE_DN}"
        conn.strategy.add_entry(
            dn,
            {
                "objectClass": ["top", "person", "organizationalPerson", "user"],
                "objectGUID": uuid.uuid5(uuid.NAMESPACE_URL, p["account"]).bytes_le,
                "cn": f"{display} {p['employee_id']}",
                "sAMAccountName": p["account"],
                "userPrincipalName": f"{p['account']}@corp.example.test",
                "mail": f"{p['account']}@example.test",
                "proxyAddresses": [f"SMTP:{p['account']}@example.test"],
                "displayName": display,
                "givenName": p["given"],
                "sn": p["family"],
                "employeeID": p["employee_id"],
                "department": p["department"],
                "telephoneNumber": f"+44 20 7946 {p['employee_id'][-4:]}",
                "whenChanged": "20261101093000.0Z",
            },
        )


def _without_controls(search: Callable[..., Any]) -> Callable[..., Any]:
    """ldap3's mock cannot decode request controls such as show-deleted; it keeps no
    deleted objects either, so dropping the controls changes no demo answer."""

    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("controls", None)
        return search(*args, **kwargs)

    return call


def demo_connectors() -> list[AdConnector]:
    server = ldap3.Server("demo-dc.corp.example.test", get_info=ldap3.OFFLINE_AD_2012_R2)
    _seed(server)

    def connect() -> ldap3.Connection:
        conn = ldap3.Connection(
            server,
            user=SERVICE_DN,
            password=SERVICE_PASSWORD,
            client_strategy=ldap3.MOCK_SYNC,
            raise_exceptions=True,
        )
        conn.bind()
        conn.search = _without_controls(conn.search)  # type: ignore[method-assign]
        return conn

    settings = AdSettings(
        url="ldaps://demo-dc.corp.example.test",
        bind_dn=SERVICE_DN,
        password=SERVICE_PASSWORD,
        base_dn=BASE_DN,
        attributes=("displayName", "mail", "telephoneNumber", "department"),
        label="Active Directory (demo)",
    )
    return [AdConnector(settings, connection_factory=connect)]


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
