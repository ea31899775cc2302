"""In Chromium: a commune chairman delegates their meeting rights to a deputy for today on
/account/app-rights; the deputy signs in to the meetings reference app and sees that
they chair the commune's meetings on the chairman's behalf."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.rp_app import KINDS, create_rp
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.sso import PASSWORD, LiveServer, action_link, activate, code_at, register_app
from tests.oidc.test_browser import CHROMIUM, sync_playwright


@pytest.fixture
def meetings(app, hub) -> Iterator[str]:
    server = LiveServer()
    registered = register_app(
        app,
        name="Họp trực tuyến",
        redirect_uris=[server.url + "/callback"],
        post_logout_redirect_uris=[server.url + "/"],
        scopes=["openid", "profile", "org", "roles"],
        app_key="meeting",
    )
    rp = create_rp(
        "Họp trực tuyến", server.url, hub, registered.client_id, registered.client_secret,
        kind=KINDS["meetings"],
    )  # fmt: skip
    yield server.start(rp).url
    server.stop()


def sign_in(page, username: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=code]", code_at(secret, 0))
    page.click("button[type=submit]")


def test_a_deputy_chairs_on_behalf_of_the_chairman(app, api, hub, meetings) -> None:
    commune = make_unit(api, code="XA.TAMDUONG", name="Ủy ban nhân dân xã Tam Đường")
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    officer = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    chair = make_person(api, family_name="Lò", middle_name="Văn", given_name="Chính")
    deputy = make_person(api, family_name="Tòng", middle_name="Thị", given_name="Phó")
    make_assignment(api, chair, commune, chairman)
    make_assignment(api, deputy, commune, officer)
    secrets = {}
    for who in (chair, deputy):
        secret, _, response = activate(hub, action_link(app, who["id"]))
        assert response.status_code == 200, response.text
        secrets[who["id"]] = secret

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="vi-VN").new_page()
        page.goto(hub + "/account/app-rights")
        sign_in(page, chair["username"], secrets[chair["id"]])
        page.wait_for_url(hub + "/account/app-rights")
        assert "meeting:chair@XA.TAMDUONG" in page.inner_text("#my-app-roles")
        page.fill("#deputy", deputy["username"])
        page.select_option("#app", "meeting")
        page.check("input[name=roles][value='meeting:chair']")
        page.select_option("#unit_code", "XA.TAMDUONG")
        page.fill("#reason", "Đi họp tại tỉnh")
        page.click("#new-delegation button[type=submit]")
        page.wait_for_url(hub + "/account/app-rights")
        assert deputy["username"] in page.inner_text("ul.delegations.given")

        tab = browser.new_context(locale="vi-VN").new_page()  # the deputy, elsewhere
        tab.goto(meetings + "/")
        tab.click("#login")
        sign_in(tab, deputy["username"], secrets[deputy["id"]])
        tab.wait_for_url(meetings + "/")
        role = tab.locator("li.meeting-role.delegated[data-unit='XA.TAMDUONG']")
        assert role.inner_text() == (
            f"Chủ trì họp · XA.TAMDUONG — thay mặt Lò Văn Chính (đến {today_vn()})"
        )
        browser.close()


def today_vn() -> str:
    import datetime as dt

    return dt.date.today().strftime("%d/%m/%Y")
