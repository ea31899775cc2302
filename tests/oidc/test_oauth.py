"""The token endpoint (client credentials) and bearer protection of the API."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from idhub.models import OAuthClient, OAuthToken
from idhub.oidc.sealed import seal
from tests.conftest import register_client, token_for


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_token_with_basic_auth_and_with_form_post(app, client):
    reg = register_client(app, ["hr:read"])
    basic = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(reg.client_id, reg.client_secret),
    )
    assert basic.status_code == 200
    assert basic.json["token_type"].lower() == "bearer"
    assert basic.json["scope"] == "hr:read"
    assert basic.json["expires_in"] == 3600
    assert basic.headers["Cache-Control"] == "no-store"
    assert len(basic.json["access_token"]) >= 40
    post = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": reg.client_id,
            "client_secret": reg.client_secret,
        },
    )
    assert post.status_code == 200


def test_wrong_secret_unknown_client_and_bad_grant(app, client):
    reg = register_client(app, ["hr:read"])
    wrong = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(reg.client_id, reg.client_secret + "x"),
    )
    assert wrong.status_code == 401 and wrong.json["error"] == "invalid_client"
    unknown = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "nothing")
    )
    assert unknown.status_code == 401 and unknown.json["error"] == "invalid_client"
    bad_grant = client.post(
        "/oauth/token", data={"grant_type": "password"}, auth=(reg.client_id, reg.client_secret)
    )
    assert bad_grant.status_code == 400
    assert bad_grant.json["error"] == "unsupported_grant_type"
    no_grant = client.post("/oauth/token", auth=(reg.client_id, reg.client_secret))
    assert no_grant.status_code == 400


def test_requested_scope_is_limited_to_granted(app, client):
    reg = register_client(app, ["hr:read", "audit:read"])
    narrowed = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "hr:read"},
        auth=(reg.client_id, reg.client_secret),
    )
    assert narrowed.json["scope"] == "hr:read"
    beyond = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=(reg.client_id, reg.client_secret),
    )
    assert beyond.status_code == 400 and beyond.json["error"] == "invalid_scope"


def test_secrets_and_tokens_are_stored_as_keyed_hashes(app, client):
    reg = register_client(app, ["hr:read"])
    token = token_for(client, reg)
    db = app.extensions["idhub"].db
    with db.transaction() as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == reg.client_id))
        stored_tokens = session.scalars(select(OAuthToken.access_token_hash)).all()
    assert row.client_secret_hash != reg.client_secret
    assert len(row.client_secret_hash) == 64
    # A client's own token is sealed (idhub/oidc/sealed.py): stored nowhere, in no form.
    assert token.startswith("idc1.") and stored_tokens == []


def test_missing_bad_expired_and_revoked_tokens(app, client):
    missing = client.get("/api/v1/people")
    assert missing.status_code == 401
    assert missing.json["code"] == "missing_authorization"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    garbage = client.get("/api/v1/people", headers={"Authorization": "Bearer nonsense"})
    assert garbage.status_code == 401 and garbage.json["code"] == "invalid_token"
    basic = client.get("/api/v1/people", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401

    reg = register_client(app, ["hr:read"])
    token = token_for(client, reg)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/people", headers=headers).status_code == 200
    # Sealed tokens: an expired one (sealed with a lifetime already over), a revoked one.
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == reg.client_id))
        expired, _ = seal(hub.keyring, row, "hr:read", -1)
    assert client.get("/api/v1/people", headers=bearer(expired)).status_code == 401

    token2 = token_for(client, reg)
    revoked = client.post(
        "/oauth/revoke", data={"token": token2}, auth=(reg.client_id, reg.client_secret)
    )
    assert revoked.status_code == 200
    assert client.get("/api/v1/people", headers=bearer(token2)).status_code == 401


def test_disabled_client_gets_no_token(app, client):
    reg = register_client(app, ["hr:read"])
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(update(OAuthClient).values(disabled_at=dt.datetime.now(dt.UTC)))
    refused = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(reg.client_id, reg.client_secret),
    )
    assert refused.status_code == 401


def test_scopes_gate_each_area(app, client):
    reader = {"Authorization": f"Bearer {token_for(client, register_client(app, ['hr:read']))}"}
    auditor = {"Authorization": f"Bearer {token_for(client, register_client(app, ['audit:read']))}"}
    admin = {"Authorization": f"Bearer {token_for(client, register_client(app, ['admin']))}"}
    assert client.get("/api/v1/audit", headers=reader).status_code == 403
    assert client.get("/api/v1/audit", headers=auditor).status_code == 200
    assert client.get("/api/v1/people", headers=auditor).status_code == 403
    assert client.get("/api/v1/audit", headers=admin).status_code == 200
    body = {"code": "A", "name": "B", "type": "other", "valid_from": "2025-07-01"}
    assert client.post("/api/v1/org-units", json=body, headers=admin).status_code == 201
