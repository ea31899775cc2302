"""Passkeys (WebAuthn, with py_webauthn): registering one, and signing in with one — as the
second factor after the password, or alone (a discoverable credential with user
verification: passwordless).

The relying party is the hub's issuer: its host is the RP id, its origin the only origin
accepted. Every ceremony starts with a one-time challenge (`new_challenge`): 32 random
bytes in a database row keyed by the hash of a random key the browser's signed flow cookie
holds; it lives `CHALLENGE_TTL_S` and the first answer consumes it (`take_challenge`, one
guarded UPDATE), right or wrong, so a replayed answer finds nothing.

A signature counter that does not move forward (when either side counts) means the
private key exists twice: the sign-in is refused and `sso.passkey.clone_suspected` is
audited. The counter is checked only after the signature verified, so nobody without the
key can raise that alarm.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idhub.changes.chain import Actor, AuditLog
from idhub.keyring import Keyring
from idhub.models import Passkey, PasskeyChallenge, Person, utcnow

CHALLENGE_TTL_S = 120
TIMEOUT_MS = 60000
PURPOSES = ("register", "second", "passwordless")
NAME_MAX = 64
_TRANSPORTS = {t.value for t in AuthenticatorTransport}
# What a malformed answer raises inside py_webauthn (bad base64, CBOR, structure).
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError)


class PasskeyError(Exception):
    """A ceremony that failed; `reason` is for the audit trail, never shown as is."""

    def __init__(self, reason: str, passkey: Passkey | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.passkey = passkey


@dataclass(frozen=True)
class RelyingParty:
    id: str  # the issuer's host
    origin: str  # scheme://host[:port] of the issuer
    name: str = "IDHub"


def relying_party(issuer: str) -> RelyingParty:
    parts = urlsplit(issuer)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"an issuer without a host: {issuer!r}")
    return RelyingParty(id=parts.hostname, origin=f"{parts.scheme}://{parts.netloc}")


def user_handle(person_id: uuid.UUID) -> bytes:
    """The WebAuthn user id: the person's random UUID (no name, no mail in it)."""
    return person_id.bytes


# ---- challenges -------------------------------------------------------------------------


def new_challenge(
    session: Session, keyring: Keyring, purpose: str, person_id: uuid.UUID | None
) -> tuple[str, bytes]:
    """A fresh challenge: (the key for the flow cookie, the challenge bytes)."""
    assert purpose in PURPOSES
    now = utcnow()
    session.execute(delete(PasskeyChallenge).where(PasskeyChallenge.expires_at < now))
    key, challenge = secrets.token_urlsafe(32), secrets.token_bytes(32)
    session.add(
        PasskeyChallenge(
            key_hash=keyring.token_hash(key),
            purpose=purpose,
            person_id=person_id,
            challenge=bytes_to_base64url(challenge),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=CHALLENGE_TTL_S),
        )
    )
    session.flush()
    return key, challenge


