"""A real browser (Debian's chromium, Playwright) makes an app password on
/account/app-passwords, and a mail client logs in to IMAP with it (real slapd, Dovecot):
the page works without script under the strict CSP, and shows the password once."""

from __future__ import annotations

import pytest

from tests.fixtures.mail import can_login, drain_all, enable_mail
from tests.fixtures.sso import PASSWORD, code_at
from tests.oidc.test_browser import page  # noqa: F401 - the Chromium tab fixture

__all__ = ["page"]


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    settings["mail"]["app_passwords_required"] = True
    return enable_mail(settings, mail_server, tmp_path / "archive")


def test_an_app_password_made_in_a_browser_opens_imap(app, hub, person, page, mail_server):  # noqa: F811
    drain_all(app)
    user = person["username"]
    page.goto(hub + "/account/app-passwords")
    assert page.url.startswith(hub + "/sso/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=code]", code_at(person["secret"], 0))
    page.click("button[type=submit]")
    page.wait_for_url(hub + "/account/app-passwords")
    assert "Mật khẩu ứng dụng" in page.content()

    page.fill("input[name=label]", "Thunderbird máy cơ quan")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action$='/account/app-passwords'] button[type=submit]")
    secret = page.inner_text("code[data-app-password]")
    assert len(secret.replace(" ", "")) == 16
    assert "Thunderbird máy cơ quan" in page.inner_text("ul.app-passwords")

    page.goto(hub + "/account/app-passwords")  # shown once
    assert secret not in page.content()
    assert page.csp_violations == []

    drain_all(app)
    assert can_login(mail_server, user, secret)
    assert not can_login(mail_server, user, PASSWORD)  # required, and TOTP is set up
