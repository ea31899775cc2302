"""Signed batches from registered partners: accepted when signed by the registered key and
fresh; unsigned, altered, wrong key, replayed or stale → refused, nothing stored."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from jwcrypto import jwk, jws

from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import make_person


@pytest.fixture
def exchange(app, client) -> Api:
    registered = register_client(app, ["national:exchange"], name="Cổng dữ liệu tỉnh")
    return Api(client, token_for(client, registered))


def _sign(key: jwk.JWK, payload: dict, alg: str = "ES256") -> str:
    signed = jws.JWS(json.dumps(payload, ensure_ascii=False).encode())
    signed.add_signature(key, alg=alg, protected={"alg": alg, "kid": key.thumbprint()})
    return signed.serialize(compact=True)


def _batch(iss: str, kind: str, records: list, **over) -> dict:
    return {
        "iss": iss,
        "jti": str(uuid.uuid4()),
        "iat": int(time.time()),
        "kind": kind,
        "records": records,
        **over,
    }


def _send(exchange: Api, token: str):
    return exchange.client.post(
        "/api/v1/national/imports",
        data=token,
        headers={"Authorization": f"Bearer {exchange.token}", "Content-Type": "application/jose"},
    )


def _stored(app) -> tuple[int, int]:
    """Batches kept and audit events: both unchanged by a refusal."""
    from sqlalchemy import func, select

    from idhub.models import AuditEvent, NationalImport

    with app.extensions["idhub"].db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(NationalImport)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
        )


@pytest.fixture
def partners(admin):
    national_key = jwk.JWK.generate(kty="EC", crv="P-256")
    hr_key = jwk.JWK.generate(kty="RSA", size=2048)
    for name, kind, key, alg in (
        ("CSDL quốc gia", "national", national_key, "ES256"),
        ("HRM tỉnh", "hr", hr_key, "RS256"),
    ):
        public = {**json.loads(key.export_public()), "alg": alg}
        made = admin.post(
            "/api/v1/national/partners", {"name": name, "kind": kind, "public_jwk": public}
        )
        assert made.status_code == 201, made.json
    return national_key, hr_key


def test_signed_batches_from_registered_partners_are_applied(app, api, exchange, partners):
    national_key, hr_key = partners
    person = make_person(api, family_name="Nguyễn", middle_name="Thị", given_name="Hoa")
    confirmed = _batch(
        "CSDL quốc gia",
        "national_records",
        [{"national_id": person["national_id"], "civil_servant_code": "01.003.000123"}],
    )
    taken = _send(exchange, _sign(national_key, confirmed))
    assert taken.status_code == 201, taken.json
    assert taken.json["batch_id"] == confirmed["jti"] and taken.json["records"] == 1
    changes = _batch(
        "HRM tỉnh",
        "hr_changes",
        [{"national_id": person["national_id"], "personal_phone": "0987654321"}],
    )
    assert _send(exchange, _sign(hr_key, changes, "RS256")).status_code == 201
    now = api.get(f"/api/v1/people/{person['id']}").json
    assert now["civil_servant_code"] == "01.003.000123"
    assert now["personal_phone"] == "0987654321"
    events = api.get(f"/api/v1/audit?object_id={person['id']}&action=person.update").json
    assert len(events) == 2


def _refused(app, exchange, token: str, status: int, code: str) -> None:
    before = _stored(app)
    response = _send(exchange, token)
    assert response.status_code == status, response.json
    assert response.json["code"] == code, response.json
    assert _stored(app) == before


def test_unsigned_altered_wrong_key_replayed_and_stale_are_refused(app, api, exchange, partners):
    national_key, _ = partners
    person = make_person(api, family_name="Trần", middle_name="Văn", given_name="Nam")
    record = [{"national_id": person["national_id"], "civil_servant_code": "01.003.000999"}]
    batch = _batch("CSDL quốc gia", "national_records", record)

    # Unsigned: a JWS with alg none and no signature, a bare JSON body.
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    _refused(app, exchange, f"{b64({'alg': 'none'})}.{b64(batch)}.", 422, "national_unsigned")
    _refused(app, exchange, json.dumps(batch), 422, "national_unsigned")

    # Altered: one byte of the payload changed after signing.
    token = _sign(national_key, batch)
    head, body, sig = token.split(".")
    altered = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    altered["records"][0]["civil_servant_code"] = "01.003.000998"
    _refused(app, exchange, f"{head}.{b64(altered)}.{sig}", 422, "national_bad_signature")

    # Signed by another key, claiming to be the national side.
    stranger = jwk.JWK.generate(kty="EC", crv="P-256")
    _refused(app, exchange, _sign(stranger, batch), 422, "national_bad_signature")

    # Stale: issued outside the window.
    old = {**batch, "jti": str(uuid.uuid4()), "iat": int(time.time()) - 3600}
    _refused(app, exchange, _sign(national_key, old), 422, "national_stale")

    # An unknown partner, and a partner sending the other kind of batch.
    _refused(
        app,
        exchange,
        _sign(national_key, {**batch, "iss": "somebody"}),
        422,
        "national_unknown_partner",
    )

    # The genuine batch is taken once; sent again, it is a replay.
    assert _send(exchange, token).status_code == 201
    _refused(app, exchange, token, 409, "national_replayed")
    assert api.get(f"/api/v1/people/{person['id']}").json["civil_servant_code"] == "01.003.000999"


def test_a_partner_may_set_only_its_fields_and_a_bad_record_stores_nothing(
    app, api, exchange, partners
):
    national_key, _ = partners
    first = make_person(api, family_name="Lê", middle_name="Thị", given_name="Mai")
    second = make_person(api, family_name="Phạm", middle_name="Văn", given_name="Đức")
    batch = _batch(
        "CSDL quốc gia",
        "national_records",
        [
            {"national_id": first["national_id"], "civil_servant_code": "01.003.000555"},
            {"national_id": second["national_id"], "personal_phone": "0900000000"},
        ],
    )
    _refused(app, exchange, _sign(national_key, batch), 422, "national_field_refused")
    assert api.get(f"/api/v1/people/{first['id']}").json["civil_servant_code"] is None


def test_only_the_exchange_scope_sends_and_only_admin_registers(api, reader, partners):
    national_key, _ = partners
    token = _sign(national_key, _batch("CSDL quốc gia", "national_records", []))
    assert _send(api, token).status_code == 403
    assert (
        api.post(
            "/api/v1/national/partners",
            {"name": "x", "kind": "hr", "public_jwk": json.loads(national_key.export_public())},
        ).status_code
        == 403
    )
