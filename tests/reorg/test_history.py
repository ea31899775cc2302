"""Work history (quá trình công tác) through reorganisations: every post kept, with the
unit it was held in, its dates and the decision that started and ended it."""

from __future__ import annotations

from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.reorg.test_reorg import DECISION, _reform, _tree


def test_a_merge_shows_the_old_and_new_unit_with_the_decision_and_dates(app, api):
    province, district, communes, people, head = _tree(api)
    cs = api.post("/api/v1/changesets", _reform(province, district, communes)).json
    applied = api.post(f"/api/v1/changesets/{cs['id']}/apply")
    assert applied.status_code == 200, applied.json
    summary = applied.json["summary"]
    assert summary["posts_closed"] == summary["posts_moved"] == 3
    assert summary["posts_repointed"] == 0

    history = api.get(f"/api/v1/people/{people[1]['id']}/history")
    assert history.status_code == 200, history.json
    old, new = history.json["posts"]
    assert (old["unit_code"], old["unit_name"]) == ("3461", "Ủy ban nhân dân xã Nà Tăm")
    assert (old["start_date"], old["end_date"]) == ("2020-01-01", "2025-06-30")
    assert old["ended_by"] == {
        "decision_ref": "1670/NQ-UBTVQH15",
        "decision_date": "2025-06-16",
        "decision_issuer": "Ủy ban Thường vụ Quốc hội",
        "change_set_id": cs["id"],
        "title": DECISION["title"],
    }
    assert (new["unit_code"], new["unit_name"]) == ("3470", "Ủy ban nhân dân xã Bình Lư")
    assert (new["start_date"], new["end_date"]) == ("2025-07-01", None)
    assert new["started_by"]["change_set_id"] == cs["id"]
    assert new["started_by"]["decision_date"] == "2025-06-16"
    assert new["position_code"] == old["position_code"] == "CHUYEN_VIEN"


def test_a_rename_and_a_future_post_keep_what_they_were(app, api):
    root = make_unit(
        api, code="12", name="Ủy ban nhân dân tỉnh Lai Châu", type="province_committee"
    )
    dept = make_unit(
        api,
        code="SNV",
        name="Sở Nội vụ",
        type="department",
        parent_id=root["id"],
        valid_from="2020-01-01",
    )
    other = make_unit(
        api,
        code="SLDTBXH",
        name="Sở Lao động - Thương binh và Xã hội",
        type="department",
        parent_id=root["id"],
        valid_from="2020-01-01",
    )
    position = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    staying = make_person(api, family_name="Nguyễn", middle_name="Thị", given_name="Hoa")
    make_assignment(api, staying, dept, position, start_date="2021-03-01")
    joining = make_person(api, family_name="Trần", middle_name="Văn", given_name="Nam")
    make_assignment(api, joining, other, position, start_date="2025-08-01")
    cs = api.post(
        "/api/v1/changesets",
        {
            **DECISION,
            "decision_number": "759/QĐ-TTg",
            "operations": [
                {"op": "rename", "unit": "SNV", "name": "Sở Nội vụ tỉnh Lai Châu"},
                {"op": "dissolve", "unit": "SLDTBXH", "successor": "SNV"},
            ],
        },
    ).json
    applied = api.post(f"/api/v1/changesets/{cs['id']}/apply")
    assert applied.status_code == 200, applied.json
    assert applied.json["summary"]["posts_repointed"] == 1

    (post,) = api.get(f"/api/v1/people/{staying['id']}/history").json["posts"]
    assert post["periods"] == [
        {"from": "2021-03-01", "to": "2025-06-30", "unit_code": "SNV", "unit_name": "Sở Nội vụ"},
        {
            "from": "2025-07-01",
            "to": None,
            "unit_code": "SNV",
            "unit_name": "Sở Nội vụ tỉnh Lai Châu",
        },
    ]
    assert post["changed_in_place"][0]["kind"] == "renamed"
    assert post["changed_in_place"][0]["decision_ref"] == "759/QĐ-TTg"

    (post,) = api.get(f"/api/v1/people/{joining['id']}/history").json["posts"]
    assert post["unit_code"] == "SNV" and post["start_date"] == "2025-08-01"
    (was,) = post["changed_in_place"]
    assert (was["kind"], was["unit_code"], was["unit_id"]) == ("repointed", "SLDTBXH", other["id"])
    assert was["decision_ref"] == "759/QĐ-TTg" and was["effective_date"] == "2025-07-01"
    assert post["started_by"]["change_set_id"] == cs["id"]
