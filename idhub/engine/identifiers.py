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
    # The first candidates (annv, annv2, … annv64) in one query by primary key: a LIKE
    # 'annv%' would scan the table on SQLite, whose LIKE is case-insensitive.
    first = [base, *(f"{base}{n}" for n in range(2, 65))]
    taken = set(
        session.scalars(
            select(ReservedIdentifier.identifier).where(ReservedIdentifier.identifier.in_(first))
        )
    )
    checked = set(first)

    def is_taken(candidate: str) -> bool:
        if candidate in checked:
            return candidate in taken
        return session.get(ReservedIdentifier, candidate) is not None

    username = allocate_identifier(base, is_taken)
    person.username = username
    if person.id is None:
        person.id = uuid.uuid4()
    session.add(ReservedIdentifier(identifier=username, person_id=person.id, person=person))
    return username
