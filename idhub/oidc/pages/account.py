"""What the person's own pages show of their sign-on: recent failures and local times.

The "my sessions" page itself moved to /account/sessions (idhub/account/sessions.py);
/sso/account and its form's address answer with a permanent redirect there."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import redirect
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.models import LoginLock, utcnow
from idhub.oidc.pages.common import bp

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
    """Moved to /account/sessions (the account wing)."""
    return redirect("/account/sessions", 301)


@bp.post("/sso/account/sessions/end")
def end_session_page() -> Response:
    """Moved: 308 keeps the method and the form (its CSRF token) for the new address."""
    return redirect("/account/sessions/end", 308)
