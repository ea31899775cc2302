"""Bulk HR batches (all or nothing), reconciliation of hand-made drift, the mass-change guard."""

from __future__ import annotations

import datetime as dt

import ldap
from sqlalchemy import func, select

from idhub.models import JobState, Person, ProvisioningJob
from tests.factories import make_assignment, make_person, make_position, make_unit
from tests.provisioning_helpers import directory, drain, entry

YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def joiner_items(unit, position, count, start=0):
    items = []
    for n in range(start, start + count):
        items.append(
            {
                "op": "create_person",
                "ref": f"p{n}",
                "data": {
                    "national_id": f"0010{n:08d}",
                    "family_name": "Lò",
                    "middle_name": "Văn",
                    "given_name": f"Đức{chr(97 + n % 26)}",
                },
            }
        )
        items.append(
            {
                "op": "create_assignment",
                "data": {
                    "person_id": f"ref:p{n}",
                    "unit_id": unit["id"],
                    "position_id": position["id"],
                    "kind": "primary",
                    "start_date": "2025-07-01",
                },
            }
        )
    return items


def people_count(app) -> int:
    with app.extensions["idhub.db"].transaction() as session:
        return session.scalar(select(func.count()).select_from(Person))


def test_batch_applies_everything_with_one_job_per_person(app, api):
    unit = make_unit(api)
    position = make_position(api)
    response = api.post(
        "/api/v1/batches", {"items": joiner_items(unit, position, 20), "reason": "QĐ 12/QĐ-UBND"}
    )
    assert response.status_code == 200, response.json
    assert response.json["jobs"] == 20 and len(response.json["items"]) == 40
    with app.extensions["idhub.db"].transaction() as session:
        assert session.scalar(select(func.count()).select_from(ProvisioningJob)) == 20
    events = api.get("/api/v1/audit?action=person.create").json
    assert len(events) == 20 and all(e["reason"] == "QĐ 12/QĐ-UBND" for e in events)
    drain(app)
    assert all(entry(app, i["id"]) for i in response.json["items"] if i["op"] == "create_person")


def test_invalid_items_are_reported_by_position_and_nothing_is_written(app, api):
    unit = make_unit(api)
    position = make_position(api)
    items = joiner_items(unit, position, 3)
    items[2]["data"]["national_id"] = "12"
    items[5]["data"]["person_id"] = "ref:nobody"
    items.append({"op": "end_assignment", "data": {"end_date": YESTERDAY}})  # no id
    response = api.post("/api/v1/batches", {"items": items})
    assert response.status_code == 422
    problems = response.json["details"]["items"]
    assert set(problems) == {"2", "5", "6"}
    assert "national_id" in problems["2"]["data"]
    assert people_count(app) == 0


def test_a_rule_broken_mid_batch_rolls_back_the_whole_batch(app, api):
    unit = make_unit(api)
    position = make_position(api)
    existing = make_person(api)
    items = joiner_items(unit, position, 3)
    items.append(
        {
            "op": "create_person",
            "data": {"national_id": existing["national_id"], "family_name": "X", "given_name": "Y"},
        }
    )
    response = api.post("/api/v1/batches", {"items": items})
    assert response.status_code == 409
    assert response.json["details"]["index"] == 6
    assert people_count(app) == 1


def test_batch_rejects_garbage(api):
    assert api.post("/api/v1/batches", {"items": []}).status_code == 422
    assert (
        api.post("/api/v1/batches", {"items": [{"op": "drop_table", "data": {}}]}).status_code
        == 422
    )
    assert api.post("/api/v1/batches", {"items": "x"}).status_code == 422
    assert api.post("/api/v1/batches", {}).status_code == 422


def test_reconcile_reports_and_repairs_hand_made_drift(app, api, admin):
    unit = make_unit(api, code="SNV")
    position = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    edited, removed, kept = (make_person(api, given_name=g) for g in ("An", "Bình", "Chi"))
    for person in (edited, removed, kept):
        make_assignment(api, person, unit, position)
    drain(app)
    conn = directory(app)
    edited_dn, _ = entry(app, edited["id"])
    conn.modify_s(edited_dn, [(ldap.MOD_REPLACE, "title", [b"Gi\xc3\xa1m \xc4\x91\xe1\xbb\x91c"])])
    conn.delete_s(entry(app, removed["id"])[0])
    base = app.extensions["idhub.settings"]["ldap"]["base_dn"]
    conn.add_s(
        f"uid=ghost,{base}",
        [
            ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
            ("uid", [b"ghost"]),
            ("cn", [b"Ghost"]),
            ("sn", [b"Ghost"]),
            ("idhubPersonId", [b"00000000-0000-4000-8000-000000000000"]),
        ],
    )
    conn.unbind_s()

    report = admin.post("/api/v1/reconcile").json
    assert report["people"] == 3 and report["in_sync"] == 1
    assert report["drift"] == {"attributes": 1, "missing": 1}
    assert report["orphans"] == [f"uid=ghost,{base}"]
    assert report["repaired"] == 0
    repaired = admin.post("/api/v1/reconcile?repair=true").json
    assert repaired["repaired"] == 2
    drain(app)
    assert entry(app, edited["id"])[1]["title"] == ["Chuyên viên"]
    assert entry(app, removed["id"]) is not None
    again = admin.post("/api/v1/reconcile").json
    assert again["in_sync"] == 3 and again["drift"] == {}
    assert api.post("/api/v1/reconcile").status_code == 403


def test_guard_stops_a_mass_disable_until_confirmed(app, api, admin):
    unit = make_unit(api)
    position = make_position(api)
    created = api.post("/api/v1/batches", {"items": joiner_items(unit, position, 12)}).json
    drain(app)
    assignments = api.get("/api/v1/assignments?page_size=100").json
    assert len(assignments) == 12
    ends = [
        {"op": "end_assignment", "id": a["id"], "data": {"end_date": YESTERDAY}}
        for a in assignments
    ]
    refused = api.post("/api/v1/batches", {"items": ends})
    assert refused.status_code == 409 and refused.json["code"] == "mass_change_guard"
    assert all(a["end_date"] is None for a in api.get("/api/v1/assignments?page_size=100").json)

    # Changes that arrive one by one are held by the worker instead.
    for a in assignments:
        api.post(f"/api/v1/assignments/{a['id']}/end", {"end_date": YESTERDAY})
    drain(app)
    with app.extensions["idhub.db"].transaction() as session:
        held = session.scalar(select(func.count()).where(ProvisioningJob.state == JobState.HELD))
    assert held == 12
    person_ids = [i["id"] for i in created["items"] if i["op"] == "create_person"]
    assert all(entry(app, pid)[1]["idhubAccountStatus"] == ["active"] for pid in person_ids)
    release = admin.post("/api/v1/guard/release", {"reason": "Giải thể đơn vị theo QĐ 5"})
    assert release.status_code == 200 and release.json["released_jobs"] == 12
    drain(app)
    assert all(entry(app, pid)[1]["idhubAccountStatus"] == ["disabled"] for pid in person_ids)
