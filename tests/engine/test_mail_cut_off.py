"""A leaver's cut-off on the mail server holds against a login that was in flight.

Dovecot checks a password with an LDAP bind (slapd verifies the {ARGON2} hash, tens of
milliseconds, more under load) and caches an acceptance for auth_cache_ttl (an hour). A
login that read the leaver's entry before the directory disabled it can therefore be
accepted, and cached, after the mail target's flush: the leaver then logs in for an hour
(seen in bench/mail.py: 1 leaver of 15 not cut within 180 s, their session ended but
their login accepted). Real slapd, Postfix and Dovecot; the late acceptance is made the
way the race makes it: the entry as that login read it (active), a login, then the
directory's state (disabled) back.
"""

from __future__ import annotations

import datetime as dt
import uuid

import ldap
import pytest
from sqlalchemy import select

from idhub.changes.outbox import enqueue
from idhub.engine.followup import ENTRY_CHANGED
from idhub.models import AuditEvent, ProvisioningJob
from tests.fixtures.factories import lai_chau, make_assignment, make_person
from tests.fixtures.mail import can_login, drain_all, enable_mail, make_workers, set_password
from tests.fixtures.provisioning import directory, entry, wait_for

YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()
PASSWORD = "Mật-khẩu-công-vụ-2026"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


def _status(app, dn: str, status: bytes) -> None:
    conn = directory(app)
    try:
        conn.modify_s(dn, [(ldap.MOD_REPLACE, "idhubAccountStatus", [status])])
    finally:
        conn.unbind_s()


def _mail_jobs(app, person_id: str) -> list[str]:
    with app.extensions["idhub"].db.reading() as session:
        return list(
            session.scalars(
                select(ProvisioningJob.reason).where(
                    ProvisioningJob.subject_id == uuid.UUID(person_id),
                    ProvisioningJob.target == "mail",
                )
            )
        )


def test_a_login_accepted_after_the_flush_is_shut_out_again(app, api, mail_server):
    org = lai_chau(api)
    leaver = make_person(api)
    post = make_assignment(api, leaver, org["dept"], org["specialist"])
    drain_all(app)
    set_password(app, leaver["id"], PASSWORD)
    assert can_login(mail_server, "annv", PASSWORD)

    ended = api.post(
        f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY, "reason": "Nghỉ việc"}
    )
    assert ended.status_code == 200, ended.json
    drain_all(app, mail=False)  # the directory disables the entry and queues the mail job
    dn, attrs = entry(app, leaver["id"])  # moved where the directory keeps leavers
    assert attrs["idhubAccountStatus"] == ["disabled"]
    _, mail_worker = make_workers(app)
    try:
        assert mail_worker.run_once() == 1  # flush and kick: the cut

        # The login in flight: it read the entry while it was still active, and Dovecot
        # accepts (and caches) it once the flush is over.
        _status(app, dn, b"active")
        assert can_login(mail_server, "annv", PASSWORD)
        _status(app, dn, b"disabled")
        assert can_login(mail_server, "annv", PASSWORD)  # the cache's stale acceptance

        # The mail target shuts the leaver out again, a little later, by itself.
        wait_for(
            lambda: mail_worker.run_once() and not can_login(mail_server, "annv", PASSWORD),
            timeout=30,
            interval=0.2,
        )
    finally:
        mail_worker.close()
    assert _mail_jobs(app, leaver["id"]) == []  # once: the second cut queues no third
    with app.extensions["idhub"].db.reading() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.object_id == leaver["id"],
                    AuditEvent.object_type == "mailbox",
                )
            )
        )
    assert actions == ["mailbox.create", "mailbox.disable"]  # the second cut is no change


def test_an_entry_change_of_an_account_already_shut_out_flushes_again(app, api, mail_server):
    """The directory writing a disabled account's entry again (e.g. its forward) is
    followed by a flush: the mail server never keeps a lookup older than the directory."""
    org = lai_chau(api)
    leaver = make_person(api)
    post = make_assignment(api, leaver, org["dept"], org["specialist"])
    drain_all(app)
    set_password(app, leaver["id"], PASSWORD)
    api.post(f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY})
    drain_all(app)
    wait_for(lambda: drain_all(app) == 0 and not _mail_jobs(app, leaver["id"]), timeout=30)
    # a stale acceptance in Dovecot's cache, as above
    dn, _ = entry(app, leaver["id"])
    _status(app, dn, b"active")
    assert can_login(mail_server, "annv", PASSWORD)
    _status(app, dn, b"disabled")
    with app.extensions["idhub"].db.transaction() as session:  # as the directory queues it
        enqueue(session, [uuid.UUID(leaver["id"])], ENTRY_CHANGED, targets=("mail",))
    drain_all(app)
    assert not can_login(mail_server, "annv", PASSWORD)


def test_the_directory_worker_shuts_the_leaver_out_of_dovecot_before_any_mail_job(
    app, api, mail_server
):
    """`idhub worker` gives the directory target a MailCut: once slapd took the disable,
    the login is refused and the open session ended, before the mail target's job (still
    queued here) has run."""
    from idhub.engine.targets.mail import MailCut
    from tests.fixtures.mail import imap_login

    org = lai_chau(api)
    leaver = make_person(api)
    post = make_assignment(api, leaver, org["dept"], org["specialist"])
    drain_all(app)
    set_password(app, leaver["id"], PASSWORD)
    session = imap_login(mail_server, "annv", PASSWORD)  # open, and the login cached
    ended = api.post(f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY})
    assert ended.status_code == 200, ended.json

    directory_worker, mail_worker = make_workers(app)
    directory_worker.target.on_cut = MailCut(app.extensions["idhub"].connectors.mailboxes())
    try:
        assert directory_worker.run_once() == 1
    finally:
        directory_worker.close()
        mail_worker.close()
    assert _mail_jobs(app, leaver["id"]) == [ENTRY_CHANGED]  # the mail target's turn to come
    assert not can_login(mail_server, "annv", PASSWORD)
    with pytest.raises(Exception):  # noqa: B017 - the server closed the kicked session
        session.select("INBOX")


def test_an_unreachable_mail_server_does_not_hold_up_the_directory(tmp_path, caplog):
    """MailCut with nobody listening where Dovecot's API should be: logged, not raised,
    and not tried again for a while (the mail target's job does the cut later)."""
    from connectors.mail import MailConfig, MailConnector
    from idhub.engine.plans import PersonPlan
    from idhub.engine.targets.mail import MailCut
    from idhub.ops.devstack.ports import free_port
    from provisioning.model import AccountState, DesiredAccount

    connector = MailConnector(
        MailConfig(
            doveadm_config="",
            mail_root=str(tmp_path),
            archive_dir=str(tmp_path),
            doveadm_url=f"http://127.0.0.1:{free_port()}/doveadm/v1",
            doveadm_password="x",
            timeout_s=2.0,
        )
    )
    person = uuid.uuid4()
    desired = DesiredAccount(
        str(person), AccountState.DISABLED, "uid=annv,ou=x", {"uid": ("annv",)}, frozenset(), ()
    )
    plan = PersonPlan(person_id=person, desired=desired, actual=None, operations=[])
    cut = MailCut(connector)
    cut([plan])  # refused connection: logged
    assert "left to the mail target" in caplog.text
    assert cut.paused_until > 0
    caplog.clear()
    cut([plan])  # paused: no second attempt, no second warning
    assert "left to the mail target" not in caplog.text
