"""Ủy quyền hộp thư: a person lets a deputy into their mailbox for a period.

A delegation is HR-side data (who, whom, from, to, why), audited like every HR write.
The mail target turns the delegations running today into Dovecot ACLs on the owner's
mailbox and takes them away after the end date by itself: the change queues a mail
job for the owner now, and the daily sweep queues one on the start and the day after
the end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.changes.context import HrContext, snapshot
from idhub.changes.outbox import enqueue
from idhub.errors import Invalid, NotFound
from idhub.identity.people import get_person
from idhub.models import MailDelegation, Person

MAIL_TARGET = "mail"
MAX_DAYS = 366


def list_delegations(session: Session, owner_id: uuid.UUID) -> list[MailDelegation]:
    get_person(session, owner_id)
    return list(
        session.scalars(
            select(MailDelegation)
            .where(MailDelegation.owner_id == owner_id)
            .order_by(MailDelegation.start_date, MailDelegation.id)
        )
    )


def create_delegation(ctx: HrContext, owner_id: uuid.UUID, data: dict[str, Any]) -> MailDelegation:
    owner = get_person(ctx.session, owner_id)
    problems: dict[str, list[str]] = {}
    deputy = ctx.session.get(Person, data["deputy_id"])
    if deputy is not None and not visible.has_person(ctx.session, ctx.scope, deputy.id):
        deputy = None  # outside one's scope: as if it did not exist
    if deputy is None:
        problems["deputy_id"] = [f"No person with id {data['deputy_id']}."]
    elif deputy.id == owner.id:
        problems["deputy_id"] = ["A person cannot be their own deputy."]
    start: dt.date = data["start_date"]
    end: dt.date = data["end_date"]
    if end < start:
        problems["end_date"] = ["Must not be before start_date."]
    elif (end - start).days >= MAX_DAYS:
        problems["end_date"] = [f"A delegation lasts at most {MAX_DAYS} days."]
    if problems:
        raise Invalid("The delegation is not valid.", details=problems)
    assert deputy is not None
    delegation = MailDelegation(
        id=uuid.uuid4(),
        owner_id=owner.id,
        deputy_id=deputy.id,
        start_date=start,
        end_date=end,
        reason=data.get("reason"),
        version=1,
    )
    ctx.session.add(delegation)
    ctx.record_create(delegation, "mail_delegation.create")
    why = f"mail delegation to {deputy.username} {start.isoformat()}..{end.isoformat()}"
    enqueue(ctx.session, [owner.id], why, request_id=ctx.actor.request_id, targets=(MAIL_TARGET,))
    return delegation


def end_delegation(
    ctx: HrContext, owner_id: uuid.UUID, delegation_id: uuid.UUID, end_date: dt.date
) -> MailDelegation:
    """End a delegation early (or move its end): access goes the day after `end_date`,
    at once when that day is today or past. Audited; queues the owner's mail converge."""
    get_person(ctx.session, owner_id)
    delegation = ctx.session.get(MailDelegation, delegation_id, with_for_update=True)
    if delegation is None or delegation.owner_id != owner_id:
        raise NotFound(f"No mail delegation {delegation_id} of this person.")
    if end_date < delegation.start_date - dt.timedelta(days=1):
        raise Invalid(
            "The delegation is not valid.",
            details={"end_date": ["Must be at most one day before start_date (never started)."]},
        )
    if end_date > delegation.end_date:
        raise Invalid(
            "The delegation is not valid.",
            details={"end_date": ["Can only shorten a delegation; create a new one to extend."]},
        )
    before = snapshot(delegation)
    delegation.end_date = end_date
    delegation.version += 1
    if ctx.record_change(delegation, before, "mail_delegation.end"):
        enqueue(
            ctx.session,
            [owner_id],
            f"mail delegation ends on {end_date.isoformat()}",
            request_id=ctx.actor.request_id,
            targets=(MAIL_TARGET,),
            urgent=end_date < dt.date.today(),  # the deputy's access goes now: urgent
        )
    return delegation
