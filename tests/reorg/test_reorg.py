"""Reorganisation change sets against the real directory: check, preview, apply, converge."""

from __future__ import annotations

import csv
import io
import json

import ldap
import pytest

from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.provisioning import directory, drain, entry, groups_of, make_worker

DECISION = {
    "title": "Sắp xếp đơn vị hành chính cấp xã tỉnh Lai Châu",
    "decision_number": "1670/NQ-UBTVQH15",
    "decision_date": "2025-06-16",
    "decision_issuer": "Ủy ban Thường vụ Quốc hội",
    "effective_date": "2025-07-01",
}


def _tree(api):
    """A province with one district and three communes under it; one staff member each."""
    province = make_unit(
        api,
        code="12",
        name="Ủy ban nhân dân tỉnh Lai Châu",
        type="province_committee",
        mail_domain="laichau.gov.vn",
    )
    district = make_unit(
        api,
        code="105",
        name="Ủy ban nhân dân huyện Tam Đường",
        type="district_committee",
        parent_id=province["id"],
        valid_from="2020-01-01",
    )
    communes = [
        make_unit(
            api,
            code=code,
            name=f"Ủy ban nhân dân xã {name}",
            parent_id=district["id"],
            valid_from="2020-01-01",
        )
        for code, name in (("3460", "Bình Lư"), ("3461", "Nà Tăm"), ("3462", "Bản Bo"))
    ]
    position = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    people = []
    for commune, given in zip(communes, ("An", "Bình", "Chi"), strict=True):
        person = make_person(api, family_name="Lò", middle_name="Văn", given_name=given)
        make_assignment(api, person, commune, position, start_date="2020-01-01")
        people.append(person)
    district_head = make_person(api, family_name="Đặng", middle_name="Thị", given_name="Dung")
    make_assignment(api, district_head, district, position, start_date="2020-01-01")
    return province, district, communes, people, district_head


def _reform(province, district, communes):
    return {
        **DECISION,
        "operations": [
            # Bình Lư and Nà Tăm become the new commune Bình Lư, directly under the province.
            {
                "op": "merge",
                "sources": ["3460", "3461"],
                "into": {
                    "code": "3470",
                    "name": "Ủy ban nhân dân xã Bình Lư",
                    "type": "commune_committee",
                    "parent": "12",
                },
            },
            {"op": "move", "unit": "3462", "parent": "12"},
            {"op": "dissolve", "unit": "105", "successor": "12"},
        ],
    }


