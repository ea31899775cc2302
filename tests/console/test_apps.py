"""Apps and API clients at the console (#18): an app owner registers an app (field errors
shown, nothing partial), sees its secret once, rotates it (old refused, new works),
disables it (its tokens refused at once, its sign-in refused); others' apps are 404; an
API client is never wider than its registrar's own scope."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import func, select

from idhub.changes.chain import Actor
from idhub.models import OAuthClient, OAuthToken, utcnow
from idhub.oidc.clients import create_client
from tests.console.grants import grant
from tests.console.ops import csrf
from tests.fixtures.factories import make_unit

REDIRECT = "https://vanban.example.vn/callback"


def _form(token: str, **values: str | list[str]) -> dict:
    return {
        "csrf_token": token,
        "kind": "app",
        "name": "Văn bản điện tử",
        "client_type": "confidential",
        "redirect_uris": REDIRECT,
        "post_logout_redirect_uris": "https://vanban.example.vn/",
        "backchannel_logout_uri": "https://vanban.example.vn/backchannel",
        "client_uri": "",
        "scopes": ["openid", "profile", "email"],
        "subtree": "",
        **values,
    }


def _count(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(OAuthClient)) or 0


def _secret_of(html: str) -> tuple[str, str]:
    cid = html.split('id="client-id">')[1].split("<")[0]
    secret = html.split('id="client-secret">')[1].split("<")[0]
    return cid, secret


def _matches(app, client_id: str, secret: str) -> bool:  # type: ignore[no-untyped-def]
    hub = app.extensions["idhub"]
    with hub.db.reading() as session:
        stored = session.scalar(
            select(OAuthClient.client_secret_hash).where(OAuthClient.client_id == client_id)
        )
    return hub.keyring.token_matches(secret, stored)


def _other_app(app) -> str:  # type: ignore[no-untyped-def]
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        return create_client(
            session,
            hub.keyring,
            hub.audit,
            Actor("cli", "test"),
            name="Của người khác",
            scopes=["openid"],
            allowed_scopes=["openid"],
            grant_types=["authorization_code"],
            redirect_uris=["https://khac.example.vn/cb"],
        ).client_id


def _person_token(app, client_id: str, person_id: str, scope: str) -> str:  # type: ignore[no-untyped-def]
    hub = app.extensions["idhub"]
    token = secrets.token_urlsafe(32)
    with hub.db.transaction() as session:
        session.add(
            OAuthToken(
                client_id=client_id,
                access_token_hash=hub.keyring.token_hash(token),
                scope=scope,
                expires_at=utcnow() + dt.timedelta(hours=1),
                person_id=uuid.UUID(person_id),
            )
        )
    return token


def test_an_app_owner_registers_rotates_and_disables_their_app(app, hub, person, browser):
    grant(app, person["id"], "app_owner")
    listing = browser.get(hub + "/admin/apps?lang=vi")
    assert listing.status_code == 200 and "Ứng dụng và client API" in listing.text
    form = browser.get(hub + "/admin/apps/new?lang=vi")
    token = csrf(form.text)
    before = _count(app)
    bad = browser.post(
        hub + "/admin/apps/new?lang=vi",
        data=_form(token, redirect_uris="http://vanban.example.vn/callback"),
    )
    assert bad.status_code == 422 and 'id="err-redirect_uris"' in bad.text
    assert "http://vanban.example.vn/callback" in bad.text  # what was typed stays
    assert _count(app) == before
    created = browser.post(hub + "/admin/apps/new?lang=vi", data=_form(token))
    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    assert "chỉ hiển thị một lần" in created.text
    cid, secret = _secret_of(created.text)
    assert _matches(app, cid, secret)
    page = browser.get(hub + f"/admin/apps/{cid}?lang=vi")
    assert page.status_code == 200 and REDIRECT in page.text and secret not in page.text
    assert person["username"] in page.text  # the owner
    # Rotate: confirmation needed; then the old secret no longer matches, the new does.
    refused = browser.post(hub + f"/admin/apps/{cid}/rotate", data={"csrf_token": token})
    assert refused.status_code == 422 and _matches(app, cid, secret)
    rotated = browser.post(
        hub + f"/admin/apps/{cid}/rotate", data={"csrf_token": token, "confirm": "yes"}
    )
    assert rotated.status_code == 200
    _, new_secret = _secret_of(rotated.text)
    assert not _matches(app, cid, secret) and _matches(app, cid, new_secret)
    # Disable: a person's token issued by the app is refused at once, sign-in refused.
    bearer = {"Authorization": "Bearer " + _person_token(app, cid, person["id"], "openid apps")}
    assert browser.get(hub + "/api/v1/clients", headers=bearer).status_code == 200
    disabled = browser.post(
        hub + f"/admin/apps/{cid}/disable?lang=vi", data={"csrf_token": token, "confirm": "yes"}
    )
    assert disabled.status_code == 200 and "Đã vô hiệu hóa" in disabled.text
    assert browser.get(hub + "/api/v1/clients", headers=bearer).status_code == 401
    authorize = browser.get(
        hub + "/oauth/authorize",
        params={
            "client_id": cid,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
    )
    assert authorize.status_code == 400 and "location" not in authorize.headers
    enabled = browser.post(
        hub + f"/admin/apps/{cid}/enable", data={"csrf_token": token, "confirm": "yes"}
    )
    assert enabled.status_code == 200
    assert browser.get(hub + "/api/v1/clients", headers=bearer).status_code == 401  # stays revoked


def test_others_apps_are_not_listed_and_answer_404(app, hub, person, browser):
    grant(app, person["id"], "app_owner")
    other = _other_app(app)
    assert other not in browser.get(hub + "/admin/apps").text
    assert browser.get(hub + f"/admin/apps/{other}").status_code == 404
    token = csrf(browser.get(hub + "/admin/apps/new").text)
    response = browser.post(
        hub + f"/admin/apps/{other}/disable", data={"csrf_token": token, "confirm": "yes"}
    )
    assert response.status_code == 404


def test_an_api_client_is_never_wider_than_its_registrar(app, api, hub, person, browser):
    province = make_unit(api, code="12", name="UBND tỉnh", type="province_committee")
    a = make_unit(api, code="XA.A", name="UBND xã A", parent_id=province["id"])
    b = make_unit(api, code="XA.B", name="UBND xã B", parent_id=province["id"])
    grant(app, person["id"], "app_owner")
    grant(app, person["id"], "hr_officer", a["id"])
    token = csrf(browser.get(hub + "/admin/apps/new").text)
    api_client = {"kind": "api", "name": "HR xã", "scopes": ["hr:read"], "redirect_uris": ""}
    before = _count(app)
    for subtree in ("", b["code"], "KHONG.CO"):
        response = browser.post(
            hub + "/admin/apps/new?lang=en", data=_form(token, **api_client, subtree=subtree)
        )
        assert response.status_code in (403, 422), (subtree, response.status_code)
    assert _count(app) == before
    wider = browser.post(
        hub + "/admin/apps/new?lang=en",
        data=_form(token, **{**api_client, "scopes": ["audit:read"]}, subtree=a["code"]),
    )
    assert wider.status_code == 403 and "more than you hold" in wider.text
    made = browser.post(
        hub + "/admin/apps/new?lang=en", data=_form(token, **api_client, subtree=a["code"])
    )
    assert made.status_code == 201, made.text
    cid, _ = _secret_of(made.text)
    page = browser.get(hub + f"/admin/apps/{cid}")
    assert "XA.A" in page.text


def test_an_app_owner_changes_their_app_within_limits(app, hub, person, browser):
    grant(app, person["id"], "app_owner")
    token = csrf(browser.get(hub + "/admin/apps/new").text)
    cid, _ = _secret_of(browser.post(hub + "/admin/apps/new", data=_form(token)).text)
    edit = browser.get(hub + f"/admin/apps/{cid}/edit?lang=vi")
    assert edit.status_code == 200 and REDIRECT in edit.text
    form = {
        "csrf_token": token,
        "name": "Văn bản (mới)",
        "redirect_uris": REDIRECT + "\nhttps://vanban.example.vn/callback2",
        "post_logout_redirect_uris": "",
        "backchannel_logout_uri": "",
        "client_uri": "https://vanban.example.vn/",
        "scopes": ["openid", "profile"],
    }
    bad = browser.post(
        hub + f"/admin/apps/{cid}/edit", data={**form, "redirect_uris": "https://x/#frag"}
    )
    assert bad.status_code == 422 and 'id="err-redirect_uris"' in bad.text
    wider = browser.post(
        hub + f"/admin/apps/{cid}/edit?lang=en", data={**form, "scopes": ["openid", "hr:read"]}
    )
    assert wider.status_code == 403 and "more than you hold" in wider.text
    assert "Văn bản (mới)" not in browser.get(hub + f"/admin/apps/{cid}").text
    saved = browser.post(hub + f"/admin/apps/{cid}/edit", data=form, allow_redirects=False)
    assert saved.status_code == 303
    page = browser.get(hub + f"/admin/apps/{cid}")
    assert "Văn bản (mới)" in page.text and "callback2" in page.text
    assert browser.get(hub + f"/admin/apps/{_other_app(app)}/edit").status_code == 404
