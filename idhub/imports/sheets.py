"""What the import hands out: the template (.xlsx with a sheet of explanations, or .csv)
and the error report of a checked upload.

Any cell that a spreadsheet would read as a formula (beginning with = + - @, a tab or a
carriage return) goes out inert: in CSV prefixed with an apostrophe (OWASP, CSV
injection), in .xlsx as an explicit string cell (openpyxl would otherwise store "=…" as a
formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from idhub.imports.checks import Checked
from idhub.imports.columns import BY_KEY, COLUMNS

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


def csv_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(rows: Iterable[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode()  # the BOM: Excel then reads UTF-8


def _append(sheet: Any, row: list[Any]) -> None:
    """A row whose texts stay texts (never a formula)."""
    sheet.append([None] * len(row))
    for cell, value in zip(sheet[sheet.max_row], row, strict=True):
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"


def _xlsx(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template(kind: str) -> bytes:
    """The import template: the header row and one example row; in .xlsx a second sheet
    says, in Vietnamese, what each column takes."""
    headers = [c.header for c in COLUMNS]
    example = [c.example for c in COLUMNS]
    if kind == "csv":
        return _csv([headers, example])
    book = Workbook()
    sheet = book.active
    sheet.title = "Nhân sự"
    _append(sheet, headers)
    _append(sheet, example)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column in sheet.columns:
        sheet.column_dimensions[column[0].column_letter].width = 22
    guide = book.create_sheet("Hướng dẫn")
    _append(guide, ["Cột", "Bắt buộc", "Ví dụ", "Giải thích"])
    for c in COLUMNS:
        _append(guide, [c.header, "Có" if c.required else "Không", c.example, c.help])
    guide.append([])
    _append(
        guide,
        ["Lưu ý", "", "", "Mỗi dòng là một người mới với một chức vụ. Tệp .xlsx hoặc .csv "
         "(UTF-8), tối đa 10 MB và 20.000 dòng; không chấp nhận tệp có macro. Không có gì "
         "được ghi cho đến khi bạn xác nhận; khi xác nhận, tất cả các dòng được ghi cùng "
         "lúc hoặc không dòng nào."],
    )  # fmt: skip
    guide.column_dimensions["A"].width = 24
    guide.column_dimensions["D"].width = 90
    return _xlsx(book)


def error_report(checked: Checked) -> bytes:
    """The rows' problems as CSV: row, column, the value given, the error (vi, en)."""
    rows: list[list[Any]] = [["Dòng / Row", "Cột / Column", "Giá trị / Value", "Lỗi", "Error"]]
    for result in checked.rows:
        for key, messages in result.errors.items():
            for message in messages:
                header = BY_KEY[key].header
                rows.append([result.row, header, result.raw.get(key), message.vi, message.en])
    return _csv(rows)
