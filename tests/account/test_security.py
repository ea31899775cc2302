"""Second factor at /account/security: what is enrolled, re-enrolling TOTP after the
password and the current factor (a code or a recovery code), new recovery codes shown
once, each refusal counted like a sign-in's; after a recovery-code sign-in the person is
led here first."""

from __future__ import annotations

import re

import requests

from tests.account.helpers import credential_of, events, post_form
from tests.fixtures.sso import PASSWORD, code_at, form_fields, sign_in

PAGE = "/account/security"


def _secret(page: str) -> str:
    return re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)


def _reenrol(browser, hub, *, password=PASSWORD, code, new_code=None):  # type: ignore[no-untyped-def]
    page = browser.get(hub + PAGE)
    secret = _secret(page.text)
    response = browser.post(
        hub + PAGE + "/totp",
        data={
            **form_fields(page.text),
            "password": password,
            "code": code,
            "new_code": new_code if new_code is not None else code_at(secret, 0),
        },
    )
    return secret, response


def _recovery_sign_in(hub, person, code, next_url="/account"):  # type: ignore[no-untyped-def]
    browser = requests.Session()
    page = browser.get(hub + "/sso/login", params={"next": next_url})
    browser.post(
        hub + "/sso/login",
        data={**form_fields(page.text), "username": person["username"], "password": PASSWORD},
    )
    page = browser.get(hub + "/sso/login/code")
    done = browser.post(
        hub + "/sso/login/code",
        data={**form_fields(page.text), "code": code},
        allow_redirects=False,
    )
    return browser, done


def test_the_page_shows_the_factor_the_codes_left_and_recent_failures(hub, person, browser):
    assert sign_in(hub, person["username"], "Sai mật khẩu rồi 2027", None).status_code == 401
    page = browser.get(hub + PAGE, headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    assert "Đã đăng ký từ" in page.text and "(UTC+7)" in page.text
    assert re.search(r'<dd id="recovery-left">10</dd>', page.text)
    assert "Đăng nhập sai trong 30 ngày qua: 1 lần" in page.text
    assert '<div class="qr"><svg' in page.text
    english = browser.get(hub + PAGE, headers={"Accept-Language": "en"})
    assert "Recovery codes left" in english.text
    assert requests.get(hub + PAGE, allow_redirects=False).status_code == 303


def test_re_enrolling_needs_the_password_and_the_current_factor(app, hub, person, browser):
    # A wrong code from the new app: nothing is checked, nothing counted.
    _, typo = _reenrol(browser, hub, code=person["recovery_codes"][0], new_code="000000")
    assert typo.status_code == 400 and "ứng dụng xác thực mới không đúng" in typo.text
    # A wrong password: refused, counted like a sign-in (the recovery code not spent).
    _, wrong = _reenrol(browser, hub, password="Không phải mật khẩu 1", code="123456")
    assert wrong.status_code == 401
    # A wrong current factor: counted toward the account's code lockout.
    _, wrong = _reenrol(browser, hub, code="deadbeef-deadbeef")
    assert wrong.status_code == 401
    assert credential_of(app, person["id"]).failed_logins == 1
    forged = browser.post(hub + PAGE + "/totp", data={"password": PASSWORD, "code": "1"})
    assert forged.status_code == 400

    secret, done = _reenrol(browser, hub, code=person["recovery_codes"][0])
    assert done.status_code == 200, done.text
    assert "Đã đăng ký lại ứng dụng xác thực" in done.text
    assert re.search(r'<dd id="recovery-left">9</dd>', done.text)
    assert secret != person["secret"]
    [event] = events(app, "sso.totp.enrol", person["id"])[-1:]
    assert event.after == {"reenrolled": True} and event.actor_id == person["id"]
    assert credential_of(app, person["id"]).failed_logins == 0
    # The old app's codes no longer sign in; the new one's do.
    assert sign_in(hub, person["username"], PASSWORD, person["secret"], step=1).status_code == 401
    assert sign_in(hub, person["username"], PASSWORD, secret, step=1).status_code == 303
    # The page now offers another secret (the one just used is gone from the flow).
    assert _secret(browser.get(hub + PAGE).text) != secret


def test_new_recovery_codes_are_shown_once_and_the_old_stop_working(app, hub, person, browser):
    refused = post_form(
        browser, hub, PAGE, PAGE + "/recovery-codes", password=PASSWORD, code="111111"
    )
    assert refused.status_code == 401
    shown = post_form(
        browser,
        hub,
        PAGE,
        PAGE + "/recovery-codes",
        password=PASSWORD,
        code=code_at(person["secret"], 1),
    )
    assert shown.status_code == 200, shown.text
    codes = re.findall(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>", shown.text)
    assert len(codes) == 10 and not set(codes) & set(person["recovery_codes"])
    assert shown.headers["Cache-Control"] == "no-store"
    assert events(app, "sso.recovery_codes.regenerate", person["id"])
    _, old = _recovery_sign_in(hub, person, person["recovery_codes"][1])
    assert old.status_code == 401
    _, new = _recovery_sign_in(hub, person, codes[0])
    assert new.status_code == 303


def test_a_recovery_code_sign_in_leads_to_re_enrolment_first(hub, person):
    browser, done = _recovery_sign_in(hub, person, person["recovery_codes"][0], "/account/apps")
    assert done.status_code == 303 and done.headers["Location"] == "/account/security"
    page = browser.get(hub + "/account/security", headers={"Accept-Language": "vi"})
    assert "Bạn vừa đăng nhập bằng mã khôi phục (còn 9 mã)" in page.text
    assert 'href="/account/apps" id="continue"' in page.text
    # An ordinary sign-in goes where it was going.
    fine = sign_in(hub, person["username"], PASSWORD, person["secret"], next_url="/account/apps")
    assert fine.headers["Location"] == "/account/apps"
