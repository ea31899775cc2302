"""Assignments: primary and concurrent posts (kiêm nhiệm), their rules, and ending them."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit


@pytest.fixture
def world(api):
    return {
        "person": make_person(api),
        "unit": make_unit(api),
        "other_unit": make_unit(api),
        "position": make_position(api),
        "chairman": make_position(api, code="CT", name="Chủ tịch", leadership_level=5),
    }


def test_primary_and_concurrent_posts(api, world):
    primary = make_assignment(
        api, world["person"], world["unit"], world["position"], decision_ref="123/QĐ-UBND"
    )
    concurrent = make_assignment(
        api, world["person"], world["other_unit"], world["chairman"], kind="concurrent"
    )
    assert primary["kind"] == "primary" and primary["active"] is True
    assert primary["decision_ref"] == "123/QĐ-UBND"
    assert concurrent["kind"] == "concurrent"
    mine = api.get(f"/api/v1/assignments?person_id={world['person']['id']}").json
    assert {a["id"] for a in mine} == {primary["id"], concurrent["id"]}
    only_concurrent = api.get("/api/v1/assignments?kind=concurrent").json
    assert [a["id"] for a in only_concurrent] == [concurrent["id"]]


def test_two_open_primaries_are_refused(api, world):
    make_assignment(api, world["person"], world["unit"], world["position"])
    second = api.post(
        "/api/v1/assignments",
        {
            "person_id": world["person"]["id"],
            "unit_id": world["other_unit"]["id"],
            "position_id": world["position"]["id"],
            "kind": "primary",
            "start_date": "2026-01-01",
        },
    )
    assert second.status_code == 409 and second.json["code"] == "primary_overlap"


def test_mover_ends_old_primary_then_starts_new(api, world):
    old = make_assignment(api, world["person"], world["unit"], world["position"])
    ended = api.post(
        f"/api/v1/assignments/{old['id']}/end",
        {"end_date": "2026-03-31", "decision_ref": "45/QĐ-UBND", "reason": "Điều động"},
    )
    assert ended.status_code == 200
    assert ended.json["end_date"] == "2026-03-31" and ended.json["end_reason"] == "Điều động"
    new = make_assignment(
        api, world["person"], world["other_unit"], world["position"], start_date="2026-04-01"
    )
    assert new["active"] is True  # started 2026-04-01, open-ended
    overlapping = api.post(
        "/api/v1/assignments",
        {
            "person_id": world["person"]["id"],
            "unit_id": world["unit"]["id"],
            "position_id": world["chairman"]["id"],
            "kind": "primary",
            "start_date": "2026-03-01",
            "end_date": "2026-04-15",
        },
    )
    assert overlapping.status_code == 409
    on_day = api.get("/api/v1/assignments?active_on=2026-03-15").json
    assert [a["id"] for a in on_day] == [old["id"]]


def test_end_twice_and_end_before_start(api, world):
    assignment = make_assignment(
        api, world["person"], world["unit"], world["position"], start_date="2025-07-01"
    )
    url = f"/api/v1/assignments/{assignment['id']}/end"
    early = api.post(url, {"end_date": "2025-01-01"})
    assert early.status_code == 422
    assert api.post(url, {"end_date": "2025-12-31"}).status_code == 200
    again = api.post(url, {"end_date": "2026-01-31"})
    assert again.status_code == 409 and again.json["code"] == "assignment_already_ended"


def test_same_post_twice_is_refused(api, world):
    make_assignment(api, world["person"], world["unit"], world["chairman"], kind="concurrent")
    dup = api.post(
        "/api/v1/assignments",
        {
            "person_id": world["person"]["id"],
            "unit_id": world["unit"]["id"],
            "position_id": world["chairman"]["id"],
            "kind": "concurrent",
            "start_date": "2025-08-01",
        },
    )
    assert dup.status_code == 409 and dup.json["code"] == "duplicate_assignment"


def test_patch_assignment_kind_revalidates(api, world):
    make_assignment(api, world["person"], world["unit"], world["position"])
    side = make_assignment(
        api, world["person"], world["other_unit"], world["chairman"], kind="concurrent"
    )
    url = f"/api/v1/assignments/{side['id']}"
    promote = api.patch(url, {"kind": "primary"}, etag='"1"')
    assert promote.status_code == 409
    fix = api.patch(url, {"decision_ref": "7/QĐ-UBND"}, etag='"1"')
    assert fix.status_code == 200 and fix.json["decision_ref"] == "7/QĐ-UBND"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"person_id": None}, 422),
        ({"kind": "temporary"}, 422),
        ({"start_date": "yesterday"}, 422),
        ({"end_date": "2020-01-01"}, 422),  # before start
        ({"person_id": "00000000-0000-0000-0000-000000000000"}, 404),
        ({"unit_id": "00000000-0000-0000-0000-000000000000"}, 422),
        ({"position_id": "00000000-0000-0000-0000-000000000000"}, 422),
    ],
)
def test_bad_assignment_bodies(api, world, change, status):
    body = {
        "person_id": world["person"]["id"],
        "unit_id": world["unit"]["id"],
        "position_id": world["position"]["id"],
        "kind": "primary",
        "start_date": "2025-07-01",
        **change,
    }
    response = api.post("/api/v1/assignments", body)
    assert response.status_code == status, response.json
    assert api.get("/api/v1/assignments").json == []


def test_unknown_assignment(api):
    assert api.get(f"/api/v1/assignments/{uuid.uuid4()}").status_code == 404
    assert (
        api.post(f"/api/v1/assignments/{uuid.uuid4()}/end", {"end_date": "2026-01-01"}).status_code
        == 404
    )
    assert (
        api.patch(f"/api/v1/assignments/{uuid.uuid4()}", {"kind": "primary"}, etag="*").status_code
        == 404
    )
