"""Personal data sealed at rest: the database holds no plain CCCD, date of birth or
personal contact; lookups and uniqueness by CCCD go through the keyed blind index; a
node with another key refuses to start; the migration seals rows already there."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from idhub.app import create_app
from idhub.changes.chain import Actor
from idhub.identity.personal import cccd_clause, note_personal_read
from idhub.keyring import KeyMismatchError
from idhub.models import Person, PersonalRead
from idhub.models.sealed import PersonalKeys, SealError, new_data_key, new_index_key
from idhub.ops.migrate import downgrade, upgrade
from tests.fixtures.factories import make_person

CCCD = "001090012345"


def raw_people(app) -> list:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT national_id, national_id_index, date_of_birth, personal_email, "
                    "personal_phone FROM person"
                )
            )
        )


def test_the_database_holds_no_plain_personal_data(app, api) -> None:
    made = make_person(
        api,
        national_id=CCCD,
        date_of_birth="1990-05-01",
        personal_email="an.nguyen@example.vn",
        personal_phone="0912345678",
    )
    (row,) = raw_people(app)
    national_id, index, born, email, phone = row
    for stored, plain in (
        (national_id, CCCD),
        (born, "1990-05-01"),
        (email, "an.nguyen@example.vn"),
        (phone, "0912345678"),
    ):
        assert plain not in str(stored) and str(stored).startswith("v1.")
    assert len(index) == 64 and CCCD not in index
    # The rest of the code sees plain values.
    got = api.get(f"/api/v1/people/{made['id']}").json
    assert (got["national_id"], got["date_of_birth"]) == (CCCD, "1990-05-01")
    assert got["personal_email"] == "an.nguyen@example.vn"


def test_lookup_and_uniqueness_by_cccd(app, api) -> None:
    made = make_person(api, national_id=CCCD, date_of_birth="1990-05-01")
    make_person(api, date_of_birth="1991-05-01")
    found = api.get("/api/v1/people", query_string={"national_id": CCCD}).json
    assert [p["id"] for p in found] == [made["id"]]
    again = api.post(
        "/api/v1/people",
        {"national_id": CCCD, "family_name": "Trần", "given_name": "Bình"},
    )
    assert again.status_code == 409 and again.json["code"] == "duplicate_national_id"
    batch = api.post(
        "/api/v1/batches",
        {
            "items": [
                {
                    "op": "create_person",
                    "data": {"national_id": CCCD, "family_name": "Lê", "given_name": "Cúc"},
                }
            ]
        },
    )
    assert batch.status_code == 409 and batch.json["code"] == "duplicate_national_id"
    hub = app.extensions["idhub"]
    with hub.db.reading() as session:
        assert session.scalar(select(Person.id).where(cccd_clause(CCCD))) == uuid.UUID(made["id"])
    # The database itself refuses a second row with the same CCCD (the unique index).
    with pytest.raises(IntegrityError), hub.db.transaction() as session:
        session.add(Person(national_id=CCCD, family_name="X", given_name="Y", search_name="x y"))


def test_a_changed_cccd_is_found_by_its_new_value(app, api) -> None:
    made = make_person(api, national_id=CCCD, date_of_birth="1990-05-01")
    new = "001090054321"
    changed = api.patch_fresh(f"/api/v1/people/{made['id']}", {"national_id": new})
    assert changed.status_code == 200, changed.json
    assert [p["id"] for p in api.get(f"/api/v1/people?national_id={new}").json] == [made["id"]]
    assert api.get(f"/api/v1/people?national_id={CCCD}").json == []


def test_a_sealed_value_does_not_open_elsewhere_or_with_another_key() -> None:
    keys = PersonalKeys(new_data_key(), new_index_key())
    sealed = keys.seal(CCCD, "person.national_id")
    assert keys.open(sealed, "person.national_id") == CCCD
    assert sealed != keys.seal(CCCD, "person.national_id")  # a fresh nonce each time
    with pytest.raises(SealError):
        keys.open(sealed, "person.personal_phone")  # moved to another column
    with pytest.raises(SealError):
        PersonalKeys(new_data_key(), new_index_key()).open(sealed, "person.national_id")
    # Rotation: a new first line seals, the old one still opens.
    old_line = new_data_key()
    old = PersonalKeys(old_line, new_index_key())
    before = old.seal(CCCD, "person.national_id")
    rotated = PersonalKeys("2:" + new_data_key()[2:] + "\n" + old_line, new_index_key())
    assert rotated.open(before, "person.national_id") == CCCD
    assert rotated.seal(CCCD, "person.national_id").startswith("v2.")


def test_a_node_with_another_personal_key_refuses_to_start(settings, app, api, monkeypatch):
    make_person(api, national_id=CCCD, date_of_birth="1990-05-01")
    monkeypatch.setenv("IDHUB_KEY_PERSONAL_DATA_KEY", new_data_key())
    with pytest.raises(KeyMismatchError, match="personal_data_key"):
        create_app(settings)
    monkeypatch.delenv("IDHUB_KEY_PERSONAL_DATA_KEY")
    monkeypatch.setenv("IDHUB_KEY_PERSONAL_INDEX_KEY", new_index_key())
    with pytest.raises(KeyMismatchError, match="personal_index_key"):
        create_app(settings)


def test_the_migration_seals_people_already_there_and_downgrade_opens_them(app, api) -> None:
    made = make_person(api, national_id=CCCD, date_of_birth="1990-05-01")
    engine = app.extensions["idhub"].db.engine  # carries the hub's keys
    downgrade(engine, "0019_delegated_admin")
    with engine.connect() as conn:
        plain = conn.execute(text("SELECT national_id, date_of_birth FROM person")).one()
    assert plain[0] == CCCD and str(plain[1]) == "1990-05-01"
    upgrade(engine)
    (row,) = raw_people(app)
    assert CCCD not in row[0] and row[0].startswith("v1.")
    found = api.get("/api/v1/people", query_string={"national_id": CCCD}).json
    assert [p["id"] for p in found] == [made["id"]]
    assert found[0]["date_of_birth"] == "1990-05-01"


def test_a_person_reading_their_own_data_is_not_recorded(app, api) -> None:
    made = make_person(api, national_id=CCCD, date_of_birth="1990-05-01")
    other = make_person(api, date_of_birth="1991-05-01")
    hub = app.extensions["idhub"]
    with app.test_request_context("/", method="GET"):
        note_personal_read(
            Actor("person", made["id"]),
            [uuid.UUID(made["id"]), uuid.UUID(other["id"])],
            ("national_id", "date_of_birth", "not_personal"),
            "console",
        )
    with hub.db.reading() as session:
        rows = [
            (str(r.person_id), r.fields, r.door, r.at)
            for r in session.scalars(select(PersonalRead))
        ]
    assert [r[:3] for r in rows] == [(other["id"], "national_id,date_of_birth", "console")]
    assert rows[0][3] <= dt.datetime.now(dt.UTC)


def test_secrets_folder_holds_the_personal_keys(settings, app) -> None:
    folder = Path(settings["var_dir"]) / "secrets"
    assert (folder / "personal_data_key").read_text().startswith("1:")
    assert (folder / "personal_index_key").exists()


def test_people_made_by_the_batch_api_are_found_by_cccd(app, api) -> None:
    cccds = ["001090011111", "001091022222"]
    made = api.post(
        "/api/v1/batches",
        {
            "items": [
                {
                    "op": "create_person",
                    "data": {"national_id": c, "family_name": "Hà", "given_name": f"Lan{n}"},
                }
                for n, c in enumerate(cccds)
            ]
        },
    )
    assert made.status_code == 200, made.json
    for item, cccd in zip(made.json["items"], cccds, strict=True):
        found = api.get("/api/v1/people", query_string={"national_id": cccd}).json
        assert [p["id"] for p in found] == [item["id"]]
    assert all(row[0].startswith("v1.") for row in raw_people(app))
