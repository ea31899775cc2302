"""The personnel records of an export, built set-based from the HR tables.

One record per person (identity, CCCD, civil-servant code, posts with unit, position and
work history, the reorganisations they went through), plus the units named and the
reorganisations applied (decision, dates, what became of each unit). Field names are the
hub's; docs/national.md maps them to the national data standard.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from idhub.models import (
    Assignment,
    ChangeSet,
    ChangeSetPerson,
    ChangeSetState,
    OrgUnit,
    OrgUnitLineage,
    Person,
    Position,
)
from idhub.reorg.lineage import of_people

SCHEMA = "idhub.national.personnel/1"
_CHUNK = 900


def changed_people(session: Session, since: dt.datetime | None) -> list[uuid.UUID]:
    """Everyone (full), or whoever changed since: the person, a post, the unit or position
    of a post, a reorganisation they went through."""
    if since is None:
        return list(session.scalars(select(Person.id).order_by(Person.id)))
    ids = union(
        select(Person.id).where(Person.updated_at >= since),
        select(Assignment.person_id).where(Assignment.updated_at >= since),
        # A unit or position renamed outside a change set: its holders' records read anew.
        select(Assignment.person_id)
        .join(OrgUnit, OrgUnit.id == Assignment.unit_id)
        .where(OrgUnit.updated_at >= since),
        select(Assignment.person_id)
        .join(Position, Position.id == Assignment.position_id)
        .where(Position.updated_at >= since),
        select(ChangeSetPerson.person_id)
        .join(ChangeSet, ChangeSet.id == ChangeSetPerson.change_set_id)
        .where(ChangeSet.applied_at >= since),
    ).subquery()
    return sorted(session.scalars(select(ids.c[0]).distinct()))


def _person(person: Person, history: dict[str, Any]) -> dict[str, Any]:
    return {
        "person_id": str(person.id),
        "national_id": person.national_id,
        "civil_servant_code": person.civil_servant_code,
        "family_name": person.family_name,
        "middle_name": person.middle_name,
        "given_name": person.given_name,
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else None,
        "status": person.status.value,
        "updated_at": person.updated_at.isoformat(),
        "posts": history["posts"],
        "reorganisations": history["reorganisations"],
    }


def _units(session: Session, ids: set[uuid.UUID]) -> list[dict[str, Any]]:
    units: dict[uuid.UUID, OrgUnit] = {}
    wanted = list(ids)
    while wanted:  # the units named, and every unit above them
        rows: list[OrgUnit] = []
        for offset in range(0, len(wanted), _CHUNK):
            rows += session.scalars(
                select(OrgUnit).where(OrgUnit.id.in_(wanted[offset : offset + _CHUNK]))
            ).all()
        for unit in rows:
            units[unit.id] = unit
        wanted = list({u.parent_id for u in rows if u.parent_id and u.parent_id not in units})
    codes = {u.id: u.code for u in units.values()}
    return [
        {
            "unit_id": str(u.id),
            "code": u.code,
            "name": u.name,
            "type": u.type.value,
            "parent_code": codes.get(u.parent_id) if u.parent_id else None,
            "status": u.status.value,
            "valid_from": u.valid_from.isoformat(),
            "valid_to": u.valid_to.isoformat() if u.valid_to else None,
        }
        for u in sorted(units.values(), key=lambda u: (u.code, u.valid_from))
    ]


def _reorganisations(session: Session, since: dt.datetime | None) -> list[dict[str, Any]]:
    query = select(ChangeSet).where(ChangeSet.state == ChangeSetState.APPLIED)
    if since is not None:
        query = query.where(ChangeSet.applied_at >= since)
    sets = list(session.scalars(query.order_by(ChangeSet.effective_date, ChangeSet.id)))
    steps: dict[uuid.UUID, list[dict[str, Any]]] = {c.id: [] for c in sets}
    if sets:
        old, new = OrgUnit.__table__.alias("old"), OrgUnit.__table__.alias("new")
        for change_set_id, kind, old_code, new_code in session.execute(
            select(OrgUnitLineage.change_set_id, OrgUnitLineage.kind, old.c.code, new.c.code)
            .join(old, old.c.id == OrgUnitLineage.unit_id)
            .join(new, new.c.id == OrgUnitLineage.successor_id)
            .where(OrgUnitLineage.change_set_id.in_(list(steps)))
            .order_by(old.c.code, new.c.code)
        ):
            steps[change_set_id].append({"unit_code": old_code, "kind": kind.value, "to": new_code})
    return [
        {
            "change_set_id": str(c.id),
            "title": c.title,
            "decision_number": c.decision_number,
            "decision_date": c.decision_date.isoformat(),
            "decision_issuer": c.decision_issuer,
            "effective_date": c.effective_date.isoformat(),
            "applied_at": c.applied_at.isoformat() if c.applied_at else None,
            "units": steps[c.id],
        }
        for c in sets
    ]


def build(session: Session, since: dt.datetime | None) -> dict[str, Any]:
    """The export's content (unsigned): people, the units they were in, reorganisations."""
    ids = changed_people(session, since)
    histories = of_people(session, ids)
    people = []
    unit_ids: set[uuid.UUID] = set()
    for offset in range(0, len(ids), _CHUNK):
        for person in session.scalars(
            select(Person).where(Person.id.in_(ids[offset : offset + _CHUNK])).order_by(Person.id)
        ):
            history = histories[person.id]
            people.append(_person(person, history))
            unit_ids.update(uuid.UUID(p["unit_id"]) for p in history["posts"])
            unit_ids.update(
                uuid.UUID(c[k])
                for p in history["posts"]
                for c in p["changed_in_place"]
                for k in ("unit_id", "to_unit_id")
            )
    return {
        "schema": SCHEMA,
        "since": since.isoformat() if since else None,
        "people": people,
        "units": _units(session, unit_ids),
        "reorganisations": _reorganisations(session, since),
    }
