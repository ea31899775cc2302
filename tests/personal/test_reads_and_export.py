"""Reads of personal data are recorded (who, whose, which fields, which door, when) and
shown to the person on their account page; the person downloads their own data as a JWS
that verifies against the hub's published keys with an independent library (jwcrypto)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from jwcrypto import jwk, jws
from jwcrypto.common import JWException
from sqlalchemy import select

from idhub.models import PersonalRead
from tests.account.helpers import events, post_form
from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import make_person


def reads(app, person_id: str) -> list[tuple[str, str | None, str, str]]:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return [
            (r.actor_type, r.actor_id, r.door, r.fields)
            for r in session.scalars(
                select(PersonalRead)
                .where(PersonalRead.person_id == uuid.UUID(person_id))
                .order_by(PersonalRead.id)
            )
        ]


def test_an_officers_reads_are_recorded_once_per_person_and_shown_to_them(
    app, api, hub, person, browser
) -> None:
    others = [make_person(api) for _ in range(3)]
    assert api.get(f"/api/v1/people/{person['id']}").status_code == 200
    listed = api.get("/api/v1/people?page_size=50")
    assert listed.status_code == 200 and len(listed.json) == 4
    mine = reads(app, person["id"])
    assert [(t, door) for t, _, door, _ in mine] == [("client", "api"), ("client", "api")]
    assert mine[0][2:] == ("api", "national_id")  # the only personal field it holds
    for other in others:  # the list: one row per person listed, not one per field
        assert len(reads(app, other["id"])) == 1

    page = browser.get(hub + "/account/personal-data", headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    assert page.text.count('data-door="api"') == 2
    assert "Giao diện lập trình (API)" in page.text and "HR writer" in page.text
    assert "Số CCCD" in page.text
    english = browser.get(hub + "/account/personal-data", headers={"Accept-Language": "en"})
    assert "Who saw my personal data" in english.text

    # The person reading their own record (a token issued to them) is not recorded.
    before = len(reads(app, person["id"]))
    browser.get(hub + "/account")
    assert len(reads(app, person["id"])) == before


def test_the_reads_page_asks_for_sign_in(hub) -> None:
    anonymous = requests.get(hub + "/account/personal-data", allow_redirects=False)
    assert anonymous.status_code == 303 and "/sso/login" in anonymous.headers["Location"]


def _verified(token: str, published: dict) -> dict:
    keyset = jwk.JWKSet.from_json(json.dumps(published))
    signed = jws.JWS()
    signed.deserialize(token)
    signed.verify(keyset.get_key(signed.jose_header["kid"]), alg="RS256")
    assert signed.jose_header["typ"] == "idhub-personal-data+jwt"
    return json.loads(signed.payload)


def test_download_my_data_verifies_against_the_published_keys(app, api, hub, person, browser):
    assert api.get(f"/api/v1/people/{person['id']}").status_code == 200
    other = make_person(api)
    # A form naming someone else changes nothing: only the signed-in person's data.
    got = post_form(
        browser,
        hub,
        "/account/personal-data",
        "/account/personal-data/export",
        person_id=other["id"],
        sub=other["id"],
    )
    assert got.status_code == 200, got.text
    assert got.headers["Content-Type"] == "application/jose"
    assert "attachment" in got.headers["Content-Disposition"]
    published = requests.get(hub + "/oauth/jwks").json()
    payload = _verified(got.text, published)
    assert payload["sub"] == person["id"] != other["id"]
    assert payload["hr_record"]["national_id"] == person["national_id"]
    assert payload["hr_record"]["family_name"] == "Đặng"
    assert other["national_id"] not in got.text
    assert [r["door"] for r in payload["personal_reads"]] == ["api"]
    assert payload["sessions"] and "accounts" in payload and "posts" in payload
    assert len(events(app, "person.data_export", person["id"])) == 1

    # Changed by a byte, it no longer verifies.
    head, body, signature = got.text.split(".")
    forged = json.loads(jws.base64url_decode(body))
    forged["sub"] = other["id"]
    tampered = ".".join((head, jws.base64url_encode(json.dumps(forged)), signature))
    with pytest.raises(JWException):
        _verified(tampered, published)


def test_download_needs_the_form_and_a_signed_in_person(hub, person, browser) -> None:
    anonymous = requests.post(hub + "/account/personal-data/export", allow_redirects=False)
    assert anonymous.status_code == 303 and "/sso/login" in anonymous.headers["Location"]
    no_csrf = browser.post(hub + "/account/personal-data/export", allow_redirects=False)
    assert no_csrf.status_code == 400
    assert no_csrf.headers["Content-Type"].startswith("text/html")


def test_a_national_export_is_recorded_for_everyone_in_it(app, client, api) -> None:
    people = [make_person(api) for _ in range(2)]
    exchange = Api(client, token_for(client, register_client(app, ["national:exchange"])))
    made = exchange.post("/api/v1/national/exports", {})
    assert made.status_code == 201, made.json
    for person in people:
        assert [(door, fields) for _, _, door, fields in reads(app, person["id"])] == [
            ("national_export", "national_id,date_of_birth")
        ]
