"""Resetting a person's access (#17 weaknesses 1, 2, 13): its own right with a reason,
audited and rate-limited, never replayed; links whose token stays out of every log; the
second factor kept unless a reset asks otherwise; the new password reaches LDAP on the
converge path, and the old one stops opening it."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

import ldap
import pytest
import requests
from sqlalchemy import select

from idhub.config import ConfigError
from idhub.models import AuditEvent, IdempotencyRecord, PersonCredential
from idhub.oidc.settings import SsoSettings
from tests.conftest import Api, register_client, token_for
from tests.fixtures.provisioning import drain, entry
from tests.fixtures.sso import (
    PASSWORD,
    action_link,
    activate,
    code_at,
    form_fields,
    hr_person,
    open_link,
    sign_in,
)

NEW_PASSWORD = "Một mật khẩu mới rất dài 2027"


@pytest.fixture
def officer(app, client) -> Api:
    """A security officer's API client: access:reset only."""
    registered = register_client(app, ["access:reset"], name="Security officer")
    return Api(client, token_for(client, registered))


def _reset(officer: Api, person_id: str, **body):
    body.setdefault("reason", "Phiếu hỗ trợ 1234: quên mật khẩu")
    return officer.post(f"/api/v1/people/{person_id}/access-reset", body)


def _path(url: str, hub: str) -> str:
    return url.replace(hub, "")


def _set_password(hub: str, path: str, password: str, code: str):  # type: ignore[no-untyped-def]
    browser, page = open_link(hub, path)
    assert page.status_code == 200, page.text
    return page, browser.post(
        hub + "/sso/activate",
        data={**form_fields(page.text), "password": password, "password2": password, "code": code},
    )


def _bind(app, dn: str, password: str) -> bool:
    conn = ldap.initialize(app.extensions["idhub"].connectors.ldap_config.url)
    try:
        conn.simple_bind_s(dn, password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        conn.unbind_s()


# -- 1: its own right ---------------------------------------------------------------------
def test_hr_write_and_admin_cannot_reset_access(app, api, admin, person):
    refused = api.post(f"/api/v1/people/{person['id']}/activation-link", {"purpose": "reset"})
    assert refused.status_code == 403, refused.json
    assert refused.json["code"] == "access_reset_scope_required"
    for caller in (api, admin):
        assert _reset(caller, person["id"]).status_code == 403
    # A joiner's activation stays HR's.
    assert api.post(f"/api/v1/people/{person['id']}/activation-link", {}).status_code == 201


def test_a_reset_needs_a_reason_is_audited_and_never_replayed(app, officer, person):
    assert _reset(officer, person["id"], reason="").status_code == 422
    missing = officer.post(f"/api/v1/people/{person['id']}/access-reset", {})
    assert missing.status_code == 422
    headers = {"Idempotency-Key": "reset-1"}
    first = officer.post(
        f"/api/v1/people/{person['id']}/access-reset",
        {"reason": "Phiếu 77: điện thoại mất"},
        headers=headers,
    )
    assert first.status_code == 201, first.json
    assert first.json["reset_second_factor"] is False
    again = officer.post(
        f"/api/v1/people/{person['id']}/access-reset",
        {"reason": "Phiếu 77: điện thoại mất"},
        headers=headers,
    )
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json["url"] != first.json["url"]
    with app.extensions["idhub"].db.transaction() as session:
        assert session.scalar(select(IdempotencyRecord)) is None
        [event, _] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sso.link.reset").order_by(AuditEvent.id)
        )
    assert event.actor_type == "client" and event.actor_id  # who
    assert event.object_id == person["id"]  # whom
    assert event.reason == "Phiếu 77: điện thoại mất"  # why
    assert event.after["reset_second_factor"] is False


