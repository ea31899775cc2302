"""Signing out (/oauth/logout, OIDC RP-Initiated Logout 1.0): check the app's hint and
return address, confirm, end the hub session (back-channel to the apps), redirect."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import redirect, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.models import OAuthClient
from idhub.oidc import keys
from idhub.oidc.i18n import t
from idhub.oidc.pages.common import (
    allow_form_redirect,
    bp,
    check_csrf,
    end_own_access,
    error_page,
    render_page,
    secure_cookies,
    signed_in,
)
from idhub.oidc.sessions import clear_cookie
from idhub.oidc.state import oidc_state


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
def rp_logout() -> Response:
    """OIDC RP-Initiated Logout 1.0: confirm, end the hub session, back-channel, redirect."""
    params = request.values
    hint = params.get("id_token_hint")
    client_id = params.get("client_id")
    post_logout = params.get("post_logout_redirect_uri")
    state = params.get("state")
    if hint:
        claims = _id_token_claims(hint)
        if claims is None or claims.get("iss") != oidc_state().issuer:
            return error_page("error.request")
        aud = claims.get("aud")
        aud_list = aud if isinstance(aud, list) else [aud]
        if client_id and client_id not in aud_list:
            return error_page("error.request")
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
            return error_page("error.request")
        redirect_to = post_logout + (
            ("&" if "?" in post_logout else "?") + urlencode({"state": state}) if state else ""
        )
    user = signed_in()
    if request.method == "GET" and user is not None:
        page = render_page("sso_logout.html", title=t("title.logout"), params=dict(params))
        return allow_form_redirect(page, redirect_to)
    if request.method == "POST" and not check_csrf():
        return error_page("error.csrf")
    if user is not None and user.session is not None:
        end_own_access(
            user.person.id, "signed out", session_id=user.session.id, revoke_all_tokens=False
        )
    response = (
        redirect(redirect_to, 303)
        if redirect_to
        else render_page("sso_message.html", title=t("title.logout"), message=t("text.logged_out"))
    )
    clear_cookie(response, secure=secure_cookies())
    return response
