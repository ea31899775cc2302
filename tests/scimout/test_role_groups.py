"""The documents app receives its role groups (a real scim2-server app on loopback): a
person given an app role enters the role's group, loses it and leaves it, a leaver leaves
every group, a per-unit role is a group per unit, the role name stays Vietnamese (NFC),
and a role taken away while the app is down is caught up when it is back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import unicodedata
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import delete, select

from idhub.models import ScimGroupState, ScimState
from idhub.scimout.subscriptions import queue_everyone
from provisioning.rules import Role
from tests.fixtures.factories import make_assignment, make_position
from tests.scimout.conftest import TOKEN, DocumentsApp, queued, scim_worker, subscribe
from tests.scimout.test_apps_kept_in_step import (
    USER,
    YESTERDAY,
    department,
    joiner,
    leave,
    province,
    settle,
)

# Spelled decomposed (NFD) in the rules on purpose: the app must receive the NFC form.
CLERK = unicodedata.normalize("NFD", "document:văn-thư")
CHAIR = "document:chủ-trì"  # per unit
CLERK_GROUP = "role:" + unicodedata.normalize("NFC", CLERK)


@pytest.fixture
def rules(app) -> Iterator[None]:
    """The rules with a clerk's role (held everywhere) and a chair's (per unit)."""
    hub = app.extensions["idhub"]
    before = hub.rules
    roles = {
        **before.roles,
        "so-van-ban": Role("so-van-ban", app_roles=(CLERK,)),
        "chu-tri": Role("chu-tri", app_roles=(CHAIR,), per_unit=True),
    }
    positions = {**before.positions, "VAN_THU_VB": ("so-van-ban",), "TRUONG_BAN": ("chu-tri",)}
    hub.rules = dataclasses.replace(before, roles=roles, positions=positions)
    yield
    hub.rules = before


def forget_groups(app) -> None:
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(delete(ScimGroupState))


def repost(api, person: dict, unit: dict, position: dict, days_ago: int = 3) -> None:
    """The person's post ends; a new one (same unit or not) starts `days_ago`: a role
    gained or lost."""
    start = dt.date.today() - dt.timedelta(days=days_ago)
    ended = api.post(
        f"/api/v1/assignments/{person['post']['id']}/end",
        {"end_date": (start - dt.timedelta(days=1)).isoformat(), "reason": "Điều động"},
    )
    assert ended.status_code == 200, ended.json
    person["post"] = make_assignment(api, person, unit, position, start_date=start.isoformat())


def test_a_role_given_taken_away_while_the_app_is_down_and_a_leaver(
    app, api, admin, rules, documents: DocumentsApp
):
    root = province(api)
    unit = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    clerk = make_position(api, code="VAN_THU_VB", name="Văn thư")
    officer = make_position(api, name="Chuyên viên")
    subscribe(admin, documents, subtree=root["code"])

    anh = joiner(api, unit, "Ánh")
    binh = joiner(api, unit, "Bình")
    settle(app)
    assert documents.groups() == {
        unit["code"]: {anh["username"], binh["username"]},
        USER: {anh["username"], binh["username"]},
    }

    repost(api, anh, unit, clerk)  # Ánh becomes the clerk: before she ever signs in
    settle(app)
    groups = documents.groups()
    assert groups[CLERK_GROUP] == {anh["username"]}
    assert groups[unit["code"]] == {anh["username"], binh["username"]}
    names = documents.group_names()
    assert names[CLERK_GROUP] == "document:văn-thư"
    assert unicodedata.is_normalized("NFC", names[CLERK_GROUP])
    assert unicodedata.is_normalized("NFC", CLERK_GROUP)

    documents.down()
    repost(api, anh, unit, officer, days_ago=1)  # the role taken away while the app is away
    repost(api, binh, unit, clerk)  # and given to someone else
    for _ in range(2):
        worker = scim_worker(app)
        worker.run_once()  # handed back: the app is away
        worker.close()
        time.sleep(0.6)
    assert queued(app) > 0
    documents.up()
    settle(app)
    groups = documents.groups()
    assert groups[CLERK_GROUP] == {binh["username"]}  # caught up, made once
    assert groups[USER] == {anh["username"], binh["username"]}

    forget_groups(app)  # the hub lost the groups' ids: found again by externalId
    repost(api, anh, unit, clerk, days_ago=0)  # both clerks now
    leave(api, binh)
    settle(app)
    groups = documents.groups()
    assert all(binh["username"] not in members for members in groups.values()), groups
    assert groups[CLERK_GROUP] == {anh["username"]}  # the same group (made once: _groups)
    assert groups[USER] == {anh["username"]}


def test_a_per_unit_role_is_a_group_per_unit(app, api, admin, rules, documents: DocumentsApp):
    root = province(api)
    finance = department(api, root, "Sở Tài chính tỉnh Lai Châu")
    health = department(api, root, "Sở Y tế tỉnh Lai Châu")
    chair = make_position(api, code="TRUONG_BAN", name="Trưởng ban")
    subscribe(admin, documents, subtree=root["code"], role_prefix="document:")

    chien = joiner(api, finance, "Chiến")
    repost(api, chien, finance, chair)
    other = make_assignment(api, chien, health, chair, kind="concurrent")  # kiêm nhiệm
    dung = joiner(api, health, "Dũng")
    repost(api, dung, health, chair)
    settle(app)
    in_finance, in_health = f"role:{CHAIR}@{finance['code']}", f"role:{CHAIR}@{health['code']}"
    groups = documents.groups()
    assert groups[in_finance] == {chien["username"]}
    assert groups[in_health] == {chien["username"], dung["username"]}
    assert f"role:{CHAIR}" not in groups  # held for a unit, not everywhere
    names = documents.group_names()
    assert names[in_finance] == f"{CHAIR} — Sở Tài chính tỉnh Lai Châu"
    assert names[in_health] == f"{CHAIR} — Sở Y tế tỉnh Lai Châu"
    assert groups[finance["code"]] == {chien["username"]}  # the unit groups as before
    assert groups[health["code"]] == {dung["username"]}

    ended = api.post(
        f"/api/v1/assignments/{other['id']}/end", {"end_date": YESTERDAY, "reason": "Thôi"}
    )
    assert ended.status_code == 200, ended.json
    settle(app)
    groups = documents.groups()
    assert groups[in_health] == {dung["username"]}
    assert groups[in_finance] == {chien["username"]}


def test_users_placed_before_role_groups_enter_them_when_queued_again(
    app, api, admin, documents: DocumentsApp
):
    root = province(api)
    unit = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    subscribe(admin, documents, subtree=root["code"])
    em = joiner(api, unit, "Em")
    settle(app)
    # As the hub left the app before role groups: no role group there, and projections
    # sent without the groups they name.
    role_group = next(g["id"] for g in documents.group_resources() if g["externalId"] == USER)
    gone = requests.delete(
        f"{documents.url}/scim/v2/Groups/{role_group}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert gone.status_code == 204, gone.text
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(delete(ScimGroupState).where(ScimGroupState.kind == "role"))
        for state in session.scalars(select(ScimState)):
            assert state.projection is not None
            state.projection = {k: v for k, v in state.projection.items() if k != "scim_groups"}
        queue_everyone(session, "document", "as a reconcile does")
    assert documents.groups() == {unit["code"]: {em["username"]}}
    settle(app)
    assert documents.groups() == {unit["code"]: {em["username"]}, USER: {em["username"]}}


def test_someone_holding_only_a_per_unit_role_is_sent_with_its_group(
    app, api, admin, rules, documents: DocumentsApp
):
    hub = app.extensions["idhub"]
    hub.rules = dataclasses.replace(hub.rules, default_roles=())  # no "document:user"
    root = province(api)
    unit = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    chair = make_position(api, code="TRUONG_BAN", name="Trưởng ban")
    subscribe(admin, documents, role_prefix="document:")
    giang = joiner(api, unit, "Giang")
    repost(api, giang, unit, chair)
    settle(app)
    assert set(documents.users()) == {giang["username"]}
    assert documents.groups() == {
        unit["code"]: {giang["username"]},
        f"role:{CHAIR}@{unit['code']}": {giang["username"]},
    }
