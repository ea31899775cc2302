"""Joiner / mover / leaver, end to end: HR API → job → worker → the real slapd."""

from __future__ import annotations

import datetime as dt
import uuid

import ldap
import pytest
from sqlalchemy import func, select

from idhub.changes.outbox import enqueue
from idhub.models import Assignment, AuditEvent, ProvisioningJob
from tests.fixtures.factories import (
    lai_chau,
    make_assignment,
    make_person,
    make_position,
    make_unit,
)
from tests.fixtures.provisioning import (
    BackgroundWorker,
    directory,
    drain,
    entry,
    groups_of,
    wait_for,
)

TODAY = dt.date.today()


@pytest.fixture
def org(api):
    root = lai_chau(api)
    commune = make_unit(
        api, code="03388", name="Ủy ban nhân dân xã Mường Tè", parent_id=root["root"]["id"]
    )
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    return {**root, "commune": commune, "chairman": chairman}


def test_joiner_appears_in_the_right_place_within_a_bounded_wait(app, api, org):
    with BackgroundWorker(app):
        person = api.post(
            "/api/v1/people",
            {
                "national_id": "001090000001",
                "family_name": "Nguyễn",
                "middle_name": "Văn",
                "given_name": "An",
            },
            headers={"X-Request-Id": "hr-joiner-000000"},
        ).json
        response = api.post(
            "/api/v1/assignments",
            {
                "person_id": person["id"],
                "unit_id": org["dept"]["id"],
                "position_id": org["specialist"]["id"],
                "kind": "primary",
                "start_date": "2025-07-01",
            },
            headers={"X-Request-Id": "hr-joiner-000001"},
        )
        assert response.status_code == 201
        accounts = f"/api/v1/people/{person['id']}/accounts"
        # In sync: the entry and all its memberships are written (groups come last).
        wait_for(lambda: api.get(accounts).json[0]["state"] == "in_sync", timeout=10)
        dn, attrs = entry(app, person["id"])
    base = app.extensions["idhub"].connectors.base_dn
    assert dn == f"uid=annv,ou=SNV,ou=12,{base}"
    assert attrs["uid"] == ["annv"]
    assert attrs["cn"] == ["Nguyễn Văn An"]
    assert attrs["mail"] == ["annv@laichau.gov.vn"]
    assert attrs["title"] == ["Chuyên viên"]
    assert attrs["idhubAccountStatus"] == ["active"]
    assert "unit-snv" in groups_of(attrs)
    states = api.get(f"/api/v1/people/{person['id']}/accounts").json
    assert states[0]["state"] == "in_sync" and states[0]["dn"] == dn
    events = api.get(f"/api/v1/audit?object_id={person['id']}&object_type=account").json
    assert events[0]["action"] == "account.create"
    # The HR request whose job the worker claimed: the person's, when the worker took it
    # before the assignment came (it read HR after both, so one create did it all).
    assert events[0]["request_id"] in ("hr-joiner-000000", "hr-joiner-000001")


def test_username_collisions_are_numbered_and_never_reused(app, api, org):
    first = make_person(api)
    second = make_person(api)
    assert (first["username"], second["username"]) == ("annv", "annv2")
    for person in (first, second):
        make_assignment(api, person, org["dept"], org["specialist"])
    drain(app)
    assert entry(app, first["id"])[1]["uid"] == ["annv"]
    assert entry(app, second["id"])[1]["uid"] == ["annv2"]
    third = make_person(api)
    assert third["username"] == "annv3"


def test_mover_keeps_key_and_memberships_follow(app, api, org):
    person = make_person(api)
    old = make_assignment(api, person, org["dept"], org["specialist"])
    drain(app)
    before_dn, _ = entry(app, person["id"])
    api.post(
        f"/api/v1/assignments/{old['id']}/end",
        {"end_date": (TODAY - dt.timedelta(days=1)).isoformat()},
    )
    make_assignment(api, person, org["commune"], org["specialist"], start_date=TODAY.isoformat())
    drain(app)
    dn, attrs = entry(app, person["id"])
    assert dn != before_dn and dn.startswith("uid=annv,ou=03388,ou=12,")
    assert attrs["idhubPersonId"] == [person["id"]]
    assert attrs["departmentNumber"] == ["03388"]
    assert "unit-03388" in groups_of(attrs) and "unit-snv" not in groups_of(attrs)
    moves = [e["action"] for e in api.get(f"/api/v1/audit?object_id={person['id']}").json]
    assert "account.move" in moves and moves.count("account.create") == 1


