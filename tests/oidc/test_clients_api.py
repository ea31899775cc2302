"""/api/v1/clients (#18): administrators manage every client, app owners their own; nobody
gives a client more than they hold; rotate and disable take effect at once."""

from __future__ import annotations

from sqlalchemy import select

from idhub.models import AuditEvent
from tests.admin.scoping import person_api, province
from tests.conftest import Registered, token_for
from tests.fixtures.factories import make_person

APP = {
    "name": "Văn bản điện tử",
    "redirect_uris": ["https://vanban.example.vn/callback"],
    "post_logout_redirect_uris": ["https://vanban.example.vn/"],
    "backchannel_logout_uri": "https://vanban.example.vn/backchannel",
    "scopes": ["openid", "profile", "email"],
}


def _owner(app, client, admin, unit_id=None, role="app_owner", *, given="Chủ"):
    person = make_person(admin, family_name="Nguyễn", middle_name="Văn", given_name=given)
    grant = {"person_id": person["id"], "role": role}
    if unit_id:
        grant["unit_id"] = unit_id
    assert admin.post("/api/v1/admin-grants", grant).status_code == 201
    return person, person_api(app, client, person["id"], ["apps", "hr:read"])


def test_app_owners_see_and_manage_only_their_own(app, client, admin):
    _, mine = _owner(app, client, admin, given="An")
    _, theirs = _owner(app, client, admin, given="Bình")
    created = mine.post("/api/v1/clients", APP)
    assert created.status_code == 201, created.json
    assert created.json["client_secret"] and created.headers["Cache-Control"] == "no-store"
    cid = created.json["client_id"]
    other = theirs.post("/api/v1/clients", {**APP, "name": "Khác"}).json["client_id"]
    assert [c["client_id"] for c in mine.get("/api/v1/clients").json] == [cid]
    assert "client_secret" not in mine.get(f"/api/v1/clients/{cid}").json
    for url in (f"/api/v1/clients/{other}", f"/api/v1/clients/{other}/disable"):
        response = mine.get(url) if url.count("/") == 4 else mine.post(url)
        assert response.status_code == 404, response.json
    assert mine.patch(f"/api/v1/clients/{other}", {"name": "x"}, etag="*").status_code == 404
    listed = {c["client_id"] for c in admin.get("/api/v1/clients").json}
    assert {cid, other} <= listed
    # PATCH: If-Match, then URIs checked (exact https), nothing written on a bad one.
    url = f"/api/v1/clients/{cid}"
    assert mine.patch(url, {"name": "Mới"}).status_code == 428
    bad = mine.patch_fresh(url, {"redirect_uris": ["http://vanban.example.vn/cb"]})
    assert bad.status_code == 422, bad.json
    assert mine.get(url).json["redirect_uris"] == APP["redirect_uris"]
    assert mine.patch_fresh(url, {"name": "Văn bản mới"}).json["name"] == "Văn bản mới"


def test_nobody_gives_a_client_more_than_they_hold(app, client, admin):
    p = province(admin)
    _, owner = _owner(app, client, admin, given="Chi")
    refused = owner.post("/api/v1/clients", {"kind": "api", "name": "HR", "scopes": ["hr:read"]})
    assert refused.status_code == 403 and refused.json["code"] == "client_exceeds_own"
    # An HR officer of commune A who also owns apps: an hr:read client for A, never for B
    # nor the whole province.
    officer, api = _owner(app, client, admin, p.a["id"], "hr_officer", given="Dũng")
    admin.post("/api/v1/admin-grants", {"person_id": officer["id"], "role": "app_owner"})
    body = {"kind": "api", "name": "HR xã", "scopes": ["hr:read"]}
    for subtree in (None, p.b["id"]):
        response = api.post("/api/v1/clients", {**body, "subtree_unit_id": subtree})
        assert response.status_code == 403, response.json
    made = api.post("/api/v1/clients", {**body, "subtree_unit_id": p.a1["id"]})
    assert made.status_code == 201, made.json
    assert made.json["subtree_unit_id"] == p.a1["id"]
    cid = made.json["client_id"]
    widen = api.patch_fresh(f"/api/v1/clients/{cid}", {"scopes": ["hr:read", "hr:write"]})
    assert widen.status_code == 403
    assert api.get(f"/api/v1/clients/{cid}").json["scopes"] == ["hr:read"]
    # Its subtree is fixed at registration: no PATCH widens it.
    moved = api.patch_fresh(f"/api/v1/clients/{cid}", {"subtree_unit_id": p.b["id"]})
    assert moved.status_code == 422
    assert api.get(f"/api/v1/clients/{cid}").json["subtree_unit_id"] == p.a1["id"]


def test_rotate_and_disable_take_effect_at_once(app, client, admin):
    made = admin.post("/api/v1/clients", {"kind": "api", "name": "Sync", "scopes": ["hr:read"]})
    assert made.status_code == 201, made.json
    cid, old = made.json["client_id"], made.json["client_secret"]
    token = token_for(client, Registered(cid, old))
    rotated = admin.post(f"/api/v1/clients/{cid}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json["client_secret"] != old
    refused = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, old)
    )
    assert refused.status_code == 401
    new_token = token_for(client, Registered(cid, rotated.json["client_secret"]))
    bearer = {"Authorization": f"Bearer {new_token}"}
    assert client.get("/api/v1/org-units", headers=bearer).status_code == 200
    # Client-credential tokens are sealed with the secret's print: the old ones end too.
    old_bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/org-units", headers=old_bearer).status_code == 401
    disabled = admin.post(f"/api/v1/clients/{cid}/disable")
    assert disabled.status_code == 200 and disabled.json["disabled_at"]
    for t in (token, new_token):
        response = client.get("/api/v1/org-units", headers={"Authorization": f"Bearer {t}"})
        assert response.status_code == 401
    assert admin.post(f"/api/v1/clients/{cid}/enable").json["disabled_at"] is None
    with app.extensions["idhub"].db.transaction() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.after).where(AuditEvent.object_id == cid)
        ).all()
    actions = [a for a, _ in events]
    assert {"oauth_client.create", "oauth_client.rotate_secret", "oauth_client.disable"} <= set(
        actions
    )
    assert not any(rotated.json["client_secret"] in str(after) for _, after in events)


def test_a_disabled_app_cannot_sign_anyone_in_and_its_tokens_stop(app, client, admin):
    _, owner = _owner(app, client, admin, given="Giang")
    cid = owner.post("/api/v1/clients", APP).json["client_id"]
    owner.post(f"/api/v1/clients/{cid}/disable")
    response = client.get(
        "/oauth/authorize",
        query_string={
            "client_id": cid,
            "response_type": "code",
            "redirect_uri": APP["redirect_uris"][0],
            "scope": "openid",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
    assert b"invalid_client" in response.data or b"client" in response.data.lower()


def test_without_apps_nor_admin_no_client_is_reached(app, client, admin, api):
    assert api.get("/api/v1/clients").status_code == 403
