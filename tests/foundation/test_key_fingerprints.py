"""`idhub keys check` tells another node's token hash key (and any shared key) apart by
the fingerprint recorded when the first node started: a keyed HMAC of a constant."""

from __future__ import annotations

import secrets

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idhub.app import create_app
from idhub.cli import main
from idhub.keyring import KeyMismatchError
from idhub.models import KeyFingerprint
from tests.foundation.test_keyring import cli_env, secrets_dir, with_data  # noqa: F401


def test_the_first_start_records_fingerprints_never_the_keys(app, cli_env) -> None:  # noqa: F811
    with app.extensions["idhub"].db.transaction() as session:
        stored = {row.name: row.fingerprint for row in session.scalars(select(KeyFingerprint))}
    assert {"audit_chain_key", "encryption_key", "token_hash_key"} <= set(stored)
    for name, value in stored.items():
        assert (secrets_dir(cli_env) / name).read_text().strip() not in value
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 0, out.output
    assert "ok  \ttoken_hash_key\tpresent; matches the fingerprint recorded" in out.output


def test_another_token_hash_key_is_found_and_refused(cli_env, with_data) -> None:  # noqa: F811
    (secrets_dir(cli_env) / "token_hash_key").write_text(secrets.token_urlsafe(48) + "\n")
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 1, out.output
    assert "FAIL\ttoken_hash_key\tdiffers from the key recorded" in out.output
    with pytest.raises(KeyMismatchError, match="token_hash_key"):
        create_app(cli_env)


def test_a_database_without_fingerprints_gets_them_at_the_next_start(app, cli_env) -> None:  # noqa: F811
    db = app.extensions["idhub"].db
    with db.transaction() as session:
        for row in session.scalars(select(KeyFingerprint)):
            session.delete(row)
    out = CliRunner().invoke(main, ["keys", "check"])
    assert out.exit_code == 0 and "no fingerprint recorded yet" in out.output
    create_app(cli_env).extensions["idhub"].db.dispose()
    out = CliRunner().invoke(main, ["keys", "check"])
    assert "matches the fingerprint recorded" in out.output
