"""Passkeys: the WebAuthn checks (oidc/passkeys.py) against a software authenticator —
origin, challenge, a replayed answer, an expired challenge, the signature counter going
back (a cloned key: refused and audited), someone else's passkey — and the JSON
endpoints of enrolment (/account/passkeys) and sign-in (/sso/passkey/...)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from sqlalchemy import select, update

from idhub.changes.chain import Actor
from idhub.models import AuditEvent, Passkey, PasskeyChallenge, Person, SsoSession, utcnow
from idhub.oidc.passkeys import (
    PasskeyError,
    add_passkey,
    authentication_options,
    new_challenge,
    registration_options,
    relying_party,
    remove_all,
    take_challenge,
    verify_assertion,
)
from tests.fixtures.passkey import SoftAuthenticator
from tests.fixtures.sso import PASSWORD, form_fields, hr_person

ISSUER = "https://id.laichau.gov.vn"
RP = relying_party(ISSUER)
ACTOR = Actor("person", None)


@pytest.fixture
def someone(app, api) -> uuid.UUID:
    found = hr_person(api, family_name="Lò", middle_name="Văn", given_name="Pọm")
    return uuid.UUID(found["id"])


def _hub(app):  # type: ignore[no-untyped-def]
    return app.extensions["idhub"]


def enrol(app, person_id: uuid.UUID, auth: SoftAuthenticator, **bend) -> Passkey:  # type: ignore[no-untyped-def]
    hub = _hub(app)
    with hub.db.transaction() as session:
        key, challenge = new_challenge(session, hub.keyring, "register", person_id)
        options = registration_options(RP, session.get(Person, person_id), challenge, [])
    with hub.db.transaction() as session:
        taken = take_challenge(session, hub.keyring, key, "register")
        passkey = add_passkey(session, RP, taken, person_id, auth.create(options, **bend), "Máy")
        session.expunge(passkey)
    return passkey


def sign(app, auth: SoftAuthenticator, person_id: uuid.UUID | None, **bend) -> str | Passkey:  # type: ignore[no-untyped-def]
    """One assertion ceremony; the failure's reason, or the passkey. The transaction
    commits either way (as the sign-in endpoint's does)."""
    hub = _hub(app)
    purpose = "second" if person_id else "passwordless"
    with hub.db.transaction() as session:
        key, challenge = new_challenge(session, hub.keyring, purpose, person_id)
        options = authentication_options(RP, challenge, None)
    return answer(app, key, purpose, auth.get(options, **bend), person_id)


def answer(app, key: str, purpose: str, credential: dict, person_id) -> str | Passkey:  # type: ignore[no-untyped-def]
    hub = _hub(app)
    with hub.db.transaction() as session:
        try:
            taken = take_challenge(session, hub.keyring, key, purpose)
            found = verify_assertion(
                session, hub.audit, ACTOR, RP, taken, credential, person_id=person_id
            )
        except PasskeyError as exc:
            return exc.reason
        session.expunge(found)
        return found


def test_enrol_then_sign_in_second_factor_and_passwordless(app, someone):
    auth = SoftAuthenticator(ISSUER)
    passkey = enrol(app, someone, auth)
    assert passkey.person_id == someone and passkey.transports == ["internal"]
    first = sign(app, auth, someone)
    assert isinstance(first, Passkey) and first.sign_count == 1 and first.last_used_at
    second = sign(app, auth, None)
    assert isinstance(second, Passkey) and second.sign_count == 2


def test_a_wrong_origin_is_refused(app, someone):
    auth = SoftAuthenticator(ISSUER)
    with pytest.raises(PasskeyError, match="origin"):
        enrol(app, someone, auth, origin="https://id.laichau.gov.vn.evil.example")
    enrol(app, someone, auth)
    assert sign(app, auth, someone, origin="https://evil.example") == "origin"
    assert isinstance(sign(app, auth, someone), Passkey)


def test_an_answer_to_another_challenge_is_refused(app, someone):
    auth = SoftAuthenticator(ISSUER)
    with pytest.raises(PasskeyError, match="challenge"):
        enrol(app, someone, auth, challenge="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    enrol(app, someone, auth)
    assert sign(app, auth, None, challenge="QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo") == "challenge"


def test_a_replayed_answer_finds_its_challenge_used(app, someone):
    auth = SoftAuthenticator(ISSUER)
    enrol(app, someone, auth)
    hub = _hub(app)
    with hub.db.transaction() as session:
        key, challenge = new_challenge(session, hub.keyring, "passwordless", None)
        options = authentication_options(RP, challenge, None)
    credential = auth.get(options)
    assert isinstance(answer(app, key, "passwordless", credential, None), Passkey)
    assert answer(app, key, "passwordless", credential, None) == (
        "challenge used, expired or unknown"
    )
    # A failed answer uses the challenge up too: no second try against it.
    with hub.db.transaction() as session:
        key, challenge = new_challenge(session, hub.keyring, "passwordless", None)
        options = authentication_options(RP, challenge, None)
    assert answer(app, key, "passwordless", auth.get(options, origin="https://x.example"), None)
    assert answer(app, key, "passwordless", auth.get(options), None) == (
        "challenge used, expired or unknown"
    )


def test_an_expired_challenge_or_one_of_another_purpose_is_refused(app, someone):
    auth = SoftAuthenticator(ISSUER)
    enrol(app, someone, auth)
    hub = _hub(app)
    with hub.db.transaction() as session:
        key, challenge = new_challenge(session, hub.keyring, "passwordless", None)
        options = authentication_options(RP, challenge, None)
    assert answer(app, key, "second", auth.get(options), someone) == (
        "challenge used, expired or unknown"
    )
    with hub.db.transaction() as session:
        key, challenge = new_challenge(session, hub.keyring, "passwordless", None)
        options = authentication_options(RP, challenge, None)
        session.execute(
            update(PasskeyChallenge)
            .where(PasskeyChallenge.challenge.isnot(None))
            .values(expires_at=PasskeyChallenge.created_at)
        )
    assert answer(app, key, "passwordless", auth.get(options), None) == (
        "challenge used, expired or unknown"
    )


def test_a_counter_going_back_is_refused_and_audited(app, someone):
    auth = SoftAuthenticator(ISSUER)
    enrol(app, someone, auth)
    assert isinstance(sign(app, auth, someone, counter=7), Passkey)
    assert sign(app, auth, someone, counter=7) == "sign count did not increase"
    assert sign(app, auth, None, counter=3) == "sign count did not increase"
    with _hub(app).db.reading() as session:
        events = [
            (e.after["count"], e.object_id)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "sso.passkey.clone_suspected")
            )
        ]
        stored = session.scalar(select(Passkey.sign_count))
    assert events == [(7, str(someone)), (3, str(someone))]
    assert stored == 7  # unchanged by the refused answers
    assert isinstance(sign(app, auth, someone, counter=8), Passkey)


