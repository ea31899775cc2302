"""Single sign-on state: signing keys, codes, browser sessions, credentials, one-time links.

Every secret that arrives from outside (codes, session cookies, recovery codes, activation
links) is stored as a keyed SHA-256; private keys and TOTP secrets are encrypted with the
keyring's Fernet key; passwords are argon2id PHC strings.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class SigningKey(Base):
    """A JWS signing key: `active` signs; `retired` still verifies (in JWKS) until expires_at."""

    __tablename__ = "sso_signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Dropped from JWKS after this moment (retired_at + overlap).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SsoSession(Base):
    """A browser's sign-in at the hub (server side; the cookie carries only a random secret)."""

    __tablename__ = "sso_session"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 4.1): single use, short-lived, bound to its request."""

    __tablename__ = "oauth_authorization_code"
    # A nonce seen before is refused (OIDC): found by (client, nonce), not by scanning
    # every code the client was ever given.
    __table_args__ = (Index("ix_oauth_authorization_code_client_nonce", "client_id", "nonce"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_client.client_id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sso_session.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Consent(Base):
    """A person's consent to a (non-first-party) client for a set of scopes."""

    __tablename__ = "sso_consent"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_client.client_id"), primary_key=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonCredential(Base):
    """How a person signs in: argon2id password, TOTP (encrypted), failure counter, lockout."""

    __tablename__ = "person_credential"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_set_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    totp_enrolled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set when the hub's password changed and the directory's copy has yet to follow: the
    # directory converge writes it (retried like any converge) and clears this.
    directory_password_pending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set when the person's mail credentials changed (an app password made or revoked,
    # the province's requirement turned on or off): the directory converge writes them
    # (engine/targets/app_passwords.py) and clears this.
    mail_credentials_pending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RecoveryCode(Base):
    __tablename__ = "person_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ActionToken(Base):
    """A one-time link: activate an account or reset a password (set password + TOTP)."""

    __tablename__ = "person_action_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "activate" | "reset"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Who issued it (client or person id): resets are rate-limited per issuer.
    issued_by: Mapped[str | None] = mapped_column(String(255), index=True)
    # A reset re-enrols the second factor only when asked; else the page asks for it.
    reset_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    # Wrong current codes on a reset page: the link dies after a few.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A lost-phone reset (second factor re-enrolled): the keyed hash of the code the
    # officer hands over in person; the person proves it or their password first.
    handover_hash: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed sign-ins per source address in the current window (shared by every web node)."""

    __tablename__ = "sso_login_throttle"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class LoginLock(Base):
    """Wrong passwords for one account (or one unknown name) from one source address
    (an IPv6 /64): after `lockout_threshold` that pair is locked, each lock in a row twice
    as long as the one before; the same account from elsewhere is not."""

    __tablename__ = "sso_login_lock"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)  # "p:<id>" / "n:<hash>"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # since the last lock or success
    locks: Mapped[int] = mapped_column(Integer, default=0)  # in a row: each doubles the next
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # For the person's own view (/sso/account): failures since first_failure_at.
    total_failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginFailureTally(Base):
    """Failed sign-ins of one account (or of unknown names) in the current audit window:
    one audit event per window with the counts, not one per failure (a flood of failures
    must not queue on the audit chain's lock)."""

    __tablename__ = "sso_login_failure_tally"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)  # person id or "unknown"
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    throttled: Mapped[int] = mapped_column(Integer, default=0)
    locks: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[dict] = mapped_column(JSON, default=dict)  # {"password": n, "code": n}
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)  # the first few addresses


__all__ = [
    "ActionToken",
    "AuthorizationCode",
    "Consent",
    "LoginFailureTally",
    "LoginLock",
    "LoginThrottle",
    "PersonCredential",
    "RecoveryCode",
    "SigningKey",
    "SsoSession",
]
