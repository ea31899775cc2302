"""My sessions (/account/sessions): the person's live hub sessions and the apps holding
their tokens; end one session, or all of them and every token. (It was /sso/account,
which now sends here.) The account's recent sign-in failures are shown here and on the
second-factor page."""

from __future__ import annotations

import uuid

from flask import abort, redirect, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from idhub.account.pages import SECTIONS, Section, bp, render_section, require_person
from idhub.db import get_db
from idhub.models import OAuthClient, OAuthToken, SsoSession, utcnow
from idhub.oidc.i18n import t
from idhub.oidc.pages.account import local_time, recent_failures
from idhub.oidc.pages.common import check_csrf, end_own_access, error_page

SECTIONS.append(Section("account.sessions", "account.nav.sessions"))


@bp.get("/sessions")
def sessions() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    session = get_db().session(write=False)
    try:
        live = list(
            session.scalars(
                select(SsoSession)
                .where(
                    SsoSession.person_id == who.person.id,
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
                .where(OAuthToken.person_id == who.person.id, OAuthToken.revoked_at.is_(None))
            )
        )
        failures = recent_failures(session, who.person.id)
    finally:
        session.close()
    return render_section(
        "account_sessions.html",
        title=t("title.account"),
        person=who.person,
        failures=failures,
        sessions=live,
        apps=apps,
        current=who.session.id if who.session else None,
        local_time=local_time,
    )


@bp.post("/sessions/end")
def end_sessions() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    which = request.form.get("session", "all")
    only = None
    if which != "all":
        try:
            only = uuid.UUID(which)
        except ValueError:
            abort(400)
    end_own_access(
        who.person.id, "ended by the person", session_id=only, revoke_all_tokens=only is None
    )
    return redirect("/account/sessions", 303)
