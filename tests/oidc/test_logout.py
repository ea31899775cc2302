"""Ending sign-on: RP-initiated logout, back-channel logout, the person's own sessions page,
and a leaver converged to disabled by the provisioning worker; passwords reach LDAP."""

from __future__ import annotations

import datetime as dt
import uuid

import ldap
import pytest
import requests
from joserfc import jwt
from sqlalchemy import select

from idhub.models import AuditEvent, OAuthToken, SsoSession
from idhub.oidc.logout import LeaverHook, decode_logout_token
from tests.fixtures.provisioning import drain, entry, make_worker
from tests.fixtures.sso import (
    PASSWORD,
    Receiver,
    action_link,
    activate,
    code_flow,
    form_fields,
    hr_person,
    jwks_of,
    register_app,
    sign_in,
)

LOGGED_OUT = "http://127.0.0.1:9/logged-out"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def _signed_in_account(browser, hub) -> bool:
    response = browser.get(hub + "/account/sessions", allow_redirects=False)
    return response.status_code == 200


def test_rp_initiated_logout_with_back_channel(app, hub, browser, receiver, person):
    registered = register_app(
        app, post_logout_redirect_uris=[LOGGED_OUT], backchannel_logout_uri=receiver.url
    )
    other = register_app(app, name="Họp trực tuyến", backchannel_logout_uri=receiver.url)
    rp, token, _ = code_flow(hub, browser, registered)
    code_flow(hub, browser, other, nonce="n-other")
    sid = jwt.decode(token["id_token"], jwks_of(hub)).claims["sid"]
    params = {
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": LOGGED_OUT,
        "state": "sau-khi-thoat",
    }
    confirm = browser.get(hub + "/oauth/logout", params=params)
    assert confirm.status_code == 200 and "Đăng xuất" in confirm.text
    done = browser.post(
        hub + "/oauth/logout", data=form_fields(confirm.text), allow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["Location"] == LOGGED_OUT + "?state=sau-khi-thoat"
    assert not _signed_in_account(browser, hub)
    assert rp.get(hub + "/oauth/userinfo").status_code == 401  # the session's tokens ended
    # Both apps that took part in the session got a logout token for it.
    keyset = requests.get(hub + "/oauth/jwks").json()
    claims = [decode_logout_token(t, keyset) for t in receiver.wait_for(2)]
    assert sorted(c["aud"] for c in claims) == sorted([registered.client_id, other.client_id])
    for c in claims:
        assert c["sid"] == sid and c["sub"] == person["id"] and EVENT in c["events"]
        assert c["iss"] == hub and "nonce" not in c


def test_logout_refuses_an_unregistered_post_logout_uri(app, hub, browser):
    registered = register_app(app, post_logout_redirect_uris=[LOGGED_OUT])
    _, token, _ = code_flow(hub, browser, registered)
    for uri in (LOGGED_OUT + "/", "http://127.0.0.1:9/elsewhere"):
        response = browser.get(
            hub + "/oauth/logout",
            params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": uri},
            allow_redirects=False,
        )
        assert response.status_code == 400 and "Location" not in response.headers
    forged = browser.get(
        hub + "/oauth/logout",
        params={"id_token_hint": token["id_token"][:-4] + "AAAA"},
        allow_redirects=False,
    )
    assert forged.status_code == 400
    assert _signed_in_account(browser, hub)  # nothing was ended


def test_person_lists_and_ends_own_sessions(app, hub, person):
    first, second = requests.Session(), requests.Session()
    assert (
        sign_in(
            hub, person["username"], PASSWORD, person["secret"], browser=first, step=0
        ).status_code
        == 303
    )
    assert (
        sign_in(
            hub, person["username"], PASSWORD, person["secret"], browser=second, step=1
        ).status_code
        == 303
    )
    registered = register_app(app, name="Nhân sự")
    code_flow(hub, second, registered)
    page = first.get(hub + "/account/sessions")
    assert page.text.count("data-session=") == 2 and "Nhân sự" in page.text
    with app.extensions["idhub"].db.transaction() as session:
        mine = session.scalars(select(SsoSession).order_by(SsoSession.created_at)).all()
    other_id = str(mine[1].id)
    ended = first.post(
        hub + "/account/sessions/end", data={**form_fields(page.text), "session": other_id}
    )
    assert ended.status_code == 200
    assert not _signed_in_account(second, hub)
    assert _signed_in_account(first, hub)
    everywhere = first.post(
        hub + "/account/sessions/end", data={**form_fields(page.text), "session": "all"}
    )
    assert everywhere.url.startswith(hub + "/sso/login")
    with app.extensions["idhub"].db.transaction() as session:
        live_tokens = select(OAuthToken).where(
            OAuthToken.revoked_at.is_(None), OAuthToken.person_id.is_not(None)
        )
        assert session.scalar(live_tokens) is None
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("sso.sessions.end") == 2


def test_password_reaches_the_directory(app, hub, api):
    found = hr_person(api, family_name="Lò", middle_name="Văn", given_name="Pấng")
    drain(app)  # the worker made the directory entry
    _, _, response = activate(hub, action_link(app, found["id"]))
    assert response.status_code == 200
    drain(app)  # the password follows on the converge path
    dn, attrs = entry(app, found["id"])
    assert attrs["userPassword"][0].startswith("{ARGON2}$argon2id$")
    conn = ldap.initialize(app.extensions["idhub"].connectors.ldap_config.url)
    conn.simple_bind_s(dn, PASSWORD)  # slapd's argon2 module verifies argon2-cffi's hash
    conn.unbind_s()
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        ldap.initialize(app.extensions["idhub"].connectors.ldap_config.url).simple_bind_s(dn, "sai")


def test_password_reset_link_ends_sessions(app, hub, browser, person):
    _, _, response = activate(  # a lost-phone reset: the password proves who it is
        hub,
        action_link(app, person["id"], "reset"),
        "Một mật khẩu mới rất dài 2027",
        extra={"proof": PASSWORD},
    )
    assert response.status_code == 200
    assert not _signed_in_account(browser, hub)
    assert sign_in(hub, person["username"], PASSWORD, None).status_code == 401


def test_leaver_loses_sessions_tokens_and_apps_are_told(app, hub, api, browser, receiver, person):
    registered = register_app(app, backchannel_logout_uri=receiver.url)
    rp, token, _ = code_flow(hub, browser, registered)
    worker = make_worker(app)
    worker.target.on_disabled = LeaverHook(
        app.extensions["idhub"].db,
        app.extensions["idhub"].audit,
        app.extensions["idhub"].keyring,
        app.extensions["idhub"].settings,
    )
    try:
        while worker.run_once():
            pass
        assert rp.get(hub + "/oauth/userinfo").status_code == 200  # still employed
        assert receiver.tokens == []
        posts = api.get(f"/api/v1/people/{person['id']}/assignments").json
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        ended = api.post(
            f"/api/v1/assignments/{posts[0]['id']}/end",
            {"end_date": yesterday, "reason": "Chuyển công tác"},
        )
        assert ended.status_code == 200, ended.json
        while worker.run_once():
            pass
    finally:
        worker.target.connector.close()
    assert entry(app, person["id"])[1]["idhubAccountStatus"] == ["disabled"]
    assert not _signed_in_account(browser, hub)
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
    [token_sent] = receiver.wait_for(1)
    claims = decode_logout_token(token_sent, requests.get(hub + "/oauth/jwks").json())
    assert claims["sub"] == person["id"] and claims["aud"] == registered.client_id
    with app.extensions["idhub"].db.transaction() as session:
        ended_rows = session.scalars(select(SsoSession)).all()
    assert all(r.end_reason == "account disabled" for r in ended_rows)
    assert sign_in(hub, person["username"], PASSWORD, None).status_code == 401
    assert uuid.UUID(person["id"])
