"""Who keeps access today: the test of an urgent change (a leaver, a disable).

An account is enabled while its person is active and holds a post today (lifecycle
mapping); a change that leaves someone without either cuts access, and its converge
jobs overtake bulk work (changes/outbox.py). Decided when the transaction commits, from
what the change did, not from its reason text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.models import Assignment, Person, PersonStatus

_CHUNK = 900  # bound parameters per IN (), below every SQLite build's limit


def without_access(
    session: Session, person_ids: Sequence[uuid.UUID], today: dt.date | None = None
) -> set[uuid.UUID]:
    """Those of these people who hold no post `today` or are not active: their account is
    disabled (lifecycle), so the change that left them so cuts access and is urgent."""
    today = today or dt.date.today()
    ids = list(dict.fromkeys(person_ids))
    with_access: set[uuid.UUID] = set()
    for offset in range(0, len(ids), _CHUNK):
        chunk = ids[offset : offset + _CHUNK]
        query = (
            select(Assignment.person_id)
            .join(Person, Person.id == Assignment.person_id)
            .where(
                among(session, Assignment.person_id, chunk),
                Person.status == PersonStatus.ACTIVE,
                Assignment.start_date <= today,
                or_(Assignment.end_date.is_(None), Assignment.end_date >= today),
            )
            .distinct()
        )
        with_access.update(session.scalars(query))
    return set(ids) - with_access
