"""People and assignments get time-ordered ids (UUID v7): rows made later sort later, so
their indexes grow at one end (issue 16, flat cost)."""

from __future__ import annotations

import time
import uuid

from idhub.models import time_ordered_uuid
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit


def test_a_time_ordered_uuid_is_a_version_7_uuid_that_sorts_by_time() -> None:
    first = time_ordered_uuid()
    time.sleep(0.002)
    later = [time_ordered_uuid() for _ in range(100)]
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert all(first < other and str(first) < str(other) for other in later)
    assert len(set(later)) == len(later)
    millis = first.int >> 80
    assert abs(millis - time.time() * 1000) < 60_000


def test_people_and_assignments_from_both_paths_get_time_ordered_ids(api) -> None:
    unit, position = make_unit(api), make_position(api)
    one = make_person(api)
    post = make_assignment(api, one, unit, position)
    time.sleep(0.002)
    response = api.post(
        "/api/v1/batches",
        {
            "items": [
                {
                    "op": "create_person",
                    "ref": "b",
                    "data": {
                        "national_id": "031099000001",
                        "family_name": "Lò",
                        "middle_name": "Văn",
                        "given_name": "Bình",
                    },
                },
                {
                    "op": "create_assignment",
                    "data": {
                        "person_id": "ref:b",
                        "unit_id": unit["id"],
                        "position_id": position["id"],
                        "kind": "primary",
                        "start_date": "2025-07-01",
                    },
                },
            ]
        },
    )
    assert response.status_code == 200, response.json
    batch_person, batch_post = (uuid.UUID(i["id"]) for i in response.json["items"])
    single_person, single_post = uuid.UUID(one["id"]), uuid.UUID(post["id"])
    assert {u.version for u in (batch_person, batch_post, single_person, single_post)} == {7}
    assert single_person < batch_person and single_post < batch_post
