"""TOTP (RFC 6238) with pyotp: secret encrypted at rest, ±1 step, each code accepted once.

Recovery codes: 10 random codes, shown once, stored as keyed SHA-256, each usable once.
"""

from __future__ import annotations

import io
import secrets
import time
import uuid

import pyotp
import segno
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.keyring import Keyring
from idhub.models import PersonCredential, RecoveryCode, utcnow

RECOVERY_CODES = 10
STEP_S = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (rendered locally, no network)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time step (now −1, 0, +1) whose code equals `code`, compared in constant time."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    step = int(now // STEP_S)
    found = None
    for candidate in (step - 1, step, step + 1):
        if secrets.compare_digest(totp.at(candidate * STEP_S), code):
            found = candidate
    return found


def verify_totp(session: Session, keyring: Keyring, cred: PersonCredential, code: str) -> bool:
    """Accept a code once: its step must be later than the last step accepted."""
    if not cred.totp_secret_encrypted:
        return False
    step = matching_step(keyring.decrypt(cred.totp_secret_encrypted), code)
    if step is None:
        return False
    # Atomic: two requests with the same code cannot both pass.
    result = session.execute(
        update(PersonCredential)
        .where(
            PersonCredential.person_id == cred.person_id,
            (PersonCredential.totp_last_step.is_(None)) | (PersonCredential.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        cred.totp_last_step = step
        return True
    return False


def new_recovery_codes(session: Session, keyring: Keyring, person_id: uuid.UUID) -> list[str]:
    """Replace the person's recovery codes; the codes are returned once."""
    for row in session.scalars(select(RecoveryCode).where(RecoveryCode.person_id == person_id)):
        session.delete(row)
    session.flush()
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(RecoveryCode(person_id=person_id, code_hash=keyring.token_hash(code)))
    return codes


def use_recovery_code(session: Session, keyring: Keyring, person_id: uuid.UUID, code: str) -> bool:
    digest = keyring.token_hash(code.strip().lower())
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.person_id == person_id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
