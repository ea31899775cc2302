"""Build HR data through the public API, as an HR client would."""

from __future__ import annotations

import itertools
import random
from typing import Any

_counter = itertools.count(1)


def national_id() -> str:
    province, century = random.randint(1, 96), random.randint(0, 3)
    return f"{province:03d}{century}{random.randint(0, 99):02d}{random.randint(0, 999999):06d}"


def make_unit(api, **fields: Any) -> dict:
    n = next(_counter)
    body = {
        "code": f"U{n:05d}",
        "name": f"Ủy ban nhân dân xã Thử Nghiệm {n}",
        "type": "commune_committee",
        "valid_from": "2025-07-01",
        **fields,
    }
    response = api.post("/api/v1/org-units", body)
    assert response.status_code == 201, response.json
    return response.json


def make_position(api, **fields: Any) -> dict:
    n = next(_counter)
    body = {"code": f"POS_{n}", "name": f"Chuyên viên {n}", "leadership_level": 0, **fields}
    response = api.post("/api/v1/positions", body)
    assert response.status_code == 201, response.json
    return response.json


def make_person(api, **fields: Any) -> dict:
    body = {
        "national_id": national_id(),
        "family_name": "Nguyễn",
        "middle_name": "Văn",
        "given_name": "An",
        **fields,
    }
    response = api.post("/api/v1/people", body)
    assert response.status_code == 201, response.json
    return response.json


def make_assignment(api, person: dict, unit: dict, position: dict, **fields: Any) -> dict:
    body = {
        "person_id": person["id"],
        "unit_id": unit["id"],
        "position_id": position["id"],
        "kind": "primary",
        "start_date": "2025-07-01",
        **fields,
    }
    response = api.post("/api/v1/assignments", body)
    assert response.status_code == 201, response.json
    return response.json
