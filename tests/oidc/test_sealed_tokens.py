"""Sealed client-credential access tokens (idhub/oidc/sealed.py): issued without writing,
opened by the bearer check, introspection and revocation with every guarantee a stored
token had: seal, expiry, revocation (deny-list), a disabled, deleted or re-keyed client."""

from __future__ import annotations

import base64
import json
import logging

from sqlalchemy import delete, func, select, update

from idhub.changes.chain import Actor
from idhub.keyring import Keyring
from idhub.models import OAuthClient, OAuthToken, TokenDenylist
from idhub.oidc.clients import set_client_disabled
from idhub.oidc.sealed import PREFIX, seal
from tests.conftest import register_client, token_for


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def people(client, token: str) -> int:
    return client.get("/api/v1/people", headers=bearer(token)).status_code


def client_row(app, client_id: str) -> OAuthClient:
    with app.extensions["idhub"].db.transaction() as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        session.expunge(row)
    return row


def counts(app) -> tuple[int, int]:
    with app.extensions["idhub"].db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(OAuthToken)),
            session.scalar(select(func.count()).select_from(TokenDenylist)),
        )


def test_a_sealed_token_is_accepted_and_nothing_is_written(app, client):
    reg = register_client(app, ["hr:read"])
    before = counts(app)
    tokens = [token_for(client, reg) for _ in range(3)]
    assert counts(app) == before == (0, 0)  # no token row, no deny-list row
    assert all(t.startswith(PREFIX) for t in tokens) and len(set(tokens)) == 3
    payload = json.loads(base64.urlsafe_b64decode(tokens[0].split(".")[1] + "=="))
    assert payload["c"] == reg.client_id and payload["s"] == "hr:read"
    assert payload["e"] - payload["i"] == 3600_000 and len(payload["j"]) >= 22
    assert people(client, tokens[0]) == 200


def test_altered_byte_wrong_key_and_expired_are_refused(app, client, tmp_path):
    reg = register_client(app, ["hr:read"])
    token = token_for(client, reg)
    body, mac = token.rsplit(".", 1)
    for i in (len(PREFIX) + 3, len(body) - 2):  # a byte of the payload
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert people(client, f"{flipped}.{mac}") == 401
    assert people(client, f"{body}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}") == 401
    assert people(client, body) == 401 and people(client, PREFIX + "x.y") == 401
    # The same payload sealed with another key (its id too): refused.
    row = client_row(app, reg.client_id)
    stranger, _ = seal(Keyring(tmp_path / "other-keys"), row, "hr:read", 3600)
    assert people(client, stranger) == 401
    expired, _ = seal(app.extensions["idhub"].keyring, row, "hr:read", -1)
    assert people(client, expired) == 401
    assert people(client, token) == 200


def test_revoked_token_is_denied_until_it_expires(app, client):
    reg = register_client(app, ["hr:read"])
    auth = (reg.client_id, reg.client_secret)
    token, other = token_for(client, reg), token_for(client, reg)
    other_client = register_client(app, ["hr:read"], name="another")
    # Only the client a token was issued to revokes it (RFC 7009 2.1).
    foreign = client.post(
        "/oauth/revoke",
        data={"token": token},
        auth=(other_client.client_id, other_client.client_secret),
    )
    assert foreign.status_code in (400, 401) and people(client, token) == 200
    assert client.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert people(client, token) == 401
    assert people(client, other) == 200  # the client's other tokens stand
    assert counts(app) == (0, 1)
    # Revoking again (or an expired token's entry) adds nothing.
    assert client.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert counts(app) == (0, 1)


def test_disabled_deleted_or_rekeyed_client_is_refused_at_once(app, client):
    hub = app.extensions["idhub"]
    reg = register_client(app, ["hr:read"])
    token = token_for(client, reg)
    with hub.db.transaction() as session:
        set_client_disabled(
            session, hub.audit, Actor("cli", "pytest"), reg.client_id, disabled=True
        )
    assert people(client, token) == 401
    with hub.db.transaction() as session:
        set_client_disabled(
            session, hub.audit, Actor("cli", "pytest"), reg.client_id, disabled=False
        )
    assert people(client, token) == 401  # enabling it again does not revive its tokens
    fresh = token_for(client, reg)
    assert people(client, fresh) == 200
    # A new secret ends the tokens of the old one.
    with hub.db.transaction() as session:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == reg.client_id)
            .values(client_secret_hash=hub.keyring.token_hash("a new secret"))
        )
    assert people(client, fresh) == 401
    # A deleted client's tokens.
    second = register_client(app, ["hr:read"], name="deleted")
    gone = token_for(client, second)
    with hub.db.transaction() as session:
        session.execute(delete(OAuthClient).where(OAuthClient.client_id == second.client_id))
    assert people(client, gone) == 401


