"""The demo's console accounts (env.json): a province administrator, a real commune's HR
officer who signs in with password and TOTP and reaches that commune only, and the
commune's API client limited to its subtree."""

from __future__ import annotations

import datetime as dt
import stat

import requests
from sqlalchemy import select

from idhub.admin_scope.grants import held_by_person
from idhub.models import OAuthClient, OrgUnit, Person
from idhub.ops.demo.console import FILE, console_accounts
from idhub.ops.demo.load import load_demo
from tests.fixtures.sso import sign_in


def test_the_demo_makes_the_console_accounts(app, hub, tmp_path):
    hub_ = app.extensions["idhub"]
    with hub_.db.transaction() as session:
        load_demo(session, hub_.audit, staff=80, today=dt.date.today())
    made = console_accounts(hub_, tmp_path, hub, skip=set())
    assert made["console_url"] == hub + "/admin"
    assert stat.S_IMODE((tmp_path / FILE).stat().st_mode) == 0o600
    officer, admin, client = made["unit_hr_officer"], made["province_admin"], made["unit_client"]
    assert officer["unit_code"] == client["unit_code"]
    with hub_.db.reading() as session:
        commune = session.scalar(
            select(OrgUnit).where(OrgUnit.code == officer["unit_code"], OrgUnit.status == "active")
        )
        assert commune.type.value == "commune_committee"
        roles = {
            name: {
                (h.role, h.unit_id)
                for h in held_by_person(
                    session,
                    session.scalar(select(Person.id).where(Person.username == who["username"])),
                    hub_.rules,
                )
            }
            for name, who in (("officer", officer), ("admin", admin))
        }
        assert ("hr_officer", commune.id) in roles["officer"]
        assert ("province_admin", None) in roles["admin"]
        row = session.scalar(
            select(OAuthClient).where(OAuthClient.client_id == client["client_id"])
        )
        assert row.subtree_unit_id == commune.id
    # The officer signs in with the second factor and reaches the console.
    browser = requests.Session()
    response = sign_in(
        hub, officer["username"], officer["password"], officer["totp_secret"], browser=browser
    )
    assert response.status_code == 303, response.text
    assert browser.get(hub + "/admin/people").status_code == 200
    # Made once: the same accounts on the next start.
    again = console_accounts(hub_, tmp_path, hub, skip=set())
    assert again["unit_client"]["client_id"] == client["client_id"]
