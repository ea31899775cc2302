"""The audit trail at the console: search by person, actor, action and local dates, an
event's before → after, the chain verified by the province, exports with safe cells;
an auditor of a commune reads the events of their commune only."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from zoneinfo import ZoneInfo

from sqlalchemy import select

from idhub.console.audit import safe_cell, utc_start
from idhub.models import AuditEvent
from tests.console.grants import grant
from tests.console.ops import DECISION, csrf, province_tree

TODAY = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def _event_id(app, action: str, object_id: str) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.action == action, AuditEvent.object_id == object_id
            )
        )


def test_search_event_verify_and_export(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province, district, communes, people, head = province_tree(api)
    renamed = api.patch_fresh(f"/api/v1/org-units/{communes[2]['id']}", {"name": "UBND xã Bản Bo"})
    assert renamed.status_code == 200, renamed.json
    by_person = browser.get(hub + "/admin/audit", params={"person": people[0]["username"]})
    assert "person.create" in by_person.text and "org_unit.create" not in by_person.text
    family = browser.get(hub + "/admin/audit", params={"action": "org_unit.", "lang": "vi"})
    assert "org_unit.create" in family.text and "org_unit.update" in family.text
    today = browser.get(
        hub + "/admin/audit", params={"action": "org_unit.update", "since": TODAY.isoformat()}
    )
    assert "org_unit.update" in today.text
    before = browser.get(
        hub + "/admin/audit",
        params={"action": "org_unit.update", "until": (TODAY - dt.timedelta(days=1)).isoformat()},
    )
    assert "org_unit.update</td>" not in before.text
    bad = browser.get(hub + "/admin/audit", params={"since": "31/12/2026", "lang": "vi"})
    assert bad.status_code == 422 and "ngày không hợp lệ" in bad.text

    event = _event_id(app, "org_unit.update", communes[2]["id"])
    page = browser.get(hub + f"/admin/audit/{event}")
    assert page.status_code == 200
    changed = re.search(r'<tr class="bad changed"><td class="mono">name</td>(.*?)</tr>', page.text)
    assert changed and "Ủy ban nhân dân xã Bản Bo" in changed.group(1)
    assert "UBND xã Bản Bo" in changed.group(1)

    verified = browser.post(
        hub + "/admin/audit/verify?lang=vi", data={"csrf_token": csrf(by_person.text)}
    )
    assert verified.status_code == 200 and "Chuỗi nhật ký nguyên vẹn" in verified.text

    # A reason a spreadsheet would run as a formula is exported as text.
    cs = api.post(
        "/api/v1/changesets",
        {
            **DECISION,
            "decision_number": "=1+1",
            "operations": [{"op": "rename", "unit": "3462", "name": "Bản Bo"}],
        },
    ).json
    cancelled = browser.post(
        hub + f"/admin/changesets/{cs['id']}/cancel",
        data={"csrf_token": csrf(by_person.text)},
        allow_redirects=False,
    )
    assert cancelled.status_code == 303
    by_actor = browser.get(hub + "/admin/audit", params={"actor": person["username"]})
    assert "changeset.cancel" in by_actor.text and "org_unit.update" not in by_actor.text
    exported = browser.get(hub + "/admin/audit/export.csv", params={"action": "changeset.cancel"})
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 1 and rows[0]["reason"].startswith("'=1+1")
    lines = browser.get(hub + "/admin/audit/export.jsonl", params={"action": "org_unit."}).text
    records = [json.loads(line) for line in lines.splitlines()]
    assert {r["action"] for r in records} == {"org_unit.create", "org_unit.update"}


def test_local_days_and_safe_cells():
    assert utc_start(dt.date(2026, 12, 5)) == dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)
    assert [safe_cell(v) for v in ("=A1", "+1", "-1", "@x", "Bình", None)] == [
        "'=A1",
        "'+1",
        "'-1",
        "'@x",
        "Bình",
        "",
    ]


def test_a_commune_auditor_reads_their_commune_only(app, api, hub, person, browser):
    province, district, communes, people, head = province_tree(api)
    grant(app, person["id"], "auditor", communes[0]["id"])
    listed = browser.get(hub + "/admin/audit", params={"action": "person.create"})
    assert listed.status_code == 200
    mine = _event_id(app, "person.create", people[0]["id"])
    theirs = _event_id(app, "person.create", people[1]["id"])
    assert f'/admin/audit/{mine}"' in listed.text and f'/admin/audit/{theirs}"' not in listed.text
    assert browser.get(hub + f"/admin/audit/{theirs}").status_code == 404
    assert browser.get(hub + f"/admin/audit/{mine}").status_code == 200
    exported = browser.get(hub + "/admin/audit/export.jsonl").text
    assert people[0]["id"] in exported and people[1]["id"] not in exported
    # No form carries the verify button for an auditor of a commune; posting it anyway:
    token = re.search(r'name="csrf_token" value="([^"]+)"', listed.text)
    assert token is None
    refused = browser.post(hub + "/admin/audit/verify?lang=vi", data={"csrf_token": "x"})
    assert refused.status_code == 400  # no valid CSRF token: stopped before anything


def test_province_only_verify_is_refused_with_a_message(app, api, hub, person, browser):
    province, district, communes, people, head = province_tree(api)
    grant(app, person["id"], "auditor", communes[0]["id"])
    grant(app, person["id"], "hr_officer", communes[0]["id"])  # for a form with a token
    token = csrf(browser.get(hub + "/admin/changesets/new").text)
    refused = browser.post(hub + "/admin/audit/verify?lang=vi", data={"csrf_token": token})
    assert refused.status_code == 403 and "Chỉ quản trị viên cấp tỉnh" in refused.text


def test_an_hr_officer_without_audit_read_is_refused_the_audit_pages(
    app, api, hub, person, browser
):
    province, district, communes, people, head = province_tree(api)
    grant(app, person["id"], "hr_officer", communes[0]["id"])
    home = browser.get(hub + "/admin")
    assert "/admin/audit" not in home.text and "/admin/changesets" in home.text
    assert browser.get(hub + "/admin/audit").status_code == 403
    assert browser.get(hub + "/admin/audit/export.csv").status_code == 403


def test_a_sealed_value_shows_that_it_changed_not_what_it_was(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    made = api.post(
        "/api/v1/people",
        {
            "national_id": "001090012345",
            "date_of_birth": "1990-05-01",
            "family_name": "Nguyễn",
            "given_name": "An",
        },
    ).json
    fixed = api.patch_fresh(
        f"/api/v1/people/{made['id']}", {"national_id": "001090054321", "given_name": "Ân"}
    )
    assert fixed.status_code == 200, fixed.json
    created = browser.get(
        hub + f"/admin/audit/{_event_id(app, 'person.create', made['id'])}?lang=vi"
    ).text
    row = re.search(r'<td class="mono">national_id</td>(.*?)</tr>', created)
    assert row and "(đã niêm phong)" in row.group(1)
    page = browser.get(hub + f"/admin/audit/{_event_id(app, 'person.update', made['id'])}")
    row = re.search(r'<td class="mono">national_id</td>(.*?)</tr>', page.text)
    assert row and row.group(1).count("(đã niêm phong, đã thay đổi)") == 2
    assert "Ân" in page.text  # what is not sealed still shows as it is
    english = browser.get(
        hub + f"/admin/audit/{_event_id(app, 'person.update', made['id'])}?lang=en"
    )
    assert "(sealed, changed)" in english.text
    for text in (created, page.text):
        assert "0010900" not in text and "1990-05-01" not in text