def test_introspection_answers_for_sealed_tokens(app, client):
    reg = register_client(app, ["hr:read"])
    auth = (reg.client_id, reg.client_secret)
    token = token_for(client, reg)
    active = client.post("/oauth/introspect", data={"token": token}, auth=auth).json
    assert active["active"] is True and active["client_id"] == reg.client_id
    assert active["scope"] == "hr:read" and active["token_type"] == "Bearer"
    assert active["exp"] - active["iat"] == 3600 and "sub" not in active
    # Another client may not look at it (without "introspect"): inactive.
    other = register_client(app, ["hr:read"], name="other")
    peek = client.post(
        "/oauth/introspect", data={"token": token}, auth=(other.client_id, other.client_secret)
    )
    assert peek.json == {"active": False} or peek.status_code in (400, 401)
    expired, _ = seal(app.extensions["idhub"].keyring, client_row(app, reg.client_id), "", -1)
    altered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    client.post("/oauth/revoke", data={"token": token}, auth=auth)
    for value in (token, expired, altered):
        answer = client.post("/oauth/introspect", data={"token": value}, auth=auth)
        assert answer.json == {"active": False}


def test_a_key_rotation_keeps_the_old_key_for_one_token_lifetime(app, client):
    keyring = app.extensions["idhub"].keyring
    reg = register_client(app, ["hr:read"])
    old_token = token_for(client, reg)
    old_key = keyring.get("token_seal_key")
    path = keyring.directory / "token_seal_key"
    path.write_text("a-new-key-of-enough-length-0123456789abcdefghijkl\n" + old_key + "\n")
    keyring._cache.pop("token_seal_key")
    new_token = token_for(client, reg)
    assert (
        json.loads(base64.urlsafe_b64decode(new_token.split(".")[1] + "=="))["k"]
        != (json.loads(base64.urlsafe_b64decode(old_token.split(".")[1] + "=="))["k"])
    )
    assert people(client, old_token) == 200 and people(client, new_token) == 200
    path.write_text("a-new-key-of-enough-length-0123456789abcdefghijkl\n")  # the old key dropped
    keyring._cache.pop("token_seal_key")
    assert people(client, old_token) == 401 and people(client, new_token) == 200


def test_no_token_in_the_logs(app, client, caplog):
    reg = register_client(app, ["hr:read"])
    with caplog.at_level(logging.DEBUG):
        token = token_for(client, reg)
        people(client, token)
        client.post("/oauth/revoke", data={"token": token}, auth=(reg.client_id, reg.client_secret))
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "token issued" in logged
    assert token not in logged and token.rsplit(".", 1)[1] not in logged


def test_the_plain_exchange_and_authlibs_grant_agree(app, client):
    """A plainly valid request is answered without Authlib's request objects; anything
    else by Authlib's grant: the same tokens and the same refusals either way."""
    reg = register_client(app, ["hr:read", "audit:read"])
    auth = (reg.client_id, reg.client_secret)

    def exchange(data: dict, **kwargs) -> tuple[int, dict]:
        response = client.post(
            "/oauth/token", data={"grant_type": "client_credentials", **data}, **kwargs
        )
        return response.status_code, response.json

    plain = exchange({"scope": "hr:read"}, auth=auth)
    other = exchange({"scope": "hr:read", "note": "x"}, auth=auth)  # through Authlib
    posted = exchange({"client_id": reg.client_id, "client_secret": reg.client_secret})
    for status, body in (plain, other):
        assert status == 200 and body["scope"] == "hr:read" and body["expires_in"] == 3600
        assert people(client, body["access_token"]) == 200
    assert posted[0] == 200 and posted[1]["scope"] == "audit:read hr:read"
    assert exchange({"scope": "admin"}, auth=auth)[1]["error"] == "invalid_scope"
    assert exchange({"scope": "nonsense"}, auth=auth)[1]["error"] == "invalid_scope"
    wrong = exchange({}, auth=(reg.client_id, "wrong"))
    assert wrong[0] == 401 and wrong[1]["error"] == "invalid_client"
    # A sign-on app (no client-credentials grant) is refused by either path.
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == reg.client_id)
            .values(grant_types=["authorization_code"])
        )
    refused = exchange({}, auth=auth)
    assert refused[0] in (400, 401) and refused[1]["error"] == "unauthorized_client"
