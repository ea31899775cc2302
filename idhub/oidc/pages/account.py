"""The "my account" page (/sso/account): a person's live sessions and the apps holding their
tokens; ending one session or all of them."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, redirect, request
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.models import LoginLock, OAuthClient, OAuthToken, SsoSession, utcnow
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


RECENT_DAYS = 30


def recent_failures(session: Session, person_id: uuid.UUID) -> SimpleNamespace | None:
    """Wrong passwords for this account lately: how many, from how many addresses, how
    many of those got locked, and when the latest was (one short line on the page)."""
    since = utcnow() - dt.timedelta(days=RECENT_DAYS)
    count, sources, locked, at = session.execute(
        select(
            func.coalesce(func.sum(LoginLock.total_failures), 0),
            func.count(),
            func.coalesce(func.sum(case((LoginLock.last_locked_at > since, 1), else_=0)), 0),
            func.max(LoginLock.last_failure_at),
        ).where(LoginLock.person_id == person_id, LoginLock.last_failure_at > since)
    ).one()
    if not count:
        return None
    return SimpleNamespace(count=count, sources=sources, locked=locked, at=at)


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
        failures = recent_failures(session, user.person.id)
    finally:
        session.close()
    return render_page(
        "sso_account.html",
        failures=failures,
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
