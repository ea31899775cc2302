"""Administering sign-on: `idhub client create` for apps, `idhub keys rotate`,
`idhub person activation-link`, and the HR API's activation link."""

from __future__ import annotations

import json

import requests
from click.testing import CliRunner
from sqlalchemy import select

from idhub.cli import main
from idhub.models import OAuthClient, SigningKey
from tests.fixtures.sso import REDIRECT, activate, code_flow, hr_person, jwks_of, open_link


def _env(monkeypatch, settings) -> None:
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    monkeypatch.setenv("IDHUB_SSO_ISSUER", settings["sso"]["issuer"])


def test_cli_registers_a_sign_on_app_that_works(app, hub, browser, settings, monkeypatch):
    _env(monkeypatch, settings)
    runner = CliRunner()
    out = runner.invoke(
        main,
        [
            "client",
            "create",
            "--name",
            "Họp trực tuyến",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--redirect-uri",
            REDIRECT,
            "--post-logout-redirect-uri",
            "http://127.0.0.1:9/bye",
            "--backchannel-logout-uri",
            "http://127.0.0.1:9/bc",
            "--first-party",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    created = json.loads(out.stdout)
    with app.extensions["idhub"].db.transaction() as session:
        row = session.scalar(
            select(OAuthClient).where(OAuthClient.client_id == created["client_id"])
        )
        assert row.redirect_uris == [REDIRECT] and row.first_party
        assert row.grant_types == ["authorization_code", "refresh_token"]
        assert row.backchannel_logout_uri == "http://127.0.0.1:9/bc"

    class Registered:
        client_id, client_secret = created["client_id"], created["client_secret"]

    _, token, _ = code_flow(hub, browser, Registered, scope="openid profile")
    assert token["id_token"]
    public = runner.invoke(
        main,
        [
            "client",
            "create",
            "--name",
            "Ứng dụng di động",
            "--type",
            "public",
            "--grant",
            "authorization_code",
            "--scope",
            "openid",
            "--redirect-uri",
            REDIRECT,
        ],
    )
    assert public.exit_code == 0 and "PKCE" in public.output
    for bad in (
        ["--grant", "authorization_code"],  # no redirect URI
        ["--grant", "authorization_code", "--redirect-uri", "http://app.example/cb"],  # http
        ["--type", "public"],  # public with client credentials
    ):
        refused = runner.invoke(
            main, ["client", "create", "--name", "x", "--scope", "openid", *bad]
        )
        assert refused.exit_code != 0, bad


def test_cli_rotates_keys(app, hub, settings, monkeypatch):
    _env(monkeypatch, settings)
    first = {k["kid"] for k in requests.get(hub + "/oauth/jwks").json()["keys"]}
    out = CliRunner().invoke(main, ["keys", "rotate"])
    assert out.exit_code == 0 and "1 retired" in out.output
    listing = CliRunner().invoke(main, ["keys", "list"])
    assert "active" in listing.output and "retired" in listing.output
    now = {k["kid"] for k in requests.get(hub + "/oauth/jwks").json()["keys"]}
    assert first < now and len(now) == 2
    with app.extensions["idhub"].db.transaction() as session:
        assert len(session.scalars(select(SigningKey)).all()) == 2
    assert jwks_of(hub)


def test_activation_link_from_cli_and_from_the_hr_api(app, hub, api, settings, monkeypatch):
    _env(monkeypatch, settings)
    found = hr_person(api, family_name="Hà", middle_name="Thị", given_name="Quỳnh")
    out = CliRunner().invoke(main, ["person", "activation-link", found["username"]])
    assert out.exit_code == 0, out.output
    url = out.stdout.strip()
    assert url.startswith(hub + "/sso/activate#")
    from_api = api.post(f"/api/v1/people/{found['id']}/activation-link", {})
    assert from_api.status_code == 201, from_api.json
    assert from_api.json["purpose"] == "activate"
    # A newer link replaces the older one.
    assert open_link(hub, url.replace(hub, ""))[1].status_code == 404
    _, codes, response = activate(hub, from_api.json["url"].replace(hub, ""))
    assert response.status_code == 200 and len(codes) == 10
    missing = CliRunner().invoke(main, ["person", "activation-link", "khong-co"])
    assert missing.exit_code != 0 and "No person" in missing.output
    reader_refused = api.post(
        "/api/v1/people/00000000-0000-0000-0000-000000000000/activation-link", {}
    )
    assert reader_refused.status_code == 404
