"""Sheets for the import tests, made the way an HR officer's would be (openpyxl, Excel's
CSV), and a valid row's values."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from openpyxl import Workbook

HEADERS = [
    "Họ", "Tên đệm", "Tên", "Số CCCD", "Ngày sinh", "Mã đơn vị", "Mã chức vụ",
    "Loại (chính/kiêm nhiệm)", "Ngày bắt đầu", "Email cá nhân", "Số điện thoại",
]  # fmt: skip


def row(n: int, unit: str = "XA.TAMDUONG", position: str = "CHUYEN_VIEN", **over: Any) -> list:
    """A valid row: the n-th person born 15/03/1990 in Hà Nội (province code 001)."""
    values = {
        "Họ": "Nguyễn",
        "Tên đệm": "Thị",
        "Tên": f"Lan{n}" if n else "Lan",
        "Số CCCD": f"001190{n:06d}",
        "Ngày sinh": "15/03/1990",
        "Mã đơn vị": unit,
        "Mã chức vụ": position,
        "Loại (chính/kiêm nhiệm)": "chính",
        "Ngày bắt đầu": "01/01/2026",
        "Email cá nhân": "",
        "Số điện thoại": "",
        **over,
    }
    return [values[h] for h in HEADERS]


def xlsx(rows: list[list[Any]], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[Any]], headers: list[str] = HEADERS, *, bom: bool = True,
              encoding: str = "utf-8") -> bytes:  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for values in rows:
        writer.writerow([v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else v for v in values])
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" if bom and encoding == "utf-8" else b"") + data
