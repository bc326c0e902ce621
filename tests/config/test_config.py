from pathlib import Path

import pytest

from bot.config import load_config, parse_config
from bot.errors import ConfigError
from tests.support.paths import REPO

ENV = {
    "BOT": "xoxb-1",
    "SIGN": "s3cret",
    "KEY": "subject-key-0123456789",
    "CHAIN": "chain-key-0123456789abcdef0123456789",
    "ADPW": "pw",
}


def minimal() -> dict:
    return {
        "slack": {"bot_token": "${BOT}", "signing_secret": "${SIGN}"},
        "audit": {"subject_key": "${KEY}", "chain_key": "${CHAIN}"},
    }


def error_of(raw: dict, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, environ=ENV if environ is None else environ)
    return str(info.value)


def test_minimal_config_resolves_secrets_from_the_environment():
    config = parse_config(minimal(), environ=ENV)
    assert config.slack.bot_token == "xoxb-1"
    assert config.audit.subject_key == "subject-key-0123456789"
    assert config.audit.url == "sqlite:///mimbot.db"


def test_missing_key_is_named():
    raw = minimal()
    del raw["slack"]["bot_token"]
    assert error_of(raw) == "config: slack.bot_token: Field required"


def test_wrong_type_is_named():
    raw = minimal()
    raw["slack"]["port"] = "eighty"
    message = error_of(raw)
    assert message.startswith("config: slack.port: ")
    assert "integer" in message


def test_unset_environment_variable_is_named():
    message = error_of(minimal(), environ={"BOT": "x", "SIGN": "y"})
    assert message == "config: audit.subject_key: environment variable KEY is not set"


def test_secret_written_in_clear_is_refused():
    raw = minimal()
    raw["slack"]["bot_token"] = "xoxb-123-in-clear"
    assert "slack.bot_token: secret written in clear" in error_of(raw)


def test_secret_partly_from_environment_is_still_in_clear():
    raw = minimal()
    raw["slack"]["signing_secret"] = "prefix-${SIGN}"
    assert "slack.signing_secret: secret written in clear" in error_of(raw)


def test_password_in_a_database_url_is_refused():
    raw = minimal()
    raw["audit"]["url"] = "postgresql+psycopg://mimbot:hunter2@db/mimbot"
    assert "audit.url: password written in clear" in error_of(raw)


def test_password_in_a_url_may_come_from_the_environment():
    raw = minimal()
    raw["audit"]["url"] = "postgresql+psycopg://mimbot:${ADPW}@db/mimbot"
    assert parse_config(raw, environ=ENV).audit.url == "postgresql+psycopg://mimbot:pw@db/mimbot"


def test_secret_from_a_file(tmp_path: Path):
    (tmp_path / "token").write_text("xoxb-from-file\n")
    raw = minimal()
    del raw["slack"]["bot_token"]
    raw["slack"]["bot_token_file"] = str(tmp_path / "token")
    assert parse_config(raw, environ=ENV).slack.bot_token == "xoxb-from-file"


def test_missing_secret_file_is_named(tmp_path: Path):
    raw = minimal()
    raw["slack"]["bot_token_file"] = str(tmp_path / "absent")
    del raw["slack"]["bot_token"]
    assert "slack.bot_token_file: cannot read" in error_of(raw)


def test_plain_ldap_needs_an_explicit_opt_in():
    raw = minimal()
    raw["connectors"] = {
        "ad": {"url": "ldap://dc", "bind_dn": "x", "password": "${ADPW}", "base_dn": "DC=x"}
    }
    assert "connectors.ad: url uses plain ldap://" in error_of(raw)
    raw["connectors"]["ad"]["allow_plain_ldap"] = True
    assert parse_config(raw, environ=ENV).connectors.ad.allow_plain_ldap


def test_unknown_key_is_refused():
    raw = minimal()
    raw["slack"]["chanel"] = "C1"
    assert error_of(raw).startswith("config: slack.chanel: ")


def test_role_members_must_be_ids_not_names():
    raw = minimal()
    raw["roles"] = {"viewer": {"users": ["jane.doe"]}}
    assert "not a Slack user id" in error_of(raw)


def test_http_mode_needs_a_signing_secret():
    raw = minimal()
    del raw["slack"]["signing_secret"]
    assert "signing_secret is required in http mode" in error_of(raw)