def test_someone_elses_passkey_and_no_user_verification_are_refused(app, api, someone):
    other = uuid.UUID(hr_person(api, family_name="Hà", given_name="Giang")["id"])
    theirs = SoftAuthenticator(ISSUER)
    enrol(app, other, theirs)
    assert sign(app, theirs, someone) == "unknown credential"
    assert sign(app, theirs, None, verified=False) == "verification"
    assert isinstance(sign(app, theirs, other, verified=False), Passkey)  # second factor
    stranger = SoftAuthenticator(ISSUER)
    stranger.user_handle = other.bytes
    assert sign(app, stranger, None) == "unknown credential"


def test_remove_all_for_an_access_reset(app, someone):
    enrol(app, someone, SoftAuthenticator(ISSUER))
    enrol(app, someone, SoftAuthenticator(ISSUER))
    hub = _hub(app)
    with hub.db.transaction() as session:
        assert remove_all(session, hub.audit, Actor("cli", "pytest"), someone, "lost phone") == 2
        assert remove_all(session, hub.audit, Actor("cli", "pytest"), someone, "again") == 0
    with hub.db.reading() as session:
        assert session.scalar(select(Passkey.id)) is None
        events = list(
            session.scalars(
                select(AuditEvent.reason).where(AuditEvent.action == "sso.passkey.remove_all")
            )
        )
    assert events == ["lost phone"]


# ---- the endpoints ----------------------------------------------------------------------


def _post(browser: requests.Session, url: str, csrf: str, body: dict) -> requests.Response:
    return browser.post(url, json=body, headers={"X-CSRF-Token": csrf})


def enrol_over_http(hub: str, browser: requests.Session, auth: SoftAuthenticator, name: str):  # type: ignore[no-untyped-def]
    csrf = form_fields(browser.get(hub + "/account/passkeys").text)["csrf_token"]
    options = _post(browser, hub + "/account/passkeys/options", csrf, {})
    assert options.status_code == 200, options.text
    credential = auth.create(options.json()["options"])
    return _post(
        browser, hub + "/account/passkeys/add", csrf, {"name": name, "credential": credential}
    )