def test_a_reform_is_checked_previewed_applied_and_converged(app, api):
    province, district, communes, people, head = _tree(api)
    drain(app)
    before = {p["id"]: entry(app, p["id"])[0] for p in [*people, head]}
    assert all(",ou=105," in dn for dn in before.values())

    created = api.post("/api/v1/changesets", _reform(province, district, communes))
    assert created.status_code == 201, created.json
    cs = created.json
    check = api.get(f"/api/v1/changesets/{cs['id']}/check").json
    assert check["ok"] is True and check["people"] == 3  # the head too: the district goes
    assert check["units"] == {"created": 1, "retired": 3, "moved": 1, "renamed": 0}

    preview = api.get(f"/api/v1/changesets/{cs['id']}/preview")
    assert preview.status_code == 200, preview.json
    rows = {r["person_id"]: r for r in preview.json["rows"]}
    assert set(rows) == {p["id"] for p in [*people, head]}
    assert rows[people[0]["id"]]["old_dn"] == before[people[0]["id"]]
    assert rows[people[0]["id"]]["new_dn"].endswith("ou=3470,ou=12," + _base(app))
    assert rows[people[2]["id"]]["new_dn"].endswith("ou=3462,ou=12," + _base(app))
    assert rows[head["id"]]["new_dn"].endswith("ou=12," + _base(app))
    assert preview.json["collisions"] == []
    first = rows[people[0]["id"]]
    assert [g.split(",")[0] for g in first["groups_gained"]] == ["cn=unit-3470"]
    assert [g.split(",")[0] for g in first["groups_lost"]] == ["cn=unit-3460"]
    assert preview.json["people"]["moved"] == 4
    # The preview changed nothing: same tree, same posts, same directory.
    assert api.get(f"/api/v1/org-units/{district['id']}").json["status"] == "active"
    assert entry(app, people[0]["id"])[0] == before[people[0]["id"]]
    table = list(
        csv.DictReader(
            io.StringIO(
                api.get(f"/api/v1/changesets/{cs['id']}/preview?format=csv").get_data(as_text=True)
            )
        )
    )
    assert {r["person_id"] for r in table} == set(rows) and table[0]["new_dn"]

    applied = api.post(f"/api/v1/changesets/{cs['id']}/apply")
    assert applied.status_code == 200, applied.json
    assert applied.json["state"] == "applied"
    assert applied.json["summary"]["people"] == 4 and applied.json["summary"]["posts_moved"] == 3
    progress = api.get(f"/api/v1/changesets/{cs['id']}/progress").json
    assert progress["people"] == 4 and progress["pending"] == 4 and progress["done"] == 0

    drain(app)
    make_worker(app).target.tidy()
    progress = api.get(f"/api/v1/changesets/{cs['id']}/progress").json
    assert progress == {**progress, "done": 4, "pending": 0, "failed": 0}
    for person in [*people, head]:
        dn, attrs = entry(app, person["id"])
        assert dn == rows[person["id"]]["new_dn"]
        assert attrs["idhubAccountStatus"] == ["active"]
    merged = groups_of(entry(app, people[1]["id"])[1])
    assert "unit-3470" in merged and not merged & {"unit-3460", "unit-3461", "unit-105"}
    # No OU of an abolished unit is left; the moved commune's old OU is gone too.
    conn = directory(app)
    ous = {
        dn.lower()
        for dn, _ in conn.search_s(
            _base(app), ldap.SCOPE_SUBTREE, "(objectClass=idhubOrgUnit)", ["1.1"]
        )
    }
    conn.unbind_s()
    assert not any("ou=105," in dn or dn.startswith("ou=105") for dn in ous), ous
    assert f"ou=3462,ou=12,{_base(app)}".lower() in ous

    # Lineage, history and the audit trail name the decision.
    went = api.get(f"/api/v1/org-units/{communes[1]['id']}/lineage").json
    assert [(w["code"], w["kind"]) for w in went["went_to"]] == [("3470", "merged_into")]
    assert [c["code"] for c in went["current"]] == ["3470"]
    new_unit = went["went_to"][0]["unit_id"]
    came = api.get(f"/api/v1/org-units/{new_unit}/lineage").json
    assert {c["code"] for c in came["came_from"]} == {"3460", "3461"}
    history = api.get(f"/api/v1/people/{people[1]['id']}/history").json
    assert [p["unit_code"] for p in history["posts"]] == ["3461", "3470"]
    assert history["posts"][0]["end_decision_ref"] == "1670/NQ-UBTVQH15"
    assert history["reorganisations"][0]["decision_number"] == "1670/NQ-UBTVQH15"
    events = api.get("/api/v1/audit?action=assignment.end").json
    assert events and all(e["reason"].startswith("1670/NQ-UBTVQH15") for e in events)
    assert api.get("/api/v1/audit/verify").json["ok"] is True
    # Reconciliation finds nothing left to do.
    assert api.post("/api/v1/reconcile").status_code in (200, 403)


def _base(app):
    return app.extensions["idhub"].connectors.base_dn


