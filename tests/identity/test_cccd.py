"""A CCCD is checked for what it encodes, on every door that stores one, and `idhub hr check`
finds stored records that fail the check."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from idhub.cli import main
from idhub.identity import cccd
from idhub.models import Person
from tests.fixtures.factories import lai_chau, make_person

# The four numbers issue 16 found accepted, each with the date of birth it was sent with.
REFUSED = [
    ("999090123456", "1990-05-01", "unknown_province"),
    ("012990123456", "1990-05-01", "century_mismatch"),
    ("012085123456", "1990-05-01", "birth_year_mismatch"),
    ("000000000000", None, "all_zeros"),
]
ACCEPTED = [
    ("001090123456", "1990-05-01"),  # Hà Nội, man, 1990
    ("012190123456", "1990-05-01"),  # Lai Châu, woman, 1990
    ("079205000001", "2005-12-31"),  # Hồ Chí Minh, man, 2005
    ("096303000002", "2003-01-01"),  # Cà Mau, woman, 2003
    ("046175000003", None),  # no date of birth: the province and a past year are enough
]


def _body(national_id: str, date_of_birth: str | None) -> dict:
    body = {"national_id": national_id, "family_name": "Lê", "given_name": "Bình"}
    return {**body, "date_of_birth": date_of_birth} if date_of_birth else body


def test_the_list_is_the_63_pre_2025_provinces():
    assert len(cccd.PROVINCE_CODES) == 63
    assert min(cccd.PROVINCE_CODES) == 1 and max(cccd.PROVINCE_CODES) == 96
    legacy = pytest.importorskip("vietnam_provinces.legacy")
    assert set(cccd.PROVINCE_CODES) == {int(p.code) for p in legacy.Province.iter_all()}


@pytest.mark.parametrize(
    ("national_id", "born", "problem"),
    [
        *REFUSED,
        ("012290123456", "1990-05-01", "century_mismatch"),  # 2090 ≠ 1990
    ],
)
def test_problems_name_what_is_wrong(national_id, born, problem):
    found = cccd.problems(national_id, dt.date.fromisoformat(born) if born else None)
    assert problem in {p.code for p in found}
    assert all(p.vi and p.en and p.vi != p.en for p in found)


@pytest.mark.parametrize(("national_id", "born", "problem"), REFUSED)
def test_people_api_refuses_a_cccd_that_does_not_hold(api, national_id, born, problem):
    response = api.post("/api/v1/people", _body(national_id, born))
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_national_id"
    assert "CCCD" in response.json["message"] and "Số CCCD không hợp lệ" in response.json["message"]
    assert problem in {p["code"] for p in response.json["details"]["problems"]}
    assert response.json["details"]["national_id"]
    assert api.get("/api/v1/people").json == []


@pytest.mark.parametrize(("national_id", "born"), ACCEPTED)
def test_people_api_accepts_a_cccd_that_holds(api, national_id, born):
    response = api.post("/api/v1/people", _body(national_id, born))
    assert response.status_code == 201, response.json


def test_batches_refuse_a_cccd_that_does_not_hold(api):
    org = lai_chau(api)
    for national_id, born, problem in REFUSED:
        items = [
            {"op": "create_person", "ref": "ok", "data": _body("001090123456", "1990-05-01")},
            {"op": "create_person", "ref": "bad", "data": _body(national_id, born)},
            {
                "op": "create_assignment",
                "data": {
                    "person_id": "ref:bad",
                    "unit_id": org["dept"]["id"],
                    "position_id": org["specialist"]["id"],
                    "kind": "primary",
                    "start_date": "2025-07-01",
                },
            },
        ]
        response = api.post("/api/v1/batches", {"items": items})
        assert response.status_code == 422, response.json
        assert response.json["code"] == "invalid_national_id"
        assert response.json["details"]["index"] == 1
        assert problem in {p["code"] for p in response.json["details"]["error"]["problems"]}
        assert api.get("/api/v1/people").json == []


def test_batch_update_and_patch_check_the_pair_they_leave(api):
    person = make_person(api, national_id="012090123456", date_of_birth="1990-05-01")
    url = f"/api/v1/people/{person['id']}"
    moved = api.patch_fresh(url, {"date_of_birth": "1991-05-01"})
    assert moved.status_code == 422 and moved.json["code"] == "invalid_national_id"
    item = {"op": "update_person", "id": person["id"], "data": {"national_id": "012085123456"}}
    batch = api.post("/api/v1/batches", {"items": [item]})
    assert batch.status_code == 422 and batch.json["code"] == "invalid_national_id"
    both = api.patch_fresh(url, {"national_id": "012191000001", "date_of_birth": "1991-05-01"})
    assert both.status_code == 200, both.json
    assert api.patch_fresh(url, {"personal_phone": "0912345678"}).status_code == 200


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    return settings


def test_hr_check_lists_stored_records_that_fail(cli_env, app, api):
    good = make_person(api, date_of_birth="1990-05-01")
    bad = make_person(api, date_of_birth="1990-05-01")
    runner = CliRunner()
    clean = runner.invoke(main, ["hr", "check"])
    assert clean.exit_code == 0, clean.output
    # A record written before the check existed (or straight into the database).
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(
            update(Person)
            .where(Person.id == uuid.UUID(bad["id"]))
            .values(national_id="999085123456")
        )
    out = runner.invoke(main, ["hr", "check", "--json"])
    assert out.exit_code == 1, out.output
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["person_id"] for r in records] == [bad["id"]]
    codes = {p["code"] for p in records[0]["problems"]}
    assert codes == {"unknown_province", "birth_year_mismatch"}
    assert good["id"] not in out.stdout
