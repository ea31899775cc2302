"""The console in a real browser (Chromium, Playwright): a commune's HR officer signs in
with password and TOTP, finds a person without typing diacritics, opens their page,
records a joiner seeing the converge plan first, confirms, and the worker writes the
entry into the real slapd; a person of another commune is 404 to the same officer, on
the page and at the API with their own token. No inline script, no CSP violation."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from idhub.identity.personal import cccd_clause
from idhub.models import Person
from tests.admin.scoping import person_api
from tests.console.communes import Communes, two_communes
from tests.fixtures.factories import make_assignment, make_person, national_id
from tests.fixtures.provisioning import entry, make_worker, wait_for
from tests.fixtures.sso import sign_in_page
from tests.oidc.test_browser import page  # noqa: F401  (the Chromium tab fixture)


@pytest.fixture
def communes(app, api, person) -> Communes:
    found = two_communes(app, api, person)
    anh = make_person(api, family_name="Đặng", middle_name="Thị", given_name="Ánh")
    make_assignment(api, anh, found.a, found.position)
    found.binh["anh_id"] = anh["id"]
    return found


def _people(app) -> int:
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(Person))


def _converge(app) -> None:
    worker = make_worker(app)
    try:
        wait_for(lambda: worker.run_once() == 0, timeout=30)
    finally:
        worker.target.connector.close()


def test_an_officer_records_a_joiner_in_a_browser(app, client, hub, person, communes, page):  # noqa: F811
    sign_in_page(page, hub, "/admin/people?lang=vi", person)

    page.fill("input[name=q]", "dang thi anh")
    page.click("form.search button[type=submit]")
    # switching language keeps the search, and back again
    page.click("nav.lang >> text=English")
    page.wait_for_url("**/admin/people?*lang=en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.input_value("input[name=q]") == "dang thi anh"
    assert "Đặng Thị Ánh" in page.inner_text("table")
    page.click("nav.lang >> text=Tiếng Việt")
    page.wait_for_url("**/admin/people?*lang=vi")
    assert page.input_value("input[name=q]") == "dang thi anh"
    page.click('table a:has-text("Đặng Thị Ánh")')
    page.wait_for_url(hub + f"/admin/people/{communes.binh['anh_id']}")
    assert "UBND xã An Bình" in page.inner_text("main")

    page.goto(hub + "/admin/people/new")
    before = _people(app)
    cccd = national_id("1992-09-15")
    for name, value in {
        "family_name": "Phạm",
        "middle_name": "Quang",
        "given_name": "Huy",
        "national_id": cccd,
        "date_of_birth": "1992-09-15",
        "unit_code": "XA.AN",
        "position_code": "CONG_CHUC",
        "start_date": dt.date.today().isoformat(),
        "reason": "Tuyển dụng",
    }.items():
        page.fill(f"[name={name}]", value)
    page.click("form.stacked >> text=Xem trước thay đổi")
    plan = page.inner_text("#plan")
    assert "Kế hoạch đồng bộ" in plan and "tạo tài khoản uid=" in plan
    assert _people(app) == before  # seen first, nothing saved
    page.click("button[name=confirm]")
    page.wait_for_url(f"{hub}/admin/people/*")
    assert "Phạm Quang Huy" in page.inner_text("h1")
    with app.extensions["idhub"].db.reading() as session:
        joiner = session.scalar(select(Person).where(cccd_clause(cccd)))
        joiner_id, username = joiner.id, joiner.username
    _converge(app)
    found = entry(app, str(joiner_id))
    assert found is not None
    dn, attrs = found
    assert dn.startswith(f"uid={username},")

    other = communes.cuc["id"]
    response = page.goto(hub + f"/admin/people/{other}")
    assert response.status == 404
    token = person_api(app, client, person["id"], ["hr:read", "hr:write"])
    assert token.get(f"/api/v1/people/{other}").status_code == 404
    assert token.get(f"/api/v1/people/{communes.binh['id']}").status_code == 200
    assert page.csp_violations == []
    assert uuid.UUID(str(joiner_id))
