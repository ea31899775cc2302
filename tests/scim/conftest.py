"""A small province, an HR writer's SCIM clients (a real third-party client, scim2-client's
werkzeug engine, against the Flask app) and raw helpers for what a client library hides."""

from __future__ import annotations

from typing import Any

import pytest
from scim2_client.engines.wsgi import WSGISCIMClient

from tests.admin.scoping import subtree_client
from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import lai_chau, make_assignment, make_person, make_unit

PREFIX = "/scim/v2"
SCIM_JSON = "application/scim+json"
USER_SCHEMAS = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:idhub:2.0:User",
]
HUB = "urn:ietf:params:scim:schemas:extension:idhub:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def org(api) -> dict[str, Any]:
    found = lai_chau(api)
    commune = make_unit(
        api, code="03388", name="Ủy ban nhân dân xã Mường Tè", parent_id=found["root"]["id"]
    )
    an = make_person(
        api, family_name="Nguyễn", middle_name="Văn", given_name="An", civil_servant_code="CC001"
    )
    binh = make_person(api, family_name="Trần", middle_name="Thị", given_name="Bình")
    cuong = make_person(api, family_name="Lê", middle_name="", given_name="Cường")
    make_assignment(api, an, found["dept"], found["specialist"])
    make_assignment(api, binh, found["dept"], found["specialist"])
    make_assignment(api, cuong, commune, found["specialist"])
    return {**found, "commune": commune, "an": an, "binh": binh, "cuong": cuong}


def scim_token(app, client, scopes: list[str]) -> str:
    return token_for(client, register_client(app, scopes, name="HR system (SCIM)"))


class Raw:
    """Bearer-authenticated requests with SCIM's media type, for the protocol's corners."""

    def __init__(self, client, token: str) -> None:
        self.client, self.token = client, token

    def __call__(self, method: str, path: str, json: Any = None, **headers: str):
        return self.client.open(
            PREFIX + path,
            method=method,
            json=json,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": SCIM_JSON, **headers},
        )


@pytest.fixture
def writer_token(app, client) -> str:
    return scim_token(app, client, ["scim:read", "scim:write"])


@pytest.fixture
def raw(client, writer_token) -> Raw:
    return Raw(client, writer_token)


def scim_client(app, token: str) -> WSGISCIMClient:
    scim = WSGISCIMClient(
        app,
        base_url=f"http://localhost{PREFIX}",
        headers={"Authorization": f"Bearer {token}"},
    )
    scim.discover()
    return scim


@pytest.fixture
def scim(app, writer_token) -> WSGISCIMClient:
    return scim_client(app, writer_token)


def subtree_raw(app, client, unit_id: str) -> Raw:
    api: Api = subtree_client(app, client, unit_id, ["scim:read", "scim:write"])
    return Raw(client, api.token)


def joiner(unit_code: str = "SNV", cccd: str = "001090000123", **extra: Any) -> dict[str, Any]:
    return {
        "schemas": USER_SCHEMAS,
        "userName": "ignored",
        "name": {"familyName": "Phạm", "middleName": "Thị", "givenName": "Hoà"},
        ENT: {"employeeNumber": extra.pop("code", "CC900")},
        HUB: {
            "nationalId": cccd,
            "posts": [{"unitCode": unit_code, "positionCode": "CHUYEN_VIEN", "kind": "primary"}],
        },
        **extra,
    }