@pytest.mark.sso(resets_per_person_per_day=2, resets_per_client_per_hour=3)
def test_resets_are_rate_limited_per_person_and_per_client(app, api, officer, person):
    assert _reset(officer, person["id"]).status_code == 201
    assert _reset(officer, person["id"]).status_code == 201
    limited = _reset(officer, person["id"])
    assert limited.status_code == 429 and limited.json["code"] == "reset_rate_limited"
    other = hr_person(api, family_name="Lò", middle_name="Thị", given_name="Mai")
    third = hr_person(api, family_name="Vàng", middle_name="A", given_name="Sử")
    assert _reset(officer, other["id"]).status_code == 201  # the client's third this hour
    assert _reset(officer, third["id"]).status_code == 429


def test_a_reset_keeps_the_second_factor_and_asks_for_it(app, hub, officer, person):
    url = _reset(officer, person["id"]).json["url"]
    page, wrong = _set_password(hub, _path(url, hub), NEW_PASSWORD, "000000")
    assert 'class="secret"' not in page.text and "<svg" not in page.text  # no re-enrolment
    assert wrong.status_code == 400
    _, done = _set_password(hub, _path(url, hub), NEW_PASSWORD, code_at(person["secret"]))
    assert done.status_code == 200, done.text
    assert "<code>" not in done.text  # no new recovery codes: nothing was re-enrolled
    # The new password with the same authenticator app; the old password no longer.
    assert sign_in(hub, person["username"], PASSWORD, None).status_code == 401
    ok = sign_in(hub, person["username"], NEW_PASSWORD, person["secret"], step=1)
    assert ok.status_code == 303, ok.text
    # A recovery code proves the factor too.
    url = _reset(officer, person["id"]).json["url"]
    _, done = _set_password(hub, _path(url, hub), PASSWORD, person["recovery_codes"][0])
    assert done.status_code == 200, done.text


def test_a_reset_re_enrols_the_second_factor_only_when_asked(app, hub, officer, person):
    """A lost phone: the link alone is not enough; the person proves the hand-over code
    the officer got back from the API (or their password, test_account_lost_phone)."""
    assert _reset(officer, person["id"]).json["handover_code"] is None  # not a lost phone
    answer = _reset(officer, person["id"], reset_second_factor=True).json
    url, handover = answer["url"], answer["handover_code"]
    assert "#" in url and re.fullmatch(r"\d{4}-\d{4}", handover)
    refused = activate(hub, _path(url, hub), NEW_PASSWORD)[2]  # no proof
    assert refused.status_code == 400
    secret, codes, response = activate(
        hub, _path(url, hub), NEW_PASSWORD, extra={"proof": handover}
    )
    assert response.status_code == 200 and len(codes) == 10 and secret != person["secret"]


def test_wrong_codes_end_a_reset_link(app, hub, officer, person):
    path = _path(_reset(officer, person["id"]).json["url"], hub)
    browser, page = open_link(hub, path)
    for _ in range(5):
        page = browser.get(hub + "/sso/activate")
        wrong = browser.post(
            hub + "/sso/activate",
            data={
                **form_fields(page.text),
                "password": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
                "code": "123456",
            },
        )
        assert wrong.status_code == 400
    gone = browser.get(hub + "/sso/activate")  # back to "open your link"
    assert gone.status_code == 200 and 'name="password"' not in gone.text
    _, reopened = open_link(hub, path)
    assert reopened.status_code == 404
    # A new link opened in the same browser takes over.
    _, fresh = open_link(hub, _path(_reset(officer, person["id"]).json["url"], hub), browser)
    assert fresh.status_code == 200 and 'name="password"' in fresh.text


