"""Exports: build the records, sign them (JWS or XAdES), keep the signed document, audit.

An export is stored as signed, so fetching it again returns the very bytes that were
signed; its SHA-256 is in the audit event. Fetching one is audited too: the documents
carry CCCDs and dates of birth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.changes.outbox import enqueue
from idhub.errors import Invalid, NotFound
from idhub.keyring import Keyring
from idhub.models import NationalExport, utcnow
from idhub.national import documents, keys, records

FORMATS = ("jws", "xml")
MEDIA_TYPES = {"jws": "application/jose", "xml": "application/xml"}
# The engine target pushing exports to the province's platform (national/push.py).
PUSH_TARGET = "national_push"


def create_export(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    actor: Actor,
    *,
    fmt: str = "jws",
    since: dt.datetime | None = None,
    issuer: str = "idhub",
    push: bool = False,
) -> NationalExport:
    """A signed export of everyone (or whoever changed since `since`), in the caller's
    transaction; with `push`, its delivery to the platform is queued in it too."""
    if fmt not in FORMATS:
        raise Invalid(f"Unknown format {fmt!r}; use jws or xml.", code="national_bad_format")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    key = keys.signing_key(session, keyring, audit, actor)
    export_id, now = uuid.uuid4(), utcnow()
    content = records.build(session, since)
    payload: dict[str, Any] = {
        "iss": issuer,
        "jti": str(export_id),
        "iat": int(now.timestamp()),
        "issued_at": now.isoformat(),
        **content,
    }
    pem = keys.private_pem(key, keyring)
    if fmt == "jws":
        document = documents.sign_jws(payload, pem, key.kid)
    else:
        document = documents.sign_xml(payload, pem, key.certificate_pem)
    row = NationalExport(
        id=export_id,
        format=fmt,
        since=since,
        records=len(content["people"]),
        kid=key.kid,
        sha256=hashlib.sha256(document.encode()).hexdigest(),
        document=document,
        created_by=f"{actor.type}:{actor.id}",
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="national.export",
        object_type="national_export",
        object_id=row.id,
        after={
            "format": fmt,
            "since": since.isoformat() if since else None,
            "records": row.records,
            "kid": key.kid,
            "sha256": row.sha256,
        },
    )
    if push:
        enqueue(session, [row.id], "national export made", targets=(PUSH_TARGET,))
    return row


def get_export(session: Session, export_id: uuid.UUID) -> NationalExport:
    row = session.get(NationalExport, export_id)
    if row is None:
        raise NotFound(f"No export with id {export_id}.", code="national_export_not_found")
    return row


def fetched(session: Session, audit: AuditLog, actor: Actor, row: NationalExport) -> None:
    """Who took a copy of the personal data in an export."""
    audit.record(
        session,
        actor=actor,
        action="national.export.fetch",
        object_type="national_export",
        object_id=row.id,
        after={"sha256": row.sha256, "records": row.records},
    )


def listed() -> Any:
    return select(NationalExport).order_by(NationalExport.created_at.desc(), NationalExport.id)


def summary(row: NationalExport) -> dict[str, Any]:
    return {
        "id": row.id,
        "format": row.format,
        "since": row.since,
        "records": row.records,
        "kid": row.kid,
        "sha256": row.sha256,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "media_type": MEDIA_TYPES[row.format],
        "pushed_at": row.pushed_at,
        "push_error": row.push_error,
    }


def verify_document(session: Session, document: str | bytes) -> dict[str, Any]:
    """The payload of an export signed by one of the hub's national keys (Invalid if not)."""
    published = keys.published(session)
    return documents.verify(
        document, [k.public_jwk for k in published], [k.certificate_pem for k in published]
    )
