"""What previewing a spreadsheet import costs: `python -m bench console_import`.

A SQLite database migrated to head, holding a province of `--people` people (default
10,000) over 100 communes (bench/admin_scope.py's seed). A `--rows`-row .xlsx (default
5,000) made with openpyxl, as an HR officer's would be: real date cells, the CCCD as text,
units spread over the communes. Measured `--rounds` times (default 3), the median kept:

* import_preview_5000_rows_s: read the file and check every row (what the console does
  before its preview page, and what POST /api/v1/imports?dry_run=true does), no write;
* import_read_5000_rows_s: the reading part alone (openpyxl, read-only mode).

Goal (#18): the preview under 10 s. Results are merged into bench/results/console.json
(bench/console.py writes the page figures into the same file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench.admin_scope import _seed
from idhub.admin_scope.scope import EVERYWHERE
from idhub.imports import service
from idhub.imports.reader import read
from idhub.ops.migrate import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"
HEADERS = ["Họ", "Tên đệm", "Tên", "Số CCCD", "Ngày sinh", "Mã đơn vị", "Mã chức vụ",
           "Loại (chính/kiêm nhiệm)", "Ngày bắt đầu", "Email cá nhân", "Số điện thoại"]  # fmt: skip


def sheet(rows: int, communes: int) -> bytes:
    book = Workbook()
    page = book.active
    page.append(HEADERS)
    for n in range(rows):
        page.append(
            ["Nguyễn", "Thị", f"Lan{n}", f"001190{n:06d}", dt.datetime(1990, 3, 15),
             f"XA{n % communes:03d}", "CV", "chính", dt.datetime(2026, 1, 1),
             f"lan{n}@example.com", "0912345678"]
        )  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def measure(people: int = 10_000, rows: int = 5_000, rounds: int = 3) -> dict[str, Any]:
    communes = 100
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        _seed(engine, people, communes)
        data = sheet(rows, communes)
        previews, reads = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            read(data)
            reads.append(time.perf_counter() - started)
            with Session(engine) as session:
                started = time.perf_counter()
                checked = service.preview(session, EVERYWHERE, data)
                previews.append(time.perf_counter() - started)
            assert checked.ok and len(checked.rows) == rows, checked.rows[0].as_dict()
        engine.dispose()
    return {
        f"import_preview_{rows}_rows_s": round(statistics.median(previews), 3),
        f"import_read_{rows}_rows_s": round(statistics.median(reads), 3),
        "import_people": people,
        "import_file_bytes": len(data),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console_import")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS), help="results JSON (merged into)")
    args = parser.parse_args(argv)
    figures = measure(args.people, args.rows, args.rounds)
    out = Path(args.out)
    merged = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    merged.update(figures)
    out.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    return 0
