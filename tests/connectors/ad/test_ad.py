"""The AD connector against a real Samba AD DC on loopback."""

import time
from dataclasses import replace

import pytest

from bot.commands.parser import FindCommand, parse
from connectors.ad.connector import AdConnector, AdSettings
from connectors.base import IdKind, Query, QueryKind
from connectors.errors import Denied, NotSupported, Unreachable
from tests.support.samba import TestUser, seed_users

pytestmark = pytest.mark.samba

USERS = [
    TestUser("ft-jdoe", "Jane", "Doe", "7001", "jane.doe@example.test"),
    TestUser("ft-zoe", "Zoë", "Ångström", "7002"),
    TestUser("ft-obrien", "Seán", "O'Brien (Ops)", "7003"),
    TestUser("ft-star", "Al*", "Star", "7004"),
    TestUser("ft-slash", "Back", "Sl\\ash", "7005"),
    TestUser("ft-paren", "Par)(en", "Thesis", "7006"),
] + [TestUser(f"ft-bulk{i:02d}", "Bulk", f"Person {i:02d}", str(7100 + i)) for i in range(30)]
# Namesakes (in two OUs: a CN is unique only within its container), an account name that
# prefixes another, and a name the directory holds with a typographic apostrophe.
SMITHS = [TestUser("ft-smith", "Johnathan", "Smithfield", "7201")]
SMITHS_SALES = [TestUser("ft-smith2", "Johnathan", "Smithfield", "7202")]
TYPOGRAPHIC = [TestUser("ft-oneill", "Siobh\u00e1n", "O\u2019Neill-Star*", "7203")]


@pytest.fixture(scope="module")
def settings(samba):
    conn = samba.admin()
    seed_users(conn, samba.base_dn, USERS + SMITHS + TYPOGRAPHIC, ou="FindTests")
    seed_users(conn, samba.base_dn, SMITHS_SALES, ou="FindTestsSales")
    conn.unbind()
    return AdSettings(
        url=samba.uri,
        bind_dn=samba.bind_user,
        password=samba.password,
        base_dn=samba.base_dn,
        ca_file=samba.ca_file,
        attributes=("displayName", "mail", "department", "telephoneNumber"),
        timeout=2.0,
    )


@pytest.fixture
def ad(settings):
    connector = AdConnector(settings)
    yield connector
    connector.close()


