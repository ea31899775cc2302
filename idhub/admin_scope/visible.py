"""What a scope sees: SQL filters for lists and counts, 404 for one object outside it.

A person is in a scope when a post of theirs not yet ended (or not yet begun) is in
it; a person with no such post (a leaver) when any former post was, or — never posted —
when the scope holds the unit that recorded them (`owner_unit_id`). Outside one's scope
an object is not listed, not counted and answers 404 like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, exists, false, or_, select, union
from sqlalchemy.orm import Session, aliased

from idhub.admin_scope.scope import Scope
from idhub.db import among
from idhub.errors import NotFound
from idhub.models import (
    AdminGrant,
    Assignment,
    AuditEvent,
    ChangeSet,
    MailDelegation,
    Person,
    ProvisioningJob,
    Seat,
)


def _open(day: dt.date) -> Any:
    return or_(Assignment.end_date.is_(None), Assignment.end_date >= day)


def people_in(session: Session, scope: Scope) -> Any:
    """The ids of the people in a (limited) scope, as one uncorrelated SELECT driven by
    the posts of its units (indexed by unit), so a list filtered by it reads the
    commune's posts once instead of checking every person of the province."""
    units = list(scope.units or ())
    day = dt.date.today()
    other = aliased(Assignment)
    posted_now = exists().where(
        other.person_id == Assignment.person_id,
        or_(other.end_date.is_(None), other.end_date >= day),
    )
    here = among(session, Assignment.unit_id, units)
    held_here = select(Assignment.person_id).where(here, _open(day))
    left_here = select(Assignment.person_id).where(here, ~posted_now)
    anywhere = exists().where(Assignment.person_id == Person.id)
    owned = select(Person.id).where(among(session, Person.owner_unit_id, units), ~anywhere)
    return union(held_here, left_here, owned)


def person_clause(session: Session, scope: Scope, person_id: Any = Person.id) -> Any:
    """True for the people (rows of `person_id`'s table) the scope reaches; None: all."""
    if scope.units is None:
        return None
    if not scope.units:
        return false()
    return person_id.in_(people_in(session, scope))


def people(query: Select, session: Session, scope: Scope, column: Any = Person.id) -> Select:
    """Narrow a query to the people in scope (`column` holds a person id)."""
    if scope.units is None:
        return query
    if column is Person.id:
        return query.where(person_clause(session, scope))
    return query.where(person_clause(session, scope, column))


def units(query: Select, session: Session, scope: Scope, column: Any) -> Select:
    """Narrow a query to rows whose `column` (a unit id) is in scope."""
    if scope.units is None:
        return query
    if not scope.units:
        return query.where(false())
    return query.where(among(session, column, list(scope.units)))


def has_person(session: Session, scope: Scope, person_id: uuid.UUID) -> bool:
    """One person against a limited scope: the same rule as `people_in`, read from the
    person's own posts (indexed by person) rather than from the scope's."""
    if scope.units is None:
        return True
    day = dt.date.today()
    posts = session.execute(
        select(Assignment.unit_id, Assignment.end_date).where(Assignment.person_id == person_id)
    ).all()
    held = [unit for unit, end in posts if end is None or end >= day]
    if held:
        return any(unit in scope.units for unit in held)
    if posts:
        return any(unit in scope.units for unit, _ in posts)
    owner = session.scalar(select(Person.owner_unit_id).where(Person.id == person_id))
    return owner in scope.units


def require_person(session: Session, scope: Scope, person_id: uuid.UUID) -> None:
    if not has_person(session, scope, person_id):
        raise NotFound(f"No person with id {person_id}.", code="person_not_found")


def require_unit(session: Session, scope: Scope, unit_id: uuid.UUID) -> None:
    if not scope.covers(unit_id):
        raise NotFound(f"No unit with id {unit_id}.", code="unit_not_found")


def require_assignment(session: Session, scope: Scope, assignment_id: uuid.UUID) -> None:
    if scope.units is None:
        return
    unit_id = session.scalar(select(Assignment.unit_id).where(Assignment.id == assignment_id))
    if not scope.covers(unit_id):
        raise NotFound(f"No assignment with id {assignment_id}.", code="assignment_not_found")