def test_load_config_reports_bad_yaml(tmp_path: Path):
    path = tmp_path / "app.yaml"
    path.write_text("slack: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, environ=ENV)


def test_shipped_example_app_yaml_is_valid():
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_APP_TOKEN": "xapp",
        "MIMBOT_SUBJECT_KEY": "k" * 32,
        "MIMBOT_CHAIN_KEY": "c" * 32,
        "AD_PASSWORD": "pw",
        "MIMSYNC_PASSWORD": "pw",
        "MIM_PASSWORD": "pw",
        "PAM_PASSWORD": "pw",
        "HR_DB_PASSWORD": "pw",
        "BHOLD_PASSWORD": "pw",
        "CM_PASSWORD": "pw",
    }
    config = load_config(REPO / "app.yaml", environ=environ)
    c = config.connectors
    assert c.ad is not None
    from connectors.ad.update import DEFAULT_WRITABLE

    assert c.ad.writable == DEFAULT_WRITABLE  # the documented list is the built-in one
    assert c.mimservice is not None and c.pam is not None
    assert c.hr is not None and c.bhold is not None and c.certmgmt is not None
    assert config.policy.manual_step_roles["erase_at_source"] == "hr_operator"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://mimbot:hun/ter2@db/mimbot",  # a "/" in the password
        "postgresql+psycopg://mimbot@db/mimbot?password=hunter2",
        "mssql+pyodbc://mimbot@sql:1433/FIMSynchronizationService?driver=FreeTDS&PWD=hunter2",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BUID%3Dm%3BPWD%3Dhunter2",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BPWD%3D%7Bhun%3Bter%7D",
    ],
)
def test_every_way_of_writing_a_password_into_a_url_is_refused(url):
    raw = minimal()
    raw["audit"]["url"] = url
    assert "audit.url: password written in clear in the URL" in error_of(raw)


def test_a_url_password_parameter_may_come_from_the_environment():
    raw = minimal()
    raw["audit"]["url"] = "postgresql+psycopg://mimbot@db/mimbot?password=${ADPW}"
    assert parse_config(raw, environ=ENV).audit.url.endswith("?password=pw")


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        ({"find": []}, "find: name at least one role, or anyone"),
        ({"fnd": "viewer"}, "unknown command 'fnd'"),
        ({"find": "anyone"}, "find reads or changes personal data: name a role"),
        ({"delete": ["requester", "anyone"]}, "delete reads or changes personal data"),
    ],
)
def test_permissions_cannot_open_access_by_accident(permissions, message):
    raw = minimal()
    raw["permissions"] = permissions
    assert message in error_of(raw)


def test_group_membership_is_not_cached_for_long():
    raw = minimal()
    raw["slack"]["usergroup_cache_seconds"] = 86400
    assert "slack.usergroup_cache_seconds" in error_of(raw)


def test_deadline_and_extension_stay_within_gdprs_three_months():
    raw = minimal()
    raw["policy"] = {"deadline_months": 2, "extension_months": 2}
    assert "exceeds GDPR's three months" in error_of(raw)


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ({"subject_key": "short"}, "audit.subject_key: String should have at least 16 characters"),
        ({"url": "postgresql://::bad::url["}, "audit.url: not a database URL (ValueError)"),
        ({"url": "no-scheme-at-all"}, "audit.url: not a database URL"),
        ({"timeout_seconds": 0}, "audit.timeout_seconds: Input should be greater than 0"),
    ],
)
def test_an_unusable_audit_setting_is_one_line_naming_the_key(audit, message):
    raw = minimal()
    raw["audit"] = {**raw["audit"], **{k: v for k, v in audit.items() if k != "subject_key"}}
    environ = {**ENV, "KEY": audit["subject_key"]} if "subject_key" in audit else ENV
    text = error_of(raw, environ)
    assert message in text and "\n" not in text
    assert "bad::url" not in text  # the URL itself (a host, a user) stays out of the message


def test_an_unparsable_sync_database_url_is_named():
    raw = minimal()
    raw["connectors"] = {"mimsync": {"url": "mssql+pyodbc://host:port-not-a-number/db"}}
    assert "connectors.mimsync.url: not a database URL" in error_of(raw)


def test_http_serving_limits_are_checked():
    raw = minimal()
    raw["slack"]["http"] = {"max_body_bytes": 10}
    assert "slack.http.max_body_bytes" in error_of(raw)


def winrm_section(**winrm: object) -> dict:
    raw = minimal()
    raw["connectors"] = {
        "mimservice": {
            "winrm": {
                "endpoint": "https://mim01.corp.example:5986/wsman",
                "transport": "ntlm",
                "username": "CORP\\svc",
                "password": "${ADPW}",
                **winrm,
            }
        },
        "pam": {
            "winrm": {
                "endpoint": "https://pam01:5986/wsman",
                "transport": "kerberos",
                "kerberos_delegation": True,
            },
            "source_domain": "CORP",
        },
    }
    return raw


def test_a_pam_section_whose_credentials_cannot_make_the_second_hop_is_refused():
    raw = winrm_section()
    del raw["connectors"]["pam"]["winrm"]["kerberos_delegation"]
    text = error_of(raw)
    assert text.startswith("config: connectors.pam.winrm: the PAM removal writes to the PRIV")
    assert "kerberos_delegation: true" in text and "\n" not in text


