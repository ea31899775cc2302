"""`idhub keys check`: is every secret present, and does it open the data made with it?

Read-only: a missing key is reported, never made (the keyring makes keys only on a fresh
install, see idhub/keyring.py). What can be checked against the data is: the audit chain
key against the first audit event's seal, the encryption key against one sealed TOTP
secret and the active signing key; the personal data keys against the first person's
sealed CCCD and its blind index. The token hash key cannot be (only keyed hashes of
secrets are kept), so only its presence is checked.

At start (the web app, the worker), `refuse_mismatched_keys` runs the same checks and
stops a node whose present keys do not open the data: several nodes must share their
keys (IDHUB_KEY_<NAME>, IDHUB_KEY_<NAME>_FILE, or the folder), and a node with its own
would otherwise seal the audit chain with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from idhub.changes.chain import AuditLog
from idhub.db import Database
from idhub.keyring import DATA_KEYS, KeyMismatchError, Keyring
from idhub.models import AuditEvent, PersonCredential, SigningKey
from idhub.models.sealed import PersonalKeys, SealError

_ALL_KEYS = (
    "audit_chain_key",
    "encryption_key",
    "token_hash_key",
    "personal_data_key",
    "personal_index_key",
    "flask_secret_key",
)


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
        if value is None:
            why = DATA_KEYS.get(name, "made anew at start; harmless (sessions end)")
            findings.append(KeyFinding(name, False, f"missing from {keyring.directory} ({why})"))
        elif name == "audit_chain_key":
            findings.append(_check_audit(session, value))
        elif name == "encryption_key":
            findings.extend(_check_encryption(session, value))
        elif name in ("personal_data_key", "personal_index_key"):
            data_key = keyring.read("personal_data_key")
            findings.append(_check_personal(session, name, value, data_key))
        else:
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


def _check_personal(session: Session, name: str, key: str, data_key: str | None) -> KeyFinding:
    """Open the first person's sealed CCCD (data key) and hash it again (index key)."""
    columns = {c["name"] for c in inspect(session.connection()).get_columns("person")}
    if "national_id_index" not in columns:
        return KeyFinding(name, True, "present (personal data not sealed yet: migrate)")
    row = session.execute(
        text("SELECT national_id, national_id_index FROM person ORDER BY id LIMIT 1")
    ).first()
    if row is None:
        return KeyFinding(name, True, "present (no people yet)")
    if name == "personal_data_key":
        try:
            PersonalKeys(key, "-").open(row[0], "person.national_id")
        except (SealError, ValueError):
            return KeyFinding(name, False, "does not open the first person's CCCD: not its key")
        return KeyFinding(name, True, "present; the first person's CCCD opens")
    try:
        cccd = PersonalKeys(data_key or "", key).open(row[0], "person.national_id")
    except (SealError, ValueError):
        return KeyFinding(name, True, "present (not checked: the data key does not open)")
    if PersonalKeys(data_key or "", key).blind(cccd) != row[1]:
        return KeyFinding(name, False, "does not give the first person's blind index")
    return KeyFinding(name, True, "present; the first person's blind index matches")
