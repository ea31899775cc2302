"""The columns of an import sheet: their Vietnamese headers, English aliases and help.

A header matches when, NFC-normalised, folded to lower case and stripped of accents
(đ → d), it equals a column's Vietnamese header or one of its aliases: "Số CCCD",
"so cccd", "SO CCCD" and "national_id" all name the same column.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str  # the field it fills (PersonSchema / AssignmentSchema names, and `kind`)
    header: str  # the Vietnamese header of the template
    aliases: tuple[str, ...]
    required: bool
    example: str
    help: str  # what goes in it, in Vietnamese (the template's second sheet)


COLUMNS: tuple[Column, ...] = (
    Column("family_name", "Họ", ("family name", "last name", "surname", "family_name"), True,
           "Nguyễn", "Họ của người, có dấu (ví dụ: Nguyễn)."),
    Column("middle_name", "Tên đệm", ("middle name", "middle_name"), False,
           "Thị", "Tên đệm, có dấu; để trống nếu không có."),
    Column("given_name", "Tên", ("given name", "first name", "given_name"), True,
           "Lan", "Tên, có dấu (ví dụ: Lan)."),
    Column("national_id", "Số CCCD", ("cccd", "so can cuoc", "national id", "national_id"),
           True, "011190001234",
           "12 chữ số; 3 chữ số đầu là mã tỉnh nơi đăng ký khai sinh, chữ số thứ 4 khớp "
           "thế kỷ của ngày sinh, chữ số 5–6 khớp năm sinh."),
    Column("date_of_birth", "Ngày sinh", ("date of birth", "birth date", "date_of_birth"),
           True, "15/03/1990", "Ngày sinh, dạng dd/mm/yyyy (hoặc yyyy-mm-dd, hoặc ô ngày Excel)."),
    Column("unit_code", "Mã đơn vị", ("unit code", "unit", "unit_code"), True,
           "XA.TAMDUONG", "Mã đơn vị trong hệ thống; phải thuộc phạm vi quản trị của bạn."),
    Column("position_code", "Mã chức vụ", ("position code", "position", "position_code"), True,
           "CHUYEN_VIEN", "Mã chức vụ trong danh mục chức vụ."),
    Column("kind", "Loại (chính/kiêm nhiệm)", ("loai", "kind", "assignment kind"), True,
           "chính", "“chính” (chức vụ chính) hoặc “kiêm nhiệm”."),
    Column("start_date", "Ngày bắt đầu", ("start date", "start_date", "from"), True,
           "01/01/2027", "Ngày bắt đầu giữ chức vụ, dạng dd/mm/yyyy."),
    Column("decision_ref", "Số quyết định", ("decision", "decision ref", "decision_ref"), False,
           "123/QĐ-UBND", "Số quyết định (không bắt buộc)."),
    Column("personal_email", "Email cá nhân", ("personal email", "email", "personal_email"),
           False, "lan.nguyen@example.com", "Email cá nhân (không bắt buộc)."),
    Column("personal_phone", "Số điện thoại", ("phone", "personal phone", "personal_phone",
           "dien thoai"), False, "0912345678", "Số điện thoại (không bắt buộc)."),
    Column("civil_servant_code", "Mã cán bộ", ("civil servant code", "civil_servant_code",
           "ma cong chuc"), False, "", "Mã cán bộ, công chức (không bắt buộc)."),
)  # fmt: skip

BY_KEY = {c.key: c for c in COLUMNS}


def fold(text: str) -> str:
    """A header as compared: NFC, lower case, accents and đ dropped, spaces collapsed."""
    text = unicodedata.normalize("NFC", text).strip().lower().replace("đ", "d")
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return " ".join(bare.replace("_", " ").split())


_LOOKUP: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.header, _column.key, *_column.aliases):
        _LOOKUP[fold(_name)] = _column.key


def match_headers(headers: list[str]) -> tuple[dict[int, str], list[str], list[str]]:
    """Position → column key for known headers; the headers not understood; the required
    columns missing. A column given twice keeps its first position."""
    found: dict[int, str] = {}
    unknown: list[str] = []
    for index, header in enumerate(headers):
        if not header.strip():
            continue
        key = _LOOKUP.get(fold(header))
        if key is None:
            unknown.append(header.strip())
        elif key not in found.values():
            found[index] = key
    missing = [c.header for c in COLUMNS if c.required and c.key not in found.values()]
    return found, unknown, missing
