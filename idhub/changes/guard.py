"""The mass-change guard: an empty or truncated HR feed must never wipe the directory.

When converging would disable or delete more than `share` of the managed accounts within
`window_s`, the jobs that would do it are held (state "held") until an administrator
confirms with `idhub guard release` (or the API); a confirmation lasts one window.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.models import (
    AccountLink,
    AuditEvent,
    HubState,
    JobState,
    LinkState,
    ProvisioningJob,
    utcnow,
)

CONFIRMED_UNTIL = "guard_confirmed_until"


class GuardSettings(Protocol):
    """The [provisioning] settings the guard reads."""

    @property
    def guard_share(self) -> float: ...
    @property
    def guard_window_s(self) -> float: ...
    @property
    def guard_min_accounts(self) -> int: ...


@dataclass(frozen=True)
class Guard:
    share: float = 0.10
    window_s: float = 3600.0
    min_accounts: int = 50

    @classmethod
    def from_settings(cls, section: GuardSettings) -> Guard:
        return cls(
            share=section.guard_share,
            window_s=section.guard_window_s,
            min_accounts=section.guard_min_accounts,
        )

    def managed_accounts(self, session: Session) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    AccountLink.state != LinkState.ABSENT, AccountLink.enabled.is_(True)
                )
            )
            or 0
        )

    def confirmed(self, session: Session) -> bool:
        value = session.get(HubState, CONFIRMED_UNTIL)
        return value is not None and dt.datetime.fromisoformat(value.value) > utcnow()

    def would_trip(self, session: Session, taking: int) -> bool:
        """Would `taking` more disables/deletes in this window pass the threshold?"""
        if taking == 0 or self.confirmed(session):
            return False
        managed = self.managed_accounts(session)
        if managed < self.min_accounts:
            return False
        since = utcnow() - dt.timedelta(seconds=self.window_s)
        recent = (
            session.scalar(
                select(func.count()).where(
                    AuditEvent.action.in_(("account.disable", "account.delete")),
                    AuditEvent.at >= since,
                )
            )
            or 0
        )
        return recent + taking > self.share * managed

    def hold(self, db: Database, plans: Iterable[Any]) -> set:
        """The people of this batch whose plans must wait for a confirmation."""
        taking = [p.person_id for p in plans if p.disables]
        if not taking:
            return set()
        with db.reading() as session:
            return set(taking) if self.would_trip(session, len(taking)) else set()


def release(db: Database, audit: AuditLog, actor: Actor, guard: Guard, reason: str) -> int:
    """Confirm the held changes: they run now, and the guard stays open for one window."""
    until = utcnow() + dt.timedelta(seconds=guard.window_s)
    with db.transaction() as session:
        state = session.get(HubState, CONFIRMED_UNTIL) or HubState(key=CONFIRMED_UNTIL, value="")
        state.value = until.isoformat()
        session.add(state)
        held = list(
            session.scalars(select(ProvisioningJob).where(ProvisioningJob.state == JobState.HELD))
        )
        pending: set[tuple[uuid.UUID, str]] = {
            (subject_id, target)
            for subject_id, target in session.execute(
                select(ProvisioningJob.subject_id, ProvisioningJob.target).where(
                    ProvisioningJob.state == JobState.PENDING
                )
            )
        }
        for job in held:
            if (job.subject_id, job.target) in pending:
                session.delete(job)
                continue
            job.state = JobState.PENDING
            job.next_try_at = utcnow()
            job.last_error = None
            pending.add((job.subject_id, job.target))
        audit.record(
            session,
            actor=actor,
            action="guard.release",
            object_type="provisioning",
            after={"released_jobs": len(held), "confirmed_until": until.isoformat()},
            reason=reason,
        )
    return len(held)
