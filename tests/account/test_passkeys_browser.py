"""Passkeys in a real browser: Debian's chromium (Playwright) with its virtual WebAuthn
authenticator (CDP `WebAuthn.*`: CTAP2, internal transport, resident keys, user
verification). Enrol a passkey at /account/passkeys, sign out, sign in with the password
and the passkey instead of the code, sign out, then sign in to an example app with the
passkey alone. The pages' script runs under the strict CSP (no violation).

WebAuthn refuses an IP address as relying party id, so this hub listens on 127.0.0.1 but
is known (issuer, browser) as `localhost`, a secure context over plain HTTP."""

from __future__ import annotations

import shutil

import pytest

from tests.fixtures.sso import PASSWORD, LiveServer, code_at

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - dev dependency
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture
def live():
    """The live hub, named by host name (the issuer and rp id are `localhost`)."""
    server = LiveServer()
    server.url = f"http://localhost:{server.port}"
    yield server
    if server.app is not None:
        server.stop()
    else:
        server.server.server_close()


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="vi-VN")
        tab = context.new_page()
        cdp = context.new_cdp_session(tab)
        cdp.send("WebAuthn.enable")
        found = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        tab.authenticator = (cdp, found["authenticatorId"])
        tab.csp_violations = []
        tab.on(
            "console",
            lambda m: "Content Security Policy" in m.text and tab.csp_violations.append(m.text),
        )
        yield tab
        browser.close()


def sign_out(page, hub: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(hub + "/account/sessions")
    page.click("form:has(input[name=session][value=all]) button[type=submit]")
    page.goto(hub + "/account")
    assert "/sso/login" in page.url


def test_enrol_a_passkey_then_sign_in_with_it_as_second_factor_and_alone(hub, person, apps, page):
    # Signed in with password and code just now: adding needs no password again.
    page.goto(hub + "/sso/login?next=/account/passkeys")
    page.fill("input[name=username]", person["username"])
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/sso/login'] button[type=submit]")
    page.fill("input[name=code]", code_at(person["secret"], 0))
    page.click("form[action='/sso/login/code'] button[type=submit]")
    page.wait_for_url(hub + "/account/passkeys")
    assert page.locator("#passkey-add").is_visible()
    assert not page.locator("[data-passkey-nojs]").is_visible()
    page.fill("#passkey-add input[name=name]", "Máy tính cơ quan")
    page.click("#passkey-add button[type=submit]")
    page.wait_for_url(hub + "/account/passkeys?added=1")
    assert page.inner_text("ul.passkeys li .name") == "Máy tính cơ quan"
    cdp, authenticator = page.authenticator
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [c["isResidentCredential"] for c in stored["credentials"]] == [True]

    # The password, then the passkey instead of the code.
    sign_out(page, hub)
    page.goto(hub + "/sso/login?next=/account")
    page.fill("input[name=username]", person["username"])
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/sso/login'] button[type=submit]")
    page.wait_for_url(hub + "/sso/login/code")
    page.click("#passkey-second")
    page.wait_for_url(hub + "/account")
    assert "Đặng Thị Ánh" in page.content()

    # The passkey alone, starting at an app.
    sign_out(page, hub)
    first = apps[0]
    page.goto(first + "/")
    page.click("#login")
    page.wait_for_url(hub + "/sso/login*")
    page.click("#passkey-signin")
    page.wait_for_url(first + "/")
    assert "Đặng Thị Ánh" in page.inner_text("#who")

    page.goto(hub + "/account/passkeys")
    assert page.locator("ul.passkeys li").count() == 1
    assert page.csp_violations == []
