"""Which app's SCIM server the hub keeps in step: the writes behind `idhub client scim`
and `/api/v1/clients/{client_id}/scim`, each in the caller's transaction and audited
(never the token); the dead letters' retry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.changes.outbox import SCIM_TARGET, enqueue
from idhub.errors import Invalid, NotFound
from idhub.keyring import Keyring
from idhub.models import (
    OAuthClient,
    OrgUnit,
    Person,
    PersonStatus,
    ScimGroupState,
    ScimState,
    ScimSubscription,
    utcnow,
)


@dataclass(frozen=True)
class ScimSettings:
    url: str
    token: str | None  # None: keep the present token
    subtree: str | None = None
    role_prefix: str | None = None
    delete_after_days: int | None = None


def subscribe(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    actor: Actor,
    client_id: str,
    s: ScimSettings,
) -> ScimSubscription:
    """Keep the app's SCIM users in step from now on; every active person is queued, so
    the app receives its present users."""
    if session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == client_id)) is None:
        raise NotFound(f"No client {client_id}.", code="client_not_found")
    parts = urlsplit(s.url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise Invalid("The SCIM URL must be an http(s) URL.", code="invalid_scim_url")
    if s.subtree and session.scalar(select(OrgUnit.id).where(OrgUnit.code == s.subtree)) is None:
        raise NotFound(f"No unit {s.subtree}.", code="unit_not_found")
    if s.role_prefix is not None and not s.role_prefix.endswith(":"):
        raise Invalid("A role prefix ends with ':' (document:).", code="invalid_role_prefix")
    if s.delete_after_days is not None and s.delete_after_days < 0:
        raise Invalid("delete_after_days is 0 or more.", code="invalid_delete_after")
    row = session.get(ScimSubscription, client_id)
    before = None
    if row is None:
        if not s.token:
            raise Invalid("A new SCIM endpoint needs its bearer token.", code="scim_token_required")
        row = ScimSubscription(client_id=client_id, created_at=utcnow())
        session.add(row)
    else:
        before = described(row)
    if s.token:
        row.token_encrypted = keyring.encrypt(s.token)
    row.url, row.subtree, row.role_prefix = s.url, s.subtree or None, s.role_prefix or None
    row.delete_after_days, row.updated_at = s.delete_after_days, utcnow()
    audit.record(
        session,
        actor=actor,
        action="client.scim",
        object_type="client",
        object_id=client_id,
        before=before,
        after={**described(row), "new_token": bool(s.token)},
    )
    session.flush()
    queue_everyone(session, client_id, f"SCIM for {client_id}")
    return row


def described(row: ScimSubscription) -> dict[str, object]:
    return {
        "url": row.url,
        "subtree": row.subtree,
        "role_prefix": row.role_prefix,
        "delete_after_days": row.delete_after_days,
    }


def queue_everyone(session: Session, client_id: str, reason: str) -> int:
    """Every active person and everyone the app holds: the round sorts out who is due."""
    people = set(session.scalars(select(Person.id).where(Person.status == PersonStatus.ACTIVE)))
    people |= set(
        session.scalars(select(ScimState.person_id).where(ScimState.client_id == client_id))
    )
    return enqueue(session, list(people), reason, targets=(SCIM_TARGET,))


def unsubscribe(session: Session, audit: AuditLog, actor: Actor, client_id: str) -> None:
    """No more SCIM to the app; what it holds is forgotten (its users stay there)."""
    row = session.get(ScimSubscription, client_id)
    if row is None:
        raise NotFound(f"Client {client_id} has no SCIM endpoint.", code="no_scim_subscription")
    session.delete(row)
    session.execute(delete(ScimState).where(ScimState.client_id == client_id))
    session.execute(delete(ScimGroupState).where(ScimGroupState.client_id == client_id))
    audit.record(
        session, actor=actor, action="client.scim_off", object_type="client", object_id=client_id
    )


def retry_dead_letter(
    session: Session, audit: AuditLog, actor: Actor, client_id: str, person_id: uuid.UUID
) -> None:
    """Try a held (app, person) pair again: no longer held, the person's job queued."""
    state = session.get(ScimState, (client_id, person_id))
    if state is None or not state.dead:
        raise NotFound("No such SCIM dead letter.", code="dead_letter_not_found")
    state.dead, state.failures = False, 0
    audit.record(
        session,
        actor=actor,
        action="scim.retry",
        object_type="person",
        object_id=person_id,
        after={"client_id": client_id},
    )
    enqueue(session, [person_id], f"SCIM retried for {client_id}", targets=(SCIM_TARGET,))


__all__ = ["ScimSettings", "queue_everyone", "retry_dead_letter", "subscribe", "unsubscribe"]
