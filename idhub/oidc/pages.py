"""The server-rendered pages: sign-in (password, then TOTP), consent, authorize, activation
and password reset, "my account" (sessions and apps), sign-out (RP-initiated logout).

Every form carries a CSRF token bound to the signed flow cookie; views that change
anything run one transaction and audit it. Pages use no inline script (strict CSP).
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from flask import (
    session as flow,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from connectors.ldap import LdapConnector
from idhub.changes.chain import Actor
from idhub.db import get_db
from idhub.errors import Invalid
from idhub.models import Consent, OAuthClient, OAuthToken, Person, SsoSession, utcnow
from idhub.oidc import keys, totp
from idhub.oidc.credentials import set_credentials, valid_action_token
from idhub.oidc.grants import SignedIn, writing
from idhub.oidc.i18n import LANG_COOKIE, LANGS, locale, t
from idhub.oidc.login import (
    Outcome,
    check_password,
    count_failure,
    count_source_failure,
    credential,
)
from idhub.oidc.logout import LogoutSettings, end_access
from idhub.oidc.passwords import write_directory_password
from idhub.oidc.sessions import clear_cookie, current_session, set_cookie, start_session
from idhub.web.security import SECURITY_HEADERS

bp = Blueprint("sso", __name__, template_folder="../templates")
PENDING_TTL_S = 300  # between the password and the TOTP code


# ------------------------------------------------------------------ helpers


def _ext(name: str) -> Any:
    return current_app.extensions[name]


def _sso() -> dict[str, Any]:
    return _ext("idhub.settings")["sso"]


def _actor(person_id: Any = None) -> Actor:
    return Actor(
        "person" if person_id else "anonymous",
        str(person_id) if person_id else None,
        request_id=g.get("request_id"),
        source_ip=request.remote_addr,
    )


def csrf_token() -> str:
    if "csrf" not in flow:
        flow["csrf"] = secrets.token_urlsafe(24)
    return flow["csrf"]


def _check_csrf() -> bool:
    sent = request.form.get("csrf_token", "")
    return bool(sent) and hmac.compare_digest(sent, flow.get("csrf", ""))


def _safe_next(value: str | None) -> str:
    """Only a path on this hub (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/sso/account"


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(
        render_template(template, t=t, lang=locale(), csrf=csrf_token(), **context), status
    )
    response.headers["Cache-Control"] = "no-store"
    if request.args.get("lang") in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            request.args["lang"],
            samesite="Lax",
            secure=_ext("idhub.sso_secure_cookies"),
            max_age=365 * 86400,
        )
    return response


def _origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _allow_form_redirect(response: Response, target: str | None) -> Response:
    """Browsers apply CSP form-action to the redirects after a form is sent: let this
    page's form end at `target`'s origin (a URI already checked against a registration)."""
    origin = _origin(target) if target else None
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    if origin:
        csp = csp.replace("form-action 'self'", f"form-action 'self' {origin}")
    response.headers["Content-Security-Policy"] = csp
    return response


def _redirect_target_of(next_url: str) -> str | None:
    """The registered redirect URI an /oauth/authorize `next` URL will end at, if any."""
    parts = urlsplit(next_url)
    if parts.path != "/oauth/authorize":
        return None
    query = parse_qs(parts.query)
    client_id = next(iter(query.get("client_id", [])), None)
    wanted = next(iter(query.get("redirect_uri", [])), None)
    session = get_db().session(write=False)
    try:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    finally:
        session.close()
    if row is None:
        return None
    uris = row.redirect_uris or []
    if wanted is None:
        return uris[0] if len(uris) == 1 else None
    return wanted if wanted in uris else None


def _error_page(message_key: str, status: int = 400) -> Response:
    return _page("sso_message.html", status, title=t("title.error"), message=t(message_key))


def _hub_session() -> SsoSession | None:
    session = get_db().session(write=False)
    try:
        row = current_session(session, _ext("idhub.keyring"), request)
        if row is not None:
            session.expunge(row)
        return row
    finally:
        session.close()


def _signed_in() -> SignedIn | None:
    hub = _hub_session()
    if hub is None:
        return None
    session = get_db().session(write=False)
    try:
        person = session.get(Person, hub.person_id)
        if person is not None:
            session.expunge(person)
    finally:
        session.close()
    return SignedIn(person, hub) if person is not None else None


def _logout_conf() -> LogoutSettings:
    return LogoutSettings.from_settings(_ext("idhub.settings"))


# ------------------------------------------------------------------ sign-in


@bp.get("/sso/login")
def login_form():  # type: ignore[no-untyped-def]
    return _page(
        "sso_login.html", title=t("title.login"), next=_safe_next(request.args.get("next"))
    )


