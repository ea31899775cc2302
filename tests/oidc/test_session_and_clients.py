"""Issue 17, weakness 11: idle timeout, HSTS over HTTPS, disabling a client (and its
tokens), PKCE for every client, `iss` in the authorization response (RFC 9207), refresh
tokens only with offline_access (or a client's setting) and a short family lifetime."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from click.testing import CliRunner
from sqlalchemy import select, update

from idhub.cli import main
from idhub.models import AuditEvent, OAuthToken, SsoSession
from tests.fixtures.sso import REDIRECT, authorize, code_flow, query_of, register_app

# ------------------------------------------------------------------ idle timeout


def _age_sessions(app, seconds: float) -> None:
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(
            update(SsoSession).values(
                last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
            )
        )


def _last_seen(app) -> dt.datetime:
    with app.extensions["idhub"].db.transaction() as session:
        return session.scalar(select(SsoSession.last_seen_at))


def test_an_idle_session_ends(app, hub, browser, settings):
    idle = settings["sso"].get("session_idle_s", 1800)
    assert idle == 1800  # 30 minutes for staff by default
    _age_sessions(app, idle + 1)
    page = browser.get(hub + "/account/sessions", allow_redirects=False)
    assert page.status_code == 303 and page.headers["Location"].startswith("/sso/login")


def test_use_moves_last_seen_at_most_once_a_minute(app, hub, browser, settings):
    _age_sessions(app, 20)
    before = _last_seen(app)
    assert browser.get(hub + "/account/sessions").status_code == 200
    assert _last_seen(app) == before  # within the minute: no write
    _age_sessions(app, settings["sso"].get("session_idle_s", 1800) - 60)
    assert browser.get(hub + "/account/sessions").status_code == 200
    assert (dt.datetime.now(dt.UTC) - _last_seen(app)).total_seconds() < 30
    # So a session in use outlives the idle limit.
    _age_sessions(app, 120)
    assert browser.get(hub + "/account/sessions").status_code == 200


# ------------------------------------------------------------------ HSTS


@pytest.mark.server(trusted_proxies=["127.0.0.1/32"])
def test_hsts_when_the_trusted_proxy_says_https(app, hub):
    secure = requests.get(hub + "/sso/login", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in requests.get(hub + "/sso/login").headers


@pytest.mark.server(trusted_proxies=["10.9.9.0/24"])
def test_no_hsts_when_an_untrusted_peer_claims_https(app, hub):
    claimed = requests.get(hub + "/sso/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in claimed.headers


# ------------------------------------------------------------------ disabling a client


def test_a_disabled_clients_tokens_stop_working(app, hub, browser, settings, monkeypatch):
    registered = register_app(app)
    resource = register_app(app, name="Máy chủ tài nguyên", scopes=["introspect"])
    rp, token, _ = code_flow(hub, browser, registered)
    assert rp.get(hub + "/oauth/userinfo").status_code == 200
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    out = CliRunner().invoke(main, ["client", "disable", registered.client_id])
    assert out.exit_code == 0, out.output
    assert "disabled" in out.output
    # Bearer refused, introspection inactive, refresh refused.
    assert rp.get(hub + "/oauth/userinfo").status_code == 401
    resource_auth = (resource.client_id, resource.client_secret)
    for value in (token["access_token"], token["refresh_token"]):
        body = requests.post(hub + "/oauth/introspect", data={"token": value}, auth=resource_auth)
        assert body.json() == {"active": False}
    refreshed = requests.post(
        hub + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(registered.client_id, registered.client_secret),
    )
    assert refreshed.status_code in (400, 401) and refreshed.json()["error"] in (
        "invalid_client",
        "invalid_grant",
    )
    with app.extensions["idhub"].db.transaction() as session:
        assert session.scalar(
            select(AuditEvent).where(AuditEvent.action == "oauth_client.disable")
        ).after == {"tokens_revoked": 1}
    unknown = CliRunner().invoke(main, ["client", "disable", "idh_nobody"])
    assert unknown.exit_code != 0


def test_a_disabled_api_clients_token_is_refused(app, client, settings, monkeypatch):
    from tests.conftest import register_client, token_for

    registered = register_client(app, ["hr:read"], name="HR reader")
    token = token_for(client, registered)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/people", headers=headers).status_code == 200
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    out = CliRunner().invoke(main, ["client", "disable", registered.client_id])
    assert out.exit_code == 0, out.output
    assert client.get("/api/v1/people", headers=headers).status_code == 401


# ------------------------------------------------------------------ iss (RFC 9207)


def test_the_authorization_response_names_the_issuer(app, hub, browser):
    registered = register_app(app)
    _, _, location = code_flow(hub, browser, registered)
    assert query_of(location)["iss"] == hub
    silent = requests.get(
        hub + "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": registered.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "prompt": "none",
            "code_challenge": "a" * 43,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
    )
    error = query_of(silent.headers["Location"])
    assert error["error"] == "login_required" and error["iss"] == hub
    denied, _ = authorize(
        hub,
        browser,
        OAuth2Session(registered.client_id, registered.client_secret, redirect_uri=REDIRECT),
        verifier=None,
    )
    assert query_of(denied.headers["Location"])["iss"] == hub


# ------------------------------------------------------------------ refresh tokens


def _family_lifetime(app, client_id: str) -> float:
    with app.extensions["idhub"].db.transaction() as session:
        row = session.scalar(
            select(OAuthToken)
            .where(OAuthToken.client_id == client_id, OAuthToken.refresh_token_hash.isnot(None))
            .order_by(OAuthToken.id.desc())
        )
    return (row.refresh_expires_at - row.issued_at).total_seconds()


def test_refresh_tokens_only_for_offline_access(app, hub, browser):
    registered = register_app(app)
    _, online, _ = code_flow(hub, browser, registered, scope="openid profile")
    assert "refresh_token" not in online
    _, offline, _ = code_flow(hub, browser, registered, nonce="n2")  # asks offline_access
    assert offline["refresh_token"]
    assert _family_lifetime(app, registered.client_id) == pytest.approx(8 * 3600, abs=5)


def test_a_client_may_refresh_without_offline_access_and_set_its_lifetime(app, hub, browser):
    registered = register_app(app, refresh_without_offline=True, refresh_token_ttl_s=3600)
    _, token, _ = code_flow(hub, browser, registered, scope="openid profile")
    assert token["refresh_token"]
    assert _family_lifetime(app, registered.client_id) == pytest.approx(3600, abs=5)


def test_every_client_needs_pkce(app, hub, browser):
    registered = register_app(app)
    response = browser.get(
        hub + "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": registered.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "s",
        },
        allow_redirects=False,
    )
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    ok, _ = authorize(hub, browser, rp, verifier=generate_token(48))
    assert "code" in query_of(ok.headers["Location"])
