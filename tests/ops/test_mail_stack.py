"""The throwaway mail stack against the real slapd: SMTP in, LMTP to Dovecot, IMAP out.

Entries are written by hand here (no hub), so these tests pin down what Postfix and
Dovecot do with the directory attributes the hub writes (idhub/defaults/mail/, docs/mail.md).
"""

from __future__ import annotations

import base64
import imaplib
import smtplib
import socket
import ssl
import time
import uuid

import ldap
import pytest
from argon2 import PasswordHasher

from idhub.ops.devstack.mail import MailStack
from idhub.ops.devstack.run import _mail_env
from tests.fixtures.mail import (
    can_login,
    imap_login,
    make_mail_stack,
    send_mail,
    subjects,
    tls_context,
    wait_for_subject,
)
from tests.fixtures.tls import make_pki

PASSWORD = "Mật-khẩu-thư-2026"


def add_person(
    slapd,
    base: str,
    uid: str,
    *,
    mail: str,
    status: str = "active",
    mailbox: str | None = None,
    aliases: tuple[str, ...] = (),
    forward: tuple[str, ...] = (),
    bounce: str | None = None,
    quota: int | None = 10_000_000,
) -> str:
    dn = f"uid={uid},{base}"
    person_id = str(uuid.uuid4())
    entry: dict[str, list[bytes]] = {
        "objectClass": [b"inetOrgPerson", b"idhubPerson"],
        "uid": [uid.encode()],
        "cn": ["Nguyễn Văn An".encode()],
        "sn": ["Nguyễn".encode()],
        "mail": [mail.encode()],
        "idhubPersonId": [person_id.encode()],
        "idhubAccountStatus": [status.encode()],
        "idhubMailbox": [(mailbox or f"{person_id[:2]}/{person_id}").encode()],
        "userPassword": [("{ARGON2}" + PasswordHasher().hash(PASSWORD)).encode()],
    }
    if aliases:
        entry["idhubMailAlias"] = [a.encode() for a in aliases]
    if forward:
        entry["idhubMailForward"] = [a.encode() for a in forward]
    if bounce:
        entry["idhubMailBounce"] = [bounce.encode()]
    if quota is not None:
        entry["idhubMailQuota"] = [str(quota).encode()]
    conn = slapd.connect()
    conn.add_s(dn, list(entry.items()))
    conn.unbind_s()
    return dn


def modify(slapd, dn: str, **values: list[str]) -> None:
    conn = slapd.connect()
    conn.modify_s(
        dn,
        [
            (ldap.MOD_REPLACE, name, [v.encode() for v in vals] or None)
            for name, vals in values.items()
        ],
    )
    conn.unbind_s()


def test_mail_to_the_address_and_an_alias_is_read_over_imap(slapd_server, ldap_base, mail_server):
    add_person(
        slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn", aliases=("annv@lc.gov.vn",)
    )
    started = time.monotonic()
    send_mail(mail_server, "annv@laichau.gov.vn", "Giấy mời họp")
    wait_for_subject(mail_server, "annv", PASSWORD, "Giấy mời họp")
    print(f"SMTP → IMAP round trip: {(time.monotonic() - started) * 1000:.0f} ms")
    send_mail(mail_server, "annv@lc.gov.vn", "Gửi địa chỉ cũ")
    seen = wait_for_subject(mail_server, "annv", PASSWORD, "Gửi địa chỉ cũ")
    assert seen == ["Giấy mời họp", "Gửi địa chỉ cũ"]
    assert not can_login(mail_server, "annv", "wrong password")


def _plain(user: str, password: str) -> bytes:
    return b"\0" + user.encode() + b"\0" + password.encode()