@bp.post("/sso/login")
def login_submit():  # type: ignore[no-untyped-def]
    next_url = _safe_next(request.form.get("next"))
    if not _check_csrf():
        return _error_page("error.csrf")
    login = request.form.get("username", "")[:254]
    password = request.form.get("password", "")[:1024]
    db = get_db()
    with db.transaction() as session:
        check = check_password(session, _sso(), login, password, request.remote_addr)
        if check.outcome is not Outcome.OK:
            _ext("idhub.audit").record(
                session,
                actor=_actor(),
                action="sso.login.failure",
                object_type="person",
                object_id=check.person_id,
                after={"step": "password", "reason": check.reason},
            )
    if check.outcome is Outcome.THROTTLED:
        return _page(
            "sso_login.html", 429, title=t("title.login"), next=next_url, error=t("error.throttled")
        )
    if check.outcome is not Outcome.OK:
        return _page(
            "sso_login.html",
            401,
            title=t("title.login"),
            next=next_url,
            error=t("error.login_failed"),
            username=login,
        )
    flow["pending"] = {"person": str(check.person_id), "at": time.time(), "next": next_url}
    return redirect("/sso/login/code", 303)


def _pending() -> uuid.UUID | None:
    pending = flow.get("pending")
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_TTL_S:
        return None
    try:
        return uuid.UUID(pending["person"])
    except (KeyError, ValueError):
        return None


def _pending_target() -> str | None:
    pending = flow.get("pending") or {}
    return _redirect_target_of(_safe_next(pending.get("next")))


@bp.get("/sso/login/code")
def code_form():  # type: ignore[no-untyped-def]
    if _pending() is None:
        return redirect("/sso/login", 303)
    return _allow_form_redirect(_page("sso_code.html", title=t("title.totp")), _pending_target())


@bp.post("/sso/login/code")
def code_submit():  # type: ignore[no-untyped-def]
    person_id = _pending()
    if person_id is None:
        return redirect("/sso/login", 303)
    if not _check_csrf():
        return _error_page("error.csrf")
    code = request.form.get("code", "")[:64]
    keyring, audit, sso = _ext("idhub.keyring"), _ext("idhub.audit"), _sso()
    db = get_db()
    with db.transaction() as session:
        cred = credential(session, person_id, lock=True)
        ok, method = False, "otp"
        if cred.locked_until is None or cred.locked_until <= utcnow():
            if code.strip().isdigit():
                ok = totp.verify_totp(session, keyring, cred, code)
            else:
                ok = totp.use_recovery_code(session, keyring, person_id, code)
                method = "recovery"
        if not ok:
            count_failure(session, sso, cred)
            count_source_failure(session, sso, request.remote_addr)
            audit.record(
                session,
                actor=_actor(),
                action="sso.login.failure",
                object_type="person",
                object_id=person_id,
                after={"step": "code", "method": method},
            )
            failed = True
        else:
            cred.failed_logins = 0
            hub, secret = start_session(
                session,
                keyring,
                person_id,
                amr=["pwd", "otp" if method == "otp" else "kba"],
                ttl_s=int(sso["session_ttl_s"]),
                source_ip=request.remote_addr,
                user_agent=request.headers.get("User-Agent"),
            )
            audit.record(
                session,
                actor=_actor(person_id),
                action="sso.login.success",
                object_type="person",
                object_id=person_id,
                after={"session": str(hub.id), "method": method},
            )
            failed = False
    if failed:
        page = _page("sso_code.html", 401, title=t("title.totp"), error=t("error.code_failed"))
        return _allow_form_redirect(page, _pending_target())
    next_url = _safe_next(flow.pop("pending", {}).get("next"))
    response = redirect(next_url, 303)
    set_cookie(
        response, secret, secure=_ext("idhub.sso_secure_cookies"), max_age=int(sso["session_ttl_s"])
    )
    return response


# ------------------------------------------------------------------ authorize + consent


def _consented(person_id: uuid.UUID, client_id: str, scope: str) -> bool:
    session = get_db().session(write=False)
    try:
        row = session.get(Consent, (person_id, client_id))
        return row is not None and set(scope.split()) <= set(row.scope.split())
    finally:
        session.close()


