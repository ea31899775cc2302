"""Signing keys for ID tokens and logout tokens: made with `cryptography`, stored encrypted.

* The private key is an RSA-2048 PEM, encrypted with the keyring's Fernet key; only the
  public JWK is stored in clear (it is what JWKS publishes).
* Exactly one key is active (it signs). `rotate_keys` makes a new active key and retires
  the old one: a retired key stays in JWKS, so tokens it signed still verify, until
  `expires_at` (retired_at + key_overlap_s); then it is dropped from JWKS.
* The first key is created on first use, so a fresh install signs without a command.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.keyring import Keyring
from idhub.models import SigningKey, utcnow

ALG = "RS256"  # OIDC Core 15.1: every OP supports RS256 for ID tokens
_cache: dict[str, RSAKey] = {}
_cache_lock = threading.Lock()


def _new_key(keyring: Keyring) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = RSAKey.import_key(pem)
    kid = jwk.thumbprint()  # RFC 7638: stable, derived from the public key
    public = {**jwk.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALG}
    return SigningKey(
        kid=kid,
        alg=ALG,
        private_key_encrypted=keyring.encrypt(pem.decode()),
        public_jwk=public,
        created_at=utcnow(),
    )


def active_key_row(session: Session) -> SigningKey | None:
    return session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )


def ensure_active_key(session: Session, keyring: Keyring, audit: AuditLog) -> SigningKey:
    """The key that signs now; made (and audited) when there is none yet."""
    row = active_key_row(session)
    if row is not None:
        return row
    row = _new_key(keyring)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=Actor("system", "sso"),
        action="sso.key.create",
        object_type="signing_key",
        object_id=row.kid,
        after={"alg": row.alg},
    )
    return row


def rotate_keys(
    session: Session, keyring: Keyring, audit: AuditLog, actor: Actor, *, overlap_s: int
) -> tuple[SigningKey, list[str]]:
    """A new active key; the previous one verifies for `overlap_s` more seconds."""
    now = utcnow()
    retired = []
    for row in session.scalars(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).with_for_update()
    ):
        row.retired_at = now
        row.expires_at = now + dt.timedelta(seconds=overlap_s)
        retired.append(row.kid)
    new = _new_key(keyring)
    session.add(new)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="sso.key.rotate",
        object_type="signing_key",
        object_id=new.kid,
        after={"alg": new.alg, "retired": retired, "overlap_s": overlap_s},
    )
    return new, retired


def published_keys(session: Session) -> list[SigningKey]:
    """The active key and the retired keys still inside their overlap, newest first."""
    now = utcnow()
    return list(
        session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.expires_at.is_(None), SigningKey.expires_at > now))
            .order_by(SigningKey.created_at.desc())
        )
    )


def jwks(session: Session) -> dict:
    return {"keys": [row.public_jwk for row in published_keys(session)]}


def private_key(row: SigningKey, keyring: Keyring) -> RSAKey:
    """The decrypted key (cached per process by kid; the kid is the key's thumbprint)."""
    with _cache_lock:
        key = _cache.get(row.kid)
        if key is None:
            key = RSAKey.import_key(keyring.decrypt(row.private_key_encrypted))
            key.ensure_kid()
            _cache[row.kid] = key
        return key


_active: weakref.WeakKeyDictionary[Database, tuple[float, SigningKey]] = weakref.WeakKeyDictionary()
ACTIVE_CACHE_S = 10.0  # a key rotated elsewhere is picked up this fast; the old one verifies


def signing_key(db: Database, keyring: Keyring, audit: AuditLog) -> tuple[str, RSAKey]:
    """(kid, private key) of the active key; its own short transaction when one is made."""
    cached = _active.get(db)
    if cached is None or time.monotonic() - cached[0] > ACTIVE_CACHE_S:
        with db.transaction() as session:
            row = ensure_active_key(session, keyring, audit)
        cached = _active[db] = (time.monotonic(), row)
    row = cached[1]
    return row.kid, private_key(row, keyring)


def forget_cached_keys() -> None:
    """After a rotation in this process (and in tests)."""
    _active.clear()
