"""After a reset, IMAP takes the new password and no longer the old one (#17 weakness 13),
end to end: the password reaches LDAP on the directory converge (whose follow-up mail job
refreshes Dovecot's auth cache). Real slapd, Postfix and Dovecot."""

from __future__ import annotations

import pytest

from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import lai_chau, make_assignment, make_person
from tests.fixtures.mail import can_login, drain_all, enable_mail
from tests.fixtures.sso import PASSWORD, action_link, activate, code_at, form_fields, open_link

NEW_PASSWORD = "Một mật khẩu mới rất dài 2027"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


def test_after_a_reset_imap_takes_the_new_password_not_the_old(app, client, api, hub, mail_server):
    org = lai_chau(api)
    person = make_person(api, family_name="Đặng", middle_name="Thị Ngọc", given_name="Ánh")
    make_assignment(api, person, org["dept"], org["specialist"])
    drain_all(app)  # entry and mailbox
    secret, _, response = activate(hub, action_link(app, person["id"]))
    assert response.status_code == 200
    drain_all(app)
    user = person["username"]
    assert can_login(mail_server, user, PASSWORD)  # Dovecot has cached this login now

    officer = Api(client, token_for(client, register_client(app, ["access:reset"])))
    url = officer.post(
        f"/api/v1/people/{person['id']}/access-reset", {"reason": "Phiếu 12: quên mật khẩu"}
    ).json["url"]
    browser, page = open_link(hub, url.replace(hub, ""))
    done = browser.post(
        hub + "/sso/activate",
        data={
            **form_fields(page.text),
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "code": code_at(secret, 1),
        },
    )
    assert done.status_code == 200, done.text
    drain_all(app)
    assert can_login(mail_server, user, NEW_PASSWORD)
    assert not can_login(mail_server, user, PASSWORD)