def _must_sign_in_again(grant: Any, user: SignedIn) -> bool:
    """prompt=login (OIDC Core 3.1.2.1), or a sign-in older than max_age."""
    if getattr(grant, "prompt", None) == "login":
        return True
    max_age = request.values.get("max_age", "")
    if max_age.isdigit() and user.session is not None:
        return (utcnow() - user.session.auth_time).total_seconds() > int(max_age)
    return False


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():  # type: ignore[no-untyped-def]
    server = _ext("idhub.oauth_server")
    user = _signed_in()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        return _page(
            "sso_message.html",
            400,
            title=t("title.error"),
            message=f"{t('error.request')} ({error.error}: {error.description or ''})",
        )
    if user is None or _must_sign_in_again(grant, user):
        # prompt=login is dropped from the way back, so the fresh sign-in satisfies it.
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "prompt"]
        back = request.path + "?" + urlencode(query)
        return redirect("/sso/login?" + urlencode({"next": back}), 303)
    client_row: OAuthClient = grant.client.row
    scope = grant.request.scope or ""
    if not client_row.first_party and not _consented(user.person.id, client_row.client_id, scope):
        if request.method == "GET":
            page = _page(
                "sso_consent.html",
                title=t("title.consent"),
                app=client_row.name,
                scopes=scope.split(),
                action=request.full_path,
            )
            return _allow_form_redirect(page, getattr(grant, "redirect_uri", None))
        if not _check_csrf():
            return _error_page("error.csrf")
        if request.form.get("decision") != "allow":
            return server.create_authorization_response(grant=grant, grant_user=None)
        with writing() as session:
            row = session.get(Consent, (user.person.id, client_row.client_id))
            if row is None:
                session.add(
                    Consent(person_id=user.person.id, client_id=client_row.client_id, scope=scope)
                )
            else:
                row.scope = " ".join(sorted(set(row.scope.split()) | set(scope.split())))
                row.granted_at = utcnow()
            _ext("idhub.audit").record(
                session,
                actor=_actor(user.person.id),
                action="sso.consent.grant",
                object_type="oauth_client",
                object_id=client_row.client_id,
                after={"scope": scope},
            )
    return server.create_authorization_response(grant=grant, grant_user=user)


# ------------------------------------------------------------------ activation / reset


@bp.route("/sso/activate/<token>", methods=["GET", "POST"])
def activate(token: str):  # type: ignore[no-untyped-def]
    keyring, audit, sso = _ext("idhub.keyring"), _ext("idhub.audit"), _sso()
    db = get_db()
    session = db.session(write=False)
    try:
        link = valid_action_token(session, keyring, token)
        person = session.get(Person, link.person_id) if link else None
        if person is not None:
            session.expunge(person)
    finally:
        session.close()
    if link is None or person is None:
        return _error_page("error.link", 404)
    title = t("title.activate" if link.purpose == "activate" else "title.reset")
    enrol = flow.get("enrol")
    if not enrol or enrol.get("link") != link.id:
        enrol = {"link": link.id, "secret": keyring.encrypt(totp.new_secret())}
        flow["enrol"] = enrol
    secret = keyring.decrypt(enrol["secret"])
    uri = totp.provisioning_uri(secret, person.username or str(person.id), sso["totp_issuer"])
    context = dict(
        title=title,
        person=person,
        secret=secret,
        qr=totp.qr_svg(uri),
        min_length=int(sso["password_min_length"]),
    )
    if request.method == "GET":
        return _page("sso_activate.html", **context)
    if not _check_csrf():
        return _error_page("error.csrf")
    password = request.form.get("password", "")[:1024]
    if password != request.form.get("password2", "")[:1024]:
        return _page("sso_activate.html", 400, errors=[t("error.password_mismatch")], **context)
    try:
        with db.transaction() as session:
            row = valid_action_token(session, keyring, token)
            live = session.get(Person, person.id)
            if row is None or live is None:
                raise Invalid("link used")
            phc, codes = set_credentials(
                session,
                keyring,
                audit,
                sso,
                _actor(person.id),
                live,
                password=password,
                totp_secret=secret,
                totp_code=request.form.get("code", "")[:16],
            )
            row.used_at = utcnow()
    except Invalid as exc:
        problems = (exc.details or {}).get("password", []) + (
            ["code"] if "code" in (exc.details or {}) else []
        )
        if not problems:
            return _error_page("error.link", 404)
        messages = [
            t("error.code_failed") if p == "code" else t(f"error.{p}", n=context["min_length"])
            for p in problems
        ]
        return _page("sso_activate.html", 400, errors=messages, **context)
    flow.pop("enrol", None)
    if link.purpose == "reset":  # a reset ends every session the old password opened
        end_access(
            db,
            audit,
            keyring,
            _logout_conf(),
            _actor(person.id),
            [person.id],
            reason="password reset",
        )
    connector = LdapConnector(_ext("idhub.ldap_config"))
    try:
        error = write_directory_password(connector, str(person.id), phc)
    finally:
        connector.close()
    if error:
        current_app.logger.warning("directory password not written: %s", error)
    return _page("sso_recovery.html", title=t("title.recovery"), codes=codes)


