"""Scope on every API operation, derived from the OpenAPI document (#18): a client limited
to commune A's subtree, given every scope, calls each operation on the objects of commune
B and gets nothing: 404 for an object named in the path, 403 for a write that would
place something in B or needs the province, and lists without a trace of B."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest

from idhub import create_app
from idhub.config import load_settings
from tests.admin.scoping import province, subtree_client
from tests.fixtures.factories import make_person
from tests.imports.sheets import row, xlsx


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict:
    settings = load_settings(
        overrides={
            "var_dir": str(tmp_path_factory.mktemp("spec")),
            "database": {"url": "sqlite://"},
        },
        environ={},
    )
    return create_app(settings).test_client().get("/api/v1/openapi.json").json


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


# Collection writes, each aimed at commune B (or at the province's own business).
def _writes_into_b(p, b_ids: dict[str, str]) -> dict[str, tuple[dict, set[int]]]:
    post_in_b = {
        "person_id": p.in_a["id"],
        "unit_id": p.b["id"],
        "position_id": p.clerk["id"],
        "kind": "concurrent",
        "start_date": "2025-08-01",
    }
    return {
        "/api/v1/org-units": (
            {
                "code": "XA.SINHO.VP",
                "name": "Văn phòng",
                "type": "other",
                "valid_from": "2025-07-01",
                "parent_id": p.b["id"],
            },
            {403},
        ),
        "/api/v1/assignments": (post_in_b, {403}),
        "/api/v1/batches": ({"items": [{"op": "create_assignment", "data": post_in_b}]}, {403}),
        "/api/v1/positions": ({"code": "MOI", "name": "Mới"}, {403}),
        "/api/v1/changesets": (
            {
                "title": "Đổi tên",
                "decision_number": "1/QĐ",
                "decision_date": "2025-06-16",
                "decision_issuer": "UBND tỉnh",
                "effective_date": "2025-07-01",
                "operations": [{"op": "rename", "unit": "XA.SINHO", "name": "Xã mới"}],
            },
            {403},
        ),
        "/api/v1/admin-grants": (
            {"person_id": p.in_a["id"], "role": "hr_officer", "unit_id": p.b["id"]},
            {403},
        ),
        "/api/v1/reconcile": (None, {403}),
        # A client (no person) owns no apps: it manages none unless province-wide admin.
        "/api/v1/clients": ({"name": "App", "redirect_uris": ["https://b.example/cb"]}, {403}),
        "/api/v1/guard/release": ({"reason": "thử"}, {403}),
        # A delegation of app rights of someone in B: as if B's people did not exist.
        "/api/v1/app-delegations": (
            {
                "delegator_id": p.in_b["id"],
                "deputy": p.in_a["id"],
                "app": "meeting",
                "start_date": "2025-07-01",
                "end_date": "2099-12-31",
                "reason": "thử",
            },
            {404},
        ),
        # Inside its own scope (the joiner belongs to the commune that recorded them).
        "/api/v1/people": (
            {
                "national_id": "001190000123",
                "family_name": "Lò",
                "given_name": "Pằn",
                "date_of_birth": "1990-01-01",
            },
            {201},
        ),
    }


# Province-wide by nature (every person, every app): refused to a subtree-limited client.
# Province-only operations: a subtree client is refused before any object is looked up.
PROVINCE_WIDE = ("/api/v1/events/", "/api/v1/national/", "/api/v1/clients/{client_id}/scim")


def test_a_subtree_client_gets_nothing_outside_its_subtree(spec, app, client, admin):
    p = province(admin)
    deputy_b = make_person(admin, family_name="Vàng", middle_name="A", given_name="Dế")
    delegation = admin.post(
        f"/api/v1/people/{p.in_b['id']}/mail-delegations",
        {"deputy_id": deputy_b["id"], "start_date": "2025-07-01", "end_date": "2025-12-31"},
    ).json
    grant = admin.post(
        "/api/v1/admin-grants", {"person_id": p.in_b["id"], "role": "auditor", "unit_id": p.b["id"]}
    ).json
    today = dt.date.today().isoformat()
    rights = admin.post(
        "/api/v1/app-delegations",
        {"delegator_id": p.in_b["id"], "deputy": deputy_b["id"], "app": "meeting",
         "start_date": today, "end_date": today, "reason": "Đi công tác"},
    )  # fmt: skip
    assert rights.status_code == 201, rights.json
    change_set = admin.post(
        "/api/v1/changesets",
        {
            "title": "Đổi tên",
            "decision_number": "2/QĐ",
            "decision_date": "2025-06-16",
            "decision_issuer": "UBND tỉnh",
            "effective_date": "2025-07-01",
            "operations": [{"op": "rename", "unit": "XA.SINHO", "name": "Xã Sìn Hồ mới"}],
        },
    ).json
    job = admin.get("/api/v1/jobs", query_string={"subject_id": p.in_b["id"]}).json[0]
    b_ids = {
        "unit_id": p.b["id"],
        "person_id": p.in_b["id"],
        "assignment_id": p.post_b["id"],
        "position_id": p.clerk["id"],
        "change_set_id": change_set["id"],
        "grant_id": grant["id"],
        "job_id": str(job["id"]),
        "delegation_id": delegation["id"],
        "seat_id": "00000000-0000-0000-0000-000000000001",
        "client_id": admin.post(
            "/api/v1/clients", {"name": "App of B", "redirect_uris": ["https://b.example/cb"]}
        ).json["client_id"],
    }
    hidden = {v for k, v in b_ids.items() if k not in ("position_id", "job_id")} | {
        deputy_b["id"],
        rights.json["id"],
    }
    commune = subtree_client(app, client, p.a["id"])
    writes = _writes_into_b(p, b_ids)
    checked = set()
    for path, item in spec["paths"].items():
        if path.startswith(PROVINCE_WIDE):
            for method in set(item) & {"get", "post", "put", "patch", "delete"}:
                url = re.sub(
                    r"\{([^}]+)\}",
                    lambda m: "1" if m.group(1) == "letter_id" else b_ids["seat_id"],
                    path,
                )
                response = commune.client.open(
                    url, method=method.upper(), headers=commune._headers(None), json={}
                )
                # Refused, or — an object of B named in the path — not found before that.
                assert response.status_code in (403, 404), (method, path, response.json)
                assert response.json["code"] in (
                    "province_admin_required",
                    "insufficient_scope",
                    "person_not_found",
                ), (method, path, response.json)
                checked.add((method, path))
            continue
        for method in ("get", "post", "patch"):
            if method not in item:
                continue
            url = re.sub(r"\{([^}]+)\}", lambda m: b_ids[m.group(1)], path)
            catalogue = "{position_id}" in path  # the position catalogue is everyone's
            if method == "get":
                response = commune.get(url)
                if "{" in path and not catalogue:
                    assert response.status_code == 404, (path, response.json)
                else:
                    assert response.status_code in (200, 403), (path, response.json)
                    leaked = _strings(response.json) & hidden
                    assert not leaked, (
                        path,
                        leaked,
                        {k: v for k, v in b_ids.items() if v in leaked},
                        [e for e in response.json if leaked & _strings(e)]
                        if isinstance(response.json, list)
                        else None,
                    )
            elif method == "patch":
                response = commune.patch(url, {}, etag="*")
                expected = {403} if catalogue else {404}
                assert response.status_code in expected, (path, response.json)
            elif "{" in path:
                response = commune.post(url, {})
                assert response.status_code == 404, (path, response.json)
            elif path == "/api/v1/imports":  # a sheet placing someone in B: a row error
                sheet = xlsx([row(1, unit=p.b["code"], position=p.clerk["code"])])
                response = commune.post(url, None, data={"file": (io.BytesIO(sheet), "b.xlsx")})
                assert response.status_code == 422, response.json
                errors = response.json["details"]["rows"][0]["errors"]
                assert errors["unit_code"][0]["code"] == "unit_outside"
            else:
                body, expected = writes[path]
                response = commune.post(url, body)
                assert response.status_code in expected, (path, response.json)
            checked.add((method, path))
    assert len(checked) >= 40
    # Nothing of B was changed on the way.
    assert admin.get(f"/api/v1/org-units/{p.b['id']}").json["name"] == p.b["name"]
    assert admin.get(f"/api/v1/assignments/{p.post_b['id']}").json["end_date"] is None
