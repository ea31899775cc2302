"""Which app takes which change events, and the dead letters: the writes behind the
`idhub client events` command and the events API, each in the caller's transaction and
audited (never the secret)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.changes.outbox import EVENTS_TARGET, enqueue
from idhub.errors import Invalid, NotFound
from idhub.events.delivery import new_secret
from idhub.events.projection import EVENT_TYPES
from idhub.keyring import Keyring
from idhub.models import (
    EventDeadLetter,
    EventState,
    EventSubscription,
    OAuthClient,
    Person,
    PersonStatus,
    utcnow,
)


def subscribe(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    actor: Actor,
    client_id: str,
    url: str,
    types: Iterable[str],
    new_key: bool = False,
) -> str | None:
    """Send `types` of change events to the app at `url`. Returns the new secret (shown
    once) for a new subscription or when `new_key`; None when the secret stays. Every
    active person is queued, so the app receives its present users as joiners."""
    if session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == client_id)) is None:
        raise NotFound(f"No client {client_id}.", code="client_not_found")
    wanted = list(dict.fromkeys(types)) or list(EVENT_TYPES)
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise Invalid(f"Unknown event types: {', '.join(unknown)}.", code="unknown_event_type")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise Invalid("The events URL must be an http(s) URL.", code="invalid_events_url")
    row = session.get(EventSubscription, client_id)
    secret = None
    before = None
    if row is None:
        secret = new_secret()
        row = EventSubscription(client_id=client_id, created_at=utcnow())
        row.secret_encrypted = keyring.encrypt(secret)
        session.add(row)
    else:
        before = {"url": row.url, "types": list(row.types)}
        if new_key:
            secret = new_secret()
            row.secret_encrypted = keyring.encrypt(secret)
    row.url, row.types, row.updated_at = url, wanted, utcnow()
    audit.record(
        session,
        actor=actor,
        action="client.events",
        object_type="client",
        object_id=client_id,
        before=before,
        after={"url": url, "types": wanted, "new_secret": secret is not None},
    )
    session.flush()
    people = session.scalars(select(Person.id).where(Person.status == PersonStatus.ACTIVE))
    enqueue(session, list(people), f"change events for {client_id}", targets=(EVENTS_TARGET,))
    return secret


def unsubscribe(session: Session, audit: AuditLog, actor: Actor, client_id: str) -> None:
    """No more events to the app; what it was told is forgotten."""
    row = session.get(EventSubscription, client_id)
    if row is None:
        raise NotFound(f"Client {client_id} takes no change events.", code="no_subscription")
    session.delete(row)
    session.execute(delete(EventState).where(EventState.client_id == client_id))
    audit.record(
        session, actor=actor, action="client.events_off", object_type="client", object_id=client_id
    )


def retry_dead_letter(session: Session, audit: AuditLog, actor: Actor, letter_id: int) -> int:
    """Send the pair of a dead letter again: its letters leave the list, the pair is no
    longer held and the person's job is queued (the net events are computed afresh).
    Returns how many letters were retried."""
    letter = session.get(EventDeadLetter, letter_id)
    if letter is None:
        raise NotFound(f"No dead letter {letter_id}.", code="dead_letter_not_found")
    client_id, person_id = letter.client_id, letter.person_id
    letters = list(
        session.scalars(
            select(EventDeadLetter).where(
                EventDeadLetter.client_id == client_id, EventDeadLetter.person_id == person_id
            )
        )
    )
    state = session.get(EventState, (client_id, person_id))
    if state is not None:
        state.dead, state.failures = False, 0
    for row in letters:
        session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="event.retry",
        object_type="person",
        object_id=person_id,
        after={"client_id": client_id, "events": [r.event_id for r in letters]},
    )
    enqueue(
        session, [person_id], f"change events retried for {client_id}", targets=(EVENTS_TARGET,)
    )
    return len(letters)


__all__ = ["retry_dead_letter", "subscribe", "unsubscribe"]
