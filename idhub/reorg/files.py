"""Change sets from files a province prepares: JSON (everything) or CSV (the common ops).

JSON: the body of POST /api/v1/changesets. CSV: one operation per row, with the decision
given separately (options of `idhub changeset create`). Columns (empty cells are unused):

    op        merge | move | dissolve | rename
    units     merge: the sources, separated by ";"; others: the unit
    into      merge: the target unit; a new unit when `name` is given (then `code`
              is taken from `into`, with `type`, `parent`, `mail_domain`)
    parent    move: the new parent; merge into a new unit: its parent
    successor dissolve: where its people go
    name, code, short_name, type, mail_domain   rename / the new unit

Splits name people and parts individually: write them in JSON.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

COLUMNS = (
    "op",
    "units",
    "into",
    "parent",
    "successor",
    "name",
    "code",
    "short_name",
    "type",
    "mail_domain",
)


class FileError(ValueError):
    """The file cannot be read as a change set; the message says where."""


def read_change_set(path: Path, decision: dict[str, Any]) -> dict[str, Any]:
    """A change set body from a .json or .csv file; `decision` fields fill or override."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise FileError(f"{path}: the top level must be an object")
        return {**body, **decision}
    if path.suffix.lower() == ".csv":
        return {**decision, "operations": operations_from_csv(text, str(path))}
    raise FileError(f"{path}: give a .json or a .csv file")


def operations_from_csv(text: str, where: str = "CSV") -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or ()) - set(COLUMNS)
    if unknown:
        raise FileError(f"{where}: unknown columns {', '.join(sorted(unknown))}")
    operations = []
    for line, row in enumerate(reader, start=2):
        cells = {k: (v or "").strip() for k, v in row.items() if k}
        op = cells.get("op", "")
        units = [u.strip() for u in cells.get("units", "").split(";") if u.strip()]
        if op == "merge":
            into: Any = cells.get("into", "")
            if cells.get("name"):
                into = {
                    "code": into,
                    "name": cells["name"],
                    "type": cells.get("type", ""),
                    **{
                        k: cells[k] for k in ("parent", "mail_domain", "short_name") if cells.get(k)
                    },
                }
            operations.append({"op": "merge", "sources": units, "into": into})
        elif op in ("move", "dissolve", "rename"):
            if len(units) != 1:
                raise FileError(f"{where} line {line}: {op} takes one unit in `units`")
            entry: dict[str, Any] = {"op": op, "unit": units[0]}
            fields = {
                "move": ("parent",),
                "dissolve": ("successor",),
                "rename": ("name", "code", "short_name", "mail_domain"),
            }[op]
            entry.update({k: cells[k] for k in fields if cells.get(k)})
            operations.append(entry)
        else:
            raise FileError(f"{where} line {line}: op must be merge, move, dissolve or rename")
    return operations
