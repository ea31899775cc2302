"""Change sets at the console: a province administrator creates one (form or CSV), checks,
previews per person, applies and follows it to the directory; errors stay on the form
with nothing written; a commune's officer drafts within their commune only."""

from __future__ import annotations

import csv
import io
import re

from tests.console.grants import grant
from tests.console.ops import DECISION, csrf, merge_form, province_tree
from tests.fixtures.provisioning import drain, entry, make_worker


def _count(app) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from idhub.models import ChangeSet

    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(ChangeSet)) or 0


def test_province_admin_creates_checks_previews_applies_and_follows(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province, district, communes, people, head = province_tree(api)
    drain(app)
    before = entry(app, people[0]["id"])[0]
    form = browser.get(hub + "/admin/changesets/new?lang=vi")
    assert form.status_code == 200 and "Sáp nhập" in form.text
    created = browser.post(
        hub + "/admin/changesets/new", data=merge_form(csrf(form.text)), allow_redirects=False
    )
    assert created.status_code == 303, created.text
    page_url = hub + created.headers["Location"]
    page = browser.get(page_url + "?check=1&lang=vi")
    assert "Không có lỗi" in page.text and "Bản nháp" in page.text

    preview = browser.get(page_url + "/preview")
    assert preview.status_code == 200, preview.text
    assert before in preview.text and "ou=3470,ou=12," in preview.text
    only = browser.get(page_url + "/preview", params={"unit": "3461"})
    assert people[1]["username"] in only.text and people[0]["username"] not in only.text
    by_name = browser.get(page_url + "/preview", params={"q": "lo van an"})  # no accents
    assert people[0]["username"] in by_name.text and people[1]["username"] not in by_name.text
    table = list(csv.DictReader(io.StringIO(browser.get(page_url + "/preview?format=csv").text)))
    assert {r["username"] for r in table} == {people[0]["username"], people[1]["username"]}
    assert all(r["new_dn"].startswith("uid=") for r in table)

    applied = browser.post(
        page_url + "/apply", data={"csrf_token": csrf(page.text)}, allow_redirects=False
    )
    assert applied.status_code == 303 and applied.headers["Location"].endswith("/progress")
    progress = browser.get(hub + applied.headers["Location"] + "?lang=en")
    assert '<meta http-equiv="refresh"' in progress.text and "<progress" in progress.text
    drain(app)
    make_worker(app).target.tidy()
    done = browser.get(hub + applied.headers["Location"] + "?lang=en")
    assert "Converged." in done.text and 'http-equiv="refresh"' not in done.text
    for p in people[:2]:
        assert ",ou=3470,ou=12," in entry(app, p["id"])[0]
    again = browser.post(page_url + "/apply", data={"csrf_token": csrf(page.text)})
    assert again.status_code == 409  # closed: shown on the page, nothing written
    # Every page of these sections in both languages: no message key left untranslated.
    for path in (
        "/admin/changesets",
        "/admin/changesets/new",
        page_url[len(hub) :] + "?check=1",
        page_url[len(hub) :] + "/preview",
        page_url[len(hub) :] + "/progress",
        "/admin/jobs",
        "/admin/reconcile",
        "/admin/guard",
        "/admin/audit",
    ):
        for lang in ("vi", "en"):
            shown = browser.get(hub + path, params={"lang": lang})
            assert shown.status_code == 200, (path, shown.text)
            assert not re.search(r"console\.(changeset|jobs|audit)\.", shown.text), (path, lang)


def test_form_errors_are_shown_and_nothing_is_written(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province_tree(api)
    token = csrf(browser.get(hub + "/admin/changesets/new").text)
    bad = {**merge_form(token, title=""), "into_0": "", "name_0": "", "type_0": ""}
    answer = browser.post(hub + "/admin/changesets/new?lang=vi", data=bad)
    assert answer.status_code == 422
    assert (
        "Tên phương án: Bắt buộc" in answer.text
        and "Dòng 1 · Thành đơn vị: Bắt buộc" in answer.text
    )
    assert 'value="3460; 3461"' in answer.text  # what was typed stays on the form
    no_csrf = browser.post(hub + "/admin/changesets/new", data={**merge_form("wrong")})
    assert no_csrf.status_code == 400
    for data, expected in (
        (b"PK\x03\x04binary", "không phải CSV"),
        ("Thao tác,Ma\nrename,3460\n".encode("latin-1"), "UTF-8"),  # a legacy code page
        ("Loại việc,Đơn vị\nĐổi tên,3460\n".encode(), "Loại việc"),
    ):
        upload = browser.post(
            hub + "/admin/changesets/new?lang=vi",
            data={"csrf_token": token, **DECISION},
            files={"file": ("phuong-an.csv", data, "text/csv")},
        )
        assert upload.status_code == 422 and expected in upload.text, upload.text
    assert _count(app) == 0
    # A failing service rule (an unknown unit in a move) is shown too, nothing written.
    template = browser.get(hub + "/admin/changesets/template.csv")
    assert template.text.lstrip("\ufeff").startswith("Thao tác,Đơn vị,Thành đơn vị")
    sheet = "Thao tác,Đơn vị,Đơn vị cấp trên\nChuyển cấp trên,3462,12\n"
    good = browser.post(
        hub + "/admin/changesets/new",
        data={"csrf_token": token, **DECISION},
        files={"file": ("phuong-an.csv", sheet.encode(), "text/csv")},
        allow_redirects=False,
    )
    assert good.status_code == 303, good.text
    assert _count(app) == 1


def test_a_commune_officer_drafts_within_the_commune_only(app, api, hub, person, browser):
    province, district, communes, people, head = province_tree(api)
    grant(app, person["id"], "hr_officer", communes[0]["id"])
    theirs = api.post(
        "/api/v1/changesets",
        {**DECISION, "operations": [{"op": "rename", "unit": "3461", "name": "UBND xã Mới"}]},
    ).json
    token = csrf(browser.get(hub + "/admin/changesets/new").text)
    outside = browser.post(hub + "/admin/changesets/new?lang=vi", data=merge_form(token))
    assert outside.status_code == 403 and "Ngoài phạm vi quản trị" in outside.text
    rename = {
        "csrf_token": token,
        **DECISION,
        "op_0": "rename",
        "units_0": "3460",
        "name_0": "Ủy ban nhân dân xã Bình Lư mới",
    }
    own = browser.post(hub + "/admin/changesets/new", data=rename, allow_redirects=False)
    assert own.status_code == 303, own.text
    listed = browser.get(hub + "/admin/changesets")
    assert DECISION["title"] in listed.text and theirs["id"] not in listed.text
    assert listed.text.count("/admin/changesets/") - listed.text.count("/admin/changesets/new") == 1
    assert browser.get(hub + f"/admin/changesets/{theirs['id']}").status_code == 404
    assert browser.get(hub + f"/admin/changesets/{theirs['id']}/preview").status_code == 404
    mine = hub + own.headers["Location"]
    refused = browser.post(mine + "/apply?lang=vi", data={"csrf_token": token})
    assert refused.status_code == 403 and "Chỉ quản trị viên cấp tỉnh" in refused.text
    assert re.search(r'class="state">Bản nháp<', browser.get(mine + "?lang=vi").text)
    cancelled = browser.post(mine + "/cancel", data={"csrf_token": token}, allow_redirects=False)
    assert cancelled.status_code == 303
    assert "Đã hủy" in browser.get(mine + "?lang=vi").text


def test_a_future_change_set_is_scheduled_not_applied(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province_tree(api)
    token = csrf(browser.get(hub + "/admin/changesets/new").text)
    later = merge_form(token, effective_date="2099-01-01")
    page_url = (
        hub
        + browser.post(hub + "/admin/changesets/new", data=later, allow_redirects=False).headers[
            "Location"
        ]
    )
    early = browser.post(page_url + "/apply?lang=vi", data={"csrf_token": token})
    assert early.status_code == 409 and "Chưa đến ngày hiệu lực" in early.text
    scheduled = browser.post(page_url + "/schedule?lang=vi", data={"csrf_token": token})
    assert scheduled.status_code == 200 and "Đã hẹn áp dụng vào ngày hiệu lực" in scheduled.text
    assert re.search(r'class="state">Đã hẹn<', scheduled.text)


def test_problems_are_listed_with_their_operation_and_nothing_is_applied(
    app, api, hub, person, browser
):
    grant(app, person["id"], "province_admin")
    province_tree(api)
    cs = api.post(
        "/api/v1/changesets",
        {
            **DECISION,
            "operations": [
                {"op": "merge", "sources": ["3460", "nowhere"], "into": "3461"},
                {"op": "move", "unit": "105", "parent": "3462"},
            ],
        },
    ).json
    page_url = hub + f"/admin/changesets/{cs['id']}"
    checked = browser.get(page_url + "?check=1&lang=vi")
    assert "Phương án có 2 lỗi" in checked.text or "Phương án có 3 lỗi" in checked.text
    problems = re.findall(
        r'<tr class="bad"><td>(\d+)</td><td class="mono">(\w+)</td>', checked.text
    )
    assert ("1", "unknown_unit") in problems and ("2", "unit_cycle") in problems
    refused = browser.post(page_url + "/apply?lang=vi", data={"csrf_token": csrf(checked.text)})
    assert refused.status_code == 422 and "chưa áp dụng gì" in refused.text
    assert api.get(f"/api/v1/changesets/{cs['id']}").json["state"] == "draft"