def test_enrol_and_sign_in_over_http(app, hub, person, browser):
    auth = SoftAuthenticator(hub)
    added = enrol_over_http(hub, browser, auth, "Điện thoại\x00 của tôi")
    assert added.status_code == 200 and added.json()["next"] == "/account/passkeys?added=1"
    page = browser.get(hub + "/account/passkeys", headers={"Accept-Language": "vi"})
    assert "Điện thoại của tôi" in page.text

    # The second factor after the password: the code page offers the passkey.
    second = requests.Session()
    login = second.get(hub + "/sso/login", params={"next": "/account"})
    fields = form_fields(login.text)
    second.post(
        hub + "/sso/login",
        data={**fields, "username": person["username"], "password": PASSWORD},
    )
    code_page = second.get(hub + "/sso/login/code")
    assert 'id="passkey-second"' in code_page.text and "/static/passkey.js" in code_page.text
    csrf = form_fields(code_page.text)["csrf_token"]
    options = _post(second, hub + "/sso/passkey/options", csrf, {"mode": "second"}).json()
    done = _post(
        second, hub + "/sso/passkey/verify", csrf, {"credential": auth.get(options["options"])}
    )
    assert done.status_code == 200 and done.json()["next"] == "/account"
    assert second.get(hub + "/account", allow_redirects=False).status_code == 200

    # Passwordless from the first page; `next` stays on the hub.
    alone = requests.Session()
    csrf = form_fields(alone.get(hub + "/sso/login").text)["csrf_token"]
    options = _post(alone, hub + "/sso/passkey/options", csrf, {"mode": "passwordless"}).json()
    credential = auth.get(options["options"])
    done = _post(
        alone,
        hub + "/sso/passkey/verify",
        csrf,
        {"credential": credential, "next": "https://evil.example/"},
    )
    assert done.status_code == 200 and done.json()["next"] == "/account"
    assert alone.get(hub + "/account", allow_redirects=False).status_code == 200
    replay = _post(alone, hub + "/sso/passkey/verify", csrf, {"credential": credential})
    assert replay.status_code == 409  # the flow's challenge is gone

    with _hub(app).db.reading() as session:
        amrs = [s.amr for s in session.scalars(select(SsoSession).order_by(SsoSession.created_at))]
        methods = [
            (e.after or {}).get("mode")
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "sso.login.success")
            )
        ]
        actions = set(session.scalars(select(AuditEvent.action)))
    assert amrs[-2:] == [["pwd", "hwk", "mfa"], ["hwk", "user", "mfa"]]
    assert methods[-2:] == ["second", "passwordless"]
    assert "account.passkey.add" in actions


def test_endpoints_refuse_without_csrf_and_a_wrong_answer_counts(app, hub, person, browser):
    auth = SoftAuthenticator(hub)
    assert enrol_over_http(hub, browser, auth, "Khoá").status_code == 200
    alone = requests.Session()
    csrf = form_fields(alone.get(hub + "/sso/login").text)["csrf_token"]
    assert (
        _post(alone, hub + "/sso/passkey/options", "x", {"mode": "passwordless"}).status_code == 403
    )
    options = _post(alone, hub + "/sso/passkey/options", csrf, {"mode": "passwordless"}).json()
    bad = auth.get(options["options"], origin="http://localhost:1")
    refused = _post(alone, hub + "/sso/passkey/verify", csrf, {"credential": bad})
    assert refused.status_code == 401
    assert alone.get(hub + "/account", allow_redirects=False).status_code == 303
    for garbage in ({"id": "x", "rawId": "%%%", "response": {}}, "not json", None):
        options = _post(alone, hub + "/sso/passkey/options", csrf, {"mode": "passwordless"})
        assert options.status_code == 200
        refused = _post(alone, hub + "/sso/passkey/verify", csrf, {"credential": garbage})
        assert refused.status_code == 401, refused.text
    # Without a password in this flow there is no second-factor ceremony.
    assert _post(alone, hub + "/sso/passkey/options", csrf, {"mode": "second"}).status_code == 409


def test_adding_or_removing_needs_a_recent_password(app, hub, person, browser):
    auth = SoftAuthenticator(hub)
    assert enrol_over_http(hub, browser, auth, "Khoá cũ").status_code == 200
    with _hub(app).db.transaction() as session:  # the sign-in was long ago
        session.execute(update(SsoSession).values(auth_time=utcnow() - dt.timedelta(hours=1)))
        passkey_id = session.scalar(select(Passkey.id))
    page = browser.get(hub + "/account/passkeys")
    assert 'id="passkey-confirm"' in page.text and 'id="passkey-add"' not in page.text
    csrf = form_fields(page.text)["csrf_token"]
    assert _post(browser, hub + "/account/passkeys/options", csrf, {}).status_code == 403
    removed = browser.post(
        hub + f"/account/passkeys/{passkey_id}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 403
    renamed = browser.post(
        hub + f"/account/passkeys/{passkey_id}/rename", data={"csrf_token": csrf, "name": "Mới"}
    )
    assert renamed.status_code == 200 and "Mới" in renamed.text  # renaming needs no password

    wrong = browser.post(
        hub + "/account/passkeys/confirm", data={"csrf_token": csrf, "password": "sai"}
    )
    assert wrong.status_code == 401
    confirmed = browser.post(
        hub + "/account/passkeys/confirm", data={"csrf_token": csrf, "password": PASSWORD}
    )
    assert 'id="passkey-add"' in confirmed.text
    removed = browser.post(
        hub + f"/account/passkeys/{passkey_id}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 200
    with _hub(app).db.reading() as session:
        assert session.scalar(select(Passkey.id)) is None
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["account.passkey.rename", "account.passkey.remove"]
