"""What the worker loop converges into: a `Target` plans, applies through its connector
and records what it did. The loop (engine/worker.py) claims, leases, pipelines, retries
and stops the same way for every target; a new target is one module in engine/targets/.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from connectors.base import ConnectorError
from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.engine.jobs import JobQueue
from idhub.models import ProvisioningJob, Urgency


@dataclass
class Round:
    """One claimed batch: its jobs by subject, and the target's plans once planned."""

    jobs: list[ProvisioningJob]
    by_subject: dict[uuid.UUID, list[ProvisioningJob]]
    started: float
    plans: Any = None  # the target's own type, from `plan`


@dataclass
class Recording:
    """What a target's `record` writes with: the open transaction, this round, the jobs
    still ours, and the queue to settle them. Jobs in `done` are deleted after `record`."""

    session: Session
    round: Round
    owned: set[int]  # ids of the round's jobs whose lease is still ours
    queue: JobQueue
    audit: AuditLog
    actor: Actor
    now: dt.datetime
    done: list[int] = field(default_factory=list)

    def jobs_of(self, subject: uuid.UUID) -> list[ProvisioningJob]:
        """The subject's jobs still ours, as claimed (not attached to the session)."""
        return [j for j in self.round.by_subject.get(subject, ()) if j.id in self.owned]

    def actor_for(self, jobs: Sequence[ProvisioningJob]) -> Actor:
        """The worker, carrying the HR request that caused the converge (if any)."""
        request_id = next((j.request_id for j in jobs if j.request_id), None)
        return Actor("system", self.actor.id, request_id=request_id)


class Target(Protocol):
    """A system the hub converges subjects into, one claimed batch at a time."""

    name: str  # the jobs it takes: "converge subject S on target <name>"
    system: str  # for the logs: "directory", "mail server"
    subjects: str  # for the logs: "people", "mailboxes"
    pipelined: bool  # may a round be recorded while the next one is planned and applied
    connector: Any

    def plan(self, db: Database, round_: Round) -> Any:
        """Desired against actual for the round's subjects (reads the database itself,
        with no write transaction open where it can). Raises TargetUnavailable."""

    def apply(self, plans: Any) -> None:
        """Apply the plans through the connector. Raises TargetUnavailable."""

    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> Any:
        """What `record` will write, built before its transaction opens (may be None)."""

    def record(self, rec: Recording, draft: Any) -> None:
        """Links, audit events and follow-up jobs of a round, in `rec.session`; the jobs
        converged go in `rec.done`, the others are requeued or parked through `rec.queue`."""

    def holders(
        self, session: Session, queue: JobQueue, subjects: list[uuid.UUID]
    ) -> dict[uuid.UUID, Any]:
        """The rows showing each subject's state (links, seats), for an outage's record."""

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        """Called once by the worker: the database, audit log and actor it records with."""

    def after_apply(self, round_: Round) -> None:
        """In the loop's thread, once a round is applied (e.g. tidy what it emptied)."""

    def after_record(self, round_: Round) -> None:
        """Once a round's record is committed (e.g. end sign-on of the disabled)."""

    def idle(self) -> None:
        """The queue ran dry (e.g. tidy what the last rounds left)."""

    def tidy(self) -> Any:
        """The clock ticked: housekeeping on the target."""

    def close(self) -> None: ...


class Delivers:
    """The hooks a target that only sends (to apps, to a platform) leaves empty: it keeps
    no rows of its own to show an outage's state, and has nothing to tidy. Mixed in by the
    events, back-channel logout and national push targets."""

    def holders(
        self, session: Session, queue: JobQueue, subjects: list[uuid.UUID]
    ) -> dict[uuid.UUID, Any]:
        return {}

    def after_apply(self, round_: Round) -> None:
        pass

    def after_record(self, round_: Round) -> None:
        pass

    def idle(self) -> None:
        pass

    def tidy(self) -> None:
        pass

    def close(self) -> None:
        pass


def by_subject(jobs: list[ProvisioningJob]) -> dict[uuid.UUID, list[ProvisioningJob]]:
    grouped: dict[uuid.UUID, list[ProvisioningJob]] = {}
    for job in jobs:
        grouped.setdefault(job.subject_id, []).append(job)
    return grouped


def urgent_subjects(rec: Recording) -> frozenset[uuid.UUID]:
    """The round's subjects with an urgent job still ours: their onward jobs are urgent."""
    return frozenset(
        subject
        for subject, jobs in rec.round.by_subject.items()
        if any(j.urgency > Urgency.BULK and j.id in rec.owned for j in jobs)
    )


def error_text(error: ConnectorError) -> str:
    return f"{type(error).__name__}: {error}"[:2000]
