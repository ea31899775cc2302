"""What is sealed at rest is sealed everywhere: after a person's life through the real API
(joiner with an Idempotency-Key, a correction of CCCD and date of birth, a post, signed
national exports, a leaver), no table of the database holds the CCCD or the ISO date of
birth in clear — not the audit trail, not replayable responses, not exports — nor
base64-encoded (a JWS payload is only encoded). Sealed columns hold ciphertext."""

from __future__ import annotations

import base64
import re

from sqlalchemy import MetaData, select, text

from idhub.ops.migrate import downgrade, upgrade
from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import lai_chau, make_assignment, national_id
from tests.scim.conftest import HUB, Raw, joiner, scim_token

BORN, CORRECTED, SCIM_BORN = "1990-05-01", "1991-08-17", "1985-03-09"
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def _everything(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(table, text) for every row of every table, as stored (reflected: no sealing type
    opens anything), and again for what is only encoded (every base64 / base64url run)."""
    engine = app.extensions["idhub"].db.engine
    meta = MetaData()
    meta.reflect(engine)
    assert "audit_event" in meta.tables and "idempotency_record" in meta.tables
    with engine.connect() as conn:
        # Each value whole (a Row's own repr shortens long text).
        rows = [
            (name, " | ".join(str(value) for value in row))
            for name, table in sorted(meta.tables.items())
            for row in conn.execute(select(table))
        ]
    decoded = []
    for name, shown in rows:
        for run in _BASE64.findall(shown):
            try:
                raw = base64.urlsafe_b64decode(run.replace("+", "-").replace("/", "_") + "==")
            except ValueError:
                continue
            decoded.append((f"{name} (base64)", raw.decode("utf-8", "replace")))
    return rows + decoded


def test_no_table_holds_a_sealed_value_in_clear(app, api, client) -> None:
    first, second = national_id(BORN), national_id(CORRECTED)
    tree = lai_chau(api)
    joiner_body = {
        "national_id": first,
        "date_of_birth": BORN,
        "family_name": "Nguyễn",
        "given_name": "An",
    }
    made = api.post("/api/v1/people", joiner_body, headers={"Idempotency-Key": "joiner-1"})
    assert made.status_code == 201, made.json
    person = made.json
    make_assignment(api, person, tree["dept"], tree["specialist"])
    corrected = api.patch_fresh(
        f"/api/v1/people/{person['id']}",
        {"national_id": second, "date_of_birth": CORRECTED},
    )
    assert corrected.status_code == 200, corrected.json
    exchange = Api(client, token_for(client, register_client(app, ["national:exchange"])))
    for fmt in ("jws", "xml"):
        export = exchange.post("/api/v1/national/exports", {"format": fmt})
        assert export.status_code == 201, export.json
        # The export is still served whole to the exchange.
        fetched = exchange.get(f"/api/v1/national/exports/{export.json['id']}")
        assert fetched.status_code == 200
        if fmt == "xml":
            assert second in fetched.get_data(as_text=True)
    left = api.patch_fresh(f"/api/v1/people/{person['id']}", {"status": "left"})
    assert left.status_code == 200, left.json
    # The replay of the idempotent POST still answers with the person as first made.
    again = api.post("/api/v1/people", joiner_body, headers={"Idempotency-Key": "joiner-1"})
    assert again.status_code == 201 and again.json["national_id"] == first
    # A joiner and a leaver through SCIM, as an HR system sends them.
    scim = Raw(client, scim_token(app, client, ["scim:read", "scim:write"]))
    by_scim = national_id(SCIM_BORN)
    body = joiner(cccd=by_scim)
    body[HUB]["birthDate"] = SCIM_BORN
    user = scim("POST", "/Users", body)
    assert user.status_code == 201, user.json
    assert scim("DELETE", f"/Users/{user.json['id']}").status_code == 204

    stored = _everything(app)
    found = {
        plain: sorted({name for name, shown in stored if plain in shown})
        for plain in (first, second, by_scim, BORN, CORRECTED, SCIM_BORN)
    }
    assert found == {plain: [] for plain in found}


def test_the_migration_seals_responses_and_exports_already_there(app, api, client) -> None:
    engine = app.extensions["idhub"].db.engine  # carries the hub's keys
    cccd = national_id(BORN)
    made = api.post(
        "/api/v1/people",
        {"national_id": cccd, "date_of_birth": BORN, "family_name": "Lò", "given_name": "Cúc"},
        headers={"Idempotency-Key": "joiner-2"},
    )
    assert made.status_code == 201, made.json
    exchange = Api(client, token_for(client, register_client(app, ["national:exchange"])))
    export = exchange.post("/api/v1/national/exports", {"format": "xml"}).json
    downgrade(engine, "0025_scim_push")
    with engine.connect() as conn:
        body = conn.execute(text("SELECT response_body FROM idempotency_record")).scalar_one()
        document = conn.execute(text("SELECT document FROM national_export")).scalar_one()
    assert cccd in body and cccd in document  # opened: as they were before 0026
    upgrade(engine)
    with engine.connect() as conn:
        body = conn.execute(text("SELECT response_body FROM idempotency_record")).scalar_one()
        document = conn.execute(text("SELECT document FROM national_export")).scalar_one()
    assert body.startswith("v1.") and document.startswith("v1.")
    assert cccd not in body + document
    fetched = exchange.get(f"/api/v1/national/exports/{export['id']}")
    assert cccd in fetched.get_data(as_text=True)
    again = api.post(
        "/api/v1/people",
        {"national_id": cccd, "date_of_birth": BORN, "family_name": "Lò", "given_name": "Cúc"},
        headers={"Idempotency-Key": "joiner-2"},
    )
    assert again.status_code == 201 and again.json["id"] == made.json["id"]
