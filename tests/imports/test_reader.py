"""Reading an upload: .xlsx and .csv by their bytes, Vietnamese headers, and everything
refused as a whole (nothing else looked at): not a spreadsheet, macros, zip bombs, too
many rows, too large, a wrong encoding."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest
from openpyxl import load_workbook

from idhub.imports.columns import match_headers
from idhub.imports.reader import MAX_ROWS, Refused, read
from idhub.imports.sheets import csv_safe, template
from tests.imports.sheets import HEADERS, csv_bytes, row, xlsx


def refused(data: bytes) -> str:
    with pytest.raises(Refused) as caught:
        read(data)
    return caught.value.code


def test_xlsx_rows_with_real_dates_and_numbers():
    values = row(1, **{"Ngày sinh": dt.datetime(1990, 3, 15), "Số CCCD": 1190000001})
    sheet = read(xlsx([values, row(2)]))
    assert sheet.kind == "xlsx" and sheet.headers == HEADERS
    (first, cells), (second, _) = sheet.rows
    assert (first, second) == (2, 3)
    assert cells[4] == dt.date(1990, 3, 15)
    assert cells[3] == 1190000001  # a number cell: the checks restore the leading zero


def test_csv_with_and_without_bom_and_semicolons():
    for data in (csv_bytes([row(1)]), csv_bytes([row(1)], bom=False)):
        sheet = read(data)
        assert sheet.kind == "csv" and sheet.headers == HEADERS
        assert sheet.rows[0][1][0] == "Nguyễn"
    semicolons = ";".join(HEADERS) + "\r\n" + ";".join(row(1)) + "\r\n"
    assert read(semicolons.encode()).rows[0][1][2] == "Lan1"


def test_headers_match_without_accents_or_case_and_in_english():
    found, unknown, missing = match_headers(
        ["HO", "ten dem", "Tên", "so cccd", "Date of birth", "unit code", "Position",
         "LOẠI (CHÍNH/KIÊM NHIỆM)", "start date", "Ghi chú"]
    )  # fmt: skip
    assert set(found.values()) >= {"family_name", "given_name", "national_id", "kind"}
    assert unknown == ["Ghi chú"] and missing == []
    decomposed = "Ho\u0323"  # "Họ" typed as NFD (a Mac keyboard)
    assert match_headers([decomposed])[0] == {0: "family_name"}


def test_a_formula_cell_comes_back_as_its_text_never_evaluated():
    data = xlsx([row(1, **{"Tên đệm": "=1+2", "Tên": '=HYPERLINK("http://x.example","y")'})])
    cells = read(data).rows[0][1]
    assert cells[1] == "=1+2" and cells[2].startswith("=HYPERLINK(")


def test_not_a_spreadsheet_by_its_bytes_whatever_its_name():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100  # a PNG renamed .xlsx
    assert refused(png) == "not_spreadsheet"
    assert refused(b"%PDF-1.7\n...") == "not_spreadsheet"
    other_zip = io.BytesIO()
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert refused(other_zip.getvalue()) == "not_spreadsheet"
    assert refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512) == "ole"  # .xls
    assert refused(b"   \n") == "empty"


def _with_part(data: bytes, name: str, content: bytes, types: bytes | None = None) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            body = source.read(item.filename)
            if types is not None and item.filename == "[Content_Types].xml":
                body = types
            archive.writestr(item.filename, body)
        archive.writestr(name, content)
    return out.getvalue()


def test_a_workbook_with_macros_is_refused():
    data = xlsx([row(1)])
    xlsm = _with_part(data, "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 VBA project")
    assert refused(xlsm) == "macros"
    types = (
        zipfile.ZipFile(io.BytesIO(data))
        .read("[Content_Types].xml")
        .replace(b"sheet.main+xml", b"sheet.macroEnabled.main+xml")
    )
    assert refused(_with_part(data, "docProps/extra.xml", b"<x/>", types)) == "macros"


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    bomb = _with_part(xlsx([row(1)]), "xl/media/padding.xml", b" " * (120 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024  # small on the wire
    assert refused(bomb) == "too_big_unpacked"


def test_too_many_rows_and_too_large():
    many = csv_bytes([row(1)] * (MAX_ROWS + 1))
    assert refused(many) == "too_many_rows"
    assert refused(b"a" * (11 * 1024 * 1024)) == "too_large"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_csv_in_utf16_gets_a_clear_message(encoding):
    data = csv_bytes([row(1, **{"Họ": "Trần"})], encoding=encoding, bom=False)
    with pytest.raises(Refused) as caught:
        read(data)
    assert caught.value.code == "encoding" and caught.value.values["found"] == "UTF-16"


def test_a_csv_in_windows_1258_gets_a_clear_message():
    # Windows' Vietnamese code page (tones as combining marks; â ê ô ă ơ ư đ precomposed).
    data = "family name,middle name,given name\r\nLê,Văn,Đăng\r\n".encode("cp1258")
    with pytest.raises(Refused) as caught:
        read(data)
    assert caught.value.code == "encoding"


def test_the_template_has_the_headers_an_example_and_a_guide_in_vietnamese():
    book = load_workbook(io.BytesIO(template("xlsx")))
    sheet, guide = book.worksheets
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Họ", "Tên đệm", "Tên"] and "Số CCCD" in header
    assert guide.title == "Hướng dẫn" and guide["A1"].value == "Cột"
    assert "12 chữ số" in " ".join(str(c.value) for c in guide["D"])
    again = read(template("xlsx"))  # the template reads back as one valid-looking row
    assert len(again.rows) == 1
    text = template("csv").decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text)))[0] == "Họ"


def test_exports_are_formula_safe():
    assert [csv_safe(v) for v in ("=1+2", "+84", "-1", "@SUM(A1)", "Lan", None)] == [
        "'=1+2", "'+84", "'-1", "'@SUM(A1)", "Lan", "",
    ]  # fmt: skip