def test_the_winrm_connectors_are_built_from_their_sections():
    from bot.services import build_connectors

    built = build_connectors(parse_config(winrm_section(), environ=ENV))
    assert [c.name for c in built] == ["mimservice", "pam"]
    for connector in built:
        connector.close()


def test_basic_authentication_over_plain_http_is_refused():
    text = error_of(winrm_section(endpoint="http://mim01:5985/wsman", transport="basic"))
    assert text.endswith(
        "connectors.mimservice.winrm: basic authentication is allowed only over https"
    )


def test_a_winrm_setting_the_runner_refuses_is_one_line_naming_the_section(tmp_path: Path):
    from bot.services import build_connectors

    config = parse_config(winrm_section(ca_file=str(tmp_path / "missing.pem")), environ=ENV)
    with pytest.raises(ConfigError, match=r"^connectors\.mimservice: "):
        build_connectors(config)


def ad_section(**ad: object) -> dict:
    raw = minimal()
    raw["connectors"] = {
        "ad": {
            "url": "ldaps://dc",
            "bind_dn": "x",
            "password": "${ADPW}",
            "base_dn": "DC=x",
            **ad,
        }
    }
    return raw


# What secures, names or keys an account (F1 of the security review, and more).
NEVER_WRITABLE = (
    "userAccountControl", "unicodePwd", "userPassword", "pwdLastSet", "accountExpires",
    "lockoutTime", "servicePrincipalName", "altSecurityIdentities", "msDS-KeyCredentialLink",
    "msDS-AllowedToDelegateTo", "msDS-AllowedToActOnBehalfOfOtherIdentity", "member",
    "memberOf", "primaryGroupID", "sIDHistory", "adminCount", "objectClass", "scriptPath",
    "homeDirectory", "homeDrive", "profilePath", "logonHours", "userWorkstations",
    "sAMAccountName", "userPrincipalName", "mail", "manager", "proxyAddresses",
    "distinguishedName", "objectGUID", "objectSid", "cn", "name", "employeeID",
    "employeeNumber", "mS-DS-ConsistencyGuid", "USERACCOUNTCONTROL", "msds-anything",
    "msTSInitialProgram", "msTSHomeDirectory", "msTSProfilePath", "msTSWorkDirectory",
    "msTSHomeDrive", "msRADIUSFramedIPAddress", "msSFU30Password", "msNPCallingStationID",
)  # fmt: skip


@pytest.mark.parametrize("attribute", NEVER_WRITABLE)
def test_a_security_or_account_attribute_in_ads_writable_list_is_refused(attribute):
    text = error_of(ad_section(writable=["telephoneNumber", attribute]))
    assert text.startswith("config: connectors.ad.writable: never writable by a correction: ")
    assert attribute in text and "\n" not in text


def test_reading_an_attribute_for_show_is_not_writing_it():
    raw = ad_section(attributes=["displayName", "userAccountControl", "memberOf"])
    ad = parse_config(raw, environ=ENV).connectors.ad
    assert ad is not None and "userAccountControl" in ad.attributes
    assert "userAccountControl" not in ad.writable  # the built-in allow-list


def test_ads_writable_list_reaches_the_connector():
    from bot.services import build_connectors
    from connectors.ad.update import DEFAULT_WRITABLE

    assert parse_config(ad_section(), environ=ENV).connectors.ad.writable == DEFAULT_WRITABLE
    (ad,) = build_connectors(parse_config(ad_section(writable=["department"]), environ=ENV))
    try:
        assert ad.settings.writable == ("department",)
    finally:
        ad.close()


def test_a_writable_entry_that_is_no_attribute_name_is_refused_without_echoing_it():
    text = error_of(ad_section(writable=["department", "x)(cn=*"]))
    assert "connectors.ad.writable: 1 entry(ies) are not LDAP attribute names" in text
    assert "cn=*" not in text


def test_a_security_attribute_stops_start_up_with_one_configuration_error_line(tmp_path: Path):
    from tests.frontends.test_cli import ENV as CLI_ENV
    from tests.frontends.test_cli import run, write_config

    config = write_config(
        tmp_path,
        "connectors:\n  ad: {url: 'ldaps://dc', bind_dn: x, password: '${S}', base_dn: 'DC=x',"
        " writable: [department, servicePrincipalName]}\n",
    )
    result = run("check", "--config", str(config), env=CLI_ENV)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"configuration error: {config}: connectors.ad.writable: never writable by a "
        "correction: servicePrincipalName (it secures the account or grants access); "
        "list personal-data string attributes only"
    )
