"""/account/app-rights: my roles per app, ủy quyền given and received, create and revoke
(CSRF, errors shown, audited), and the deputy sees it on their own page."""

from __future__ import annotations

import datetime as dt

import requests
from sqlalchemy import select

from idhub.models import AppDelegation, AuditEvent
from tests.account.helpers import post_form
from tests.fixtures.sso import hr_person

PAGE = "/account/app-rights"
VI = {"Accept-Language": "vi"}


def test_a_person_delegates_an_app_and_revokes_it(app, api, hub, person, browser):
    deputy = hr_person(api, family_name="Vũ", middle_name="Minh", given_name="Phó")
    page = browser.get(hub + PAGE, headers=VI)
    assert page.status_code == 200
    assert "meeting" in page.text and "meeting:user" in page.text
    today = dt.date.today().isoformat()
    made = post_form(
        browser, hub, PAGE, PAGE,
        deputy=deputy["username"], app="meeting", unit_code="",
        start_date=today, end_date=today, reason="Nghỉ phép năm",
    )  # fmt: skip
    assert made.status_code == 303, made.text
    shown = browser.get(hub + PAGE, headers=VI).text
    assert deputy["username"] in shown and "Nghỉ phép năm" in shown
    with app.extensions["idhub"].db.reading() as session:
        row = session.scalar(select(AppDelegation))
        assert row is not None and row.app == "meeting" and row.roles == []
        created = session.scalar(
            select(AuditEvent.action).where(AuditEvent.object_id == str(row.id))
        )
        delegation_id = row.id
    assert created == "app_delegation.create"
    revoked = post_form(browser, hub, PAGE, f"{PAGE}/{delegation_id}/revoke")
    assert revoked.status_code == 303
    with app.extensions["idhub"].db.reading() as session:
        row = session.get(AppDelegation, delegation_id)
        assert row is not None and row.revoked_at is not None
    assert "Nghỉ phép năm" not in browser.get(hub + PAGE).text


def test_mistakes_are_shown_and_nothing_is_written(app, hub, person, browser):
    today = dt.date.today()
    wrong = post_form(
        browser, hub, PAGE, PAGE,
        deputy=person["username"], app="meeting", unit_code="",
        start_date=today.isoformat(), end_date=(today - dt.timedelta(days=1)).isoformat(),
        reason="",
    )  # fmt: skip
    assert wrong.status_code == 400
    assert "Không tìm thấy người được ủy quyền, hoặc đó là chính bạn." in wrong.text
    assert "Cần ghi lý do ủy quyền." in wrong.text
    with app.extensions["idhub"].db.reading() as session:
        assert session.scalar(select(AppDelegation)) is None
    # Without the form's CSRF token: refused.
    forged = browser.post(hub + PAGE, data={"deputy": "x"}, allow_redirects=False)
    assert forged.status_code in (400, 403)
    assert requests.get(hub + PAGE, allow_redirects=False).status_code == 303
