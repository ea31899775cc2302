"""The person's own second factor: prove it, re-enrol TOTP, regenerate recovery codes.

Proving the current factor (a TOTP code, or a recovery code, spent) is the sign-in's code
step: a wrong one counts toward the account's code lockout (`throttle.count_code_failure`,
from any address) and goes into the account's failure tally, and a locked code step is
refused without looking. Every change is one transaction with its audit event; the new
TOTP secret is proven by one code from the new authenticator before it replaces the old.

A lost-phone reset link (credentials.py: a reset that re-enrols the factor) enrols a new
TOTP only once the person proved their password or the hand-over code the officer gave
them in person (`prove_identity`, `re_enrol`); with the code, a new password is required.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.errors import Invalid
from idhub.keyring import Keyring
from idhub.models import ActionToken, Person, PersonCredential, RecoveryCode, utcnow
from idhub.oidc import totp
from idhub.oidc.credentials import handover_matches, set_credentials
from idhub.oidc.failures import note_failure
from idhub.oidc.login import credential
from idhub.oidc.passkeys import remove_all as remove_all_passkeys
from idhub.oidc.passwords import verify_password
from idhub.oidc.settings import SsoSettings
from idhub.oidc.throttle import code_locked, count_code_failure


@dataclass(frozen=True)
class FactorStatus:
    totp_since: object  # datetime | None
    recovery_left: int


def status(session: Session, person_id: uuid.UUID) -> FactorStatus:
    cred = session.get(PersonCredential, person_id)
    left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None))
    )
    since = cred.totp_enrolled_at if cred is not None and cred.totp_secret_encrypted else None
    return FactorStatus(since, int(left or 0))


def prove_factor(
    session: Session,
    keyring: Keyring,
    sso: SsoSettings,
    audit: AuditLog,
    actor: Actor,
    cred: PersonCredential,
    code: str,
    source: str | None,
) -> str | None:
    """The current TOTP code or a recovery code; None if proven, else how it was used
    ("locked" or "wrong"), the failure counted like the sign-in's code step."""
    if code_locked(cred):
        return "locked"
    code = code.strip()[:64]
    if code.replace(" ", "").isdigit():
        ok = totp.verify_totp(session, keyring, cred, code)
    else:
        ok = bool(code) and totp.use_recovery_code(session, keyring, cred.person_id, code)
    if ok:
        return None
    locked = count_code_failure(session, sso, cred)
    note_failure(
        session,
        sso,
        audit,
        actor,
        person_id=cred.person_id,
        step="code",
        source=source,
        locked=locked,
    )
    return "wrong"


def reenrol_totp(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    actor: Actor,
    person_id: uuid.UUID,
    *,
    secret: str,
    code: str,
    reason: str,
) -> None:
    """Replace the TOTP secret by `secret`, proven by `code` (the caller proved the rest)."""
    step = totp.matching_step(secret, code)
    if step is None:
        raise Invalid("The verification code is wrong.", details={"code": ["wrong"]})
    cred = credential(session, person_id, lock=True)
    cred.totp_secret_encrypted = keyring.encrypt(secret)
    cred.totp_enrolled_at = utcnow()
    cred.totp_last_step = step
    cred.failed_logins = 0
    cred.locked_until = None
    audit.record(
        session,
        actor=actor,
        action="sso.totp.enrol",
        object_type="person",
        object_id=person_id,
        after={"reenrolled": True},
        reason=reason,
    )


def regenerate_recovery_codes(
    session: Session, keyring: Keyring, audit: AuditLog, actor: Actor, person_id: uuid.UUID
) -> list[str]:
    """New recovery codes (the old ones stop working), returned to be shown once."""
    codes = totp.new_recovery_codes(session, keyring, person_id)
    audit.record(
        session,
        actor=actor,
        action="sso.recovery_codes.regenerate",
        object_type="person",
        object_id=person_id,
        after={"recovery_codes": len(codes)},
    )
    return codes


def prove_identity(
    session: Session,
    keyring: Keyring,
    sso: SsoSettings,
    link: ActionToken,
    person_id: uuid.UUID,
    proof: str,
) -> str | None:
    """On a lost-phone reset link: "handover" or "password" when `proof` is either, else
    None (the caller counts the failure on the link)."""
    if handover_matches(keyring, link, proof):
        return "handover"
    cred = session.get(PersonCredential, person_id)
    stored = cred.password_hash if cred is not None else None
    return "password" if proof and verify_password(sso, stored, proof) else None


def re_enrol(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    sso: SsoSettings,
    actor: Actor,
    person: Person,
    *,
    password: str,
    secret: str,
    code: str,
    proven_by: str,
) -> list[str]:
    """A new TOTP and recovery codes (shown once), and a new password when one is given
    (required when the hand-over code, not the password, was the proof)."""
    if password:
        _, codes = set_credentials(
            session,
            keyring,
            audit,
            sso,
            actor,
            person,
            password=password,
            totp_secret=secret,
            totp_code=code,
        )
        return codes
    if proven_by != "password":
        raise Invalid("A new password is needed.", details={"password": ["new_needed"]})
    reenrol_totp(
        session,
        keyring,
        audit,
        actor,
        person.id,
        secret=secret,
        code=code,
        reason=f"lost-phone reset, proven by {proven_by}",
    )
    remove_all_passkeys(session, audit, actor, person.id, "second factor enrolled anew")
    return regenerate_recovery_codes(session, keyring, audit, actor, person.id)