# -- 2: tokens out of URLs and logs --------------------------------------------------------
def test_link_tokens_never_reach_a_log_and_links_are_short_lived(
    app, hub, api, officer, person, caplog
):
    caplog.set_level(logging.DEBUG)
    found = hr_person(api, family_name="Hà", middle_name="Thị", given_name="Quỳnh")
    issued = api.post(f"/api/v1/people/{found['id']}/activation-link", {})
    assert issued.status_code == 201
    url = issued.json["url"]
    path, _, token = _path(url, hub).partition("#")
    assert path == "/sso/activate" and len(token) > 30
    now = dt.datetime.now(dt.UTC)
    expires = dt.datetime.fromisoformat(issued.json["expires_at"])
    assert expires <= now + dt.timedelta(hours=24, minutes=1)
    reset = _reset(officer, person["id"]).json
    assert dt.datetime.fromisoformat(reset["expires_at"]) <= now + dt.timedelta(hours=1, minutes=1)
    reset_token = reset["url"].partition("#")[2]

    page = requests.get(hub + path)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'src="/static/sso-link.js"' in page.text
    secret, codes, response = activate(hub, _path(url, hub))
    assert response.status_code == 200 and len(codes) == 10
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # Used once: handing the token over again fails.
    browser = requests.Session()
    first = browser.get(hub + path)
    used = browser.post(hub + path, data={**form_fields(first.text), "link": token})
    assert used.status_code == 404

    logged = "\n".join(f"{r.getMessage()} {getattr(r, '__dict__', {})}" for r in caplog.records)
    assert "/sso/activate" in logged  # the requests were logged ...
    assert token not in logged and reset_token not in logged  # ... without their tokens


def test_link_lifetimes_are_capped_by_the_settings():
    with pytest.raises(ConfigError):
        _settings_with(reset_link_ttl_s=7200)
    with pytest.raises(ConfigError):
        _settings_with(activation_link_ttl_s=72 * 3600)
    assert _settings_with(reset_link_ttl_s=3600).reset_link_ttl_s == 3600


def _settings_with(**values):  # type: ignore[no-untyped-def]
    from idhub.config import Settings, load_settings

    tree = load_settings(environ={})
    tree["sso"].update(values)
    return Settings(tree).section(SsoSettings)


def test_old_links_with_the_token_in_the_path_are_not_honoured(app, hub, api):
    found = hr_person(api, family_name="Hà", middle_name="Văn", given_name="Lâm")
    token = action_link(app, found["id"]).partition("#")[2]
    assert requests.get(f"{hub}/sso/activate/{token}").status_code == 404


# -- 13: the new password reaches LDAP on the converge path ------------------------------
def test_passwords_reach_ldap_through_the_converge_and_the_old_stops_binding(
    app, hub, api, officer
):
    found = hr_person(api, family_name="Lò", middle_name="Văn", given_name="Pấng")
    # Activated before the worker made the entry: the password waits for it, not lost.
    secret, _, response = activate(hub, action_link(app, found["id"]))
    assert response.status_code == 200
    drain(app)
    dn, attrs = entry(app, found["id"])
    assert attrs["userPassword"][0].startswith("{ARGON2}$argon2id$")
    assert _bind(app, dn, PASSWORD)
    with app.extensions["idhub"].db.transaction() as session:
        cred = session.get(PersonCredential, uuid.UUID(found["id"]))
        assert cred.directory_password_pending_at is None
    # A reset: the hub takes the new password at once, LDAP once the converge ran.
    url = _reset(officer, found["id"]).json["url"]
    _, done = _set_password(hub, _path(url, hub), NEW_PASSWORD, code_at(secret, 1))
    assert done.status_code == 200, done.text
    with app.extensions["idhub"].db.transaction() as session:
        cred = session.get(PersonCredential, uuid.UUID(found["id"]))
        assert cred.directory_password_pending_at is not None  # queued, not fire-and-forget
    assert drain(app) >= 1
    assert _bind(app, dn, NEW_PASSWORD)
    assert not _bind(app, dn, PASSWORD)
    with app.extensions["idhub"].db.transaction() as session:
        cred = session.get(PersonCredential, uuid.UUID(found["id"]))
        assert cred.directory_password_pending_at is None
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "account.update" in actions and re.search("sso.password.set", " ".join(actions))
