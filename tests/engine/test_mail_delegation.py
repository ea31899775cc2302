"""Ủy quyền hộp thư: a deputy reads the owner's mailbox for a period, by itself on and off.

HR API → mail worker → Dovecot ACL on the owner's INBOX; read over IMAP by the deputy
as shared/<owner>/INBOX, against the real servers.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import uuid

import pytest
from sqlalchemy import func, select

from idhub.models import HubState, MailDelegation
from idhub.scheduler.sweep import sweep
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.mail import (
    drain_all,
    enable_mail,
    imap_login,
    send_mail,
    set_password,
    wait_for_subject,
)

TODAY = dt.date.today()
PASSWORD = "Mật-khẩu-ủy-quyền-2026"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


@pytest.fixture
def people(api):
    root = make_unit(
        api, code="03388", name="Ủy ban nhân dân xã Mường Tè", mail_domain="muongte.laichau.gov.vn"
    )
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    deputy_post = make_position(
        api, code="PCT_UBND_XA", name="Phó Chủ tịch UBND xã", leadership_level=3
    )
    owner = make_person(api, family_name="Lò", middle_name="Văn", given_name="Đức")
    deputy = make_person(api, family_name="Đặng", middle_name="Thị", given_name="Hà")
    make_assignment(api, owner, root, chairman)
    make_assignment(api, deputy, root, deputy_post)
    return owner, deputy


def _delegate(api, owner, deputy, start, end):
    return api.post(
        f"/api/v1/people/{owner['id']}/mail-delegations",
        {
            "deputy_id": deputy["id"],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "reason": "Đi công tác, ủy quyền xử lý thư",
        },
    )


def _can_read_owner(stack, deputy_uid: str, owner_uid: str) -> list[bytes] | None:
    conn = imap_login(stack, deputy_uid, PASSWORD)
    try:
        typ, _ = conn.select(f'"shared/{owner_uid}/INBOX"', readonly=True)
        if typ != "OK":
            return None
        return conn.search(None, "ALL")[1][0].split()
    except imaplib.IMAP4.error:
        return None
    finally:
        conn.logout()


def test_bad_delegations_are_refused_and_nothing_is_written(app, api, people):
    owner, deputy = people
    yesterday = TODAY - dt.timedelta(days=1)
    for body_deputy, start, end, field in (
        (owner, TODAY, TODAY, "deputy_id"),
        (deputy, TODAY, yesterday, "end_date"),
        (deputy, TODAY, TODAY + dt.timedelta(days=400), "end_date"),
        ({"id": str(uuid.uuid4())}, TODAY, TODAY, "deputy_id"),
    ):
        response = _delegate(api, owner, body_deputy, start, end)
        assert response.status_code == 422, response.json
        assert field in response.json["details"]
    assert _delegate(api, {"id": str(uuid.uuid4())}, deputy, TODAY, TODAY).status_code == 404
    with app.extensions["idhub"].db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(MailDelegation)) == 0


def test_access_appears_at_start_and_goes_after_the_end_by_itself(app, api, people, mail_server):
    owner, deputy = people
    drain_all(app)
    for person in people:
        set_password(app, person["id"], PASSWORD)
    owner_uid, deputy_uid = "duclv", "hadt"
    assert api.get(f"/api/v1/people/{owner['id']}").json["username"] == owner_uid
    send_mail(mail_server, f"{owner_uid}@muongte.laichau.gov.vn", "Hồ sơ cần ký")
    wait_for_subject(mail_server, owner_uid, PASSWORD, "Hồ sơ cần ký")
    assert _can_read_owner(mail_server, deputy_uid, owner_uid) is None

    response = _delegate(api, owner, deputy, TODAY, TODAY + dt.timedelta(days=6))
    assert response.status_code == 201, response.json
    drain_all(app)
    assert len(_can_read_owner(mail_server, deputy_uid, owner_uid)) == 1
    listed = api.get(f"/api/v1/people/{owner['id']}/mail-delegations").json
    assert [d["deputy_id"] for d in listed] == [deputy["id"]]
    actions = [e["action"] for e in api.get(f"/api/v1/audit?object_id={owner['id']}").json]
    assert "mailbox.delegation" in actions
    created = api.get("/api/v1/audit?action=mail_delegation.create").json
    assert created[0]["object_id"] == response.json["id"]

    # Someone else was let in by hand: not the hub's to take away.
    mail_server.doveadm("acl", "set", "-u", owner_uid, "INBOX", "user=someone", "lookup")
    # The end date passes: the daily sweep of the next day queues the owner, nothing else.
    db = app.extensions["idhub"].db
    with db.transaction() as session:
        row = session.get(MailDelegation, uuid.UUID(response.json["id"]))
        row.start_date, row.end_date = TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1)
        session.merge(
            HubState(key="last_sweep_date", value=(TODAY - dt.timedelta(days=1)).isoformat())
        )
    with db.transaction() as session:
        assert sweep(session, app.extensions["idhub"].rules, TODAY) >= 1
    drain_all(app)
    assert _can_read_owner(mail_server, deputy_uid, owner_uid) is None
    acl = mail_server.doveadm("-f", "tab", "acl", "get", "-u", owner_uid, "INBOX").stdout
    assert "user=someone" in acl and "user=hadt" not in acl


def test_a_delegation_ended_early_takes_access_away_at_once(app, api, people, mail_server):
    owner, deputy = people
    drain_all(app)
    set_password(app, deputy["id"], PASSWORD)
    created = _delegate(
        api, owner, deputy, TODAY - dt.timedelta(days=2), TODAY + dt.timedelta(days=5)
    )
    assert created.status_code == 201
    drain_all(app)
    assert _can_read_owner(mail_server, "hadt", "duclv") == []  # in, to an empty INBOX
    url = f"/api/v1/people/{owner['id']}/mail-delegations/{created.json['id']}/end"
    assert (
        api.post(url, {"end_date": (TODAY + dt.timedelta(days=9)).isoformat()}).status_code == 422
    )
    ended = api.post(url, {"end_date": (TODAY - dt.timedelta(days=1)).isoformat()})
    assert ended.status_code == 200, ended.json
    drain_all(app)
    assert _can_read_owner(mail_server, "hadt", "duclv") is None
    events = api.get("/api/v1/audit?action=mail_delegation.end").json
    assert events and events[0]["object_id"] == created.json["id"]
