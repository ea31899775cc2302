"""The job outbox: "converge subject S on target T", written with the change that caused it.

One pending job per subject and target; a later change to the same person only updates
it (coalescing), so ten HR edits before the worker runs cost one converge. HR code calls
`converge_later`; the jobs are written by one statement just before the transaction
commits, so a batch of a thousand changes costs one round trip, not a thousand.

A change that cuts access (a leaver, a disable, a delegation ending) queues its jobs
urgent: the workers claim them ahead of bulk work (engine/jobs.py). A pending job that
coalesces keeps the higher urgency, so an urgent job never becomes bulk again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from sqlalchemy import case, exists, select, text
from sqlalchemy.orm import Session

from idhub.changes.wakeup import notify_queued
from idhub.db import before_commit, table_of, upsert
from idhub.models import EventSubscription, ProvisioningJob, ScimSubscription, Urgency, utcnow

TARGETS = ("ldap",)
# Change events to the apps (idhub/events): queued beside the directory's jobs, only
# while some app subscribes (one indexed read per statement, none otherwise).
EVENTS_TARGET = "app_events"
# Outbound SCIM to the apps (idhub/scimout): likewise, while some app has a SCIM endpoint.
SCIM_TARGET = "app_scim"
_PENDING = "idhub.pending_jobs"


CutCheck = Callable[[Session, Sequence[uuid.UUID]], AbstractSet[uuid.UUID]]
"""Given people, those left without access (no post today, or not active): run at commit."""


class _Pending(NamedTuple):
    reason: str
    request_id: str | None
    urgent: bool
    cut_off: CutCheck | None


def converge_later(
    session: Session,
    person_ids: Iterable[uuid.UUID],
    reason: str,
    request_id: str | None,
    *,
    urgent: bool = False,
    cut_off: CutCheck | None = None,
) -> None:
    """Queue converge jobs, written in this transaction right before it commits.

    `urgent`: the change cuts access. `cut_off`: it may; the people `cut_off` names when
    the transaction commits are urgent, so a post ended and another started in the same
    batch (a transfer) stays bulk work. A person queued twice keeps the latest reason and
    the higher urgency.
    """
    pending: dict[uuid.UUID, _Pending] = session.info.setdefault(_PENDING, {})
    for person_id in person_ids:
        earlier = pending.get(person_id)
        pending[person_id] = _Pending(
            reason,
            request_id,
            urgent or (earlier is not None and earlier.urgent),
            cut_off or (earlier.cut_off if earlier is not None else None),
        )
    before_commit(session, _PENDING, _write_pending_jobs)


def _write_pending_jobs(session: Session) -> None:
    pending: dict[uuid.UUID, _Pending] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    to_check: dict[CutCheck, list[uuid.UUID]] = {}
    for person_id, p in pending.items():
        if p.cut_off is not None and not p.urgent:
            to_check.setdefault(p.cut_off, []).append(person_id)
    cut = {person_id for check, ids in to_check.items() for person_id in check(session, ids)}
    by_reason: dict[tuple[str, str | None, bool], list[uuid.UUID]] = {}
    for person_id, p in pending.items():
        key = (p.reason, p.request_id, p.urgent or person_id in cut)
        by_reason.setdefault(key, []).append(person_id)
    for (reason, request_id, urgent), ids in by_reason.items():
        enqueue(session, ids, reason, request_id=request_id, urgent=urgent)


def enqueue(
    session: Session,
    person_ids: Iterable[uuid.UUID],
    reason: str,
    *,
    request_id: str | None = None,
    targets: Iterable[str] = TARGETS,
    urgent: bool = False,
) -> int:
    """Add or refresh the pending converge job of each person on each target, now;
    `urgent` when the change cuts access (a coalesced job keeps the higher urgency)."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0
    if targets is TARGETS:
        targets = (*TARGETS, *_app_targets(session))
    now = utcnow()
    urgency = int(Urgency.URGENT if urgent else Urgency.BULK)
    table = table_of(ProvisioningJob)
    statement = upsert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["subject_id", "target"],
        index_where=text("state = 'pending'"),
        set_={
            "reason": statement.excluded.reason,
            "request_id": statement.excluded.request_id,
            "coalesced": table.c.coalesced + 1,
            "urgency": case(
                (statement.excluded.urgency > table.c.urgency, statement.excluded.urgency),
                else_=table.c.urgency,
            ),
            # A job waiting for a retry runs now: the new change may be the fix.
            "next_try_at": statement.excluded.next_try_at,
            "updated_at": statement.excluded.updated_at,
        },
    )
    rows = [
        {
            "subject_id": person_id,
            "target": target,
            "state": "pending",
            "reason": reason[:2000],
            "coalesced": 1,
            "urgency": urgency,
            "attempts": 0,
            "next_try_at": now,
            "request_id": request_id,
            "created_at": now,
            "updated_at": now,
        }
        for person_id in ids
        for target in targets
    ]
    session.execute(statement, rows)
    notify_queued(session)
    return len(rows)


def _app_targets(session: Session) -> tuple[str, ...]:
    """The apps' targets some app takes: change events (idhub/events), SCIM (idhub/scimout).
    One indexed read per statement."""
    events = exists().where(EventSubscription.client_id.is_not(None))
    scim = exists().where(ScimSubscription.client_id.is_not(None))
    row = session.execute(select(events.label("events"), scim.label("scim"))).one()
    return tuple(t for t, on in ((EVENTS_TARGET, row.events), (SCIM_TARGET, row.scim)) if on)
