"""The import in a real browser (Chromium, Playwright), start to finish: a commune's HR
officer signs in (password + TOTP), uploads a sheet with three bad rows, reads the errors
in Vietnamese, uploads the fixed sheet, confirms, watches the progress page reach done
while the worker converges, and the people are in LDAP. No script, no CSP violation."""

from __future__ import annotations

from sqlalchemy import select

from idhub.models import ImportUpload
from tests.admin.scoping import province
from tests.console.grants import grant
from tests.fixtures.provisioning import BackgroundWorker, entry
from tests.fixtures.sso import sign_in_page
from tests.imports.sheets import row, xlsx
from tests.oidc.test_browser import page  # noqa: F401  (the Chromium tab fixture)


def test_an_officer_imports_a_sheet_fixes_it_and_the_people_reach_ldap(
    app,
    api,
    hub,
    person,
    tmp_path,
    page,  # noqa: F811
):
    p = province(api)
    grant(app, person["id"], "hr_officer", p.a["id"])
    good = [row(1), row(2, unit="XA.TAMDUONG.VP"), row(3)]
    bad = [
        row(1, **{"Số CCCD": "001290000001"}),  # century digit against a 1990 birth
        row(2, unit="XA.SINHO"),  # the neighbouring commune's unit
        row(3, **{"Ngày bắt đầu": "31/02/2026"}),  # no such day
    ]
    (tmp_path / "nhan-su.xlsx").write_bytes(xlsx(bad))
    (tmp_path / "nhan-su-da-sua.xlsx").write_bytes(xlsx(good))

    sign_in_page(page, hub, "/admin/imports?lang=vi", person)

    page.set_input_files("input[name=file]", str(tmp_path / "nhan-su.xlsx"))
    page.click("form button[type=submit]")
    page.wait_for_selector("table.row-errors")
    errors = page.inner_text("table.row-errors")
    assert "không khớp thế kỷ của ngày sinh" in errors
    assert "Đơn vị “XA.SINHO” nằm ngoài phạm vi quản trị của bạn." in errors
    assert "“31/02/2026” không phải ngày hợp lệ" in errors
    assert page.locator("tr.bad").count() == 3
    assert page.locator("#confirm").count() == 0

    page.click("text=Tải lên tệp khác")
    page.set_input_files("input[name=file]", str(tmp_path / "nhan-su-da-sua.xlsx"))
    page.click("form button[type=submit]")
    page.wait_for_selector("#confirm")
    assert "Sẽ tạo 3 người" in page.inner_text("table.will-create >> xpath=..")
    page.fill("input[name=reason]", "QĐ 15/QĐ-UBND")
    with BackgroundWorker(app):
        page.click("#confirm")
        page.wait_for_url("**/progress")
        assert page.locator("progress#converge").count() == 1
        page.wait_for_selector("#done", timeout=60_000)  # the page refreshes itself
    assert "3/3" in page.inner_text("#progress-text")
    with app.extensions["idhub"].db.transaction() as session:
        applied = select(ImportUpload).where(ImportUpload.state == "applied")
        created = session.scalars(applied).one().people
    assert created is not None and len(created) == 3
    for person_id in created:
        found = entry(app, person_id)
        assert found is not None, person_id
        assert found[1]["sn"] == ["Nguyễn"]
    assert page.csp_violations == []