def test_problems_are_reported_and_nothing_is_applied(app, api):
    province, district, communes, people, head = _tree(api)
    body = {
        **DECISION,
        "operations": [
            {"op": "merge", "sources": ["3460", "nowhere"], "into": "3461"},
            {"op": "move", "unit": "105", "parent": "3462"},
            {"op": "split", "source": "3462", "into": ["3460", "3461"]},
        ],
    }
    cs = api.post("/api/v1/changesets", body).json
    check = api.get(f"/api/v1/changesets/{cs['id']}/check").json
    assert check["ok"] is False
    assert {(p["operation"], p["code"]) for p in check["problems"]} >= {
        (0, "unknown_unit"),
        (1, "unit_cycle"),
        (2, "person_without_unit"),
    }
    refused = api.post(f"/api/v1/changesets/{cs['id']}/apply")
    assert refused.status_code == 422 and refused.json["code"] == "change_set_invalid"
    assert api.get(f"/api/v1/org-units/{district['id']}").json["parent_id"] == province["id"]
    assert api.get(f"/api/v1/changesets/{cs['id']}").json["state"] == "draft"


def test_change_set_bodies_are_validated_at_the_edge(api):
    bad = [
        {"op": "merge", "sources": ["A"]},  # no target
        {"op": "explode", "unit": "A"},
        {"op": "move", "unit": "A", "parent": "B", "sources": ["C"]},  # field of another op
        {"op": "split", "source": "A", "into": ["B"]},  # one part
        {"op": "merge", "sources": ["A"], "into": {"code": "x y", "name": "", "type": "nope"}},
    ]
    for op in bad:
        response = api.post("/api/v1/changesets", {**DECISION, "operations": [op]})
        assert response.status_code == 422, (op, response.json)
    assert api.post("/api/v1/changesets", {**DECISION, "operations": []}).status_code == 422


def test_a_split_sends_people_by_list_and_default(app, api):
    province, district, communes, people, head = _tree(api)
    extra = make_person(api, family_name="Giàng", middle_name="A", given_name="Páo")
    position = api.get("/api/v1/positions").json[0]
    make_assignment(api, extra, communes[2], position, start_date="2020-01-01")
    cs = api.post(
        "/api/v1/changesets",
        {
            **DECISION,
            "operations": [
                {
                    "op": "split",
                    "source": "3462",
                    "into": [
                        {
                            "code": "3480",
                            "name": "Ủy ban nhân dân xã Bản Bo",
                            "type": "commune_committee",
                        },
                        {
                            "code": "3481",
                            "name": "Ủy ban nhân dân xã Bản Hon",
                            "type": "commune_committee",
                        },
                    ],
                    "people": {extra["username"]: "3481"},
                    "default": "3480",
                },
            ],
        },
    ).json
    applied = api.post(f"/api/v1/changesets/{cs['id']}/apply")
    assert applied.status_code == 200, applied.json
    drain(app)
    assert ",ou=3481," in entry(app, extra["id"])[0]
    assert ",ou=3480," in entry(app, people[2]["id"])[0]
    assert "ou=3462" not in entry(app, people[2]["id"])[0]


def test_a_future_change_set_is_scheduled_not_applied(app, api):
    _tree(api)
    body = {
        **DECISION,
        "effective_date": "2099-01-01",
        "operations": [{"op": "rename", "unit": "3460", "name": "Ủy ban nhân dân xã Bình Lư Mới"}],
    }
    cs = api.post("/api/v1/changesets", body).json
    refused = api.post(f"/api/v1/changesets/{cs['id']}/apply")
    assert refused.status_code == 409 and refused.json["code"] == "change_set_not_due"
    scheduled = api.post(f"/api/v1/changesets/{cs['id']}/schedule")
    assert scheduled.status_code == 200 and scheduled.json["state"] == "scheduled"
    assert make_worker(app).sweep() >= 0
    assert api.get(f"/api/v1/changesets/{cs['id']}").json["state"] == "scheduled"
    cancelled = api.post(f"/api/v1/changesets/{cs['id']}/cancel")
    assert cancelled.json["state"] == "cancelled"
    assert api.post(f"/api/v1/changesets/{cs['id']}/apply").status_code == 409


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The `idhub` command pointed at this test's database and directory subtree."""
    ldap_settings = settings["ldap"]
    for key, value in {
        "IDHUB_DATABASE_URL": settings["database"]["url"],
        "IDHUB_VAR_DIR": settings["var_dir"],
        "IDHUB_LDAP_URL": ldap_settings["url"],
        "IDHUB_LDAP_BASE_DN": ldap_settings["base_dn"],
        "IDHUB_LDAP_BIND_DN": ldap_settings["bind_dn"],
        "IDHUB_LDAP_PASSWORD": ldap_settings["password"],
    }.items():
        monkeypatch.setenv(key, value)
    return settings


