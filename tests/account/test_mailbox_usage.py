"""My mailbox against the real mail stack: the space used, asked of Dovecot."""

from __future__ import annotations

import re

import requests

from tests.account.test_browser_account import settings, staff  # noqa: F401  (fixtures)
from tests.fixtures.mail import send_mail, wait_for_subject
from tests.fixtures.sso import PASSWORD, sign_in


def _quota(hub: str, browser: requests.Session) -> str:
    page = browser.get(hub + "/account/mailbox", headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    return re.search(r'<dd id="quota">([^<]*)</dd>', page.text).group(1)


def test_the_mailbox_page_shows_the_space_used(app, hub, mail_server, staff):  # noqa: F811
    browser = requests.Session()
    assert (
        sign_in(hub, staff["username"], PASSWORD, staff["secret"], browser=browser).status_code
        == 303
    )
    assert _quota(hub, browser) == "Đã dùng 0 B / 2.0 GiB"
    page = browser.get(hub + "/account/mailbox").text
    address = re.search(r'<dd id="address">([^<]*)</dd>', page).group(1)
    send_mail(mail_server, address, "Giấy mời họp", "Kính gửi chị. " * 200)
    wait_for_subject(mail_server, staff["username"], PASSWORD, "Giấy mời họp")
    used = _quota(hub, browser)
    assert used.startswith("Đã dùng ") and not used.startswith("Đã dùng 0 B"), used
