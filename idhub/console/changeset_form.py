"""A change set as an HR officer writes it: form rows or a CSV with Vietnamese headers.

Both become the body of POST /api/v1/changesets (`idhub.reorg.schemas.ChangeSetSchema`),
loaded by the same schema, so the console accepts exactly what the API accepts. One row
is one operation; its cells mean, by operation:

    merge     units: the sources ("a; b"), into: the target (a new unit when `name` is
              given: code = into, with type, parent, mail_domain, short_name)
    split     units: the source, into: the parts ("a; b"), successor: where the people
              not named go (the default part); people are named per part in JSON only
    move      units: the unit, parent: its new parent
    dissolve  units: the unit, successor: where its people go
    rename    units: the unit, name / code / short_name / mail_domain: the new values
"""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

from marshmallow import ValidationError

from idhub.reorg.files import COLUMNS
from idhub.reorg.schemas import OPS, ChangeSetSchema

# The template's headers (Vietnamese), and the English names also accepted.
HEADERS_VI = {
    "op": "Thao tác",
    "units": "Đơn vị",
    "into": "Thành đơn vị",
    "parent": "Đơn vị cấp trên",
    "successor": "Đơn vị kế thừa",
    "name": "Tên",
    "code": "Mã",
    "short_name": "Tên viết tắt",
    "type": "Loại đơn vị",
    "mail_domain": "Tên miền thư",
}
OP_NAMES_VI = {
    "merge": "Sáp nhập",
    "split": "Chia tách",
    "move": "Chuyển cấp trên",
    "dissolve": "Giải thể",
    "rename": "Đổi tên",
}
DECISION_FIELDS = (
    "title",
    "description",
    "decision_number",
    "decision_date",
    "decision_issuer",
    "effective_date",
)
FORM_ROWS = 6
MAX_UPLOAD = 1024 * 1024  # a change set of thousands of operations is well under this


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


_HEADER_OF = {_key(v): k for k, v in HEADERS_VI.items()} | {k: k for k in COLUMNS}
_OP_OF = {_key(v): k for k, v in OP_NAMES_VI.items()} | {k: k for k in OPS}


class FormProblem(ValueError):
    """What is wrong with the submitted change set, each as a line to show on the form."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _list(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def operation(row: dict[str, str]) -> dict[str, Any] | None:
    """One row's operation (None for an empty row); the schema judges the rest."""
    cells = {k: unicodedata.normalize("NFC", (row.get(k) or "")).strip() for k in COLUMNS}
    if not any(cells.values()):
        return None
    op = _OP_OF.get(_key(cells["op"]), cells["op"])
    units = _list(cells["units"])
    one = units[0] if len(units) == 1 else cells["units"]
    if op == "merge":
        into: Any = cells["into"]
        if cells["name"]:
            into = {"code": cells["into"], "name": cells["name"], "type": cells["type"]}
            into.update({k: cells[k] for k in ("parent", "mail_domain", "short_name") if cells[k]})
        return {"op": op, "sources": units, "into": into}
    if op == "split":
        entry: dict[str, Any] = {"op": op, "source": one, "into": _list(cells["into"])}
        if cells["successor"]:
            entry["default"] = cells["successor"]
        return entry
    fields = {
        "move": ("parent",),
        "dissolve": ("successor",),
        "rename": ("name", "code", "short_name", "mail_domain"),
    }.get(op, ())
    return {"op": op, "unit": one, **{k: cells[k] for k in fields if cells[k]}}


def rows_from_form(form: Any) -> list[dict[str, str]]:
    return [{column: form.get(f"{column}_{i}", "") for column in COLUMNS} for i in range(FORM_ROWS)]


def rows_from_csv(data: bytes) -> list[dict[str, str]]:
    """The rows of an uploaded CSV (UTF-8, Vietnamese or English headers)."""
    if len(data) > MAX_UPLOAD:
        raise FormProblem(["console.changeset.upload.too_big"])
    if data.startswith(b"PK\x03\x04") or b"\x00" in data[:4096]:
        raise FormProblem(["console.changeset.upload.not_csv"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormProblem(["console.changeset.upload.not_utf8"]) from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise FormProblem(["console.changeset.upload.empty"])
    columns = [_HEADER_OF.get(_key(h)) for h in header]
    unknown = [h for h, c in zip(header, columns, strict=True) if c is None and h.strip()]
    if unknown or "op" not in columns:
        raise FormProblem(["console.changeset.upload.headers:" + ", ".join(unknown)])
    return [
        {c: v for c, v in zip(columns, line, strict=False) if c is not None}
        for line in reader
        if any(cell.strip() for cell in line)
    ]


def body(decision: dict[str, str], rows: list[dict[str, str]]) -> dict[str, Any]:
    """The API body, loaded by the API's schema; FormProblem lists every fault."""
    raw: dict[str, Any] = {
        k: unicodedata.normalize("NFC", decision.get(k, "")).strip() for k in DECISION_FIELDS
    }
    if not raw["description"]:
        raw["description"] = None
    operations = []
    row_numbers = []
    for number, row in enumerate(rows, start=1):
        op = operation(row)
        if op is not None:
            operations.append(op)
            row_numbers.append(number)
    raw["operations"] = operations
    try:
        return dict(ChangeSetSchema().load(raw))
    except ValidationError as exc:
        raise FormProblem(_flatten(exc.messages, row_numbers)) from exc


def _flatten(messages: Any, row_numbers: list[int]) -> list[str]:
    """Marshmallow's nested messages as lines: "field: message", "row 2 · into: …"."""
    lines: list[str] = []
    if not isinstance(messages, dict):
        return [str(messages)]
    for field, value in messages.items():
        if field == "operations" and isinstance(value, dict):
            for index, errors in value.items():
                number = row_numbers[index] if isinstance(index, int) else index
                for name, text in _pairs(errors):
                    lines.append(f"row:{number}:{name}:{text}")
        elif field == "operations":
            lines.append("console.changeset.form.no_operations")
        else:
            for _, text in _pairs(value):
                lines.append(f"field:{field}:{text}")
    return lines


def _pairs(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        out: list[tuple[str, str]] = []
        for name, value in errors.items():
            out.extend(_pairs(value, f"{prefix}{name}" if not prefix else f"{prefix}.{name}"))
        return out
    if isinstance(errors, list):
        return [(prefix or "-", str(e)) for e in errors]
    return [(prefix or "-", str(errors))]


def template_csv() -> str:
    """The downloadable template: Vietnamese headers and one example row per operation."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([HEADERS_VI[c] for c in COLUMNS])
    examples = [
        ["Sáp nhập", "XA.A; XA.B", "XA.AB", "TINH", "", "UBND xã A B", "", "", "commune_committee"],
        ["Chuyển cấp trên", "XA.C", "", "TINH"],
        ["Giải thể", "HUYEN.D", "", "", "TINH"],
        ["Đổi tên", "XA.E", "", "", "", "UBND phường E"],
    ]
    for example in examples:
        writer.writerow(example + [""] * (len(COLUMNS) - len(example)))
    return out.getvalue()
