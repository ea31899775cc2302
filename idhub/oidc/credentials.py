"""Setting a person's credentials: one-time activation / reset links, password and TOTP.

A link is a random token (stored as keyed SHA-256) valid for `action_link_ttl_s`, used
once. Using it sets the password (argon2id, checked against the rules), enrols a fresh
TOTP secret (encrypted) proven by one code, replaces the recovery codes and unlocks the
account, in one transaction; then the password hash is written to the directory.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.errors import Invalid, NotFound
from idhub.keyring import Keyring
from idhub.models import ActionToken, Person, utcnow
from idhub.oidc import totp
from idhub.oidc.login import credential
from idhub.oidc.passwords import check_password_rules, hash_password
from idhub.oidc.settings import SsoSettings

PURPOSES = ("activate", "reset")


@dataclass(frozen=True)
class ActionLink:
    token: str
    path: str
    expires_at: dt.datetime


def find_person_ref(session: Session, ref: str) -> Person:
    """A person by id or username (for the CLI)."""
    person = None
    try:
        person = session.get(Person, uuid.UUID(ref))
    except ValueError:
        person = session.scalar(select(Person).where(Person.username == ref))
    if person is None:
        raise NotFound(f"No person {ref!r}.")
    return person


def issue_action_link(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    actor: Actor,
    person: Person,
    *,
    purpose: str,
    ttl_s: int,
) -> ActionLink:
    """A new one-time link; earlier unused links of the person for that purpose stop working."""
    if purpose not in PURPOSES:
        raise Invalid(f"Unknown purpose {purpose!r}.", details={"purpose": list(PURPOSES)})
    now = utcnow()
    session.execute(
        update(ActionToken)
        .where(
            ActionToken.person_id == person.id,
            ActionToken.purpose == purpose,
            ActionToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(seconds=ttl_s)
    session.add(
        ActionToken(
            token_hash=keyring.token_hash(token),
            person_id=person.id,
            purpose=purpose,
            created_at=now,
            expires_at=expires,
        )
    )
    audit.record(
        session,
        actor=actor,
        action=f"sso.link.{purpose}",
        object_type="person",
        object_id=person.id,
        after={"expires_at": expires},
    )
    return ActionLink(token, f"/sso/activate/{token}", expires)


def valid_action_token(session: Session, keyring: Keyring, token: str) -> ActionToken | None:
    if not token or len(token) > 128:
        return None
    row = session.scalar(
        select(ActionToken).where(ActionToken.token_hash == keyring.token_hash(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def set_credentials(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    sso: SsoSettings,
    actor: Actor,
    person: Person,
    *,
    password: str,
    totp_secret: str,
    totp_code: str,
) -> tuple[str, list[str]]:
    """Password + TOTP + recovery codes; returns (argon2 PHC, recovery codes shown once)."""
    check_password_rules(sso, person, password)
    step = totp.matching_step(totp_secret, totp_code)
    if step is None:
        raise Invalid("The verification code is wrong.", details={"code": ["wrong"]})
    cred = credential(session, person.id, lock=True)
    phc = hash_password(sso, password)
    now = utcnow()
    cred.password_hash = phc
    cred.password_set_at = now
    cred.totp_secret_encrypted = keyring.encrypt(totp_secret)
    cred.totp_enrolled_at = now
    cred.totp_last_step = step
    cred.failed_logins = 0
    cred.locked_until = None
    codes = totp.new_recovery_codes(session, keyring, person.id)
    audit.record(
        session, actor=actor, action="sso.password.set", object_type="person", object_id=person.id
    )
    audit.record(
        session,
        actor=actor,
        action="sso.totp.enrol",
        object_type="person",
        object_id=person.id,
        after={"recovery_codes": len(codes)},
    )
    return phc, codes
