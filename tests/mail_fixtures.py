"""Real Postfix + Dovecot fixtures and helpers (SMTP in with smtplib, IMAP out with imaplib).

Wired in by tests/conftest.py. One mail stack serves the whole session (bring-up about
3 s) and reads the session slapd; `mail_server` points it at the test's own subtree
(`ldap_base`), so uids of earlier tests never answer. Tests that stop the servers start
their own `make_mail_stack(tmp_path, slapd_server)`.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import shutil
import smtplib
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from idhub.ops.devstack.mail import LdapSource, MailStack
from idhub.ops.devstack.slapd import Slapd
from tests.ldap_fixtures import ADMIN_PASSWORD


def make_mail_stack(directory: Path, slapd: Slapd, base_dn: str | None = None) -> MailStack:
    """A (not yet started) throwaway mail stack reading `slapd` below `base_dn`."""
    return MailStack(
        directory,
        LdapSource(slapd.url, base_dn or slapd.base_dn, slapd.admin_dn, ADMIN_PASSWORD),
    )


@contextlib.contextmanager
def mail_folder() -> Iterator[Path]:
    """A fresh folder for a mail stack, removed afterwards. Not under pytest's tmp_path:
    its parents are private to root (0700), and Dovecot's mail processes run as the
    `mail` account, which must reach the mailboxes."""
    path = Path(tempfile.mkdtemp(prefix="idhub-mail-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mail_stack(slapd_server) -> Iterator[MailStack]:
    with mail_folder() as folder, make_mail_stack(folder, slapd_server) as stack:
        yield stack


@pytest.fixture
def mail_tmp() -> Iterator[Path]:
    """A folder for a test's own mail stack (see mail_folder)."""
    with mail_folder() as folder:
        yield folder


@pytest.fixture
def mail_server(mail_stack: MailStack, ldap_base: str) -> MailStack:
    """The session mail stack, serving only this test's directory subtree."""
    mail_stack.use_base(ldap_base)
    return mail_stack


def send_mail(
    stack: MailStack, to: str | list[str], subject: str, body: str = "Kính gửi anh/chị."
) -> None:
    """Submit one message over SMTP (raises smtplib errors, e.g. a refused recipient)."""
    message = EmailMessage()
    message["From"] = "van-thu@example.org"
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(message, to_addrs=[to] if isinstance(to, str) else to)


def imap_login(stack: MailStack, user: str, password: str) -> imaplib.IMAP4:
    """An IMAP session (raises imaplib.IMAP4.error when the login is refused)."""
    conn = imaplib.IMAP4(stack.host, stack.imap_port, timeout=10)
    try:  # SASL PLAIN: the password may hold Vietnamese letters (UTF-8)
        conn.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password.encode())
    except BaseException:
        conn.shutdown()
        raise
    return conn


def can_login(stack: MailStack, user: str, password: str) -> bool:
    try:
        imap_login(stack, user, password).logout()
        return True
    except imaplib.IMAP4.error:
        return False


def subjects(stack: MailStack, user: str, password: str) -> list[str]:
    """Subjects of the messages in the user's INBOX, oldest first."""
    conn = imap_login(stack, user, password)
    try:
        conn.select("INBOX", readonly=True)
        _, data = conn.search(None, "ALL")
        found = []
        for number in data[0].split():
            _, parts = conn.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            header = parts[0][1]  # type: ignore[index]
            parsed = email.message_from_bytes(header, policy=email.policy.default)
            found.append(str(parsed["Subject"]))
        return found
    finally:
        conn.logout()


def wait_for_subject(
    stack: MailStack, user: str, password: str, subject: str, timeout: float = 15.0
) -> list[str]:
    """Wait (bounded) until a message with `subject` is in the INBOX; all subjects."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            seen = subjects(stack, user, password)
        except imaplib.IMAP4.error:
            seen = []
        if subject in seen:
            return seen
        time.sleep(0.05)
    raise AssertionError(
        f"{subject!r} not in {user}'s INBOX within {timeout} s (saw {seen});\n{stack.log_tail()}"
    )


# --------------------------------------------------------------------------- hub + mail


def enable_mail(settings: dict, stack: MailStack, archive_dir: Path) -> dict:
    """Settings whose [mail] target is `stack` (for the `settings` fixture of a module)."""
    settings["mail"].update(
        enabled=True,
        doveadm_config=str(stack.dovecot_conf),
        mail_root=str(stack.mail_root),
        archive_dir=str(archive_dir),
    )
    return settings


def make_workers(app):
    """The directory worker (queueing mail jobs after it) and the mail worker."""
    from idhub import services as runtime
    from idhub.engine.targets.mail import MailWorker
    from idhub.engine.worker import WorkerSettings
    from tests.provisioning_helpers import make_worker

    settings = app.extensions["idhub.settings"]
    directory_worker = make_worker(app)
    directory_worker.then = runtime.then_targets(settings)
    connector = runtime.mail_connector(settings)
    assert connector is not None, "[mail] is not enabled in these settings"
    mail_worker = MailWorker(
        app.extensions["idhub.db"],
        app.extensions["idhub.audit"],
        connector,
        app.extensions["idhub.rules"],
        base_dn=settings["ldap"]["base_dn"],
        settings=WorkerSettings.from_settings(settings["provisioning"]),
        directory=runtime.ldap_connector(settings, app.extensions["idhub.keyring"]),
    )
    return directory_worker, mail_worker


def drain_all(app, rounds: int = 100, *, mail: bool = True) -> int:
    """Worker rounds on both targets (`mail=False`: the directory's only, which still
    queues mail jobs) until none has a job due; the jobs processed."""
    directory_worker, mail_worker = make_workers(app)
    total = 0
    try:
        for _ in range(rounds):
            done = directory_worker.run_once() + (mail_worker.run_once() if mail else 0)
            if not done:
                return total
            total += done
    finally:
        directory_worker.connector.close()
        mail_worker.close()
    raise AssertionError("the queues did not drain")


def set_password(app, person_id: str, password: str) -> str:
    """Give the person's entry an {ARGON2} password through the LDAP connector; the DN."""
    from argon2 import PasswordHasher

    from connectors.base import AccountKey
    from idhub import services as runtime

    connector = runtime.ldap_connector(
        app.extensions["idhub.settings"], app.extensions["idhub.keyring"]
    )
    try:
        return connector.set_password_hash(
            AccountKey(person_id), "{ARGON2}" + PasswordHasher().hash(password)
        )
    finally:
        connector.close()
