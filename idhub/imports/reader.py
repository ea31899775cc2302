"""Reading an uploaded sheet: what it is (by its bytes, never its name), refusing what is
not a plain spreadsheet, and its rows as text and dates.

Accepted: .xlsx (a zip holding `xl/workbook.xml`, no macros) read with openpyxl in
read-only mode (streamed; formulas come back as their text, never evaluated), and CSV in
UTF-8 with or without a BOM. Refused with a stable code, before any row is looked at:
anything else (an image, a PDF, an .xls or any OLE file), a workbook with macros (a
`vbaProject.bin` part or a macro-enabled content type), a zip that would unpack to more
than MAX_UNPACKED bytes, more than MAX_ROWS rows, a CSV in another encoding.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook

MAX_BYTES = 10 * 1024 * 1024  # the upload itself (the request size limit enforces it first)
MAX_UNPACKED = 100 * 1024 * 1024  # an .xlsx's parts once unzipped: a zip bomb stops here
MAX_PARTS = 500
MAX_ROWS = 20_000
MAX_COLUMNS = 50

Cell = str | int | dt.date | None

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc, and macro-carrying OLE files
_ZIP = b"PK\x03\x04"
_BINARY = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\x1f\x8b", b"BM", b"Rar!", b"7z")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class Refused(Exception):
    """The file as a whole is not accepted: `code` names the message (import.error.<code>)."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


@dataclass
class Sheet:
    """A sheet's header row and data rows (row numbers as the spreadsheet shows them)."""

    kind: str  # "xlsx" | "csv"
    headers: list[str]
    rows: list[tuple[int, list[Cell]]] = field(default_factory=list)


def read(data: bytes) -> Sheet:
    """The sheet in `data`, or Refused."""
    if len(data) > MAX_BYTES:
        raise Refused("too_large", limit_mb=MAX_BYTES // (1024 * 1024))
    if not data.strip():
        raise Refused("empty")
    if data.startswith(_OLE):
        raise Refused("ole")
    if data.startswith(_ZIP):
        return _read_xlsx(data)
    if data.startswith(_BINARY):
        raise Refused("not_spreadsheet")
    return _read_csv(data)


# -- .xlsx ---------------------------------------------------------------------------------
def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise Refused("not_spreadsheet") from exc
    names = {p.filename.lower() for p in parts}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise Refused("not_spreadsheet")
    if "xl/workbook.bin" in names:  # .xlsb: binary, may carry macros
        raise Refused("macros")
    if any(n.endswith("vbaproject.bin") or n.endswith(".bin") and "vba" in n for n in names):
        raise Refused("macros")
    if len(parts) > MAX_PARTS or sum(p.file_size for p in parts) > MAX_UNPACKED:
        raise Refused("too_big_unpacked", limit_mb=MAX_UNPACKED // (1024 * 1024))
    try:
        types = archive.read("[Content_Types].xml")
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise Refused("not_spreadsheet") from exc
    if b"macroenabled" in types.lower() or b"vbaproject" in types.lower():
        raise Refused("macros")


def _xlsx_cell(value: Any) -> Cell:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int) or isinstance(value, float) and value.is_integer():
        return int(value)  # a number cell: the checks know a CCCD lost its leading zero
    return str(value)  # a formula comes back as its text ("=…"): stored, never evaluated


def _read_xlsx(data: bytes) -> Sheet:
    _check_zip(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise Refused("not_spreadsheet") from exc
    try:
        if not book.worksheets:
            raise Refused("empty")
        sheet = book.worksheets[0]
        found: Sheet | None = None
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_xlsx_cell(v) for v in values[:MAX_COLUMNS]]
            if found is None:
                if any(cells):
                    found = Sheet("xlsx", [c if isinstance(c, str) else "" for c in cells])
                continue
            if not any(c not in (None, "") for c in cells):
                continue
            if len(found.rows) >= MAX_ROWS:
                raise Refused("too_many_rows", limit=MAX_ROWS)
            found.rows.append((number, cells))
    finally:
        book.close()
    if found is None:
        raise Refused("empty")
    return found


# -- CSV -------------------------------------------------------------------------------------
def _decode(data: bytes) -> str:
    if data.startswith(_UTF16_BOMS) or data[:4000].count(b"\x00") > 0:
        raise Refused("encoding", found="UTF-16")
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("encoding", found="?") from exc


def _read_csv(data: bytes) -> Sheet:
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    found: Sheet | None = None
    try:
        for number, values in enumerate(reader, start=1):
            cells: list[Cell] = [v if v != "" else None for v in values[:MAX_COLUMNS]]
            if found is None:
                if any(cells):
                    found = Sheet("csv", [v for v in values[:MAX_COLUMNS]])
                continue
            if not any(cells):
                continue
            if len(found.rows) >= MAX_ROWS:
                raise Refused("too_many_rows", limit=MAX_ROWS)
            found.rows.append((number, cells))
    except csv.Error as exc:
        raise Refused("not_spreadsheet") from exc
    if found is None:
        raise Refused("empty")
    return found