def test_the_stack_speaks_tls_with_its_own_ca(slapd_server, ldap_base, mail_server, tmp_path):
    """IMAPS and IMAP STARTTLS log in with the stack's CA; submission offers AUTH only
    after STARTTLS; a client trusting another CA gets nothing."""
    add_person(slapd_server, ldap_base, "lanpt", mail="lanpt@laichau.gov.vn")
    context = tls_context(mail_server)
    with imaplib.IMAP4_SSL(mail_server.host, mail_server.imaps_port, ssl_context=context) as imaps:
        imaps.authenticate("PLAIN", lambda _: _plain("lanpt", PASSWORD))
        assert imaps.select("INBOX")[0] == "OK"
    assert can_login(mail_server, "lanpt", PASSWORD)  # STARTTLS (tests/fixtures/mail.py)

    token = base64.b64encode(_plain("lanpt", PASSWORD)).decode()
    with smtplib.SMTP(mail_server.host, mail_server.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        assert smtp.docmd("AUTH", "PLAIN " + token)[0] != 235
    with smtplib.SMTP(mail_server.host, mail_server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=context)
        smtp.ehlo()
        assert smtp.has_extn("auth")
        assert smtp.docmd("AUTH", "PLAIN " + token)[0] == 235
    with smtplib.SMTP(mail_server.host, mail_server.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")  # offered to other servers on port 25 as well

    # `make run` tells mail clients which CA to trust (var/run/env.json).
    assert _mail_env(mail_server)["mail_ca_file"] == str(mail_server.tls.ca_file)

    stranger = ssl.create_default_context(cafile=str(make_pki(tmp_path).other_ca_file))
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(mail_server.host, mail_server.imaps_port, ssl_context=stranger)
    with (
        smtplib.SMTP(mail_server.host, mail_server.submission_port, timeout=10) as smtp,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        smtp.starttls(context=stranger)


def test_unknown_addresses_and_other_domains_are_refused(slapd_server, ldap_base, mail_server):
    add_person(slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_mail(mail_server, "nobody@laichau.gov.vn", "x")
    assert b"User unknown" in refused.value.recipients["nobody@laichau.gov.vn"][1]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_mail(mail_server, "someone@example.org", "relay?")


def test_a_disabled_account_cannot_log_in_once_the_cache_is_flushed(
    slapd_server, ldap_base, mail_server
):
    dn = add_person(slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn")
    session = imap_login(mail_server, "annv", PASSWORD)  # also fills the auth cache
    modify(slapd_server, dn, idhubAccountStatus=["disabled"])
    mail_server.doveadm("auth", "cache", "flush")
    mail_server.doveadm("kick", "annv")
    assert not can_login(mail_server, "annv", PASSWORD)
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        session.noop()
    # and nothing is delivered to it any more
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_mail(mail_server, "annv@laichau.gov.vn", "Sau khi nghỉ")
    modify(slapd_server, dn, idhubAccountStatus=["active"])
    mail_server.doveadm("auth", "cache", "flush")
    assert can_login(mail_server, "annv", PASSWORD)  # the same password works again


def test_a_leaver_is_forwarded_or_bounced_with_the_directory_message(
    slapd_server, ldap_base, mail_server
):
    add_person(slapd_server, ldap_base, "binhtt", mail="binhtt@laichau.gov.vn")
    add_person(
        slapd_server,
        ldap_base,
        "annv",
        mail="annv@laichau.gov.vn",
        aliases=("annv@lc.gov.vn",),
        status="disabled",
        forward=("binhtt@laichau.gov.vn",),
    )
    add_person(
        slapd_server,
        ldap_base,
        "cuongld",
        mail="cuongld@laichau.gov.vn",
        status="disabled",
        bounce="Ong Le Duc Cuong da nghi huu; xin gui vanthu@laichau.gov.vn",
    )
    send_mail(mail_server, "annv@laichau.gov.vn", "Chuyển tiếp 1")
    send_mail(mail_server, "annv@lc.gov.vn", "Chuyển tiếp 2")
    wait_for_subject(mail_server, "binhtt", PASSWORD, "Chuyển tiếp 2")
    assert "Chuyển tiếp 1" in subjects(mail_server, "binhtt", PASSWORD)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_mail(mail_server, "cuongld@laichau.gov.vn", "x")
    code, text = refused.value.recipients["cuongld@laichau.gov.vn"]
    assert code == 554 and "da nghi huu" in text.decode()  # SMTP replies are ASCII


def test_mailbox_location_and_quota_come_from_the_directory(slapd_server, ldap_base, mail_server):
    dn = add_person(
        slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn", mailbox="aa/first-owner"
    )
    send_mail(mail_server, "annv@laichau.gov.vn", "Thư của người cũ")
    wait_for_subject(mail_server, "annv", PASSWORD, "Thư của người cũ")
    assert (mail_server.mail_root / "aa" / "first-owner" / "Maildir").is_dir()
    quota = mail_server.doveadm("-f", "tab", "quota", "get", "-u", "annv").stdout
    assert "\t9766\t" in quota  # the limit: 10,000,000 bytes in KiB
    # Another mailbox location for the same uid (a new owner): none of the old mail shows.
    modify(slapd_server, dn, idhubMailbox=["bb/second-owner"])
    mail_server.doveadm("auth", "cache", "flush")
    assert subjects(mail_server, "annv", PASSWORD) == []


def test_over_quota_is_refused(slapd_server, ldap_base, mail_server):
    add_person(slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn", quota=2000)
    send_mail(mail_server, "annv@laichau.gov.vn", "Thư lớn", body="x" * 5000)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        log = mail_server.postfix_log.read_text()
        if "Quota exceeded" in log or "quota" in log.lower():
            break
        time.sleep(0.1)
    assert subjects(mail_server, "annv", PASSWORD) == []
    assert "quota" in mail_server.postfix_log.read_text().lower()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_own_stack_starts_stops_cleanly_and_keeps_mail(mail_tmp, slapd_server, ldap_base):
    add_person(slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn")
    stack: MailStack = make_mail_stack(mail_tmp, slapd_server, ldap_base)
    started = time.monotonic()
    with stack:
        print(f"mail stack bring-up: {time.monotonic() - started:.1f} s")
        send_mail(stack, "annv@laichau.gov.vn", "Trước khi dừng")
        wait_for_subject(stack, "annv", PASSWORD, "Trước khi dừng")
    for port in (stack.smtp_port, stack.imap_port, stack.lmtp_port):
        assert not _listening(port)
    assert not stack.postfix_running() and not stack.dovecot_running()
    with stack:  # same ports, same folder: the mail is still there
        assert subjects(stack, "annv", PASSWORD) == ["Trước khi dừng"]


def test_a_stack_below_a_private_folder_lives_where_the_mail_account_reaches(
    tmp_path, slapd_server, ldap_base
):
    """A clone in a Debian 12 home folder (0700): Dovecot's mail processes run as `mail`
    and could not reach var/mail there, so the stack moves to /var/lib/idhub-dev and
    var/mail links to it; the hub's mail target finds the same folder."""
    from idhub.services import DEV_MAIL_FALLBACK, dev_mail_folder

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    configured = home / "idhub" / "var" / "mail"
    add_person(slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn")
    stack: MailStack = make_mail_stack(configured, slapd_server, ldap_base)
    try:
        assert stack.directory.parent == DEV_MAIL_FALLBACK
        assert stack.relocated and str(stack.directory) in stack.relocated
        with stack:
            send_mail(stack, "annv@laichau.gov.vn", "Thư trong thư mục riêng")
            wait_for_subject(stack, "annv", PASSWORD, "Thư trong thư mục riêng")
        assert configured.is_symlink() and configured.resolve() == stack.directory
        assert dev_mail_folder(configured) == stack.directory  # what the mail target reads
        again = make_mail_stack(configured, slapd_server, ldap_base)  # the next `make run`
        assert again.directory == stack.directory and again.relocated
        with again:
            assert subjects(again, "annv", PASSWORD) == ["Thư trong thư mục riêng"]
    finally:
        stack.remove()
    assert not stack.directory.exists() and not configured.is_symlink()
