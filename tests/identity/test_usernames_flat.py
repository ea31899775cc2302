"""Usernames in a batch: the Python work per joiner does not grow with the namesakes
(issue 16, flat cost), and names issued out of order are still never reissued."""

from __future__ import annotations

import uuid

import pytest

import idhub.identity.usernames as usernames
import provisioning.naming as naming
from idhub.models import Person, ReservedIdentifier
from tests.fixtures.factories import make_unit


def _person_item(national_id: str, given: str = "An", family: str = "Nguyễn") -> dict:
    return {
        "op": "create_person",
        "data": {
            "national_id": national_id,
            "family_name": family,
            "middle_name": "Văn",
            "given_name": given,
        },
    }


def _batch(api, items: list[dict]) -> list[str]:
    response = api.post("/api/v1/batches", {"items": items})
    assert response.status_code == 200, response.json
    return [api.get(f"/api/v1/people/{i['id']}").json["username"] for i in response.json["items"]]


def _reserve_by_hand(app, identifier: str) -> None:
    """A name issued outside the numbering (an admin's choice, an imported account)."""
    with app.extensions["idhub"].db.transaction() as session:
        owner = session.query(Person).first()
        session.add(ReservedIdentifier(identifier=identifier, person_id=owner.id))


def test_the_161st_namesake_builds_as_few_candidates_as_a_first_name(app, api, monkeypatch):
    if not app.extensions["idhub"].db.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL looks candidates up in windows")
    assert _batch(api, [_person_item(f"03100{n:07d}") for n in range(160)])[-1] == "annv160"
    built: list[str] = []
    original = naming.numbered_identifier

    def counting(base: str, n: int, *args):  # type: ignore[no-untyped-def]
        built.append(base)
        return original(base, n, *args)

    monkeypatch.setattr(naming, "numbered_identifier", counting)
    monkeypatch.setattr(usernames, "numbered_identifier", counting)
    assert _batch(api, [_person_item("031010000001")]) == ["annv161"]
    crowded, built[:] = len(built), []
    assert _batch(api, [_person_item("031010000002", "Mai", "Lê")]) == ["mailv"]
    assert crowded == len(built), (crowded, len(built))


def test_names_issued_out_of_order_are_skipped_not_reissued(app, api):
    assert _batch(api, [_person_item(f"03102{n:07d}") for n in range(3)]) == [
        "annv",
        "annv2",
        "annv3",
    ]
    for name in ("annv5", "annv10", "annv1", "annv07", "annv4x"):
        _reserve_by_hand(app, name)
    names = _batch(api, [_person_item(f"03103{n:07d}") for n in range(8)])
    assert names == ["annv4", "annv6", "annv7", "annv8", "annv9", "annv11", "annv12", "annv13"]


def test_a_taken_base_with_numbers_above_it_counts_them_all(app, api):
    """annv2 … annv12 issued while annv itself is free: the first free name is annv."""
    first = _batch(api, [_person_item("031040000001", "Bình")])  # an owner for the names
    assert first == ["binhnv"]
    for n in range(2, 13):
        _reserve_by_hand(app, f"annv{n}")
    assert _batch(api, [_person_item(f"03105{n:07d}") for n in range(3)]) == [
        "annv",
        "annv13",
        "annv14",
    ]


def test_a_seat_uid_among_the_numbers_is_skipped(app, api):
    from idhub.models import Seat

    unit = make_unit(api)
    assert _batch(api, [_person_item(f"03106{n:07d}") for n in range(2)]) == ["annv", "annv2"]
    with app.extensions["idhub"].db.transaction() as session:
        session.add(
            Seat(id=uuid.uuid4(), unit_id=uuid.UUID(unit["id"]), position_code="VP", uid="annv3")
        )
    assert _batch(api, [_person_item("031070000001")]) == ["annv4"]
