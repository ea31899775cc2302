"""A province administrator in a real browser (Chromium, driven by Playwright): signs in
with password and TOTP, drafts a change set merging two communes, checks it, previews it
per person (old → new DN), applies it and watches the progress page until the worker has
moved the LDAP entries. No inline script, no CSP violation."""

from __future__ import annotations

from tests.console.grants import grant
from tests.console.ops import DECISION, province_tree
from tests.fixtures.provisioning import BackgroundWorker, drain, entry
from tests.fixtures.sso import sign_in_page
from tests.oidc.test_browser import page  # noqa: F401  (the Chromium tab fixture)


def test_province_admin_merges_two_communes_in_a_browser(app, api, hub, person, page):  # noqa: F811
    grant(app, person["id"], "province_admin")
    province, district, communes, people, head = province_tree(api)
    drain(app)
    old_dn = entry(app, people[0]["id"])[0]

    sign_in_page(page, hub, "/admin/changesets/new?lang=vi", person, "**/admin/changesets/new**")

    for name in ("title", "decision_number", "decision_issuer"):
        page.fill(f"input[name={name}]", DECISION[name])
    page.fill("input[name=decision_date]", DECISION["decision_date"])
    page.fill("input[name=effective_date]", DECISION["effective_date"])
    page.select_option("select[name=op_0]", "merge")
    page.fill("input[name=units_0]", "3460; 3461")
    page.fill("input[name=into_0]", "3470")
    page.fill("input[name=name_0]", "Ủy ban nhân dân xã Bình Lư")
    page.select_option("select[name=type_0]", "commune_committee")
    page.fill("input[name=parent_0]", "12")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("dd.state")
    assert page.inner_text("dd.state") == "Bản nháp"

    page.click("text=Kiểm tra")
    assert "Không có lỗi" in page.inner_text("section.check")

    page.click("text=Xem trước từng người")
    page.wait_for_selector("table.preview")
    olds = page.locator("table.preview span.old").all_inner_texts()
    news = page.locator("table.preview span.new").all_inner_texts()
    assert old_dn in olds
    moved = news[olds.index(old_dn)]
    assert ",ou=3470,ou=12," in moved and moved != old_dn
    page.go_back()

    with BackgroundWorker(app):
        page.click("button[value=apply]")
        page.wait_for_url("**/progress")
        assert page.locator("progress").count() == 1
        page.wait_for_selector("p.converged", timeout=90_000)  # the page refreshes itself
    assert page.inner_text("dd.pending") == "0"
    assert page.inner_text("dd.done") == page.inner_text("dd.people")
    for p in people[:2]:
        assert ",ou=3470,ou=12," in entry(app, p["id"])[0]
    assert page.csp_violations == []
