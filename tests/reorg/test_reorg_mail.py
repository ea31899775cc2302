"""A reorganisation against the real mail stack: old addresses keep delivering."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idhub.models import Seat
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.mail import (
    drain_all,
    enable_mail,
    send_mail,
    set_password,
    subjects,
    wait_for_subject,
)
from tests.fixtures.provisioning import entry, make_worker

PASSWORD = "Mật-khẩu-công-vụ-2026"


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


def province_with_communes(
    api, province: tuple[str, str, str], communes: tuple[tuple[str, str], ...]
) -> list[dict]:
    """A province committee (code, name, mail domain) and its communes (code, name)."""
    code, name, domain = province
    parent = make_unit(
        api,
        code=code,
        name=f"Ủy ban nhân dân tỉnh {name}",
        type="province_committee",
        mail_domain=domain,
        valid_from="2020-01-01",
    )
    return [
        make_unit(
            api,
            code=commune_code,
            name=f"Ủy ban nhân dân xã {commune_name}",
            parent_id=parent["id"],
            valid_from="2020-01-01",
        )
        for commune_code, commune_name in communes
    ]


def test_a_merged_province_keeps_old_addresses_delivering(app, api, mail_server):
    """Hà Nam's committee becomes Ninh Bình's (new code, name and domain); two of its
    communes merge. Mail to the old address arrives, and so does mail to the new one."""
    communes = province_with_communes(
        api, ("35", "Hà Nam", "hanam.gov.vn"), (("13000", "Kim Bảng"), ("13001", "Thanh Sơn"))
    )
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
    make_worker(app).target.tidy()
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


def test_the_preview_lists_the_seat_mailboxes_a_merge_closes_and_opens(app, api, mail_server):
    """The chairman of a commune that merges: the preview says the old commune's seat
    mailbox closes and the merged commune's opens with the same holder, and so it goes."""
    communes = province_with_communes(
        api, ("12", "Lai Châu", "laichau.gov.vn"), (("03001", "Bản Lang"), ("03002", "Nậm Xe"))
    )
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    person = make_person(api, family_name="Lò", middle_name="Văn", given_name="Đức")
    make_assignment(api, person, communes[1], chairman)
    drain_all(app)
    with app.extensions["idhub"].db.transaction() as session:
        (old_seat,) = session.scalars(select(Seat)).all()
        assert (old_seat.uid, old_seat.holders) == ("chutich.namxe", [person["username"]])

    cs = api.post(
        "/api/v1/changesets",
        {
            "title": "Sắp xếp đơn vị hành chính cấp xã",
            "decision_number": "1670/NQ-UBTVQH15",
            "decision_date": "2025-06-16",
            "decision_issuer": "Ủy ban Thường vụ Quốc hội",
            "effective_date": "2025-07-01",
            "operations": [
                {
                    "op": "merge",
                    "sources": ["03001", "03002"],
                    "into": {
                        "code": "03010",
                        "name": "Ủy ban nhân dân xã Phong Thổ",
                        "type": "commune_committee",
                    },
                }
            ],
        },
    ).json
    preview = api.get(f"/api/v1/changesets/{cs['id']}/preview").json
    seats = {s["uid"]: s for s in preview["seats"]}
    assert set(seats) == {"chutich.namxe", "chutich.phongtho"}
    closed, opened = seats["chutich.namxe"], seats["chutich.phongtho"]
    assert (closed["change"], closed["state"], closed["holders"]) == ("closed", "disabled", [])
    assert closed["old_holders"] == [person["username"]]
    assert (opened["change"], opened["state"]) == ("opened", "enabled")
    assert opened["holders"] == [person["username"]]
    assert opened["mail"] == "chutich.phongtho@laichau.gov.vn"
    with app.extensions["idhub"].db.transaction() as session:  # the preview wrote nothing
        assert [s.uid for s in session.scalars(select(Seat))] == ["chutich.namxe"]

    assert api.post(f"/api/v1/changesets/{cs['id']}/apply").status_code == 200
    drain_all(app)
    with app.extensions["idhub"].db.transaction() as session:
        after = {s.uid: s for s in session.scalars(select(Seat))}
    assert after["chutich.phongtho"].holders == [person["username"]]
    assert after["chutich.phongtho"].enabled is True
    assert (after["chutich.namxe"].enabled, after["chutich.namxe"].holders) == (False, [])
