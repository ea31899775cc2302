"""The job outbox: "converge subject S on target T", written with the change that caused it.

One pending job per subject and target; a later change to the same person only updates
it (coalescing), so ten HR edits before the worker runs cost one converge. HR code calls
`converge_later`; the jobs are written by one statement just before the transaction
commits, so a batch of a thousand changes costs one round trip, not a thousand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from idhub.changes.wakeup import notify_queued
from idhub.db import before_commit, table_of, upsert
from idhub.models import ProvisioningJob, utcnow

TARGETS = ("ldap",)
_PENDING = "idhub.pending_jobs"


def converge_later(
    session: Session, person_ids: Iterable[uuid.UUID], reason: str, request_id: str | None
) -> None:
    """Queue converge jobs, written in this transaction right before it commits."""
    pending: dict[uuid.UUID, tuple[str, str | None]] = session.info.setdefault(_PENDING, {})
    for person_id in person_ids:
        pending[person_id] = (reason, request_id)
    before_commit(session, _PENDING, _write_pending_jobs)


def _write_pending_jobs(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        by_reason: dict[tuple[str, str | None], list[uuid.UUID]] = {}
        for person_id, key in pending.items():
            by_reason.setdefault(key, []).append(person_id)
        for (reason, request_id), ids in by_reason.items():
            enqueue(session, ids, reason, request_id=request_id)


def enqueue(
    session: Session,
    person_ids: Iterable[uuid.UUID],
    reason: str,
    *,
    request_id: str | None = None,
    targets: Iterable[str] = TARGETS,
) -> int:
    """Add or refresh the pending converge job of each person on each target, now."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0
    now = utcnow()
    table = table_of(ProvisioningJob)
    statement = upsert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["subject_id", "target"],
        index_where=text("state = 'pending'"),
        set_={
            "reason": statement.excluded.reason,
            "request_id": statement.excluded.request_id,
            "coalesced": table.c.coalesced + 1,
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
