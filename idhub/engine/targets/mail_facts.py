"""Mail facts the pure policy needs and HR does not hold: address history and successors.

* `with_mail_facts` adds to each snapshot the addresses the hub gave the person
  (table mail_address) and, for a leaver, the address of whoever holds the leaver's
  last post today (same unit, same position; a primary holder first, then the one who
  started last). Policy turns them into aliases and a forward.
* `record_addresses` runs after a converge was applied: the primary address written
  is recorded, the one it replaced is marked superseded today, so the alias period
  counts from the day of the change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from idhub.db import table_of
from idhub.engine.plans import PersonPlan
from idhub.models import Assignment, AssignmentKind, MailAddress, Person, Position, utcnow
from provisioning.model import AccountState, PastAddress, PersonSnapshot, PostKind

log = logging.getLogger(__name__)


def with_mail_facts(
    session: Session, snapshots: dict[uuid.UUID, PersonSnapshot], today: dt.date
) -> dict[uuid.UUID, PersonSnapshot]:
    """The snapshots with `addresses` and `successor_address` filled in (2 + leavers queries)."""
    if not snapshots:
        return snapshots
    history = _addresses(session, list(snapshots))
    out: dict[uuid.UUID, PersonSnapshot] = {}
    for person_id, snap in snapshots.items():
        successor = _successor(session, person_id, snap, today) if _is_leaver(snap) else None
        out[person_id] = dataclasses.replace(
            snap, addresses=history.get(person_id, ()), successor_address=successor
        )
    return out


def _addresses(session: Session, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    found: dict[uuid.UUID, list[PastAddress]] = defaultdict(list)
    rows = session.execute(  # plain rows: a batch reads one or more per person
        select(MailAddress.person_id, MailAddress.address, MailAddress.superseded_on)
        .where(MailAddress.person_id.in_(person_ids))
        .order_by(MailAddress.first_used_on, MailAddress.address)
    )
    for person_id, address, superseded_on in rows:
        found[person_id].append(PastAddress(address, superseded_on))
    return {pid: tuple(addrs) for pid, addrs in found.items()}


def _is_leaver(snap: PersonSnapshot) -> bool:
    today = snap.today
    return (
        bool(snap.posts)
        and not any(p.active_on(today) for p in snap.posts)
        and any(p.end is not None and p.end < today for p in snap.posts)
    )


def _successor(
    session: Session, person_id: uuid.UUID, snap: PersonSnapshot, today: dt.date
) -> str | None:
    ended = [p for p in snap.posts if p.end is not None and p.end < today]
    last = max(ended, key=lambda p: (p.end, p.kind is PostKind.PRIMARY, p.start))
    row = session.execute(
        select(Person.id, Person.username)
        .join(Assignment, Assignment.person_id == Person.id)
        .join(Position, Position.id == Assignment.position_id)
        .where(
            Assignment.unit_id == uuid.UUID(last.unit.id),
            Position.code == last.position_code,
            Assignment.person_id != person_id,
            Assignment.start_date <= today,
            (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
        )
        .order_by(
            (Assignment.kind != AssignmentKind.PRIMARY), Assignment.start_date.desc(), Person.id
        )
        .limit(1)
    ).first()
    if row is None or not row.username:
        return None
    current = session.scalar(
        select(MailAddress.address).where(
            MailAddress.person_id == row.id, MailAddress.superseded_on.is_(None)
        )
    )
    if current:
        return current
    domain = last.unit.mail_domain
    return f"{row.username}@{domain.strip().lower()}" if domain else None


def record_addresses(session: Session, plans: Iterable[PersonPlan], today: dt.date) -> None:
    """Record the primary address each applied plan wrote (see the module docstring)."""
    wanted: dict[uuid.UUID, str | None] = {}
    for p in plans:
        if p.desired.state is AccountState.ABSENT:
            continue
        mail = p.desired.attributes.get("mail", ())
        wanted[p.person_id] = mail[0].lower() if mail else None
    if not wanted:
        return
    # Plain rows and statements, not ORM objects: a batch of joiners adds hundreds.
    by_person: dict[uuid.UUID, dict[str, dt.date | None]] = defaultdict(dict)
    for person_id, address, superseded_on in session.execute(
        select(MailAddress.person_id, MailAddress.address, MailAddress.superseded_on).where(
            MailAddress.person_id.in_(wanted)
        )
    ):
        by_person[person_id][address] = superseded_on
    known = {a for mine in by_person.values() for a in mine}
    new = {a for a in wanted.values() if a} - known
    taken = dict(
        session.execute(
            select(MailAddress.address, MailAddress.person_id).where(MailAddress.address.in_(new))
        ).all()
    )
    superseded: list[str] = []
    revived: list[str] = []
    added: list[dict] = []
    for person_id, primary in wanted.items():
        mine = by_person[person_id]
        for address, superseded_on in mine.items():
            if address != primary and superseded_on is None:
                superseded.append(address)
            elif address == primary and superseded_on is not None:
                revived.append(address)  # primary again (moved back)
        if primary and primary not in mine:
            if primary in taken:  # cannot happen with never-reused uids; never steal it
                log.warning("mail address %s already belongs to person %s", primary, taken[primary])
                continue
            added.append(
                {
                    "address": primary,
                    "person_id": person_id,
                    "first_used_on": today,
                    "superseded_on": None,
                    "updated_at": utcnow(),
                }
            )
            taken[primary] = person_id
    for addresses, value in ((superseded, today), (revived, None)):
        if addresses:
            session.execute(
                update(MailAddress)
                .where(MailAddress.address.in_(addresses))
                .values(superseded_on=value, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    if added:
        session.execute(insert(table_of(MailAddress)), added)
