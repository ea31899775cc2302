"""What every storage hook shares: one write transaction, the running app's keyring, audit
log and sign-on settings, the issuer, revoking a token family, recording a consent and
auditing a sign-on event."""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.db import WRITE_METHODS, Database, db_session, get_db, table_of, upsert
from idhub.keyring import Keyring
from idhub.models import Consent, OAuthToken, utcnow
from idhub.oidc.settings import SsoSettings
from idhub.oidc.state import oidc_state
from idhub.services import current_hub

log = logging.getLogger(__name__)


@contextmanager
def writing() -> Iterator[Session]:
    """One write transaction: the request's own session on POST (which already holds the
    write lock on SQLite, so a second connection would wait on it), else a new one."""
    if has_request_context() and request.method in WRITE_METHODS:
        session = db_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    else:
        with get_db().transaction() as session:
            yield session


_immediate: weakref.WeakKeyDictionary[Database, Engine] = weakref.WeakKeyDictionary()


@contextmanager
def writing_statements() -> Iterator[Connection]:
    """A write transaction for Core statements alone (no unit of work, no audit): the
    request's own on POST, else a bare connection (BEGIN IMMEDIATE on SQLite), committed
    at the end; no Session is made for one INSERT."""
    if has_request_context() and request.method in WRITE_METHODS:
        with writing() as session:
            yield session.connection()
        return
    db = get_db()
    engine = _immediate.get(db)
    if engine is None:
        engine = _immediate[db] = db.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
    with engine.begin() as connection:
        yield connection


def read_session() -> Session:
    """One read session for the request's reads (the hub session, the person, the client,
    the claims): the request's own on GET, else one beside the request's write session, so
    a token request holds the write lock only while it writes. Closed when the request
    ends (`close_read_session`)."""
    if request.method not in WRITE_METHODS:
        return db_session()
    session = g.get("_sso_read")
    if session is None:
        session = g._sso_read = get_db().session(write=False)
    return session


@contextmanager
def short_read() -> Iterator[Session]:
    """A read at the start of a request: in the request's read session on GET (no second
    connection), in a session of its own on POST, given back at once (the request's write
    transaction may wait for the lock; it must not wait holding a second connection)."""
    if request.method not in WRITE_METHODS:
        yield db_session()
        return
    session = get_db().session(write=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def close_read_session(_exc: BaseException | None = None) -> None:
    session = g.pop("_sso_read", None)
    if session is not None:
        session.rollback()
        session.close()


def keyring() -> Keyring:
    return current_hub().keyring


def audit_log() -> AuditLog:
    return current_hub().audit


def sso_settings() -> SsoSettings:
    return current_hub().settings.section(SsoSettings)


def issuer() -> str:
    return oidc_state().issuer


def revoke_family(session: Session, family_id: uuid.UUID, why: str) -> int:
    """Revoke every token descending from one authorization code."""
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    log.warning("token family revoked: %s", why, extra={"family_id": str(family_id)})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def refuse_replay(
    session: Session, family_id: uuid.UUID, client_id: str, *, action: str, why: str
) -> None:
    """A one-time credential presented again (a code: RFC 6749 4.1.2; a rotated refresh
    token: RFC 9700 4.14.2): whoever holds it may be an attacker, so every token of its
    family is revoked, and the replay audited."""
    revoked = revoke_family(session, family_id, why)
    record_audit(session, action, family_id, {"client_id": client_id, "tokens_revoked": revoked})


def record_audit(
    session: Session, action: str, object_id: Any, after: dict, actor: Actor | None = None
) -> None:
    audit_log().record(
        session,
        actor=actor or Actor("system", "sso", request_id=g.get("request_id")),
        action=action,
        object_type="sso",
        object_id=object_id,
        after=after,
    )


def record_consent(session: Session, person_id: uuid.UUID, client_id: str, scope: str) -> None:
    """A person allows a client these scopes (added to what they allowed before).

    Several tabs may allow the same app at the same moment: the row is made with INSERT …
    ON CONFLICT DO NOTHING (the others wait for it, then find it) and the scopes merged
    under a row lock, so every tab goes through and none fails on the primary key."""
    now = utcnow()
    session.execute(
        upsert(session, table_of(Consent))
        .values(person_id=person_id, client_id=client_id, scope="", granted_at=now)
        .on_conflict_do_nothing(index_elements=["person_id", "client_id"])
    )
    row = session.scalars(
        select(Consent)
        .where(Consent.person_id == person_id, Consent.client_id == client_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    row.scope = " ".join(sorted(set(row.scope.split()) | set(scope.split())))
    row.granted_at = now
