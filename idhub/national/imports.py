"""Signed batches from registered partners: an HR system's changes, the national side's records.

A batch is a compact JWS whose payload is `{"iss": partner name, "jti": batch id, "iat":
seconds, "kind": "hr_changes" | "national_records", "records": [...]}`. It is checked in
this order, and refused with a stable code before anything is written:

1. signed at all (`national_unsigned`), well formed (`national_malformed`);
2. from a registered, active partner (`national_unknown_partner`) whose key verifies it
   (`national_bad_signature`: altered, or signed with another key);
3. fresh: `iat` within the replay window (`national_stale`), its `jti` never accepted
   before from that partner (`national_replayed`; a unique key backs this up).

Then the records are applied through the HR services (their rules hold), the batch is
kept as received, and every change is audited with the batch named as the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from joserfc.jwk import JWKRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.errors import Conflict, Invalid, NotFound
from idhub.identity.people import update_person
from idhub.identity.personal import cccd_clause
from idhub.models import NationalImport, NationalPartner, Person, PersonStatus, utcnow
from idhub.national.documents import verify_jws

REPLAY_WINDOW_S = 600
KINDS = ("hr", "national")
# What each kind of partner may change on a person, found by CCCD.
HR_FIELDS = (
    "family_name",
    "middle_name",
    "given_name",
    "date_of_birth",
    "personal_email",
    "personal_phone",
    "status",
)
NATIONAL_FIELDS = ("civil_servant_code",)


def register_partner(
    ctx: HrContext, name: str, kind: str, public_jwk: dict[str, Any]
) -> NationalPartner:
    if kind not in KINDS:
        raise Invalid(f"Unknown partner kind {kind!r}; use hr or national.", code="national_kind")
    try:
        key = JWKRegistry.import_key({k: v for k, v in public_jwk.items() if k != "alg"})
    except Exception as exc:  # joserfc raises several types for a bad key
        raise Invalid(f"Not a usable public JWK: {exc}", code="national_bad_key") from exc
    if key.is_private:
        raise Invalid("Register the public key only.", code="national_private_key")
    if ctx.session.scalar(select(NationalPartner.id).where(NationalPartner.name == name)):
        raise Conflict(f"A partner named {name!r} exists.", code="national_partner_exists")
    public = {**key.as_dict(private=False), "kid": public_jwk.get("kid") or key.thumbprint()}
    if public_jwk.get("alg"):
        public["alg"] = public_jwk["alg"]
    partner = NationalPartner(
        id=uuid.uuid4(), name=name, kind=kind, public_jwk=public, active=True, created_at=utcnow()
    )
    ctx.session.add(partner)
    ctx.record_create(partner, "national.partner.create")
    return partner


def _claims(token: str) -> dict[str, Any]:
    """The unverified payload, only to find whose key to check it with."""
    parts = token.strip().split(".")
    if token.lstrip().startswith(("{", "[")) or len(parts) != 3 or not parts[2]:
        raise Invalid(
            "The batch is not signed (a compact JWS is expected).", code="national_unsigned"
        )
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except ValueError as exc:
        raise Invalid("The batch is not a valid JWS.", code="national_malformed") from exc
    if not isinstance(claims, dict):
        raise Invalid("The batch payload is not an object.", code="national_malformed")
    return claims


def _fresh(session: Session, partner: NationalPartner, claims: dict[str, Any]) -> dt.datetime:
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > 128 or not isinstance(iat, int):
        raise Invalid("The batch needs a jti (its id) and an iat.", code="national_malformed")
    issued = dt.datetime.fromtimestamp(iat, dt.UTC)
    if abs((utcnow() - issued).total_seconds()) > REPLAY_WINDOW_S:
        raise Invalid(
            f"The batch was issued at {issued.isoformat()}, outside the "
            f"{REPLAY_WINDOW_S} s window.",
            code="national_stale",
        )
    seen = session.scalar(
        select(NationalImport.id).where(
            NationalImport.partner_id == partner.id, NationalImport.batch_id == jti
        )
    )
    if seen is not None:
        raise Conflict(f"Batch {jti!r} was already received.", code="national_replayed")
    return issued


def receive(ctx: HrContext, token: str) -> NationalImport:
    """Check a signed batch and apply it, all in the caller's transaction."""
    session = ctx.session
    claims = _claims(token)
    partner = session.scalar(
        select(NationalPartner).where(
            NationalPartner.name == str(claims.get("iss")), NationalPartner.active.is_(True)
        )
    )
    if partner is None:
        raise Invalid(
            f"No registered partner {claims.get('iss')!r}.", code="national_unknown_partner"
        )
    claims = verify_jws(token, [partner.public_jwk])  # the same payload, now verified
    issued = _fresh(session, partner, claims)
    kind = claims.get("kind")
    expected = "hr_changes" if partner.kind == "hr" else "national_records"
    if kind != expected:
        raise Invalid(f"A {partner.kind} partner sends {expected}.", code="national_bad_kind")
    items = claims.get("records")
    if not isinstance(items, list):
        raise Invalid("The batch has no records list.", code="national_malformed")
    allowed = HR_FIELDS if partner.kind == "hr" else NATIONAL_FIELDS
    for index, item in enumerate(items):
        _apply(ctx, item, allowed, index)
    receipt = NationalImport(
        id=uuid.uuid4(),
        partner_id=partner.id,
        batch_id=claims["jti"],
        issued_at=issued,
        records=len(items),
        sha256=hashlib.sha256(token.strip().encode()).hexdigest(),
        received_at=utcnow(),
    )
    session.add(receipt)
    ctx.record_create(receipt, "national.import")
    return receipt


def _apply(ctx: HrContext, item: Any, allowed: tuple[str, ...], index: int) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("national_id"), str):
        raise Invalid(
            f"Record {index}: a national_id is required.",
            code="national_malformed",
            details={"record": index},
        )
    fields = {k: v for k, v in item.items() if k != "national_id"}
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise Invalid(
            f"Record {index}: this partner may not set {', '.join(unknown)}.",
            code="national_field_refused",
            details={"record": index, "fields": unknown},
        )
    person = ctx.session.scalar(select(Person).where(cccd_clause(item["national_id"])))
    if person is None:
        raise NotFound(
            f"Record {index}: no person with that national ID.",
            code="person_not_found",
            details={"record": index},
        )
    changes = dict(fields)
    try:
        if changes.get("date_of_birth") is not None:
            changes["date_of_birth"] = dt.date.fromisoformat(changes["date_of_birth"])
        if "status" in changes:
            changes["status"] = PersonStatus(changes["status"])
    except (TypeError, ValueError) as exc:
        raise Invalid(
            f"Record {index}: {exc}", code="national_malformed", details={"record": index}
        ) from exc
    update_person(ctx, person, changes)


def actor_of(partner: NationalPartner) -> Actor:
    return Actor("system", f"national:{partner.name}")
