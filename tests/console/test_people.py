"""People, a person's page and units at the console: what an officer of commune A sees,
and that commune B's people are not listed, counted, searchable or reachable (404)."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import parse_qs

import pytest

from tests.console.communes import Communes, two_communes


@pytest.fixture
def communes(app, api, person) -> Communes:
    return two_communes(app, api, person)


def test_the_list_holds_the_officers_commune_only(hub, browser, communes):
    page = browser.get(hub + "/admin/people?lang=vi")
    assert page.status_code == 200, page.text
    assert "Trần Văn Bình" in page.text
    assert "Lê Thị Cúc" not in page.text
    assert "1 người" in page.text  # counted: commune A's one person, nobody of B


def test_search_ignores_accents_and_stays_in_scope(hub, browser, communes):
    found = browser.get(hub + "/admin/people", params={"q": "tran van binh"})
    assert "Trần Văn Bình" in found.text
    for q in ("le thi cuc", communes.cuc["national_id"], communes.cuc["username"]):
        page = browser.get(hub + "/admin/people", params={"q": q, "lang": "vi"})
        assert page.status_code == 200
        assert "Lê Thị Cúc" not in page.text
        assert "0 người" in page.text
    by_cccd = browser.get(hub + "/admin/people", params={"q": communes.binh["national_id"]})
    assert "Trần Văn Bình" in by_cccd.text
    by_username = browser.get(hub + "/admin/people", params={"q": communes.binh["username"]})
    assert "Trần Văn Bình" in by_username.text
    by_unit = browser.get(hub + "/admin/people", params={"unit": "xa.an"})
    assert "Trần Văn Bình" in by_unit.text
    other_unit = browser.get(hub + "/admin/people", params={"unit": "XA.BAC", "lang": "vi"})
    assert "Lê Thị Cúc" not in other_unit.text


def test_the_language_links_keep_the_search(hub, browser, communes):
    """Switching language on a search keeps what was searched (q, unit), lang replaced."""
    found = browser.get(
        hub + "/admin/people", params={"q": "trần văn", "unit": "xa.an", "lang": "vi"}
    )
    assert 'lang="vi"' in found.text and "Trần Văn Bình" in found.text
    href = re.search(r'<a href="([^"]*)" hreflang="en">', found.text)
    assert href is not None
    link = html.unescape(href.group(1))
    assert link.startswith("?") and parse_qs(link[1:]) == {
        "q": ["trần văn"],
        "unit": ["xa.an"],
        "lang": ["en"],
    }
    english = browser.get(hub + "/admin/people" + link)
    assert 'lang="en"' in english.text and "Trần Văn Bình" in english.text
    assert 'value="trần văn"' in english.text  # the search box still holds the query


def test_a_persons_page_in_scope_and_404_outside(hub, browser, communes):
    page = browser.get(hub + f"/admin/people/{communes.binh['id']}?lang=vi")
    assert page.status_code == 200, page.text
    for text in (
        "Hồ sơ nhân sự",
        communes.binh["national_id"],
        "Công chức văn phòng",
        "UBND xã An Bình",
        "ldap",
    ):
        assert text in page.text
    assert browser.get(hub + f"/admin/people/{communes.cuc['id']}").status_code == 404


def test_units_tree_and_unit_page(hub, browser, communes):
    tree = browser.get(hub + "/admin/units?lang=vi")
    assert tree.status_code == 200
    assert "XA.AN" in tree.text and "XA.BAC" not in tree.text
    unit = browser.get(hub + f"/admin/units/{communes.a['id']}?lang=vi")
    assert unit.status_code == 200
    assert "Trần Văn Bình" in unit.text and "Lịch sử sắp xếp" in unit.text
    assert browser.get(hub + f"/admin/units/{communes.b['id']}").status_code == 404


def test_home_lists_what_needs_attention_in_scope(app, hub, browser, communes):
    from idhub.engine.drift import remember
    from idhub.models import JobState, ProvisioningJob

    hub_ = app.extensions["idhub"]
    with hub_.db.transaction() as session:
        for who, state, reason, error in (
            (communes.binh, JobState.FAILED, "test", "lỗi của xã An"),
            (communes.cuc, JobState.FAILED, "test", "lỗi của xã Bắc"),
            (communes.binh, JobState.HELD, "person changed", "giữ lại ở xã An"),
            (communes.cuc, JobState.HELD, "person changed", "giữ lại ở xã Bắc"),
        ):
            session.add(
                ProvisioningJob(
                    subject_id=uuid.UUID(who["id"]),
                    target={JobState.FAILED: "ldap", JobState.HELD: "mail"}.get(state, "events"),
                    state=state,
                    reason=reason,
                    last_error=error,
                )
            )
        remember(  # as a reconcile does
            session,
            {
                "people": 2,
                "in_sync": 0,
                "drift": {"attributes": 2},
                "drifted": [
                    {"person_id": who["id"], "dn": f"uid={dn}", "drift": ["attributes"]}
                    for who, dn in ((communes.binh, "lech.xa.an"), (communes.cuc, "lech.xa.bac"))
                ],
                "orphans": [],
            },
        )
    page = browser.get(hub + "/admin?lang=vi")
    assert page.status_code == 200, page.text
    assert "Cần chú ý" in page.text
    assert "uid=lech.xa.an" in page.text and "lech.xa.bac" not in page.text
    for mine in ("lỗi của xã An", "giữ lại ở xã An"):
        assert mine in page.text
    assert "xã Bắc" not in page.text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_is_translated(hub, browser, communes, lang):
    paths = [
        "/admin",
        "/admin/people",
        f"/admin/people/{communes.binh['id']}",
        "/admin/units",
        f"/admin/units/{communes.a['id']}",
        "/admin/people/new",
        f"/admin/people/{communes.binh['id']}/posts/new",
        f"/admin/people/{communes.binh['id']}/leave",
    ]
    for path in paths:
        page = browser.get(hub + path, params={"lang": lang})
        assert page.status_code == 200, (path, page.status_code)
        # a message key shown as is
        assert not re.search(r"console\.(home|people|units|title|nav)\.", page.text), path
        assert "admin.role." not in page.text, path


def test_a_province_administrator_sees_every_commune(app, api, hub, browser, person):
    from tests.console.grants import grant

    found = two_communes(app, api, person, role="auditor")
    grant(app, person["id"], "province_admin")
    page = browser.get(hub + "/admin/people", params={"q": "thi", "lang": "vi"})
    assert "Lê Thị Cúc" in page.text and "Đặng Thị Ánh" in page.text
    assert browser.get(hub + f"/admin/people/{found.cuc['id']}").status_code == 200
    tree = browser.get(hub + "/admin/units")
    assert "XA.AN" in tree.text and "XA.BAC" in tree.text