# ------------------------------------------------------------------ account + logout


@bp.get("/sso/account")
def account():  # type: ignore[no-untyped-def]
    user = _signed_in()
    if user is None:
        return redirect("/sso/login?" + urlencode({"next": "/sso/account"}), 303)
    session = get_db().session(write=False)
    try:
        sessions = list(
            session.scalars(
                select(SsoSession)
                .where(
                    SsoSession.person_id == user.person.id,
                    SsoSession.ended_at.is_(None),
                    SsoSession.expires_at > utcnow(),
                )
                .order_by(SsoSession.created_at.desc())
            )
        )
        apps = list(
            session.execute(
                select(OAuthClient.client_id, OAuthClient.name)
                .distinct()
                .join(OAuthToken, OAuthToken.client_id == OAuthClient.client_id)
                .where(OAuthToken.person_id == user.person.id, OAuthToken.revoked_at.is_(None))
            )
        )
    finally:
        session.close()
    return _page(
        "sso_account.html",
        title=t("title.account"),
        person=user.person,
        sessions=sessions,
        apps=apps,
        current=user.session.id if user.session else None,
    )


@bp.post("/sso/account/sessions/end")
def end_session_page():  # type: ignore[no-untyped-def]
    user = _signed_in()
    if user is None:
        return redirect("/sso/login", 303)
    if not _check_csrf():
        return _error_page("error.csrf")
    which = request.form.get("session", "all")
    only = None
    if which != "all":
        try:
            only = uuid.UUID(which)
        except ValueError:
            abort(400)
    end_access(
        get_db(),
        _ext("idhub.audit"),
        _ext("idhub.keyring"),
        _logout_conf(),
        _actor(user.person.id),
        [user.person.id],
        reason="ended by the person",
        session_id=only,
        revoke_all_tokens=only is None,
    )
    return redirect("/sso/account", 303)


def _id_token_claims(hint: str) -> dict | None:
    """The claims of an ID token we issued (signature checked; expiry not required)."""
    session = get_db().session(write=False)
    try:
        key_set = KeySet.import_key_set(keys.jwks(session))  # type: ignore[arg-type]
    finally:
        session.close()
    try:
        return dict(jwt.decode(hint, key_set, algorithms=[keys.ALG]).claims)
    except (JoseError, ValueError):
        return None


@bp.route("/oauth/logout", methods=["GET", "POST"])
def rp_logout():  # type: ignore[no-untyped-def]
    """OIDC RP-Initiated Logout 1.0: confirm, end the hub session, back-channel, redirect."""
    params = request.values
    hint = params.get("id_token_hint")
    client_id = params.get("client_id")
    post_logout = params.get("post_logout_redirect_uri")
    state = params.get("state")
    if hint:
        claims = _id_token_claims(hint)
        if claims is None or claims.get("iss") != _ext("idhub.issuer"):
            return _error_page("error.request")
        aud = claims.get("aud")
        aud_list = aud if isinstance(aud, list) else [aud]
        if client_id and client_id not in aud_list:
            return _error_page("error.request")
        client_id = client_id or aud_list[0]
    redirect_to = None
    if post_logout:
        session = get_db().session(write=False)
        try:
            row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        finally:
            session.close()
        # Exact match against the client's registration; a client must be identified.
        if row is None or post_logout not in (row.post_logout_redirect_uris or []):
            return _error_page("error.request")
        redirect_to = post_logout + (
            ("&" if "?" in post_logout else "?") + urlencode({"state": state}) if state else ""
        )
    user = _signed_in()
    if request.method == "GET" and user is not None:
        page = _page("sso_logout.html", title=t("title.logout"), params=dict(params))
        return _allow_form_redirect(page, redirect_to)
    if request.method == "POST" and not _check_csrf():
        return _error_page("error.csrf")
    if user is not None and user.session is not None:
        end_access(
            get_db(),
            _ext("idhub.audit"),
            _ext("idhub.keyring"),
            _logout_conf(),
            _actor(user.person.id),
            [user.person.id],
            reason="signed out",
            session_id=user.session.id,
            revoke_all_tokens=False,
        )
    response = (
        redirect(redirect_to, 303)
        if redirect_to
        else _page("sso_message.html", title=t("title.logout"), message=t("text.logged_out"))
    )
    clear_cookie(response, secure=_ext("idhub.sso_secure_cookies"))
    return response


__all__ = ["bp"]
