"""The key that signs national exports: its own RSA key, not the sign-on's.

Why a dedicated key: an export is an archived legal record that must still verify years
later, while the sign-on's keys rotate and drop out of its JWKS after a short overlap; the
national side trusts this key alone (pinned, or fetched from its own JWKS URL), and a
leak of one does not compromise the other. Like the sign-on's keys it is made with
`cryptography`, its private PEM encrypted with the keyring's key; the public JWK and a
self-signed certificate (XAdES names the signer by one) are stored in clear. Retired keys
stay published, so every export ever made still verifies.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.keyring import Keyring
from idhub.models import NationalKey, utcnow

ALG = "RS256"
_cache: dict[str, str] = {}  # kid → private PEM
_lock = threading.Lock()


def _certificate(private: rsa.RSAPrivateKey, kid: str) -> str:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"IDHub national export {kid[:16]}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IDHub"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _new_key(keyring: Keyring) -> NationalKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = RSAKey.import_key(pem)
    kid = jwk.thumbprint()
    return NationalKey(
        kid=kid,
        alg=ALG,
        private_key_encrypted=keyring.encrypt(pem.decode()),
        public_jwk={**jwk.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALG},
        certificate_pem=_certificate(private, kid),
        created_at=utcnow(),
    )


def signing_key(session: Session, keyring: Keyring, audit: AuditLog, actor: Actor) -> NationalKey:
    """The key that signs now; made (and audited) on first use."""
    row = session.scalar(
        select(NationalKey)
        .where(NationalKey.retired_at.is_(None))
        .order_by(NationalKey.created_at.desc())
        .limit(1)
    )
    if row is not None:
        return row
    row = _new_key(keyring)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="national.key.create",
        object_type="national_key",
        object_id=row.kid,
        after={"alg": row.alg},
    )
    return row


def rotate(session: Session, keyring: Keyring, audit: AuditLog, actor: Actor) -> NationalKey:
    """A new signing key; the old ones stay published (old exports keep verifying)."""
    now = utcnow()
    retired = []
    for row in session.scalars(select(NationalKey).where(NationalKey.retired_at.is_(None))):
        row.retired_at = now
        retired.append(row.kid)
    session.flush()
    new = signing_key(session, keyring, audit, actor)
    audit.record(
        session,
        actor=actor,
        action="national.key.rotate",
        object_type="national_key",
        object_id=new.kid,
        after={"retired": retired},
    )
    return new


def private_pem(row: NationalKey, keyring: Keyring) -> str:
    with _lock:
        pem = _cache.get(row.kid)
        if pem is None:
            pem = _cache[row.kid] = keyring.decrypt(row.private_key_encrypted)
        return pem


def published(session: Session) -> list[NationalKey]:
    return list(session.scalars(select(NationalKey).order_by(NationalKey.created_at.desc())))


def jwks(session: Session) -> dict[str, Any]:
    """Every national key, retired ones too: what verifies any export ever made."""
    return {"keys": [row.public_jwk for row in published(session)]}
