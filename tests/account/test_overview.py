"""The account overview: the HR record, read-only, for the signed-in person only."""

from __future__ import annotations

import requests


def test_overview_shows_the_hr_record_and_asks_for_sign_in_otherwise(hub, person, browser):
    anonymous = requests.get(hub + "/account", allow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"].startswith("/sso/login?next=%2Faccount")

    page = browser.get(hub + "/account", headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    assert "Đặng Thị Ánh" in page.text
    assert person["username"] in page.text
    assert "chỉ xem được" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "<form" not in page.text  # nothing here to change
