"""POST /api/v1/imports and the national export endpoints fed what a fuzzer or a broken
client sends: two files, a file field that is text, a wrong boolean, an empty file, a
path as the file name, a file name that is not UTF-8, a broken multipart body, signed
batches that are not. Always a clear error in the error format (never a 500), nothing
written, and no file written where the name points."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from idhub.models import AuditEvent, Person
from tests.conftest import Api, register_client, token_for
from tests.imports.sheets import csv_bytes, row

URL = "/api/v1/imports"


def _counts(app) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        people = session.scalar(select(func.count()).select_from(Person)) or 0
        audit = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return people, audit


def _refused(response, status: int = 422) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.get_data(True))
    body = response.json
    assert body and body["code"], response.get_data(True)
    return body


@pytest.fixture
def sheet() -> bytes:
    return csv_bytes([row(1)])


def _raw(api: Api, body: bytes, boundary: str = "XyZ") -> object:
    return api.client.post(
        URL,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Authorization": f"Bearer {api.token}"},
    )


def test_two_files_are_refused_not_half_read(app, api, sheet):
    before = _counts(app)
    two = [(io.BytesIO(sheet), "a.csv"), (io.BytesIO(sheet), "b.csv")]
    body = _refused(api.post(URL, None, data={"file": two}))
    assert body["code"] == "import_one_file"
    assert _counts(app) == before


def test_a_file_field_that_is_text_is_refused(app, api):
    before = _counts(app)
    _refused(api.post(URL, None, data={"file": "Họ,Tên\nLò,Mai"}))
    _refused(api.post(URL, None, data={}))
    assert _counts(app) == before


@pytest.mark.parametrize("value", ["maybe", "", "2", "yes please", "\x00"])
def test_dry_run_must_be_a_boolean(app, api, sheet, value):
    before = _counts(app)
    data = {"file": (io.BytesIO(sheet), "a.csv"), "dry_run": value}
    _refused(api.post(URL, None, data=data))
    assert _counts(app) == before


def test_an_empty_file_is_refused(app, api):
    before = _counts(app)
    body = _refused(api.post(URL, None, data={"file": (io.BytesIO(b""), "trong.xlsx")}))
    assert body["code"].startswith("import_")
    assert _counts(app) == before


def test_a_path_as_file_name_is_only_a_name(app, api, sheet, settings):
    var = Path(settings["var_dir"])
    before = set(var.rglob("*"))
    for name in ("../../etc/passwd.xlsx", "/etc/passwd.csv", "..\\..\\boot.ini.csv", "a\x00.csv"):
        data = {"file": (io.BytesIO(sheet), name), "dry_run": "true"}
        response = api.post(URL, None, data=data)
        assert response.status_code in (200, 422), (name, response.get_data(True))
        assert "passwd" not in response.get_data(True) or response.status_code == 200
    after = set(var.rglob("*"))
    assert not any("passwd" in str(p) or "boot.ini" in str(p) for p in after - before)
    assert not os.path.exists("/etc/passwd.xlsx")


def test_a_file_name_that_is_not_utf8(app, api, sheet):
    before = _counts(app)
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="dry_run"\r\n\r\ntrue\r\n'
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="nh\xe2n-s\xff.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + sheet + b"\r\n--XyZ--\r\n"
    )
    response = _raw(api, body)
    assert response.status_code in (200, 422), response.get_data(True)
    assert _counts(app) == before


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"--XyZ\r\n",  # no end
        b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n",  # a part without a name
        b"not multipart at all",
        b'--other\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--other--\r\n',
    ],
)
def test_a_broken_multipart_body_is_a_clear_error(app, api, body):
    before = _counts(app)
    response = _raw(api, body)
    assert response.status_code in (400, 422), response.get_data(True)
    assert response.json["code"]
    assert _counts(app) == before


def test_a_json_body_is_not_a_sheet(app, api):
    _refused(api.post(URL, {"file": "x", "dry_run": True}))


def test_a_reason_with_control_characters_is_refused(app, api, sheet):
    before = _counts(app)
    data = {"file": (io.BytesIO(sheet), "a.csv"), "reason": "QĐ\x00 12"}
    _refused(api.post(URL, None, data=data))
    assert _counts(app) == before


# -- national exports ------------------------------------------------------------------------
@pytest.fixture
def exchange(app, client) -> Api:
    return Api(client, token_for(client, register_client(app, ["national:exchange"])))


@pytest.mark.parametrize(
    "body",
    [
        {"format": "maybe"},
        {"format": ["jws"]},
        {"format": None},
        {"format": "jws", "extra": 1},
        {"format": "x" * 10_000},
        {"format": "jws\x00"},
        [],
        "jws",
    ],
)
def test_an_export_request_that_is_wrong_is_refused(app, exchange, body):
    before = _counts(app)
    response = exchange.post("/api/v1/national/exports", body)
    assert response.status_code == 422, (body, response.get_data(True))
    assert response.json["code"]
    assert _counts(app) == before


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=-1", "page_size=0", "page_size=100000", "page=99999999999999999999999"],
)
def test_the_export_list_refuses_bad_paging(exchange, query):
    response = exchange.get(f"/api/v1/national/exports?{query}")
    assert response.status_code == 422, (query, response.get_data(True))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/national/exports/00000000-0000-0000-0000-000000000000",
        "/api/v1/national/exports/not-a-uuid",
        "/api/v1/national/exports/..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_an_export_that_is_not_there_is_404(exchange, path):
    response = exchange.get(path)
    assert response.status_code == 404, (path, response.get_data(True))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"not.a.jws",
        b"a.b.c",
        b"eyJhbGciOiJub25lIn0.e30.",  # alg none
        b"\xff\xfe\x00garbage",
        b"x" * 100_000,
        b'{"payload": "x", "signatures": []}',
    ],
)
def test_a_national_import_that_is_not_a_signed_batch_is_refused(app, client, exchange, body):
    before = _counts(app)
    response = client.post(
        "/api/v1/national/imports",
        data=body,
        content_type="application/jose",
        headers={"Authorization": f"Bearer {exchange.token}"},
    )
    assert response.status_code in (413, 422), (body[:40], response.get_data(True))
    assert response.json["code"]
    assert _counts(app) == before


def test_the_document_shows_the_upload_as_multipart_with_its_file(client):
    """A client generated from the document must be able to send the sheet: the body is
    multipart/form-data and holds `file` (binary) beside `dry_run` and `reason`."""
    spec = client.get("/api/v1/openapi.json").json
    body = spec["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    name = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    props = spec["components"]["schemas"][name]["properties"]
    assert props["file"] == {**props["file"], "type": "string", "format": "binary"}
    assert {"dry_run", "reason"} <= set(props)
