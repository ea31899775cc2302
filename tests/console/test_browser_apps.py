"""An app owner in a real browser (Chromium, driven by Playwright): signs in with password
and TOTP, registers a confidential app in the console with the redirect URI of a live
example app, sees its secret once; the example app is started with that id and secret,
and another person signs in to it through the hub (the code flow ends at the app showing
their name). No inline script, no CSP violation."""

from __future__ import annotations

from examples.rp_app import create_rp
from tests.console.grants import grant
from tests.fixtures.sso import PASSWORD, LiveServer, action_link, activate, code_at, hr_person
from tests.oidc.test_browser import page  # noqa: F401  (the Chromium tab fixture)


def test_an_app_owner_registers_an_app_that_then_signs_a_person_in(app, api, hub, person, page):  # noqa: F811
    grant(app, person["id"], "app_owner")
    rp = LiveServer()
    page.goto(hub + "/admin/apps/new?lang=vi")
    assert "/sso/login" in page.url
    page.fill("input[name=username]", person["username"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=code]", code_at(person["secret"], 0))
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/apps/new**")

    page.fill("input[name=name]", "Văn bản điện tử")
    page.fill("textarea[name=redirect_uris]", rp.url + "/callback")
    page.fill("textarea[name=post_logout_redirect_uris]", rp.url + "/")
    page.fill("input[name=backchannel_logout_uri]", rp.url + "/backchannel")
    for scope in ("openid", "profile", "email", "org", "roles"):
        page.check(f"input[name=scopes][value='{scope}']")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("#client-secret")
    assert "chỉ hiển thị một lần" in page.inner_text("p.warn")
    client_id = page.inner_text("#client-id").strip()
    secret = page.inner_text("#client-secret").strip()
    assert client_id.startswith("idh_") and len(secret) > 40
    page.click("text=Mở trang ứng dụng")
    page.wait_for_url(f"**/admin/apps/{client_id}")
    assert secret not in page.content()  # never again
    assert page.csp_violations == []

    rp.start(create_rp("Văn bản điện tử", rp.url, hub, client_id, secret))
    try:
        other = hr_person(api, family_name="Lường", middle_name="Thị", given_name="Mai")
        other_secret, _, activated = activate(hub, action_link(app, other["id"]))
        assert activated.status_code == 200
        tab = page.context.browser.new_context(locale="vi-VN").new_page()
        tab.goto(rp.url + "/")
        tab.click("#login")
        assert tab.url.startswith(hub + "/sso/login")
        tab.fill("input[name=username]", other["username"])
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        tab.fill("input[name=code]", code_at(other_secret, 0))
        tab.click("button[type=submit]")
        tab.wait_for_load_state()
        if tab.locator("button[value=allow]").count():  # not a first-party app: consent
            tab.click("button[value=allow]")
        tab.wait_for_url(rp.url + "/")
        assert "Lường Thị Mai" in tab.inner_text("#who")
    finally:
        rp.stop()
