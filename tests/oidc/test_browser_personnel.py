"""In Chromium: an HR officer of a commune signs in to the personnel reference app and
records a joiner through it, with their own token at the hub's API; the joiner's account
appears in slapd. The hub's scope rules apply: a joiner posted into another commune is
refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from examples.rp_app import KINDS, create_rp
from tests.fixtures.factories import (
    make_assignment,
    make_person,
    make_position,
    make_unit,
    national_id,
)
from tests.fixtures.provisioning import drain, entry
from tests.fixtures.sso import LiveServer, action_link, activate, register_app
from tests.oidc.test_browser import CHROMIUM, sync_playwright
from tests.oidc.test_browser_meetings import sign_in


@pytest.fixture
def personnel(app, hub) -> Iterator[str]:
    server = LiveServer()
    registered = register_app(
        app,
        name="Nhân sự",
        redirect_uris=[server.url + "/callback"],
        scopes=["openid", "profile", "org", "hr:read", "hr:write"],
        app_key="personnel",
    )
    rp = create_rp(
        "Nhân sự", server.url, hub, registered.client_id, registered.client_secret,
        kind=KINDS["personnel"],
    )  # fmt: skip
    yield server.start(rp).url
    server.stop()


def test_an_hr_officer_records_a_joiner_through_the_app(app, api, hub, personnel) -> None:
    x = make_unit(api, code="XA.BANLANG", name="Ủy ban nhân dân xã Bản Lang",
                  mail_domain="banlang.laichau.gov.vn")  # fmt: skip
    y = make_unit(api, code="XA.NAMTAM", name="Ủy ban nhân dân xã Nậm Tăm")
    office = make_unit(api, code="XA.BANLANG.VP", name="Văn phòng xã Bản Lang",
                       type="other", parent_id=x["id"])  # fmt: skip
    hr_post = make_position(api, code="CONG_CHUC_VP_TK", name="Công chức Văn phòng – Thống kê")
    make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    officer = make_person(api, family_name="Lò", middle_name="Thị", given_name="Hoa")
    make_assignment(api, officer, x, hr_post)
    secret, _, response = activate(hub, action_link(app, officer["id"]))
    assert response.status_code == 200, response.text
    today = dt.date.today().isoformat()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="vi-VN").new_page()
        page.goto(personnel + "/")
        page.click("#login")
        sign_in(page, officer["username"], secret)
        page.wait_for_url(personnel + "/")
        page.click("#staff")

        def joiner(given: str, unit: str) -> str:
            page.goto(personnel + "/staff")
            form = "#joiner "
            page.fill(form + "[name=family_name]", "Vàng")
            page.fill(form + "[name=middle_name]", "Văn")
            page.fill(form + "[name=given_name]", given)
            page.fill(form + "[name=national_id]", national_id())
            page.fill(form + "[name=unit_code]", unit)
            page.fill(form + "[name=position_code]", "CHUYEN_VIEN")
            page.fill(form + "[name=start_date]", today)
            page.click(form + "button[type=submit]")
            return page.inner_text("#outcome")

        outcome = joiner("Sình", "XA.BANLANG")
        assert outcome.startswith("Đã tiếp nhận "), outcome
        # Another commune is outside the officer's scope: the hub does not even show it.
        refused = joiner("Páo", "XA.NAMTAM")
        assert refused == "Không tìm thấy đơn vị hoặc chức vụ (trong phạm vi của bạn).", refused
        joined = api.get("/api/v1/people?q=Sình").json[0]

        def submit(form: str, **values: str) -> str:
            page.goto(personnel + "/staff")
            for name, value in values.items():
                page.fill(f"#{form} [name={name}]", value)
            page.click(f"#{form} button[type=submit]")
            return page.inner_text("#outcome")

        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        moved = submit(
            "move", person_id=joined["id"], unit_code="XA.BANLANG.VP",
            position_code="CHUYEN_VIEN", start_date=tomorrow,
        )  # fmt: skip
        assert moved == "Đã điều động.", moved
        left = submit("leaver", person_id=joined["id"], end_date=tomorrow)
        assert left == "Đã ghi nhận nghỉ việc.", left
        browser.close()
    posts = api.get(f"/api/v1/assignments?person_id={joined['id']}").json
    assert sorted((p["unit_id"], p["end_date"]) for p in posts) == sorted(
        [(x["id"], today), (office["id"], tomorrow)]
    )

    found = api.get("/api/v1/people?q=Sình").json
    assert [p["username"] for p in found] == [outcome.removeprefix("Đã tiếp nhận ").rstrip(".")]
    assert api.get("/api/v1/people?q=Páo").json == []  # nobody created
    assert api.get(f"/api/v1/assignments?unit_id={y['id']}").json == []
    drain(app)
    dn, attrs = entry(app, found[0]["id"]) or ("", {})
    assert dn.startswith(f"uid={found[0]['username']},ou=XA.BANLANG"), dn
    assert attrs["cn"] == ["Vàng Văn Sình"]
