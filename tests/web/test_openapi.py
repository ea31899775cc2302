"""The OpenAPI document is valid, documents auth, and every operation in it refuses bad input."""

from __future__ import annotations

import re
import uuid

import pytest
from openapi_spec_validator import validate

from idhub import create_app
from idhub.config import load_settings
from tests.conftest import Api, register_client, token_for


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


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "patch", "put", "delete"):
                yield path, method, op


def test_document_validates(spec):
    validate(spec)
    assert spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]


def test_every_operation_requires_a_token_and_documents_errors(spec):
    ops = list(operations(spec))
    assert len(ops) >= 17
    for path, method, op in ops:
        assert op.get("security"), f"{method} {path} has no security"
        assert "401" in op["responses"] and "403" in op["responses"], f"{method} {path}"
        if method == "patch":
            names = {p["name"] for p in op.get("parameters", [])}
            assert "If-Match" in names


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_every_operation_rejects_bad_input(spec, app, client):
    """Generated from the document, so a new endpoint is covered the day it appears."""
    # admin, and access:reset: resetting someone's access is a right admin does not imply.
    api = Api(client, token_for(client, register_client(app, ["admin", "access:reset"])))
    for path, method, op in operations(spec):
        url = _concrete(path)
        if method == "get":
            if "{" in path:
                response = api.get(url)
                assert response.status_code == 404, (path, response.json)
            elif any(p["name"] == "page" for p in op.get("parameters", [])):
                response = api.get(url + "?page=0")
                assert response.status_code == 422, (path, response.json)
                assert api.get(url + "?page_size=abc").status_code == 422
            else:  # takes no input at all
                assert not op.get("parameters") and "requestBody" not in op
        elif method == "post" and "requestBody" not in op:
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            response = api.post(url + (f"?{query[0]}=not-a-valid-value" if query else ""))
            expected = 404 if "{" in path else 422
            assert response.status_code == expected, (path, response.json)
        elif method == "post":
            response = api.post(url, {"unexpected_field": "x"})
            expected = 404 if "{" in path else 422
            assert response.status_code in (expected, 422), (path, response.json)
            assert response.json["code"]
        elif method == "patch":
            response = api.patch(url, {"unexpected_field": "x"}, etag='"1"')
            assert response.status_code in (404, 422), (path, response.json)


def test_docs_page_is_served_locally(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"swagger-ui-bundle.js" in page.data and b"http" not in page.data.split(b"<body>")[1]
    assert client.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/api-docs.js").status_code == 200
