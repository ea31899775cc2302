"""Setting a person's credentials: one-time activation / reset links, password and TOTP.

A link is a random token (stored as keyed SHA-256), used once, carried in the URL
fragment (`/sso/activate#<token>`): browsers never send a fragment, so no access log,
proxy or Referer holds it; the page hands it over in a POST body. An activation (HR,
`hr:write`) lives at most 24 h; an access reset (a security officer, `access:reset`, with
a reason, rate-limited per issuer and per person) at most 1 h, and re-enrols the second
factor only when asked to: otherwise the person proves the current one. A reset that
re-enrols it (a lost phone) comes with a hand-over code, returned once to the officer
who gives it to the person in person: the link's page enrols a new TOTP only after the
person proves their password or that code (the link alone is not enough).

Using a link sets the password (argon2id, checked against the rules) and, when enrolling,
a fresh TOTP secret (encrypted) proven by one code and new recovery codes; it unlocks the
account, in one transaction, and queues the directory's copy of the password on the
converge path (`mark_directory_password`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.changes.outbox import converge_later
from idhub.errors import DomainError, Invalid, NotFound
from idhub.keyring import Keyring
from idhub.models import ActionToken, Person, PersonCredential, utcnow
from idhub.oidc import totp
from idhub.oidc.login import credential
from idhub.oidc.passkeys import remove_all as remove_all_passkeys
from idhub.oidc.passwords import check_password_rules, hash_password
from idhub.oidc.settings import (
    MAX_ACTIVATION_LINK_TTL_S,
    MAX_RESET_LINK_TTL_S,
    SsoSettings,
)

ACTIVATE, RESET = "activate", "reset"
PURPOSES = (ACTIVATE, RESET)
MAX_TTL_S = {ACTIVATE: MAX_ACTIVATION_LINK_TTL_S, RESET: MAX_RESET_LINK_TTL_S}
LINK_PATH = "/sso/activate"
# Wrong current codes tolerated on one reset link before it stops working.
MAX_LINK_FAILURES = 5


class TooManyResets(DomainError):
    status = 429
    code = "reset_rate_limited"


@dataclass(frozen=True)
class ActionLink:
    token: str
    path: str  # the token in the fragment: never sent to a server, never logged
    expires_at: dt.datetime
    # A lost-phone reset: the code the officer hands over in person (else None).
    handover_code: str | None = None


def new_handover_code() -> str:
    """Eight digits in two groups, read out or written down: `4821-0937`. A link dies
    after MAX_LINK_FAILURES wrong proofs, so 10^8 codes leave guessing nothing."""
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"{digits[:4]}-{digits[4:]}"


def handover_matches(keyring: Keyring, row: ActionToken, proof: str) -> bool:
    """The code handed over in person, compared keyed-hashed in constant time."""
    digits = "".join(c for c in proof if c.isdigit())
    if row.handover_hash is None or len(digits) != 8 or len(proof.strip()) > 12:
        return False
    wanted = keyring.token_hash(f"{digits[:4]}-{digits[4:]}")
    return secrets.compare_digest(wanted, row.handover_hash)


def check_reset_rate(
    session: Session, sso: SsoSettings, issuer_id: str | None, person: Person
) -> None:
    """At most `resets_per_client_per_hour` per issuer, `resets_per_person_per_day` per person."""
    now = utcnow()
    resets = select(func.count()).select_from(ActionToken).where(ActionToken.purpose == RESET)
    by_issuer = session.scalar(
        resets.where(
            ActionToken.issued_by == issuer_id,
            ActionToken.created_at > now - dt.timedelta(hours=1),
        )
    )
    if issuer_id is not None and (by_issuer or 0) >= sso.resets_per_client_per_hour:
        raise TooManyResets("Too many access resets from this client in the last hour.")
    for_person = session.scalar(
        resets.where(
            ActionToken.person_id == person.id,
            ActionToken.created_at > now - dt.timedelta(days=1),
        )
    )
    if (for_person or 0) >= sso.resets_per_person_per_day:
        raise TooManyResets("Too many access resets for this person in the last day.")


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
    reason: str | None = None,
    reset_second_factor: bool = False,
) -> ActionLink:
    """A new one-time link; earlier unused links of the person for that purpose stop working.

    A reset needs a reason (audited with who and whom); rate limits are the caller's
    (`check_reset_rate`), so the command line of the server's operator is not limited.
    """
    if purpose not in PURPOSES:
        raise Invalid(f"Unknown purpose {purpose!r}.", details={"purpose": list(PURPOSES)})
    if purpose == RESET and not (reason or "").strip():
        raise Invalid("An access reset needs a reason.", details={"reason": ["Required."]})
    ttl_s = max(1, min(ttl_s, MAX_TTL_S[purpose]))
    second_factor = purpose == ACTIVATE or reset_second_factor
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
    handover = new_handover_code() if purpose == RESET and second_factor else None
    session.add(
        ActionToken(
            token_hash=keyring.token_hash(token),
            person_id=person.id,
            purpose=purpose,
            created_at=now,
            expires_at=expires,
            issued_by=actor.id,
            reset_second_factor=second_factor,
            failed_attempts=0,
            handover_hash=keyring.token_hash(handover) if handover else None,
        )
    )
    audit.record(
        session,
        actor=actor,
        action=f"sso.link.{purpose}",
        object_type="person",
        object_id=person.id,
        after={"expires_at": expires, "reset_second_factor": second_factor},
        reason=reason,
    )
    return ActionLink(token, f"{LINK_PATH}#{token}", expires, handover)


def _live(row: ActionToken | None) -> ActionToken | None:
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def valid_action_token(session: Session, keyring: Keyring, token: str) -> ActionToken | None:
    if not token or len(token) > 128:
        return None
    return _live(
        session.scalar(
            select(ActionToken).where(ActionToken.token_hash == keyring.token_hash(token))
        )
    )


def valid_action_link(session: Session, link_id: int, *, lock: bool = False) -> ActionToken | None:
    """A link already handed over by this browser (its id kept in the flow cookie)."""
    query = select(ActionToken).where(ActionToken.id == link_id)
    if lock:
        query = query.with_for_update()
    return _live(session.scalar(query))


def link_failure(row: ActionToken) -> bool:
    """One more wrong current code on a reset link; True when that ended the link."""
    row.failed_attempts = (row.failed_attempts or 0) + 1
    if row.failed_attempts >= MAX_LINK_FAILURES:
        row.used_at = utcnow()
        return True
    return False


def mark_directory_password(
    session: Session, cred: PersonCredential, request_id: str | None
) -> None:
    """The directory's copy follows on the converge path: the person's next converge
    writes the hash (retried until the directory takes it) and clears the mark."""
    cred.directory_password_pending_at = utcnow()
    converge_later(
        session, [cred.person_id], "password set at the hub", request_id, urgent=True
    )  # the old password must stop opening LDAP and IMAP now, even behind a backlog


def set_password_only(
    session: Session,
    audit: AuditLog,
    sso: SsoSettings,
    actor: Actor,
    person: Person,
    cred: PersonCredential,
    *,
    password: str,
    reason: str,
) -> str:
    """A new password, the second factor kept (a reset that did not ask to re-enrol it)."""
    check_password_rules(sso, person, password)
    phc = hash_password(sso, password)
    cred.password_hash = phc
    cred.password_set_at = utcnow()
    cred.failed_logins = 0
    cred.locked_until = None
    mark_directory_password(session, cred, actor.request_id)
    audit.record(
        session,
        actor=actor,
        action="sso.password.set",
        object_type="person",
        object_id=person.id,
        after={"second_factor": "kept"},
        reason=reason,
    )
    return phc


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
    mark_directory_password(session, cred, actor.request_id)
    codes = totp.new_recovery_codes(session, keyring, person.id)
    # a new second factor replaces every old one: a lost phone may carry a passkey too
    remove_all_passkeys(session, audit, actor, person.id, "second factor enrolled anew")
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
