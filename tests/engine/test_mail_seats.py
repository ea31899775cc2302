"""Seat mailboxes: the mailbox of a post, read by whoever holds the post, handed over with it.

HR API → directory worker (the holders' entries) → mail worker (the seat's entry,
mailbox and ACL) → SMTP in and IMAP out against the real Postfix, Dovecot and slapd.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import imaplib
import time

import ldap
import pytest
from sqlalchemy import func, select

from idhub.models import AuditEvent, Seat
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.mail import (
    drain_all,
    enable_mail,
    imap_login,
    make_workers,
    send_mail,
    set_password,
)
from tests.fixtures.provisioning import directory

TODAY = dt.date.today()
YESTERDAY = TODAY - dt.timedelta(days=1)
PASSWORD = "Mật-khẩu-chức-danh-2026"
DOMAIN = "banlang.laichau.gov.vn"
SEAT_UID = "chutich.banlang"
SUBJECT = "Công văn số 12 gửi Chủ tịch"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


@pytest.fixture
def commune(api):
    unit = make_unit(
        api,
        code="03410",
        name="Ủy ban nhân dân xã Bản Lang",
        short_name="Xã Bản Lang",
        mail_domain=DOMAIN,
    )
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    clerk = make_position(api, code="CONG_CHUC_VP_TK", name="Công chức Văn phòng – Thống kê")
    return unit, chairman, clerk


def _open_seat(stack, user: str) -> list[str] | None:
    """Subjects in the seat's INBOX as `user` sees it, or None when refused."""
    conn = imap_login(stack, user, PASSWORD)
    try:
        typ, _ = conn.select(f'"shared/{SEAT_UID}/INBOX"', readonly=True)
        if typ != "OK":
            return None
        found = []
        for num in conn.search(None, "ALL")[1][0].split():
            header = conn.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0][1]
            parsed = email.message_from_bytes(header, policy=email.policy.default)
            found.append(str(parsed["Subject"]))
        return found
    except imaplib.IMAP4.error:
        return None
    finally:
        conn.logout()


def _wait_in_seat(stack, user: str, timeout: float = 15.0) -> list[str] | None:
    deadline = time.monotonic() + timeout
    while True:
        found = _open_seat(stack, user)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _seat_row(app) -> Seat:
    with app.extensions["idhub"].db.transaction() as session:
        return session.scalars(select(Seat)).one()


def test_the_seat_follows_the_post_and_its_mail_stays(app, api, commune, mail_server, ldap_base):
    unit, chairman, clerk = commune
    first = make_person(api, family_name="Lò", middle_name="Văn", given_name="Đức")
    second = make_person(api, family_name="Đặng", middle_name="Thị", given_name="Hà")
    first_post = make_assignment(api, first, unit, chairman)
    make_assignment(api, second, unit, clerk)
    drain_all(app)

    seat = _seat_row(app)
    assert seat.uid == SEAT_UID and seat.state == "in_sync" and seat.enabled
    people = {p["id"]: api.get(f"/api/v1/people/{p['id']}").json for p in (first, second)}
    first_uid, second_uid = (people[p["id"]]["username"] for p in (first, second))
    assert seat.holders == [first_uid]
    for person in (first, second):
        set_password(app, person["id"], PASSWORD)

    # The directory holds the seat like an account, but nobody can bind as it.
    conn = directory(app)
    try:
        [(_, entry)] = conn.search_s(
            f"ou=seats,{ldap_base}", ldap.SCOPE_ONELEVEL, f"(uid={SEAT_UID})"
        )
    finally:
        conn.unbind_s()
    assert entry["mail"] == [f"{SEAT_UID}@{DOMAIN}".encode()]
    assert "userPassword" not in entry and b"idhubSeat" in entry["objectClass"]

    listed = api.get("/api/v1/seats").json
    assert [(s["uid"], s["address"], s["holders"]) for s in listed] == [
        (SEAT_UID, f"{SEAT_UID}@{DOMAIN}", [first_uid])
    ]

    send_mail(mail_server, f"{SEAT_UID}@{DOMAIN}", SUBJECT)
    assert _wait_in_seat(mail_server, first_uid) == [SUBJECT]
    assert _open_seat(mail_server, second_uid) is None  # not the chairman (yet)

    # Handover: the first chairman becomes a clerk, the second takes the post today.
    assert (
        api.post(
            f"/api/v1/assignments/{first_post['id']}/end", {"end_date": YESTERDAY.isoformat()}
        ).status_code
        == 200
    )
    make_assignment(api, first, unit, clerk, start_date=TODAY.isoformat())
    make_assignment(api, second, unit, chairman, kind="concurrent", start_date=TODAY.isoformat())
    drain_all(app)

    assert _open_seat(mail_server, second_uid) == [SUBJECT]  # mail from before the handover
    assert _open_seat(mail_server, first_uid) is None  # still signs in, but not into the seat
    assert imap_login(mail_server, first_uid, PASSWORD).logout()[0] == "BYE"
    seat = _seat_row(app)
    assert seat.holders == [second_uid]

    with app.extensions["idhub"].db.transaction() as session:
        events = [
            (e.action, (e.before or {}).get("holders"), (e.after or {}).get("holders"))
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.object_type == "seat").order_by(AuditEvent.id)
            )
        ]
    assert events == [
        ("seat.create", [], [first_uid]),
        ("seat.handover", [first_uid], [second_uid]),
    ]
    assert drain_all(app) == 0  # converged: nothing left to do


