"""Mail attributes reach the real directory: HR API → worker → slapd (no mail server)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from idhub.models import MailAddress
from tests.fixtures.factories import (
    lai_chau,
    make_assignment,
    make_person,
    make_position,
)
from tests.fixtures.provisioning import drain, entry

TODAY = dt.date.today()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()


@pytest.fixture
def org(api):
    return lai_chau(api)


def test_joiner_gets_a_mailbox_named_by_the_key_and_a_quota(app, api, org):
    person = make_person(api, family_name="Đặng", middle_name="Thị Ngọc", given_name="Ánh")
    make_assignment(api, person, org["dept"], org["specialist"])
    drain(app)
    _, attrs = entry(app, person["id"])
    assert attrs["mail"] == ["anhdtn@laichau.gov.vn"]
    assert attrs["idhubMailbox"] == [f"{person['id'][:2]}/{person['id']}"]
    rules = app.extensions["idhub"].rules
    assert attrs["idhubMailQuota"] == [str(rules.quota_bytes("standard"))]
    assert "idhubMailAlias" not in attrs and "idhubMailForward" not in attrs


def test_a_domain_change_keeps_the_old_address_as_an_alias(app, api, org):
    person = make_person(api)
    make_assignment(api, person, org["dept"], org["specialist"])
    drain(app)
    api.patch_fresh(f"/api/v1/org-units/{org['root']['id']}", {"mail_domain": "lc.gov.vn"})
    drain(app)
    _, attrs = entry(app, person["id"])
    assert attrs["mail"] == ["annv@lc.gov.vn"]
    assert attrs["idhubMailAlias"] == ["annv@laichau.gov.vn"]
    with app.extensions["idhub"].db.transaction() as session:
        rows = {r.address: r.superseded_on for r in session.scalars(select(MailAddress))}
    assert rows == {"annv@laichau.gov.vn": TODAY, "annv@lc.gov.vn": None}
    # converging again changes nothing (the alias date counts from the change)
    assert api.get(f"/api/v1/people/{person['id']}/plan").json["in_sync"] is True


def test_a_leaver_is_forwarded_to_the_successor_or_the_unit_mailbox(app, api, org):
    leaver = make_person(api)
    post = make_assignment(api, leaver, org["dept"], org["specialist"])
    alone = make_person(api, given_name="Bình", family_name="Trần", middle_name="Thị")
    alone_post = make_assignment(
        api, alone, org["dept"], make_position(api, code="VAN_THU", name="Văn thư")
    )
    successor = make_person(api, given_name="Cường", family_name="Lê", middle_name="Đức")
    drain(app)
    api.post(f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY})
    api.post(f"/api/v1/assignments/{alone_post['id']}/end", {"end_date": YESTERDAY})
    make_assignment(api, successor, org["dept"], org["specialist"], start_date=TODAY.isoformat())
    drain(app)
    _, attrs = entry(app, leaver["id"])
    assert attrs["idhubAccountStatus"] == ["disabled"]
    assert attrs["mail"] == ["annv@laichau.gov.vn"]
    assert attrs["idhubMailForward"] == ["cuongld@laichau.gov.vn"]
    _, attrs = entry(app, alone["id"])
    assert attrs["idhubMailForward"] == ["vanthu@laichau.gov.vn"]  # no successor: the unit
    plan = api.get(f"/api/v1/people/{leaver['id']}/plan").json
    assert any(
        "forwarded to the successor cuongld@laichau.gov.vn" in r for r in plan["desired"]["reasons"]
    )


def test_the_old_address_goes_when_its_period_ends_and_the_sweep_finds_it(app, api, org):
    from idhub.changes.outbox import enqueue
    from idhub.models import ProvisioningJob
    from idhub.scheduler.sweep import sweep

    person = make_person(api)
    make_assignment(api, person, org["dept"], org["specialist"])
    drain(app)
    api.patch_fresh(f"/api/v1/org-units/{org['root']['id']}", {"mail_domain": "lc.gov.vn"})
    drain(app)
    db = app.extensions["idhub"].db
    rules = app.extensions["idhub"].rules
    end = TODAY + dt.timedelta(days=rules.mail.old_address_days)
    with db.transaction() as session:  # the sweep of the day after the alias period
        from idhub.models import HubState

        session.merge(HubState(key="last_sweep_date", value=end.isoformat()))
    with db.transaction() as session:
        assert sweep(session, rules, end + dt.timedelta(days=1)) == 1
        queued = {str(j.subject_id) for j in session.scalars(select(ProvisioningJob))}
    assert queued == {person["id"]}
    with db.transaction() as session:  # as if that day had come
        row = session.get(MailAddress, "annv@laichau.gov.vn")
        row.superseded_on = TODAY - dt.timedelta(days=rules.mail.old_address_days + 1)
        enqueue(session, [row.person_id], "test: alias period over")
    drain(app)
    _, attrs = entry(app, person["id"])
    assert attrs["mail"] == ["annv@lc.gov.vn"] and "idhubMailAlias" not in attrs
