"""The organisation of one real province after the 2025 two-level reform, as plain data.

The province and its communes (xã, phường, đặc khu) come from the ``vietnam_provinces``
package, an optional GPL-3.0 dev dependency: it is imported inside :func:`read_province`
only, never when this module is imported. The provincial departments are the standard
set every province has had since 1 July 2025; their divisions are typical, not official.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from idhub.identity.cccd import PROVINCE_CODES
from idhub.models import UnitType
from provisioning.naming import nfc

# The two-level local government took effect on this day (Law 72/2025/QH15).
REFORM_DATE = dt.date(2025, 7, 1)


@dataclass(frozen=True)
class WardInfo:
    code: int  # official 5-digit code (printed zero-padded)
    name: str  # "Xã Mường Tè"
    division_type: str  # "xã" | "phường" | "đặc khu"


@dataclass(frozen=True)
class ProvinceInfo:
    code: int
    name: str  # as the package has it: "Lai Châu", "Thành phố Hà Nội"
    bare_name: str  # "Lai Châu", "Hà Nội"
    level: str  # "tỉnh" or "thành phố": "Ủy ban nhân dân {level} {bare_name}"
    codename: str  # "lai_chau"
    wards: tuple[WardInfo, ...]

    @property
    def code2(self) -> str:
        return f"{self.code:02d}"

    @property
    def mail_domain(self) -> str:
        return self.codename.replace("_", "") + ".gov.vn"


class ProvinceDataMissing(ImportError):
    """The optional ``vietnam_provinces`` package is not installed."""


def read_province(code: int) -> ProvinceInfo:
    """The province and its wards; ProvinceDataMissing or LookupError if unavailable."""
    try:
        from vietnam_provinces import Province, ProvinceCode, VietNamDivisionType, Ward
    except ImportError as e:
        raise ProvinceDataMissing(str(e)) from e
    try:
        pcode = ProvinceCode(code)
        province = Province.from_code(pcode)
    except (ValueError, KeyError) as e:
        known = ", ".join(str(int(p.code)) for p in Province.iter_all())
        raise LookupError(
            f"unknown province code {code}; the post-2025 provinces have the codes {known}"
        ) from e
    is_city = province.division_type == VietNamDivisionType.THANH_PHO_TRUNG_UONG
    # Newer package versions say "Tỉnh Lai Châu"; older ones "Lai Châu".
    name = nfc(province.name).removeprefix("Tỉnh ")
    bare = name.removeprefix("Thành phố ") if is_city else name
    wards = tuple(
        sorted(
            (
                WardInfo(int(w.code), nfc(w.name), nfc(w.division_type.value))
                for w in Ward.iter_by_province(pcode)
            ),
            key=lambda w: w.code,
        )
    )
    return ProvinceInfo(
        code=int(province.code),
        name=name,
        bare_name=bare,
        level="thành phố" if is_city else "tỉnh",
        codename=province.codename,
        wards=wards,
    )


# ---------------------------------------------------------------------------------------
# Birth places. A CCCD starts with the code of the province of birth as it was then, i.e.
# one of the 63 pre-2025 provinces. Each post-2025 province maps to the ones merged into it.

OLD_PROVINCE_CODES = tuple(sorted(PROVINCE_CODES))  # the list CCCDs are checked against

MERGED_FROM = {
    1: (1,), 4: (4,), 8: (8, 2), 11: (11,), 12: (12,), 14: (14,), 15: (15, 10),
    19: (19, 6), 20: (20,), 22: (22,), 24: (24, 27), 25: (25, 26, 17), 31: (31, 30),
    33: (33, 34), 37: (37, 35, 36), 38: (38,), 40: (40,), 42: (42,), 44: (44, 45),
    46: (46,), 48: (48, 49), 51: (51, 62), 52: (52, 64), 56: (56, 58), 66: (66, 54),
    68: (68, 67, 60), 75: (75, 70), 79: (79, 74, 77), 80: (80, 72), 82: (82, 87),
    86: (86, 83, 84), 91: (91, 89), 92: (92, 94, 93), 96: (96, 95),
}  # fmt: skip


def home_birth_codes(province_code: int) -> tuple[int, ...]:
    return MERGED_FROM.get(province_code, (province_code,))


# ---------------------------------------------------------------------------------------
# Units

# How a unit's head and deputy are called (position codes, see POSITIONS).
LEAD_PROVINCE = ("CT_UBND_TINH", "PCT_UBND_TINH")
LEAD_DEPARTMENT = ("GIAM_DOC_SO", "PHO_GIAM_DOC_SO")
LEAD_PROVINCE_OFFICE = ("CHANH_VP_UBND_TINH", "PHO_CHANH_VP_UBND_TINH")
LEAD_INSPECTORATE = ("CHANH_THANH_TRA_TINH", "PHO_CHANH_THANH_TRA_TINH")
LEAD_DIVISION = ("TRUONG_PHONG", "PHO_TRUONG_PHONG")
LEAD_DEPARTMENT_OFFICE = ("CHANH_VP_SO", "PHO_CHANH_VP_SO")
LEAD_SUB_DEPARTMENT = ("CHI_CUC_TRUONG", "PHO_CHI_CUC_TRUONG")
LEAD_CENTRE = ("GIAM_DOC_TRUNG_TAM", "PHO_GIAM_DOC_TRUNG_TAM")
LEAD_COMMUNE = ("CT_UBND_XA", "PCT_UBND_XA")

_OFFICE = ("VP", "Văn phòng Sở", LEAD_DEPARTMENT_OFFICE)


@dataclass(frozen=True)
class DepartmentDef:
    abbr: str  # ASCII, becomes "12.SNV"
    name: str  # "{level}" is replaced by "tỉnh"/"thành phố"
    lead: tuple[str, str]
    divisions: tuple[tuple[str, str, tuple[str, str]], ...]


def _divisions(*rows: tuple) -> tuple[tuple[str, str, tuple[str, str]], ...]:
    """(abbr, name[, lead]) rows; a division is led by a trưởng phòng unless it says otherwise."""
    return tuple((abbr, name, lead[0] if lead else LEAD_DIVISION) for abbr, name, *lead in rows)


def _department(abbr: str, name: str, *divisions: tuple) -> DepartmentDef:
    """A sở: led by a giám đốc, its office first, then its divisions."""
    return DepartmentDef(abbr, name, LEAD_DEPARTMENT, (_OFFICE, *_divisions(*divisions)))


# The 12 specialised agencies of a provincial committee after the 2025 merger of departments.
DEPARTMENTS: tuple[DepartmentDef, ...] = (
    DepartmentDef("VPUBND", "Văn phòng Ủy ban nhân dân {level}", LEAD_PROVINCE_OFFICE, _divisions(
        ("HCTC", "Phòng Hành chính – Tổ chức"), ("TH", "Phòng Tổng hợp"), ("KT", "Phòng Kinh tế"),
    )),
    _department("SNV", "Sở Nội vụ",
        ("TCBC", "Phòng Tổ chức – Biên chế"), ("XDCQ", "Phòng Xây dựng chính quyền")),
    _department("STC", "Sở Tài chính",
        ("QLNS", "Phòng Quản lý ngân sách"), ("KHTH", "Phòng Kế hoạch – Tổng hợp")),
    _department("STP", "Sở Tư pháp", ("HCTP", "Phòng Hành chính tư pháp")),
    _department("SXD", "Sở Xây dựng",
        ("QLHT", "Phòng Quản lý hạ tầng giao thông"), ("QHKT", "Phòng Quy hoạch – Kiến trúc")),
    _department("SNNMT", "Sở Nông nghiệp và Môi trường",
        ("QLDD", "Phòng Quản lý đất đai"), ("CCKL", "Chi cục Kiểm lâm", LEAD_SUB_DEPARTMENT)),
    _department("SYT", "Sở Y tế",
        ("NVY", "Phòng Nghiệp vụ Y"), ("KHTC", "Phòng Kế hoạch – Tài chính")),
    _department("SGDDT", "Sở Giáo dục và Đào tạo",
        ("GDPT", "Phòng Giáo dục phổ thông"), ("TCCB", "Phòng Tổ chức cán bộ")),
    _department("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch",
        ("QLVH", "Phòng Quản lý văn hóa"), ("QLDL", "Phòng Quản lý du lịch")),
    _department("SKHCN", "Sở Khoa học và Công nghệ", ("CDS", "Phòng Chuyển đổi số")),
    _department("SCT", "Sở Công Thương",
        ("QLTM", "Phòng Quản lý thương mại"), ("QLNL", "Phòng Quản lý năng lượng")),
    DepartmentDef("TTT", "Thanh tra {level}", LEAD_INSPECTORATE, _divisions(
        ("VP", "Văn phòng", LEAD_DEPARTMENT_OFFICE), ("NV1", "Phòng Nghiệp vụ 1"),
        ("NV2", "Phòng Nghiệp vụ 2"),
    )),
)  # fmt: skip

# Public service units: (code suffix, name, owning department abbr or None for the committee).
PUBLIC_SERVICE_UNITS = (
    ("TTPVHCC", "Trung tâm Phục vụ hành chính công {level} {province}", None),
    ("SYT.CDC", "Trung tâm Kiểm soát bệnh tật {level} {province}", "SYT"),
    ("SKHCN.TTCDS", "Trung tâm Công nghệ thông tin và Chuyển đổi số", "SKHCN"),
)


@dataclass(frozen=True)
class UnitSpec:
    code: str
    name: str
    short_name: str | None
    type: UnitType
    parent_code: str | None
    lead: tuple[str, str]  # (head position code, deputy position code)
    family: str  # units of one family share people (concurrent posts stay within it)
    decision_issuer: str  # "UBND" or the department abbreviation: "123/QĐ-SNV"
    mail_domain: str | None = None


def build_units(p: ProvinceInfo) -> list[UnitSpec]:
    """Parents before children: committee, departments and divisions, centres, communes."""
    c = p.code2
    units: list[UnitSpec] = []

    def add(
        code: str,
        name: str,
        short_name: str | None,
        type_: UnitType,
        parent_code: str | None,
        lead: tuple[str, str],
        family: str,
        decision_issuer: str,
        mail_domain: str | None = None,
    ) -> None:
        units.append(
            UnitSpec(
                code=code,
                name=nfc(name),
                short_name=nfc(short_name) if short_name else None,
                type=type_,
                parent_code=parent_code,
                lead=lead,
                family=family,
                decision_issuer=decision_issuer,
                mail_domain=mail_domain,
            )
        )

    committee = f"{p.level} {p.bare_name}"
    add(c, f"Ủy ban nhân dân {committee}", f"UBND {committee}", UnitType.PROVINCE_COMMITTEE,
        None, LEAD_PROVINCE, "province", "UBND", p.mail_domain)  # fmt: skip
    for d in DEPARTMENTS:
        named = d.name.format(level=p.level)
        full = f"{named} {p.bare_name}" if "{level}" in d.name else f"{d.name} {committee}"
        dcode = f"{c}.{d.abbr}"
        short = named.replace("Ủy ban nhân dân", "UBND")
        add(dcode, full, short, UnitType.DEPARTMENT, c, d.lead, d.abbr, d.abbr)
        for abbr, name, lead in d.divisions:
            add(f"{dcode}.{abbr}", name, None, UnitType.DEPARTMENT_DIVISION, dcode, lead,
                d.abbr, d.abbr)  # fmt: skip
    for suffix, name, owner in PUBLIC_SERVICE_UNITS:
        add(f"{c}.{suffix}", name.format(level=p.level, province=p.bare_name), None,
            UnitType.PUBLIC_SERVICE_UNIT, f"{c}.{owner}" if owner else c, LEAD_CENTRE,
            owner or "province", owner or "UBND")  # fmt: skip
    for w in p.wards:
        lower = w.name[:1].lower() + w.name[1:]  # "Xã Mường Tè" → "xã Mường Tè"
        add(f"{w.code:05d}", f"Ủy ban nhân dân {lower}", w.name, UnitType.COMMUNE_COMMITTEE,
            c, LEAD_COMMUNE, "commune", "UBND")  # fmt: skip
    return units


# ---------------------------------------------------------------------------------------
# Positions: (code, name, leadership level). 0 = staff; 8 = chairman of the province.


def build_positions(p: ProvinceInfo) -> list[tuple[str, str, int]]:
    lv = p.level
    rows = [
        ("CT_UBND_TINH", f"Chủ tịch Ủy ban nhân dân {lv}", 8),
        ("PCT_UBND_TINH", f"Phó Chủ tịch Ủy ban nhân dân {lv}", 7),
        ("CHANH_VP_UBND_TINH", f"Chánh Văn phòng Ủy ban nhân dân {lv}", 6),
        ("PHO_CHANH_VP_UBND_TINH", f"Phó Chánh Văn phòng Ủy ban nhân dân {lv}", 5),
        ("CHANH_THANH_TRA_TINH", f"Chánh Thanh tra {lv}", 6),
        ("PHO_CHANH_THANH_TRA_TINH", f"Phó Chánh Thanh tra {lv}", 5),
        ("GIAM_DOC_SO", "Giám đốc Sở", 6),
        ("PHO_GIAM_DOC_SO", "Phó Giám đốc Sở", 5),
        ("CT_UBND_XA", "Chủ tịch Ủy ban nhân dân cấp xã", 4),
        ("PCT_UBND_XA", "Phó Chủ tịch Ủy ban nhân dân cấp xã", 3),
        ("TRUONG_PHONG", "Trưởng phòng", 2),
        ("PHO_TRUONG_PHONG", "Phó Trưởng phòng", 1),
        ("CHANH_VP_SO", "Chánh Văn phòng", 2),
        ("PHO_CHANH_VP_SO", "Phó Chánh Văn phòng", 1),
        ("CHI_CUC_TRUONG", "Chi cục trưởng", 2),
        ("PHO_CHI_CUC_TRUONG", "Phó Chi cục trưởng", 1),
        ("GIAM_DOC_TRUNG_TAM", "Giám đốc Trung tâm", 2),
        ("PHO_GIAM_DOC_TRUNG_TAM", "Phó Giám đốc Trung tâm", 1),
        ("CHUYEN_VIEN_CHINH", "Chuyên viên chính", 0),
        ("CHUYEN_VIEN", "Chuyên viên", 0),
        ("CONG_CHUC_VP_TK", "Công chức Văn phòng – Thống kê", 0),
        ("CONG_CHUC_TC_KT", "Công chức Tài chính – Kế toán", 0),
        ("CONG_CHUC_TP_HT", "Công chức Tư pháp – Hộ tịch", 0),
        ("CONG_CHUC_DC_XD", "Công chức Địa chính – Xây dựng", 0),
        ("CONG_CHUC_VH_XH", "Công chức Văn hóa – Xã hội", 0),
        ("KE_TOAN", "Kế toán", 0),
        ("VAN_THU", "Văn thư", 0),
        ("CNTT", "Chuyên viên công nghệ thông tin", 0),
    ]
    return [(code, nfc(name), level) for code, name, level in rows]


# Staff positions by unit type, with weights.
STAFF_POSITIONS: dict[UnitType, tuple[tuple[str, float], ...]] = {
    UnitType.COMMUNE_COMMITTEE: (
        ("CONG_CHUC_VP_TK", 3), ("CONG_CHUC_TC_KT", 3), ("CONG_CHUC_TP_HT", 3),
        ("CONG_CHUC_DC_XD", 3), ("CONG_CHUC_VH_XH", 3), ("CHUYEN_VIEN", 5),
        ("VAN_THU", 1), ("KE_TOAN", 1), ("CNTT", 0.5),
    ),
    UnitType.PUBLIC_SERVICE_UNIT: (
        ("CHUYEN_VIEN", 8), ("KE_TOAN", 1), ("VAN_THU", 1), ("CNTT", 2),
    ),
    UnitType.DEPARTMENT_DIVISION: (
        ("CHUYEN_VIEN", 10), ("CHUYEN_VIEN_CHINH", 5), ("KE_TOAN", 1), ("VAN_THU", 1),
        ("CNTT", 1),
    ),
    UnitType.DEPARTMENT: (("CHUYEN_VIEN", 3), ("CHUYEN_VIEN_CHINH", 3)),
    UnitType.PROVINCE_COMMITTEE: (("CHUYEN_VIEN_CHINH", 1),),
}  # fmt: skip

# How many of the non-leading staff each unit type attracts, per unit. Communes get most.
STAFF_WEIGHT = {
    UnitType.COMMUNE_COMMITTEE: 6.0,
    UnitType.DEPARTMENT_DIVISION: 3.0,
    UnitType.PUBLIC_SERVICE_UNIT: 3.0,
    UnitType.DEPARTMENT: 0.5,
    UnitType.PROVINCE_COMMITTEE: 0.0,
}
