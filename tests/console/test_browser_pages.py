"""Each kind of console page once in Chromium (Playwright), as a province administrator:
no console error, no CSP violation (the `securitypolicyviolation` event and the console's
report), and usable on a 375 px phone: the page itself never scrolls sideways (a wide
table scrolls inside its own box, by design)."""

from __future__ import annotations

import pytest

from tests.console.communes import two_communes
from tests.console.crawl import UUID, crawl
from tests.console.grants import grant
from tests.console.ops import csrf, merge_form, province_tree
from tests.fixtures.provisioning import drain
from tests.fixtures.sso import PASSWORD, code_at
from tests.oidc.test_browser import CHROMIUM, sync_playwright

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  e => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""
# What a page must not do at 375 px: be wider than the screen.
WIDER = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def phone():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = chromium.new_context(locale="vi-VN", viewport={"width": 375, "height": 740})
        context.add_init_script(WATCH)
        tab = context.new_page()
        tab.errors = []
        tab.on(
            "console",
            lambda m: m.type == "error" and tab.errors.append(f"{m.text} {m.location['url']}"),
        )
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.on(
            "response",
            lambda r: r.status >= 400 and tab.errors.append(f"{r.status} {r.url}"),
        )
        yield tab
        chromium.close()


def _kinds(urls: list[str]) -> list[str]:
    """One page of each kind: a person's page stands for every person's."""
    seen: dict[str, str] = {}
    for url in sorted(urls):
        kind = UUID.sub("<id>", url.split("?")[0])
        kind = "/".join("<n>" if part.isdigit() else part for part in kind.split("/"))
        seen.setdefault(kind, url)
    return sorted(seen.values())


def test_every_kind_of_page_in_chromium_on_a_phone(app, api, hub, person, browser, phone):
    two_communes(app, api, person)
    grant(app, person["id"], "province_admin")
    province_tree(api)
    form = browser.get(hub + "/admin/changesets/new")
    made = browser.post(
        hub + "/admin/changesets/new", data=merge_form(csrf(form.text)), allow_redirects=False
    )
    assert made.status_code == 303, made.text
    drain(app)
    pages = [u for u, status in crawl(browser, hub, "vi").pages.items() if status == 200]
    kinds = _kinds(pages)
    assert len(kinds) >= 15, kinds

    phone.goto(hub + "/admin?lang=vi")
    phone.fill("input[name=username]", person["username"])
    phone.fill("input[name=password]", PASSWORD)
    phone.click("button[type=submit]")
    # the next step's code: the requests sign-in spent this step's, and codes are one-time
    phone.fill("input[name=code]", code_at(person["secret"], 1))
    phone.click("button[type=submit]")
    phone.wait_for_url(hub + "/admin?lang=vi")
    phone.errors.clear()  # the sign-in pages' own (their favicon request): not the console's

    problems = []
    for url in kinds:
        response = phone.goto(hub + url)
        assert response is not None
        if response.status != 200:
            problems.append(f"{url}: HTTP {response.status}")
            continue
        violations = phone.evaluate("window.__violations")
        if violations:
            problems.append(f"{url}: CSP {violations}")
        wider = phone.evaluate(WIDER)
        if wider > 0:
            problems.append(f"{url}: {wider}px wider than a 375px screen")
    problems += [f"console: {e}" for e in phone.errors]
    assert problems == [], "\n".join(problems)
