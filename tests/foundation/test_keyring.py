"""Secrets the data depends on are never silently made anew (issue 17, weakness 9).

A fresh install makes its keys; once the database holds data, a missing data key stops
the hub (naming the key and what to do) instead of sealing and encrypting with a new
one; `idhub keys check` says whether every key is present and opens the data.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from idhub.app import create_app
from idhub.cli import main
from idhub.keyring import DATA_KEYS, MissingKeyError
from idhub.models import PersonCredential
from tests.fixtures.factories import make_person


def secrets_dir(settings: dict) -> Path:
    return Path(settings["var_dir"]) / "secrets"


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    monkeypatch.setenv("IDHUB_LDAP_PASSWORD", settings["ldap"]["password"])
    return settings


@pytest.fixture
def with_data(app, api) -> None:
    """Audit events, a person and a sealed TOTP secret."""
    person = make_person(api)
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        session.add(
            PersonCredential(
                person_id=uuid.UUID(person["id"]), totp_secret_encrypted=hub.keyring.encrypt("S")
            )
        )


def test_a_fresh_install_makes_every_key(settings) -> None:
    app = create_app(settings)
    try:
        for name in DATA_KEYS:
            assert (secrets_dir(settings) / name).stat().st_mode & 0o777 == 0o600
    finally:
        app.extensions["idhub"].db.dispose()


@pytest.mark.parametrize("name", sorted(DATA_KEYS))
def test_a_missing_key_with_data_refuses_to_start(settings, with_data, name) -> None:
    (secrets_dir(settings) / name).unlink()
    with pytest.raises(MissingKeyError) as refused:
        create_app(settings)
    message = str(refused.value)
    assert name in message and "backup" in message and str(secrets_dir(settings)) in message
    assert not (secrets_dir(settings) / name).exists()  # nothing made anew


def test_a_missing_key_with_data_stops_a_command(cli_env, with_data) -> None:
    (secrets_dir(cli_env) / "audit_chain_key").unlink()
    out = CliRunner().invoke(main, ["audit", "verify"])
    assert out.exit_code == 1
    assert "secret audit_chain_key missing" in out.output and "backup" in out.output
    assert not (secrets_dir(cli_env) / "audit_chain_key").exists()


def test_keys_check_passes_when_every_key_opens_the_data(cli_env, with_data) -> None:
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 0, out.output
    assert "audit event 1 verifies" in out.output
    assert "a TOTP secret decrypts" in out.output


def test_keys_check_fails_on_a_missing_key(cli_env, with_data) -> None:
    (secrets_dir(cli_env) / "token_hash_key").unlink()
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 1, out.output
    assert "FAIL\ttoken_hash_key\tmissing" in out.output
    assert not (secrets_dir(cli_env) / "token_hash_key").exists()  # check never makes one


def test_keys_check_fails_on_keys_that_do_not_open_the_data(cli_env, with_data) -> None:
    (secrets_dir(cli_env) / "audit_chain_key").write_text("another key\n")
    (secrets_dir(cli_env) / "encryption_key").write_text(Fernet.generate_key().decode() + "\n")
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 1, out.output
    assert "FAIL\taudit_chain_key\tdoes not verify audit event 1" in out.output
    assert "FAIL\tencryption_key\tdoes not decrypt a TOTP secret" in out.output
