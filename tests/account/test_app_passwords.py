"""App passwords for mail clients, end to end against real slapd, Dovecot and Postfix:
made on /account/app-passwords (shown once), written to the directory on the person's
converge, checked by slapd when Dovecot binds (IMAP, and Postfix's SMTP AUTH through
Dovecot); the account password alone refused where the province requires app passwords
for people with a second factor; a revoked one refused."""

from __future__ import annotations

import base64
import imaplib
import re
import smtplib
import uuid

import pytest
from sqlalchemy import select

from idhub.changes.mail_credentials import publish_requirement
from idhub.models import AppPassword, AuditEvent
from tests.fixtures.mail import can_login, drain_all, enable_mail, imap_login, tls_context
from tests.fixtures.sso import PASSWORD, form_fields, hr_person

SHOWN = re.compile(
    r"<code class=\"app-password\" data-app-password>([a-z]{4}(?: [a-z]{4}){3})</code>"
)


@pytest.fixture
def required() -> bool:
    return False


@pytest.fixture
def settings(settings, mail_server, tmp_path, required):
    settings["mail"]["app_passwords_required"] = required
    return enable_mail(settings, mail_server, tmp_path / "archive")


def create(hub, browser, label: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    page = browser.get(hub + "/account/app-passwords")
    assert page.status_code == 200, page.text
    return browser.post(
        hub + "/account/app-passwords",
        data={**form_fields(page.text), "label": label, "password": password},
    )


def smtp_auth(stack, user: str, password: str) -> bool:
    """SMTP AUTH PLAIN on the submission port, after STARTTLS (UTF-8: the account password
    has diacritics); True when accepted."""
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=10) as smtp:
        smtp.starttls(context=tls_context(stack))
        smtp.ehlo()
        assert smtp.has_extn("auth"), smtp.esmtp_features
        code, _ = smtp.docmd("AUTH", "PLAIN " + token)
        return code == 235


def test_an_app_password_opens_imap_and_smtp_and_is_shown_once(
    app, hub, person, browser, mail_server
):
    drain_all(app)  # the entry, the account password, the mailbox
    user = person["username"]
    assert can_login(mail_server, user, PASSWORD)

    made = create(hub, browser, "Điện thoại Android")
    assert made.status_code == 200, made.text
    assert made.headers["Cache-Control"] == "no-store"
    secret = SHOWN.search(made.text).group(1)
    assert "Điện thoại Android" in made.text
    again = browser.get(hub + "/account/app-passwords")
    assert secret not in again.text and "Điện thoại Android" in again.text
    with app.extensions["idhub"].db.reading() as session:
        row = session.scalars(select(AppPassword)).one()
        assert all(h.startswith("{SSHA512}") and secret not in h for h in row.hashes)

    drain_all(app)
    assert can_login(mail_server, user, secret)
    assert can_login(mail_server, user, secret.replace(" ", ""))  # as typed on a phone
    assert smtp_auth(mail_server, user, secret.replace(" ", ""))
    # The setting is off: the account password still opens mail.
    assert can_login(mail_server, user, PASSWORD)
    assert smtp_auth(mail_server, user, PASSWORD)
    assert not smtp_auth(mail_server, user, "abcd efgh ijkl mnop")


@pytest.mark.parametrize("required", [True])
def test_required_the_account_password_alone_no_longer_opens_mail_and_revoking_stops_a_device(
    app, hub, person, browser, mail_server
):
    drain_all(app)
    user = person["username"]
    phone = SHOWN.search(create(hub, browser, "Điện thoại").text).group(1)
    laptop = SHOWN.search(create(hub, browser, "Máy tính xách tay").text).group(1)
    drain_all(app)
    assert not can_login(mail_server, user, PASSWORD)  # a second factor: TOTP
    assert not smtp_auth(mail_server, user, PASSWORD)
    assert can_login(mail_server, user, phone)
    assert can_login(mail_server, user, laptop)
    assert smtp_auth(mail_server, user, laptop)
    session_of_phone = imap_login(mail_server, user, phone)

    page = browser.get(hub + "/account/app-passwords")
    assert "chỉ đăng nhập được bằng mật khẩu ứng dụng" in page.text
    with app.extensions["idhub"].db.reading() as session:
        phone_id = session.scalar(select(AppPassword.id).where(AppPassword.label == "Điện thoại"))
    revoked = browser.post(
        hub + f"/account/app-passwords/{phone_id}/revoke",
        data=form_fields(page.text),
        allow_redirects=False,
    )
    assert revoked.status_code == 303
    drain_all(app)
    assert not can_login(mail_server, user, phone)
    assert not smtp_auth(mail_server, user, phone)
    assert can_login(mail_server, user, laptop)
    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # its open session was ended
        session_of_phone.noop()
    with app.extensions["idhub"].db.reading() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("app_password.create") == 2
    assert "app_password.revoke" in actions
    assert "app_password.requirement" in actions

    # The province turns the requirement off again (as `idhub worker` publishes it at start).
    with app.extensions["idhub"].db.transaction() as session:
        assert publish_requirement(session, False) != []
    drain_all(app)
    assert can_login(mail_server, user, PASSWORD)
    assert can_login(mail_server, user, laptop)


def test_a_person_revokes_only_their_own(app, hub, person, browser, api):
    other = hr_person(api, family_name="Lò", middle_name="Văn", given_name="Pọm")
    with app.extensions["idhub"].db.transaction() as session:
        row = AppPassword(person_id=uuid.UUID(other["id"]), label="Điện thoại", hashes=[])
        session.add(row)
        session.flush()
        row_id = row.id
    page = browser.get(hub + "/account/app-passwords")
    refused = browser.post(
        hub + f"/account/app-passwords/{row_id}/revoke", data=form_fields(page.text)
    )
    assert refused.status_code == 404
    no_csrf = browser.post(hub + f"/account/app-passwords/{row_id}/revoke", data={})
    assert no_csrf.status_code == 400
    with app.extensions["idhub"].db.reading() as session:
        assert session.get(AppPassword, row_id).revoked_at is None


def test_making_one_needs_the_account_password(app, hub, person, browser):
    refused = create(hub, browser, "Máy tính bảng", password="không phải mật khẩu")
    assert refused.status_code == 400
    assert not SHOWN.search(refused.text)
    with app.extensions["idhub"].db.reading() as session:
        assert session.scalars(select(AppPassword)).all() == []
    anonymous = browser.__class__().post(hub + "/account/app-passwords", data={"label": "x"})
    assert anonymous.status_code == 200 and "/sso/login" in anonymous.url
