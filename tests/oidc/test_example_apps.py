"""The example apps (examples/rp_app.py, Authlib's Flask client) against a live hub:
one sign-in serves several apps; signing out of one reaches the others by back-channel."""

from __future__ import annotations

import time

import requests

from tests.fixtures.sso import PASSWORD, form_fields, query_of, sign_in


def test_single_sign_on_across_apps_and_single_logout(hub, apps, person):
    browser = requests.Session()
    first, second, third = apps
    to_login = browser.get(first + "/login")
    assert to_login.url.startswith(hub + "/sso/login")
    next_url = query_of(to_login.url)["next"]
    assert (
        sign_in(
            hub, person["username"], PASSWORD, person["secret"], browser=browser, next_url=next_url
        ).status_code
        == 303
    )
    home = browser.get(hub + next_url)
    assert home.url == first + "/" and "Đặng Thị Ánh" in home.text
    assert "Sở Nội vụ tỉnh Lai Châu" in home.text and "staff" in home.text
    # The second and third apps: no password asked again.
    for other in (second, third):
        page = browser.get(other + "/login")
        assert page.url == other + "/" and "Đặng Thị Ánh" in page.text
    # Sign out in the first app: the hub asks to confirm, then everybody is signed out.
    confirm = browser.get(first + "/logout")
    assert confirm.url.startswith(hub + "/oauth/logout")
    done = browser.post(hub + "/oauth/logout", data=form_fields(confirm.text))
    assert done.url.startswith(first + "/") and "Chưa đăng nhập" in done.text
    for other in (second, third):  # told by back-channel, through the hub's outbox
        deadline = time.monotonic() + 20
        while "Chưa đăng nhập" not in browser.get(other + "/").text:
            assert time.monotonic() < deadline, f"{other} was not told of the logout"
            time.sleep(0.05)
    again = browser.get(second + "/login")
    assert again.url.startswith(hub + "/sso/login")  # the hub session is gone too
