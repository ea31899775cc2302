"""Seat mailboxes in the engine: which seats a change touches, and what HR says of each.

A seat is converged as a person is, with the same outbox, leases and backoff: its
directory entry on the directory target, then its mailbox and who may read it on the
mail target (targets/seats.py). Seat jobs are queued on the directory target by its
worker, in the transaction that records a person's converge, for every seat post that
person holds or held: a handover (one post ending, another
starting, on a date or by an HR write) always converges both people first, so the seat
follows with the new holders. The daily sweep queues every seat too (a vacant seat's
unit may have been renamed or closed).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idhub.changes.outbox import enqueue
from idhub.identity.snapshots import UnitDirectory
from idhub.models import (
    Assignment,
    OrgUnit,
    Person,
    PersonStatus,
    Position,
    ReservedIdentifier,
    Seat,
)
from provisioning.naming import allocate_identifier
from provisioning.rules import Rules
from provisioning.seats import SeatSnapshot, seat_key, seat_uid_base

log = logging.getLogger(__name__)
SEAT_TARGET = "ldap"  # a seat's entry first: the directory target is its only writer
SEAT_MAIL_TARGET = "mail"  # then its mailbox and ACL, queued by the entry's converge
HOLDERS_CHANGED = "a seat post was taken up or left"
_CHUNK = 900


def queue_seats(
    session: Session,
    rules: Rules,
    person_ids: Sequence[uuid.UUID],
    usernames: Iterable[str] = (),
    *,
    urgent: bool = False,
) -> int:
    """Queue a seat job for every seat these people hold or held (a new seat is
    recorded, with its uid, first), and for every seat whose last converge let one of
    them in (`usernames`: theirs). Returns how many seats were queued."""
    posts = seat_posts(session, rules, person_ids)
    seat_ids = set(ensure_seats(session, rules, posts)) if posts else set()
    seat_ids |= seats_granted_to(session, usernames)
    if not seat_ids:
        return 0
    enqueue(session, sorted(seat_ids), HOLDERS_CHANGED, targets=(SEAT_TARGET,), urgent=urgent)
    return len(seat_ids)


def seats_granted_to(session: Session, usernames: Iterable[str]) -> set[uuid.UUID]:
    """Seats whose last converge let one of these people in: a post moved to another
    unit in place (a merge does that) leaves no assignment in the old seat's unit, yet
    the old seat must take its reader away. Seats are few (hundreds per province): their
    holders are compared here rather than through each database's JSON operators."""
    names = {n for n in usernames if n}
    if not names:
        return set()
    return {
        seat_id
        for seat_id, holders in session.execute(select(Seat.id, Seat.holders))
        if holders and names.intersection(holders)
    }


def seat_posts(
    session: Session, rules: Rules, person_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, str]]:
    """The (unit, position code) seat posts these people hold or held."""
    codes = list(rules.seats.positions)
    posts: set[tuple[uuid.UUID, str]] = set()
    if not codes or not person_ids:
        return posts
    ids = list(person_ids)
    for start in range(0, len(ids), _CHUNK):
        posts.update(
            (unit_id, code)
            for unit_id, code in session.execute(
                select(Assignment.unit_id, Position.code)
                .join(Position, Position.id == Assignment.position_id)
                .where(Assignment.person_id.in_(ids[start : start + _CHUNK]))
                .where(Position.code.in_(codes))
                .distinct()
            )
        )
    return posts


def ensure_seats(
    session: Session, rules: Rules, posts: Iterable[tuple[uuid.UUID, str]]
) -> list[uuid.UUID]:
    """The seat ids of these (unit, position code) posts, recording the missing seats
    with a uid allocated once: prefix.unit, numbered when taken by a seat or a person."""
    wanted = {uuid.UUID(seat_key(str(unit_id), code)): (unit_id, code) for unit_id, code in posts}
    known = set(session.scalars(select(Seat.id).where(Seat.id.in_(list(wanted)))))
    missing = [(sid, post) for sid, post in wanted.items() if sid not in known]
    if missing:
        names = {
            unit_id: short or name
            for unit_id, short, name in session.execute(
                select(OrgUnit.id, OrgUnit.short_name, OrgUnit.name).where(
                    OrgUnit.id.in_({unit for _, (unit, _) in missing})
                )
            )
        }
        issued: set[str] = set()

        def taken(candidate: str) -> bool:
            return (
                candidate in issued
                or session.scalar(select(Seat.id).where(Seat.uid == candidate)) is not None
                or session.get(ReservedIdentifier, candidate) is not None
            )

        try:
            # A savepoint: another worker recording the same seat at the same moment
            # must not undo the converge record this runs in.
            with session.begin_nested():
                for sid, (unit_id, code) in sorted(missing, key=lambda m: str(m[0])):
                    base = seat_uid_base(rules.seats.positions[code], names.get(unit_id, "donvi"))
                    uid = allocate_identifier(base, taken, reserved_words=())
                    issued.add(uid)
                    session.add(
                        Seat(id=sid, unit_id=unit_id, position_code=code, uid=uid, holders=[])
                    )
        except IntegrityError as exc:
            log.warning("seats recorded concurrently; the daily sweep queues them: %s", exc.orig)
            return sorted(known)
    return sorted(wanted)


@dataclass(frozen=True)
class SeatFacts:
    """A seat as HR sees it today, and who the hub may ever have let in (its range)."""

    row: Seat
    snapshot: SeatSnapshot
    ever_held: frozenset[str]


def seat_facts(session: Session, seat_ids: Sequence[uuid.UUID], today: dt.date) -> list[SeatFacts]:
    """Snapshots of the seats among these ids (ids that are not seats are skipped)."""
    rows = list(session.scalars(select(Seat).where(Seat.id.in_(list(seat_ids)))))
    if not rows:
        return []
    units = UnitDirectory.load(session)
    positions = {code: name for code, name in session.execute(select(Position.code, Position.name))}
    holders: dict[tuple[uuid.UUID, str], set[str]] = defaultdict(set)
    ever: dict[tuple[uuid.UUID, str], set[str]] = defaultdict(set)
    found = session.execute(
        select(
            Assignment.unit_id,
            Position.code,
            Person.username,
            Person.status,
            Assignment.start_date,
            Assignment.end_date,
        )
        .join(Position, Position.id == Assignment.position_id)
        .join(Person, Person.id == Assignment.person_id)
        .where(Assignment.unit_id.in_({r.unit_id for r in rows}))
        .where(Position.code.in_({r.position_code for r in rows}))
    )
    for unit_id, code, username, status, start, end in found:
        if not username:
            continue
        ever[(unit_id, code)].add(username)
        if start <= today and (end is None or end >= today) and status == PersonStatus.ACTIVE:
            holders[(unit_id, code)].add(username)
    facts = []
    for row in rows:
        post = (row.unit_id, row.position_code)
        snapshot = SeatSnapshot(
            id=str(row.id),
            uid=row.uid,
            unit=units.get(row.unit_id),
            position_code=row.position_code,
            position_name=positions.get(row.position_code, row.position_code),
            holders=tuple(sorted(holders[post])),
            today=today,
        )
        facts.append(SeatFacts(row, snapshot, frozenset(ever[post])))
    return facts


def all_seat_ids(session: Session) -> list[uuid.UUID]:
    return list(session.scalars(select(Seat.id)))
