"""One spec per connector (connectors/spec.py): each system's package declares its name,
settings, builder and words once, and configuration, building and the access package's
README are a loop over the specs."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from bot.config import ConnectorsConfig, parse_config
from bot.errors import ConfigError
from bot.services import build_connectors
from bot.workflow.export_texts import system_text
from connectors._shared.powershell import WinRmSettings
from connectors.spec import INTERNAL_SETTINGS, ConnectorSpec, specs
from tests.config.test_config import ENV, minimal
from tests.support.paths import REPO as ROOT

SYSTEMS = sorted(
    p.name for p in (ROOT / "connectors").iterdir() if p.is_dir() and p.name[0] not in "_."
)


def test_every_system_package_exports_its_spec_named_for_it() -> None:
    assert SYSTEMS == ["ad", "bhold", "certmgmt", "hr", "mimservice", "mimsync", "pam"]
    for name in SYSTEMS:
        spec = importlib.import_module(f"connectors.{name}").SPEC
        assert isinstance(spec, ConnectorSpec) and spec.name == name
    assert sorted(s.name for s in specs()) == SYSTEMS


def test_specs_come_in_source_of_authority_order_hr_first() -> None:
    assert [s.name for s in specs()] == [
        "hr", "mimsync", "ad", "mimservice", "pam", "bhold", "certmgmt",
    ]  # fmt: skip


def test_the_connectors_section_declares_nothing_but_the_specs() -> None:
    assert set(ConnectorsConfig.model_fields) == {*SYSTEMS, "disabled"}


def test_each_spec_has_words_for_the_data_subject() -> None:
    for spec in specs():
        words = dataclasses.asdict(spec.words)
        assert all(text.strip() for text in words.values()), spec.name
        assert system_text(spec.name) == spec.words
    own = system_text("ad", {"ad": {"retention": "Ten days."}})
    assert own.retention == "Ten days." and own.purpose == system_text("ad").purpose


def ad(**extra: object) -> dict:
    raw = minimal()
    raw["connectors"] = {
        "ad": {"url": "ldaps://dc", "bind_dn": "x", "password": "${ADPW}", "base_dn": "DC=x"}
        | extra
    }
    return raw


@pytest.mark.parametrize("key", sorted(INTERNAL_SETTINGS))
def test_a_setting_the_bot_fills_in_is_refused_in_app_yaml(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"connectors\.ad\.{key}: set by the bot"):
        parse_config(ad(**{key: "x"}), environ=ENV)


def test_a_disabled_section_is_checked_but_not_built() -> None:
    config = parse_config(ad(enabled=False), environ=ENV)
    assert config.connectors.ad is not None and "ad" in config.connectors.disabled
    assert build_connectors(config) == []
    with pytest.raises(ConfigError, match=r"connectors\.ad\.enabled: must be true or false"):
        parse_config(ad(enabled="no"), environ=ENV)
    with pytest.raises(ConfigError, match=r"connectors\.ad\.page_size"):
        parse_config(ad(enabled=False, page_size=0), environ=ENV)


def test_the_search_cap_reaches_every_connector_built() -> None:
    raw = ad()
    raw["search"] = {"max_hits_per_system": 7}
    (built,) = build_connectors(parse_config(raw, environ=ENV))
    try:
        assert built.settings.max_hits == 7
    finally:
        built.close()


def test_app_yaml_names_and_the_code_names_build_the_same_settings() -> None:
    # One declaration: `timeout_seconds` in app.yaml is `timeout` in the code, one default.
    parsed = parse_config(ad(timeout_seconds=3.5), environ=ENV).connectors.ad
    assert parsed.timeout == 3.5
    assert parse_config(ad(), environ=ENV).connectors.ad.timeout == 2.0
    code = type(parsed)(url="ldaps://dc", bind_dn="x", password="pw", base_dn="DC=x")
    assert code.timeout == 2.0 and code.attributes == parsed.attributes


def test_winrm_has_one_default_transport_wherever_it_is_built() -> None:
    direct = WinRmSettings("https://mim01.corp.test:5986/wsman")
    raw = minimal()
    raw["connectors"] = {
        "mimservice": {"winrm": {"endpoint": "https://mim01.corp.test:5986/wsman"}}
    }
    parsed = parse_config(raw, environ=ENV).connectors.mimservice
    assert direct.transport == parsed.winrm.transport == "kerberos"


def test_a_validation_error_never_echoes_the_password() -> None:
    with pytest.raises(ValueError) as info:
        WinRmSettings("https://h/wsman", "svc", "Sup3r-Secret!", "ntlm")
    assert "Sup3r-Secret!" not in str(info.value)
