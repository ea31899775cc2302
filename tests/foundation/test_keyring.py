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


# ------------------------------------------------------------------ keys shared by nodes


def test_keys_from_the_environment_or_a_file_and_never_written(tmp_path, monkeypatch) -> None:
    from idhub.keyring import Keyring

    shared = tmp_path / "shared-audit-key"
    shared.write_text("khóa-chung-của-các-máy\n")
    environ = {
        "IDHUB_KEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "IDHUB_KEY_AUDIT_CHAIN_KEY_FILE": str(shared),
    }
    first = Keyring(tmp_path / "node1", environ=environ)
    second = Keyring(tmp_path / "node2", environ=environ)
    first.ensure_all()
    second.ensure_all()
    for name in ("encryption_key", "audit_chain_key"):
        assert first.get(name) == second.get(name)
        assert not (tmp_path / "node1" / name).exists()  # given, never copied to the folder
    assert first.get("audit_chain_key") == "khóa-chung-của-các-máy"
    assert second.decrypt(first.encrypt("bí mật")) == "bí mật"
    assert first.get("token_hash_key") != second.get("token_hash_key")  # not shared: differ
    assert first.source("audit_chain_key").startswith(f"file {shared}")
    assert first.source("encryption_key") == "environment IDHUB_KEY_ENCRYPTION_KEY"
    missing = Keyring(tmp_path / "node3", environ={"IDHUB_KEY_TOKEN_HASH_KEY_FILE": "/nonexistent"})
    with pytest.raises(RuntimeError, match="IDHUB_KEY_TOKEN_HASH_KEY_FILE"):
        missing.get("token_hash_key")  # never a new key in its place


@pytest.mark.parametrize("name", ["audit_chain_key", "encryption_key"])
def test_a_node_whose_key_does_not_open_the_data_refuses_to_start(
    settings, with_data, monkeypatch, name
) -> None:
    from idhub.keyring import KeyMismatchError

    other = Fernet.generate_key().decode()  # a valid key, not the data's
    monkeypatch.setenv(f"IDHUB_KEY_{name.upper()}", other)
    with pytest.raises(KeyMismatchError) as refused:
        create_app(settings)
    assert name in str(refused.value) and other not in str(refused.value)
    monkeypatch.setenv(
        f"IDHUB_KEY_{name.upper()}", (secrets_dir(settings) / name).read_text().strip()
    )
    create_app(settings).extensions["idhub"].db.dispose()  # the shared key: it starts


def test_the_worker_refuses_to_start_with_another_nodes_key(cli_env, with_data, monkeypatch):
    monkeypatch.setenv("IDHUB_KEY_AUDIT_CHAIN_KEY", "khóa của một máy khác")
    out = CliRunner().invoke(main, ["worker", "--once"])
    assert out.exit_code != 0
    assert "do not open the data" in str(out.exception) + out.output


def test_keys_check_names_where_each_key_comes_from(cli_env, with_data, monkeypatch) -> None:
    key = (secrets_dir(cli_env) / "audit_chain_key").read_text().strip()
    (secrets_dir(cli_env) / "audit_chain_key").unlink()
    monkeypatch.setenv("IDHUB_KEY_AUDIT_CHAIN_KEY", key)
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 0, out.output
    assert "[environment IDHUB_KEY_AUDIT_CHAIN_KEY]" in out.output and key not in out.output
