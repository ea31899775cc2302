"""Every console page reachable by links, as a province administrator and as a commune's
HR officer, in Vietnamese and English: no error page, no raw message key, no "None" for a
missing value, the console's headers, CSRF on every POST form, a label on every field,
the page's language; the officer's links never lead to another commune's person or unit."""

from __future__ import annotations

import re

import pytest

from tests.console.communes import two_communes
from tests.console.crawl import UUID, crawl
from tests.console.grants import grant
from tests.console.ops import csrf, merge_form, province_tree
from tests.fixtures.provisioning import drain


def _province_admin(app, api, hub, person, browser):  # type: ignore[no-untyped-def]
    communes = two_communes(app, api, person)
    grant(app, person["id"], "province_admin")
    province_tree(api)
    form = browser.get(hub + "/admin/changesets/new")
    created = browser.post(
        hub + "/admin/changesets/new", data=merge_form(csrf(form.text)), allow_redirects=False
    )
    assert created.status_code == 303, created.text
    drain(app)
    return communes


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_province_admin_crawl(app, api, hub, person, browser, lang):
    _province_admin(app, api, hub, person, browser)
    found = crawl(browser, hub, lang)
    assert len(found.pages) > 15, found.pages
    assert any(p.startswith("/admin/changesets/") for p in found.pages), found.pages
    assert found.problems == [], "\n".join(found.problems)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_commune_officer_crawl_stays_in_the_commune(app, api, hub, person, browser, lang):
    communes = two_communes(app, api, person)
    drain(app)
    found = crawl(browser, hub, lang)
    assert any(p.startswith("/admin/people/") for p in found.pages), found.pages
    assert found.problems == [], "\n".join(found.problems)
    outside = {communes.b["id"], communes.cuc["id"]}
    leaks = [link for link in found.links if set(UUID.findall(link)) & outside]
    assert leaks == []
    assert not any(re.search(r"Lê Thị Cúc|XA\.BAC", p) for p in found.pages)
