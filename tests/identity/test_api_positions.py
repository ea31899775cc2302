"""The position catalogue through the API."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.factories import make_position


def test_create_list_get_patch_position(api):
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=5)
    make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    listed = api.get("/api/v1/positions").json
    assert [p["code"] for p in listed] == ["CT_UBND_XA", "CHUYEN_VIEN"]  # most senior first
    assert [p["code"] for p in api.get("/api/v1/positions?code=CHUYEN_VIEN").json] == [
        "CHUYEN_VIEN"
    ]
    url = f"/api/v1/positions/{chairman['id']}"
    assert api.get(url).json["name"] == "Chủ tịch UBND xã"
    changed = api.patch(url, {"leadership_level": 6}, etag='"1"')
    assert changed.status_code == 200 and changed.json["leadership_level"] == 6


def test_position_code_unique(api):
    make_position(api, code="VAN_THU")
    again = api.post("/api/v1/positions", {"code": "VAN_THU", "name": "Văn thư"})
    assert again.status_code == 409 and again.json["code"] == "duplicate_position_code"


@pytest.mark.parametrize(
    "body",
    [
        {"code": "lower", "name": "x"},
        {"code": "A", "name": "x", "leadership_level": 10},
        {"code": "A", "name": "x", "leadership_level": -1},
        {"code": "A", "name": "x", "leadership_level": "high"},
        {"code": "A"},
        {"name": "x"},
    ],
)
def test_bad_position_bodies(api, body):
    response = api.post("/api/v1/positions", body)
    assert response.status_code == 422
    assert api.get("/api/v1/positions").json == []


def test_unknown_position(api):
    assert api.get(f"/api/v1/positions/{uuid.uuid4()}").status_code == 404
    missing = api.patch(f"/api/v1/positions/{uuid.uuid4()}", {"name": "x"}, etag='"1"')
    assert missing.status_code == 404