def accounts(hits):
    return sorted(h.identifiers[IdKind.ACCOUNT] for h in hits)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (QueryKind.NAME, "ft-jdoe", ["ft-jdoe"]),
        (QueryKind.NAME, "Jane Doe", ["ft-jdoe"]),
        (QueryKind.NAME, "FT-JDOE", ["ft-jdoe"]),
        (QueryKind.MAIL_OR_UPN, "jane.doe@example.test", ["ft-jdoe"]),
        (QueryKind.MAIL_OR_UPN, "ft-jdoe@corp.example.test", ["ft-jdoe"]),
        (QueryKind.EMPLOYEE_ID, "7002", ["ft-zoe"]),
        (QueryKind.NAME, "Zoë Ångström", ["ft-zoe"]),
        (QueryKind.PREFIX, "Zoë Å", ["ft-zoe"]),
        (QueryKind.NAME, "Seán O'Brien (Ops)", ["ft-obrien"]),
        (QueryKind.NAME, "Al* Star", ["ft-star"]),
        (QueryKind.PREFIX, "Al*", ["ft-star"]),
        (QueryKind.NAME, "Back Sl\\ash", ["ft-slash"]),
        (QueryKind.NAME, "Par)(en Thesis", ["ft-paren"]),
        (QueryKind.ATTRIBUTE, "jane.doe@example.test", ["ft-jdoe"]),
    ],
)
def test_finds_by_each_kind_of_term(ad, kind, value, expected):
    query = Query(kind, value, attribute="mail" if kind is QueryKind.ATTRIBUTE else None)
    assert accounts(ad.search(query, timeout=2)) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # A surname, a given name, "given surname" and "surname given": the directory's own
        # Ambiguous Name Resolution (anr==, exact) finds both namesakes.
        ("find user Smithfield", ["ft-smith", "ft-smith2"]),
        ("find user Johnathan", ["ft-smith", "ft-smith2"]),
        ("find user Johnathan Smithfield", ["ft-smith", "ft-smith2"]),
        ("find user Smithfield Johnathan", ["ft-smith", "ft-smith2"]),
        ("find user SMITHFIELD", ["ft-smith", "ft-smith2"]),
        # Exact, never a prefix: an account name that begins another finds only itself.
        ("find user ft-smith", ["ft-smith"]),
        ("find user Smithfiel", []),
        ("find user Johnathan Smith", []),
        # An apostrophe as phones type it finds the straight one the directory holds ...
        ("find user Se\u00e1n O\u2019Brien (Ops)", ["ft-obrien"]),
        ('find user "O\u2019Brien (Ops)"', ["ft-obrien"]),
        # ... and a straight one finds the typographic one a directory may hold.
        ("find user Siobh\u00e1n O'Neill-Star*", ["ft-oneill"]),  # prefix
        ("find user O'Neill-Star* Siobh\u00e1n", ["ft-oneill"]),  # literal *, surname first
        ("find user Siobh\u00e1n O\u2019Neill-Star*", ["ft-oneill"]),
        ("find user Siobha\u0301n O'Neill-Star\\2a", []),  # decomposed, NFC; \2a is no star
        # A * that is not at the end is a literal character; a trailing one is a prefix.
        ("find user Al* Star", ["ft-star"]),
        ("find user Al*", ["ft-star"]),
        ("find user Al* S*", ["ft-star"]),
        ("find user Al*Star", []),
        ("find user Par)(en", ["ft-paren"]),  # given name alone, brackets and all
        ("find user Par)(en Thes*", ["ft-paren"]),
    ],
)
def test_typed_terms_find_what_a_person_means(ad, typed, expected):
    """The parser's normalisation and the connector's filter together, on the real DC."""
    cmd = parse(typed)
    assert isinstance(cmd, FindCommand)
    assert accounts(ad.search(cmd.query, timeout=2)) == expected


def test_samba_resolves_ambiguous_names(samba):
    """The DC itself expands (anr=...): exact with "=", a prefix without."""
    conn = samba.admin()
    try:
        for ldap_filter, expected in [
            ("(anr==Smithfield)", 2),
            ("(anr==Smithfiel)", 0),
            ("(anr=Smithfiel)", 2),
            ("(anr==Johnathan Smithfield)", 2),
        ]:
            conn.search(samba.base_dn, ldap_filter, attributes=["sAMAccountName"])
            found = [e for e in conn.response if e.get("type") == "searchResEntry"]
            assert len(found) == expected, ldap_filter
    finally:
        conn.unbind()


def test_mail_alias_in_proxy_addresses_is_found(samba, ad):
    conn = samba.admin()
    dn = ad.search(Query(QueryKind.NAME, "ft-zoe"), timeout=2)[0].location
    conn.modify(dn, {"proxyAddresses": [("MODIFY_ADD", ["smtp:zoe.alias@example.test"])]})
    conn.unbind()
    assert accounts(
        ad.search(Query(QueryKind.MAIL_OR_UPN, "zoe.alias@example.test"), timeout=2)
    ) == ["ft-zoe"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (QueryKind.NAME, "*)(objectClass=*"),
        (QueryKind.NAME, "*"),
        (QueryKind.PREFIX, "x)(objectClass="),
        (QueryKind.MAIL_OR_UPN, "*)(mail=*@example.test"),
        (QueryKind.EMPLOYEE_ID, "7*"),
        (QueryKind.NAME, "ft-jdoe)(|(sAMAccountName=*"),
        (QueryKind.NAME, "Al\\2a Star"),
    ],
)
def test_injection_terms_find_nothing(ad, kind, value):
    assert ad.search(Query(kind, value), timeout=2) == []


