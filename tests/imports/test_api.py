"""POST /api/v1/imports: every row checked (all of them, each column), a dry run writes
nothing, a clean file is one batch through the bulk path, a bad row writes nothing, and a
subtree client imports only into its subtree."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from idhub.models import AuditEvent, Person, ProvisioningJob
from tests.admin.scoping import province, subtree_client
from tests.imports.sheets import csv_bytes, row, xlsx

URL = "/api/v1/imports"


def upload(api, data: bytes, name: str = "nhan-su.xlsx", **form: str):
    return api.post(URL, None, data={"file": (io.BytesIO(data), name), **form})


def count(app, model) -> int:
    with app.extensions["idhub"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def codes(answer: dict, number: int) -> dict[str, list[str]]:
    found = next(r for r in answer["rows"] if r["row"] == number)
    return {column: [m["code"] for m in ms] for column, ms in found["errors"].items()}


def test_every_row_and_column_is_checked_and_a_dry_run_writes_nothing(app, api):
    p = province(api)
    taken = api.get(f"/api/v1/people/{p.in_a['id']}").json["national_id"]
    rows = [
        row(1),  # 2: fine
        row(2, **{"Số CCCD": "999190000002"}),  # 3: no such province
        row(3, **{"Số CCCD": "001290000003"}),  # 4: century digit 2 for a 1990 birth
        row(4, unit="XA.KHONGCO", position="KHONG_CO",  # 5: four columns wrong
            **{"Loại (chính/kiêm nhiệm)": "tạm thời", "Ngày bắt đầu": "31/02/2026"}),
        row(5, **{"Số CCCD": "001190000001"}),  # 6: the CCCD of row 2
        row(6, **{"Số CCCD": taken, "Ngày sinh": ""}),  # 7: someone already has it
        row(7, **{"Tên": "Lan\x07", "Họ": ""}),  # 8: a control character, a blank name
        row(8, **{"Ngày sinh": "1990-03-15", "Loại (chính/kiêm nhiệm)": "Kiêm nhiệm"}),  # 9
        row(9, **{"Email cá nhân": "không-phải-email", "Số điện thoại": "12"}),  # 10
    ]  # fmt: skip
    response = upload(api, csv_bytes(rows), "nhan-su.csv", dry_run="true")
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["dry_run"] and not answer["ok"]
    assert answer["rows_total"] == 9 and answer["rows_with_errors"] == 7
    assert codes(answer, 2) == {} and codes(answer, 9) == {}
    assert codes(answer, 3) == {"national_id": ["cccd_unknown_province"]}
    assert codes(answer, 4) == {"national_id": ["cccd_century_mismatch"]}
    assert codes(answer, 5) == {
        "unit_code": ["unit_unknown"],
        "position_code": ["position_unknown"],
        "kind": ["bad_kind"],
        "start_date": ["date_format"],
    }
    assert codes(answer, 6) == {"national_id": ["duplicate_in_file"]}
    assert codes(answer, 7) == {
        "date_of_birth": ["required"],
        "national_id": ["national_id_taken"],
    }
    assert codes(answer, 8) == {"family_name": ["required"], "given_name": ["control_chars"]}
    assert codes(answer, 10) == {
        "personal_email": ["bad_personal_email"],
        "personal_phone": ["bad_personal_phone"],
    }
    row5 = next(r for r in answer["rows"] if r["row"] == 5)["errors"]
    assert row5["unit_code"][0]["vi"] == "Không có đơn vị mã “XA.KHONGCO”."
    assert row5["unit_code"][0]["en"] == "There is no unit with code “XA.KHONGCO”."
    assert count(app, Person) == 3  # the province's three; nothing written


def test_a_clean_sheet_is_one_batch_with_audit_and_jobs_and_formulas_stay_text(app, api):
    province(api)
    before_people, before_jobs = count(app, Person), count(app, ProvisioningJob)
    rows = [
        row(1, **{"Tên đệm": "=1+2"}),
        row(2, **{"Số CCCD": 1190000002, "Số điện thoại": 912345678}),  # number cells
        row(3, **{"Loại (chính/kiêm nhiệm)": "kiêm nhiệm"}),
    ]
    response = upload(api, xlsx(rows), reason="QĐ 7/QĐ-UBND")
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["ok"] and len(answer["people"]) == 3 and answer["jobs"] == 3
    assert count(app, Person) == before_people + 3
    assert count(app, ProvisioningJob) == before_jobs + 3
    first = api.get(f"/api/v1/people/{answer['people'][0]}").json
    assert first["middle_name"] == "=1+2"  # stored as the text typed, never evaluated
    second = api.get(f"/api/v1/people/{answer['people'][1]}").json
    assert second["national_id"] == "001190000002" and second["personal_phone"] == "0912345678"
    events = api.get("/api/v1/audit?action=person.create").json
    assert sum(e["reason"] == "QĐ 7/QĐ-UBND" for e in events) == 3


def test_one_bad_row_and_nothing_is_written(app, api):
    province(api)
    before = count(app, Person), count(app, AuditEvent)
    response = upload(api, xlsx([row(1), row(2, unit="XA.KHONGCO")]))
    assert response.status_code == 422
    assert response.json["code"] == "import_rows_invalid"
    assert [r["row"] for r in response.json["details"]["rows"]] == [3]
    assert (count(app, Person), count(app, AuditEvent)) == before


def test_a_subtree_client_imports_only_into_its_subtree(app, api, client):
    p = province(api)
    commune = subtree_client(app, client, p.a["id"], ["hr:read", "hr:write"])
    outside = upload(commune, xlsx([row(1, unit="XA.SINHO")]))
    assert outside.status_code == 422
    assert outside.json["details"]["rows"][0]["errors"]["unit_code"][0]["code"] == "unit_outside"
    inside = upload(commune, xlsx([row(1, unit="XA.TAMDUONG.VP")]))
    assert inside.status_code == 200, inside.json
    person_id = inside.json["people"][0]
    assert commune.get(f"/api/v1/people/{person_id}").status_code == 200
    reader = subtree_client(app, client, p.a["id"], ["hr:read"])
    assert upload(reader, xlsx([row(2)])).status_code == 403


def test_files_refused_as_a_whole(app, api):
    province(api)
    png = upload(api, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "anh.xlsx")
    assert png.status_code == 422 and png.json["code"] == "import_not_spreadsheet"
    assert "không phải bảng tính" in png.json["message"]
    utf16 = upload(api, csv_bytes([row(1)], encoding="utf-16", bom=False), "a.csv")
    assert utf16.json["code"] == "import_encoding" and "UTF-8" in utf16.json["message"]
    big = upload(api, b"a" * (11 * 1024 * 1024), "lon.csv")
    assert big.status_code == 413
    missing = upload(api, csv_bytes([row(1)], headers=["Họ", "Tên"]), "a.csv")
    assert missing.json["code"] == "import_missing_columns"
    assert "Số CCCD" in missing.json["message"]
    assert count(app, Person) == 3


def test_the_template_from_the_api(api):
    xlsx_ = api.get("/api/v1/imports/template")
    assert xlsx_.status_code == 200 and xlsx_.data.startswith(b"PK")
    csv_ = api.get("/api/v1/imports/template?format=csv")
    assert csv_.data.decode("utf-8-sig").startswith("Họ,Tên đệm,Tên")
    assert api.get("/api/v1/imports/template?format=xls").status_code == 422


def test_english_headers_and_iso_dates_are_accepted(api):
    province(api)
    headers = ["family name", "middle name", "given name", "national_id", "date of birth",
               "unit code", "position code", "kind", "start date", "Ghi chú"]  # fmt: skip
    values = ["Lò", "Văn", "Pằn", "001190000011", "1990-03-15", "XA.TAMDUONG", "chuyen_vien",
              "concurrent", "2026-01-01", "không đọc"]  # fmt: skip
    answer = upload(api, csv_bytes([values], headers=headers), "en.csv", dry_run="true").json
    assert answer["ok"], answer["rows"]
    assert answer["unknown_headers"] == ["Ghi chú"]
