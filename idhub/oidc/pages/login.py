"""Signing in: the password page, then the TOTP (or recovery code) page; a hub session
cookie at the end, and back to where the person was going. A passkey can stand in for
the code, or sign in alone from the first page (`pages/passkey.py`, with static/passkey.js;
without JavaScript the buttons stay hidden and the password and code work as ever)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import redirect, request
from flask import session as flow
from sqlalchemy import select
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.models import Passkey
from idhub.oidc import totp
from idhub.oidc.failures import flush_person, note_failure, note_throttled
from idhub.oidc.i18n import t
from idhub.oidc.login import Outcome, check_password, credential
from idhub.oidc.pages.common import (
    actor,
    allow_form_redirect,
    bp,
    check_csrf,
    error_page,
    redirect_target_of,
    render_page,
    safe_next,
    secure_cookies,
    sso_settings,
)
from idhub.oidc.sessions import set_cookie, start_session
from idhub.oidc.throttle import (
    code_locked,
    count_code_failure,
    count_source_failure,
    source_throttled,
)
from idhub.services import current_hub
from idhub.web.proxies import throttle_key

PENDING_TTL_S = 300  # between the password and the TOTP code
AFTER_RECOVERY_PAGE = "/account/security"  # the account wing's second-factor page


@bp.get("/sso/login")
def login_form() -> Response:
    return render_page(
        "sso_login.html", title=t("title.login"), next=safe_next(request.args.get("next"))
    )


@bp.post("/sso/login")
def login_submit() -> Response:
    next_url = safe_next(request.form.get("next"))
    if not check_csrf():
        return error_page("error.csrf")
    login = request.form.get("username", "")[:254]
    password = request.form.get("password", "")[:1024]
    check = check_password(
        get_db(), sso_settings(), current_hub().audit, actor(), login, password, request.remote_addr
    )
    if check.outcome is Outcome.THROTTLED:
        return _login_again(429, "error.throttled", next_url)
    if check.outcome is not Outcome.OK:
        return _login_again(401, "error.login_failed", next_url, username=login)
    flow["pending"] = {"person": str(check.person_id), "at": time.time(), "next": next_url}
    return redirect("/sso/login/code", 303)


def _login_again(status: int, error: str, next_url: str, **values: Any) -> Response:
    """The sign-in form again, with why. It is shown at /sso/login without its query, so
    the language links carry `next` themselves."""
    return render_page(
        "sso_login.html",
        status,
        title=t("title.login"),
        next=next_url,
        lang_keep={"next": next_url},
        error=t(error),
        **values,
    )


def pending_person() -> uuid.UUID | None:
    """The person who gave the right password in this flow, for the next few minutes."""
    pending = flow.get("pending")
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_TTL_S:
        return None
    try:
        return uuid.UUID(pending["person"])
    except (KeyError, ValueError):
        return None


def _pending_target() -> str | None:
    pending = flow.get("pending") or {}
    return redirect_target_of(safe_next(pending.get("next")))


def _has_passkey(person_id: uuid.UUID) -> bool:
    with get_db().reading() as session:
        return bool(session.scalar(select(Passkey.id).where(Passkey.person_id == person_id)))


@bp.get("/sso/login/code")
def code_form() -> Response:
    person_id = pending_person()
    if person_id is None:
        return redirect("/sso/login", 303)
    page = render_page("sso_code.html", title=t("title.totp"), passkey=_has_passkey(person_id))
    return allow_form_redirect(page, _pending_target())


@bp.post("/sso/login/code")
def code_submit() -> Response:
    person_id = pending_person()
    if person_id is None:
        return redirect("/sso/login", 303)
    if not check_csrf():
        return error_page("error.csrf")
    code = request.form.get("code", "")[:64]
    services = current_hub()
    keyring, audit, sso = services.keyring, services.audit, sso_settings()
    source = throttle_key(request.remote_addr)
    db = get_db()
    with db.reading() as session:
        throttled = source_throttled(session, sso, source)
    if throttled:
        note_throttled(db, sso, audit, actor(), person_id=person_id, step="code", source=source)
        page = render_page(
            "sso_code.html",
            429,
            title=t("title.totp"),
            error=t("error.throttled"),
            passkey=_has_passkey(person_id),
        )
        return allow_form_redirect(page, _pending_target())
    with db.transaction() as session:
        cred = credential(session, person_id, lock=True)
        ok, method = False, "otp"
        if not code_locked(cred):  # the code step counts per account, from any address
            if code.strip().isdigit():
                ok = totp.verify_totp(session, keyring, cred, code)
            else:
                ok = totp.use_recovery_code(session, keyring, person_id, code)
                method = "recovery"
        if not ok:
            locked = count_code_failure(session, sso, cred)
            count_source_failure(session, sso, source)
            note_failure(
                session,
                sso,
                audit,
                actor(),
                person_id=person_id,
                step="code",
                source=source,
                locked=locked,
            )
            failed = True
        else:
            cred.failed_logins = 0
            flush_person(session, audit, actor(), person_id)  # failures before, in order
            hub, secret = start_session(
                session,
                keyring,
                person_id,
                amr=["pwd", "otp" if method == "otp" else "kba"],
                ttl_s=sso.session_ttl_s,
                source_ip=request.remote_addr,
                user_agent=request.headers.get("User-Agent"),
            )
            audit.record(
                session,
                actor=actor(person_id),
                action="sso.login.success",
                object_type="person",
                object_id=person_id,
                after={"session": str(hub.id), "method": method},
            )
            failed = False
    if failed:
        page = render_page(
            "sso_code.html",
            401,
            title=t("title.totp"),
            error=t("error.code_failed"),
            passkey=_has_passkey(person_id),
        )
        return allow_form_redirect(page, _pending_target())
    next_url = safe_next(flow.pop("pending", {}).get("next"))
    if method == "recovery":  # a lost phone, likely: re-enrol first, then carry on
        flow["after_recovery"] = next_url
        next_url = AFTER_RECOVERY_PAGE
    response = redirect(next_url, 303)
    set_cookie(response, secret, secure=secure_cookies(), max_age=sso.session_ttl_s)
    return response
