"""Org units through the API: create, read, change, tree queries, and every kind of bad input."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.factories import make_unit


def test_create_and_get_unit_keeps_vietnamese_name(api):
    nfd_name = "U\u0309y ban nhân dân tỉnh Lai Châu"  # NFD "Ủ": stored NFC
    created = make_unit(
        api, code="12", name=nfd_name, type="province_committee", mail_domain="laichau.gov.vn"
    )
    assert created["name"] == "Ủy ban nhân dân tỉnh Lai Châu"
    assert created["status"] == "active" and created["version"] == 1
    got = api.get(f"/api/v1/org-units/{created['id']}")
    assert got.status_code == 200
    assert got.json == created
    assert got.headers["ETag"] == '"1"'


def test_list_filters_and_accent_insensitive_search(api):
    root = make_unit(
        api, code="12", name="Ủy ban nhân dân tỉnh Lai Châu", type="province_committee"
    )
    make_unit(api, code="03388", name="Ủy ban nhân dân xã Mường Tè", parent_id=root["id"])
    make_unit(api, code="SNV", name="Sở Nội vụ", type="department", parent_id=root["id"])
    found = api.get("/api/v1/org-units?q=muong te")
    assert [u["code"] for u in found.json] == ["03388"]
    assert [u["code"] for u in api.get("/api/v1/org-units?q=MƯỜNG").json] == ["03388"]
    assert [u["code"] for u in api.get("/api/v1/org-units?type=department").json] == ["SNV"]
    assert len(api.get(f"/api/v1/org-units?parent_id={root['id']}").json) == 2
    # LIKE wildcards in the search text are literal, not patterns.
    assert api.get("/api/v1/org-units?q=%25").json == []
    assert api.get("/api/v1/org-units?q=_").json == []


def test_pagination_header_and_pages(api):
    for n in range(7):
        make_unit(api, code=f"P{n}")
    first = api.get("/api/v1/org-units?page=1&page_size=5")
    second = api.get("/api/v1/org-units?page=2&page_size=5")
    assert len(first.json) == 5 and len(second.json) == 2
    assert '"total": 7' in first.headers["X-Pagination"]
    assert api.get("/api/v1/org-units?page=99&page_size=5").json == []
    assert api.get("/api/v1/org-units?page=0").status_code == 422
    assert api.get("/api/v1/org-units?page_size=100000").status_code == 422
    assert api.get("/api/v1/org-units?page=99999999999999999999999").status_code in (200, 422)


def test_tree_children_subtree_ancestors(api):
    root = make_unit(api, code="12", type="province_committee")
    dept = make_unit(api, code="SNV", type="department", parent_id=root["id"])
    div = make_unit(api, code="SNV.TCCB", type="department_division", parent_id=dept["id"])
    commune = make_unit(api, code="03388", parent_id=root["id"])
    children = api.get(f"/api/v1/org-units/{root['id']}/children").json
    assert {u["code"] for u in children} == {"SNV", "03388"}
    subtree = api.get(f"/api/v1/org-units/{root['id']}/subtree").json
    assert [u["code"] for u in subtree] == ["03388", "SNV", "SNV.TCCB"]  # depth, then code
    ancestors = api.get(f"/api/v1/org-units/{div['id']}/ancestors").json
    assert [u["code"] for u in ancestors] == ["12", "SNV"]
    assert api.get(f"/api/v1/org-units/{root['id']}/ancestors").json == []
    assert api.get(f"/api/v1/org-units/{commune['id']}/subtree").json == []


@pytest.mark.parametrize("suffix", ["", "/children", "/subtree", "/ancestors"])
def test_unknown_unit_is_404_with_code(api, suffix):
    response = api.get(f"/api/v1/org-units/{uuid.uuid4()}{suffix}")
    assert response.status_code == 404
    assert response.json["code"] == "org_unit_not_found"
    assert response.json["request_id"]


def test_patch_needs_if_match_and_detects_stale_etag(api):
    unit = make_unit(api)
    url = f"/api/v1/org-units/{unit['id']}"
    missing = api.patch(url, {"short_name": "UBND"})
    assert missing.status_code == 428 and missing.json["code"] == "if_match_required"
    ok = api.patch(url, {"short_name": "UBND xã"}, etag='"1"')
    assert ok.status_code == 200 and ok.json["short_name"] == "UBND xã"
    assert ok.headers["ETag"] == '"2"'
    stale = api.patch(url, {"short_name": "Other"}, etag='"1"')
    assert stale.status_code == 412 and stale.json["code"] == "etag_mismatch"
    assert api.get(url).json["short_name"] == "UBND xã"
    star = api.patch(url, {"short_name": "Any"}, etag="*")
    assert star.status_code == 200


def test_patch_without_change_keeps_version(api):
    unit = make_unit(api)
    url = f"/api/v1/org-units/{unit['id']}"
    same = api.patch(url, {"name": unit["name"]}, etag='"1"')
    assert same.status_code == 200 and same.json["version"] == 1


def test_code_is_unique_among_active_units(api):
    make_unit(api, code="12")
    dup = api.post(
        "/api/v1/org-units",
        {"code": "12", "name": "X", "type": "other", "valid_from": "2025-07-01"},
    )
    assert dup.status_code == 409 and dup.json["code"] == "duplicate_unit_code"
    other = make_unit(api, code="13")
    clash = api.patch(f"/api/v1/org-units/{other['id']}", {"code": "12"}, etag='"1"')
    assert clash.status_code == 409


def test_cycles_in_the_tree_are_refused(api):
    root = make_unit(api)
    child = make_unit(api, parent_id=root["id"])
    grandchild = make_unit(api, parent_id=child["id"])
    url = f"/api/v1/org-units/{root['id']}"
    for new_parent in (root["id"], grandchild["id"]):
        response = api.patch_fresh(url, {"parent_id": new_parent})
        assert response.status_code == 422 and response.json["code"] == "unit_cycle"
    assert api.get(url).json["parent_id"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "code"),
        ({"code": "bad code!"}, "code"),
        ({"code": "x" * 40}, "code"),
        ({"name": "   "}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 300}, "name"),
        ({"type": "kingdom"}, "type"),
        ({"valid_from": "2025-13-01"}, "valid_from"),
        ({"mail_domain": "Not A Domain"}, "mail_domain"),
        ({"parent_id": "not-a-uuid"}, "parent_id"),
        ({"status": "merged"}, "status"),  # read-only
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_unit_bodies_are_422_and_write_nothing(api, body, field):
    full = {"code": "OK1", "name": "Tên", "type": "other", "valid_from": "2025-07-01"}
    response = api.post("/api/v1/org-units", {**full, **body} if body else {})
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_failed"
    assert field in response.json["errors"]["json"]
    assert api.get("/api/v1/org-units").json == []


def test_domain_rule_violations_are_422(api):
    base = {"code": "A1", "name": "Tên", "type": "other"}
    backwards = api.post(
        "/api/v1/org-units", {**base, "valid_from": "2025-07-01", "valid_to": "2025-01-01"}
    )
    assert backwards.status_code == 422
    unknown_parent = api.post(
        "/api/v1/org-units", {**base, "valid_from": "2025-07-01", "parent_id": str(uuid.uuid4())}
    )
    assert unknown_parent.status_code == 422 and "parent_id" in unknown_parent.json["details"]


def test_not_json_and_broken_json(api):
    response = api.client.post(
        "/api/v1/org-units",
        data="{not json",
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.json["code"] in ("bad_request", "validation_failed")
    as_form = api.client.post(
        "/api/v1/org-units",
        data={"code": "X"},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert as_form.status_code in (415, 422)


def test_reader_cannot_write(reader):
    response = reader.post(
        "/api/v1/org-units", {"code": "A", "name": "B", "type": "other", "valid_from": "2025-07-01"}
    )
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    assert reader.get("/api/v1/org-units").status_code == 200