def test_a_seat_job_queued_on_the_mail_target_before_an_upgrade_still_converges(
    app, api, commune, mail_server, ldap_base
):
    """Seat jobs on target "mail" (from before the directory target wrote seat entries)
    go to the directory target first, which remakes a lost entry; then the mailbox."""
    from idhub.changes.outbox import enqueue
    from idhub.engine.targets.seat_facts import HOLDERS_CHANGED
    from idhub.models import ProvisioningJob

    unit, chairman, _ = commune
    person = make_person(api, family_name="Lò", middle_name="Văn", given_name="Đức")
    make_assignment(api, person, unit, chairman)
    drain_all(app)
    seat = _seat_row(app)
    conn = directory(app)
    try:
        conn.delete_s(seat.dn)  # by hand: only a converge of the seat brings it back
    finally:
        conn.unbind_s()
    db = app.extensions["idhub"].db
    with db.transaction() as session:
        enqueue(session, [seat.id], HOLDERS_CHANGED, targets=("mail",))

    assert drain_all(app) == 3  # mail (sent on), directory (the entry), mail (the mailbox)
    conn = directory(app)
    try:
        found = conn.search_s(f"ou=seats,{ldap_base}", ldap.SCOPE_ONELEVEL, f"(uid={SEAT_UID})")
    finally:
        conn.unbind_s()
    assert [dn for dn, _ in found] == [seat.dn]
    with db.transaction() as session:
        assert session.scalars(select(ProvisioningJob)).all() == []
        (event,) = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "seat")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        assert (event.action, event.reason) == ("seat.create", HOLDERS_CHANGED)
        assert "create" in event.after["operations"]  # the entry's (the mailbox was kept)
    assert _seat_row(app).state == "in_sync"


def test_an_entry_converge_recorded_while_the_mailbox_converges_is_reported_next(
    app, api, commune, mail_server, monkeypatch
):
    """The mail target clears the entry operations it reported only if no entry converge
    was recorded since it read them: one recorded between the mail worker's plan and its
    record is reported by the next mail job (the seat's audit event), not lost."""
    from idhub.changes.outbox import enqueue
    from idhub.engine.targets.seat_facts import HOLDERS_CHANGED

    unit, chairman, _ = commune
    person = make_person(api, family_name="Lò", middle_name="Văn", given_name="Đức")
    make_assignment(api, person, unit, chairman)
    drain_all(app)
    seat = _seat_row(app)
    db = app.extensions["idhub"].db
    with db.transaction() as session:
        last_event = session.scalar(select(func.max(AuditEvent.id)))

    directory_worker, mail_worker = make_workers(app)
    try:
        with db.transaction() as session:
            enqueue(session, [seat.id], HOLDERS_CHANGED, targets=("ldap",))
        assert directory_worker.run_once() == 1  # the entry (as it was): its mail job queued
        apply = mail_worker.target.apply

        def apply_while_the_entry_converges(plans):
            apply(plans)
            conn = directory(app)  # someone edits the entry; the directory puts it back
            try:
                conn.modify_s(seat.dn, [(ldap.MOD_REPLACE, "title", [b"Edited by hand"])])
            finally:
                conn.unbind_s()
            with db.transaction() as session:
                enqueue(session, [seat.id], HOLDERS_CHANGED, targets=("ldap",))
            assert directory_worker.run_once() == 1

        monkeypatch.setattr(mail_worker.target, "apply", apply_while_the_entry_converges)
        assert mail_worker.run_once() == 1  # read before the modify, recorded after it
    finally:
        directory_worker.target.connector.close()
        mail_worker.close()

    assert drain_all(app) == 1  # the mail job the modify queued
    with db.transaction() as session:
        events = [
            (e.action, e.reason, e.after["operations"])
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_type == "seat", AuditEvent.id > last_event)
                .order_by(AuditEvent.id)
            )
        ]
    assert [(action, reason) for action, reason, _ in events] == [("seat.update", HOLDERS_CHANGED)]
    assert events[0][2][0] == "modify"  # the entry's, reported by the next mail job
    row = _seat_row(app)
    assert (row.entry_ops, row.entry_version) == ([], row.entry_reported)
    assert row.state == "in_sync"
