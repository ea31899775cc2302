"""The documents example app keeps its users from the hub's outbound SCIM (a real
scim2-server app on loopback, the target's worker run round by round): joiner, mover,
leaver, audience, an outage with nothing lost nor duplicated, refusals to a dead letter,
a create that timed out but happened."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from idhub.changes.outbox import SCIM_TARGET
from idhub.models import AuditEvent, ProvisioningJob, ScimState
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.scimout.conftest import DocumentsApp, queued, run_rounds, scim_worker, subscribe

YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()
BEFORE = (dt.date.today() - dt.timedelta(days=2)).isoformat()
USER = "role:document:user"  # the rules give every staff member "document:user"


def province(api) -> dict:
    return make_unit(api, name="Ủy ban nhân dân tỉnh Lai Châu", type="province_committee")


def department(api, parent: dict | None, name: str) -> dict:
    fields = {"parent_id": parent["id"]} if parent else {}
    return make_unit(api, name=name, type="department", mail_domain="laichau.gov.vn", **fields)


def joiner(api, unit: dict, given_name: str) -> dict:
    person = make_person(api, family_name="Lò", middle_name="Văn", given_name=given_name)
    post = make_assignment(api, person, unit, make_position(api, name="Chuyên viên"))
    person["post"] = post
    return person


def move(api, person: dict, unit: dict) -> None:
    ended = api.post(
        f"/api/v1/assignments/{person['post']['id']}/end",
        {"end_date": BEFORE, "reason": "Điều động"},
    )
    assert ended.status_code == 200, ended.json
    person["post"] = make_assignment(api, person, unit, make_position(api), start_date=YESTERDAY)


def leave(api, person: dict) -> None:
    ended = api.post(
        f"/api/v1/assignments/{person['post']['id']}/end",
        {"end_date": YESTERDAY, "reason": "Nghỉ hưu"},
    )
    assert ended.status_code == 200, ended.json


def settle(app) -> None:
    run_rounds(app, lambda: queued(app) == 0)


def test_joiner_mover_leaver_and_the_audience(app, api, admin, documents: DocumentsApp):
    root = province(api)
    finance = department(api, root, "Sở Tài chính tỉnh Lai Châu")
    home = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    elsewhere = department(api, None, "Công an tỉnh Lai Châu")
    subscribe(admin, documents, subtree=root["code"], role_prefix="document:")

    hung = joiner(api, home, "Hưng")
    outsider = joiner(api, elsewhere, "Khánh")
    settle(app)
    users = documents.users()
    assert set(users) == {hung["username"]}  # outside the subtree: never sent
    assert users[hung["username"]]["displayName"] == "Lò Văn Hưng"
    assert users[hung["username"]]["unit"] == home["name"]
    assert users[hung["username"]]["active"]
    # the unit's group, and the group of the app role every staff member holds
    assert documents.groups() == {home["code"]: {hung["username"]}, USER: {hung["username"]}}

    move(api, hung, finance)
    settle(app)
    assert documents.users()[hung["username"]]["unit"] == finance["name"]
    assert documents.groups() == {
        home["code"]: set(),
        finance["code"]: {hung["username"]},
        USER: {hung["username"]},
    }
    assert documents.users()[hung["username"]]["unitCode"] == finance["code"]

    page = documents.page()  # the app's own page, server-rendered
    assert "Lò Văn Hưng" in page and "Sở Tài chính tỉnh Lai Châu" in page
    assert "Đang hoạt động" in page

    leave(api, hung)
    settle(app)
    assert not documents.users()[hung["username"]]["active"]  # deactivated, not deleted
    assert "Ngừng hoạt động" in documents.page()
    assert documents.groups() == {home["code"]: set(), finance["code"]: set(), USER: set()}
    assert outsider["username"] not in documents.users()
    assert documents.posts == 1


def test_the_app_down_catches_up_with_nothing_lost_nor_duplicated(
    app, api, admin, documents: DocumentsApp
):
    """The app's server stopped (for as long as it takes: the worker hands the round
    back and probes, whatever the length), changes made meanwhile, then started again on
    the same port with the users it had kept on disk."""
    root = province(api)
    unit = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    other = department(api, root, "Sở Y tế tỉnh Lai Châu")
    subscribe(admin, documents, subtree=root["code"])
    stays = joiner(api, unit, "Bình")
    leaves = joiner(api, unit, "Cường")
    settle(app)
    assert set(documents.users()) == {stays["username"], leaves["username"]}
    documents.down()

    joins = joiner(api, unit, "Dung")
    brief = joiner(api, unit, "Giang")
    move(api, stays, other)
    leave(api, leaves)
    leave(api, brief)
    for _ in range(3):
        worker = scim_worker(app)
        worker.run_once()  # the app is away: handed back, not parked
        worker.close()
        time.sleep(0.6)  # past the test settings' largest backoff
    assert queued(app) > 0
    with app.extensions["idhub"].db.reading() as session:
        jobs = session.execute(
            select(ProvisioningJob.state, ProvisioningJob.attempts).where(
                ProvisioningJob.target == SCIM_TARGET
            )
        ).all()
    assert {(state, attempts) for state, attempts in jobs} == {("pending", 0)}  # not parked

    documents.up()
    settle(app)
    users = documents.users()
    assert set(users) == {stays["username"], leaves["username"], joins["username"]}
    assert users[stays["username"]]["unit"] == other["name"]
    assert users[joins["username"]]["active"] and users[stays["username"]]["active"]
    assert not users[leaves["username"]]["active"]
    assert brief["username"] not in users  # joined and left while the app was away
    groups = documents.groups()  # the groups caught up too, each made once
    assert groups[unit["code"]] == {joins["username"]}
    assert groups[other["code"]] == {stays["username"]}
    assert groups[USER] == {stays["username"], joins["username"]}
    assert documents.posts == 3  # one create each, none twice


def test_an_app_answering_errors_backs_off_then_leaves_a_dead_letter(
    app, api, admin, documents: DocumentsApp
):
    root = province(api)
    subscribe(admin, documents, subtree=root["code"])
    documents.mode = "fail"
    person = joiner(api, department(api, root, "Sở Nội vụ tỉnh Lai Châu"), "Hà")
    run_rounds(app, lambda: queued(app) == 0)  # each refusal backs off; the last holds it
    with app.extensions["idhub"].db.reading() as session:
        state = session.get(ScimState, ("document", __import__("uuid").UUID(person["id"])))
        assert state is not None and state.dead and "500" in (state.last_error or "")
        assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "scim.dead_letter"))
    letters = admin.get("/api/v1/clients/document/scim/dead-letters").json
    assert [letter["person_id"] for letter in letters] == [person["id"]]

    documents.mode = "ok"
    retried = admin.post(f"/api/v1/clients/document/scim/dead-letters/{person['id']}/retry", {})
    assert retried.status_code == 204, retried.json
    settle(app)
    assert documents.users()[person["username"]]["active"]
    assert admin.get("/api/v1/clients/document/scim/dead-letters").json == []


def test_a_create_that_timed_out_but_happened_is_not_made_twice(
    app, api, admin, documents: DocumentsApp
):
    root = province(api)
    subscribe(admin, documents, subtree=root["code"])
    documents.mode, documents.late_s = "late", 1.5
    person = joiner(api, department(api, root, "Sở Nội vụ tỉnh Lai Châu"), "Lan")
    worker = scim_worker(app, timeout_s=0.5)
    worker.run_once()  # the POST happens there; the answer comes after the hub gave up
    worker.close()
    time.sleep(1.5)
    assert queued(app) == 1
    documents.mode = "ok"
    run_rounds(app, lambda: queued(app) == 0, timeout_s=0.5)
    users = [u for u in documents.users().values() if u["userName"] == person["username"]]
    assert len(users) == 1 and users[0]["active"]
    with app.extensions["idhub"].db.reading() as session:
        state = session.get(ScimState, ("document", __import__("uuid").UUID(person["id"])))
        assert state is not None and state.remote_id == users[0]["id"]


def test_a_round_moves_each_group_once_not_once_per_user(app, api, admin, documents: DocumentsApp):
    root = province(api)
    home = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    finance = department(api, root, "Sở Tài chính tỉnh Lai Châu")
    subscribe(admin, documents, subtree=root["code"])
    staff = [joiner(api, home, name) for name in ("An", "Bình", "Chi", "Dũng", "Đức", "Giang")]
    settle(app)
    names = {p["username"] for p in staff}
    assert documents.groups() == {home["code"]: names, USER: names}
    # 6 joiners in one round: their unit's group and the role group, one PATCH each
    assert documents.group_patches == 2
    documents.group_patches = 0
    for person in staff[:4]:
        move(api, person, finance)
    leave(api, staff[4])
    settle(app)
    moved = {p["username"] for p in staff[:4]}
    assert documents.groups() == {
        home["code"]: {staff[5]["username"]},
        finance["code"]: moved,
        USER: names - {staff[4]["username"]},
    }
    assert documents.group_patches == 3  # home (4 out, a leaver), finance (4 in), the role