def test_position_change_and_concurrent_post(app, api, org):
    person = make_person(api)
    primary = make_assignment(api, person, org["commune"], org["specialist"])
    drain(app)
    plain_groups = groups_of(entry(app, person["id"])[1])
    api.patch(
        f"/api/v1/assignments/{primary['id']}", {"position_id": org["chairman"]["id"]}, etag='"1"'
    )
    drain(app)
    _, attrs = entry(app, person["id"])
    assert attrs["title"] == ["Chủ tịch UBND xã"]
    leader_groups = groups_of(attrs)
    assert leader_groups > plain_groups  # a leader gains groups
    side = make_assignment(api, person, org["dept"], org["specialist"], kind="concurrent")
    drain(app)
    assert "unit-snv" in groups_of(entry(app, person["id"])[1])
    api.post(
        f"/api/v1/assignments/{side['id']}/end",
        {"end_date": (TODAY - dt.timedelta(days=1)).isoformat()},
    )
    drain(app)
    assert groups_of(entry(app, person["id"])[1]) == leader_groups


def _set_password(app, dn: str, password: str) -> None:
    from argon2 import PasswordHasher

    conn = directory(app)
    conn.modify_s(
        dn,
        [
            (
                ldap.MOD_REPLACE,
                "userPassword",
                [("{ARGON2}" + PasswordHasher().hash(password)).encode()],
            )
        ],
    )
    conn.unbind_s()


