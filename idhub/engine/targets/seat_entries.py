"""The directory target's part of a seat mailbox (targets/seats.py, step 1): plan the
entries of the seats among a round's subjects, and record them — the seat row's DN and
what the converge did to the entry (for the mail target to report), its failure, and
the mail job that makes its mailbox next (as urgent as the entry's job). Seats are rare:
a round of people only pays for this when some of its subjects are not people."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import AuditLog
from idhub.changes.outbox import enqueue
from idhub.db import among
from idhub.engine.target import Recording
from idhub.engine.targets.seat_facts import SEAT_MAIL_TARGET, seat_facts
from idhub.engine.targets.seats import SeatEntryPlan, merge_kinds, plan_seat_entries
from idhub.models import LinkState, Seat, Urgency
from idhub.services import Directory
from provisioning.rules import Rules

__all__ = ["plan_entries", "record_entries"]


def plan_entries(
    session: Session,
    directory: Directory,
    rules: Rules,
    subjects: Sequence[uuid.UUID],
    *,
    base_dn: str,
    seats_ou_exists: bool,
) -> list[SeatEntryPlan]:
    """The entries of the seats among `subjects` (the others are skipped)."""
    facts = seat_facts(session, subjects, dt.date.today())
    if not facts:
        return []
    for f in facts:  # kept as read: the plan outlives this (read-only) session
        session.expunge(f.row)
    return plan_seat_entries(
        directory, rules, facts, base_dn=base_dn, seats_ou_exists=seats_ou_exists
    )


def record_entries(
    rec: Recording, plans: list[SeatEntryPlan], audit: AuditLog, *, then: Sequence[str]
) -> None:
    """Converged entries: their jobs done, the row's DN, and — when the mail target
    follows the directory — what the converge did added to the row and the seat queued
    there. Failed ones: retried or parked, as a seat row records it."""
    session = rec.session
    owned = rec.queue.load(session, [j.id for p in plans for j in rec.jobs_of(p.seat_id)])
    mailboxes = SEAT_MAIL_TARGET in then
    # Locked: the mail target clears what it reported from these rows meanwhile.
    rows = {
        row.id: row
        for row in session.scalars(
            select(Seat)
            .where(among(session, Seat.id, [p.seat_id for p in plans]))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    queued: dict[tuple[str, bool], list[uuid.UUID]] = {}  # the mail jobs, by reason, urgency
    for p in plans:
        jobs = [owned[j.id] for j in rec.jobs_of(p.seat_id) if j.id in owned]
        row = rows.get(p.seat_id)
        reasons = sorted({j.reason for j in jobs})
        error = p.error
        if row is None or error is None:
            rec.done.extend(j.id for j in jobs)
            if row is not None:
                row.dn = p.dn
                if mailboxes:
                    row.entry_ops = merge_kinds(row.entry_ops, [op.kind for op in p.entry_ops])
                    row.entry_version += 1
                    urgent = any(j.urgency > Urgency.BULK for j in jobs)
                    queued.setdefault(("; ".join(reasons), urgent), []).append(p.seat_id)
            continue
        message, parked = rec.queue.requeue_failed(session, jobs, error)
        row.state = (LinkState.FAILED if parked else LinkState.PENDING).value
        row.last_error = message[:2000]
        if parked:
            audit.record(
                session,
                actor=rec.actor,
                action="seat.failed",
                object_type="seat",
                object_id=p.seat_id,
                after={**p.summary(), "error": row.last_error},
                reason="; ".join(reasons) or None,
            )
    for (reason, urgent), seat_ids in sorted(queued.items()):  # the causes, as for any job
        enqueue(session, seat_ids, reason, targets=(SEAT_MAIL_TARGET,), urgent=urgent)
