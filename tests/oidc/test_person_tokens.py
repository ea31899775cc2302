"""A person's access token at the HR API (#17 weakness 8): an app given an API scope must
not hand it to everyone who signs in. A person's token carries an administrative scope
only while the person holds the matching hub role (an application role "idhub:<role>"
from the rules), and the audit of a write done with it names the person."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from idhub.changes.chain import Actor
from idhub.models import AuditEvent
from idhub.oidc.clients import create_client
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.sso import PASSWORD, action_link, activate, code_flow, sign_in

RULES = Path(__file__).resolve().parents[2] / "idhub" / "defaults" / "rules.toml"


@pytest.fixture
def settings(settings, tmp_path):
    """The province's rules plus an HR officer role that may write through the HR API."""
    text = RULES.read_text(encoding="utf-8")
    text = text.replace('CNTT = ["it-officer"]', 'CNTT = ["it-officer"]\nTCCB = ["hr-officer"]')
    text += (
        '\n[roles.hr-officer]\ndescription = "Cán bộ tổ chức"\ngroups = []\n'
        'app_roles = ["idhub:hr-writer"]\n'
    )
    rules = tmp_path / "rules.toml"
    rules.write_text(text, encoding="utf-8")
    settings["provisioning"]["rules_file"] = str(rules)
    return settings


def _app_with_hr_write(app):  # type: ignore[no-untyped-def]
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        return create_client(
            session,
            hub.keyring,
            hub.audit,
            Actor("cli", "pytest"),
            name="Nhân sự",
            scopes=["openid", "profile", "hr:write"],
            allowed_scopes=["openid", "profile", "hr:write"],
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=["http://127.0.0.1:9/cb"],
            first_party=True,
        )


def _write(hub: str, token: str, code: str) -> requests.Response:
    return requests.post(
        hub + "/api/v1/positions",
        json={"code": code, "name": f"Vị trí {code}", "leadership_level": 0},
        headers={"Authorization": "Bearer " + token},
    )


def test_a_person_without_the_role_gets_no_administrative_scope(app, hub, browser):
    registered = _app_with_hr_write(app)
    _, token, _ = code_flow(hub, browser, registered, scope="openid profile hr:write")
    refused = _write(hub, token["access_token"], "P_NO_ROLE")
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "insufficient_scope"


def test_a_person_with_the_role_writes_and_the_audit_names_them(app, hub, api):
    unit = make_unit(api, name="Sở Nội vụ", type="department", mail_domain="snv.laichau.gov.vn")
    position = make_position(api, code="TCCB", name="Chuyên viên tổ chức cán bộ")
    officer = make_person(api, family_name="Tòng", middle_name="Văn", given_name="Hặc")
    make_assignment(api, officer, unit, position)
    secret, _, response = activate(hub, action_link(app, officer["id"]))
    assert response.status_code == 200
    browser = requests.Session()
    signed = sign_in(hub, officer["username"], PASSWORD, secret, browser=browser, step=1)
    assert signed.status_code == 303, signed.text
    registered = _app_with_hr_write(app)
    _, token, _ = code_flow(hub, browser, registered, scope="openid profile hr:write")
    written = _write(hub, token["access_token"], "P_ROLE")
    assert written.status_code == 201, written.text
    with app.extensions["idhub"].db.transaction() as session:
        event = session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "position.create")
            .order_by(AuditEvent.id.desc())
        )
    assert event.actor_type == "person" and event.actor_id == officer["id"]
