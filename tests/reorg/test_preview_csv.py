"""The change-set preview CSV is opened in spreadsheets: no cell may start a formula
(OWASP CSV injection: = + - @ TAB CR get a leading single quote)."""

from __future__ import annotations

import csv
import io

from idhub.reorg.preview import to_csv


def test_cells_that_would_start_a_formula_are_quoted():
    hostile = {
        "person_id": '=HYPERLINK("http://evil.example")',
        "full_name": "+1+cmd|' /C calc'!A0",
        "old_dn": "-2+3",
        "new_dn": "@SUM(1)",
        "groups_gained": ["\tcn=x", "cn=ok"],
        "groups_lost": ["\rcn=y"],
    }
    text = to_csv({"rows": [hostile]})
    [row] = list(csv.DictReader(io.StringIO(text)))
    cells = [v for v in row.values() if v]
    assert cells, row
    for cell in cells:
        assert cell[0] not in "=+-@\t\r", cell
    assert row["person_id"] == '\'=HYPERLINK("http://evil.example")'


def test_ordinary_cells_are_unchanged():
    plain = {"person_id": "6d991911-e354", "old_dn": "uid=an,ou=12,dc=x", "groups_gained": []}
    [row] = list(csv.DictReader(io.StringIO(to_csv({"rows": [plain]}))))
    assert row["person_id"] == "6d991911-e354" and row["old_dn"] == "uid=an,ou=12,dc=x"