def _can_bind(app, dn: str, password: str) -> bool:
    conn = ldap.initialize(app.extensions["idhub"].connectors.ldap_config.url)
    try:
        conn.simple_bind_s(dn, password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        conn.unbind_s()


def test_leaver_is_disabled_cannot_bind_then_deleted_after_retention(app, api, org):
    person = make_person(api)
    post = make_assignment(api, person, org["dept"], org["specialist"], start_date="2025-07-01")
    drain(app)
    dn, _ = entry(app, person["id"])
    _set_password(app, dn, "Mật-khẩu-đủ-dài-2026")
    assert _can_bind(app, dn, "Mật-khẩu-đủ-dài-2026")
    api.post(
        f"/api/v1/assignments/{post['id']}/end",
        {"end_date": (TODAY - dt.timedelta(days=1)).isoformat(), "reason": "Nghỉ hưu"},
    )
    drain(app)
    dn, attrs = entry(app, person["id"])
    assert attrs["idhubAccountStatus"] == ["disabled"]
    assert dn.startswith("uid=annv,ou=former,")
    assert groups_of(attrs) == set()
    assert not _can_bind(app, dn, "Mật-khẩu-đủ-dài-2026")
    # Past retention (90 days by default) the account is deleted.
    api.patch_fresh(f"/api/v1/assignments/{post['id']}", {"start_date": "2024-01-01"})
    db = app.extensions["idhub"].db
    with db.transaction() as session:  # as if 200 days had passed since the leave
        session.get(Assignment, uuid.UUID(post["id"])).end_date = TODAY - dt.timedelta(days=200)
        enqueue(session, [uuid.UUID(person["id"])], "test: retention passed")
    drain(app)
    assert entry(app, person["id"]) is None
    assert api.get(f"/api/v1/people/{person['id']}/accounts").json[0]["state"] == "absent"
    third = make_person(api)
    assert third["username"] != "annv"  # an identifier is never issued again


def test_ten_changes_coalesce_into_one_converge(app, api, org):
    person = make_person(api, given_name="Bình")
    make_assignment(api, person, org["dept"], org["specialist"])
    url = f"/api/v1/people/{person['id']}"
    for n in range(9):
        assert api.patch_fresh(url, {"personal_phone": f"09120000{n:02d}"}).status_code == 200
    db = app.extensions["idhub"].db
    with db.transaction() as session:
        jobs = list(session.scalars(select(ProvisioningJob)))
    assert len(jobs) == 1 and jobs[0].coalesced >= 10
    assert drain(app) == 1
    assert entry(app, person["id"]) is not None
    with db.transaction() as session:
        converges = session.scalar(
            select(func.count()).where(
                AuditEvent.object_type == "account", AuditEvent.object_id == person["id"]
            )
        )
        assert converges == 1
        assert session.scalar(select(func.count()).select_from(ProvisioningJob)) == 0


def test_plan_is_a_dry_run_then_in_sync(app, api, org):
    person = make_person(api)
    make_assignment(api, person, org["dept"], org["specialist"])
    preview = api.get(f"/api/v1/people/{person['id']}/plan").json
    assert preview["in_sync"] is False
    assert "create" in [op["kind"] for op in preview["operations"]]
    assert preview["desired"]["dn"].startswith("uid=annv,ou=SNV")
    assert preview["desired"]["reasons"]
    assert entry(app, person["id"]) is None  # nothing was written
    drain(app)
    assert api.get(f"/api/v1/people/{person['id']}/plan").json["in_sync"] is True


def test_unit_rename_reaches_everyone_in_the_subtree(app, api, org):
    people = [make_person(api) for _ in range(3)]
    for person in people:
        make_assignment(api, person, org["dept"], org["specialist"])
    drain(app)
    api.patch_fresh(f"/api/v1/org-units/{org['root']['id']}", {"mail_domain": "lc.gov.vn"})
    assert drain(app) == 3
    for person in people:
        assert entry(app, person["id"])[1]["mail"][0].endswith("@lc.gov.vn")


def test_failed_job_is_parked_with_its_error_and_can_be_retried(app, api, org):
    person = make_person(api)
    make_assignment(api, person, org["dept"], org["specialist"])
    # Someone creates an entry by hand at the DN the hub will want, with another key.
    base = app.extensions["idhub"].connectors.base_dn
    conn = directory(app)
    for dn, ou in ((f"ou=12,{base}", b"12"), (f"ou=SNV,ou=12,{base}", b"SNV")):
        conn.add_s(dn, [("objectClass", [b"organizationalUnit"]), ("ou", [ou])])
    conn.add_s(
        f"uid=annv,ou=SNV,ou=12,{base}",
        [("objectClass", [b"inetOrgPerson"]), ("uid", [b"annv"]), ("cn", [b"x"]), ("sn", [b"x"])],
    )
    conn.unbind_s()
    drain(app)
    states = api.get(f"/api/v1/people/{person['id']}/accounts").json
    assert states[0]["state"] == "failed" and states[0]["last_error"]
    failed = api.get("/api/v1/jobs?state=failed").json
    assert len(failed) == 1 and failed[0]["subject_id"] == person["id"]
    assert api.post(f"/api/v1/jobs/{failed[0]['id']}/retry").status_code == 403  # admin only


def test_two_entries_claiming_one_person_are_reported_not_guessed(app, api, org):
    person, other = make_person(api), make_person(api, given_name="Bình")
    for p in (person, other):
        make_assignment(api, p, org["dept"], org["specialist"])
    drain(app)
    dn, _ = entry(app, person["id"])
    base = app.extensions["idhub"].connectors.base_dn
    conn = directory(app)
    conn.add_s(
        f"uid=copy,{base}",
        [
            ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
            ("uid", [b"copy"]),
            ("cn", [b"Copy"]),
            ("sn", [b"Copy"]),
            ("idhubPersonId", [person["id"].encode()]),
        ],
    )
    conn.unbind_s()
    api.patch_fresh(f"/api/v1/people/{person['id']}", {"personal_phone": "0912345678"})
    api.patch_fresh(f"/api/v1/people/{other['id']}", {"given_name": "Bính"})
    drain(app)
    state = api.get(f"/api/v1/people/{person['id']}/accounts").json[0]
    assert state["state"] == "failed" and "several directory entries" in state["last_error"]
    assert api.get(f"/api/v1/people/{other['id']}/accounts").json[0]["state"] == "in_sync"
