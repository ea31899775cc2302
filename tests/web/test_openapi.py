"""The OpenAPI document is valid, documents auth, every operation in it refuses bad input
(out-of-range ids and query values too), and every answer matches its documented schema."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from openapi_spec_validator import validate

from idhub import create_app
from idhub.config import load_settings
from idhub.imports.sheets import template
from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import lai_chau, make_assignment, make_person


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


BEYOND_64_BITS = 27448864026591347192365056  # the id issue 16 sent to /jobs/{id}/retry


def _concrete(path: str, spec: dict | None = None) -> str:
    """Every path parameter filled with one that names nothing: a random UUID, or an
    integer beyond what the database holds."""
    types = {
        p["name"]: p["schema"].get("type")
        for p in (spec["paths"][path].get("parameters", []) if spec else [])
        if p["in"] == "path"
    }

    def value(match: re.Match) -> str:
        integer = types.get(match.group(1)) == "integer"
        return str(BEYOND_64_BITS) if integer else str(uuid.uuid4())

    return re.sub(r"\{([^}]+)\}", value, path)


class Checked:
    """An API client that checks every answer against the schema the document gives for
    its operation and status, as a strictly generated client would read it."""

    def __init__(self, api, spec: dict) -> None:
        self.api, self.spec, self.seen = api, spec, set()
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in spec["paths"]
        ]

    def check(self, method: str, url: str, response: Any) -> Any:
        path = url.split("?")[0]
        templates = [t for pattern, t in self.routes if pattern.match(path)]
        assert templates, f"{method} {path} is not in the document"
        template = min(templates, key=lambda t: t.count("{"))
        op = self.spec["paths"][template][method]
        status = str(response.status_code)
        documented = op["responses"].get(status) or op["responses"].get("default")
        assert documented, f"{method} {template}: {status} is not documented"
        self.seen.add((method, template, status))
        content = documented.get("content", {}).get("application/json")
        if content is not None and response.is_json:
            validator = OAS30ReadValidator(
                {**content["schema"], "components": self.spec["components"]},
                format_checker=oas30_format_checker,
            )
            errors = sorted(validator.iter_errors(response.json), key=str)
            assert not errors, (
                f"{method} {template} {status} does not match the document: "
                + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
            )
        return response

    def get(self, url: str, **kw: Any) -> Any:
        return self.check("get", url, self.api.get(url, **kw))

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.check("post", url, self.api.post(url, json, **kw))

    def patch(self, url: str, json: Any = None, etag: str | None = None, **kw: Any) -> Any:
        return self.check("patch", url, self.api.patch(url, json, etag=etag, **kw))

    def patch_fresh(self, url: str, json: Any) -> Any:
        return self.patch(url, json, etag=self.get(url).headers["ETag"])

    def put(self, url: str, json: Any = None) -> Any:
        return self.check("put", url, self.api.client.put(url, json=json, headers=self._auth()))

    def delete(self, url: str) -> Any:
        return self.check("delete", url, self.api.client.delete(url, headers=self._auth()))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api.token}"}


def test_every_operation_rejects_bad_input(spec, app, client):
    """Generated from the document, so a new endpoint is covered the day it appears."""
    # admin, and access:reset: resetting someone's access is a right admin does not imply.
    api = Checked(
        Api(
            client,
            token_for(client, register_client(app, ["admin", "access:reset", "national:exchange"])),
        ),
        spec,
    )
    for path, method, op in operations(spec):
        url = _concrete(path, spec)
        for name in ("page", "page_size"):  # out of range, and beyond 64 bits
            if any(p["name"] == name for p in op.get("parameters", [])):
                for value in (0, BEYOND_64_BITS, 2**63, -1):
                    response = api.get(f"{url}?{name}={value}")
                    expected = (404, 422) if "{" in path else (422,)
                    assert response.status_code in expected, (path, name, value, response.json)
                response = api.get(f"{url}?page={2**62}&page_size=10")  # offset beyond 64 bits
                assert response.status_code in expected, (path, response.json)
        if method == "get":
            if "{" in path:
                response = api.get(url)
                assert response.status_code == 404, (path, response.json)
            elif any(p["name"] == "page" for p in op.get("parameters", [])):
                response = api.get(url + "?page=0")
                assert response.status_code == 422, (path, response.json)
                assert api.get(url + "?page_size=abc").status_code == 422
            else:  # takes no input, or only a choice in the query: a wrong one is refused
                assert "requestBody" not in op
                for parameter in op.get("parameters", []):
                    assert parameter["in"] == "query" and "enum" in parameter["schema"], path
                    response = api.get(f"{url}?{parameter['name']}=not-a-valid-value")
                    assert response.status_code == 422, (path, response.json)
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
            if "multipart/form-data" in op["requestBody"]["content"]:
                # an upload's file given as text, beside a field nobody asked for
                files = op["requestBody"]["content"]["multipart/form-data"]["schema"]
                props = (
                    files.get("properties")
                    or spec["components"]["schemas"][files["$ref"].rsplit("/", 1)[1]]["properties"]
                )
                data = {name: "not a file" for name in props} | {"unexpected_field": "x"}
                response = api.post(url, None, data=data)
                assert response.status_code in (expected, 422), (path, response.json)
                assert response.json["code"]
        elif method == "patch":
            response = api.patch(url, {"unexpected_field": "x"}, etag='"1"')
            assert response.status_code in (404, 422), (path, response.json)


def test_integer_ids_at_and_beyond_64_bits_name_nothing(spec, admin):
    """The largest id the database holds is looked up (404); one past it never reaches the
    database (404 too, not a 500), and the document says where ids end."""
    retry = spec["paths"]["/api/v1/jobs/{job_id}/retry"]["parameters"][0]["schema"]
    assert retry["maximum"] == 2**63 - 1
    for job_id in (2**63 - 1, 2**63, 2**64, BEYOND_64_BITS):
        response = admin.post(f"/api/v1/jobs/{job_id}/retry")
        assert response.status_code == 404, (job_id, response.json)
        assert response.json["code"] in ("job_not_found", "not_found")


DECISION = {
    "title": "Đổi tên đơn vị",
    "decision_number": "12/QĐ-UBND",
    "decision_date": "2025-06-16",
    "decision_issuer": "Ủy ban nhân dân tỉnh Lai Châu",
    "effective_date": "2025-07-01",
}


def test_every_answer_matches_the_document(spec, admin, app, client):
    """Every operation of the document called with real data, as a third-party client
    generated from the document would; each answer is checked against its schema (a null
    where the document says string fails)."""
    api = Checked(admin, spec)
    org = lai_chau(api)
    person = make_person(api, date_of_birth="1990-05-01", personal_email="an@example.com")
    deputy = make_person(api)
    kept = make_assignment(api, person, org["dept"], org["specialist"])  # end_* are null
    ended = make_assignment(api, deputy, org["dept"], org["specialist"])
    api.post(f"/api/v1/assignments/{ended['id']}/end", {"end_date": "2025-12-31"})
    api.patch_fresh(f"/api/v1/assignments/{kept['id']}", {"decision_ref": "QĐ 1"})
    api.patch_fresh(f"/api/v1/people/{person['id']}", {"personal_phone": "0912345678"})
    api.patch_fresh(f"/api/v1/org-units/{org['dept']['id']}", {"short_name": "SNV"})
    api.patch_fresh(f"/api/v1/positions/{org['specialist']['id']}", {"leadership_level": 1})
    delegations = f"/api/v1/people/{person['id']}/mail-delegations"
    delegation = api.post(
        delegations,
        {"deputy_id": deputy["id"], "start_date": "2025-07-01", "end_date": "2025-12-31"},
    ).json
    api.post(f"{delegations}/{delegation['id']}/end", {"end_date": "2025-09-30"})
    rights = {"delegator_id": person["id"], "deputy": deputy["id"], "app": "meeting"}
    today = dt.date.today().isoformat()
    right = api.post(
        "/api/v1/app-delegations",
        {**rights, "start_date": today, "end_date": today, "reason": "Đi công tác"},
    ).json
    api.post(f"/api/v1/app-delegations/{right['id']}/revoke", {})
    body = {"national_id": "012190000001", "family_name": "Lò", "given_name": "Mai"}
    api.post("/api/v1/batches", {"items": [{"op": "create_person", "data": body}]})
    sheet = io.BytesIO(template("csv"))  # its example's unit is not here: row errors
    api.post("/api/v1/imports", None, data={"file": (sheet, "mau.csv"), "dry_run": "true"})
    operation = {"op": "rename", "unit": org["dept"]["code"], "name": "Sở Nội vụ mới"}
    change_set = api.post("/api/v1/changesets", {**DECISION, "operations": [operation]}).json
    api.patch_fresh(f"/api/v1/changesets/{change_set['id']}", {"title": "Đổi tên Sở"})
    api.post(f"/api/v1/people/{person['id']}/activation-link", {})
    officer = Checked(Api(client, token_for(client, register_client(app, ["access:reset"]))), spec)
    officer.post(f"/api/v1/people/{person['id']}/access-reset", {"reason": "mất điện thoại"})
    api.seen |= officer.seen
    exchange = Checked(
        Api(client, token_for(client, register_client(app, ["national:exchange"]))), spec
    )
    export = exchange.post("/api/v1/national/exports", {"format": "jws"}).json
    exchange.get("/api/v1/national/exports")
    exchange.post("/api/v1/national/imports", {"not": "signed"})  # 422 in the error format
    partner_key = RSAKey.generate_key(2048).as_dict(private=False)
    api.post(
        "/api/v1/national/partners",
        {"name": "HRM tỉnh", "kind": "hr", "public_jwk": partner_key},
    )
    api.seen |= exchange.seen
    grant = api.post(
        "/api/v1/admin-grants",
        {"person_id": deputy["id"], "role": "hr_officer", "unit_id": org["dept"]["id"]},
    ).json
    api.post(f"/api/v1/admin-grants/{grant['id']}/revoke", {"reason": "hết nhiệm vụ"})
    api.post("/api/v1/reconcile")
    api.post("/api/v1/guard/release", {"reason": "kiểm tra"})
    jobs = api.get("/api/v1/jobs").json
    assert jobs
    api.post(f"/api/v1/jobs/{jobs[0]['id']}/retry")  # not failed: 409, in the error format
    app_client = register_client(app, ["hr:read"], name="Văn bản").client_id
    events = f"/api/v1/events/subscriptions/{app_client}"
    api.put(events, {"url": "https://vanban.example.vn/events", "types": ["joiner", "leaver"]})
    api.post("/api/v1/events/dead-letters/1/retry")  # none yet: 404, in the error format
    app_body = {"name": "Một cửa", "redirect_uris": ["https://motcua.example.vn/cb"]}
    sign_on = api.post("/api/v1/clients", app_body).json["client_id"]
    api.patch_fresh(f"/api/v1/clients/{sign_on}", {"client_uri": None})
    api.post(f"/api/v1/clients/{sign_on}/rotate-secret")
    api.post(f"/api/v1/clients/{sign_on}/disable")
    api.post(f"/api/v1/clients/{sign_on}/enable")
    scim = f"/api/v1/clients/{sign_on}/scim"
    api.put(scim, {"url": "https://motcua.example.vn/scim/v2", "token": "t0ken"})
    ids = {
        "unit_id": org["dept"]["id"],
        "person_id": person["id"],
        "position_id": org["specialist"]["id"],
        "assignment_id": kept["id"],
        "change_set_id": change_set["id"],
        "export_id": export["id"],
        "grant_id": grant["id"],
        "client_id": sign_on,
    }
    for path, method, _op in operations(spec):
        if method != "get" or "{seat_id}" in path:
            continue  # seats appear once the worker has converged a seat post
        url = re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)
        response = (exchange if "/national/" in path else api).get(url)
        api.seen |= exchange.seen
        assert response.status_code == 200, (path, response.json)
    for unit in api.get("/api/v1/org-units").json:
        api.get(f"/api/v1/org-units/{unit['id']}/lineage")
    api.post(f"{scim}/dead-letters/{person['id']}/retry")  # none: 404, in the error format
    api.delete(scim)
    api.post(f"/api/v1/changesets/{change_set['id']}/schedule")
    api.post(f"/api/v1/changesets/{change_set['id']}/cancel")
    again = api.post("/api/v1/changesets", {**DECISION, "operations": [operation]}).json
    api.post(f"/api/v1/changesets/{again['id']}/apply")
    api.delete(events)
    answered = {(m, p) for m, p, _ in api.seen}
    missing = {(m, p) for p, m, _ in operations(spec)} - answered
    assert missing <= {("get", "/api/v1/seats/{seat_id}")}, sorted(missing)


def test_docs_page_is_served_locally(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"swagger-ui-bundle.js" in page.data and b"http" not in page.data.split(b"<body>")[1]
    assert client.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200
    # A current Swagger UI (5.x, from flask-swagger-ui), not the 4.15 bundle of 2022.
    version = client.get("/api/v1/docs/static/VERSION").data.decode()
    assert version.startswith("v5."), version
    assert client.get("/static/api-docs.js").status_code == 200
