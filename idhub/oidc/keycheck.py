"""`idhub keys check`: is every secret present, and does it open the data made with it?

Read-only: a missing key is reported, never made (the keyring makes keys only on a fresh
install, see idhub/keyring.py). What can be checked against the data is: the audit chain
key against the first audit event's seal, the encryption key against one sealed TOTP
secret and the active signing key. The token hash key cannot be (only keyed hashes of
secrets are kept): for it, and for the others too, the key's fingerprint (a keyed HMAC
of a constant, idhub/keyring.py) is compared with the one recorded in `key_fingerprint`
when the first node started with it (`record_fingerprints`, at every start, adds the
missing ones: a database made before the table gets them at its next start).

At start (the web app, the worker), `refuse_mismatched_keys` runs the same checks and
stops a node whose present keys do not open the data: several nodes must share their
keys (IDHUB_KEY_<NAME>, IDHUB_KEY_<NAME>_FILE, or the folder), and a node with its own
would otherwise seal the audit chain with it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from idhub.changes.chain import AuditLog
from idhub.db import Database
from idhub.keyring import DATA_KEYS, KeyMismatchError, Keyring, fingerprint
from idhub.models import AuditEvent, KeyFingerprint, PersonCredential, SigningKey

_ALL_KEYS = (
    "audit_chain_key",
    "encryption_key",
    "token_hash_key",
    "audit_anchor_key",
    "flask_secret_key",
)
# The keys nodes must share, whose fingerprint is recorded (the anchor key: anchors
# signed by a node with its own would not verify with the others' public key).
FINGERPRINTED = (*DATA_KEYS, "audit_anchor_key")


@dataclass(frozen=True)
class KeyFinding:
    name: str
    ok: bool
    detail: str


def check_keys(session: Session, keyring: Keyring) -> list[KeyFinding]:
    """One finding per key (and per piece of data checked against it)."""
    findings = []
    for name in _ALL_KEYS:
        value = keyring.read(name)
        if value is None and name == "audit_anchor_key":
            findings.append(KeyFinding(name, True, "not made yet (the first anchor makes it)"))
        elif value is None:
            why = DATA_KEYS.get(name, "made anew at start; harmless (sessions end)")
            findings.append(KeyFinding(name, False, f"missing from {keyring.directory} ({why})"))
        elif name == "audit_chain_key":
            findings.append(_check_audit(session, value))
        elif name == "encryption_key":
            findings.extend(_check_encryption(session, value))
        if value is not None and name in FINGERPRINTED:
            findings.append(_check_fingerprint(session, name, value))
        elif value is not None and name not in ("audit_chain_key", "encryption_key"):
            findings.append(KeyFinding(name, True, "present"))
    return [KeyFinding(f.name, f.ok, f"{f.detail} [{keyring.source(f.name)}]") for f in findings]


def refuse_mismatched_keys(db: Database, keyring: Keyring) -> None:
    """Raise KeyMismatchError when a present data key does not open the data (missing
    keys are the keyring's `check_start`). A database not migrated yet holds nothing."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("audit_event"):
            return
    with db.transaction() as session:
        findings = [
            f for f in check_keys(session, keyring) if not f.ok and keyring.read(f.name) is not None
        ]
    if findings:
        raise KeyMismatchError([f"{f.name} {f.detail}" for f in findings])
    record_fingerprints(db, keyring)


def record_fingerprints(db: Database, keyring: Keyring) -> None:
    """Record the fingerprint of each shared key this node has and the database lacks
    (the first node to start with a key records it; the others are checked against it)."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("key_fingerprint"):
            return
    with db.transaction() as session:
        known = set(session.scalars(select(KeyFingerprint.name)))
        for name in FINGERPRINTED:
            value = keyring.read(name)
            if name not in known and value is not None:
                session.add(KeyFingerprint(name=name, fingerprint=fingerprint(value)))


def _check_fingerprint(session: Session, name: str, value: str) -> KeyFinding:
    stored = session.get(KeyFingerprint, name)
    if stored is None:
        return KeyFinding(name, True, "present (no fingerprint recorded yet; the next start does)")
    when = f"{stored.created_at:%Y-%m-%d}"
    if hmac.compare_digest(stored.fingerprint, fingerprint(value)):
        return KeyFinding(name, True, f"present; matches the fingerprint recorded {when}")
    return KeyFinding(
        name, False, f"differs from the key recorded {when}: not the key the data was made with"
    )


def _check_audit(session: Session, key: str) -> KeyFinding:
    first = session.scalar(select(AuditEvent).order_by(AuditEvent.id).limit(1))
    if first is None:
        return KeyFinding("audit_chain_key", True, "present (no audit events yet)")
    result = AuditLog(key).verify([first])
    if result.ok:
        return KeyFinding("audit_chain_key", True, f"present; audit event {first.id} verifies")
    return KeyFinding(
        "audit_chain_key",
        False,
        f"does not verify audit event {first.id} ({result.problem}): not its sealing key",
    )


def _check_encryption(session: Session, key: str) -> list[KeyFinding]:
    try:
        fernet = Fernet(key.encode())
    except ValueError:
        return [KeyFinding("encryption_key", False, "not a valid Fernet key")]
    sealed = [
        (
            "a TOTP secret",
            session.scalar(
                select(PersonCredential.totp_secret_encrypted)
                .where(PersonCredential.totp_secret_encrypted.is_not(None))
                .limit(1)
            ),
        ),
        (
            "the active signing key",
            session.scalar(
                select(SigningKey.private_key_encrypted)
                .where(SigningKey.retired_at.is_(None))
                .order_by(SigningKey.created_at.desc())
                .limit(1)
            ),
        ),
    ]
    findings = []
    for what, token in sealed:
        if token is None:
            findings.append(KeyFinding("encryption_key", True, f"present (no {what[2:]} yet)"))
            continue
        try:
            fernet.decrypt(token.encode())
        except InvalidToken:
            findings.append(
                KeyFinding("encryption_key", False, f"does not decrypt {what}: not its key")
            )
        else:
            findings.append(KeyFinding("encryption_key", True, f"present; {what} decrypts"))
    return findings
