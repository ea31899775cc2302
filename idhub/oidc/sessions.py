"""Browser sessions at the hub, kept in the database (any web node can serve any request).

The cookie holds a random secret; the table holds its keyed SHA-256, the person, when and
how they signed in (auth_time, amr) and when the session ends. Ending a session is a
row update, so it takes effect on every node at once. A session unused for `idle_s` ends
too: `last_seen_at` is moved on use, at most once a minute (one small UPDATE, not one
per request).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from flask import Request
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.keyring import Keyring
from idhub.metrics import signed_in
from idhub.models import Person, SsoSession, utcnow

COOKIE = "idhub_session"
TOUCH_EVERY_S = 60  # last_seen_at is this coarse, so a busy page costs no writes


def start_session(
    session: Session,
    keyring: Keyring,
    person_id: uuid.UUID,
    *,
    amr: list[str],
    ttl_s: int,
    source_ip: str | None,
    user_agent: str | None,
) -> tuple[SsoSession, str]:
    """A new session row and the cookie secret for it (returned once, stored hashed)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = SsoSession(
        id=uuid.uuid4(),
        secret_hash=keyring.token_hash(secret),
        person_id=person_id,
        auth_time=now,
        amr=amr,
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s),
        source_ip=source_ip,
        user_agent=(user_agent or "")[:255] or None,
    )
    session.add(row)
    session.flush()
    signed_in("ok", session)
    return row, secret


def current_session(
    session: Session, keyring: Keyring, request: Request, *, idle_s: int
) -> SsoSession | None:
    """The live session named by the request's cookie, or None (ended, expired, or
    unused for `idle_s`)."""
    secret = request.cookies.get(COOKIE)
    if not secret or len(secret) > 128:
        return None
    row = session.scalar(
        select(SsoSession).where(SsoSession.secret_hash == keyring.token_hash(secret))
    )
    return row if row is not None and _live(row, idle_s) else None


_WITH_PERSON = (  # built once: building a statement costs about what running it does
    select(SsoSession, Person)
    .join(Person, Person.id == SsoSession.person_id)
    .where(SsoSession.secret_hash == bindparam("secret_hash"))
)


def current_person_session(
    session: Session, keyring: Keyring, request: Request, *, idle_s: int
) -> tuple[SsoSession, Person] | None:
    """`current_session` and its person in one query, both detached from `session` (the
    sign-in pages keep them for the whole request)."""
    secret = request.cookies.get(COOKIE)
    if not secret or len(secret) > 128:
        return None
    found = session.execute(_WITH_PERSON, {"secret_hash": keyring.token_hash(secret)}).first()
    if found is None or not _live(found[0], idle_s):
        return None
    row, person = found
    session.expunge(row)
    session.expunge(person)
    return row, person


def _live(row: SsoSession, idle_s: int) -> bool:
    now = utcnow()
    if row.ended_at is not None or row.expires_at <= now:
        return False
    return row.last_seen_at + dt.timedelta(seconds=idle_s) > now


def needs_touch(row: SsoSession) -> bool:
    return row.last_seen_at + dt.timedelta(seconds=TOUCH_EVERY_S) <= utcnow()


def touch(session: Session, session_id: uuid.UUID) -> None:
    """The session was used now (guarded, so racing requests write it once)."""
    now = utcnow()
    session.execute(
        update(SsoSession)
        .where(
            SsoSession.id == session_id,
            SsoSession.last_seen_at <= now - dt.timedelta(seconds=TOUCH_EVERY_S),
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def end_sessions(
    session: Session, *, person_id: uuid.UUID, reason: str, only: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """End a person's live sessions (or one of them); returns the ids that ended."""
    query = select(SsoSession.id).where(
        SsoSession.person_id == person_id, SsoSession.ended_at.is_(None)
    )
    if only is not None:
        query = query.where(SsoSession.id == only)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(SsoSession)
            .where(SsoSession.id.in_(ids))
            .values(ended_at=utcnow(), end_reason=reason[:64])
            .execution_options(synchronize_session=False)
        )
    return ids


def set_cookie(response: Response, secret: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        COOKIE, secret, max_age=max_age, secure=secure, httponly=True, samesite="Lax", path="/"
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="Lax")
