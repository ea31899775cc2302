"""Settings layering (defaults, IDHUB_CONFIG file, IDHUB_* variables) and generated secrets."""

from __future__ import annotations

import os
import stat

import pytest

from idhub import config
from idhub.config import DEFAULTS_DIR, PROJECT_DIR, ConfigError, load_settings
from idhub.keyring import Keyring


def test_defaults_resolve_paths():
    settings = load_settings(environ={})
    assert settings["var_dir"] == str(PROJECT_DIR / "var")
    assert settings["database"]["url"] == f"sqlite:///{PROJECT_DIR}/var/idhub.db"
    assert settings["secrets"]["dir"] == str(PROJECT_DIR / "var" / "secrets")
    assert settings["server"]["port"] == 8080
    assert settings["provisioning"]["rules_file"] == str(DEFAULTS_DIR / "rules.toml")


def test_an_installed_hub_reads_etc_and_keeps_data_in_var_lib(tmp_path, monkeypatch):
    etc = tmp_path / "idhub.toml"
    etc.write_text('[server]\nport = 9001\n[provisioning]\nrules_file = "rules.toml"\n')
    monkeypatch.setattr(config, "SYSTEM_CONFIG", etc)
    monkeypatch.chdir(tmp_path)
    installed = load_settings(environ={}, from_checkout=False)
    assert installed["var_dir"] == "/var/lib/idhub"
    assert installed["secrets"]["dir"] == "/var/lib/idhub/secrets"
    assert installed["server"]["port"] == 9001
    assert installed["provisioning"]["rules_file"] == str(tmp_path / "rules.toml")
    # IDHUB_CONFIG wins over /etc; a checkout never reads /etc.
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 9002\n")
    named = load_settings(environ={"IDHUB_CONFIG": str(other)}, from_checkout=False)
    assert named["server"]["port"] == 9002
    assert load_settings(environ={}, from_checkout=True)["server"]["port"] == 8080


def test_file_then_environment_override(tmp_path):
    extra = tmp_path / "site.toml"
    extra.write_text('[server]\nport = 9000\n[ldap]\nbase_dn = "dc=laichau,dc=gov,dc=vn"\n')
    settings = load_settings(
        environ={
            "IDHUB_CONFIG": str(extra),
            "IDHUB_SERVER_PORT": "9100",
            "IDHUB_DATABASE_URL": "postgresql+psycopg://idhub@db/idhub",
            "IDHUB_OAUTH_SCOPES": '["hr:read"]',
            "IDHUB_VAR_DIR": str(tmp_path / "data"),
        }
    )
    assert settings["server"]["port"] == 9100  # environment beats the file
    assert settings["ldap"]["base_dn"] == "dc=laichau,dc=gov,dc=vn"
    assert settings["database"]["url"] == "postgresql+psycopg://idhub@db/idhub"
    assert settings["oauth"]["scopes"] == ["hr:read"]
    assert settings["secrets"]["dir"] == str(tmp_path / "data" / "secrets")


def test_unknown_keys_and_unreadable_files_are_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(environ={"IDHUB_CONFIG": str(bad)})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(environ={"IDHUB_CONFIG": str(broken)})
    with pytest.raises(ConfigError):
        load_settings(environ={"IDHUB_CONFIG": str(tmp_path / "missing.toml")})


def test_every_section_is_typed_and_checked_at_start():
    from idhub.app import SECTIONS, load_checked
    from idhub.oidc.settings import SsoSettings
    from idhub.services import ProvisioningSettings

    settings = load_checked(load_settings(environ={}))
    sso = settings.section(SsoSettings)
    assert sso.lockout_threshold == 5 and sso.scopes[0] == "openid"
    assert settings.section(ProvisioningSettings).poll_interval_s == 0.05
    tables = {k for k, v in load_settings(environ={}).items() if isinstance(v, dict)}
    assert {vars(kind)["SECTION"] for kind in SECTIONS} == tables  # no table left unread


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "IDHUB_SSO_LOCKOUT_THRESHOLD",
            "'five'",
            r"\[sso\] lockout_threshold must be a whole number",
        ),
        ("IDHUB_PROVISIONING_LEASE_S", "true", r"\[provisioning\] lease_s must be a number"),
        ("IDHUB_MAIL_ENABLED", "'yes'", r"\[mail\] enabled must be true or false"),
        ("IDHUB_OAUTH_SCOPES", "[1, 2]", r"\[oauth\] scopes must be a list of text"),
        ("IDHUB_LDAP_URL", "389", r"\[ldap\] url must be text"),
    ],
)
def test_a_wrong_type_stops_the_start_naming_the_key(variable, value, message):
    from idhub.app import load_checked

    with pytest.raises(ConfigError, match=message):
        load_checked(load_settings(environ={variable: value}))


def test_secrets_are_generated_private_and_stable(tmp_path):
    keyring = Keyring(tmp_path / "secrets")
    keyring.ensure_all()
    directory_mode = stat.S_IMODE(os.stat(tmp_path / "secrets").st_mode)
    assert directory_mode == 0o700
    for path in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    again = Keyring(tmp_path / "secrets")
    assert again.get("token_hash_key") == keyring.get("token_hash_key")
    assert len(keyring.get("token_hash_key")) >= 48


def test_keyed_hash_and_encryption(tmp_path):
    one, two = Keyring(tmp_path / "a"), Keyring(tmp_path / "b")
    assert one.token_hash("secret") != two.token_hash("secret")  # keyed, not plain SHA-256
    assert one.token_matches("secret", one.token_hash("secret"))
    assert not one.token_matches("Secret", one.token_hash("secret"))
    sealed = one.encrypt("TOTP seed")
    assert "TOTP" not in sealed and one.decrypt(sealed) == "TOTP seed"
    with pytest.raises(ValueError):
        two.decrypt(sealed)
    with pytest.raises(KeyError):
        one.get("no_such_secret")
