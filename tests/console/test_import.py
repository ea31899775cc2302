"""The console's import, as an officer's browser drives it (no script): upload, preview
with every row's errors in Vietnamese, confirm exactly what was previewed, progress."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from idhub.models import ImportUpload, Person
from tests.admin.scoping import province
from tests.console.grants import grant
from tests.fixtures.factories import make_person
from tests.fixtures.sso import form_fields
from tests.imports.sheets import csv_bytes, row, xlsx


def people(app) -> int:
    with app.extensions["idhub"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Person))


def officer(app, api, person) -> None:
    p = province(api)
    grant(app, person["id"], "hr_officer", p.a["id"])


def send(browser, hub, data: bytes, name: str = "nhan-su.xlsx", csrf: str | None = None):
    page = browser.get(hub + "/admin/imports?lang=vi")
    token = form_fields(page.text)["csrf_token"] if csrf is None else csrf
    return browser.post(
        hub + "/admin/imports",
        data={"csrf_token": token},
        files={"file": (name, io.BytesIO(data))},
    )


def test_the_page_offers_the_template_and_lists_the_columns(app, api, hub, person, browser):
    officer(app, api, person)
    page = browser.get(hub + "/admin/imports?lang=vi")
    assert page.status_code == 200, page.text
    assert "Nhập nhân sự từ bảng tính" in page.text and "Số CCCD" in page.text
    template = browser.get(hub + "/admin/imports/template.xlsx")
    assert template.content.startswith(b"PK")
    assert "attachment" in template.headers["Content-Disposition"]
    assert "Nhập từ bảng tính" in browser.get(hub + "/admin?lang=vi").text  # in the nav


def test_bad_rows_are_shown_per_row_and_column_and_nothing_is_written(
    app, api, hub, person, browser
):
    officer(app, api, person)
    before = people(app)
    rows = [
        row(1),
        row(2, unit="XA.SINHO"),  # another commune
        row(3, **{"Số CCCD": "001190000001"}),  # row 2's CCCD
        row(4, unit="=1+2", **{"Ngày sinh": "32/13/1990"}),  # a formula, as text
    ]
    response = send(browser, hub, csv_bytes(rows), "nhan-su.csv")
    assert response.status_code == 200 and "/admin/imports/" in response.url
    text = response.text
    assert "3 dòng có lỗi" in text and "Không có đơn vị mã “=1+2”." in text
    assert "Đơn vị “XA.SINHO” nằm ngoài phạm vi quản trị của bạn." in text
    assert "Trùng với dòng 2 của tệp." in text
    assert "không phải ngày hợp lệ" in text
    assert 'data-row="3" data-column="unit_code"' in text
    assert 'id="confirm"' not in text  # nothing to confirm while a row is wrong
    report = browser.get(response.url + "/errors.csv")
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Dòng / Row")
    assert any(",'=1+2," in line for line in lines)  # inert when opened in a spreadsheet
    assert people(app) == before


def test_confirm_applies_exactly_the_preview_once(app, api, hub, person, browser):
    officer(app, api, person)
    before = people(app)
    response = send(browser, hub, xlsx([row(1), row(2, unit="XA.TAMDUONG.VP")]))
    assert "Sẽ tạo 2 người" in response.text, response.text
    fields = form_fields(response.text)
    confirm_url = response.url + "/confirm"
    wrong = browser.post(confirm_url, data={**fields, "digest": "0" * 64})
    assert wrong.status_code == 404 and people(app) == before
    no_csrf = browser.post(confirm_url, data={"digest": fields["digest"]})
    assert no_csrf.status_code == 400 and people(app) == before
    done = browser.post(confirm_url, data={**fields, "reason": "QĐ 9/QĐ-UBND"})
    assert done.status_code == 200 and done.url.endswith("/progress"), done.text
    assert people(app) == before + 2
    assert "<progress" in done.text and 'http-equiv="refresh"' in done.text  # no worker yet
    again = browser.post(confirm_url, data=fields)
    assert again.status_code == 404 and people(app) == before + 2
    with app.extensions["idhub"].db.transaction() as session:
        upload = session.scalars(select(ImportUpload)).one()
        assert upload.state == "applied" and upload.rows is None and len(upload.people) == 2


def test_confirm_checks_again_against_the_database(app, api, hub, person, browser):
    officer(app, api, person)
    response = send(browser, hub, xlsx([row(1), row(2)]))
    fields = form_fields(response.text)
    make_person(api, national_id="001190000002", date_of_birth="1990-03-15")  # meanwhile
    before = people(app)
    changed = browser.post(response.url + "/confirm", data=fields)
    assert changed.status_code == 409
    assert "Dữ liệu đã thay đổi từ lúc kiểm tra" in changed.text
    assert "Số CCCD này đã có người khác trong hệ thống." in changed.text
    assert people(app) == before


def test_refused_files_get_a_clear_message(app, api, hub, person, browser):
    officer(app, api, person)
    png = send(browser, hub, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "anh.xlsx")
    assert png.status_code == 422 and "không phải bảng tính" in png.text
    cp = send(browser, hub, "Họ,Tên\r\nLê,Văn\r\n".encode("utf-16"), "a.csv")
    assert cp.status_code == 422 and "UTF-8" in cp.text
    big = send(browser, hub, b"a" * (11 * 1024 * 1024), "lon.csv")
    assert big.status_code == 413 and "Tệp lớn hơn 10 MB." in big.text
    forged = send(browser, hub, xlsx([row(1)]), csrf="forged")
    assert forged.status_code == 400
    assert not re.search(r"/admin/imports/[0-9a-f-]{36}", forged.url)


def test_another_persons_upload_is_not_found(app, api, hub, person, browser):
    officer(app, api, person)
    response = send(browser, hub, xlsx([row(1)]))
    with app.extensions["idhub"].db.transaction() as session:
        upload = session.scalars(select(ImportUpload)).one()
        upload.person_id = upload.id  # someone else's
    assert browser.get(response.url).status_code == 404
    assert browser.get(hub + "/admin/imports/not-a-uuid").status_code == 404
