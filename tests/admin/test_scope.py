"""Delegated administration (#18): what a subtree-limited client or officer sees and may
change, grants by rule and by hand, and that nobody grants more than they hold."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import select

from idhub.cli import main
from idhub.models import AuditEvent
from tests.admin.scoping import ids, person_api, province, subtree_client
from tests.fixtures.factories import make_assignment, make_person

TODAY = dt.date.today()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()


def test_a_subtree_client_sees_and_counts_only_its_subtree(app, client, admin):
    p = province(admin)
    commune = subtree_client(app, client, p.a["id"])
    people = commune.get("/api/v1/people")
    assert people.status_code == 200
    assert ids(people.json) == {p.in_a["id"], p.in_a1["id"]}
    assert '"total": 2' in people.headers["X-Pagination"]
    assert commune.get("/api/v1/people", query_string={"q": "pao"}).json == []
    assert commune.get(f"/api/v1/people/{p.in_b['id']}").status_code == 404
    assert commune.get(f"/api/v1/people/{p.in_b['id']}").json["code"] == "person_not_found"
    assert ids(commune.get("/api/v1/org-units").json) == {p.a["id"], p.a1["id"]}
    assert commune.get(f"/api/v1/org-units/{p.b['id']}").status_code == 404
    assert ids(commune.get(f"/api/v1/org-units/{p.a1['id']}/ancestors").json) == {p.a["id"]}
    assert p.post_b["id"] not in ids(commune.get("/api/v1/assignments").json)
    assert commune.get(f"/api/v1/assignments/{p.post_b['id']}").status_code == 404
    # The audit trail: events about its people, units and posts only.
    events = commune.get("/api/v1/audit", query_string={"page_size": 1000}).json
    about = {e["object_id"] for e in events}
    assert p.in_a["id"] in about and p.in_b["id"] not in about and p.b["id"] not in about
    # Positions are read by all; the catalogue is the province's.
    assert commune.get("/api/v1/positions").status_code == 200
    refused = commune.post("/api/v1/positions", {"code": "X", "name": "X"})
    assert refused.status_code == 403 and refused.json["code"] == "province_admin_required"
    assert "Ngoài phạm vi" in refused.json["message"] or "tỉnh" in refused.json["message"]


def test_writes_that_would_leave_the_subtree_are_refused(app, client, admin):
    p = province(admin)
    commune = subtree_client(app, client, p.a["id"])
    # A post in another commune, for one of its own people.
    body = {
        "person_id": p.in_a["id"],
        "unit_id": p.b["id"],
        "position_id": p.clerk["id"],
        "kind": "concurrent",
        "start_date": "2025-08-01",
    }
    refused = commune.post("/api/v1/assignments", body)
    assert refused.status_code == 403, refused.json
    assert refused.json["code"] == "outside_admin_scope"
    assert "Outside your administrative scope" in refused.json["message"]
    # Moving a unit out of the subtree; moving the subtree's root at all.
    unit = commune.get(f"/api/v1/org-units/{p.a1['id']}")
    moved = commune.patch(
        f"/api/v1/org-units/{p.a1['id']}", {"parent_id": p.b["id"]}, etag=unit.headers["ETag"]
    )
    assert moved.status_code == 403 and moved.json["code"] == "outside_admin_scope"
    root = commune.get(f"/api/v1/org-units/{p.a['id']}")
    moved = commune.patch(
        f"/api/v1/org-units/{p.a['id']}", {"parent_id": p.a1["id"]}, etag=root.headers["ETag"]
    )
    assert moved.status_code == 403
    # Someone else's staff cannot be posted here, nor changed, nor their post ended.
    body = {**body, "person_id": p.in_b["id"], "unit_id": p.a["id"]}
    assert commune.post("/api/v1/assignments", body).status_code == 403
    ended = commune.post(f"/api/v1/assignments/{p.post_b['id']}/end", {"end_date": "2025-12-31"})
    assert ended.status_code == 404
    batch = {
        "items": [
            {"op": "end_assignment", "id": p.post_b["id"], "data": {"end_date": "2025-12-31"}}
        ]
    }
    assert commune.post("/api/v1/batches", batch).status_code == 404
    # A unit under its own subtree, a joiner recorded by it: both its own.
    made = commune.post(
        "/api/v1/org-units",
        {
            "code": "XA.TAMDUONG.CA",
            "name": "Công an xã",
            "type": "other",
            "valid_from": "2025-07-01",
            "parent_id": p.a["id"],
        },
    )
    assert made.status_code == 201, made.json
    joiner = make_person(commune, family_name="Lý", given_name="Mỷ")
    assert commune.get(f"/api/v1/people/{joiner['id']}").status_code == 200
    assert admin.get(f"/api/v1/people/{joiner['id']}").status_code == 200
    other = subtree_client(app, client, p.b["id"])
    assert other.get(f"/api/v1/people/{joiner['id']}").status_code == 404
    unposted = make_person(admin, family_name="Điêu", given_name="Chính")  # the province's
    assert unposted["id"] not in ids(commune.get("/api/v1/people").json)
    make_assignment(commune, joiner, p.a1, p.clerk)
    assert joiner["id"] in ids(commune.get("/api/v1/people").json)
    # Reorganisations and the guard are the province's.
    assert commune.get("/api/v1/changesets").json == []
    assert commune.post("/api/v1/guard/release", {"reason": "thử"}).status_code == 403


def test_a_post_grants_hr_officer_of_its_commune_while_it_is_held(app, client, admin):
    p = province(admin)
    officer = make_person(admin, family_name="Lò", middle_name="Thị", given_name="Hoa")
    post = make_assignment(admin, officer, p.a, p.hr_post, kind="primary")
    token = person_api(app, client, officer["id"], ["hr:read", "hr:write"])
    listed = token.get("/api/v1/people")
    assert listed.status_code == 200
    assert ids(listed.json) == {p.in_a["id"], p.in_a1["id"], officer["id"]}
    assert token.get(f"/api/v1/people/{p.in_b['id']}").status_code == 404
    mine = token.get("/api/v1/admin-grants/mine").json
    assert mine == [
        {
            "role": "hr_officer",
            "unit_id": p.a["id"],
            "source": "rule",
            "grant_id": None,
            "valid_to": None,
        }
    ]
    admin.post(f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY})
    gone = token.get("/api/v1/people")
    assert gone.status_code == 403 and gone.json["code"] == "insufficient_scope"


def test_hand_grants_are_dated_audited_and_never_more_than_held(app, client, admin):
    p = province(admin)
    chief = make_person(admin, family_name="Hà", middle_name="Văn", given_name="Chiến")
    deputy = make_person(admin, family_name="Lường", middle_name="Thị", given_name="Ánh")
    make_assignment(admin, chief, p.a, p.clerk)
    make_assignment(admin, deputy, p.a1, p.clerk)
    expired = admin.post(
        "/api/v1/admin-grants",
        {
            "person_id": chief["id"],
            "role": "hr_officer",
            "unit_id": p.a["id"],
            "valid_from": "2025-01-01",
            "valid_to": YESTERDAY,
            "reason": "QĐ 1",
        },
    )
    assert expired.status_code == 201, expired.json
    chief_api = person_api(app, client, chief["id"], ["hr:read", "hr:write"])
    assert chief_api.get("/api/v1/people").status_code == 403  # the grant has expired
    grant = admin.post(
        "/api/v1/admin-grants",
        {"person_id": chief["id"], "role": "hr_officer", "unit_id": p.a["id"], "reason": "QĐ 2"},
    ).json
    assert ids(chief_api.get("/api/v1/people").json) == {
        p.in_a["id"],
        p.in_a1["id"],
        chief["id"],
        deputy["id"],
    }
    # The chief passes on what they hold, below; not elsewhere, not another role.
    passed = chief_api.post(
        "/api/v1/admin-grants",
        {"person_id": deputy["id"], "role": "hr_officer", "unit_id": p.a1["id"]},
    )
    assert passed.status_code == 201, passed.json
    for body in (
        {"person_id": deputy["id"], "role": "hr_officer", "unit_id": p.b["id"]},
        {"person_id": deputy["id"], "role": "security_officer", "unit_id": p.a["id"]},
        {"person_id": deputy["id"], "role": "hr_officer"},  # the whole province
    ):
        refused = chief_api.post("/api/v1/admin-grants", body)
        assert refused.status_code == 403, (body, refused.json)
        assert refused.json["code"] == "grant_exceeds_own"
    deputy_api = person_api(app, client, deputy["id"], ["hr:read"])
    assert ids(deputy_api.get("/api/v1/people").json) == {p.in_a1["id"], deputy["id"]}
    # Revoked: the deputy's access goes at once; the B commune cannot even see the grant.
    other = subtree_client(app, client, p.b["id"])
    assert other.get(f"/api/v1/admin-grants/{passed.json['id']}").status_code == 404
    revoked = chief_api.post(f"/api/v1/admin-grants/{passed.json['id']}/revoke", {"reason": "hết"})
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert deputy_api.get("/api/v1/people").status_code == 403
    hub = app.extensions["idhub"]
    with hub.db.session(write=False) as session:
        actions = list(
            session.execute(
                select(AuditEvent.action, AuditEvent.actor_id).where(
                    AuditEvent.object_type == "admin_grant"
                )
            )
        )
    assert ("admin_grant.create", chief["id"]) in actions
    assert ("admin_grant.revoke", chief["id"]) in actions
    assert sum(a == "admin_grant.create" for a, _ in actions) == 3
    assert grant["granted_by"].startswith("client:")


def test_security_officer_and_auditor_read_but_do_not_write(app, client, admin):
    p = province(admin)
    officer = make_person(admin, family_name="Sùng", middle_name="A", given_name="Tủa")
    make_assignment(admin, officer, p.a, p.clerk)
    for role in ("security_officer", "auditor"):
        admin.post(
            "/api/v1/admin-grants",
            {"person_id": officer["id"], "role": role, "unit_id": p.a["id"]},
        )
    token = person_api(app, client, officer["id"])
    assert p.in_a["id"] in ids(token.get("/api/v1/people").json)
    assert token.get("/api/v1/audit").status_code == 200
    refused = token.post("/api/v1/positions", {"code": "Y", "name": "Y"})
    assert refused.status_code == 403 and refused.json["code"] == "insufficient_scope"
    reset = token.post(f"/api/v1/people/{p.in_b['id']}/access-reset", {"reason": "mất máy"})
    assert reset.status_code == 404


def test_the_command_line_grants_lists_and_revokes(app, admin, settings, monkeypatch):
    p = province(admin)
    person = admin.get(f"/api/v1/people/{p.in_a['id']}").json
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    runner = CliRunner()
    out = runner.invoke(
        main,
        [
            "admin",
            "grant",
            "--person",
            person["username"],
            "--role",
            "auditor",
            "--unit",
            "XA.TAMDUONG",
            "--to",
            "2030-12-31",
            "--reason",
            "QĐ 5",
        ],
    )
    assert out.exit_code == 0, out.output
    grant_id = out.output.strip()
    listing = runner.invoke(main, ["admin", "list", "--unit", "XA.TAMDUONG"])
    assert grant_id in listing.output and "auditor" in listing.output
    roles = runner.invoke(main, ["admin", "roles", person["username"]])
    assert "auditor" in roles.output and "XA.TAMDUONG" in roles.output
    revoked = runner.invoke(main, ["admin", "revoke", grant_id, "--reason", "hết hạn"])
    assert revoked.exit_code == 0, revoked.output
    assert grant_id not in runner.invoke(main, ["admin", "list"]).output
    made = runner.invoke(
        main,
        [
            "client",
            "create",
            "--name",
            "Nhân sự xã",
            "--scope",
            "hr:read",
            "--subtree",
            "XA.TAMDUONG",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output


def test_an_officer_drafts_change_sets_in_the_subtree_the_province_applies(app, client, admin):
    p = province(admin)
    commune = subtree_client(app, client, p.a["id"])
    decision = {
        "title": "Đổi tên văn phòng",
        "decision_number": "7/QĐ-UBND",
        "decision_date": "2025-06-16",
        "decision_issuer": "UBND xã Tam Đường",
        "effective_date": "2025-07-01",
    }
    rename = {"op": "rename", "unit": "XA.TAMDUONG.VP", "name": "Văn phòng HĐND và UBND xã"}
    draft = commune.post("/api/v1/changesets", {**decision, "operations": [rename]})
    assert draft.status_code == 201, draft.json
    assert ids(commune.get("/api/v1/changesets").json) == {draft.json["id"]}
    other = subtree_client(app, client, p.b["id"])
    assert other.get("/api/v1/changesets").json == []
    assert other.get(f"/api/v1/changesets/{draft.json['id']}").status_code == 404
    outside = {"op": "rename", "unit": "XA.SINHO", "name": "Xã khác"}
    refused = commune.post("/api/v1/changesets", {**decision, "operations": [outside]})
    assert refused.status_code == 403 and refused.json["code"] == "outside_admin_scope"
    applied = commune.post(f"/api/v1/changesets/{draft.json['id']}/apply")
    assert applied.status_code == 403 and applied.json["code"] == "province_admin_required"
    assert admin.post(f"/api/v1/changesets/{draft.json['id']}/apply").status_code == 200
    about = {e["object_id"] for e in commune.get("/api/v1/audit").json}
    assert draft.json["id"] in about
