"""What the sign-in pages share: the "sso" blueprint, rendering (language cookie, no-store),
CSRF, the form-redirect CSP helper, safe `next` targets and who is signed in."""

from __future__ import annotations

import hmac
import secrets
import unicodedata
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    g,
    make_response,
    render_template,
    request,
)
from flask import (
    session as flow,
)
from sqlalchemy import select

from idhub.changes.chain import Actor
from idhub.db import get_db
from idhub.models import OAuthClient
from idhub.oidc.i18n import LANG_COOKIE, LANGS, locale, t
from idhub.oidc.logout import LogoutSettings, end_access
from idhub.oidc.models import SignedIn
from idhub.oidc.sessions import current_person_session, needs_touch, touch
from idhub.oidc.settings import SsoSettings
from idhub.oidc.state import oidc_state
from idhub.oidc.storage import short_read, writing
from idhub.services import current_hub
from idhub.web.security import SECURITY_HEADERS

# One blueprint for every flow, so endpoint names stay "sso.<view>".
bp = Blueprint("sso", __name__, template_folder="../../templates")


def sso_settings() -> SsoSettings:
    return current_hub().settings.section(SsoSettings)


def secure_cookies() -> bool:
    return oidc_state().secure_cookies


def actor(person_id: Any = None) -> Actor:
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


def check_csrf() -> bool:
    sent = request.form.get("csrf_token", "")
    return bool(sent) and hmac.compare_digest(sent, flow.get("csrf", ""))


HOME = "/account"
_MAX_NEXT = 4096


def _odd(text: str) -> bool:
    """Whitespace, control characters or backslashes: browsers strip or turn them into
    slashes, so `/<TAB>/evil.example` or `/\\evil.example` would leave the hub."""
    return "\\" in text or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in text)


def safe_next(value: str | None) -> str:
    """A path on this hub only (no open redirect), judged by parsing: no scheme, no
    netloc, no scheme-relative `//`, nothing odd in it, even once percent-decoded."""
    if not value or len(value) > _MAX_NEXT or _odd(value) or not value.startswith("/"):
        return HOME
    parts = urlsplit(value)
    path = unquote(parts.path)
    if parts.scheme or parts.netloc or value.startswith("//") or path.startswith("//"):
        return HOME
    if _odd(path) or urlsplit(path).netloc:
        return HOME
    return value


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(
        render_template(template, t=t, lang=locale(), csrf=csrf_token(), **context), status
    )
    response.headers["Cache-Control"] = "no-store"
    if request.args.get("lang") in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            request.args["lang"],
            samesite="Lax",
            secure=secure_cookies(),
            max_age=365 * 86400,
        )
    return response


def error_page(message_key: str, status: int = 400) -> Response:
    return render_page("sso_message.html", status, title=t("title.error"), message=t(message_key))


def _origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def allow_form_redirect(response: Response, target: str | None) -> Response:
    """Browsers apply CSP form-action to the redirects after a form is sent: let this
    page's form end at `target`'s origin (a URI already checked against a registration)."""
    origin = _origin(target) if target else None
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    if origin:
        csp = csp.replace("form-action 'self'", f"form-action 'self' {origin}")
    response.headers["Content-Security-Policy"] = csp
    return response


def redirect_target_of(next_url: str) -> str | None:
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


def signed_in() -> SignedIn | None:
    """The person this browser's hub session belongs to, if it is live."""
    with short_read() as session:
        found = current_person_session(
            session, current_hub().keyring, request, idle_s=sso_settings().session_idle_s
        )
    if found is None:
        return None
    hub, person = found
    if needs_touch(hub):
        with writing() as write:
            touch(write, hub.id)
    return SignedIn(person, hub)


def logout_settings() -> LogoutSettings:
    return LogoutSettings.from_settings(current_hub().settings)


def end_own_access(
    person_id: uuid.UUID,
    reason: str,
    *,
    session_id: uuid.UUID | None,
    revoke_all_tokens: bool,
    keep_session: uuid.UUID | None = None,
) -> None:
    """A person ends their own access: one session (and its tokens), all of them, or all
    but `keep_session` (the one they are using)."""
    hub = current_hub()
    end_access(
        get_db(),
        hub.audit,
        hub.keyring,
        logout_settings(),
        actor(person_id),
        [person_id],
        reason=reason,
        session_id=session_id,
        revoke_all_tokens=revoke_all_tokens,
        keep_session=keep_session,
    )
