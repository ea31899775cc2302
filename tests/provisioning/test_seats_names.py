"""A seat's uid and a person's username share one name space (Dovecot looks both up by uid)."""

from __future__ import annotations

import uuid

from idhub.models import Seat
from tests.fixtures.factories import make_person, make_unit


def test_a_person_never_gets_the_uid_of_a_seat(app, api):
    unit = make_unit(api)
    with app.extensions["idhub"].db.transaction() as session:
        session.add(
            Seat(
                id=uuid.uuid4(),
                unit_id=uuid.UUID(unit["id"]),
                position_code="CT_UBND_XA",
                uid="annv",
                holders=[],
            )
        )
    person = make_person(api, family_name="Nguyễn", middle_name="Văn", given_name="An")
    assert api.get(f"/api/v1/people/{person['id']}").json["username"] == "annv2"