def take_challenge(
    session: Session, keyring: Keyring, key: str | None, purpose: str
) -> PasskeyChallenge:
    """The flow's live challenge for `purpose`, consumed now (once, whatever follows)."""
    if not key or len(key) > 128:
        raise PasskeyError("no challenge")
    key_hash, now = keyring.token_hash(key), utcnow()
    taken = session.execute(
        update(PasskeyChallenge)
        .where(
            PasskeyChallenge.key_hash == key_hash,
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.used_at.is_(None),
            PasskeyChallenge.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = session.get(PasskeyChallenge, key_hash) if taken.rowcount == 1 else None  # type: ignore[attr-defined]
    if row is None:
        raise PasskeyError("challenge used, expired or unknown")
    return row


# ---- registration -----------------------------------------------------------------------


def person_passkeys(session: Session, person_id: uuid.UUID) -> list[Passkey]:
    return list(
        session.scalars(
            select(Passkey).where(Passkey.person_id == person_id).order_by(Passkey.created_at)
        )
    )


def _descriptors(keys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(k.credential_id),
            transports=[AuthenticatorTransport(t) for t in k.transports if t in _TRANSPORTS],
        )
        for k in keys
    ]


def registration_options(
    rp: RelyingParty, person: Person, challenge: bytes, existing: list[Passkey]
) -> str:
    """Options for navigator.credentials.create(): a discoverable credential with user
    verification (so it can sign in alone), none of the person's existing ones again."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle(person.id),
        user_name=person.username or str(person.id),
        user_display_name=person.full_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    return options_to_json(options)


def _credential(data: Any) -> dict[str, Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise PasskeyError("malformed credential") from exc
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise PasskeyError("malformed credential")
    return data


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    for word in ("origin", "challenge", "rp id", "sign count", "signature", "verification"):
        if word in text:
            return word
    return "invalid response"


def add_passkey(
    session: Session,
    rp: RelyingParty,
    challenge: PasskeyChallenge,
    person_id: uuid.UUID,
    credential: Any,
    name: str,
) -> Passkey:
    """Verify a navigator.credentials.create() answer to `challenge` and keep the passkey."""
    data = _credential(credential)
    if challenge.purpose != "register" or challenge.person_id != person_id:
        raise PasskeyError("challenge of another flow")
    try:
        verified = verify_registration_response(
            credential=data,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except _MALFORMED as exc:
        raise PasskeyError(_reason(exc)) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise PasskeyError("credential already registered")
    transports = (data.get("response") or {}).get("transports") or []
    key = Passkey(
        person_id=person_id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t for t in transports if isinstance(t, str) and t in _TRANSPORTS],
        name=clean_name(name),
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == "multi_device",
        backed_up=verified.credential_backed_up,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key


def clean_name(name: str) -> str:
    """A passkey's name as shown: printable, trimmed, at most NAME_MAX characters."""
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(c for c in text if c.isprintable()).strip()[:NAME_MAX]
    return text or "Passkey"


# ---- authentication ---------------------------------------------------------------------


def authentication_options(
    rp: RelyingParty, challenge: bytes, allowed: list[Passkey] | None
) -> str:
    """Options for navigator.credentials.get(). `allowed` None: passwordless (any
    discoverable credential of this RP, user verification required); else the second
    factor, limited to the person's passkeys."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(allowed) if allowed is not None else None,
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if allowed is None
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return options_to_json(options)


def verify_assertion(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    rp: RelyingParty,
    challenge: PasskeyChallenge,
    credential: Any,
    *,
    person_id: uuid.UUID | None,
) -> Passkey:
    """Verify a navigator.credentials.get() answer to `challenge`: the passkey, moved on
    (counter, last use, backup state), or PasskeyError. `person_id` (second factor): the
    passkey must be theirs; None (passwordless): user verification is required."""
    data = _credential(credential)
    if challenge.purpose not in ("second", "passwordless") or challenge.person_id != person_id:
        raise PasskeyError("challenge of another flow")
    key = session.scalar(
        select(Passkey).where(Passkey.credential_id == data["id"][:1400]).with_for_update()
    )
    if key is None or (person_id is not None and key.person_id != person_id):
        raise PasskeyError("unknown credential")
    handle = (data.get("response") or {}).get("userHandle")
    if handle and handle != bytes_to_base64url(user_handle(key.person_id)):
        raise PasskeyError("user handle of someone else", key)
    try:
        verified = verify_authentication_response(
            credential=data,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=0,  # checked below, after the signature
            require_user_verification=person_id is None,
        )
    except _MALFORMED as exc:
        raise PasskeyError(_reason(exc), key) from exc
    stored, new = key.sign_count, verified.new_sign_count
    if (new > 0 or stored > 0) and new <= stored:
        audit.record(
            session,
            actor=actor,
            action="sso.passkey.clone_suspected",
            object_type="person",
            object_id=key.person_id,
            after={"passkey": key.id, "name": key.name, "stored_count": stored, "count": new},
        )
        raise PasskeyError("sign count did not increase", key)
    key.sign_count = new
    key.backed_up = verified.credential_backed_up
    key.last_used_at = utcnow()
    session.flush()
    return key


def remove_all(
    session: Session, audit: AuditLog, actor: Actor, person_id: uuid.UUID, reason: str
) -> int:
    """Remove every passkey of a person (an access reset after a lost device), audited
    as one event; returns how many there were."""
    keys = person_passkeys(session, person_id)
    if keys:
        audit.record(
            session,
            actor=actor,
            action="sso.passkey.remove_all",
            object_type="person",
            object_id=person_id,
            before={"passkeys": [{"id": k.id, "name": k.name} for k in keys]},
            reason=reason,
        )
        session.execute(delete(Passkey).where(Passkey.person_id == person_id))
    return len(keys)
