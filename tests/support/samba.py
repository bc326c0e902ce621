"""The real Samba AD DC on loopback (tests/support/samba-ad-up.sh) and test users in it."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import ldap3

SCRIPT = Path(__file__).with_name("samba-ad-up.sh")
DEFAULT_DIR = "/tmp/mimbot-samba-tests"


@dataclass(frozen=True)
class SambaAd:
    uri: str
    host: str
    base_dn: str
    bind_user: str
    bind_dn: str
    password: str
    ca_file: str
    env: dict[str, str]

    def run(self, action: str) -> None:
        """start | stop | reset | status, through the lab script."""
        subprocess.run(
            ["bash", str(SCRIPT), action],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=180,
        )

    def admin(self) -> ldap3.Connection:
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_file)
        server = ldap3.Server(self.host, port=636, use_ssl=True, tls=tls)
        return ldap3.Connection(
            server, self.bind_dn, self.password, auto_bind=True, raise_exceptions=True
        )


def start_samba(ad_dir: str | None = None, *, reset: bool = True) -> SambaAd:
    env = dict(os.environ, AD_DIR=ad_dir or os.environ.get("MIMBOT_TEST_AD_DIR", DEFAULT_DIR))
    subprocess.run(
        ["bash", str(SCRIPT), "reset" if reset else "start"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    out = subprocess.run(
        ["bash", str(SCRIPT), "env"], env=env, check=True, capture_output=True, text=True
    ).stdout
    cfg = {k: v.strip("'") for k, v in (line.split("=", 1) for line in out.splitlines())}
    return SambaAd(
        uri=cfg["AD_URI"],
        host=cfg["AD_HOST_IP"],
        base_dn=cfg["AD_BASE_DN"],
        bind_user=cfg["AD_BIND_USER"],
        bind_dn=cfg["AD_BIND_DN"],
        password=cfg["AD_ADMIN_PASS"],
        ca_file=cfg["AD_CA_FILE"],
        env=env,
    )


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # a seed record, not a pytest test class

    account: str
    given: str
    sn: str
    employee_id: str | None = None
    mail: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.given} {self.sn}"


def seed_users(
    conn: ldap3.Connection, base_dn: str, users: Iterable[TestUser], ou: str = "People"
) -> str:
    """Create an OU (if missing) and the users in it; return the OU's DN."""
    ou_dn = f"OU={ou},{base_dn}"
    with contextlib.suppress(ldap3.core.exceptions.LDAPEntryAlreadyExistsResult):
        conn.add(ou_dn, "organizationalUnit")
    realm = base_dn.replace("DC=", "").replace(",", ".").lower()
    for u in users:
        cn = ldap3.utils.dn.escape_rdn(u.display_name)
        attrs = {
            "sAMAccountName": u.account,
            "userPrincipalName": f"{u.account}@{realm}",
            "givenName": u.given,
            "sn": u.sn,
            "displayName": u.display_name,
            "mail": u.mail or f"{u.account}@example.test",
            "proxyAddresses": [f"SMTP:{u.mail or u.account + '@example.test'}"],
            "telephoneNumber": "+44 20 7946 0000",
            "department": "Finance",
        }
        if u.employee_id:
            attrs["employeeID"] = u.employee_id
        conn.add(f"CN={cn},{ou_dn}", ["top", "person", "organizationalPerson", "user"], attrs)
    return ou_dn
