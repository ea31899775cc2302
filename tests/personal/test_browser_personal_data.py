"""The personal-data section in a real browser (Chromium via Playwright): an officer's
API read shows up, then the person downloads their data (a file, no inline script, no CSP
violation)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.sso import sign_in_page
from tests.oidc.test_browser import page  # noqa: F401  (the Chromium tab fixture)


def test_who_saw_my_data_and_download_it_in_a_browser(app, api, hub, person, page):  # noqa: F811
    assert api.get(f"/api/v1/people/{person['id']}").status_code == 200
    sign_in_page(page, hub, "/account/personal-data", person)
    row = page.locator("table.reads tbody tr")
    assert row.count() == 1
    assert "Giao diện lập trình (API)" in row.inner_text()
    assert "Số CCCD" in row.inner_text()
    with page.expect_download() as download:
        page.click("form button[type=submit]")
    saved = download.value
    assert saved.suggested_filename.startswith("idhub-personal-data-")
    assert saved.suggested_filename.endswith(".jws")
    assert Path(saved.path()).read_text(encoding="ascii").count(".") == 2
    assert page.csp_violations == []
