"""People through the API: joiners, corrections, search without accents, uniqueness, bad input."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit


def test_create_person_normalises_names(api):
    person = make_person(
        api, family_name="  Đặng ", middle_name="Thi\u0323 Ngọc", given_name="A\u0301nh"
    )
    assert person["family_name"] == "Đặng"
    assert person["middle_name"] == "Thị Ngọc"
    assert person["given_name"] == "Ánh"
    assert person["full_name"] == "Đặng Thị Ngọc Ánh"
    assert person["status"] == "active"
    got = api.get(f"/api/v1/people/{person['id']}")
    assert got.json == person and got.headers["ETag"] == '"1"'


def test_search_by_name_without_diacritics(api):
    make_person(api, family_name="Đặng", middle_name="Thị Ngọc", given_name="Ánh")
    make_person(api, family_name="Nguyễn", middle_name="Văn", given_name="An")
    make_person(api, family_name="Nguyễn", middle_name="Văn", given_name="An")
    assert len(api.get("/api/v1/people?q=dang thi ngoc anh").json) == 1
    assert len(api.get("/api/v1/people?q=DANG").json) == 1
    assert len(api.get("/api/v1/people?q=nguyễn văn an").json) == 2
    assert len(api.get("/api/v1/people?q=van").json) == 2


def test_filter_people_by_unit_status_and_ids(api):
    unit = make_unit(api)
    other = make_unit(api)
    position = make_position(api)
    inside = make_person(api, civil_servant_code="CC-001")
    make_person(api)
    make_assignment(api, inside, unit, position)
    assert [p["id"] for p in api.get(f"/api/v1/people?unit_id={unit['id']}").json] == [inside["id"]]
    assert api.get(f"/api/v1/people?unit_id={other['id']}").json == []
    by_nid = api.get(f"/api/v1/people?national_id={inside['national_id']}").json
    assert [p["id"] for p in by_nid] == [inside["id"]]
    assert len(api.get("/api/v1/people?civil_servant_code=CC-001").json) == 1
    assert len(api.get("/api/v1/people?status=active").json) == 2
    assert api.get("/api/v1/people?status=left").json == []


def test_national_id_and_civil_servant_code_are_unique(api):
    first = make_person(api, civil_servant_code="CC-9")
    again = api.post(
        "/api/v1/people",
        {"national_id": first["national_id"], "family_name": "Lê", "given_name": "Bình"},
    )
    assert again.status_code == 409 and again.json["code"] == "duplicate_national_id"
    second = make_person(api)
    clash = api.patch_fresh(f"/api/v1/people/{second['id']}", {"civil_servant_code": "CC-9"})
    assert clash.status_code == 409 and clash.json["code"] == "duplicate_civil_servant_code"


def test_patch_person_renames_and_updates_search(api):
    person = make_person(api, family_name="Trần", given_name="Hùng")
    url = f"/api/v1/people/{person['id']}"
    changed = api.patch(url, {"given_name": "Hưng", "status": "suspended"}, etag='"1"')
    assert changed.status_code == 200
    assert changed.json["full_name"] == "Trần Văn Hưng" and changed.json["version"] == 2
    assert len(api.get("/api/v1/people?q=tran van hung").json) == 1
    assert api.patch(url, {"given_name": "X"}).status_code == 428
    assert api.patch(url, {"given_name": "X"}, etag='"1"').status_code == 412


def test_person_assignments_listing(api):
    person = make_person(api)
    unit = make_unit(api)
    position = make_position(api)
    assignment = make_assignment(api, person, unit, position)
    listed = api.get(f"/api/v1/people/{person['id']}/assignments")
    assert [a["id"] for a in listed.json] == [assignment["id"]]
    assert api.get(f"/api/v1/people/{uuid.uuid4()}/assignments").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"national_id": "12345678901"}, "national_id"),  # 11 digits
        ({"national_id": "1234567890123"}, "national_id"),
        ({"national_id": "12345678901a"}, "national_id"),
        ({"national_id": "١٢٣٤٥٦٧٨٩٠١٢"}, "national_id"),  # Arabic-Indic digits
        ({"family_name": ""}, "family_name"),
        ({"given_name": "x\u0007"}, "given_name"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1800-01-01"}, "date_of_birth"),
        ({"personal_email": "not-an-email"}, "personal_email"),
        ({"personal_phone": "call me"}, "personal_phone"),
        ({"status": "retired"}, "status"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"search_name": "x"}, "search_name"),
    ],
)
def test_bad_person_bodies_are_422_and_write_nothing(api, body, field):
    full = {"national_id": "001099012345", "family_name": "Lê", "given_name": "Bình"}
    response = api.post("/api/v1/people", {**full, **body})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert api.get("/api/v1/people").json == []


def test_patch_rejects_null_for_required_fields(api):
    person = make_person(api)
    response = api.patch_fresh(f"/api/v1/people/{person['id']}", {"family_name": None})
    assert response.status_code == 422


def test_unknown_person_404(api):
    assert api.get(f"/api/v1/people/{uuid.uuid4()}").status_code == 404
    response = api.patch(f"/api/v1/people/{uuid.uuid4()}", {"given_name": "X"}, etag='"1"')
    assert response.status_code == 404 and response.json["code"] == "person_not_found"
    assert api.get("/api/v1/people/not-a-uuid").status_code == 404
