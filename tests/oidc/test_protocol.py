"""The OpenID provider end to end over real HTTP: a live hub on loopback, Authlib's
OAuth2Session as the app, requests as the browser; every test on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from sqlalchemy import func, select, update

from idhub.changes.chain import Actor
from idhub.models import AuditEvent, AuthorizationCode, LoginLock, OAuthToken, SigningKey
from idhub.oidc import keys
from tests.fixtures.sso import (
    PASSWORD,
    REDIRECT,
    action_link,
    activate,
    authorize,
    code_flow,
    hr_person,
    jwks_of,
    open_link,
    query_of,
    register_app,
    sign_in,
)

# ------------------------------------------------------------------ discovery and keys


def test_discovery_and_jwks(hub):
    doc = requests.get(hub + "/.well-known/openid-configuration").json()
    assert doc["issuer"] == hub
    assert doc["authorization_endpoint"] == hub + "/oauth/authorize"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    assert doc["backchannel_logout_supported"] is True
    for name in (
        "jwks_uri",
        "token_endpoint",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ):
        assert doc[name].startswith(hub + "/oauth/")
    body = requests.get(doc["jwks_uri"]).json()
    assert len(body["keys"]) == 1
    assert set(body["keys"][0]) >= {"kty", "n", "e", "kid", "alg", "use"}
    assert "d" not in body["keys"][0]  # never the private part


def test_private_keys_are_encrypted_at_rest(app, hub):
    requests.get(hub + "/oauth/jwks")
    with app.extensions["idhub"].db.transaction() as session:
        row = session.scalar(select(SigningKey))
    assert "PRIVATE KEY" not in row.private_key_encrypted
    assert "PRIVATE KEY" in app.extensions["idhub"].keyring.decrypt(row.private_key_encrypted)


def test_rotation_keeps_old_key_verifying_and_signs_with_the_new(app, hub, browser):
    registered = register_app(app)
    _, before, _ = code_flow(hub, browser, registered)
    old_kid = jwt.decode(before["id_token"], jwks_of(hub)).header["kid"]
    with app.extensions["idhub"].db.transaction() as session:
        new, retired = keys.rotate_keys(
            session,
            app.extensions["idhub"].keyring,
            app.extensions["idhub"].audit,
            Actor("cli", "pytest"),
            overlap_s=3600,
        )
    keys.forget_cached_keys()
    assert retired == [old_kid]
    published = {k["kid"] for k in requests.get(hub + "/oauth/jwks").json()["keys"]}
    assert published == {old_kid, new.kid}
    jwt.decode(before["id_token"], jwks_of(hub))  # the old token still verifies
    _, after, _ = code_flow(hub, browser, registered, nonce="nonce-2")
    assert jwt.decode(after["id_token"], jwks_of(hub)).header["kid"] == new.kid
    # After the overlap the old key leaves JWKS.
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert {k["kid"] for k in requests.get(hub + "/oauth/jwks").json()["keys"]} == {new.kid}
    with app.extensions["idhub"].db.transaction() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert "sso.key.rotate" in actions


# ------------------------------------------------------------------ the code flow


def test_code_flow_with_pkce_id_token_and_userinfo(app, hub, browser, person):
    registered = register_app(app)
    rp, token, _ = code_flow(hub, browser, registered)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"]
    claims = jwt.decode(token["id_token"], jwks_of(hub)).claims
    assert claims["iss"] == hub and claims["aud"] == [registered.client_id]
    assert claims["sub"] == person["id"] and claims["nonce"] == "nonce-1"
    assert claims["exp"] > claims["iat"] and claims["auth_time"] <= claims["iat"]
    assert claims["sid"] and claims["amr"] == ["pwd", "otp"]
    assert claims["name"] == "Đặng Thị Ánh" and claims["preferred_username"] == person["username"]
    info = rp.get(hub + "/oauth/userinfo").json()
    assert info["sub"] == person["id"]
    assert info["name"] == "Đặng Thị Ánh"
    assert info["email"].startswith(person["username"] + "@")
    assert info["unit"] == {"code": person["unit"]["code"], "name": "Sở Nội vụ tỉnh Lai Châu"}
    assert info["position"] == "Chuyên viên chính"
    assert "staff" in info["roles"] and isinstance(info["groups"], list)
    # Tokens and codes are stored as keyed hashes only.
    with app.extensions["idhub"].db.transaction() as session:
        hashes = set(session.scalars(select(OAuthToken.access_token_hash)))
        refresh = set(session.scalars(select(OAuthToken.refresh_token_hash)))
        codes = set(session.scalars(select(AuthorizationCode.code_hash)))
    assert token["access_token"] not in hashes and token["refresh_token"] not in refresh
    assert all(len(h) == 64 for h in hashes | codes)


def test_scopes_decide_the_claims(app, hub, browser):
    registered = register_app(app)
    rp, token, _ = code_flow(hub, browser, registered, scope="openid")
    info = rp.get(hub + "/oauth/userinfo").json()
    assert set(info) == {"sub"}
    assert "name" not in jwt.decode(token["id_token"], jwks_of(hub)).claims
    rp, _, _ = code_flow(hub, browser, registered, scope="openid email", nonce="n2")
    assert set(rp.get(hub + "/oauth/userinfo").json()) == {"sub", "email", "email_verified"}


def test_public_client_needs_s256_pkce(app, hub, browser):
    registered = register_app(app, client_type="public")
    assert registered.client_secret == ""
    rp = OAuth2Session(
        registered.client_id,
        scope="openid",
        redirect_uri=REDIRECT,
        token_endpoint_auth_method="none",
    )
    response, _ = authorize(hub, browser, rp, verifier=None)  # no code_challenge at all
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    plain = browser.get(
        hub + "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": registered.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "code_challenge": "a" * 43,
            "code_challenge_method": "plain",
        },
        allow_redirects=False,
    )
    assert query_of(plain.headers["Location"])["error"] == "invalid_request"
    _, token, _ = code_flow(hub, browser, registered)  # with S256 it works, without a secret
    assert token["access_token"]


def test_confidential_clients_need_pkce_too_and_a_wrong_verifier_fails(app, hub, browser):
    registered = register_app(app)
    rp = OAuth2Session(
        registered.client_id, registered.client_secret, scope="openid", redirect_uri=REDIRECT
    )
    response, _ = authorize(hub, browser, rp, verifier=None)
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    response, _ = authorize(hub, browser, rp, verifier=generate_token(48), nonce="x")
    with pytest.raises(OAuthError) as wrong:
        rp.fetch_token(
            hub + "/oauth/token",
            authorization_response=response.headers["Location"],
            code_verifier=generate_token(48),
        )
    assert wrong.value.error == "invalid_grant"


def test_redirect_uri_must_match_exactly(app, hub, browser):
    registered = register_app(app)
    for uri in (REDIRECT + "/", REDIRECT + "?x=1", REDIRECT.upper(), "http://127.0.0.1:9/cb2"):
        response = browser.get(
            hub + "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": registered.client_id,
                "redirect_uri": uri,
                "scope": "openid",
                "state": "s",
            },
            allow_redirects=False,
        )
        assert response.status_code == 400, uri  # shown to the user, never redirected
        assert "Location" not in response.headers


def test_reused_code_fails_and_revokes_what_it_issued(app, hub, browser):
    registered = register_app(app)
    rp, token, location = code_flow(hub, browser, registered)
    assert rp.get(hub + "/oauth/userinfo").status_code == 200
    again = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(location)["code"],
            "redirect_uri": REDIRECT,
        },
        auth=(registered.client_id, registered.client_secret),
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert rp.get(hub + "/oauth/userinfo").status_code == 401
    refreshed = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
        },
        auth=(registered.client_id, registered.client_secret),
    )
    assert refreshed.status_code == 400


def test_expired_code_and_wrong_secret(app, hub, browser):
    registered = register_app(app)
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    response, _ = authorize(hub, browser, rp, verifier=verifier)
    code = query_of(response.headers["Location"])["code"]
    wrong = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(registered.client_id, registered.client_secret + "x"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(
            update(AuthorizationCode).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    expired = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(registered.client_id, registered.client_secret),
    )
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_nonce_is_not_accepted_twice(app, hub, browser):
    registered = register_app(app)
    code_flow(hub, browser, registered, nonce="same")
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    response, _ = authorize(hub, browser, rp, verifier=generate_token(48), nonce="same")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_not_signed_in_goes_to_the_login_page_and_back(app, hub, person):
    registered = register_app(app)
    browser = requests.Session()
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    response, state = authorize(hub, browser, rp, verifier=generate_token(48))
    assert response.status_code == 303 and "/sso/login?next=" in response.headers["Location"]
    next_url = query_of(response.headers["Location"])["next"]
    assert next_url.startswith("/oauth/authorize?")
    done = sign_in(
        hub, person["username"], PASSWORD, person["secret"], browser=browser, next_url=next_url
    )
    assert done.headers["Location"] == next_url
    back = browser.get(hub + next_url, allow_redirects=False)
    assert back.status_code == 302 and query_of(back.headers["Location"])["state"] == state


def test_prompt_and_max_age(app, hub, browser, person):
    registered = register_app(app)
    base = {
        "response_type": "code",
        "client_id": registered.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "code_challenge": "a" * 43,  # PKCE is required of every client
        "code_challenge_method": "S256",
    }
    silent = requests.get(
        hub + "/oauth/authorize", params={**base, "prompt": "none"}, allow_redirects=False
    )
    assert query_of(silent.headers["Location"])["error"] == "login_required"
    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        again = browser.get(
            hub + "/oauth/authorize", params={**base, **extra}, allow_redirects=False
        )
        assert again.status_code == 303 and "/sso/login?next=" in again.headers["Location"]
        assert "prompt" not in query_of(again.headers["Location"])["next"]
    fresh = browser.get(
        hub + "/oauth/authorize", params={**base, "max_age": "3600"}, allow_redirects=False
    )
    assert fresh.status_code == 302 and "code" in query_of(fresh.headers["Location"])


def test_consent_for_a_third_party_app(app, hub, browser):
    registered = register_app(app, first_party=False, name="Ứng dụng đối tác")
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope="openid email",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    response, _ = authorize(hub, browser, rp, verifier=generate_token(48))
    assert response.status_code == 200 and "Ứng dụng đối tác" in response.text
    # The form may end at the app's registered redirect URI, and nowhere else.
    assert response.headers["Content-Security-Policy"].endswith(
        "form-action 'self' http://127.0.0.1:9"
    )
    from tests.fixtures.sso import form_fields

    action = response.url.replace(hub, "")
    denied = browser.post(
        hub + action, data={**form_fields(response.text), "decision": "deny"}, allow_redirects=False
    )
    assert query_of(denied.headers["Location"])["error"] == "access_denied"
    allowed = browser.post(
        hub + action,
        data={**form_fields(response.text), "decision": "allow"},
        allow_redirects=False,
    )
    assert "code" in query_of(allowed.headers["Location"])
    again, _ = authorize(hub, browser, rp, verifier=generate_token(48))
    assert again.status_code == 302  # remembered


# ------------------------------------------------------------- refresh, introspection, revocation


def test_refresh_rotates_and_reuse_revokes_the_family(app, hub, browser):
    registered = register_app(app)
    rp, first, _ = code_flow(hub, browser, registered)
    second = rp.refresh_token(hub + "/oauth/token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert rp.get(hub + "/oauth/userinfo").status_code == 200
    stolen = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
        },
        auth=(registered.client_id, registered.client_secret),
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    # The whole family is gone: the newest access and refresh tokens too.
    assert rp.get(hub + "/oauth/userinfo").status_code == 401
    latest = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": second["refresh_token"],
        },
        auth=(registered.client_id, registered.client_secret),
    )
    assert latest.status_code == 400
    with app.extensions["idhub"].db.transaction() as session:
        assert (
            session.scalar(select(func.count()).where(AuditEvent.action == "sso.refresh.reused"))
            == 1
        )


def test_introspection_and_revocation(app, hub, browser, person):
    registered = register_app(app)
    other = register_app(app, name="Họp trực tuyến")
    _, token, _ = code_flow(hub, browser, registered)
    auth = (registered.client_id, registered.client_secret)
    body = requests.post(
        hub + "/oauth/introspect", data={"token": token["access_token"]}, auth=auth
    ).json()
    assert body["active"] is True and body["sub"] == person["id"]
    assert body["client_id"] == registered.client_id and body["username"] == person["username"]
    # Another app may not look into this app's tokens.
    foreign = requests.post(
        hub + "/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(other.client_id, other.client_secret),
    ).json()
    assert foreign == {"active": False}
    refresh = requests.post(
        hub + "/oauth/introspect",
        data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
        auth=auth,
    ).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    revoked = requests.post(
        hub + "/oauth/revoke",
        data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
        auth=auth,
    )
    assert revoked.status_code == 200
    for value in (token["access_token"], token["refresh_token"]):
        assert requests.post(
            hub + "/oauth/introspect", data={"token": value}, auth=auth
        ).json() == {"active": False}
    garbage = requests.post(hub + "/oauth/introspect", data={"token": "nonsense"}, auth=auth)
    assert garbage.json() == {"active": False}


# ------------------------------------------------------------------ sign-in failures


def test_wrong_password_and_unknown_user_look_the_same(app, hub, person):
    wrong = sign_in(hub, person["username"], PASSWORD + "x", None)
    unknown = sign_in(hub, "khongcoai", PASSWORD, None)
    assert wrong.status_code == unknown.status_code == 401
    assert "Đăng nhập không thành công" in wrong.text
    strip = lambda page: page.replace(person["username"], "").replace("khongcoai", "")  # noqa: E731
    assert strip(wrong.text).split("csrf_token")[0] == strip(unknown.text).split("csrf_token")[0]


def test_login_by_mail_address_and_english(app, hub, person):
    registered = register_app(app)
    browser = requests.Session()
    response = sign_in(hub, person["username"], PASSWORD, person["secret"], browser=browser)
    assert response.status_code == 303
    rp, _, _ = code_flow(hub, browser, registered, scope="openid email")
    mail = rp.get(hub + "/oauth/userinfo").json()["email"]
    assert mail == f"{person['username']}@snv.laichau.gov.vn"
    second = sign_in(hub, mail.upper(), PASSWORD, person["secret"], step=1)
    assert second.status_code == 303
    assert sign_in(hub, "someone@snv.laichau.gov.vn", PASSWORD, None).status_code == 401
    vietnamese = requests.get(hub + "/sso/login")
    assert "Đăng nhập" in vietnamese.text and 'lang="vi"' in vietnamese.text
    english = requests.get(hub + "/sso/login?lang=en")
    assert "Sign in" in english.text and 'lang="en"' in english.text
    assert "Đăng nhập" not in english.text.split("<nav")[0]
    remembered = requests.get(hub + "/sso/login", cookies=english.cookies)
    assert 'lang="en"' in remembered.text  # the choice is kept in a cookie
    by_header = requests.get(hub + "/sso/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Sign in" in by_header.text


def test_wrong_and_replayed_totp(app, hub, person):
    browser = requests.Session()
    wrong = sign_in(hub, person["username"], PASSWORD, None, browser=browser)
    assert wrong.status_code == 303
    from tests.fixtures.sso import code_at, form_fields

    page = browser.get(hub + "/sso/login/code")
    bad = browser.post(
        hub + "/sso/login/code",
        data={
            **form_fields(page.text),
            "code": "000000" if code_at(person["secret"]) != "000000" else "111111",
        },
        allow_redirects=False,
    )
    assert bad.status_code == 401
    ok = sign_in(hub, person["username"], PASSWORD, person["secret"], step=0)
    assert ok.status_code == 303
    replay = sign_in(hub, person["username"], PASSWORD, person["secret"], step=0)
    assert replay.status_code == 401  # the same code is not accepted twice
    older = sign_in(hub, person["username"], PASSWORD, person["secret"], step=-1)
    assert older.status_code == 401


def test_recovery_code_works_once(app, hub, person):
    code = person["recovery_codes"][0]
    browser = requests.Session()
    from tests.fixtures.sso import form_fields

    def use() -> int:
        assert sign_in(hub, person["username"], PASSWORD, None, browser=browser).status_code == 303
        page = browser.get(hub + "/sso/login/code")
        return browser.post(
            hub + "/sso/login/code",
            data={**form_fields(page.text), "code": code},
            allow_redirects=False,
        ).status_code

    assert use() == 303
    assert use() == 401


def test_lockout_after_five_failures(app, hub, person):
    for _ in range(5):
        assert sign_in(hub, person["username"], "sai mật khẩu rồi", None).status_code == 401
    locked = sign_in(hub, person["username"], PASSWORD, person["secret"])
    assert locked.status_code == 401  # the right password, but locked here: same message
    with app.extensions["idhub"].db.transaction() as session:
        row = session.scalar(
            select(LoginLock).where(LoginLock.person_id == uuid.UUID(person["id"]))
        )
        assert row.source == "127.0.0.1" and row.locked_until is not None
        row.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert sign_in(hub, person["username"], PASSWORD, person["secret"]).status_code == 303


@pytest.mark.sso(ip_failures_per_window=3)
def test_per_address_throttle(app, hub, person):
    for _ in range(3):
        assert sign_in(hub, "ai-do", "mat khau sai", None).status_code == 401
    throttled = sign_in(hub, person["username"], PASSWORD, person["secret"])
    assert throttled.status_code == 429


def test_disabled_person_cannot_sign_in(app, hub, api, person):
    assert (
        api.patch_fresh(f"/api/v1/people/{person['id']}", {"status": "suspended"}).status_code
        == 200
    )
    assert sign_in(hub, person["username"], PASSWORD, person["secret"]).status_code == 401


def test_forms_need_the_csrf_token(app, hub, person):
    response = requests.post(
        hub + "/sso/login", data={"username": person["username"], "password": PASSWORD}
    )
    assert response.status_code == 400


def test_security_headers_and_cookies(app, hub, browser):
    page = browser.get(hub + "/account/sessions")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script" not in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    cookie = next(c for c in browser.cookies if c.name == "idhub_session")
    assert cookie.has_nonstandard_attr("HttpOnly") or cookie._rest.get("HttpOnly") is not None


# ------------------------------------------------------------------ activation rules


def test_activation_link_rules(app, hub, api):
    found = hr_person(api, family_name="Nguyễn", middle_name="Văn", given_name="Trường")
    path = action_link(app, found["id"])
    _, _, short = activate(hub, path, "ngắn quá")
    assert short.status_code == 400
    _, _, named = activate(hub, path, "truong-rat-an-toan-2026")  # folded given name inside
    assert named.status_code == 400
    _, codes, ok = activate(hub, path)
    assert ok.status_code == 200 and len(codes) == 10
    assert open_link(hub, path)[1].status_code == 404  # used once
    assert open_link(hub, "/sso/activate#not-a-token")[1].status_code == 404
