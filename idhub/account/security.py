"""Second factor (/account/security): what is enrolled (TOTP since when, recovery codes
left), the account's recent sign-in failures and locks, re-enrolling TOTP and
regenerating recovery codes.

Both changes ask for the password (checked like a sign-in: a wrong one counts toward the
lockout) and the current factor — a TOTP code or a recovery code (counted like the
sign-in's code step: `oidc.second_factor.prove_factor`). A new TOTP secret is shown as a
QR code (kept encrypted in the signed flow cookie until proven, as activation does) and
replaces the old one only once a code from it is entered. New recovery codes are shown
once. A person who signed in with a recovery code (a lost phone) is sent here first.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask import session as flow
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.account.pages import (
    SECTIONS,
    Section,
    bp,
    password_proof,
    render_section,
    require_person,
)
from idhub.changes.chain import Actor
from idhub.db import get_db
from idhub.errors import Invalid
from idhub.models import PersonCredential
from idhub.oidc import totp
from idhub.oidc.i18n import t
from idhub.oidc.login import credential
from idhub.oidc.models import SignedIn
from idhub.oidc.pages.account import local_time, recent_failures
from idhub.oidc.pages.common import actor, check_csrf, error_page, safe_next, sso_settings
from idhub.oidc.second_factor import (
    prove_factor,
    reenrol_totp,
    regenerate_recovery_codes,
    status,
)
from idhub.services import current_hub
from idhub.web.proxies import throttle_key

SECTIONS.append(Section("account.security", "account.nav.security"))
AFTER_RECOVERY = "after_recovery"  # set by the sign-in when a recovery code was used


def _new_secret(who: SignedIn) -> str:
    """The secret offered for re-enrolment, the same until used (or another person)."""
    keyring = current_hub().keyring
    held = flow.get("reenrol")
    if not held or held.get("person") != str(who.person.id):
        held = {"person": str(who.person.id), "secret": keyring.encrypt(totp.new_secret())}
        flow["reenrol"] = held
    return keyring.decrypt(held["secret"])


def _page(who: SignedIn, status_code: int = 200, **context: Any) -> Response:
    sso = sso_settings()
    secret = _new_secret(who)
    uri = totp.provisioning_uri(secret, who.person.username or str(who.person.id), sso.totp_issuer)
    session = get_db().session(write=False)
    try:
        factors = status(session, who.person.id)
        failures = recent_failures(session, who.person.id)
    finally:
        session.close()
    after = flow.get(AFTER_RECOVERY)
    return render_section(
        "account_security.html",
        status_code,
        title=t("account.title.security"),
        factors=factors,
        failures=failures,
        local_time=local_time,
        secret=secret,
        qr=totp.qr_svg(uri),
        after_recovery=safe_next(after) if isinstance(after, str) else None,
        **context,
    )


@bp.get("/security")
def security() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    return _page(who)


def _prove_password(who: SignedIn) -> Response | None:
    """The password, checked as a sign-in is; a refusal page, or None when right."""
    refused = password_proof(who, request.form.get("password", ""))
    if refused == "throttled":
        return _page(who, 429, errors=[t("error.throttled")])
    if refused is not None:
        return _page(who, 401, errors=[t("account.error.current_password")])
    return None


def _prove_factor(session: Session, cred: PersonCredential, me: Actor) -> str | None:
    """The current TOTP code or a recovery code from the form, counted by the code lock."""
    hub = current_hub()
    return prove_factor(
        session,
        hub.keyring,
        sso_settings(),
        hub.audit,
        me,
        cred,
        request.form.get("code", ""),
        throttle_key(request.remote_addr),
    )


def _factor_error(outcome: str) -> str:
    return t("account.error.factor_locked" if outcome == "locked" else "error.code_failed")


@bp.post("/security/totp")
def reenrol() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    secret = _new_secret(who)
    new_code = request.form.get("new_code", "")[:16]
    if totp.matching_step(secret, new_code) is None:  # a typo costs no attempt
        return _page(who, 400, errors=[t("account.error.new_code")])
    refused = _prove_password(who)
    if refused is not None:
        return refused
    hub = current_hub()
    me = actor(who.person.id)
    failed = None
    try:
        with get_db().transaction() as session:
            cred = credential(session, who.person.id, lock=True)
            failed = _prove_factor(session, cred, me)
            if failed is None:
                reenrol_totp(
                    session,
                    hub.keyring,
                    hub.audit,
                    me,
                    who.person.id,
                    secret=secret,
                    code=new_code,
                    reason="re-enrolled by the person",
                )
    except Invalid:  # the new code's step passed meanwhile
        return _page(who, 400, errors=[t("account.error.new_code")])
    if failed is not None:
        return _page(who, 401, errors=[_factor_error(failed)])
    flow.pop("reenrol", None)
    flow.pop(AFTER_RECOVERY, None)
    return _page(who, done=t("account.text.totp_reenrolled"))


@bp.post("/security/recovery-codes")
def recovery_codes() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    refused = _prove_password(who)
    if refused is not None:
        return refused
    hub = current_hub()
    me = actor(who.person.id)
    codes: list[str] = []
    with get_db().transaction() as session:
        cred = credential(session, who.person.id, lock=True)
        failed = _prove_factor(session, cred, me)
        if failed is None:
            codes = regenerate_recovery_codes(session, hub.keyring, hub.audit, me, who.person.id)
    if failed is not None:
        return _page(who, 401, errors=[_factor_error(failed)])
    return render_section("account_recovery.html", title=t("title.recovery"), codes=codes)
