"""The authorization request (/oauth/authorize): sign in first if needed, ask consent for
a third-party app, then Authlib's redirect back with the code."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import redirect, request
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.models import Consent, OAuthClient, utcnow
from idhub.oidc.i18n import t
from idhub.oidc.models import SignedIn
from idhub.oidc.pages.common import (
    actor,
    allow_form_redirect,
    bp,
    check_csrf,
    error_page,
    render_page,
    signed_in,
)
from idhub.oidc.state import oidc_state
from idhub.oidc.storage import audit_log, record_consent, writing


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
def authorize() -> Response:
    server = oidc_state().server
    user = signed_in()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            # Authlib adds RFC 9207's iss only in create_authorization_response: here too.
            response = server.handle_error_response(None, error)
            if response.location:
                response.location = add_params_to_uri(
                    response.location, {"iss": oidc_state().issuer}
                )
            return response
        return render_page(
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
            page = render_page(
                "sso_consent.html",
                title=t("title.consent"),
                app=client_row.name,
                scopes=scope.split(),
                action=request.full_path,
            )
            return allow_form_redirect(page, getattr(grant, "redirect_uri", None))
        if not check_csrf():
            return error_page("error.csrf")
        if request.form.get("decision") != "allow":
            return server.create_authorization_response(grant=grant, grant_user=None)
        with writing() as session:
            record_consent(session, user.person.id, client_row.client_id, scope)
            audit_log().record(
                session,
                actor=actor(user.person.id),
                action="sso.consent.grant",
                object_type="oauth_client",
                object_id=client_row.client_id,
                after={"scope": scope},
            )
    return server.create_authorization_response(grant=grant, grant_user=user)
