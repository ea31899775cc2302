"""The "my account" page (/sso/account): a person's live sessions and the apps holding their
tokens; ending one session or all of them."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, redirect, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.models import OAuthClient, OAuthToken, SsoSession, utcnow
from idhub.oidc.i18n import t
from idhub.oidc.pages.common import (
    bp,
    check_csrf,
    end_own_access,
    error_page,
    render_page,
    signed_in,
)

try:  # staff read times in Vietnam's time (no daylight saving: UTC+7 all year)
    LOCAL_TZ: dt.tzinfo = ZoneInfo("Asia/Ho_Chi_Minh")
except ZoneInfoNotFoundError:  # pragma: no cover - a system without the tz database
    LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))


def local_time(value: dt.datetime) -> str:
    """`14:05 05/12/2026 (UTC+7)`: Vietnamese order, the offset said."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y") + " (UTC+7)"


@bp.get("/sso/account")
def account() -> Response:
    user = signed_in()
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
    return render_page(
        "sso_account.html",
        title=t("title.account"),
        person=user.person,
        sessions=sessions,
        apps=apps,
        current=user.session.id if user.session else None,
        local_time=local_time,
    )


@bp.post("/sso/account/sessions/end")
def end_session_page() -> Response:
    user = signed_in()
    if user is None:
        return redirect("/sso/login", 303)
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
        user.person.id, "ended by the person", session_id=only, revoke_all_tokens=only is None
    )
    return redirect("/sso/account", 303)