def test_the_cli_takes_a_csv_file_previews_applies_and_follows(app, api, cli_env, tmp_path):
    from click.testing import CliRunner

    from idhub.cli import main
    from tests.fixtures.provisioning import BackgroundWorker

    province, district, communes, people, head = _tree(api)
    drain(app)
    sheet = tmp_path / "reform.csv"
    sheet.write_text(
        "op,units,into,parent,successor,name,type\n"
        "merge,3460;3461,3470,12,,Ủy ban nhân dân xã Bình Lư,commune_committee\n"
        "move,3462,,12,,,\n"
        "dissolve,105,,,12,,\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    decision = [
        "--title",
        DECISION["title"],
        "--decision-number",
        DECISION["decision_number"],
        "--decision-date",
        DECISION["decision_date"],
        "--issuer",
        DECISION["decision_issuer"],
        "--effective-date",
        DECISION["effective_date"],
    ]
    created = runner.invoke(main, ["changeset", "create", str(sheet), *decision])
    assert created.exit_code == 0, created.output
    cs_id = created.output.strip()
    checked = runner.invoke(main, ["changeset", "check", cs_id])
    assert checked.exit_code == 0 and "3 people's posts move" in checked.output, checked.output
    out_csv = tmp_path / "preview.csv"
    previewed = runner.invoke(main, ["changeset", "preview", cs_id, "--csv", str(out_csv)])
    assert previewed.exit_code == 0, previewed.output
    assert "people: 4 affected, 4 move in the directory" in previewed.output
    assert len(out_csv.read_text(encoding="utf-8").splitlines()) == 5
    with BackgroundWorker(app):
        applied = runner.invoke(main, ["changeset", "apply", cs_id, "--timeout", "60"])
    assert applied.exit_code == 0, applied.output
    assert '"done": 4' in applied.output and '"pending": 0' in applied.output
    assert ",ou=3470,ou=12," in entry(app, people[0]["id"])[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("op,units\nexplode,3460\n", encoding="utf-8")
    refused = runner.invoke(main, ["changeset", "create", str(bad), *decision])
    assert refused.exit_code != 0 and "line 2" in refused.output


def test_the_real_2025_reform_of_a_province_converges_without_losing_anyone(cli_env):
    """Đà Nẵng before 1 July 2025: 8 districts, 47 wards and communes → 15, one split."""
    from click.testing import CliRunner

    from idhub.cli import main
    from idhub.db import Database
    from idhub.ops.migrate import upgrade

    database = Database(cli_env["database"]["url"])
    upgrade(database.engine)
    database.dispose()
    out = CliRunner().invoke(
        main, ["demo", "reform", "--province", "48", "--staff", "300", "--json"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["ok"] is True
    assert report["people"] == report["accounts"] == 300
    assert report["not_where_the_preview_said"] == 0
    assert report["ous_of_retired_units_left"] == 0
    assert report["drift"] == {} and report["in_sync"] == 300


def test_reading_clients_may_check_but_not_preview_or_apply(api, reader):
    cs = api.post(
        "/api/v1/changesets",
        {**DECISION, "operations": [{"op": "move", "unit": "nowhere", "parent": "12"}]},
    ).json
    assert reader.get(f"/api/v1/changesets/{cs['id']}").status_code == 200
    assert reader.get(f"/api/v1/changesets/{cs['id']}/check").status_code == 200
    assert reader.get(f"/api/v1/changesets/{cs['id']}/preview").status_code == 403
    assert reader.post(f"/api/v1/changesets/{cs['id']}/apply").status_code == 403
