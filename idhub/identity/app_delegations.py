"""Ủy quyền quyền ứng dụng: a person hands their roles in one app to a deputy for a period.

The person themselves (on /account), or an HR officer or admin whose scope holds the
delegator, creates it: app, roles (all or chosen ones), a unit (or all), dates and a
reason. The deputy's claims are computed with the date (idhub/oidc/claims.py), so the
roles switch on and off by themselves; the daily sweep (idhub/scheduler/sweep.py) marks
the start and the end, audits them and queues the deputy on the app-events target, so an
app following events hears of it. Every step is audited: `app_delegation.create`,
`.start`, `.end`, `.revoke`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.changes.context import HrContext, snapshot
from idhub.changes.outbox import EVENTS_TARGET, enqueue
from idhub.errors import Invalid, NotFound
from idhub.models import AppDelegation, Person, utcnow
from provisioning.app_roles import DelegationSpec

MAX_DAYS = 366


def spec(row: AppDelegation) -> DelegationSpec:
    return DelegationSpec(
        row.app, row.start_date, row.end_date, tuple(row.roles or ()), row.unit_code
    )


def received_on(session: Session, deputy_id: uuid.UUID, day: dt.date) -> list[AppDelegation]:
    """The delegations the deputy holds on `day` (not revoked)."""
    return list(
        session.scalars(
            select(AppDelegation)
            .where(
                AppDelegation.deputy_id == deputy_id,
                AppDelegation.revoked_at.is_(None),
                AppDelegation.start_date <= day,
                AppDelegation.end_date >= day,
            )
            .order_by(AppDelegation.start_date, AppDelegation.id)
        )
    )


def of_person(session: Session, person_id: uuid.UUID, today: dt.date) -> list[AppDelegation]:
    """Delegations given or received that are not over (running, future), not revoked."""
    return list(
        session.scalars(
            select(AppDelegation)
            .where(
                or_(AppDelegation.delegator_id == person_id, AppDelegation.deputy_id == person_id),
                AppDelegation.revoked_at.is_(None),
                AppDelegation.end_date >= today,
            )
            .order_by(AppDelegation.start_date, AppDelegation.id)
        )
    )


def _queue(ctx: HrContext, row: AppDelegation, why: str, urgent: bool = False) -> None:
    enqueue(
        ctx.session,
        [row.deputy_id],
        why,
        request_id=ctx.actor.request_id,
        targets=(EVENTS_TARGET,),
        urgent=urgent,
    )


def create(
    ctx: HrContext,
    delegator_id: uuid.UUID,
    data: dict[str, Any],
    *,
    known_apps: Iterable[str],
    today: dt.date | None = None,
) -> AppDelegation:
    """A new delegation; `data`: deputy (a username or id), app, roles, unit_code,
    start_date, end_date, reason. Invalid lists every problem; nothing is written."""
    today = today or dt.date.today()
    session = ctx.session
    delegator = session.get(Person, delegator_id)
    if delegator is None or not visible.has_person(session, ctx.scope, delegator_id):
        raise NotFound(f"No person with id {delegator_id}.")
    problems: dict[str, list[str]] = {}
    deputy = _find_deputy(session, data.get("deputy"))
    if deputy is not None and not visible.has_person(session, ctx.scope, deputy.id):
        deputy = None  # outside one's scope: as if it did not exist
    if deputy is None:
        problems["deputy"] = [f"No person {data.get('deputy')!r}."]
    elif deputy.id == delegator.id:
        problems["deputy"] = ["A person cannot be their own deputy."]
    app = str(data.get("app") or "")
    if app not in set(known_apps):
        problems["app"] = [f"Unknown app {app!r}."]
    roles = sorted({str(r) for r in data.get("roles") or ()})
    bad = [r for r in roles if r.partition(":")[0] != app]
    if bad:
        problems["roles"] = [f"Not roles of app {app!r}: {', '.join(bad)}."]
    start, end = data.get("start_date"), data.get("end_date")
    if not isinstance(start, dt.date):
        problems["start_date"] = ["A date is required."]
    if not isinstance(end, dt.date):
        problems["end_date"] = ["A date is required."]
    elif isinstance(start, dt.date):
        if end < start:
            problems["end_date"] = ["Must not be before start_date."]
        elif end < today:
            problems["end_date"] = ["Must not be in the past."]
        elif (end - start).days >= MAX_DAYS:
            problems["end_date"] = [f"A delegation lasts at most {MAX_DAYS} days."]
    reason = str(data.get("reason") or "").strip()
    if not reason:
        problems["reason"] = ["A reason is required."]
    if problems:
        raise Invalid("The delegation is not valid.", details=problems)
    assert deputy is not None and isinstance(start, dt.date) and isinstance(end, dt.date)
    row = AppDelegation(
        id=uuid.uuid4(),
        delegator_id=delegator.id,
        deputy_id=deputy.id,
        app=app,
        roles=roles,
        unit_code=(str(data["unit_code"]).strip() or None) if data.get("unit_code") else None,
        start_date=start,
        end_date=end,
        reason=reason[:1000],
        created_by=_person_actor(ctx),
        version=1,
    )
    if start <= today:
        row.started_at = utcnow()  # running at once: no separate start to announce
    session.add(row)
    ctx.record_create(row, "app_delegation.create")
    if start <= today:
        _queue(ctx, row, f"app delegation to {deputy.username} starts")
    return row


def _person_actor(ctx: HrContext) -> uuid.UUID | None:
    if ctx.actor.type != "person" or not ctx.actor.id:
        return None
    try:
        return uuid.UUID(ctx.actor.id)
    except ValueError:
        return None


def _find_deputy(session: Session, value: Any) -> Person | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return session.get(Person, uuid.UUID(text))
    except ValueError:
        return session.scalar(select(Person).where(Person.username == text.lower()))


def revoke(ctx: HrContext, delegation_id: uuid.UUID, *, person_id: uuid.UUID | None) -> None:
    """Revoke at once. `person_id` set: only the delegator or the deputy may (self
    service); None: an officer whose scope holds the delegator."""
    row = ctx.session.get(AppDelegation, delegation_id, with_for_update=True)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"No app delegation {delegation_id}.")
    if person_id is not None and person_id not in (row.delegator_id, row.deputy_id):
        raise NotFound(f"No app delegation {delegation_id}.")
    if person_id is None and not visible.has_person(ctx.session, ctx.scope, row.delegator_id):
        raise NotFound(f"No app delegation {delegation_id}.")
    before = snapshot(row)
    row.revoked_at = utcnow()
    row.version += 1
    ctx.record_change(row, before, "app_delegation.revoke")
    _queue(ctx, row, "app delegation revoked", urgent=True)


def sweep(ctx: HrContext, today: dt.date) -> set[uuid.UUID]:
    """Mark delegations that started (by `today`) or ended (before `today`), audit each,
    queue their deputies on the app-events target; returns the deputies."""
    session = ctx.session
    deputies: set[uuid.UUID] = set()
    starting = session.scalars(
        select(AppDelegation).where(
            AppDelegation.started_at.is_(None),
            AppDelegation.revoked_at.is_(None),
            AppDelegation.start_date <= today,
            AppDelegation.end_date >= today,
        )
    )
    for row in starting:
        before = snapshot(row)
        row.started_at = utcnow()
        ctx.record_change(row, before, "app_delegation.start")
        deputies.add(row.deputy_id)
    ending = session.scalars(
        select(AppDelegation).where(
            AppDelegation.ended_at.is_(None),
            AppDelegation.revoked_at.is_(None),
            AppDelegation.end_date < today,
        )
    )
    for row in ending:
        before = snapshot(row)
        row.ended_at = utcnow()
        ctx.record_change(row, before, "app_delegation.end")
        deputies.add(row.deputy_id)
    if deputies:
        why = f"daily sweep {today.isoformat()}: an app delegation starts or ended"
        enqueue(session, deputies, why, targets=(EVENTS_TARGET,))
    return deputies
