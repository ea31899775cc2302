"""Who may enter the console: signed in, with a second factor, holding a role."""

from __future__ import annotations

import requests

from tests.console.grants import grant
from tests.fixtures.factories import make_unit


def test_anonymous_is_sent_to_sign_in(hub):
    response = requests.get(hub + "/admin", allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sso/login?next=%2Fadmin")


def test_a_person_without_a_role_is_refused(hub, browser):
    response = browser.get(hub + "/admin", headers={"Accept-Language": "vi"})
    assert response.status_code == 403
    assert "không có vai trò quản trị" in response.text


def test_an_officer_sees_their_roles_in_vietnamese_and_english(app, api, hub, person, browser):
    commune = make_unit(api, code="XA.TAMDUONG", name="UBND xã Tam Đường")
    grant(app, person["id"], "hr_officer", commune["id"])
    page = browser.get(hub + "/admin?lang=vi")
    assert page.status_code == 200, page.text
    assert "Cán bộ tổ chức" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    english = browser.get(hub + "/admin?lang=en")
    assert "HR officer" in english.text