def require_seat(session: Session, scope: Scope, seat_id: uuid.UUID) -> None:
    if scope.units is None:
        return
    unit_id = session.scalar(select(Seat.unit_id).where(Seat.id == seat_id))
    if not scope.covers(unit_id):
        raise NotFound(f"No seat with id {seat_id}.", code="seat_not_found")


def require_job(session: Session, scope: Scope, job_id: int) -> None:
    if scope.units is None:
        return
    subject = session.scalar(select(ProvisioningJob.subject_id).where(ProvisioningJob.id == job_id))
    if subject is None or not (
        has_person(session, scope, subject)
        or scope.covers(session.scalar(select(Seat.unit_id).where(Seat.id == subject)))
    ):
        raise NotFound(f"No job {job_id}.", code="job_not_found")


def require_change_set(session: Session, scope: Scope, change_set_id: uuid.UUID) -> None:
    """A subtree administrator's own drafts (and those of units below); the province's
    change sets (no owner unit) only province-wide."""
    if scope.units is None:
        return
    owner = session.scalar(select(ChangeSet.owner_unit_id).where(ChangeSet.id == change_set_id))
    if not scope.covers(owner):
        raise NotFound(f"No change set with id {change_set_id}.", code="change_set_not_found")


def require_delegation(session: Session, scope: Scope, delegation_id: uuid.UUID) -> None:
    if scope.units is None:
        return
    owner = session.scalar(
        select(MailDelegation.owner_id).where(MailDelegation.id == delegation_id)
    )
    if owner is None or not has_person(session, scope, owner):
        raise NotFound(f"No delegation with id {delegation_id}.", code="delegation_not_found")


def require_grant(session: Session, scope: Scope, grant_id: uuid.UUID) -> None:
    if scope.units is None:
        return
    unit_id = session.scalar(select(AdminGrant.unit_id).where(AdminGrant.id == grant_id))
    if not scope.covers(unit_id):
        raise NotFound(f"No grant with id {grant_id}.", code="admin_grant_not_found")


# A path variable of the API → the check of the object it names.
Guard = Callable[[Session, Scope, Any], None]
GUARDS: dict[str, Guard] = {
    "person_id": require_person,
    "unit_id": require_unit,
    "assignment_id": require_assignment,
    "seat_id": require_seat,
    "job_id": require_job,
    "change_set_id": require_change_set,
    "delegation_id": require_delegation,
    "grant_id": require_grant,
}


def jobs(query: Select, session: Session, scope: Scope) -> Select:
    """Jobs about people in scope, or seats of units in scope."""
    if scope.units is None:
        return query
    seats = units(select(Seat.id), session, scope, Seat.unit_id)
    in_scope = people_in(session, scope)
    return query.where(
        or_(ProvisioningJob.subject_id.in_(in_scope), ProvisioningJob.subject_id.in_(seats))
    )


def audit_events(query: Select, session: Session, scope: Scope) -> Select:
    """Events about objects in scope: its people, units, their posts and seats, grants
    over its units, its change-set drafts."""
    if scope.units is None:
        return query
    ids: set[str] = {str(u) for u in scope.units}
    ids |= {str(p) for p in session.scalars(people_in(session, scope))}
    ids |= {
        str(a)
        for a in session.scalars(units(select(Assignment.id), session, scope, Assignment.unit_id))
    }
    ids |= {str(s) for s in session.scalars(units(select(Seat.id), session, scope, Seat.unit_id))}
    owned: list[tuple[Any, Any]] = [  # grants over its units, its own change-set drafts
        (AdminGrant.id, AdminGrant.unit_id),
        (ChangeSet.id, ChangeSet.owner_unit_id),
    ]
    for key, unit in owned:
        ids |= {str(i) for i in session.scalars(units(select(key), session, scope, unit))}
    if not ids:
        return query.where(false())
    return query.where(among(session, AuditEvent.object_id, sorted(ids)))


def change_sets(query: Select, session: Session, scope: Scope) -> Select:
    return units(query, session, scope, ChangeSet.owner_unit_id)
