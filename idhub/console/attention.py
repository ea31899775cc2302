"""The home page's "needs attention", narrowed to the viewer's scope: failed (parked) and
guard-held jobs with their errors, drift the last reconcile found (its repair jobs not
yet done), posts starting or ending in the next 7 days, delegations and administrative
grants ending in the next 7 days."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.admin_scope.scope import Scope
from idhub.engine.drift import last
from idhub.models import (
    AdminGrant,
    Assignment,
    JobState,
    MailDelegation,
    OrgUnit,
    Person,
    Position,
    ProvisioningJob,
)

SHOWN = 20
SOON_DAYS = 7


def _jobs(session: Session, scope: Scope, *where: Any) -> SimpleNamespace:
    query = visible.jobs(select(ProvisioningJob).where(*where), session, scope)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(ProvisioningJob.updated_at.desc()).limit(SHOWN)))
    names = (
        dict(
            session.execute(
                select(Person.id, Person.username).where(
                    Person.id.in_({j.subject_id for j in rows})
                )
            ).all()
        )
        if rows
        else {}
    )
    return SimpleNamespace(rows=rows, total=total, names=names)


def _drift(session: Session, scope: Scope) -> SimpleNamespace | None:
    """The last reconcile's drifted people in scope (None: no reconcile yet)."""
    found = last(session)
    if found is None:
        return None
    rows = found["drifted"]
    if scope.units is not None:
        mine = {str(p) for p in session.scalars(visible.people_in(session, scope))}
        rows = [r for r in rows if r["person_id"] in mine]
    shown = rows[:SHOWN]
    ids = [uuid.UUID(r["person_id"]) for r in shown]
    people = (
        {p.id: p.full_name for p in session.scalars(select(Person).where(Person.id.in_(ids)))}
        if ids
        else {}
    )
    return SimpleNamespace(
        at=found["at"],
        total=len(rows),
        rows=[SimpleNamespace(**r, id=uuid.UUID(r["person_id"])) for r in shown],
        names=people,
    )


def _posts(session: Session, scope: Scope, column: Any, today: dt.date) -> list[Any]:
    soon = today + dt.timedelta(days=SOON_DAYS)
    query = (
        select(
            Person.id,
            Person.family_name,
            Person.middle_name,
            Person.given_name,
            OrgUnit.name.label("unit_name"),
            Position.name.label("position"),
            column.label("day"),
        )
        .join(Assignment, Assignment.person_id == Person.id)
        .join(OrgUnit, OrgUnit.id == Assignment.unit_id)
        .join(Position, Position.id == Assignment.position_id)
        .where(and_(column >= today, column <= soon))
        .order_by(column, Person.search_name)
        .limit(SHOWN)
    )
    return list(session.execute(visible.units(query, session, scope, Assignment.unit_id)))


def attention(session: Session, scope: Scope) -> SimpleNamespace:
    today = dt.date.today()
    soon = today + dt.timedelta(days=SOON_DAYS)
    delegations = select(MailDelegation).where(
        MailDelegation.end_date >= today, MailDelegation.end_date <= soon
    )
    delegations = visible.people(delegations, session, scope, MailDelegation.owner_id)
    delegation_rows = list(session.scalars(delegations.order_by(MailDelegation.end_date)))
    grants = select(AdminGrant).where(
        AdminGrant.revoked_at.is_(None), AdminGrant.valid_to >= today, AdminGrant.valid_to <= soon
    )
    grants = visible.units(grants, session, scope, AdminGrant.unit_id)
    grant_rows = list(session.scalars(grants.order_by(AdminGrant.valid_to).limit(SHOWN)))
    people = {d.owner_id for d in delegation_rows} | {d.deputy_id for d in delegation_rows}
    people |= {g.person_id for g in grant_rows if g.person_id}
    names = (
        {p.id: p.full_name for p in session.scalars(select(Person).where(Person.id.in_(people)))}
        if people
        else {}
    )
    return SimpleNamespace(
        failed=_jobs(session, scope, ProvisioningJob.state == JobState.FAILED),
        held=_jobs(session, scope, ProvisioningJob.state == JobState.HELD),
        drift=_drift(session, scope),
        starting=_posts(session, scope, Assignment.start_date, today),
        leaving=_posts(session, scope, Assignment.end_date, today),
        delegations=delegation_rows[:SHOWN],
        grants=grant_rows,
        names=names,
    )
