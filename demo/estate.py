"""An invented estate for `python -m demo`: 50 people in HR, an offline AD, the
metaverse, the MIM Service, PAM, BHOLD and Certificate Management.

The directory is ldap3's own MOCK_SYNC strategy with the AD 2012 R2 schema, so
the real AD connector, its filters and escaping run unchanged (`_DemoDirectory`
corrects the two places where the mock answers unlike a directory); the MIM Sync
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
from ldap3.operation.search import MATCH_SUBSTRING, FilterNode, filter_to_string
from ldap3.strategy.mockSync import MockSyncStrategy
from ldap3.utils.conv import escape_filter_chars, ldap_escape_to_bytes

from bot.config import AppConfig, parse_config
from connectors._shared.http import HttpSettings
from connectors._shared.powershell import WinRmSettings
from connectors.ad.connector import AdConnector, AdSettings
from connectors.ad.update import DEFAULT_WRITABLE
from connectors.base import Connector
from connectors.bhold.connector import BholdConnector, BholdSettings
from connectors.certmgmt.connector import CertManagementConnector, CertManagementSettings
from connectors.hr.sql import HrConnector, HrSettings
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from connectors.pam.connector import PamConnector, PamSettings
from demo import hr_sample, sample_sync
from demo.bhold_fixture import seed_people
from demo.bhold_stub import BholdStub
from demo.cm_fixture import CmFixture
from demo.cm_stub import CmStub
from demo.mimservice_fixture import MimServiceFixture
from demo.pam_fixture import PamFixture
from demo.telemetry_fixture import TelemetryFixture
from demo.wsman_stub import BASIC_USER, NTLM_USER, WsmanStub

__all__ = [
    "DEMO_ADMIN",
    "DEMO_APPROVER",
    "DEMO_HR",
    "DEMO_PRIVACY",
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
DEMO_HR = "UDEMOHR"
DEMO_PRIVACY = "UDEMOPRIVACY"


def _seed_ad(server: ldap3.Server, people: list[sample_sync.Person]) -> None:
    conn = ldap3.Connection(server, user=SERVICE_DN, password=SERVICE_PASSWORD,
                            client_strategy=ldap3.MOCK_SYNC)  # fmt: skip
    conn.strategy.add_entry(SERVICE_DN, {"userPassword": SERVICE_PASSWORD,
                                         "sAMAccountName": "svc-mimbot"})  # fmt: skip
    # The domain's own head (doctor reads the search base; a real DC always has it).
    conn.strategy.add_entry(
        BASE_DN,
        {"objectClass": ["top", "domain", "domainDNS"], "dc": "corp", "msDS-Behavior-Version": "7"},
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
    # The schema a correction is checked against (connectors/ad/schema.py): the default
    # writable attributes as AD defines them, single-valued Unicode strings (syntax
    # 2.5.5.12), and two that must never be written, as AD defines those.
    schema = f"CN=Schema,{config}"
    conn.strategy.add_entry(schema, {"objectClass": ["top", "dMD"]})
    defined = [(name, "TRUE", "2.5.5.12") for name in DEFAULT_WRITABLE]
    defined += [("userAccountControl", "TRUE", "2.5.5.9"), ("member", "FALSE", "2.5.5.1")]
    # The rest the connector reads, searches or clears (doctor checks each is defined), as
    # MS-ADA1/2/3 give their isSingleValued and attributeSyntax.
    defined += [(n, "TRUE", "2.5.5.12") for n in (
        "sAMAccountName", "cn", "userPrincipalName", "mail", "employeeID", "employeeNumber",
        "info", "ipPhone", "pager", "wWWHomePage")]  # fmt: skip
    defined += [
        (n, "FALSE", "2.5.5.12") for n in ("description", "proxyAddresses", "otherTelephone")
    ]
    defined += [
        ("objectGUID", "TRUE", "2.5.5.10"), ("thumbnailPhoto", "TRUE", "2.5.5.10"),
        ("jpegPhoto", "FALSE", "2.5.5.10"), ("objectSid", "TRUE", "2.5.5.17"),
        ("distinguishedName", "TRUE", "2.5.5.1"), ("manager", "TRUE", "2.5.5.1"),
        ("lastKnownParent", "TRUE", "2.5.5.1"), ("whenChanged", "TRUE", "2.5.5.11"),
        ("isDeleted", "TRUE", "2.5.5.8"), ("isRecycled", "TRUE", "2.5.5.8"),
    ]  # fmt: skip
    defined = list({name: (name, single, syntax) for name, single, syntax in defined}.values())
    for name, single, syntax in defined:
        conn.strategy.add_entry(
            f"CN={name},{schema}",
            {"objectClass": ["top", "attributeSchema"], "lDAPDisplayName": name,
             "isSingleValued": single, "attributeSyntax": syntax},
        )  # fmt: skip
    for p in people:
        if "AD" not in p.mas:
            continue
        attrs: dict[str, Any] = {
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            # AD stores the class's DN; a filter `objectCategory=person` matches it by the
            # class's name (MS-ADTS 3.1.1.3.1.3.2), which the offline directory cannot.
            "objectCategory": "person",
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


# AD's ANR attribute set, as far as the demo's entries hold it (`name` is their cn).
_ANR_ATTRIBUTES = (
    "displayName",
    "givenName",
    "sn",
    "sAMAccountName",
    "cn",
    "proxyAddresses",
    "physicalDeliveryOfficeName",
)


class _DemoDirectory(MockSyncStrategy):
    """ldap3's MOCK_SYNC, answering like a directory where the mock does not.

    1. Escaped values in substring filters. The mock re-reads each request from the
       filter text that ldap3's `filter_to_string` rebuilds from the encoded request;
       that function escapes equality values but writes substring values raw, so the
       prefix `a@b)(cn=` (sent as `(displayName=a@b\\29\\28cn=*)`, correctly escaped)
       came back as `(displayName=a@b)(cn=*)`: an injected `(cn=*)` that listed
       everyone. Here the text is rebuilt with every value escaped (`_filter_text`),
       and the substring matcher, which compares the still-escaped text, gets the
       values unescaped.
    2. Ambiguous Name Resolution: `(anr=...)` is expanded as AD and Samba expand it.
    """

    _filter = ""

    def mock_search(self, request_message: Any, controls: Any) -> Any:
        self._filter = _filter_text(request_message["filter"])
        return super().mock_search(request_message, controls)

    def _execute_search(self, request: dict[str, Any]) -> Any:
        return super()._execute_search({**request, "filter": self._filter})

    def evaluate_filter_node(self, node: FilterNode, candidates: list[str]) -> Any:
        if node.tag == MATCH_SUBSTRING and not getattr(node, "unescaped", False):
            a = node.assertion
            for part in ("initial", "final"):
                if a.get(part):
                    a[part] = _unescape(a[part])
            if a.get("any"):
                a["any"] = [_unescape(x) for x in a["any"]]
            node.unescaped = True
        return super().evaluate_filter_node(node, candidates)


def _unescape(value: str) -> str:
    return ldap_escape_to_bytes(value).decode("utf-8", "replace")


def _text(value: Any) -> str:
    """An encoded assertion value as filter text, escaped (RFC 4515)."""
    return escape_filter_chars(bytes(value).decode("utf-8", "replace"))


def _filter_text(f: Any) -> str:
    """An encoded search filter as text, every value escaped (ldap3's `filter_to_string`
    leaves substring values raw)."""
    kind = f.getName()
    if kind in ("and", "or"):
        return f"({'&' if kind == 'and' else '|'}{''.join(_filter_text(x) for x in f[kind])})"
    if kind == "notFilter":
        return f"(!{_filter_text(f['notFilter']['innerNotFilter'])})"
    if kind == "substringFilter":
        sub = f["substringFilter"]
        initial, middle, final = "", [], ""
        for piece in sub["substrings"]:
            name = piece.getName()
            if name == "initial":
                initial = _text(piece[name])
            elif name == "any":
                middle.append(_text(piece[name]))
            else:
                final = _text(piece[name])
        return f"({sub['type']}={initial}*{''.join(m + '*' for m in middle)}{final})"
    if kind == "equalityMatch" and str(f[kind]["attributeDesc"]).lower() == "anr":
        return _anr(_text(f[kind]["assertionValue"]))
    return filter_to_string(f)


def _anr(value: str) -> str:
    """`(anr=value)` as AD rewrites it: a prefix match on each ANR attribute (an exact
    match if the value starts with "="), and, for a value with a space, "given surname"
    and "surname given" split at its first space."""
    exact = len(value) > 1 and value.startswith("=")
    value = value[1:] if exact else value
    if not value:
        return "(!(objectClass=*))"

    def leaf(attribute: str, text: str) -> str:
        return f"({attribute}={text})" if exact else f"({attribute}={text}*)"

    clauses = [leaf(a, value) for a in _ANR_ATTRIBUTES]
    first, space, rest = value.partition(" ")
    if space and first and rest:
        clauses.append(f"(&{leaf('givenName', first)}{leaf('sn', rest)})")
        clauses.append(f"(&{leaf('sn', first)}{leaf('givenName', rest)})")
    return f"(|{''.join(clauses)})"


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
        # The MIM Service and PAM answer through a loopback WinRM endpoint that speaks the
        # real protocol (the bot's PowerShell runner talks to it as to a MIM server).
        self.winrm = WsmanStub().start()
        self.mim_service = MimServiceFixture(retention_days=30)
        for p in self.people:
            if "FIM" in p.mas:  # joined to the MIM Service MA in the metaverse
                self.mim_service.add_person(
                    AccountName=p.account, DisplayName=p.display, Email=p.mail,
                    EmployeeID=p.employee_id, Domain="CORP",
                )  # fmt: skip
        self.mim_service.install(self.winrm)
        self.pam = PamFixture()
        for p in self.people[:3]:  # a few administrators hold privileged accounts
            self.pam.add(p.account, p.display, "CORP", roles=("Tier0 admins",))
        self.pam.install(self.winrm)
        # The server's CEIP registry values: the MIM Service collecting, Sync opted out.
        self.telemetry = TelemetryFixture().install(self.winrm)
        # HR, the source of authority: an SQLite table of its own, columns as HR names them.
        self.hr_url = f"sqlite:///{workdir / 'hr.db'}"
        hr_engine = sa.create_engine(self.hr_url)
        hr_sample.create_table(
            hr_engine,
            [
                *(
                    hr_sample.Employee(
                        p.employee_id, p.account, p.display, p.mail or "", p.department
                    )
                    for p in self.people
                    if "HR" in p.mas and p.employee_id
                ),
                # Three who left years ago (a retention sweep's leavers), one on hold.
                *hr_sample.LEAVERS,
            ],
        )
        hr_engine.dispose()
        # BHOLD and Certificate Management answer on loopback stand-ins of their web services.
        self.bhold = BholdStub().start()
        seed_people(
            self.bhold.state,
            [
                (p.account, p.display, p.first, p.last, p.mail or "", p.employee_id or "")
                for p in self.people
                if "BHOLD" in p.mas
            ],
        )
        self.cm = CmStub().start()
        # Certificate Management answers on the WinRM stand-in; its users are AD objectGUIDs.
        self.cm_state = CmFixture().install(self.winrm)
        in_ad = [(p.account, str(sample_sync.gid("ad", p.index))) for p in self.people
                 if "AD" in p.mas]  # fmt: skip
        self.cm_state.seed_demo(in_ad[:12])

    def _connect(self) -> ldap3.Connection:
        conn = ldap3.Connection(
            self.server,
            user=SERVICE_DN,
            password=SERVICE_PASSWORD,
            client_strategy=ldap3.MOCK_SYNC,
            raise_exceptions=True,
        )
        # The strategy's class, not the connection, is what ldap3 lets us correct: the
        # connection calls its strategy's methods, which look them up on the class.
        conn.strategy.__class__ = _DemoDirectory
        conn.bind()
        conn.search = _without_controls(conn.search)  # type: ignore[method-assign]
        return conn

    def connectors(self) -> list[Connector]:
        ad = AdConnector(
            AdSettings(url="ldaps://dc01.corp.contoso.test", bind_dn=SERVICE_DN,
                       password=SERVICE_PASSWORD, base_dn=BASE_DN,
                       attributes=("displayName", "mail", "telephoneNumber", "department"),
                       label="Active Directory", management_agent="CORP AD"),
            connection_factory=self._connect,
        )  # fmt: skip
        sync = MimSyncConnector(
            MimSyncSettings(url=str(self.sync_engine.url), server_config_dir=self.config_dir),
            engine=self.sync_engine,
        )
        runner = WinRmSettings(
            self.winrm.https_endpoint, NTLM_USER[0], NTLM_USER[1], "credssp",
            ca_file=Path(self.winrm.ca_file),
        )  # fmt: skip
        service = MimServiceConnector(
            MimServiceSettings(winrm=runner, management_agent="MIM Service")
        )
        pam = PamConnector(PamSettings(winrm=runner, source_domain="CORP"))
        hr = HrConnector(
            HrSettings(url=self.hr_url, table="employees", mapping=hr_sample.MAPPING,
                       allow_delete=True, management_agent="HR")
        )  # fmt: skip
        bhold = BholdConnector(
            BholdSettings(
                http=self._http(self.bhold.https_url, self.bhold.ca_file), domain="CORP",
                management_agent="BHOLD",
                attribute_types={"mail": "Email", "employee_id": "EmployeeID",
                                 "display_name": "DisplayName"},
            )
        )  # fmt: skip
        cm = CertManagementConnector(
            CertManagementSettings(winrm=runner, domain="CORP",
                                   http=self._http(self.cm.https_url, self.cm.ca_file))
        )  # fmt: skip
        return [hr, sync, ad, service, pam, bhold, cm]

    @staticmethod
    def _http(url: str, ca_file: str | Path) -> HttpSettings:
        return HttpSettings(
            url=url, auth="basic", username=BASIC_USER[0], password=BASIC_USER[1],
            ca_file=Path(ca_file),
        )  # fmt: skip

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

    def cm_retire(self, account: str) -> int:
        """(Demo only) what a person does in the CM portal for an erasure's manual step:
        retire each smart card and revoke each software profile of `account` (case-
        insensitive). Returns how many changed."""
        users = [
            u for u in self.cm_state.users.values() if u.account.casefold() == account.casefold()
        ]
        cards = [
            c for c in self.cm_state.cards.values()
            if any(c.user_uuid == u.guid for u in users) and c.status not in ("Retired", "Disabled")
        ]  # fmt: skip
        for card in cards:
            self.cm_state.retire(card)
        return len(cards)

    def _in_metaverse(self, p: sample_sync.Person) -> bool:
        with self.sync_engine.connect() as c:
            found = c.execute(sa.text("SELECT 1 FROM mms_metaverse WHERE object_id = :o"),
                              {"o": p.object_id.hex}).first()  # fmt: skip
        return found is not None

    def close(self) -> None:
        self.sync_engine.dispose()
        self.winrm.stop()
        self.bhold.stop()
        self.cm.stop()


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
            "hr_operator": {"users": [DEMO_HR]},
            "privacy_officer": {"users": [DEMO_PRIVACY]},
        },
        # "Erase in HR" steps (when HR may not be written) go to the HR operators.
        "policy": {
            "manual_step_roles": {
                "erase_at_source": "hr_operator",
                "correct_at_source": "hr_operator",
            }
        },
        # The data map's Art. 30 columns the configuration cannot know: some stated, the
        # rest left for the privacy officer (the map lists them as findings).
        "datamap": {
            "controller": "Contoso Ltd (demo), privacy@contoso.example",
            "purposes": "Managing employees' and contractors' accounts and access",
            "legal_basis": "Art. 6(1)(b) employment contract; Art. 6(1)(c) legal obligation",
        },
        "export": {"systems": {"hr": {"retention": "6 years after the employment ends"}}},
        # The retention plan carried out: HR records two years past their end date, and a
        # legal hold kept in HR's own column.
        "retention": {
            "rules": [
                {
                    "name": "leavers",
                    "system": "hr",
                    "population": "ended",
                    "older_than_months": 24,
                    "column": "end_date",
                }
            ],
            "holds": {"hr_column": "legal_hold"},
        },
        "audit": {
            "url": f"sqlite:///{workdir / 'mimbot-demo.db'}",
            "subject_key": "${DEMO_SUBJECT_KEY}",
            "chain_key": "${DEMO_CHAIN_KEY}",
        },
    }
    environ = {
        "DEMO_BOT_TOKEN": "xoxb-demo",
        "DEMO_SIGNING_SECRET": "demo",
        "DEMO_SUBJECT_KEY": "demo-subject-key-0123456789",
        "DEMO_CHAIN_KEY": "demo-chain-key-0123456789abcdef0123456789",
    }
    return parse_config(raw, environ=environ, source="demo")