def test_hit_carries_guid_dn_modified_and_personal_attributes(ad):
    (hit,) = ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=2)
    assert hit.ref.system == "ad"
    assert hit.ref.id == hit.identifiers[IdKind.OBJECT_GUID]
    assert hit.location.startswith("CN=Jane Doe,OU=FindTests,")
    assert hit.modified is not None and hit.modified.year >= 2026
    assert hit.attributes["mail"] == ("jane.doe@example.test",)
    assert hit.attributes["department"] == ("Finance",)
    assert hit.label == "Jane Doe (ft-jdoe)"
    assert hit.identifiers[IdKind.DOMAIN] == "CORP"  # the NetBIOS name, read from the forest
    record = ad.read(hit.ref, timeout=2)
    assert record.attributes["telephoneNumber"].values == ("+44 20 7946 0000",)


def test_paged_search_returns_every_page(settings):
    ad = AdConnector(replace(settings, page_size=7))
    try:
        hits = ad.search(Query(QueryKind.PREFIX, "Bulk Person"), timeout=2)
    finally:
        ad.close()
    assert len(hits) == 30


def test_hits_are_capped(settings):
    ad = AdConnector(replace(settings, page_size=5, max_hits=12))
    try:
        assert len(ad.search(Query(QueryKind.PREFIX, "Bulk"), timeout=2)) == 12
    finally:
        ad.close()


def test_connections_are_reused(settings):
    made = []
    ad = AdConnector(settings)
    factory = ad._factory

    def counting():
        made.append(1)
        return factory()

    ad._factory = counting
    try:
        for _ in range(5):
            ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=2)
    finally:
        ad.close()
    assert len(made) == 1


def test_a_connection_is_pooled_after_a_refusal_and_dropped_after_a_bug(settings):
    ad = AdConnector(settings)
    try:
        with pytest.raises(NotSupported), ad._connection() as conn:
            refused = conn
            raise NotSupported("the DC said no")  # an answer: the connection is sound
        with ad._connection() as conn:
            assert conn is refused
        with pytest.raises(RuntimeError), ad._connection() as conn:
            raise RuntimeError("a bug mid-operation")
        assert conn.closed  # never pooled in an unknown state, and its socket is closed
        with ad._connection() as fresh:
            assert fresh is not conn
    finally:
        ad.close()


def test_attribute_outside_the_allow_list_is_not_searched(ad):
    with pytest.raises(NotSupported):
        ad.search(Query(QueryKind.ATTRIBUTE, "x", attribute="unicodePwd"), timeout=2)


def test_wrong_password_is_denied(settings):
    ad = AdConnector(replace(settings, password="wrong"))
    with pytest.raises(Denied):
        ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=2)


def test_untrusted_certificate_is_refused(settings, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    import subprocess

    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
            "-keyout",
            str(tmp_path / "k.pem"),
            "-out",
            str(other_ca),
        ],
        check=True,
        capture_output=True,
    )
    ad = AdConnector(replace(settings, ca_file=other_ca))
    with pytest.raises(Unreachable):
        ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=2)


def test_plain_ldap_only_when_allowed(settings, samba):
    with pytest.raises(ValueError, match="plain ldap://"):
        replace(settings, url=f"ldap://{samba.host}:389")
    ad = AdConnector(replace(settings, url=f"ldap://{samba.host}:389", allow_plain_ldap=True))
    try:
        assert accounts(ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=2)) == ["ft-jdoe"]
    finally:
        ad.close()


def test_closed_port_is_unreachable_quickly(settings):
    ad = AdConnector(replace(settings, url="ldaps://127.0.0.1:1"))
    t0 = time.monotonic()
    with pytest.raises(Unreachable):
        ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=1)
    assert time.monotonic() - t0 < 2


def test_health_reports_a_working_bind(ad, settings):
    assert ad.health(timeout=2).ok
    bad = AdConnector(replace(settings, password="wrong")).health(timeout=2)
    assert not bad.ok and "Denied" in bad.detail


def test_a_configured_domain_name_is_used_without_asking_the_forest(settings):
    ad = AdConnector(replace(settings, domain="EMEA"))
    try:
        (hit,) = ad.search(Query(QueryKind.NAME, "ft-jdoe"), timeout=2)
    finally:
        ad.close()
    assert hit.identifiers[IdKind.DOMAIN] == "EMEA"
