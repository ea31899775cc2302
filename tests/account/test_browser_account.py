"""Self-service in a real browser (Debian's chromium, driven by Playwright), against the
real mail stack: a password changed at /account/password opens IMAP and the old one no
longer does; TOTP re-enrolled at /account/security; the lost-phone path (a recovery code
at sign-in leads to re-enrolment; a security officer's reset proven by the code handed
over in person). No inline script, no CSP violation."""

from __future__ import annotations

import pytest

from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import lai_chau, make_assignment, make_person
from tests.fixtures.mail import can_login, drain_all, enable_mail
from tests.fixtures.sso import PASSWORD, action_link, activate, code_at, sign_in
from tests.oidc.test_browser import page  # noqa: F401  (the Chromium tab fixture)

NEW_PASSWORD = "Đổi mật khẩu lần hai 2027"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


@pytest.fixture
def staff(app, api, hub) -> dict:
    """An activated person with a mailbox: password and TOTP set, IMAP opens."""
    org = lai_chau(api)
    found = make_person(api, family_name="Lường", middle_name="Thị", given_name="Hoa")
    make_assignment(api, found, org["dept"], org["specialist"])
    drain_all(app)
    secret, codes, response = activate(hub, action_link(app, found["id"]))
    assert response.status_code == 200, response.text
    drain_all(app)
    found["secret"], found["recovery_codes"] = secret, codes
    return found


def _sign_in(tab, hub, user, password, code):  # type: ignore[no-untyped-def]
    tab.fill("input[name=username]", user)
    tab.fill("input[name=password]", password)
    tab.click("button[type=submit]")
    tab.fill("input[name=code]", code)
    tab.click("button[type=submit]")


def test_password_change_then_imap_takes_the_new_and_refuses_the_old(
    app,
    hub,
    mail_server,
    staff,
    page,  # noqa: F811
):
    user = staff["username"]
    assert can_login(mail_server, user, PASSWORD)  # Dovecot has cached this login now
    page.goto(hub + "/account/password")
    assert "/sso/login" in page.url
    _sign_in(page, hub, user, PASSWORD, code_at(staff["secret"], 0))
    page.wait_for_url(hub + "/account/password")
    page.fill("input[name=current]", PASSWORD)
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    page.check("input[name=end_others]")
    page.click("form button[type=submit]")
    assert "Đã đổi mật khẩu" in page.inner_text("p.done")
    drain_all(app)  # the hub's worker: LDAP, then the mail target flushes Dovecot's cache
    assert can_login(mail_server, user, NEW_PASSWORD)
    assert not can_login(mail_server, user, PASSWORD)
    page.goto(hub + "/account")  # this session was kept
    assert page.url == hub + "/account"
    assert page.csp_violations == []


def test_totp_re_enrolment_in_a_browser(app, hub, staff, page):  # noqa: F811
    page.goto(hub + "/account/security")
    _sign_in(page, hub, staff["username"], PASSWORD, code_at(staff["secret"], 0))
    page.wait_for_url(hub + "/account/security")
    assert page.locator(".qr svg").is_visible()
    assert page.inner_text("#recovery-left") == "10"
    secret = page.inner_text("#reenrol code.secret")
    page.fill("#reenrol input[name=password]", PASSWORD)
    page.fill("#reenrol input[name=code]", staff["recovery_codes"][0])
    page.fill("#reenrol input[name=new_code]", code_at(secret, 0))
    page.click("#reenrol button[type=submit]")
    assert "Đã đăng ký lại" in page.inner_text("p.done")
    assert page.inner_text("#recovery-left") == "9"
    assert sign_in(hub, staff["username"], PASSWORD, staff["secret"], step=1).status_code == 401
    assert sign_in(hub, staff["username"], PASSWORD, secret, step=1).status_code == 303
    assert page.csp_violations == []


def test_the_lost_phone_path(app, client, hub, staff, page):  # noqa: F811
    # 1. A recovery code at sign-in leads to re-enrolment, then on to where they went.
    page.goto(hub + "/account/apps")
    _sign_in(page, hub, staff["username"], PASSWORD, staff["recovery_codes"][0])
    page.wait_for_url(hub + "/account/security")
    assert "mã khôi phục" in page.inner_text("p.notice")
    page.click("#continue")
    page.wait_for_url(hub + "/account/apps")

    # 2. No recovery code at hand: a security officer resets the second factor and hands
    # the person a code in person; the link's page asks for it before a new TOTP.
    officer = Api(client, token_for(client, register_client(app, ["access:reset"])))
    answer = officer.post(
        f"/api/v1/people/{staff['id']}/access-reset",
        {"reason": "Phiếu 31: mất điện thoại, đã gặp trực tiếp", "reset_second_factor": True},
    ).json
    page.goto(answer["url"])  # the token in the fragment, handed over by the page's script
    page.wait_for_selector("input[name=proof]")
    secret = page.inner_text("code.secret")
    page.fill("input[name=proof]", "0000-0000")
    page.fill("input[name=code]", code_at(secret, 0))
    page.click("button[type=submit]")
    assert "không đúng" in page.inner_text("p.error")
    secret = page.inner_text("code.secret")  # the same secret, still to prove
    page.fill("input[name=proof]", answer["handover_code"])
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    page.fill("input[name=code]", code_at(secret, 0))
    page.click("button[type=submit]")
    assert page.locator("ul.codes li").count() == 10
    assert sign_in(hub, staff["username"], NEW_PASSWORD, secret, step=1).status_code == 303
    assert page.csp_violations == []
