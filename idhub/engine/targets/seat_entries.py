"""The directory target's part of a seat mailbox (targets/seats.py, step 1): plan the
entries of the seats among a round's subjects, and record them — the seat row's DN, its
failure, and the mail job that makes its mailbox next. Seats are rare: a round of people
only pays for this when some of its subjects are not people."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import OpKind
from idhub.changes.chain import AuditLog
from idhub.changes.outbox import enqueue
from idhub.db import among
from idhub.engine.target import Recording
from idhub.engine.targets.seat_facts import SEAT_MAIL_TARGET, seat_facts
from idhub.engine.targets.seats import (
    SeatEntryPlan,
    chain_reason,
    plan_seat_entries,
    read_chain_reason,
)
from idhub.models import JobState, LinkState, ProvisioningJob, Seat
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
    """Converged entries: their jobs done, the row's DN, and the seat queued on the mail
    target (when it follows the directory). Failed ones: retried or parked, as a seat
    row records it."""
    session = rec.session
    owned = rec.queue.load(session, [j.id for p in plans for j in rec.jobs_of(p.seat_id)])
    converged: dict[uuid.UUID, tuple[list[OpKind], list[str]]] = {}
    for p in plans:
        jobs = [owned[j.id] for j in rec.jobs_of(p.seat_id) if j.id in owned]
        row = session.get(Seat, p.seat_id)
        reasons = sorted({j.reason for j in jobs})
        error = p.error
        if row is None or error is None:
            rec.done.extend(j.id for j in jobs)
            if row is not None:
                row.dn = p.dn
                converged[p.seat_id] = ([op.kind for op in p.entry_ops], reasons)
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
    if converged and SEAT_MAIL_TARGET in then:
        _queue_mailboxes(session, converged)


def _queue_mailboxes(
    session: Session, converged: dict[uuid.UUID, tuple[list[OpKind], list[str]]]
) -> None:
    """A mail job per seat, carrying what its entry converge did; one still waiting from
    an earlier entry converge keeps that one's operations too (locked, so no mail worker
    claims it meanwhile)."""
    waiting = {
        seat_id: reason
        for seat_id, reason in session.execute(
            select(ProvisioningJob.subject_id, ProvisioningJob.reason)
            .where(
                among(session, ProvisioningJob.subject_id, list(converged)),
                ProvisioningJob.target == SEAT_MAIL_TARGET,
                ProvisioningJob.state == JobState.PENDING,
            )
            .with_for_update()
        )
    }
    for seat_id, (kinds, reasons) in sorted(converged.items()):
        earlier = read_chain_reason(waiting.get(seat_id))
        if earlier is not None:
            kinds, reasons = earlier[0] + kinds, earlier[1] + reasons
        enqueue(session, [seat_id], chain_reason(kinds, reasons), targets=(SEAT_MAIL_TARGET,))
