"""/api/v1/app-delegations: HR creates, lists and revokes delegations of app rights for a
person in their scope; mistakes are listed with their field."""

from __future__ import annotations

import datetime as dt

from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit

TODAY = dt.date.today().isoformat()


def test_hr_creates_lists_and_revokes(api) -> None:
    commune = make_unit(api, code="XA.TAMDUONG", name="Ủy ban nhân dân xã Tam Đường")
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    chair = make_person(api, family_name="Lò", middle_name="Văn", given_name="Chính")
    deputy = make_person(api, family_name="Tòng", middle_name="Thị", given_name="Phó")
    make_assignment(api, chair, commune, chairman)
    body = {
        "delegator_id": chair["id"],
        "deputy": deputy["username"],
        "app": "meeting",
        "roles": ["meeting:chair"],
        "unit_code": "XA.TAMDUONG",
        "start_date": TODAY,
        "end_date": TODAY,
        "reason": "Đi công tác",
    }
    made = api.post("/api/v1/app-delegations", body)
    assert made.status_code == 201, made.json
    assert made.json["deputy_id"] == deputy["id"] and made.json["started_at"]
    listed = api.get(f"/api/v1/app-delegations?person_id={deputy['id']}").json
    assert [d["id"] for d in listed] == [made.json["id"]]
    revoked = api.post(f"/api/v1/app-delegations/{made.json['id']}/revoke", {})
    assert revoked.status_code == 200, revoked.json
    assert revoked.json["revoked_at"]
    assert api.get(f"/api/v1/app-delegations?person_id={deputy['id']}").json == []
    again = api.post(f"/api/v1/app-delegations/{made.json['id']}/revoke", {})
    assert again.status_code == 404
    wrong = api.post(
        "/api/v1/app-delegations", {**body, "deputy": chair["username"], "app": "nowhere"}
    )
    assert wrong.status_code == 422
    assert set(wrong.json["details"]) == {"deputy", "app", "roles"}


def test_a_reader_cannot_write(reader, api) -> None:
    person = make_person(api)
    assert reader.get(f"/api/v1/app-delegations?person_id={person['id']}").status_code == 200
    refused = reader.post("/api/v1/app-delegations", {"delegator_id": person["id"]})
    assert refused.status_code == 403
