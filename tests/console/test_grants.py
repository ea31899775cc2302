"""Who administers what at the console (#18): grants and rule-given roles in one's scope,
granting with dates and a reason, revoking with a reason; nobody grants more than they
hold (another role, another commune, the whole province), nothing written then."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from idhub.models import AdminGrant, AuditEvent
from tests.console.grants import grant
from tests.console.ops import csrf
from tests.fixtures.factories import make_person, make_unit


def _grants(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(AdminGrant)) or 0


def _grant_id(app, person_id: str) -> str:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return str(
            session.scalar(
                select(AdminGrant.id).where(AdminGrant.person_id == uuid.UUID(person_id))
            )
        )


def test_an_officer_grants_within_what_they_hold(app, api, hub, person, browser):
    province = make_unit(api, code="12", name="UBND tỉnh", type="province_committee")
    a = make_unit(api, code="XA.A", name="UBND xã A", parent_id=province["id"])
    b = make_unit(api, code="XA.B", name="UBND xã B", parent_id=province["id"])
    deputy = make_person(api, family_name="Lò", middle_name="Thị", given_name="Hoa")
    stranger = make_person(api, family_name="Giàng", middle_name="A", given_name="Sử")
    grant(app, person["id"], "hr_officer", a["id"])
    grant(app, stranger["id"], "auditor", b["id"])
    page = browser.get(hub + "/admin/grants?lang=vi")
    assert page.status_code == 200 and "Ai quản trị gì" in page.text
    assert "XA.A" in page.text and "XA.B" not in page.text  # B's grant is not listed
    token = csrf(page.text)
    form = {
        "csrf_token": token,
        "person": deputy["username"],
        "role": "hr_officer",
        "unit": "XA.A",
        "valid_from": "2025-07-01",
        "valid_to": "2025-12-31",
        "reason": "Quyết định 12/QĐ",
    }
    before = _grants(app)
    for refused in ({"role": "auditor"}, {"unit": "XA.B"}, {"unit": ""}):
        response = browser.post(hub + "/admin/grants?lang=en", data={**form, **refused})
        assert response.status_code == 403, refused
        assert "more than you hold" in response.text
    for bad, field in (({"reason": ""}, "reason"), ({"person": "khong.co"}, "person")):
        response = browser.post(hub + "/admin/grants?lang=vi", data={**form, **bad})
        assert response.status_code == 422 and f'id="err-{field}"' in response.text
    backwards = browser.post(hub + "/admin/grants", data={**form, "valid_to": "2025-01-01"})
    assert backwards.status_code == 422
    assert _grants(app) == before
    done = browser.post(hub + "/admin/grants", data=form, allow_redirects=False)
    assert done.status_code == 303 and _grants(app) == before + 1
    listed = browser.get(hub + "/admin/grants?all=1&lang=vi")
    assert deputy["username"] in listed.text
    gid = _grant_id(app, deputy["id"])
    no_reason = browser.post(hub + f"/admin/grants/{gid}/revoke", data={"csrf_token": token})
    assert no_reason.status_code == 422
    theirs = _grant_id(app, stranger["id"])
    hidden = browser.post(
        hub + f"/admin/grants/{theirs}/revoke", data={"csrf_token": token, "reason": "x"}
    )
    assert hidden.status_code == 404
    revoked = browser.post(
        hub + f"/admin/grants/{gid}/revoke",
        data={"csrf_token": token, "reason": "Hết nhiệm vụ"},
        allow_redirects=False,
    )
    assert revoked.status_code == 303
    with app.extensions["idhub"].db.reading() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert {"admin_grant.create", "admin_grant.revoke"} <= set(actions)


def test_without_an_administrative_role_the_page_is_refused(app, hub, person, browser):
    assert browser.get(hub + "/admin/grants").status_code == 403
