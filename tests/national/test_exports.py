"""Signed exports: verified by an independent JOSE library (jwcrypto) against the
published keys, XAdES verified by the hub, incremental, audited, and only for the
national-exchange scope."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from jwcrypto import jwk, jws

from tests.conftest import Api, register_client, token_for
from tests.reorg.test_reorg import _reform, _tree, cli_env  # noqa: F401 - a fixture


@pytest.fixture
def exchange(app, client) -> Api:
    registered = register_client(app, ["national:exchange"], name="Cổng dữ liệu tỉnh")
    return Api(client, token_for(client, registered))


def _verified_by_jwcrypto(token: str, jwks_json: dict) -> dict:
    keyset = jwk.JWKSet.from_json(json.dumps(jwks_json))
    signed = jws.JWS()
    signed.deserialize(token)
    kid = signed.jose_header["kid"]
    signed.verify(keyset.get_key(kid), alg="RS256")
    return json.loads(signed.payload)


def test_a_full_export_verifies_with_another_library_and_holds_the_history(
    app, api, client, exchange
):
    province, district, communes, people, head = _tree(api)
    cs = api.post("/api/v1/changesets", _reform(province, district, communes)).json
    assert api.post(f"/api/v1/changesets/{cs['id']}/apply").status_code == 200
    api.patch_fresh(f"/api/v1/people/{people[1]['id']}", {"civil_servant_code": "CC-0001"})

    made = exchange.post("/api/v1/national/exports", {})
    assert made.status_code == 201, made.json
    assert made.json["format"] == "jws" and made.json["records"] == 4
    fetched = exchange.get(f"/api/v1/national/exports/{made.json['id']}")
    assert fetched.status_code == 200 and fetched.mimetype == "application/jose"
    published = client.get("/national/jwks.json")  # public: no token
    assert published.status_code == 200
    payload = _verified_by_jwcrypto(fetched.get_data(as_text=True), published.json)

    assert payload["jti"] == made.json["id"] and payload["since"] is None
    record = next(p for p in payload["people"] if p["person_id"] == people[1]["id"])
    person = api.get(f"/api/v1/people/{people[1]['id']}").json
    assert record["national_id"] == person["national_id"]
    assert record["civil_servant_code"] == "CC-0001"
    assert record["full_name"] == "Lò Văn Bình"
    old, new = record["posts"]
    assert (old["unit_code"], old["end_date"]) == ("3461", "2025-06-30")
    assert old["ended_by"]["decision_ref"] == "1670/NQ-UBTVQH15"
    assert (new["unit_code"], new["start_date"]) == ("3470", "2025-07-01")
    assert record["reorganisations"][0]["decision_date"] == "2025-06-16"
    units = {u["code"]: u for u in payload["units"]}
    assert units["3461"]["status"] == "merged" and units["3470"]["parent_code"] == "12"
    (reform,) = payload["reorganisations"]
    assert reform["decision_number"] == "1670/NQ-UBTVQH15"
    assert {"unit_code": "3461", "kind": "merged_into", "to": "3470"} in reform["units"]

    # An altered byte does not verify.
    token = fetched.get_data(as_text=True)
    head_, body, sig = token.split(".")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    with pytest.raises(Exception):  # noqa: B017 - jwcrypto raises its own InvalidJWSSignature
        _verified_by_jwcrypto(f"{head_}.{flipped}.{sig}", published.json)

    # Made and fetched: both in the audit trail.
    events = api.get("/api/v1/audit?object_id=" + made.json["id"]).json
    assert {e["action"] for e in events} == {"national.export", "national.export.fetch"}


def test_only_the_exchange_scope_lists_and_fetches(api, admin, reader, exchange):
    made = exchange.post("/api/v1/national/exports", {}).json
    for other in (api, admin, reader):
        assert other.get("/api/v1/national/exports").status_code == 403
        assert other.get(f"/api/v1/national/exports/{made['id']}").status_code == 403
        assert other.post("/api/v1/national/exports", {}).status_code == 403
    listed = exchange.get("/api/v1/national/exports")
    assert listed.status_code == 200 and [e["id"] for e in listed.json] == [made["id"]]


def test_an_incremental_export_holds_only_who_changed(app, api, exchange):
    province, district, communes, people, head = _tree(api)
    mark = dt.datetime.now(dt.UTC)
    api.patch_fresh(f"/api/v1/people/{people[0]['id']}", {"personal_phone": "0912345678"})
    made = exchange.post("/api/v1/national/exports", {"since": mark.isoformat()})
    assert made.status_code == 201, made.json
    assert made.json["records"] == 1
    token = exchange.get(f"/api/v1/national/exports/{made.json['id']}").get_data(as_text=True)
    payload = _verified_by_jwcrypto(token, exchange.get("/national/jwks.json").json)
    assert [p["person_id"] for p in payload["people"]] == [people[0]["id"]]
    assert payload["since"] is not None

    # A unit renamed outside a change set: its people's records are in the next one.
    mark = dt.datetime.now(dt.UTC)
    api.patch_fresh(f"/api/v1/org-units/{communes[2]['id']}", {"short_name": "Bản Bo"})
    again = exchange.post("/api/v1/national/exports", {"since": mark.isoformat()}).json
    token = exchange.get(f"/api/v1/national/exports/{again['id']}").get_data(as_text=True)
    payload = _verified_by_jwcrypto(token, exchange.get("/national/jwks.json").json)
    assert [p["person_id"] for p in payload["people"]] == [people[2]["id"]]


def test_an_xml_export_is_xades_signed_and_an_altered_one_refused(app, api, exchange):
    from idhub.errors import Invalid
    from idhub.national.exports import verify_document

    _tree(api)
    made = exchange.post("/api/v1/national/exports", {"format": "xml"})
    assert made.status_code == 201, made.json
    fetched = exchange.get(f"/api/v1/national/exports/{made.json['id']}")
    assert fetched.mimetype == "application/xml"
    document = fetched.get_data(as_text=True)
    assert "SignedProperties" in document and "X509Certificate" in document
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        payload = verify_document(session, document)
        assert payload["jti"] == made.json["id"]
        assert len(payload["people"]) == 4
        assert {p["full_name"] for p in payload["people"]} >= {"Lò Văn An", "Đặng Thị Dung"}
        with pytest.raises(Invalid) as refused:
            verify_document(session, document.replace("Lò Văn An", "Lò Văn Ân"))
        assert refused.value.code == "national_bad_signature"


@pytest.mark.usefixtures("cli_env")
def test_the_cli_exports_and_verifies(app, api, tmp_path):
    from click.testing import CliRunner

    from idhub.cli import main

    _tree(api)
    runner = CliRunner()
    out = tmp_path / "full.jws"
    result = runner.invoke(main, ["national", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["national", "verify", str(out)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "4 person record(s)" in result.output
    xml = tmp_path / "full.xml"
    assert (
        runner.invoke(main, ["national", "export", "--format", "xml", "-o", str(xml)]).exit_code
        == 0
    )
    assert runner.invoke(main, ["national", "verify", str(xml)]).exit_code == 0
    tampered = tmp_path / "tampered.jws"
    text = out.read_text()
    tampered.write_text(text[:-5] + ("A" if text[-5] != "A" else "B") + text[-4:])
    result = runner.invoke(main, ["national", "verify", str(tampered)])
    assert result.exit_code != 0 and "national_bad_signature" in result.output


@pytest.mark.usefixtures("cli_env")
def test_after_a_key_rotation_old_and_new_exports_both_verify(app, api, client, exchange):
    from click.testing import CliRunner

    from idhub.cli import main

    _tree(api)
    first = exchange.post("/api/v1/national/exports", {}).json
    rotated = CliRunner().invoke(main, ["national", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    second = exchange.post("/api/v1/national/exports", {}).json
    assert rotated.output.strip() == second["kid"] != first["kid"]
    published = client.get("/national/jwks.json").json
    assert {k["kid"] for k in published["keys"]} == {first["kid"], second["kid"]}
    for made in (first, second):
        token = exchange.get(f"/api/v1/national/exports/{made['id']}").get_data(as_text=True)
        assert _verified_by_jwcrypto(token, published)["jti"] == made["id"]
