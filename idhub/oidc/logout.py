"""Ending access: hub sessions, refresh and access tokens, and back-channel logout.

`end_access` is the one place that ends a person's sign-on, used by the sign-out page,
the "my sessions" page, RP-initiated logout and the provisioning worker when a person
converges to disabled. In one transaction it ends the sessions, revokes the tokens,
audits and queues a back-channel logout for every app that took part in an ended session
(oidc/backchannel.py: the outbox delivers a logout token, OIDC Back-Channel Logout 1.0, a
JWT signed by the active key, and retries until the app answers).
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from joserfc import jwt
from sqlalchemy import func, select, update

from idhub.changes.chain import Actor, AuditLog
from idhub.config import Settings
from idhub.db import Database
from idhub.keyring import Keyring
from idhub.models import AuthorizationCode, OAuthClient, OAuthToken, SsoSession, utcnow
from idhub.oidc import keys
from idhub.oidc.backchannel import queue_notices
from idhub.oidc.settings import SsoSettings
from idhub.web.settings import ServerSettings

log = logging.getLogger(__name__)
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Ended:
    sessions: list[uuid.UUID] = field(default_factory=list)
    tokens_revoked: int = 0
    # (client_id, person id, session id): back-channel logouts queued
    notices: list[tuple[str, uuid.UUID, uuid.UUID]] = field(default_factory=list)


@dataclass(frozen=True)
class LogoutSettings:
    issuer: str
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> LogoutSettings:
        sso = settings.section(SsoSettings)
        return cls(
            issuer=sso.issuer or settings.section(ServerSettings).public_url,
            timeout_s=sso.backchannel_timeout_s,
        )


def end_access(
    db: Database,
    audit: AuditLog,
    keyring: Keyring,
    conf: LogoutSettings,
    actor: Actor,
    person_ids: Iterable[uuid.UUID],
    *,
    reason: str,
    session_id: uuid.UUID | None = None,
    revoke_all_tokens: bool = True,
    keep_session: uuid.UUID | None = None,
) -> Ended:
    """End the people's live sessions (or one session, or all but `keep_session`: the
    person's "end my other sessions"), revoke their tokens and queue the apps'
    back-channel logouts. (`keyring` and `conf` are unused here now: the worker signs
    each logout token at delivery; kept so every caller stays as it was.)"""
    people = list(dict.fromkeys(person_ids))
    ended = Ended()
    if not people:
        return ended
    now = utcnow()
    with db.transaction() as session:
        query = select(SsoSession.id, SsoSession.person_id).where(
            SsoSession.person_id.in_(people), SsoSession.ended_at.is_(None)
        )
        if session_id is not None:
            query = query.where(SsoSession.id == session_id)
        if keep_session is not None:
            query = query.where(SsoSession.id != keep_session)
        live = list(session.execute(query))
        ended.sessions = [sid for sid, _ in live]
        if ended.sessions:
            session.execute(
                update(SsoSession)
                .where(SsoSession.id.in_(ended.sessions))
                .values(ended_at=now, end_reason=reason[:64])
                .execution_options(synchronize_session=False)
            )
            rows = session.execute(
                select(
                    AuthorizationCode.client_id,
                    OAuthClient.backchannel_logout_uri,
                    AuthorizationCode.person_id,
                    AuthorizationCode.session_id,
                )
                .join(OAuthClient, OAuthClient.client_id == AuthorizationCode.client_id)
                .where(
                    AuthorizationCode.session_id.in_(ended.sessions),
                    OAuthClient.backchannel_logout_uri.is_not(None),
                )
                .distinct()
            )
            ended.notices = [(c, p, s) for c, uri, p, s in rows if uri and s]
            queue_notices(session, ended.notices, f"logout: {reason}")
        token_filter = (
            OAuthToken.person_id.in_(people)
            if revoke_all_tokens and session_id is None and keep_session is None
            else OAuthToken.session_id.in_(ended.sessions or [uuid.UUID(int=0)])
        )
        live_tokens = [OAuthToken.revoked_at.is_(None), token_filter]
        tokens_of: dict[uuid.UUID, int] = {}
        for pid, count in session.execute(
            select(OAuthToken.person_id, func.count())
            .where(*live_tokens)
            .group_by(OAuthToken.person_id)
        ):
            if pid is not None:
                tokens_of[pid] = count
        if tokens_of:
            session.execute(
                update(OAuthToken)
                .where(*live_tokens)
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
        ended.tokens_revoked = sum(tokens_of.values())
        sessions_of: dict[uuid.UUID, int] = {}
        for _, pid in live:
            sessions_of[pid] = sessions_of.get(pid, 0) + 1
        for pid in people:
            if sessions_of.get(pid) or tokens_of.get(pid):
                audit.record(
                    session,
                    actor=actor,
                    action="sso.sessions.end",
                    object_type="person",
                    object_id=pid,
                    after={
                        "sessions": sessions_of.get(pid, 0),
                        "tokens_revoked": tokens_of.get(pid, 0),
                        "reason": reason,
                    },
                )
    return ended


def logout_token(
    db: Database,
    audit: AuditLog,
    keyring: Keyring,
    conf: LogoutSettings,
    client_id: str,
    person_id: uuid.UUID,
    session_id: uuid.UUID,
) -> str:
    kid, key = keys.signing_key(db, keyring, audit)
    now = int(time.time())
    claims = {
        "iss": conf.issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "sub": str(person_id),
        "sid": str(session_id),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return jwt.encode({"alg": keys.ALG, "kid": kid, "typ": "logout+jwt"}, claims, key)


class LeaverHook:
    """Called by the provisioning worker with the people it converged to not-enabled."""

    def __init__(self, db: Database, audit: AuditLog, keyring: Keyring, settings: Settings) -> None:
        self.db, self.audit, self.keyring = db, audit, keyring
        self.conf = LogoutSettings.from_settings(settings)

    def __call__(self, person_ids: list[uuid.UUID], actor: Actor) -> Ended:
        return end_access(
            self.db,
            self.audit,
            self.keyring,
            self.conf,
            actor,
            person_ids,
            reason="account disabled",
        )


def decode_logout_token(token: str, jwks: dict) -> dict:
    """For tests and the example app: verify a logout token against a JWKS."""
    from joserfc.jwk import KeySet

    return jwt.decode(token, KeySet.import_key_set(jwks)).claims  # type: ignore[arg-type]


__all__ = ["Ended", "LeaverHook", "LogoutSettings", "end_access", "decode_logout_token"]
