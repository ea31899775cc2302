"""A real browser (Debian's chromium, driven by Playwright) through activation, sign-in,
single sign-on across the example apps and single logout: the pages work without inline
script under the strict CSP, and the QR code renders."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.fixtures.sso import PASSWORD, action_link, code_at, hr_person

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - dev dependency
    sync_playwright = None  # type: ignore[assignment]

# scripts/install-system-deps.sh installs chromium and requirements-dev.txt Playwright
# (`make test` does both): a missing browser fails these tests, it does not skip them.


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="vi-VN")
        tab = context.new_page()
        tab.csp_violations = []
        tab.on(
            "console",
            lambda m: "Content Security Policy" in m.text and tab.csp_violations.append(m.text),
        )
        yield tab
        browser.close()


def test_activation_sign_on_and_logout_in_a_browser(app, api, hub, apps, page):
    found = hr_person(api, family_name="Vàng", middle_name="A", given_name="Sình")
    page.goto(hub + action_link(app, found["id"]))
    assert page.locator(".qr svg").is_visible()
    secret = page.inner_text("code.secret")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.fill("input[name=code]", code_at(secret, -1))
    page.click("button[type=submit]")
    assert page.locator("ul.codes li").count() == 10

    first, second, third = apps
    page.goto(first + "/")
    page.click("#login")
    assert page.url.startswith(hub + "/sso/login")
    page.fill("input[name=username]", found["username"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=code]", code_at(secret, 0))
    page.click("button[type=submit]")
    page.wait_for_url(first + "/")
    assert "Vàng A Sình" in page.inner_text("#who")
    for other in (second, third):
        page.goto(other + "/login")
        page.wait_for_url(other + "/")
        assert "Vàng A Sình" in page.inner_text("#who")

    page.goto(first + "/")
    page.click("#logout")
    assert page.url.startswith(hub + "/oauth/logout")
    page.click("button[type=submit]")
    page.wait_for_url(first + "/?state=*")
    assert "Chưa đăng nhập" in page.content()
    deadline = time.monotonic() + 20  # told by back-channel, through the hub's outbox
    page.goto(third + "/")
    while "Chưa đăng nhập" not in page.content():
        assert time.monotonic() < deadline, "the third app was not told of the logout"
        time.sleep(0.05)
        page.goto(third + "/")
    assert page.csp_violations == []
