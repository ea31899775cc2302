"""The daily sweep: dates that pass change accounts too, with no HR write to announce them.

A post that starts today (or within the pre-hire window), a post that ended yesterday,
a retention period that ran out today, an old mail address whose alias period ended:
each of these people gets a converge job (urgent for those a post's end leaves without
access). A mailbox delegation that starts today or ended yesterday queues its owner on
the mail target (urgent when it ended), and every seat mailbox is queued
there too (its unit may have been renamed or closed while it was vacant). The
sweep covers every day since the last one, so a hub that was down over a weekend
catches up; running it twice on a day is harmless (jobs coalesce).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idhub.changes.outbox import enqueue
from idhub.engine.targets.seat_facts import SEAT_TARGET, all_seat_ids
from idhub.identity.access import without_access
from idhub.models import Assignment, HubState, MailAddress, MailDelegation
from provisioning.rules import Rules

LAST_SWEEP = "last_sweep_date"


def leavers(session: Session, after: dt.date, through: dt.date) -> set[uuid.UUID]:
    """People with a post that ended the day before a day in (after, through]."""
    one = dt.timedelta(days=1)
    end = Assignment.end_date
    query = select(Assignment.person_id).where((end > after - one) & (end <= through - one))
    return set(session.scalars(query.distinct()))


def joiners_and_retention(
    session: Session, rules: Rules, after: dt.date, through: dt.date
) -> set[uuid.UUID]:
    """People whose post starts (or enters the pre-hire window), whose retention ended,
    or whose old address stops, on a day in (after, through]."""
    prehire = dt.timedelta(days=rules.joiner.prehire_days)
    retention = dt.timedelta(days=rules.leaver.retention_days)
    one = dt.timedelta(days=1)

    def between(column: Any, shift: dt.timedelta) -> Any:
        # column + shift in (after, through]  ⇔  column in (after - shift, through - shift]
        return (column > after - shift) & (column <= through - shift)

    query = select(Assignment.person_id).where(
        or_(
            between(Assignment.start_date, -prehire),  # becomes pre-provisioned
            between(Assignment.start_date, dt.timedelta(0)),  # starts
            between(Assignment.end_date, one + retention),  # retention is over
        )
    )
    people = set(session.scalars(query.distinct()))
    return people | _old_addresses_ending(session, rules, after, through)


def _old_addresses_ending(
    session: Session, rules: Rules, after: dt.date, through: dt.date
) -> set[uuid.UUID]:
    """People with an old mail address whose alias goes on a day in (after, through]
    (the day after its period: an alias is kept through superseded_on + days)."""
    keep = dt.timedelta(days=rules.mail.old_address_days + 1)
    column = MailAddress.superseded_on
    ending = (column > after - keep) & (column <= through - keep)
    floor = rules.mail.old_addresses_until
    if floor is not None and after < floor + dt.timedelta(days=1) <= through:
        ending = ending | column.is_not(None)  # the fixed date passed: every old address
    return set(session.scalars(select(MailAddress.person_id).where(ending).distinct()))


def delegation_starts(session: Session, after: dt.date, through: dt.date) -> set[uuid.UUID]:
    """Owners whose mailbox delegation starts on a day in (after, through]."""
    start = MailDelegation.start_date
    query = select(MailDelegation.owner_id).where((start > after) & (start <= through))
    return set(session.scalars(query.distinct()))


def delegation_ends(session: Session, after: dt.date, through: dt.date) -> set[uuid.UUID]:
    """Owners whose mailbox delegation ended the day before a day in (after, through]."""
    one = dt.timedelta(days=1)
    end = MailDelegation.end_date
    query = select(MailDelegation.owner_id).where((end > after - one) & (end <= through - one))
    return set(session.scalars(query.distinct()))


def sweep(session: Session, rules: Rules, today: dt.date | None = None) -> int:
    """Queue converges for the days since the last sweep; returns how many people."""
    today = today or dt.date.today()
    state = session.get(HubState, LAST_SWEEP, with_for_update=True)
    last = dt.date.fromisoformat(state.value) if state else today - dt.timedelta(days=1)
    if last >= today:
        return 0
    # Posts that ended leave their people without access (urgent) unless another is held.
    ended = leavers(session, last, today)
    cut = without_access(session, sorted(ended), today) if ended else set()
    people = joiners_and_retention(session, rules, last, today) | ended
    why = f"daily sweep {today.isoformat()}: a date in HR was reached"
    enqueue(session, people - cut, why)
    enqueue(session, cut, why, urgent=True)
    # A delegation that ended takes the deputy's access away (urgent); one that starts not.
    starts, ends = delegation_starts(session, last, today), delegation_ends(session, last, today)
    why = f"daily sweep {today.isoformat()}: a mail delegation starts or ended"
    enqueue(session, starts - ends, why, targets=("mail",))
    enqueue(session, ends, why, targets=("mail",), urgent=True)
    owners = starts | ends
    seats = all_seat_ids(session)
    enqueue(
        session, seats, f"daily sweep {today.isoformat()}: seat mailboxes follow their units",
        targets=(SEAT_TARGET,),
    )  # fmt: skip
    if state is None:
        session.add(HubState(key=LAST_SWEEP, value=today.isoformat()))
    else:
        state.value = today.isoformat()
    return len(people | owners)
