"""Every row of an import checked, all rows and every column (never stopping at the first
problem), against the rules the bulk path will apply and against the database as it is.

A row is a new person with one post. What is checked: names (NFC, no control characters,
length), the CCCD (`identity.cccd`: digits, province code, century and year against the
date of birth), dates (dd/mm/yyyy, ISO or a real Excel date), the unit code (exists, is
active, is in the actor's scope), the position code, the kind of post, the optional
contact fields, and duplicates: the same CCCD (or civil-servant code) twice in the file or
already held by someone (CCCD lookups only through `identity.personal`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.admin_scope.scope import Scope
from idhub.identity import cccd
from idhub.identity.personal import cccd_in
from idhub.identity.schemas import CIVIL_SERVANT_CODE, PHONE
from idhub.imports.columns import BY_KEY, COLUMNS, fold, match_headers
from idhub.imports.messages import Message
from idhub.imports.reader import Cell, Refused, Sheet
from idhub.models import AssignmentKind, OrgUnit, Person, Position, UnitStatus

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CHUNK = 500
_DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d")
_KINDS = {
    "chinh": AssignmentKind.PRIMARY,
    "primary": AssignmentKind.PRIMARY,
    "kiem nhiem": AssignmentKind.CONCURRENT,
    "concurrent": AssignmentKind.CONCURRENT,
}
_EMAIL = validate.Email()
_TEXT_LIMITS = {"family_name": 100, "middle_name": 100, "given_name": 100, "decision_ref": 255}

Raw = dict[str, Any]  # column key → text, int or ISO date (JSON-safe: kept until confirm)


@dataclass
class RowResult:
    row: int
    raw: Raw
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[Message]] = field(default_factory=lambda: defaultdict(list))

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())

    def fail(self, column: str, message: Message) -> None:
        self.errors[column].append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "status": "ok" if self.ok else "error",
            "errors": {k: [m.as_dict() for m in v] for k, v in self.errors.items() if v},
        }


@dataclass
class Checked:
    rows: list[RowResult]
    unknown_headers: list[str]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def errors(self) -> int:
        return sum(not r.ok for r in self.rows)


# -- From a sheet to raw rows ------------------------------------------------------------------
def _raw_cell(cell: Cell) -> Any:
    if isinstance(cell, dt.date):
        return cell.isoformat()
    if isinstance(cell, str):
        return unicodedata.normalize("NFC", cell).strip() or None
    return cell


def raw_rows(sheet: Sheet) -> tuple[list[tuple[int, Raw]], list[str]]:
    """The rows as column key → raw value, and the headers not understood; Refused when a
    required column is missing or there are no rows."""
    positions, unknown, missing = match_headers(sheet.headers)
    if missing:
        raise Refused("missing_columns", columns=", ".join(missing))
    if not sheet.rows:
        raise Refused("no_rows")
    rows = []
    for number, cells in sheet.rows:
        raw = {key: _raw_cell(cells[i]) if i < len(cells) else None for i, key in positions.items()}
        rows.append((number, raw))
    return rows, unknown


def check_sheet(session: Session, scope: Scope, sheet: Sheet) -> Checked:
    rows, unknown = raw_rows(sheet)
    return Checked(check_rows(session, scope, rows), unknown)


# -- One cell ------------------------------------------------------------------------------------
def _text(result: RowResult, key: str) -> str | None:
    value = result.raw.get(key)
    if value is None or value == "":
        if BY_KEY[key].required:
            result.fail(key, Message.of("required", column=BY_KEY[key].header))
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    if CONTROL_CHARS.search(text):
        result.fail(key, Message.of("control_chars"))
        return None
    limit = _TEXT_LIMITS.get(key, 255)
    if len(text) > limit:
        result.fail(key, Message.of("too_long", limit=limit))
        return None
    return text


def parse_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    text = text[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]00:00(:00)?", text) else text
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _date(result: RowResult, key: str, today: dt.date) -> dt.date | None:
    value = result.raw.get(key)
    if value is None or value == "":
        result.fail(key, Message.of("required", column=BY_KEY[key].header))
        return None
    found = parse_date(value)
    if found is None:
        result.fail(key, Message.of("date_format", value=str(value)[:40]))
        return None
    latest = today if key == "date_of_birth" else dt.date(today.year + 5, 12, 31)
    if not dt.date(1900, 1, 1) <= found <= latest:
        result.fail(key, Message.of("date_range", value=found.strftime("%d/%m/%Y")))
        return None
    return found


def _national_id(result: RowResult) -> str | None:
    value = result.raw.get("national_id")
    if isinstance(value, int) and 0 < value < 10**12:
        value = f"{value:012d}"  # a number cell drops the leading zero Excel hides
    text = _text(result, "national_id")
    if text is None:
        return None
    if not isinstance(result.raw.get("national_id"), int):
        value = text.replace(" ", "")
    return str(value)


def _optional(result: RowResult, key: str) -> str | None:
    text = _text(result, key)
    if text is None:
        return None
    if key == "personal_phone" and isinstance(result.raw.get(key), int) and len(text) == 9:
        text = "0" + text  # a number cell drops the leading zero of a mobile number
    checks: dict[str, Any] = {
        "personal_email": _EMAIL,
        "personal_phone": PHONE,
        "civil_servant_code": CIVIL_SERVANT_CODE,
    }
    if key in checks:
        try:
            checks[key](text)
        except ValidationError:
            result.fail(key, Message.of(f"bad_{key}", value=text[:60]))
            return None
    return text


# -- Every row -------------------------------------------------------------------------------------
def check_rows(session: Session, scope: Scope, rows: list[tuple[int, Raw]]) -> list[RowResult]:
    today = dt.date.today()
    results = [RowResult(number, raw) for number, raw in rows]
    units = _units(session, {_code(r.raw.get("unit_code")) for r in results})
    positions = _positions(session, {_code(r.raw.get("position_code")) for r in results})
    for result in results:
        _check_row(result, scope, units, positions, today)
    _duplicates(session, results, "national_id", _taken_cccds)
    _duplicates(session, results, "civil_servant_code", _taken_codes)
    return results


def _check_row(
    result: RowResult,
    scope: Scope,
    units: dict[str, OrgUnit],
    positions: dict[str, Any],
    today: dt.date,
) -> None:
    values: dict[str, Any] = {}
    for key in ("family_name", "middle_name", "given_name", "decision_ref"):
        values[key] = _text(result, key)
    birth = _date(result, "date_of_birth", today)
    national_id = _national_id(result)
    if national_id is not None:
        for problem in cccd.problems(national_id, birth):
            result.fail("national_id", Message(f"cccd_{problem.code}", problem.vi, problem.en))
    values.update(national_id=national_id, date_of_birth=birth)
    for key in ("personal_email", "personal_phone", "civil_servant_code"):
        values[key] = _optional(result, key)

    code = _text(result, "unit_code")
    unit = units.get(code) if code else None
    if code and unit is None:
        result.fail("unit_code", Message.of("unit_unknown", code=code))
    elif unit is not None and unit.status != UnitStatus.ACTIVE:
        result.fail("unit_code", Message.of("unit_inactive", code=code))
    elif unit is not None and not scope.covers(unit.id):
        result.fail("unit_code", Message.of("unit_outside", code=code))
    values["unit_id"] = unit.id if unit is not None else None

    code = _text(result, "position_code")
    position_id = positions.get(code.upper()) if code else None
    if code and position_id is None:
        result.fail("position_code", Message.of("position_unknown", code=code))
    values["position_id"] = position_id

    kind_text = _text(result, "kind")
    kind = _KINDS.get(fold(kind_text)) if kind_text else None
    if kind_text and kind is None:
        result.fail("kind", Message.of("bad_kind", value=kind_text[:40]))
    values["kind"] = kind
    values["start_date"] = _date(result, "start_date", today)
    result.values = values


def _code(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value or "")).strip()


def _units(session: Session, codes: set[str]) -> dict[str, OrgUnit]:
    """Code → unit; an active unit wins over a retired one with the same code."""
    found: dict[str, OrgUnit] = {}
    for chunk in _chunks(codes - {""}):
        for unit in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(chunk))):
            if unit.code not in found or unit.status == UnitStatus.ACTIVE:
                found[unit.code] = unit
    return found


def _positions(session: Session, codes: set[str]) -> dict[str, Any]:
    wanted = {c.upper() for c in codes - {""}}
    found: dict[str, Any] = {}
    for chunk in _chunks(wanted):
        query = select(Position.code, Position.id).where(Position.code.in_(chunk))
        found.update((code, position_id) for code, position_id in session.execute(query))
    return found


def _taken_cccds(session: Session, values: list[str]) -> set[str]:
    # Through identity.personal only: how the CCCD is stored may change behind it.
    return set(session.scalars(select(Person.national_id).where(cccd_in(values))))


def _taken_codes(session: Session, values: list[str]) -> set[str]:
    column = Person.civil_servant_code
    return {c for c in session.scalars(select(column).where(column.in_(values))) if c}


def _duplicates(session: Session, results: list[RowResult], key: str, taken_of: Any) -> None:
    first: dict[str, int] = {}
    for result in results:
        value = result.values.get(key)
        if not value:
            continue
        if value in first:
            result.fail(key, Message.of("duplicate_in_file", row=first[value]))
        else:
            first[value] = result.row
    taken: set[str] = set()
    for chunk in _chunks(set(first)):
        taken |= taken_of(session, chunk)
    for result in results:
        if result.values.get(key) in taken:
            result.fail(key, Message.of(f"{key}_taken"))


def _chunks(values: Iterable[str]) -> list[list[str]]:
    values = sorted(values)
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def batch_items(results: list[RowResult]) -> list[dict[str, Any]]:
    """The rows as one batch for the bulk path: a create_person and its create_assignment
    each (the post refers to its person by `ref`)."""
    items: list[dict[str, Any]] = []
    for result in results:
        v = result.values
        person = {
            "national_id": v["national_id"],
            "family_name": v["family_name"],
            "middle_name": v["middle_name"] or "",
            "given_name": v["given_name"],
            "date_of_birth": v["date_of_birth"].isoformat(),
        }
        for key in ("personal_email", "personal_phone", "civil_servant_code"):
            if v.get(key):
                person[key] = v[key]
        post = {
            "person_id": f"ref:r{result.row}",
            "unit_id": str(v["unit_id"]),
            "position_id": str(v["position_id"]),
            "kind": v["kind"].value,
            "start_date": v["start_date"].isoformat(),
        }
        if v.get("decision_ref"):
            post["decision_ref"] = v["decision_ref"]
        items.append({"op": "create_person", "ref": f"r{result.row}", "data": person})
        items.append({"op": "create_assignment", "data": post})
    return items


__all__ = ["COLUMNS", "Checked", "RowResult", "batch_items", "check_rows", "check_sheet"]
