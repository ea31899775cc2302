"""The `idhub` command: every command documents itself with an example; the main flows work."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from idhub.cli import main


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def test_top_level_help_lists_every_command():
    out = CliRunner().invoke(main, ["--help"])
    assert out.exit_code == 0
    for name in main.commands:
        assert name in out.output


@pytest.mark.parametrize(
    "path",
    [p for p, c in all_commands(main) if not isinstance(c, click.Group)],
    ids=lambda p: " ".join(p),
)
def test_each_command_help_has_an_example(path):
    out = CliRunner().invoke(main, [*path, "--help"])
    assert out.exit_code == 0
    assert "Example" in out.output, out.output


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    return settings


def test_client_create_prints_secret_once_and_it_works(cli_env, app, client):
    runner = CliRunner()
    out = runner.invoke(
        main, ["client", "create", "--name", "HR sync", "--scope", "hr:read", "--json"]
    )
    assert out.exit_code == 0, out.output
    created = json.loads(out.stdout)
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert token.status_code == 200
    listing = runner.invoke(main, ["client", "list"])
    assert created["client_id"] in listing.output
    assert created["client_secret"] not in listing.output
    bad = runner.invoke(main, ["client", "create", "--name", "x", "--scope", "root"])
    assert bad.exit_code != 0 and "Unknown scope" in bad.output


def test_db_current_and_demo_refuses_twice(cli_env):
    runner = CliRunner()
    current = runner.invoke(main, ["db", "current"])
    assert current.exit_code == 0 and "upgrade needed" not in current.output
    first = runner.invoke(main, ["demo", "load", "--staff", "40", "--seed", "7"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["demo", "load", "--staff", "40"])
    assert second.exit_code != 0
    verify = runner.invoke(main, ["audit", "verify"])
    assert verify.exit_code == 0 and "intact" in verify.output


def test_bad_configuration_is_a_clear_error(monkeypatch, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n")
    monkeypatch.setenv("IDHUB_CONFIG", str(bad))
    out = CliRunner().invoke(main, ["db", "current"])
    assert out.exit_code != 0 and "nonsense" in out.output
