"""Issue usernames: the naming convention, numbered on collision, never reissued."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from provisioning.naming import allocate_identifier, identifier_base

from ..models import Person, ReservedIdentifier

_WINDOW = 64


def issue_username(session: Session, person: Person, pattern: str) -> str:
    """Allocate and reserve the person's identifier in the caller's transaction.

    Two transactions racing for the same name collide on the reserved table's primary key;
    the loser's transaction fails and is retried by its caller, so a name is never issued
    twice.
    """
    if person.username:
        return person.username
    base = identifier_base(person.family_name, person.middle_name, person.given_name, pattern)
    # Candidates (annv, annv2, annv3, …) are looked up 64 at a time by primary key: one
    # query even for the 60th "Nguyễn Văn An", and no LIKE (a table scan on SQLite).
    taken: set[str] = set()
    checked: set[str] = set()

    def is_taken(candidate: str) -> bool:
        if candidate not in checked:
            suffix = candidate[len(base) :] if candidate.startswith(base) else ""
            start = int(suffix) if suffix.isdigit() else 1
            window = [candidate, *(f"{base}{n}" for n in range(max(start, 2), start + _WINDOW))]
            checked.update(window)
            taken.update(
                session.scalars(
                    select(ReservedIdentifier.identifier).where(
                        ReservedIdentifier.identifier.in_(window)
                    )
                )
            )
        return candidate in taken

    username = allocate_identifier(base, is_taken)
    person.username = username
    if person.id is None:
        person.id = uuid.uuid4()
    session.add(ReservedIdentifier(identifier=username, person_id=person.id, person=person))
    return username
