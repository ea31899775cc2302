"""Two communes of one province, each with a person, and the test's person made HR
officer of the first: what every scope test of the console starts from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.console.grants import grant
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit


@dataclass
class Communes:
    a: dict
    b: dict
    position: dict
    binh: dict  # of commune A
    cuc: dict  # of commune B


def two_communes(app, api, officer: dict, role: str = "hr_officer") -> Communes:  # type: ignore[no-untyped-def]
    root = make_unit(
        api, code="TINHX", name="UBND tỉnh Thử", type="province_committee", mail_domain="thu.gov.vn"
    )
    a = make_unit(api, code="XA.AN", name="UBND xã An Bình", parent_id=root["id"])
    b = make_unit(api, code="XA.BAC", name="UBND xã Bắc Sơn", parent_id=root["id"])
    position = make_position(api, code="CONG_CHUC", name="Công chức văn phòng")
    binh = make_person(api, family_name="Trần", middle_name="Văn", given_name="Bình")
    make_assignment(api, binh, a, position)
    cuc = make_person(api, family_name="Lê", middle_name="Thị", given_name="Cúc")
    make_assignment(api, cuc, b, position)
    grant(app, officer["id"], role, a["id"])
    return Communes(a, b, position, binh, cuc)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)
