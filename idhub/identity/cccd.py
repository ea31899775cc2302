"""What a CCCD (căn cước công dân, 12 digits) encodes, and the check that it holds.

Digits 1–3: the province where the birth was registered; digit 4: century and sex
(0/1 = 1900s male/female, 2/3 = 2000s, 4/5 = 2100s, 6/7 = 2200s, 8/9 = 2300s); digits
5–6: the last two digits of the birth year; digits 7–12: random. Person has no sex field,
so only the century half of digit 4 can be compared with what HR holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from idhub.errors import Invalid

# The 63 province codes of birth registration, as issued by Circular 07/2016/TT-BCA
# (Annex: "Danh mục mã tỉnh, thành phố trực thuộc trung ương…", amended by Circular
# 59/2021/TT-BCA). A CCCD keeps the code of the province as it was at registration,
# so these pre-2025 codes stay valid after the 2025 merger of provinces.
PROVINCE_CODES: dict[int, str] = {
    1: "Hà Nội", 2: "Hà Giang", 4: "Cao Bằng", 6: "Bắc Kạn", 8: "Tuyên Quang",
    10: "Lào Cai", 11: "Điện Biên", 12: "Lai Châu", 14: "Sơn La", 15: "Yên Bái",
    17: "Hòa Bình", 19: "Thái Nguyên", 20: "Lạng Sơn", 22: "Quảng Ninh", 24: "Bắc Giang",
    25: "Phú Thọ", 26: "Vĩnh Phúc", 27: "Bắc Ninh", 30: "Hải Dương", 31: "Hải Phòng",
    33: "Hưng Yên", 34: "Thái Bình", 35: "Hà Nam", 36: "Nam Định", 37: "Ninh Bình",
    38: "Thanh Hóa", 40: "Nghệ An", 42: "Hà Tĩnh", 44: "Quảng Bình", 45: "Quảng Trị",
    46: "Thừa Thiên Huế", 48: "Đà Nẵng", 49: "Quảng Nam", 51: "Quảng Ngãi", 52: "Bình Định",
    54: "Phú Yên", 56: "Khánh Hòa", 58: "Ninh Thuận", 60: "Bình Thuận", 62: "Kon Tum",
    64: "Gia Lai", 66: "Đắk Lắk", 67: "Đắk Nông", 68: "Lâm Đồng", 70: "Bình Phước",
    72: "Tây Ninh", 74: "Bình Dương", 75: "Đồng Nai", 77: "Bà Rịa - Vũng Tàu",
    79: "Hồ Chí Minh", 80: "Long An", 82: "Tiền Giang", 83: "Bến Tre", 84: "Trà Vinh",
    86: "Vĩnh Long", 87: "Đồng Tháp", 89: "An Giang", 91: "Kiên Giang", 92: "Cần Thơ",
    93: "Hậu Giang", 94: "Sóc Trăng", 95: "Bạc Liêu", 96: "Cà Mau",
}  # fmt: skip

CODE = "invalid_national_id"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a CCCD: a stable code and the reason in Vietnamese and English."""

    code: str
    vi: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "vi": self.vi, "en": self.en}


def century_and_sex(year: int, female: bool) -> int:
    """Digit 4 for a birth in `year`: 0 for a man born in the 1900s, 3 for a woman in the 2000s."""
    return 2 * ((year - 1900) // 100) + int(female)


def problems(national_id: str, date_of_birth: dt.date | None = None) -> list[Problem]:
    """Everything wrong with a 12-digit CCCD, given the date of birth HR holds (if any)."""
    if len(national_id) != 12 or not national_id.isascii() or not national_id.isdigit():
        return [
            Problem("format", "Số CCCD phải gồm đúng 12 chữ số.", "A CCCD has exactly 12 digits.")
        ]
    found: list[Problem] = []
    if national_id == "0" * 12:
        found.append(
            Problem("all_zeros", "Số CCCD không thể toàn số 0.", "A CCCD cannot be all zeros.")
        )
    province = national_id[:3]
    if int(province) not in PROVINCE_CODES:
        found.append(
            Problem(
                "unknown_province",
                f"Mã tỉnh nơi đăng ký khai sinh {province} (3 chữ số đầu) không tồn tại.",
                f"{province} (the first 3 digits) is not a province code of birth registration.",
            )
        )
    if date_of_birth is None:
        return found
    if int(national_id[3]) // 2 != (date_of_birth.year - 1900) // 100:
        found.append(
            Problem(
                "century_mismatch",
                f"Chữ số thứ 4 ({national_id[3]}) không khớp thế kỷ của ngày sinh "
                f"{date_of_birth.isoformat()} (phải là {century_and_sex(date_of_birth.year, False)}"
                f" hoặc {century_and_sex(date_of_birth.year, True)}).",
                f"Digit 4 ({national_id[3]}) does not match the century of the date of birth "
                f"{date_of_birth.isoformat()} (it should be "
                f"{century_and_sex(date_of_birth.year, False)} or "
                f"{century_and_sex(date_of_birth.year, True)}).",
            )
        )
    if national_id[4:6] != f"{date_of_birth.year % 100:02d}":
        found.append(
            Problem(
                "birth_year_mismatch",
                f"Chữ số 5–6 ({national_id[4:6]}) không khớp năm sinh {date_of_birth.year}.",
                f"Digits 5–6 ({national_id[4:6]}) do not match the birth year "
                f"{date_of_birth.year}.",
            )
        )
    return found


def check(national_id: str, date_of_birth: dt.date | None = None) -> None:
    """Raise Invalid (422, code invalid_national_id) if the CCCD does not hold what it encodes."""
    found = problems(national_id, date_of_birth)
    if not found:
        return
    raise Invalid(
        "Số CCCD không hợp lệ: "
        + " ".join(p.vi for p in found)
        + " / Invalid CCCD number: "
        + " ".join(p.en for p in found),
        code=CODE,
        details={
            "national_id": [p.en for p in found],
            "problems": [p.as_dict() for p in found],
        },
    )
