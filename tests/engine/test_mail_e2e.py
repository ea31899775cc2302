"""Official mail end to end: HR API → directory worker → mail worker → real Postfix and
Dovecot; SMTP in with smtplib, IMAP out with imaplib. No mocks."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import threading
import time
import uuid

import pytest

from idhub.changes.outbox import enqueue
from idhub.models import Assignment
from tests.fixtures.factories import (
    joiner_items,
    lai_chau,
    make_assignment,
    make_person,
    make_position,
)
from tests.fixtures.mail import (
    archived_messages,
    can_login,
    drain_all,
    enable_mail,
    imap_login,
    make_workers,
    send_mail,
    set_password,
    subjects,
    wait_for_subject,
)
from tests.fixtures.provisioning import entry, wait_for

TODAY = dt.date.today()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()
PASSWORD = "Mật-khẩu-công-vụ-2026"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


@pytest.fixture
def org(api):
    return lai_chau(api)


class BothWorkers:
    """The directory and mail workers in threads, as `idhub worker` runs them."""

    def __init__(self, app) -> None:
        self.workers = make_workers(app)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=w.run, args=(self.stop,), daemon=True) for w in self.workers
        ]

    def __enter__(self) -> BothWorkers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
            assert not thread.is_alive()


def _accounts(api, person_id: str) -> dict[str, dict]:
    return {a["target"]: a for a in api.get(f"/api/v1/people/{person_id}/accounts").json}


def test_joiner_receives_mail_readable_over_imap_with_their_password(app, api, org, mail_server):
    with BothWorkers(app):
        person = make_person(api, family_name="Đặng", middle_name="Thị Ngọc", given_name="Ánh")
        make_assignment(api, person, org["dept"], org["specialist"])
        wait_for(lambda: _accounts(api, person["id"]).get("mail", {}).get("state") == "in_sync")
        set_password(app, person["id"], PASSWORD)
        started = time.monotonic()
        send_mail(mail_server, "anhdtn@laichau.gov.vn", "Chào mừng đồng chí")
        wait_for_subject(mail_server, "anhdtn", PASSWORD, "Chào mừng đồng chí")
        print(f"joiner: SMTP → IMAP in {(time.monotonic() - started) * 1000:.0f} ms")
    box = mail_server.mail_root / person["id"][:2] / person["id"]
    assert (box / "Maildir").is_dir()  # created by the mail worker, named by the key
    mail_link = _accounts(api, person["id"])["mail"]
    assert mail_link["dn"] == f"{person['id'][:2]}/{person['id']}" and mail_link["enabled"]
    events = api.get(f"/api/v1/audit?object_id={person['id']}&object_type=mailbox").json
    assert [e["action"] for e in events] == ["mailbox.create"]


def test_leaver_is_shut_out_at_once_forwarded_then_archived_and_deleted(app, api, org, mail_server):
    leaver = make_person(api)
    post = make_assignment(api, leaver, org["dept"], org["specialist"])
    successor = make_person(api, family_name="Lê", middle_name="Đức", given_name="Cường")
    drain_all(app)
    set_password(app, leaver["id"], PASSWORD)
    send_mail(mail_server, "annv@laichau.gov.vn", "Trước khi nghỉ")
    wait_for_subject(mail_server, "annv", PASSWORD, "Trước khi nghỉ")
    session = imap_login(mail_server, "annv", PASSWORD)  # an open session; the login is cached

    api.post(f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY, "reason": "Nghỉ hưu"})
    make_assignment(api, successor, org["dept"], org["specialist"], start_date=TODAY.isoformat())
    drain_all(app)
    # no cache delay: the very next login fails, and the open session was ended
    assert not can_login(mail_server, "annv", PASSWORD)
    with pytest.raises(Exception):  # noqa: B017 - the server closed the kicked session
        session.select("INBOX")
    # mail follows the leave policy: forwarded to the successor
    set_password(app, successor["id"], PASSWORD)
    send_mail(mail_server, "annv@laichau.gov.vn", "Gửi người đã nghỉ")
    wait_for_subject(mail_server, "cuongld", PASSWORD, "Gửi người đã nghỉ")
    assert entry(app, leaver["id"])[1]["idhubMailForward"] == ["cuongld@laichau.gov.vn"]

    # retention over: the mailbox is archived (with the messages), then deleted
    with app.extensions["idhub"].db.transaction() as db_session:
        db_session.get(Assignment, uuid.UUID(post["id"])).start_date = dt.date(2024, 1, 1)
        db_session.get(Assignment, uuid.UUID(post["id"])).end_date = TODAY - dt.timedelta(days=200)
        enqueue(db_session, [uuid.UUID(leaver["id"])], "test: retention passed")
    drain_all(app)
    assert entry(app, leaver["id"]) is None
    box = mail_server.mail_root / leaver["id"][:2] / leaver["id"]
    assert not box.exists()
    mail_link = _accounts(api, leaver["id"])["mail"]
    assert mail_link["state"] == "absent"
    messages = [  # the link keeps where the archive is (made after the entry went)
        email.message_from_bytes(raw, policy=email.policy.default)
        for raw in archived_messages(mail_link["dn"])
    ]
    assert [str(m["Subject"]) for m in messages] == ["Trước khi nghỉ"]
    actions = [e["action"] for e in api.get("/api/v1/audit?object_type=mailbox").json]
    assert "mailbox.disable" in actions and "mailbox.archive" in actions


def test_domain_change_old_address_still_arrives(app, api, org, mail_server):
    person = make_person(api)
    make_assignment(api, person, org["dept"], org["specialist"])
    drain_all(app)
    set_password(app, person["id"], PASSWORD)
    api.patch_fresh(f"/api/v1/org-units/{org['root']['id']}", {"mail_domain": "lc.gov.vn"})
    drain_all(app)
    send_mail(mail_server, "annv@laichau.gov.vn", "Gửi địa chỉ cũ")
    send_mail(mail_server, "annv@lc.gov.vn", "Gửi địa chỉ mới")
    wait_for_subject(mail_server, "annv", PASSWORD, "Gửi địa chỉ mới")
    wait_for_subject(mail_server, "annv", PASSWORD, "Gửi địa chỉ cũ")
    assert sorted(subjects(mail_server, "annv", PASSWORD)) == ["Gửi địa chỉ cũ", "Gửi địa chỉ mới"]


def test_mail_server_down_during_a_batch_converges_once_back(app, api, org, mail_server):
    mail_server.stop_dovecot()
    try:
        response = api.post(
            "/api/v1/batches",
            {"items": joiner_items(org["dept"], org["specialist"], 5, id_prefix="0020")},
        )
        assert response.status_code == 200, response.json
        people = [i for i in response.json["items"] if i["op"] == "create_person"]
        drain_all(app, mail=False)  # the directory converges and queues mail jobs
        assert make_workers(app)[1].run_once() == 5  # they fail: Dovecot is away
        for person in people:
            states = _accounts(api, person["id"])
            assert states["ldap"]["state"] == "in_sync"
            assert states["mail"]["state"] == "pending"
            assert "Dovecot is not answering" in states["mail"]["last_error"]
    finally:
        mail_server.start()
    with BothWorkers(app):  # retried with backoff: nothing lost
        for person in people:
            wait_for(lambda p=person: _accounts(api, p["id"])["mail"]["state"] == "in_sync", 30)
    for n, person in enumerate(people):
        username = api.get(f"/api/v1/people/{person['id']}").json["username"]
        set_password(app, person["id"], PASSWORD)
        send_mail(mail_server, f"{username}@laichau.gov.vn", f"Thư số {n}")
        wait_for_subject(mail_server, username, PASSWORD, f"Thư số {n}")


def test_a_new_quota_applies_at_once_despite_dovecots_cache(app, api, org, mail_server):
    person = make_person(api)
    post = make_assignment(api, person, org["dept"], org["specialist"])
    drain_all(app)
    set_password(app, person["id"], PASSWORD)
    rules = app.extensions["idhub"].rules

    def limit_kib() -> str:  # doveadm's lookup goes through the auth cache too
        table = mail_server.doveadm("-f", "tab", "quota", "get", "-u", "annv").stdout
        return next(line.split("\t")[3] for line in table.splitlines() if "\tSTORAGE\t" in line)

    assert can_login(mail_server, "annv", PASSWORD)  # the lookup is cached now
    assert limit_kib() == str(rules.quota_bytes("standard") // 1024)
    head = make_position(api, code="TRUONG_PHONG", name="Trưởng phòng", leadership_level=2)
    api.patch(f"/api/v1/assignments/{post['id']}", {"position_id": head["id"]}, etag='"1"')
    drain_all(app)
    assert entry(app, person["id"])[1]["idhubMailQuota"] == [str(rules.quota_bytes("large"))]
    assert limit_kib() == str(rules.quota_bytes("large") // 1024)


def test_a_leaver_bounced_by_the_rules_gets_the_message_at_rcpt(app, api, org, mail_server):
    import dataclasses
    import smtplib

    rules = app.extensions["idhub"].rules
    app.extensions["idhub"].rules = dataclasses.replace(
        rules,
        mail=dataclasses.replace(
            rules.mail, leaver_action="bounce", leaver_bounce_message="{name} đã nghỉ hưu."
        ),
    )
    person = make_person(api, family_name="Đỗ", middle_name="Thị", given_name="Lan")
    post = make_assignment(api, person, org["dept"], org["specialist"])
    drain_all(app)
    api.post(f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY})
    drain_all(app)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_mail(mail_server, "landt@laichau.gov.vn", "Gửi người đã nghỉ hưu")
    code, text = refused.value.recipients["landt@laichau.gov.vn"]
    assert code == 554 and text.decode().endswith("Do Thi Lan da nghi huu.")
