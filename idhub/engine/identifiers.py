"""Issue usernames: the naming convention, numbered on collision, never reissued."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from provisioning.naming import allocate_identifier, identifier_base

from ..models import Person, ReservedIdentifier


def issue_username(session: Session, person: Person, pattern: str) -> str:
    """Allocate and reserve the person's identifier in the caller's transaction.

    Two transactions racing for the same name collide on the reserved table's primary key;
    the loser's transaction fails and is retried by its caller, so a name is never issued
    twice.
    """
    if person.username:
        return person.username
    base = identifier_base(person.family_name, person.middle_name, person.given_name, pattern)
    # Every issued name starting with the base, in one query (the session autoflushes the
    # names reserved earlier in this transaction), instead of one query per candidate.
    like = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    taken = set(
        session.scalars(
            select(ReservedIdentifier.identifier).where(
                ReservedIdentifier.identifier.like(like, escape="\\")
            )
        )
    )

    username = allocate_identifier(base, taken.__contains__)
    person.username = username
    if person.id is None:
        person.id = uuid.uuid4()
    session.add(ReservedIdentifier(identifier=username, person_id=person.id, person=person))
    return username
