"""HR rows → the plain snapshots the pure policy reads (in bulk: a batch costs two queries)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.models import Assignment, OrgUnit, Position, UnitStatus
from provisioning.model import PersonSnapshot, PostKind, PostSnapshot, UnitSnapshot

_UNIT_COLUMNS = (
    OrgUnit.id,
    OrgUnit.parent_id,
    OrgUnit.code,
    OrgUnit.name,
    OrgUnit.type,
    OrgUnit.mail_domain,
    OrgUnit.status,
)


class UnitDirectory:
    """Every org unit with its path from the root and its inherited mail domain."""

    def __init__(self, units: Iterable[Any]) -> None:
        self._rows = {u.id: u for u in units}
        self._cache: dict[uuid.UUID, UnitSnapshot] = {}

    @classmethod
    def load(cls, session: Session) -> UnitDirectory:
        # Plain rows, not ORM objects: every converge round loads every unit, and
        # building thousands of tracked instances cost more than the planning.
        return cls(session.execute(select(*_UNIT_COLUMNS)))

    def get(self, unit_id: uuid.UUID) -> UnitSnapshot:
        cached = self._cache.get(unit_id)
        if cached is not None:
            return cached
        chain: list[Any] = []
        seen: set[uuid.UUID] = set()
        current: Any = self._rows[unit_id]
        while current is not None and current.id not in seen:
            seen.add(current.id)
            chain.append(current)
            current = self._rows.get(current.parent_id) if current.parent_id else None
        chain.reverse()
        domain = next((u.mail_domain for u in reversed(chain) if u.mail_domain), None)
        unit = chain[-1]
        snapshot = UnitSnapshot(
            id=str(unit.id),
            code=unit.code,
            name=unit.name,
            type=unit.type.value,
            path=tuple(u.code for u in chain),
            path_ids=tuple(str(u.id) for u in chain),
            path_names=tuple(u.name for u in chain),
            mail_domain=domain,
            active=unit.status == UnitStatus.ACTIVE,
        )
        self._cache[unit_id] = snapshot
        return snapshot


def person_snapshots(
    session: Session,
    people: Iterable[Any],  # Person objects, or rows with the same columns
    units: UnitDirectory,
    today: dt.date,
) -> dict[uuid.UUID, PersonSnapshot]:
    people = list(people)
    posts: dict[uuid.UUID, list[PostSnapshot]] = defaultdict(list)
    rows = session.execute(
        select(
            Assignment.person_id,
            Assignment.unit_id,
            Assignment.kind,
            Assignment.start_date,
            Assignment.end_date,
            Position.code,
            Position.name,
            Position.leadership_level,
        )
        .join(Position, Position.id == Assignment.position_id)
        .where(among(session, Assignment.person_id, [p.id for p in people]))
    )
    for person_id, unit_id, kind, start, end, code, name, level in rows:
        posts[person_id].append(
            PostSnapshot(
                unit=units.get(unit_id),
                position_code=code,
                position_name=name,
                leadership_level=level,
                kind=PostKind(kind.value),
                start=start,
                end=end,
            )
        )
    return {
        person.id: PersonSnapshot(
            id=str(person.id),
            username=person.username or "",
            family_name=person.family_name,
            middle_name=person.middle_name,
            given_name=person.given_name,
            status=person.status.value,
            civil_servant_code=person.civil_servant_code,
            posts=tuple(sorted(posts[person.id], key=lambda p: (p.start, p.unit.code))),
            today=today,
        )
        for person in people
    }
