"""A reorganisation against the real mail stack: old addresses keep delivering."""

from __future__ import annotations

import pytest

from tests.factories import make_assignment, make_person, make_position, make_unit
from tests.mail_fixtures import (
    drain_all,
    enable_mail,
    send_mail,
    set_password,
    subjects,
    wait_for_subject,
)
from tests.provisioning_helpers import entry, make_worker

PASSWORD = "Mật-khẩu-công-vụ-2026"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


def test_a_merged_province_keeps_old_addresses_delivering(app, api, mail_server):
    """Hà Nam's committee becomes Ninh Bình's (new code, name and domain); two of its
    communes merge. Mail to the old address arrives, and so does mail to the new one."""
    province = make_unit(
        api,
        code="35",
        name="Ủy ban nhân dân tỉnh Hà Nam",
        type="province_committee",
        mail_domain="hanam.gov.vn",
        valid_from="2020-01-01",
    )
    communes = [
        make_unit(
            api,
            code=code,
            name=f"Ủy ban nhân dân xã {name}",
            parent_id=province["id"],
            valid_from="2020-01-01",
        )
        for code, name in (("13000", "Kim Bảng"), ("13001", "Thanh Sơn"))
    ]
    position = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    person = make_person(api, family_name="Trần", middle_name="Thị", given_name="Hà")
    make_assignment(api, person, communes[1], position)
    drain_all(app)
    set_password(app, person["id"], PASSWORD)
    old = f"{person['username']}@hanam.gov.vn"
    assert entry(app, person["id"])[1]["mail"] == [old]

    cs = api.post(
        "/api/v1/changesets",
        {
            "title": "Hợp nhất tỉnh Hà Nam và tỉnh Ninh Bình",
            "decision_number": "202/2025/QH15",
            "decision_date": "2025-06-12",
            "decision_issuer": "Quốc hội",
            "effective_date": "2025-07-01",
            "operations": [
                {
                    "op": "merge",
                    "sources": ["13000", "13001"],
                    "into": {
                        "code": "13003",
                        "name": "Ủy ban nhân dân xã Kim Bảng",
                        "type": "commune_committee",
                    },
                },
                {
                    "op": "rename",
                    "unit": "35",
                    "code": "37",
                    "name": "Ủy ban nhân dân tỉnh Ninh Bình",
                    "mail_domain": "ninhbinh.gov.vn",
                },
            ],
        },
    ).json
    preview = api.get(f"/api/v1/changesets/{cs['id']}/preview").json
    (row,) = preview["rows"]
    new = f"{person['username']}@ninhbinh.gov.vn"
    assert (row["old_mail"], row["new_mail"]) == (old, new)
    assert old in row["aliases"]
    assert api.post(f"/api/v1/changesets/{cs['id']}/apply").status_code == 200
    drain_all(app)
    make_worker(app).prune()
    dn, attrs = entry(app, person["id"])
    assert dn.startswith(f"uid={person['username']},ou=13003,ou=37,")
    assert attrs["mail"] == [new] and old in attrs["idhubMailAlias"]

    send_mail(mail_server, old, "Gửi địa chỉ cũ")
    send_mail(mail_server, new, "Gửi địa chỉ mới")
    wait_for_subject(mail_server, person["username"], PASSWORD, "Gửi địa chỉ cũ")
    wait_for_subject(mail_server, person["username"], PASSWORD, "Gửi địa chỉ mới")
    assert sorted(subjects(mail_server, person["username"], PASSWORD)) == [
        "Gửi địa chỉ cũ",
        "Gửi địa chỉ mới",
    ]
